"""Rule sets get drafts (no published_at) and at most one active version; watch-list
entries can be retired."""

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def one_active(apps: Any, schema_editor: Any) -> None:
    RuleSet = apps.get_model("antifraud", "RuleSet")
    # Every earlier row was published when stored; of the active ones the newest decided.
    for row in RuleSet.objects.filter(published_at__isnull=True):
        row.published_at = row.created_at
        row.save(update_fields=["published_at"])
    newest = RuleSet.objects.filter(active=True).order_by("-version").first()
    if newest is not None:
        RuleSet.objects.filter(active=True).exclude(pk=newest.pk).update(active=False)


class Migration(migrations.Migration):
    dependencies = [
        ("antifraud", "0004_signal_partner"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(model_name="watchlistentry", name="retired_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="watchlistentry", name="retired_by",
                            field=models.ForeignKey(blank=True, null=True,
                                                    on_delete=django.db.models.deletion.SET_NULL,
                                                    related_name="+", to=settings.AUTH_USER_MODEL)),
        migrations.AddField(model_name="watchlistentry", name="retire_reason",
                            field=models.CharField(blank=True, max_length=300)),
        migrations.AddField(model_name="ruleset", name="published_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="ruleset", name="published_by",
                            field=models.ForeignKey(blank=True, null=True,
                                                    on_delete=django.db.models.deletion.SET_NULL,
                                                    related_name="+", to=settings.AUTH_USER_MODEL)),
        migrations.RunPython(one_active, migrations.RunPython.noop),
        migrations.AddConstraint(model_name="ruleset", constraint=models.UniqueConstraint(
            condition=models.Q(active=True), fields=("active",), name="one_active_ruleset")),
        migrations.AddConstraint(model_name="ruleset", constraint=models.CheckConstraint(
            condition=models.Q(active=False) | models.Q(published_at__isnull=False),
            name="active_ruleset_is_published")),
    ]
