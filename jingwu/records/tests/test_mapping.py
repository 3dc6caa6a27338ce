"""Mapping files: loading, every kind of mistake a steward can make, default mappings."""

from __future__ import annotations

from pathlib import Path

import pytest

from jingwu.records.mapping import (
    KINDS,
    REQUIRED_FIELDS,
    VOCABULARY,
    FieldSpec,
    Mapping,
    MappingError,
    load_mapping,
)

FIXTURES = Path(__file__).parent / "fixtures"


def write_mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_example_loads() -> None:
    mapping = load_mapping(FIXTURES / "person_mapping.toml")

    assert mapping == Mapping(
        kind="person",
        key=("证件号码",),
        fields=(
            FieldSpec("name", "姓名", "name"),
            FieldSpec("id_number", "证件号码", "resident_id"),
            FieldSpec("birth_date", "出生日期", "date", formats=("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d")),
            FieldSpec("sex", "性别", "sex", values=(("男", "M"), ("女", "F"))),
            FieldSpec("phone", "联系电话", "phone"),
            FieldSpec("address", "住址", "text"),
        ),
        description="户籍人口 export",
    )
    assert mapping.origin == "person_mapping.toml"
    assert mapping.columns == ("姓名", "证件号码", "出生日期", "性别", "联系电话", "住址")
    assert mapping.spec("sex") == FieldSpec("sex", "性别", "sex", values=(("男", "M"), ("女", "F")))
    assert mapping.field_for_column("住址") == FieldSpec("address", "住址", "text")
    assert mapping.spec("former_name") is None


def test_composite_key_and_key_only_columns(tmp_path: Path) -> None:
    path = write_mapping(
        tmp_path,
        """
kind = "vehicle"
key = ["号牌种类", "号牌号码"]
[fields]
plate = "号牌号码"
owner_name = "所有人"
""",
    )
    mapping = load_mapping(path)
    assert mapping.key == ("号牌种类", "号牌号码")
    assert mapping.columns == ("号牌号码", "所有人", "号牌种类")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nnmae = "b"\n',
            "fields.nmae: unknown field for kind person (expected one of name, former_name, id_number, birth_date, "
            "sex, phone, address, division_code, household_id, relation_to_head)",
        ),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nbirth_date = { column = "b", type = "datetime" }\n',
            "fields.birth_date.type: unknown type 'datetime' (expected one of text, name, date, sex, number, "
            "division_code, vin, resident_id, phone, plate, uscc, bank_card)",
        ),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nbirth_date = { column = "b", type = "number" }\n',
            "fields.birth_date.type: birth_date holds date, not number",
        ),
        (
            'kind = "person"\n[fields]\nname = "a"\n',
            "key: missing — name the column (or list of columns) that identifies a record",
        ),
        (
            'kind = "person"\nkey = []\n[fields]\nname = "a"\n',
            "key: must be a column name or a non-empty list of column names",
        ),
        ('kind = "person"\nkey = ["a", ""]\n[fields]\nname = "a"\n', "key[1]: must be a non-empty column name"),
        ('kind = "person"\nkey = ["a", "a"]\n[fields]\nname = "a"\n', "key: a column is listed twice"),
        (
            'key = "a"\n[fields]\nname = "a"\n',
            "kind: missing (one of person, vehicle, phone, organization, account, place)",
        ),
        (
            'kind = "people"\nkey = "a"\n[fields]\nname = "a"\n',
            "kind: unknown kind 'people' (expected one of person, vehicle, phone, organization, account, place)",
        ),
        ('kind = "person"\nkey = "a"\n', "fields: missing (a [fields] table mapping our fields to columns)"),
        ('kind = "person"\nkey = "a"\nfields = "a"\n', "fields: must be a table of field = column"),
        ('kind = "person"\nkey = "a"\n[fields]\nid_number = "a"\n', "fields: a person mapping needs name"),
        ('kind = "vehicle"\nkey = "a"\n[fields]\nowner_name = "a"\n', "fields: a vehicle mapping needs plate"),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\naddress = { column = "b", formats = ["%Y"] }\n',
            "fields.address.formats: only date fields take formats (address holds text)",
        ),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nbirth_date = { column = "b", formats = ["%Y%q%d"] }\n',
            "fields.birth_date.formats[0]: %q in '%Y%q%d' is not a date directive",
        ),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nbirth_date = { column = "b", formats = ["%d.%m"] }\n',
            "fields.birth_date.formats[0]: '%d.%m' must contain a year (%Y or %y) and a month (%m or %b)",
        ),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nsex = { column = "b", values = { "男" = "Male" } }\n',
            "fields.sex.values.男: 'Male' is not M or F",
        ),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nsex = { column = "b", default = "M" }\n',
            "fields.sex.default: unknown key (expected column, formats, type, values)",
        ),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nsex = { values = { "1" = "M" } }\n',
            "fields.sex.column: missing",
        ),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nsex = 3\n',
            'fields.sex: must be a column name or a table with column = "..."',
        ),
        ('kind = "person"\nkey = "a"\n[fields]\nname = "  "\n', "fields.name: must be a non-empty column name"),
        (
            'kind = "person"\nkey = "a"\n[fields]\nname = "a"\nformer_name = "a"\n',
            "fields: column 'a' is mapped to more than one field",
        ),
        (
            'kind = "person"\nkey = "a"\nsource = "hukou"\n[fields]\nname = "a"\n',
            "source: unknown key (a mapping has description, fields, key, kind)",
        ),
        ('kind = "person"\nkey = "a"\n[fields\n', None),
    ],
)
def test_mistakes_name_the_key_and_the_reason(tmp_path: Path, text: str, message: str | None) -> None:
    path = write_mapping(tmp_path, text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    if message is None:
        assert str(caught.value).startswith("mapping.toml: not valid TOML: ")
    else:
        assert str(caught.value) == message


def test_check_header_lists_every_missing_column() -> None:
    mapping = load_mapping(FIXTURES / "person_mapping.toml")
    mapping.check_header(["住址", "姓名", "证件号码", "出生日期", "性别", "联系电话", "备注"])

    with pytest.raises(MappingError) as caught:
        mapping.check_header(["姓名", "证件号码", "电话"])
    assert str(caught.value) == (
        "columns missing from the file: 出生日期, 性别, 联系电话, 住址 (the file has 姓名, 证件号码, 电话)"
    )


def test_check_header_includes_key_only_columns() -> None:
    mapping = Mapping(kind="vehicle", key=("号牌种类", "号牌号码"), fields=(FieldSpec("plate", "号牌号码", "plate"),))
    with pytest.raises(MappingError, match="columns missing from the file: 号牌种类"):
        mapping.check_header(["号牌号码"])


def test_default_mapping_from_chinese_headers() -> None:
    header = ["序号", "姓名", "公民身份号码", "性别", "出生日期", "手机号码", "户籍地址", "户号", "与户主关系"]

    mapping = Mapping.default_for("person", header)

    assert mapping.kind == "person"
    assert mapping.key == ("公民身份号码",)
    assert mapping.fields == (
        FieldSpec("name", "姓名", "name"),
        FieldSpec("id_number", "公民身份号码", "resident_id"),
        FieldSpec("birth_date", "出生日期", "date"),
        FieldSpec("sex", "性别", "sex"),
        FieldSpec("phone", "手机号码", "phone"),
        FieldSpec("address", "户籍地址", "text"),
        FieldSpec("household_id", "户号", "text"),
        FieldSpec("relation_to_head", "与户主关系", "text"),
    )


def test_default_mapping_prefers_our_field_names_and_an_id_column() -> None:
    mapping = Mapping.default_for("person", ["ID", " Name ", "id_number", "住址", "phone"])
    assert mapping.key == ("ID",)
    assert mapping.fields == (
        FieldSpec("name", " Name ", "name"),
        FieldSpec("id_number", "id_number", "resident_id"),
        FieldSpec("phone", "phone", "phone"),
        FieldSpec("address", "住址", "text"),
    )


@pytest.mark.parametrize(
    ("kind", "header", "key", "fields"),
    [
        (
            "vehicle",
            ["号牌号码", "所有人", "身份证号", "车辆识别代号", "车身颜色"],
            "号牌号码",
            {
                "plate": "号牌号码",
                "owner_name": "所有人",
                "owner_id_number": "身份证号",
                "vin": "车辆识别代号",
                "color": "车身颜色",
            },
        ),
        ("vehicle", ["车牌号", "姓名"], "车牌号", {"plate": "车牌号", "owner_name": "姓名"}),
        (
            "phone",
            ["手机号", "机主姓名", "证件号码", "运营商"],
            "手机号",
            {"phone": "手机号", "subscriber_name": "机主姓名", "subscriber_id_number": "证件号码", "carrier": "运营商"},
        ),
        (
            "organization",
            ["企业名称", "统一社会信用代码", "法定代表人", "住所"],
            "统一社会信用代码",
            {"name": "企业名称", "uscc": "统一社会信用代码", "legal_rep_name": "法定代表人", "address": "住所"},
        ),
        (
            "account",
            ["卡号", "开户行", "户名"],
            "卡号",
            {"account_number": "卡号", "bank": "开户行", "holder_name": "户名"},
        ),
        (
            "place",
            ["场所名称", "地址", "经度", "纬度"],
            "地址",
            {"name": "场所名称", "address": "地址", "lon": "经度", "lat": "纬度"},
        ),
    ],
)
def test_default_mapping_per_kind(kind: str, header: list[str], key: str, fields: dict[str, str]) -> None:
    mapping = Mapping.default_for(kind, header)
    assert mapping.key == (key,)
    assert {spec.field: spec.column for spec in mapping.fields} == fields


def test_default_mapping_failures_say_what_to_do() -> None:
    with pytest.raises(MappingError) as caught:
        Mapping.default_for("person", ["证件号码", "住址"])
    assert str(caught.value) == "fields: no column for name among 证件号码, 住址; write a mapping file for this source"

    with pytest.raises(MappingError) as caught:
        Mapping.default_for("person", ["姓名", "住址"])
    assert str(caught.value) == "key: no 'id' or id_number column to identify records; write a mapping file"

    with pytest.raises(MappingError, match="kind: unknown kind 'car'"):
        Mapping.default_for("car", ["号牌号码"])


def test_identity_mapping_reads_our_own_field_names() -> None:
    for kind in KINDS:
        mapping = Mapping.identity(kind)
        assert mapping.key == ("id",)
        assert [(spec.field, spec.column) for spec in mapping.fields] == [(f, f) for f in VOCABULARY[kind]]
        assert set(REQUIRED_FIELDS[kind]) <= set(VOCABULARY[kind])
    with pytest.raises(MappingError):
        Mapping.identity("car")
