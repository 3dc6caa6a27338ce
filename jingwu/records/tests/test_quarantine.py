"""Quarantined rows: corrected and retried with the batch's own mapping, or discarded;
from the services and from `jingwu quarantine list|retry|discard`."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from jingwu.core.models import AuditEntry
from jingwu.core.services import ServiceError
from jingwu.core.tests.factories import make_user
from jingwu.records import ftm, services
from jingwu.records.mapping import load_mapping
from jingwu.records.models import ImportBatch, QuarantinedRow, QuarantineStatus, SourceRecord
from jingwu.records.tests.import_support import (
    BAD_CHECK,
    CHEN,
    LI,
    PEOPLE_ROWS,
    ZHANG,
    Desk,
    current,
    fields_of,
    make_desk,
    people_csv,
    report,
    write,
)

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def desk(db: None) -> Desk:
    return make_desk()


@pytest.fixture
def batch(desk: Desk, tmp_path: Path) -> ImportBatch:
    text = people_csv(PEOPLE_ROWS[0], f"周八,{BAD_CHECK},男,19850101,,济南市", f"孙七,{LI},男,1972-13-30,,济南市",
                      "王五,370102198501011233")
    batch = services.import_file(actor=desk.steward, source_key="hukou", path=write(tmp_path / "p.csv", text),
                                 mapping=load_mapping(FIXTURES / "person_mapping.toml"))
    assert report(batch) == (4, 1, 0, 3)
    return batch


def row(batch: ImportBatch, number: int) -> QuarantinedRow:
    return batch.quarantined.get(row_number=number)


def test_a_corrected_row_is_imported_and_the_report_stays_as_it_was(desk: Desk, batch: ImportBatch) -> None:
    bad = row(batch, 3)
    fixed = services.quarantine_retry(actor=desk.steward, row=bad, corrected={"证件号码": CHEN, "性别": "女",
                                                                               "出生日期": "19900307"})

    record = fixed.record
    assert record is not None
    assert (fixed.status, fixed.resolved_by, fixed.resolved_at is not None) == (QuarantineStatus.FIXED,
                                                                                desk.steward, True)
    assert (record.source_key, record.batch_id, record.superseded_by_id) == (CHEN, batch.pk, None)
    assert fields_of(record) == {"name": "周八", "id_number": CHEN, "sex": "F", "birth_date": "1990-03-07",
                                 "address": "济南市"}
    assert record.payload == {"姓名": "周八", "证件号码": CHEN, "性别": "女", "出生日期": "19900307",
                              "联系电话": "", "住址": "济南市"}
    assert bad.raw["证件号码"] == BAD_CHECK  # the row keeps what the file said
    batch.refresh_from_db()
    assert report(batch) == (4, 1, 0, 3)
    entry = AuditEntry.objects.filter(action="records.quarantine_retry").get()
    assert (entry.object_id, entry.actor_username, entry.details) == (
        str(bad.pk), "steward", {"batch": batch.pk, "row": 3, "corrected_columns": ["出生日期", "性别", "证件号码"],
                                 "record": record.pk, "outcome": "imported"})


def test_a_correction_that_still_fails_lists_the_issues_and_changes_nothing(desk: Desk, batch: ImportBatch) -> None:
    bad = row(batch, 4)
    records_before = SourceRecord.objects.count()
    with pytest.raises(services.RetryRejected) as caught:
        services.quarantine_retry(actor=desk.steward, row=bad, corrected={"出生日期": "1972-11-31"})
    assert [(i.field, i.column, i.code) for i in caught.value.issues] == [
        ("birth_date", "出生日期", "not_a_date")]
    assert str(caught.value) == ("row 4, column 出生日期 (birth_date): '1972-11-31' is not a date in any of the "
                                 "formats ISO %Y-%m-%d, %Y%m%d, %Y-%m-%d, %Y/%m/%d")
    assert caught.value.field == "出生日期"
    bad.refresh_from_db()
    assert (bad.status, bad.record_id) == (QuarantineStatus.OPEN, None)
    assert SourceRecord.objects.count() == records_before
    assert not AuditEntry.objects.filter(action="records.quarantine_retry").exists()


def test_a_ragged_row_is_filled_in_and_retried(desk: Desk, batch: ImportBatch) -> None:
    ragged = row(batch, 5)
    assert ragged.issues[0]["code"] == "malformed_row"
    fixed = services.quarantine_retry(actor=desk.steward, row=ragged,
                                      corrected={"性别": "男", "出生日期": "19850101", "住址": "济南市历下区"})
    assert fixed.status == QuarantineStatus.FIXED
    # ZHANG was imported from row 2 with other content: the retry made a new version.
    versions = list(SourceRecord.objects.filter(source_key=ZHANG).order_by("pk"))
    assert [v.superseded_by_id for v in versions] == [versions[1].pk, None]
    assert fields_of(versions[1])["name"] == "王五"


def test_cells_beyond_the_header_must_be_cleared(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", people_csv(f"赵六,{CHEN},女,19900307,,济南市,历下区"))
    batch = services.import_file(actor=desk.steward, source_key="hukou", path=path, kind="person")
    ragged = batch.quarantined.get()
    with pytest.raises(services.RetryRejected) as caught:
        services.quarantine_retry(actor=desk.steward, row=ragged, corrected={})
    assert str(caught.value) == ("row 2: cells beyond the header (#7 = '历下区'): clear them or move the values "
                                 "into their columns")
    fixed = services.quarantine_retry(actor=desk.steward, row=ragged, corrected={"#7": "", "住址": "济南市历下区"})
    assert fixed.record is not None
    assert fields_of(fixed.record)["address"] == "济南市历下区"


def test_a_retry_that_finds_the_record_unchanged(desk: Desk, batch: ImportBatch) -> None:
    first = current(desk.source)[ZHANG]
    copy = row(batch, 5)
    fixed = services.quarantine_retry(actor=desk.steward, row=copy, corrected={
        "姓名": "张三", "性别": "男", "出生日期": "19850101", "联系电话": "13812345678",
        "住址": "济南市历下区泉城路1号"})
    assert fixed.record_id == first.pk
    assert SourceRecord.objects.filter(source_key=ZHANG).count() == 1
    assert AuditEntry.objects.get(action="records.quarantine_retry").details["outcome"] == "unchanged"


def test_a_row_is_retried_or_discarded_once(desk: Desk, batch: ImportBatch) -> None:
    bad = row(batch, 3)
    services.quarantine_discard(actor=desk.steward, row=bad, reason="测试数据")
    bad.refresh_from_db()
    assert (bad.status, bad.resolved_by) == (QuarantineStatus.DISCARDED, desk.steward)
    with pytest.raises(ServiceError, match=r"row 3 of batch \d+ is already 已放弃"):
        services.quarantine_retry(actor=desk.steward, row=bad, corrected={"证件号码": CHEN})
    with pytest.raises(ServiceError, match="already"):
        services.quarantine_discard(actor=desk.steward, row=bad)
    entry = AuditEntry.objects.get(action="records.quarantine_discard")
    assert entry.details == {"batch": batch.pk, "row": 3, "reason": "测试数据"}


def test_unknown_columns_are_refused(desk: Desk, batch: ImportBatch) -> None:
    with pytest.raises(ServiceError) as caught:
        services.quarantine_retry(actor=desk.steward, row=row(batch, 3), corrected={"身份证": CHEN})
    assert (caught.value.field, str(caught.value)) == (
        "身份证", "no column '身份证' in this row (columns: 姓名, 证件号码, 性别, 出生日期, 联系电话, 住址)")


def test_only_import_holders_who_see_the_batch_may_touch_its_rows(desk: Desk, batch: ImportBatch) -> None:
    officer = make_user("officer", [("officer", desk.tree.station_a1a)])
    qingdao = make_user("qingdao_steward", [("data_steward", desk.tree.city_b)])
    for actor in (officer, qingdao):
        with pytest.raises(PermissionDenied):
            services.quarantine_retry(actor=actor, row=row(batch, 3), corrected={"证件号码": CHEN})
        with pytest.raises(PermissionDenied):
            services.quarantine_discard(actor=actor, row=row(batch, 3))
    assert set(batch.quarantined.values_list("status", flat=True)) == {QuarantineStatus.OPEN}


def test_a_followthemoney_row_keeps_its_kind_for_the_retry(desk: Desk, tmp_path: Path) -> None:
    entity = ftm.records_to_ftm("vehicle", "鲁A12345", {"plate": "鲁A12345"}, source="x")
    entity["properties"]["registrationNumber"] = ["鲁I12345"]  # I is never an issuing letter
    path = write(tmp_path / "v.ftm.json", ftm.entity_line(entity))
    batch = services.import_file(actor=desk.steward, source_key="hukou", path=path)
    bad = batch.quarantined.get()
    assert bad.raw[services.KIND_CELL] == "vehicle"
    fixed = services.quarantine_retry(actor=desk.steward, row=bad, corrected={"plate": "鲁A12345"})
    record = fixed.record
    assert record is not None
    assert (record.kind, fields_of(record)) == ("vehicle", {"plate": "鲁A12345"})
    assert services.KIND_CELL not in record.payload


# --------------------------------------------------------------------------- the command


def run(*args: str) -> str:
    out = StringIO()
    call_command("quarantine", *args, stdout=out)
    return out.getvalue()


def test_list_retry_discard_from_the_command_line(desk: Desk, batch: ImportBatch) -> None:
    rows = {r.row_number: r for r in batch.quarantined.all()}
    listing = run("list", "--batch", str(batch.pk), "--language", "en").splitlines()
    assert listing[0] == "id\tbatch\trow\tstatus\treasons"
    assert listing[1] == (f"{rows[3].pk}\t{batch.pk}\t3\topen\trow 3, column 证件号码 (id_number): check character is "
                          "'4', expected '3'")
    assert json.loads(listing[2].removeprefix("\tcells: ")) == {
        "姓名": "周八", "证件号码": BAD_CHECK, "性别": "男", "出生日期": "19850101", "联系电话": "", "住址": "济南市"}
    assert len(listing) == 7

    out = run("retry", str(rows[3].pk), "--set", f"证件号码={ZHANG[:17]}3", "--user", "steward")
    rows[3].refresh_from_db()
    assert out == f"row 3 of batch {batch.pk} fixed: source record {rows[3].record_id}\n"

    with pytest.raises(CommandError, match="still not importable:\n  第 4 行，出生日期 列（birth_date）："):
        run("retry", str(rows[4].pk), "--set", "出生日期=19721330")
    with pytest.raises(CommandError, match="--set '出生日期': write COLUMN=VALUE"):
        run("retry", str(rows[4].pk), "--set", "出生日期")
    assert run("discard", str(rows[4].pk), "--reason", "重复") == f"row 4 of batch {batch.pk} discarded\n"

    assert [line.split("\t")[2] for line in run("list").splitlines()[1::2]] == ["5"]
    statuses = [line.split("\t")[3] for line in run("list", "--status", "all").splitlines()[1::2]]
    assert statuses == ["fixed", "discarded", "open"]
    assert AuditEntry.objects.get(action="records.quarantine_retry").actor_username == "steward"
    assert AuditEntry.objects.get(action="records.quarantine_discard").actor_username == ""


def test_the_command_names_what_it_cannot_find(desk: Desk, batch: ImportBatch) -> None:
    with pytest.raises(CommandError, match="no quarantined row 999999"):
        run("retry", "999999", "--set", "a=b")
    with pytest.raises(CommandError, match="no user 'nobody'"):
        run("discard", str(batch.quarantined.first().pk), "--user", "nobody")  # type: ignore[union-attr]
