"""Quarantine reasons in the viewer's language: every reason a row can fail for is stored as
a reason key with parameters, rendered in Chinese (the default) or English on the page and
in `jingwu quarantine list`; rows stored before reasons existed are read from their English
sentence."""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from jingwu.core.identifiers import compute_id_check_char, make_uscc
from jingwu.records import prepare, readers, reasons, selectors, services
from jingwu.records.mapping import Mapping
from jingwu.records.models import ImportBatch, QuarantinedRow
from jingwu.records.rows import BadRow, FieldIssue, normalize_row
from jingwu.records.tests.import_support import BAD_CHECK, CHEN, Desk, make_desk, people_csv, write
from jingwu.records.units import UnitResolver

USCC = make_uscc("91370102MA3C4XQ1B")
WRONG_USCC = USCC[:17] + ("0" if USCC[17] != "0" else "1")


def bad_id(body17: str) -> str:
    """An ID with a correct check character, so only the other fault is reported."""
    return body17 + compute_id_check_char(body17)


# (kind, cells, the issue's code, its reason key, its parameters, the Chinese sentence)
FIELD_CASES: list[tuple[str, dict[str, str], str, str, dict[str, str], str]] = [
    ("person", {"name": "12345"}, "name_digits_only", "name.name_digits_only", {}, "姓名不能只有数字"),
    ("person", {"name": "？？"}, "name_no_letters", "name.name_no_letters", {}, "姓名至少要有一个文字"),
    ("person", {"birth_date": "1985-13-01"}, "not_a_date", "date.not_a_date",
     {"value": "1985-13-01", "formats": "ISO %Y-%m-%d, %Y%m%d, %Y/%m/%d, %Y.%m.%d, %Y年%m月%d日"},
     "“1985-13-01”不是日期，可用的格式：ISO %Y-%m-%d, %Y%m%d, %Y/%m/%d, %Y.%m.%d, %Y年%m月%d日"),
    ("person", {"birth_date": "00000"}, "bad_excel_serial", "date.bad_excel_serial", {"serial": "0"},
     "Excel 日期序号 0 早于 1900-01-01"),
    ("person", {"birth_date": "00060"}, "bad_excel_serial", "date.excel_serial_60", {},
     "Excel 日期序号 60 是不存在的 1900-02-29（Lotus 的闰年错误）"),
    ("person", {"birth_date": "1899-12-31"}, "date_before_1900", "date.date_before_1900", {"date": "1899-12-31"},
     "1899-12-31 早于 1900 年"),
    ("person", {"birth_date": "2999-01-01"}, "future_date", "date.future_date", {"date": "2999-01-01"},
     "2999-01-01 是将来的日期"),
    ("person", {"sex": "X"}, "unknown_sex", "sex.unknown_sex", {"value": "X"},
     "“X”不是性别（应为 男/女、M/F 或 1/2）"),
    ("person", {"division_code": "12"}, "bad_division_code", "division_code.bad_division_code", {"value": "12"},
     "“12”不是 6、9 或 12 位的行政区划代码"),
    ("person", {"division_code": "990000"}, "bad_division_code", "division_code.bad_province", {"prefix": "99"},
     "99 不是省级行政区划代码"),
    ("person", {"id_number": "--"}, "empty", "resident_id.empty", {}, "规范化后没有剩下任何字符"),
    ("person", {"id_number": "37010219850101123A"}, "invalid_chars", "resident_id.invalid_chars", {},
     "应为 17 位数字加一位数字或 X"),
    ("person", {"id_number": "37010285010112A"}, "invalid_chars", "resident_id.invalid_chars_15", {},
     "15 位身份证号必须全是数字"),
    ("person", {"id_number": "37010219850101123"}, "bad_length", "resident_id.bad_length", {"length": "17"},
     "应为 18 位（或旧版 15 位），实为 17 位"),
    ("person", {"id_number": bad_id("99010219850101123")}, "bad_province", "resident_id.bad_province",
     {"prefix": "99"}, "99 不是省级行政区划代码"),
    ("person", {"id_number": bad_id("37010219851301123")}, "invalid_date", "resident_id.invalid_date",
     {"digits": "19851301"}, "出生日期 19851301 不是真实的日期"),
    ("person", {"id_number": bad_id("37010218990101123")}, "date_before_1900", "resident_id.date_before_1900",
     {"year": "1899", "earliest": "1900"}, "出生年份 1899 早于 1900 年"),
    ("person", {"id_number": bad_id("37010229990101123")}, "future_date", "resident_id.future_date",
     {"date": "2999-01-01"}, "出生日期 2999-01-01 是将来的日期"),
    ("person", {"id_number": BAD_CHECK}, "check_char_mismatch", "resident_id.check_char_mismatch",
     {"given": "4", "expected": "3"}, "校验码为“4”，应为“3”"),
    ("person", {"phone": "abc"}, "invalid_chars", "phone.invalid_chars", {}, "电话号码只能有数字和开头的 +"),
    ("person", {"phone": "+0"}, "unparseable", "phone.unparseable", {}, "认不出是电话号码"),
    ("person", {"phone": "+14155552671"}, "not_cn", "phone.not_cn", {"country": "1"}, "国家代码 +1 不是中国（+86）"),
    ("person", {"phone": "053188888888"}, "not_mobile", "phone.not_mobile", {}, "不是手机号码（是固定电话或服务号码）"),
    ("person", {"phone": "1381234567"}, "bad_length", "phone.bad_length", {"length": "10"},
     "手机号码应为 11 位，实为 10 位"),
    ("person", {"phone": "10012345678"}, "invalid_number", "phone.invalid_number", {}, "不是已分配的手机号段"),
    ("vehicle", {"plate": "鲁A1234"}, "bad_length", "plate.bad_length", {"length": "6"},
     "号牌应为 7 位（新能源 8 位），实为 6 位"),
    ("vehicle", {"plate": "XA12345"}, "unknown_province", "plate.unknown_province", {"province": "X"},
     "“X”不是省份简称"),
    ("vehicle", {"plate": "鲁I12345"}, "forbidden_letter", "plate.forbidden_letter", {}, "号牌不使用字母 I 和 O"),
    ("vehicle", {"plate": "鲁112345"}, "bad_issuer", "plate.bad_issuer", {"issuer": "1"},
     "发牌机关代号“1”应为 I、O 以外的字母 A–Z"),
    ("vehicle", {"plate": "鲁A12#4学"}, "bad_serial", "plate.bad_special_serial", {},
     "专用号牌在后缀前应有 4 位字母或数字"),
    ("vehicle", {"plate": "鲁A12#45"}, "bad_serial", "plate.bad_serial", {},
     "普通号牌在发牌机关代号后应有 5 位字母或数字"),
    ("vehicle", {"plate": "鲁AZ12345"}, "bad_new_energy_serial", "plate.bad_new_energy_serial", {},
     "新能源号牌序号应为 D/F 类字母加一位字母或数字再加 4 位数字，或 5 位数字加 D/F 类字母"),
    ("vehicle", {"plate": "·"}, "empty", "plate.empty", {}, "规范化后没有剩下任何字符"),
    ("vehicle", {"plate": "鲁A12345", "vin": "123"}, "bad_vin", "vin.bad_vin", {},
     "车辆识别代号应为 17 位字母和数字，不含 I、O、Q"),
    ("organization", {"name": "某公司", "uscc": "123"}, "bad_length", "uscc.bad_length", {"length": "3"},
     "统一社会信用代码应为 18 位，实为 3 位"),
    ("organization", {"name": "某公司", "uscc": "91370102MA3C4XQ1IO"}, "invalid_chars", "uscc.invalid_chars",
     {"chars": "IO"}, "字符“IO”不在统一社会信用代码的字符集中"),
    ("organization", {"name": "某公司", "uscc": WRONG_USCC}, "check_char_mismatch", "uscc.check_char_mismatch",
     {"given": WRONG_USCC[17], "expected": USCC[17]}, f"校验码为“{WRONG_USCC[17]}”，应为“{USCC[17]}”"),
    ("organization", {"name": "某公司", "uscc": "-"}, "empty", "uscc.empty", {}, "规范化后没有剩下任何字符"),
    ("account", {"account_number": "12AB"}, "invalid_chars", "bank_card.invalid_chars", {}, "卡号或账号只能有数字"),
    ("account", {"account_number": "1234"}, "bad_length", "bank_card.bad_length", {"length": "4"},
     "应为 12–19 位数字，实为 4 位"),
    ("account", {"account_number": "-"}, "empty", "bank_card.empty", {}, "规范化后没有剩下任何字符"),
    ("person", {"id_number": "-"}, "empty", "resident_id.empty", {}, "规范化后没有剩下任何字符"),
    ("person", {"phone": "-"}, "empty", "phone.empty", {}, "规范化后没有剩下任何字符"),
    ("place", {"address": "济南市", "lon": "abc"}, "not_a_number", "number.not_a_number", {"value": "abc"},
     "“abc”不是数字"),
    ("place", {"address": "济南市", "lon": "200"}, "out_of_range", "number.out_of_range",
     {"value": "200", "low": "-180", "high": "180"}, "200 超出 -180..180 的范围"),
]


def the_issue(result: Any, code: str) -> FieldIssue:
    assert isinstance(result, BadRow)
    found = [issue for issue in result.issues if issue.code == code]
    assert len(found) == 1, result.issues
    return found[0]


@pytest.mark.parametrize(("kind", "cells", "code", "reason", "params", "chinese"), FIELD_CASES,
                         ids=[f"{case[3]}-{n}" for n, case in enumerate(FIELD_CASES)])
def test_each_field_reason_is_stored_with_its_parameters(kind: str, cells: dict[str, str], code: str, reason: str,
                                                         params: dict[str, str], chinese: str) -> None:
    base = {"person": {"name": "张三"}, "vehicle": {"plate": "鲁A12345"}, "organization": {},
            "account": {}, "place": {}}[kind]
    raw = readers.RawRow(7, {"id": "k1", **base, **cells})
    issue = the_issue(normalize_row(raw, Mapping.identity(kind)), code)
    assert (issue.reason, issue.params) == (reason, params)

    field = issue.field
    stored = {"field": field, "column": issue.column, "code": code, "message": issue.message, "reason": reason,
              "params": params}
    with translation.override("zh-hans"):
        assert selectors.issue_text(stored, 7) == f"第 7 行，{field} 列（{field}）：{chinese}"
    with translation.override("en"):
        # The English rendering is the sentence the validator wrote.
        assert selectors.issue_text(stored, 7) == issue.message


ROW_CASES: list[tuple[readers.RawRow, Mapping, str, str, dict[str, Any], str, str]] = [
    (readers.RawRow(3, {"id": "k", "plate": "鲁A12345"}, kind="vehicle"), Mapping.identity("person"), "wrong_kind",
     "row.wrong_kind", {"kind": "vehicle", "expected": "person"}, "第 3 行：这是车辆记录，但映射是人员的",
     "row 3: a Vehicle record, but the mapping is for Person"),
    (readers.RawRow(3, {"name": "张三"}), Mapping.identity("person"), "missing_key", "row.missing_key", {},
     "第 3 行，id 列：缺失，而它是来源主键的一部分", "row 3, column id: missing, and it is part of the source key"),
    (readers.RawRow(3, {"id": "k"}), Mapping.identity("person"), "missing_required", "row.missing_required",
     {"kind": "person"}, "第 3 行，name 列（name）：缺失，而人员记录必须有此项",
     "row 3, column name (name): missing, and a Person record needs it"),
    (readers.RawRow(3, {"id": "k" * 101, "name": "张三"}), Mapping.identity("person"), "key_too_long",
     "row.key_too_long", {"length": "101", "max": "100"}, "第 3 行：来源主键有 101 个字符，最多 100 个",
     "row 3: the source key is 101 characters, at most 100"),
]


@pytest.mark.parametrize(("raw", "mapping", "code", "reason", "params", "chinese", "english"), ROW_CASES,
                         ids=[case[3] for case in ROW_CASES])
def test_each_row_reason_is_stored_with_its_parameters(raw: readers.RawRow, mapping: Mapping, code: str, reason: str,
                                                       params: dict[str, Any], chinese: str, english: str) -> None:
    issue = the_issue(normalize_row(raw, mapping), code)
    assert (issue.reason, issue.params) == (reason, params)
    stored = {"field": issue.field, "column": issue.column, "code": code, "message": issue.message,
              "reason": reason, "params": params}
    with translation.override("zh-hans"):
        assert selectors.issue_text(stored, 3) == chinese
    with translation.override("en"):
        assert selectors.issue_text(stored, 3) == english


def test_an_unstorable_character(tmp_path: Path) -> None:
    item = prepare.prepare_row(readers.RawRow(4, {"id": "k", "name": "张\x00三"}), Mapping.identity("person"),
                               UnitResolver({}, {}, None))
    assert len(item) == 3
    (stored,) = item[2]
    assert (stored["reason"], stored["params"]) == ("row.unstorable_character", {})
    with translation.override("zh-hans"):
        assert selectors.issue_text(stored, 4) == "第 4 行，name 列：含有无法存储的 NUL 字符或孤立的代理字符"


# Files whose rows a reader cannot read, and what each problem says.
READER_CASES: list[tuple[str, bytes, str | None, str | None, int, list[tuple[str, dict[str, str]]], str]] = [
    ("ragged.csv", "姓名,证件号码\n张三\n".encode(), None, None, 2,
     [("reader.ragged", {"cells": "1", "width": "2"})], "该行有 1 个单元格，表头有 2 列"),
    ("quote.csv", '姓名,证件号码\n张三,1\n"李四,1\n王五",2,3\n'.encode(), None, None, 3,
     [("reader.unbalanced_quote", {"first": "3", "last": "4", "cells": "3", "width": "2"})],
     "引号不配对：第 3 行开始的带引号字段到第 4 行才结束（该行有 3 个单元格，表头有 2 列）"),
    ("open.csv", '姓名,证件号码\n张三,1\n"李四,1\n'.encode(), None, None, 3,
     [("reader.unterminated_quote", {"line": "3"})], "引号没有闭合：第 3 行开始的带引号字段一直没有结束"),
    ("huge.csv", ("姓名,证件号码\n" + "张三,1\n" * 12_000 + "李四," + "x" * 140_000 + "\n").encode(), None, None,
     12_002, [("reader.malformed_csv", {"line": "12002", "error": "field larger than field limit (131072)"})],
     "第 12002 行不是合规的 CSV：field larger than field limit (131072)"),
    ("bytes.csv", "姓名,证件号码\n张三,1\n".encode() + b"\xd5\xd5\n", None, "utf-8", 3,
     [("reader.ragged", {"cells": "1", "width": "2"}),
      ("reader.undecodable_bytes", {"bytes": "D5", "line": "3", "encoding": "utf-8"})],
     "该行有 1 个单元格，表头有 2 列；第 3 行有无法解码的字节 D5（不是有效的 utf-8）"),
    ("utf16.csv", "姓名,证件号码\n张三,1\n".encode("utf-16") + b"\x00\xd8,\x00\n\x00", None, None, 3,
     [("reader.undecodable_line", {"line": "3", "encoding": "utf-16"})],
     "第 3 行有无法解码的字节（不是有效的 utf-16）"),
    ("rows.jsonl", b'{"a": 1}\n{bad\n', None, None, 2,
     [("reader.not_json", {"error": "Expecting property name enclosed in double quotes", "column": "2"})],
     "不是有效的 JSON：Expecting property name enclosed in double quotes（第 2 个字符）"),
    ("list.jsonl", b'{"a": 1}\n[1, 2]\n', None, None, 2, [("reader.json_not_object", {"type": "list"})],
     "JSON Lines 的每一行都应是对象，这一行是 list"),
    ("list.ftm", b'{"schema": "Person", "id": "p1", "properties": {"name": ["x"]}}\n[1]\n', "ftm", None, 2,
     [("reader.ftm_not_object", {"type": "list"})],
     "FtM 实体应是 JSON 对象，这一行是 list"),
    ("nope.ftm", b'{"schema": "Nope", "id": "x", "properties": {}}\n', "ftm", None, 1,
     [("reader.ftm_invalid", {"error": "No schema for entity."})], "不是 FtM 实体：No schema for entity."),
    ("event.ftm", b'{"schema": "Event", "id": "e1", "properties": {"name": ["x"]}}\n', "ftm", None, 1,
     [("reader.ftm_schema", {"schema": "Event", "imported": "Person, Organization (Company, PublicBody), "
                             "LegalEntity, Vehicle, BankAccount, UserAccount, Address"})],
     "模式 Event 不是 jingwu 导入的记录（可导入：Person, Organization (Company, PublicBody), LegalEntity, "
     "Vehicle, BankAccount, UserAccount, Address）"),
    ("noid.ftm", b'{"schema": "Person", "properties": {"name": ["x"]}}\n', "ftm", None, 1,
     [("reader.ftm_no_id", {})], "实体没有 id"),
]


@pytest.fixture
def csv_field_limit() -> Iterator[None]:
    """Python's own limit on a CSV cell (followthemoney, once imported, raises it for the process)."""
    before = csv.field_size_limit(131072)
    yield
    csv.field_size_limit(before)


@pytest.mark.parametrize(("name", "content", "fmt", "encoding", "row_number", "problems", "chinese"), READER_CASES,
                         ids=[case[0] for case in READER_CASES])
def test_each_reader_problem_is_stored_with_its_parameters(
        tmp_path: Path, csv_field_limit: None, name: str, content: bytes, fmt: str | None, encoding: str | None,
        row_number: int, problems: list[tuple[str, dict[str, str]]], chinese: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with readers.read_file(path, format=fmt, encoding=encoding) as stream:
        raw = next(r for r in stream if r.problem is not None)
    assert raw.row_number == row_number
    issue = the_issue(normalize_row(raw, Mapping.default_for("person", ["姓名", "证件号码"])), "malformed_row")
    assert (issue.reason, issue.params) == (
        "row.malformed_row", {"problems": [{"reason": r, "params": p} for r, p in problems]})
    stored = {"field": "", "column": "", "code": "malformed_row", "message": issue.message, "reason": issue.reason,
              "params": issue.params}
    with translation.override("zh-hans"):
        assert selectors.issue_text(stored, row_number) == f"第 {row_number} 行：{chinese}"
    with translation.override("en"):
        assert selectors.issue_text(stored, row_number) == issue.message


def test_every_reason_is_one_a_validator_gives() -> None:
    # The reasons the cases above reach, and those the quarantine retry and prepare give.
    reached = {case[3] for case in FIELD_CASES} | {case[3] for case in ROW_CASES}
    reached |= {reason for case in READER_CASES for reason, _params in case[5]}
    reached |= {"row.unstorable_character", "row.extra_cells", "reader.other"}
    assert reached == set(reasons.REASONS)


def test_a_problem_no_reader_is_known_for_is_shown_as_written() -> None:
    issue = the_issue(normalize_row(readers.RawRow(2, {}, "the disk caught fire"),
                                    Mapping.identity("person")), "malformed_row")
    assert issue.params == {"problems": [{"reason": "reader.other", "params": {"text": "the disk caught fire"}}]}
    with translation.override("zh-hans"):
        stored = {"code": "malformed_row", "message": issue.message, "reason": issue.reason, "params": issue.params}
        assert selectors.issue_text(stored, 2) == "第 2 行：the disk caught fire"


# --------------------------------------------------------------------------- pages, CLI, old rows


@pytest.fixture
def desk(db: None) -> Desk:
    return make_desk()


@pytest.fixture
def batch(desk: Desk, tmp_path: Path) -> ImportBatch:
    text = people_csv(f"周八,{BAD_CHECK},男,19850101,,济南市", f"赵六,{CHEN},女,19900307,,济南市,历下区")
    return services.import_file(actor=desk.steward, source_key="hukou", path=write(tmp_path / "p.csv", text),
                                kind="person")


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.django_db
def test_the_page_shows_reasons_in_the_viewers_language(desk: Desk, batch: ImportBatch, client: Client) -> None:
    client.force_login(desk.steward)
    chinese = text_of(client.get(f"/records/imports/{batch.pk}/").content.decode())
    assert "check_char_mismatch 第 2 行，证件号码 列（id_number）：校验码为“4”，应为“3”" in chinese
    assert "malformed_row 第 3 行：该行有 7 个单元格，表头有 6 列" in chinese

    client.cookies["django_language"] = "en"
    english = text_of(client.get(f"/records/imports/{batch.pk}/").content.decode())
    assert "check_char_mismatch row 2, column 证件号码 (id_number): check character is '4', expected '3'" in english
    assert "malformed_row row 3: row has 7 cells, header has 6" in english


@pytest.mark.django_db
def test_a_retry_that_still_fails_says_why_in_the_viewers_language(desk: Desk, batch: ImportBatch,
                                                                    client: Client) -> None:
    client.force_login(desk.steward)
    row = batch.quarantined.get(row_number=3)
    response = client.post(f"/records/imports/quarantine/{row.pk}/retry", {"column": [], "value": []},
                           headers={"HX-Request": "true"})
    assert "第 3 行：表头之外还有单元格（#7 = '历下区'）：请清空，或把值移到所属的列" in text_of(
        response.content.decode())


@pytest.mark.django_db
def test_the_command_line_lists_reasons_in_chinese_or_english(desk: Desk, batch: ImportBatch, tmp_path: Path) -> None:
    def listing(*args: str) -> list[str]:
        out = StringIO()
        call_command("quarantine", "list", "--batch", str(batch.pk), *args, stdout=out)
        return [line.split("\t")[4] for line in out.getvalue().splitlines()[1::2]]

    assert listing() == ["第 2 行，证件号码 列（id_number）：校验码为“4”，应为“3”",
                         "第 3 行：该行有 7 个单元格，表头有 6 列"]
    assert listing("--language", "en") == ["row 2, column 证件号码 (id_number): check character is '4', expected '3'",
                                           "row 3: row has 7 cells, header has 6"]
    out = StringIO()
    path = write(tmp_path / "again.csv", people_csv(f"周八,{BAD_CHECK},男,,,"))
    call_command("import", "--source", "hukou", "--kind", "person", str(path), stdout=out)
    assert out.getvalue().splitlines()[1] == "  第 2 行，证件号码 列（id_number）：校验码为“4”，应为“3”"


@pytest.mark.django_db
def test_rows_stored_before_reasons_are_read_from_their_sentence(desk: Desk, batch: ImportBatch,
                                                                 client: Client) -> None:
    # As the rows were stored before this change: code and English sentence only.
    for row in batch.quarantined.all():
        row.issues = [{k: v for k, v in issue.items() if k not in ("reason", "params")} for issue in row.issues]
        row.save(update_fields=["issues"])
    old = QuarantinedRow.objects.create(batch=batch, row_number=9, raw={"姓名": "某"}, issues=[
        {"field": "id_number", "column": "证件号码", "value": "x", "code": "weird",
         "message": "row 9, column 证件号码 (id_number): something no table knows"},
        {"field": "sex", "column": "性别", "value": "X", "code": "unknown_sex",
         "message": "row 9, column 性别 (sex): 'X' is not a sex value (expected 男/女, M/F or 1/2)"}])

    client.force_login(desk.steward)
    page = text_of(client.get(f"/records/imports/{batch.pk}/").content.decode())
    assert "第 2 行，证件号码 列（id_number）：校验码为“4”，应为“3”" in page
    assert "第 3 行：该行有 7 个单元格，表头有 6 列" in page
    assert "第 9 行，性别 列（sex）：“X”不是性别（应为 男/女、M/F 或 1/2）" in page
    assert "row 9, column 证件号码 (id_number): something no table knows" in page  # unknown: as stored
    with translation.override("zh-hans"):
        assert selectors.issue_text(old.issues[1], 9) == (
            "第 9 行，性别 列（sex）：“X”不是性别（应为 男/女、M/F 或 1/2）")
