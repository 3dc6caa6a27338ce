"""Normalising rows: identifiers through core.identifiers, names, dates (Excel serials
too), sex, keys, and the exact sentences a data steward reads for a quarantined row."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jingwu.core.identifiers import luhn_check_digit, make_resident_id, make_uscc, validate_phone
from jingwu.records.mapping import Mapping, parse_mapping
from jingwu.records.readers import RawRow, read_file
from jingwu.records.rows import BadRow, FieldIssue, GoodRow, content_hash, excel_serial_to_date, normalize_row

ID_M = make_resident_id("370102", dt.date(1985, 1, 1), 123)  # odd sequence: male
ID_X = make_resident_id("370102", dt.date(1985, 1, 1), 2)  # even: female, check character X
ID_15 = "370102850101123"  # the legacy form of ID_M
CARD = "622202100000000001"
CARD = CARD[:-1] + luhn_check_digit(CARD[:-1])
USCC = make_uscc("91370102MA3C12345")

PERSON = parse_mapping(
    {
        "kind": "person",
        "key": "证件号码",
        "fields": {
            "name": "姓名",
            "former_name": "曾用名",
            "id_number": "证件号码",
            "birth_date": {"column": "出生日期", "type": "date", "formats": ["%Y%m%d", "%Y/%m/%d"]},
            "sex": {"column": "性别", "values": {"男": "M", "女": "F"}},
            "phone": "联系电话",
            "address": "住址",
            "division_code": "区划",
        },
    }
)
EMPTY_PERSON: dict[str, str | None] = {
    "name": None,
    "former_name": None,
    "id_number": None,
    "birth_date": None,
    "sex": None,
    "phone": None,
    "address": None,
    "division_code": None,
    "household_id": None,
    "relation_to_head": None,
}


def person(row_number: int = 2, **cells: str | None) -> RawRow:
    fields: dict[str, str | None] = {"姓名": "张三", "证件号码": ID_M, "出生日期": "19850101", "性别": "男"}
    fields.update({column: value for column, value in cells.items()})
    return RawRow(row_number, fields)


def good(result: Any) -> GoodRow:
    assert isinstance(result, GoodRow), result
    return result


def bad(result: Any) -> BadRow:
    assert isinstance(result, BadRow), result
    return result


# --------------------------------------------------------------------------- a whole row


def test_a_good_person_row() -> None:
    raw = person(
        联系电话="138 1234 5678", 住址="  山东省济南市\u3000历下区  ", 区划="370102", 曾用名="张叁", 姓名=" 张三 "
    )

    row = good(normalize_row(raw, PERSON))

    assert row == GoodRow(
        row_number=2,
        source_key=ID_M,
        kind="person",
        fields={
            **EMPTY_PERSON,
            "name": "张三",
            "former_name": "张叁",
            "id_number": ID_M,
            "birth_date": "1985-01-01",
            "sex": "M",
            "phone": "+8613812345678",
            "address": "山东省济南市 历下区",
            "division_code": "370102",
        },
        raw=raw.fields,
        warnings=[],
    )
    assert row.raw is raw.fields  # the original cells, untouched, for provenance


def test_the_check_character_message_names_row_column_field_and_reason() -> None:
    wrong = ID_X[:-1] + "1"

    row = bad(normalize_row(person(17, 证件号码=wrong, 性别="女"), PERSON))

    assert row.row_number == 17
    assert row.issues == [
        FieldIssue(
            "id_number",
            "证件号码",
            wrong,
            "check_char_mismatch",
            "row 17, column 证件号码 (id_number): check character is '1', expected 'X'",
        )
    ]


def test_a_15_digit_id_is_upgraded_with_a_warning_and_keyed_by_its_18_digit_form() -> None:
    row = good(normalize_row(person(证件号码=ID_15), PERSON))

    assert row.source_key == ID_M
    assert row.fields["id_number"] == ID_M
    assert row.warnings == [
        FieldIssue(
            "id_number",
            "证件号码",
            ID_15,
            "upgraded_from_15",
            f"row 2, column 证件号码 (id_number): legacy 15-digit ID {ID_15} upgraded to {ID_M}",
        )
    ]


def test_the_key_is_the_normalised_identifier() -> None:
    spaced = f"{ID_X[:6]} {ID_X[6:14]} {ID_X[14:].lower()}"
    row = good(normalize_row(person(证件号码=spaced, 性别="女"), PERSON))
    assert row.source_key == ID_X


def test_a_malformed_row_goes_to_quarantine_whatever_its_cells() -> None:
    raw = RawRow(9, {"姓名": "张三", "证件号码": ID_M}, "row has 2 cells, header has 4")
    assert normalize_row(raw, PERSON) == BadRow(
        9, raw.fields, [FieldIssue("", "", None, "malformed_row", "row 9: row has 2 cells, header has 4")]
    )


def test_a_row_of_another_kind_is_refused() -> None:
    raw = RawRow(3, {"id": "x", "plate": "鲁A12345"}, kind="vehicle")
    assert bad(normalize_row(raw, PERSON)).issues == [
        FieldIssue("", "", None, "wrong_kind", "row 3: a vehicle record, but the mapping is for person")
    ]
    with pytest.raises(ValueError, match="needs a mapping"):
        normalize_row(RawRow(3, {"姓名": "张三"}))


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    raw = person(5, 姓名="12345", 证件号码="37010219850101123", 出生日期="1985-13-01", 联系电话="0531-88888888")

    issues = bad(normalize_row(raw, PERSON)).issues

    assert [(i.field, i.column, i.value, i.code, i.message) for i in issues] == [
        ("name", "姓名", "12345", "name_digits_only", "row 5, column 姓名 (name): a name cannot be only digits"),
        (
            "id_number",
            "证件号码",
            "37010219850101123",
            "bad_length",
            "row 5, column 证件号码 (id_number): expected 18 (or legacy 15) characters, got 17",
        ),
        (
            "birth_date",
            "出生日期",
            "1985-13-01",
            "not_a_date",
            "row 5, column 出生日期 (birth_date): '1985-13-01' is not a date in any of the formats "
            "ISO %Y-%m-%d, %Y%m%d, %Y/%m/%d",
        ),
        (
            "phone",
            "联系电话",
            "0531-88888888",
            "not_mobile",
            "row 5, column 联系电话 (phone): not a mobile number (fixed line or service number)",
        ),
    ]


# --------------------------------------------------------------------------- keys and required fields


def test_a_missing_key_is_an_issue_on_the_key_field() -> None:
    row = bad(normalize_row(person(7, 证件号码="  "), PERSON))
    assert row.issues == [
        FieldIssue(
            "id_number",
            "证件号码",
            "  ",
            "missing_key",
            "row 7, column 证件号码 (id_number): missing, and it is part of the source key",
        )
    ]


def test_a_missing_required_field_is_an_issue() -> None:
    row = bad(normalize_row(person(8, 姓名=None), PERSON))
    assert row.issues == [
        FieldIssue(
            "name", "姓名", None, "missing_required", "row 8, column 姓名 (name): missing, and a person record needs it"
        )
    ]


def test_composite_key_with_a_column_that_is_not_a_field() -> None:
    mapping = parse_mapping({"kind": "vehicle", "key": ["号牌种类", "号牌号码"], "fields": {"plate": "号牌号码"}})

    row = good(normalize_row(RawRow(2, {"号牌种类": " 02 ", "号牌号码": "鲁a·12345"}), mapping))
    assert row.source_key == "02|鲁A12345"
    assert row.fields["plate"] == "鲁A12345"

    missing = bad(normalize_row(RawRow(3, {"号牌种类": "", "号牌号码": "鲁A12345"}), mapping))
    assert missing.issues == [
        FieldIssue(
            "", "号牌种类", "", "missing_key", "row 3, column 号牌种类: missing, and it is part of the source key"
        )
    ]


def test_an_overlong_key_is_refused() -> None:
    mapping = parse_mapping({"kind": "place", "key": "地址", "fields": {"address": "地址"}})
    row = bad(normalize_row(RawRow(4, {"地址": "路" * 101}), mapping))
    assert [(i.code, i.message) for i in row.issues] == [
        ("key_too_long", "row 4: the source key is 101 characters, at most 100")
    ]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("  张   三 ", "张 三"),
        ("陳大文", "陳大文"),  # traditional stays: linkage compares t2s forms, the record keeps the source's
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("ZHANG San", "ZHANG San"),
        ("张三2", "张三2"),
    ],
)
def test_names_are_tidied_not_rewritten(cell: str, expected: str) -> None:
    assert good(normalize_row(person(姓名=cell), PERSON)).fields["name"] == expected


@pytest.mark.parametrize(
    ("cell", "code", "reason"),
    [
        ("123 45", "name_digits_only", "a name cannot be only digits"),
        ("--", "name_no_letters", "a name needs at least one letter"),
    ],
)
def test_names_without_letters_are_refused(cell: str, code: str, reason: str) -> None:
    row = bad(normalize_row(person(姓名=cell), PERSON))
    assert [(i.code, i.message) for i in row.issues] == [(code, f"row 2, column 姓名 (name): {reason}")]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "cell", ["19850101", "1985/01/01", "1985-01-01", "1985-01-01 00:00:00", "1985-01-01T08:30:00", "31048", "31048.5"]
)
def test_birth_date_formats_iso_and_excel_serials(cell: str) -> None:
    assert good(normalize_row(person(出生日期=cell), PERSON)).fields["birth_date"] == "1985-01-01"


def test_default_date_formats_when_the_mapping_names_none() -> None:
    mapping = parse_mapping({"kind": "vehicle", "key": "plate", "fields": {"plate": "plate", "registered_at": "date"}})
    for cell in ("2020-05-06", "20200506", "2020/05/06", "2020.05.06", "2020年05月06日", "43957"):
        row = good(normalize_row(RawRow(2, {"plate": "鲁A12345", "date": cell}), mapping))
        assert row.fields["registered_at"] == "2020-05-06", cell


@pytest.mark.parametrize(
    ("cell", "code", "reason"),
    [
        ("1985", "not_a_date", "'1985' is not a date in any of the formats ISO %Y-%m-%d, %Y%m%d, %Y/%m/%d"),
        ("18991231", "date_before_1900", "1899-12-31 is before 1900"),
        ("99999", "future_date", "2173-10-13 is in the future"),
    ],
)
def test_bad_dates(cell: str, code: str, reason: str) -> None:
    mapping = parse_mapping(
        {
            "kind": "person",
            "key": "证件号码",
            "fields": {
                "name": "姓名",
                "id_number": "证件号码",
                "birth_date": {"column": "出生日期", "formats": ["%Y%m%d", "%Y/%m/%d"]},
            },
        }
    )
    row = bad(normalize_row(person(出生日期=cell), mapping))
    assert [(i.code, i.message) for i in row.issues] == [(code, f"row 2, column 出生日期 (birth_date): {reason}")]


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (1, dt.date(1900, 1, 1)),
        (59, dt.date(1900, 2, 28)),
        (61, dt.date(1900, 3, 1)),
        (31048, dt.date(1985, 1, 1)),
        (31048.99, dt.date(1985, 1, 1)),
        (45658, dt.date(2025, 1, 1)),
    ],
)
def test_excel_serial_to_date(serial: float, expected: dt.date) -> None:
    assert excel_serial_to_date(serial) == expected


def test_excel_serial_60_is_the_day_that_never_was() -> None:
    with pytest.raises(ValueError, match=r"Excel serial 60 is 1900-02-29, a day that does not exist"):
        excel_serial_to_date(60)
    with pytest.raises(ValueError, match="before 1900-01-01"):
        excel_serial_to_date(0)


def test_xlsx_dates_stored_as_dates_and_as_numbers_normalise_alike(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["姓名", "证件号码", "出生日期"])
    sheet.append(["张三", ID_M, dt.date(1985, 1, 1)])
    sheet.append(["李四", ID_X, 31048])  # the same day, as the serial number Excel stores
    sheet.append(["王五", ID_15, "19850101"])
    path = tmp_path / "people.xlsx"
    workbook.save(path)

    with read_file(path) as stream:
        mapping = Mapping.default_for("person", stream.header or ())
        rows = [good(normalize_row(raw, mapping)) for raw in stream]

    assert [row.fields["birth_date"] for row in rows] == ["1985-01-01"] * 3
    assert [row.row_number for row in rows] == [2, 3, 4]


# --------------------------------------------------------------------------- sex


def test_sex_from_the_values_map_the_defaults_and_the_id_number() -> None:
    assert good(normalize_row(person(性别="男"), PERSON)).fields["sex"] == "M"
    assert good(normalize_row(person(性别=" m "), PERSON)).fields["sex"] == "M"
    assert good(normalize_row(person(性别="1"), PERSON)).fields["sex"] == "M"
    assert good(normalize_row(person(证件号码=ID_X, 性别="2"), PERSON)).fields["sex"] == "F"
    # Absent, or 未知: the ID number says it, without a warning.
    for cell in (None, "", "未知", "9"):
        row = good(normalize_row(person(证件号码=ID_X, 性别=cell), PERSON))
        assert (row.fields["sex"], row.warnings) == ("F", [])


def test_sex_that_disagrees_with_the_id_number_is_kept_with_a_warning() -> None:
    row = good(normalize_row(person(性别="女"), PERSON))
    assert row.fields["sex"] == "F"
    assert row.warnings == [
        FieldIssue(
            "sex",
            "性别",
            "女",
            "sex_disagrees_with_id",
            f"row 2, column 性别 (sex): F here, but the ID number {ID_M} says M",
        )
    ]


def test_an_unknown_sex_value_is_an_error() -> None:
    row = bad(normalize_row(person(性别="男的"), PERSON))
    assert [(i.code, i.message) for i in row.issues] == [
        ("unknown_sex", "row 2, column 性别 (sex): '男的' is not a sex value (expected 男/女, M/F or 1/2)")
    ]


def test_birth_date_that_disagrees_with_the_id_number_is_a_warning() -> None:
    row = good(normalize_row(person(出生日期="19850102"), PERSON))
    assert [(w.code, w.message) for w in row.warnings] == [
        (
            "birth_date_disagrees_with_id",
            "row 2, column 出生日期 (birth_date): 1985-01-02 here, but the ID number says 1985-01-01",
        )
    ]


# --------------------------------------------------------------------------- other identifiers


@pytest.mark.parametrize("cell", ["13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "１３８１２３４５６７８"])
def test_phone_numbers_become_e164(cell: str) -> None:
    assert good(normalize_row(person(联系电话=cell), PERSON)).fields["phone"] == "+8613812345678"


@settings(max_examples=300, deadline=None)
@given(number=st.from_regex(r"1[0-9]{10}", fullmatch=True))
def test_the_phone_segment_cache_agrees_with_validate_phone(number: str) -> None:
    mapping = Mapping.identity("phone")
    expected = validate_phone(number)
    for _ in range(2):  # the second pass may be answered by the segment cache
        result = normalize_row(RawRow(1, {"id": "k", "phone": number}), mapping)
        if expected.valid:
            assert good(result).fields["phone"] == expected.normalized
        else:
            assert [issue.code for issue in bad(result).issues] == list(expected.error_codes)


def test_a_vehicle_row() -> None:
    mapping = Mapping.default_for("vehicle", ["号牌号码", "所有人", "身份证号", "车辆识别代号", "车身颜色", "品牌"])
    raw = RawRow(
        2,
        {
            "号牌号码": "鲁A·12345",
            "所有人": "张三",
            "身份证号": ID_15,
            "车辆识别代号": "1m8gdm9axkp042788",
            "车身颜色": "白",
            "品牌": "大众牌FV7145",
        },
    )

    row = good(normalize_row(raw, mapping))

    assert row.source_key == "鲁A12345"
    assert row.fields == {
        "plate": "鲁A12345",
        "owner_id_number": ID_M,
        "owner_name": "张三",
        "vin": "1M8GDM9AXKP042788",
        "brand": "大众牌FV7145",
        "color": "白",
        "registered_at": None,
    }
    assert [w.code for w in row.warnings] == ["upgraded_from_15"]


@pytest.mark.parametrize(
    ("vin", "code", "reason", "valid"),
    [
        ("1M8GDM9A1KP042788", "vin_check_digit", "VIN check digit is '1', expected 'X'", True),
        ("1M8GDM9AXKP04278O", "bad_vin", "a VIN has 17 letters and digits, without I, O and Q", False),
    ],
)
def test_vin_problems(vin: str, code: str, reason: str, valid: bool) -> None:
    mapping = Mapping.default_for("vehicle", ["号牌号码", "车架号"])
    result = normalize_row(RawRow(2, {"号牌号码": "鲁A12345", "车架号": vin}), mapping)
    issues = good(result).warnings if valid else bad(result).issues
    assert [(i.code, i.message) for i in issues] == [(code, f"row 2, column 车架号 (vin): {reason}")]


def test_an_invalid_plate_is_an_error() -> None:
    mapping = Mapping.default_for("vehicle", ["号牌号码"])
    row = bad(normalize_row(RawRow(6, {"号牌号码": "鲁I12345"}), mapping))
    assert [(i.code, i.message) for i in row.issues] == [
        ("forbidden_letter", "row 6, column 号牌号码 (plate): letters I and O are not used on plates")
    ]


def test_an_organization_row_and_a_bad_uscc() -> None:
    mapping = Mapping.default_for("organization", ["企业名称", "统一社会信用代码", "法定代表人", "成立日期"])
    raw = RawRow(
        2,
        {
            "企业名称": "济南某某科技有限公司",
            "统一社会信用代码": USCC.lower(),
            "法定代表人": "张三",
            "成立日期": "2015-06-01",
        },
    )
    row = good(normalize_row(raw, mapping))
    assert row.source_key == USCC
    assert (row.fields["uscc"], row.fields["registered_at"]) == (USCC, "2015-06-01")

    wrong = USCC[:-1] + ("0" if USCC[-1] != "0" else "1")
    issues = bad(normalize_row(RawRow(3, {**raw.fields, "统一社会信用代码": wrong}), mapping)).issues
    assert [i.code for i in issues] == ["check_char_mismatch"]
    assert issues[0].message.startswith("row 3, column 统一社会信用代码 (uscc): check character is ")


def test_a_luhn_failure_on_an_account_is_only_a_warning() -> None:
    mapping = Mapping.default_for("account", ["账号", "开户行", "户名", "身份证号"])
    failing = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)

    ok = good(normalize_row(RawRow(2, {"账号": CARD, "开户行": "工商银行", "户名": "张三", "身份证号": ID_M}), mapping))
    assert (ok.source_key, ok.warnings) == (CARD, [])

    warned = good(normalize_row(RawRow(3, {"账号": failing, "开户行": "工商银行"}), mapping))
    assert [(w.code, w.message) for w in warned.warnings] == [
        (
            "luhn_failed",
            "row 3, column 账号 (account_number): Luhn check failed (normal for some corporate accounts)",
        )
    ]


def test_a_place_row_with_coordinates_and_a_division_code() -> None:
    mapping = parse_mapping(
        {
            "kind": "place",
            "key": "编号",
            "fields": {"address": "地址", "lon": "经度", "lat": "纬度", "division_code": "区划", "place_type": "类型"},
        }
    )
    raw = RawRow(
        2,
        {"编号": "P1", "地址": "泉城路1号", "经度": "117.023456789", "纬度": "36.6", "区划": "370102", "类型": "网吧"},
    )
    row = good(normalize_row(raw, mapping))
    assert row.fields == {
        "address": "泉城路1号",
        "division_code": "370102",
        "lon": "117.0234568",
        "lat": "36.6",
        "place_type": "网吧",
        "name": None,
    }

    wrong = RawRow(3, {**raw.fields, "经度": "190", "纬度": "north", "区划": "990102"})
    assert [(i.code, i.message) for i in bad(normalize_row(wrong, mapping)).issues] == [
        ("out_of_range", "row 3, column 经度 (lon): 190 is outside -180..180"),
        ("not_a_number", "row 3, column 纬度 (lat): 'north' is not a number"),
        ("bad_division_code", "row 3, column 区划 (division_code): 99 is not a province-level code"),
    ]


def test_a_values_map_translates_other_fields_too() -> None:
    mapping = parse_mapping(
        {
            "kind": "phone",
            "key": "号码",
            "fields": {"phone": "号码", "carrier": {"column": "运营商", "values": {"1": "中国移动", "2": "中国联通"}}},
        }
    )
    rows = [
        good(normalize_row(RawRow(n, {"号码": "13812345678", "运营商": c}), mapping))
        for n, c in [(2, "1"), (3, "电信")]
    ]
    assert [row.fields["carrier"] for row in rows] == ["中国移动", "电信"]


# --------------------------------------------------------------------------- content hash


def test_content_hash_is_canonical() -> None:
    fields = {"name": "张三", "id_number": ID_M, "phone": None}
    expected = hashlib.sha256(f'{{"id_number":"{ID_M}","name":"张三"}}'.encode()).hexdigest()

    assert content_hash(fields) == expected
    assert content_hash({"id_number": ID_M, "name": "张三"}) == expected  # order and None do not matter
    assert content_hash({**fields, "name": "张叁"}) != expected
    assert good(normalize_row(person(), PERSON)).content_hash == content_hash(
        good(normalize_row(person(出生日期="1985/01/01"), PERSON)).fields
    )


# --------------------------------------------------------------------------- messages


_BAD_CELLS = {
    "姓名": st.sampled_from(["", "123", "--"]),
    "证件号码": st.sampled_from(["", "123", ID_M[:-1] + "0", "X" * 18]),
    "出生日期": st.sampled_from(["1985", "00000", "x", "2999-01-01"]),
    "性别": st.sampled_from(["?", "中"]),
    "联系电话": st.sampled_from(["1", "02088888888", "+1 212 555 0100"]),
    "区划": st.sampled_from(["1", "000000"]),
}


@settings(max_examples=100, deadline=None)
@given(row_number=st.integers(2, 10**6), cells=st.fixed_dictionaries({}, optional=_BAD_CELLS))
def test_every_issue_names_the_row_the_column_and_the_field(row_number: int, cells: dict[str, str]) -> None:
    result = normalize_row(person(row_number, **cells), PERSON)
    issues = bad(result).issues if isinstance(result, BadRow) else result.warnings
    for issue in issues:
        assert issue.message.startswith(f"row {row_number}, column {issue.column} ({issue.field}): ")
        assert issue.message != f"row {row_number}, column {issue.column} ({issue.field}): "
        column = PERSON.spec(issue.field)
        assert column is not None and column.column == issue.column
