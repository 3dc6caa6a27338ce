"""The data centre's raw layer: source systems, import batches and source records
as received. Entities and linkage build on these (later work)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from jingwu.core.models import Unit


class Source(models.Model):
    """A source system: household registration 户籍, vehicle registry 车管, telecom …"""

    key = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    # Lower number = more trusted when attribute values disagree.
    trust_rank = models.PositiveSmallIntegerField(default=50)

    def __str__(self) -> str:
        return self.name


class ImportBatch(models.Model):
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="batches")
    label = models.CharField(max_length=200)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)


class SourceRecord(models.Model):
    """One record as a source system sent it. Never edited in place: a new version
    supersedes the old one and the history stays."""

    # No index of its own: the (source, source_key) index below starts with it.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="records", db_index=False)
    source_key = models.CharField(max_length=100)
    kind = models.CharField(max_length=16)  # person, phone, vehicle, organization, account, place
    payload = models.JSONField()
    content_hash = models.CharField(max_length=64)
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="records")
    received_at = models.DateTimeField(default=timezone.now)
    # The unit whose jurisdiction the record falls in (for access scoping).
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Indexed only where set (see Meta): almost every row is a current version, and a
    # full index of NULLs would cost every bulk insert for nothing.
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                      db_index=False)

    class Meta:
        indexes = [
            models.Index(fields=["source", "source_key"]),
            models.Index(fields=["kind"]),
            models.Index(fields=["superseded_by"], condition=models.Q(superseded_by__isnull=False),
                         name="records_superseded_by_set"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_key"], condition=models.Q(superseded_by=None),
                                    name="one_current_version_per_source_key"),
        ]
