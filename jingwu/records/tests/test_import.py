"""Importing files through services.import_file: every encoding, malformed CSV, spreadsheets
with date serials, JSON Lines, re-imports, new versions, duplicates, units, audit, access."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied

from jingwu.core.models import AuditEntry
from jingwu.core.services import ServiceError
from jingwu.core.tests.factories import make_user
from jingwu.records import services
from jingwu.records.mapping import load_mapping
from jingwu.records.models import BatchStatus, ImportBatch, QuarantinedRow, QuarantineStatus, SourceRecord
from jingwu.records.rows import content_hash
from jingwu.records.tests.import_support import (
    BAD_CHECK,
    BEIJING,
    CHEN,
    HEADER,
    LI,
    PEOPLE_ROWS,
    ZHANG,
    ZHAO,
    Desk,
    current,
    fields_of,
    issue_codes,
    make_desk,
    people_csv,
    report,
    stored_counts,
    write,
)

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"

ZHANG_FIELDS = {"name": "张三", "id_number": ZHANG, "sex": "M", "birth_date": "1985-01-01",
                "phone": "+8613812345678", "address": "济南市历下区泉城路1号"}
CHEN_FIELDS = {"name": "陈鑫", "id_number": CHEN, "sex": "F", "birth_date": "1990-03-07",
               "address": "济南市历下区大明湖路2号"}
LI_FIELDS = {"name": "李喆", "id_number": LI, "sex": "M", "birth_date": "1972-11-30",
             "phone": "+8613900001111", "address": "济南市市中区经四路3号"}


@pytest.fixture
def desk(db: None) -> Desk:
    return make_desk()


def import_people(desk: Desk, path: Path, **options: object) -> ImportBatch:
    return services.import_file(actor=desk.steward, source_key="hukou", path=path, kind="person",
                                **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("encoding", "detected"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("gb18030", "gb18030"), ("gbk", "gb18030"),
])
def test_each_encoding_imports_the_same_records(desk: Desk, tmp_path: Path, encoding: str, detected: str) -> None:
    path = write(tmp_path / "people.csv", people_csv(*PEOPLE_ROWS), encoding)

    batch = import_people(desk, path)

    assert report(batch) == (3, 3, 0, 0)
    assert (batch.status, batch.encoding, batch.file_format, batch.kind, batch.file_name, batch.rows_expected) == (
        BatchStatus.DONE, detected, "csv", "person", "people.csv", 3)
    records = current(desk.source)
    assert {key: r.fields for key, r in records.items()} == {ZHANG: ZHANG_FIELDS, CHEN: CHEN_FIELDS, LI: LI_FIELDS}
    assert records[ZHANG].payload == {"姓名": "张三", "证件号码": ZHANG, "性别": "男", "出生日期": "19850101",
                                      "联系电话": "13812345678", "住址": "济南市历下区泉城路1号"}
    assert records[CHEN].payload["联系电话"] == ""
    assert {r.content_hash for r in records.values()} == {content_hash(f) for f in
                                                          (ZHANG_FIELDS, CHEN_FIELDS, LI_FIELDS)}
    assert {(r.kind, r.batch_id, r.superseded_by_id) for r in records.values()} == {("person", batch.pk, None)}


def test_ragged_and_malformed_rows_are_quarantined_with_row_numbers_and_good_rows_kept(
        desk: Desk, tmp_path: Path) -> None:
    text = people_csv(
        PEOPLE_ROWS[0],                                      # row 2: good
        "王五,370102198501011233",                            # row 3: too few cells
        f"赵六,{CHEN},女,19900307,,济南市,历下区",              # row 4: one cell too many
        f'"孙七,{LI},男,19721130,,济南市',                      # row 5: a quote never closed…
        PEOPLE_ROWS[2],                                      # row 6: …the rows after it still read
        f"周八,{BAD_CHECK},男,19850101,,济南市",                 # row 7: wrong check character
        f"吴九,{ZHAO},女,20010615,12345,青岛市",                 # row 8: not a mobile number
        ",,,,,",                                             # row 9: blank, skipped
    )
    path = write(tmp_path / "people.csv", text)

    batch = import_people(desk, path)

    assert report(batch) == (7, 2, 0, 5)
    assert issue_codes(batch) == [
        (3, "", "", "malformed_row"),
        (4, "", "", "malformed_row"),
        (5, "", "", "malformed_row"),
        (7, "id_number", "证件号码", "check_char_mismatch"),
        (8, "phone", "联系电话", "bad_length"),
    ]
    rows = {row.row_number: row for row in batch.quarantined.all()}
    assert rows[3].issues[0]["message"] == "row 3: row has 2 cells, header has 6"
    assert rows[3].raw == {"姓名": "王五", "证件号码": ZHANG, "性别": None, "出生日期": None, "联系电话": None,
                           "住址": None}
    assert rows[4].raw["#7"] == "历下区"
    assert rows[5].issues[0]["message"].startswith("row 5: unterminated quote")
    assert rows[7].issues[0]["message"] == (
        "row 7, column 证件号码 (id_number): check character is '4', expected '3'")
    assert {row.status for row in rows.values()} == {QuarantineStatus.OPEN}
    assert set(current(desk.source)) == {ZHANG, LI}


def test_a_spreadsheet_with_dates_stored_as_numbers(desk: Desk, tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["姓名", "证件号码", "出生日期", "住址"])
    sheet.append(["张三", ZHANG, 31048, "济南市历下区泉城路1号"])  # serial 31048 = 1985-01-01
    sheet.append(["陈鑫", CHEN, 32939.5, "济南市历下区大明湖路2号"])  # noon on 1990-03-07
    sheet.append(["钱十", BEIJING, 60, "北京市"])  # Lotus's 1900-02-29
    path = tmp_path / "people.xlsx"
    workbook.save(path)

    batch = import_people(desk, path)

    assert report(batch) == (3, 2, 0, 1)
    assert batch.file_format == "spreadsheet"
    records = current(desk.source)
    assert (fields_of(records[ZHANG])["birth_date"], fields_of(records[CHEN])["birth_date"]) == (
        "1985-01-01", "1990-03-07")
    assert records[ZHANG].payload["出生日期"] == "31048"
    # 60 is not five digits, so it is not taken for a serial but for a malformed date.
    assert issue_codes(batch) == [(4, "birth_date", "出生日期", "not_a_date")]


def test_json_lines(desk: Desk, tmp_path: Path) -> None:
    lines = [{"name": "张三", "id_number": ZHANG, "birth_date": "1985-01-01", "phone": 13812345678},
             {"name": "陈鑫", "id_number": CHEN, "sex": 2},
             "not an object"]
    path = write(tmp_path / "people.jsonl", "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n")

    batch = import_people(desk, path)

    assert report(batch) == (3, 2, 0, 1)
    assert {k: r.fields for k, r in current(desk.source).items()} == {
        ZHANG: {"name": "张三", "id_number": ZHANG, "sex": "M", "birth_date": "1985-01-01",
                "phone": "+8613812345678"},
        CHEN: {"name": "陈鑫", "id_number": CHEN, "sex": "F"},
    }
    assert issue_codes(batch) == [(3, "", "", "malformed_row")]


def test_a_mapping_file(desk: Desk, tmp_path: Path) -> None:
    text = people_csv("张三,370102198501011233,男,19850101,13812345678,济南市历下区泉城路1号",
                      header="姓名,证件号码,性别,出生日期,联系电话,住址")
    batch = services.import_file(actor=desk.steward, source_key="hukou", path=write(tmp_path / "p.csv", text),
                                 mapping=load_mapping(FIXTURES / "person_mapping.toml"))
    assert report(batch) == (1, 1, 0, 0)
    assert current(desk.source)[ZHANG].fields == ZHANG_FIELDS
    assert batch.mapping == {
        "mapping": {"kind": "person", "key": ["证件号码"], "description": "户籍人口 export", "fields": {
            "name": {"column": "姓名"}, "id_number": {"column": "证件号码"},
            "birth_date": {"column": "出生日期", "formats": ["%Y%m%d", "%Y-%m-%d", "%Y/%m/%d"]},
            "sex": {"column": "性别", "values": {"男": "M", "女": "F"}},
            "phone": {"column": "联系电话"}, "address": {"column": "住址"}}},
        "header": ["姓名", "证件号码", "性别", "出生日期", "联系电话", "住址"],
    }
    # PostgreSQL's jsonb keeps no key order, so the mapping comes back with its fields in another order.
    restored = services.mapping_from_document(batch.mapping["mapping"])
    assert restored is not None
    assert services.mapping_document(restored) == services.mapping_document(
        load_mapping(FIXTURES / "person_mapping.toml"))


def test_importing_the_same_file_twice_changes_nothing(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", people_csv(*PEOPLE_ROWS, f"周八,{BAD_CHECK},男,,,"))
    first = import_people(desk, path)
    before = list(SourceRecord.objects.order_by("pk").values_list("pk", "content_hash", "superseded_by"))

    second = import_people(desk, path)

    assert report(first) == (4, 3, 0, 1)
    assert report(second) == (4, 0, 3, 1)
    assert list(SourceRecord.objects.order_by("pk").values_list("pk", "content_hash", "superseded_by")) == before
    assert SourceRecord.objects.filter(batch=second).count() == 0


def test_a_changed_row_is_a_new_version_and_the_old_one_is_kept(desk: Desk, tmp_path: Path) -> None:
    import_people(desk, write(tmp_path / "v1.csv", people_csv(*PEOPLE_ROWS)))
    old = current(desk.source)[ZHANG]
    moved = PEOPLE_ROWS[0].replace("泉城路1号", "经十路99号")

    batch = import_people(desk, write(tmp_path / "v2.csv", people_csv(moved, *PEOPLE_ROWS[1:])))

    assert report(batch) == (3, 1, 2, 0)
    new = current(desk.source)[ZHANG]
    old.refresh_from_db()
    assert (old.superseded_by_id, fields_of(old)["address"], old.payload["住址"]) == (
        new.pk, "济南市历下区泉城路1号", "济南市历下区泉城路1号")
    assert (new.superseded_by_id, fields_of(new)["address"], new.batch_id) == (None, "济南市历下区经十路99号", batch.pk)
    assert SourceRecord.objects.filter(source=desk.source, source_key=ZHANG).count() == 2
    assert SourceRecord.objects.count() == 4


def test_a_key_repeated_in_one_file(desk: Desk, tmp_path: Path) -> None:
    moved = PEOPLE_ROWS[0].replace("泉城路1号", "经十路99号")
    path = write(tmp_path / "p.csv", people_csv(PEOPLE_ROWS[0], PEOPLE_ROWS[0], moved, PEOPLE_ROWS[0]))

    batch = import_people(desk, path)

    # Same content again: unchanged; different content: a new version, which the last row reverts.
    assert report(batch) == (4, 3, 1, 0)
    versions = list(SourceRecord.objects.filter(source_key=ZHANG).order_by("pk"))
    assert [fields_of(v)["address"] for v in versions] == ["济南市历下区泉城路1号", "济南市历下区经十路99号",
                                                       "济南市历下区泉城路1号"]
    assert [v.superseded_by_id for v in versions] == [versions[1].pk, versions[2].pk, None]


def test_versions_chain_across_chunks(desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    moved = PEOPLE_ROWS[0].replace("泉城路1号", "经十路99号")
    rows = [PEOPLE_ROWS[0], PEOPLE_ROWS[1], moved, PEOPLE_ROWS[2], PEOPLE_ROWS[0], moved, moved]
    progress: list[tuple[int, int]] = []

    batch = import_people(desk, write(tmp_path / "p.csv", people_csv(*rows)),
                          progress=lambda done, total: progress.append((done, total)))

    assert report(batch) == (7, 6, 1, 0)
    assert progress == [(2, 7), (4, 7), (6, 7), (7, 7)]
    versions = list(SourceRecord.objects.filter(source_key=ZHANG).order_by("pk"))
    assert [v.superseded_by_id for v in versions] == [versions[1].pk, versions[2].pk, versions[3].pk, None]
    assert fields_of(versions[3])["address"] == "济南市历下区经十路99号"
    assert len(current(desk.source)) == 3


def test_units_from_division_code_then_id_number_then_the_province(desk: Desk, tmp_path: Path) -> None:
    text = people_csv(
        f"张三,{ZHANG},男,,,,370102001",   # the township of 解放路派出所
        f"陈鑫,{CHEN},女,,,,370103",       # 市中区 by its county code, though the ID says 历下区
        f"李喆,{LI},男,,,,",               # 市中区 from the ID number
        f"赵一,{ZHAO},女,,,,",             # 370203 has no unit: its city 370200 (青岛)
        f"钱二,{BEIJING},女,,,,",          # outside the province: the province
        "孙三,,男,,,,370102002",           # no station for the township: its county; no ID, keyed by name below
        header=HEADER + ",行政区划代码")
    mapping = load_mapping(FIXTURES / "person_mapping.toml")
    document = services.mapping_document(mapping)
    document["key"] = "姓名"
    document["fields"]["division_code"] = "行政区划代码"
    batch = services.import_file(actor=desk.steward, source_key="hukou", path=write(tmp_path / "p.csv", text),
                                 mapping=services.mapping_from_document(document))
    assert report(batch) == (6, 6, 0, 0)
    units = {key: r.unit for key, r in current(desk.source).items()}
    t = desk.tree
    assert units == {"张三": desk.station, "陈鑫": t.county_a2, "李喆": t.county_a2, "赵一": t.city_b,
                     "钱二": t.province, "孙三": t.county_a1}


def test_one_audit_entry_per_batch(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", people_csv(*PEOPLE_ROWS, f"周八,{BAD_CHECK},男,,,"))
    before = AuditEntry.objects.count()

    batch = import_people(desk, path)

    entries = list(AuditEntry.objects.filter(pk__gt=0).order_by("pk")[before:])
    assert [(e.action, e.object_type, e.object_id, e.actor_username, e.outcome) for e in entries] == [
        ("records.import", "import_batch", str(batch.pk), "steward", "allowed")]
    assert entries[0].details == {"source": "hukou", "label": "people.csv", "format": "csv", "read": 4,
                                  "imported": 3, "unchanged": 0, "quarantined": 1, "warnings": {},
                                  "file": "people.csv", "encoding": "utf-8"}


def test_warnings_are_counted_in_the_audit_entry(desk: Desk, tmp_path: Path) -> None:
    legacy = ZHANG[:6] + ZHANG[8:17]  # the 15-digit form of ZHANG's ID
    path = write(tmp_path / "p.csv", people_csv(f"张三,{legacy},女,19850101,,"))
    batch = import_people(desk, path)
    assert report(batch) == (1, 1, 0, 0)
    assert fields_of(current(desk.source)[ZHANG])["sex"] == "F"  # the source's word, with a warning
    entry = AuditEntry.objects.get(action="records.import")
    assert entry.details["warnings"] == {"upgraded_from_15": 1, "sex_disagrees_with_id": 1}


def test_a_user_without_the_import_role_is_refused_and_nothing_is_written(desk: Desk, tmp_path: Path) -> None:
    officer = make_user("officer", [("officer", desk.tree.station_a1a)])
    path = write(tmp_path / "people.csv", people_csv(*PEOPLE_ROWS))
    before = stored_counts()
    with pytest.raises(PermissionDenied):
        services.import_file(actor=officer, source_key="hukou", path=path, kind="person")
    assert stored_counts() == before
    denied = AuditEntry.objects.get(outcome="denied")
    assert (denied.action, denied.actor_username) == ("records.import", "officer")


@pytest.mark.parametrize(("options", "field", "message"), [
    ({"source_key": "telecom", "kind": "person"}, "source",
     "unknown source 'telecom'; known sources: hukou (add one with `jingwu sources add KEY NAME`)"),
    ({"source_key": "hukou", "kind": "ship"}, "kind",
     "unknown kind 'ship' (expected one of person, vehicle, phone, organization, account, place)"),
    ({"source_key": "hukou"}, "kind", "say what the file holds: a kind or a mapping file"),
    ({"source_key": "hukou", "kind": "vehicle"}, "mapping",
     "fields: no column for plate among 姓名, 证件号码, 性别, 出生日期, 联系电话, 住址; write a mapping file for "
     "this source"),
])
def test_refusals_before_anything_is_written(desk: Desk, tmp_path: Path, options: dict[str, str], field: str,
                                             message: str) -> None:
    path = write(tmp_path / "people.csv", people_csv(*PEOPLE_ROWS))
    before = stored_counts()
    with pytest.raises(ServiceError) as caught:
        services.import_file(actor=desk.steward, path=path, **options)  # type: ignore[arg-type]
    assert (caught.value.field, str(caught.value)) == (field, message)
    assert stored_counts() == before


def test_a_mapping_whose_columns_the_file_lacks_is_refused(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", "姓名,证件号码\n张三,370102198501011233\n")
    with pytest.raises(ServiceError) as caught:
        services.import_file(actor=desk.steward, source_key="hukou", path=path,
                             mapping=load_mapping(FIXTURES / "person_mapping.toml"))
    assert (caught.value.field, str(caught.value)) == (
        "mapping", "columns missing from the file: 出生日期, 性别, 联系电话, 住址 (the file has 姓名, 证件号码)")
    assert stored_counts() == (0, 0, 0)


def test_an_empty_file_is_refused(desk: Desk, tmp_path: Path) -> None:
    with pytest.raises(ServiceError) as caught:
        import_people(desk, write(tmp_path / "empty.csv", ""))
    assert (caught.value.field, str(caught.value)) == (
        "file", "empty.csv: the file is empty (no header row)")


def test_a_cell_that_cannot_be_stored_is_quarantined(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv",
                 people_csv(PEOPLE_ROWS[0], f"陈\x00鑫,{CHEN},女,,,", r"李\u0000喆," + LI + ",男,,,"))
    batch = import_people(desk, path)
    assert report(batch) == (3, 2, 0, 1)
    assert issue_codes(batch) == [(3, "", "姓名", "unstorable_character")]
    assert batch.quarantined.get().raw["姓名"] == "陈\ufffd鑫"
    assert fields_of(current(desk.source)[LI])["name"] == r"李\u0000喆"  # the text, not the character


def test_a_failure_mid_import_marks_the_batch_failed_and_keeps_what_balanced(
        desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    original = services._RecordWriter.write
    calls = []

    def write_then_break(self: services._RecordWriter, *args: object, **kwargs: object) -> dict[str, int]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services._RecordWriter, "write", write_then_break)
    with pytest.raises(RuntimeError):
        import_people(desk, write(tmp_path / "p.csv", people_csv(*PEOPLE_ROWS, f"周八,{BAD_CHECK},男,,,")))
    batch = ImportBatch.objects.get()
    assert report(batch) == (2, 2, 0, 0)
    assert (batch.status, batch.error) == (BatchStatus.FAILED, "RuntimeError: disk full")
    assert AuditEntry.objects.get(action="records.import").outcome == "error"
    assert QuarantinedRow.objects.count() == 0


def test_a_big_file_is_prepared_by_a_worker_process_with_the_same_result(
        desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    monkeypatch.setattr(services.os, "cpu_count", lambda: 2)
    used: list[int] = []
    in_workers = services._chunks_in_workers

    def counted(*args: Any) -> Any:
        used.append(args[-1])
        return in_workers(*args)

    monkeypatch.setattr(services, "_chunks_in_workers", counted)
    moved = PEOPLE_ROWS[0].replace("泉城路1号", "经十路99号")
    path = write(tmp_path / "p.csv", people_csv(*PEOPLE_ROWS, f"周八,{BAD_CHECK},男,,,", moved), "gbk")

    batch = import_people(desk, path)

    assert used == [2]  # two workers, each preparing every other chunk of two rows
    assert report(batch) == (5, 4, 0, 1)
    assert issue_codes(batch) == [(5, "id_number", "证件号码", "check_char_mismatch")]
    assert {k: r.fields for k, r in current(desk.source).items()} == {
        ZHANG: {**ZHANG_FIELDS, "address": "济南市历下区经十路99号"}, CHEN: CHEN_FIELDS, LI: LI_FIELDS}


def test_a_worker_that_fails_fails_the_batch(desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(services.os, "cpu_count", lambda: 2)
    path = write(tmp_path / "p.csv", people_csv(*PEOPLE_ROWS))
    job = services.import_start(actor=desk.steward, source_key="hukou", path=path, kind="person")
    path.unlink()  # gone before the worker opens it
    with pytest.raises(RuntimeError) as caught:
        services.import_run(job, actor=desk.steward)
    message = f"reading the file failed: FileNotFoundError: [Errno 2] No such file or directory: '{path}'"
    assert str(caught.value) == message
    job.batch.refresh_from_db()
    assert (job.batch.status, report(job.batch), job.batch.error) == (
        BatchStatus.FAILED, (0, 0, 0, 0), f"RuntimeError: {message}")


def test_workers_share_a_file_chunk_by_chunk() -> None:
    from jingwu.records.mapping import Mapping
    from jingwu.records.prepare import prepare_chunks
    from jingwu.records.readers import RawRow
    from jingwu.records.units import UnitResolver

    rows = [RawRow(n, {"name": f"人{n}", "id": str(n)}) for n in range(2, 12)]
    mapping = Mapping.default_for("person", ["name", "id"])

    def numbers(part: int) -> list[list[int]]:
        chunks = prepare_chunks(rows, mapping, UnitResolver({}, {}, None), 3, part=part, parts=2)
        return [[item[0] for item in chunk.good] for chunk in chunks]

    assert numbers(0) == [[2, 3, 4], [8, 9, 10]]
    assert numbers(1) == [[5, 6, 7], [11]]
    whole = prepare_chunks(rows, mapping, UnitResolver({}, {}, None), 3)
    assert [[item[0] for item in chunk.good] for chunk in whole] == [[2, 3, 4], [5, 6, 7], [8, 9, 10], [11]]


def test_keys_and_cells_with_tabs_backslashes_and_line_breaks_are_stored_exactly(desk: Desk) -> None:
    keys = ["A\tB", "C\\D", "E\nF", "G\r\nH", "I\\N", "\\."]
    records = [{"编号": key, "姓名": f"张三{n}", "住址": f"路\\{n}\t号\n"} for n, key in enumerate(keys)]
    mapping = {"key": "编号", "fields": {"name": "姓名", "address": "住址"}}
    batch, _ = services.import_records(actor=None, source_key="hukou", kind="person", idempotency_key="x",
                                       records=records, mapping=mapping)
    assert report(batch) == (6, 6, 0, 0)
    stored = current(desk.source)
    assert sorted(stored) == sorted(keys)
    assert stored["C\\D"].payload == {"编号": "C\\D", "姓名": "张三1", "住址": "路\\1\t号\n"}
    assert fields_of(stored["I\\N"])["address"] == "路\\4 号"  # white space collapsed, the backslash kept


def test_a_chunk_that_fails_to_commit_is_not_counted(desk: Desk, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    original = services._RecordWriter._insert_rows
    calls: list[int] = []

    def insert_then_break(self: services._RecordWriter, *args: Any) -> None:
        calls.append(1)
        original(self, *args)
        if len(calls) == 2:
            raise RuntimeError("constraint")

    monkeypatch.setattr(services._RecordWriter, "_insert_rows", insert_then_break)
    with pytest.raises(RuntimeError):
        import_people(desk, write(tmp_path / "p.csv", people_csv(*PEOPLE_ROWS, f"周八,{BAD_CHECK},男,,,")))
    batch = ImportBatch.objects.get()
    assert (batch.status, report(batch)) == (BatchStatus.FAILED, (2, 2, 0, 0))
    assert SourceRecord.objects.count() == 2
    assert AuditEntry.objects.get(action="records.import").details["imported"] == 2
