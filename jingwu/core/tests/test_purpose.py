from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from jingwu.core import purpose, services
from jingwu.core.models import AccessPurpose, AuditEntry
from jingwu.core.tests.factories import make_tree, make_user

pytestmark = pytest.mark.django_db


def test_read_without_a_purpose_is_refused_and_audited() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    with pytest.raises(purpose.PurposeRequired):
        purpose.person_read(officer, object_type="person", object_id=7, unit=tree.grid_a1a)
    last = AuditEntry.objects.order_by("-id").first()
    assert last is not None
    assert (last.action, last.outcome, last.actor_username) == ("purpose.missing", "denied", "wang")


def test_stated_purpose_carries_over_to_every_read() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    services.purpose_set(actor=officer, text="核查盗窃案嫌疑人", ref_type="case", ref_id="A2026-0001")
    for person_id in (7, 8):
        purpose.person_read(officer, object_type="person", object_id=person_id, unit=tree.grid_a1a)
    reads = list(AuditEntry.objects.filter(action="person.read").order_by("id"))
    assert [(r.object_id, r.purpose, r.unit_code, r.outcome) for r in reads] == [
        ("7", "核查盗窃案嫌疑人 [case:A2026-0001]", "370102S01G01", "allowed"),
        ("8", "核查盗窃案嫌疑人 [case:A2026-0001]", "370102S01G01", "allowed"),
    ]


def test_expired_purpose_no_longer_counts() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    services.purpose_set(actor=officer, text="核查盗窃案嫌疑人")
    AccessPurpose.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(purpose.PurposeRequired):
        purpose.person_read(officer, object_type="person", object_id=7, unit=tree.grid_a1a)


def test_read_outside_jurisdiction_is_denied_before_purpose() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    services.purpose_set(actor=officer, text="核查盗窃案嫌疑人")
    with pytest.raises(PermissionDenied) as caught:
        purpose.person_read(officer, object_type="person", object_id=9, unit=tree.station_a1b)
    assert not isinstance(caught.value, purpose.PurposeRequired)
    last = AuditEntry.objects.order_by("-id").first()
    assert last is not None
    assert (last.action, last.outcome, last.object_id, last.unit_code) == ("person.read", "denied", "9", "370102S02")
