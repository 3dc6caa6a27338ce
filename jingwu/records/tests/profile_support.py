"""The linking fixture's province with fixed receipt times and a second version of 陈大文's
household record, linked in two runs: what the profile tests read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jingwu.core import services
from jingwu.core.models import User
from jingwu.core.tests.factories import make_user
from jingwu.records import linking
from jingwu.records.models import SourceRecord
from jingwu.records.rows import content_hash
from jingwu.records.tests.test_linking_fixture import Province, build_province

PURPOSE = "核查盗窃案嫌疑人 [case:A2026-0001]"
UTC = dt.UTC

# Receipt times (UTC) of the records on 陈大文's profile.
RECEIVED = {
    "HK1": dt.datetime(2024, 6, 1, 2, 0, tzinfo=UTC),
    "TEL1": dt.datetime(2025, 2, 3, 16, 30, tzinfo=UTC),  # 2025-02-04 00:30 in Shanghai
    "VH1": dt.datetime(2025, 3, 1, 0, 0, tzinfo=UTC),
    "HT1": dt.datetime(2025, 11, 27, 2, 15, tzinfo=UTC),
    "HT4": dt.datetime(2025, 10, 4, 1, 0, tzinfo=UTC),
}
HK1_V2_RECEIVED = dt.datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def profile_province() -> tuple[Province, SourceRecord]:
    """The province linked in full, then a new version of HK1 (a former name added) linked
    incrementally; returns it with the new version."""
    p = build_province()
    for key, at in RECEIVED.items():
        SourceRecord.objects.filter(pk=p.rid(key)).update(received_at=at)
    linking.link_run(actor=None, mode="full")
    old = p.records["HK1"]
    payload = {**old.payload, "former_name": "陈小文"}
    new = SourceRecord.objects.create(source=old.source, source_key="HK1 (next)", kind=old.kind, payload=payload,
                                      content_hash=content_hash(payload), batch=old.batch, unit=old.unit,
                                      received_at=HK1_V2_RECEIVED)
    SourceRecord.objects.filter(pk=old.pk).update(superseded_by=new)
    SourceRecord.objects.filter(pk=new.pk).update(source_key="HK1")
    new.refresh_from_db()
    linking.link_run(actor=None, mode="incremental")
    return p, new


def reader(name: str, role: str, unit: Any, *, purpose: bool = True) -> User:
    user = make_user(name, [(role, unit)])
    if purpose:
        services.purpose_set(actor=user, text="核查盗窃案嫌疑人", ref_type="case", ref_id="A2026-0001")
    return user
