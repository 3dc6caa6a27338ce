"""FollowTheMoney interop: our rows -> FtM entities the followthemoney package accepts ->
rows again, with identical normalised fields; and entity streams from elsewhere."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from followthemoney import model
from hypothesis import given, settings
from hypothesis import strategies as st

from jingwu.core.identifiers import luhn_check_digit, make_resident_id, make_uscc
from jingwu.records.ftm import (
    entity_id,
    entity_line,
    ftm_to_rows,
    party_entity,
    party_id,
    records_to_ftm,
)
from jingwu.records.mapping import Mapping
from jingwu.records.readers import RawRow, read_file
from jingwu.records.rows import GoodRow, normalize_row

ID_M = make_resident_id("370102", dt.date(1985, 1, 1), 123)
ID_F = make_resident_id("370202", dt.date(1990, 3, 7), 88)
USCC = make_uscc("91370102MA3C12345")
CARD = "622202100000000001"
CARD = CARD[:-1] + luhn_check_digit(CARD[:-1])

# One source row per kind, with the Chinese headers a real export would have.
SOURCE_ROWS: dict[str, dict[str, str]] = {
    "person": {
        "姓名": "张  三",
        "曾用名": "張三",
        "公民身份号码": ID_M,
        "出生日期": "19850101",
        "性别": "男",
        "手机号码": "138 1234 5678",
        "户籍地址": "山东省济南市历下区泉城路1号",
        "行政区划代码": "370102",
        "户号": "370102000123",
        "与户主关系": "户主",
    },
    "vehicle": {
        "号牌号码": "鲁A·12345",
        "所有人": "张三",
        "身份证号": ID_M,
        "车辆识别代号": "1M8GDM9AXKP042788",
        "品牌型号": "大众牌FV7145",
        "车身颜色": "白",
        "初次登记日期": "2020-05-06",
    },
    "phone": {
        "手机号": "13912345678",
        "机主姓名": "李四",
        "证件号码": ID_F,
        "运营商": "中国移动",
        "入网日期": "2019-01-01",
    },
    "organization": {
        "企业名称": "济南某某科技有限公司",
        "统一社会信用代码": USCC,
        "法定代表人": "张三",
        "法定代表人证件号码": ID_M,
        "住所": "济南市历下区",
        "成立日期": "2015-06-01",
    },
    "account": {"卡号": CARD, "开户行": "工商银行济南分行", "户名": "李四", "身份证号": ID_F, "开户日期": "2018-03-04"},
    "place": {
        "id": "P0001",
        "场所名称": "泉城网吧",
        "地址": "泉城路1号",
        "经度": "117.0234568",
        "纬度": "36.6612",
        "场所类型": "网吧",
        "行政区划代码": "370102",
    },
}

# What FtM holds of each, checked through the followthemoney package's own proxy.
EXPECTED_PROPERTIES: dict[str, tuple[str, dict[str, list[str]]]] = {
    "person": (
        "Person",
        {
            "name": ["张 三"],
            "previousName": ["張三"],
            "idNumber": [ID_M],
            "birthDate": ["1985-01-01"],
            "gender": ["male"],
            "phone": ["+8613812345678"],
            "address": ["山东省济南市历下区泉城路1号"],
            "country": ["cn"],
        },
    ),
    "vehicle": (
        "Vehicle",
        {
            "registrationNumber": ["鲁A12345"],
            "model": ["大众牌FV7145"],
            "registrationDate": ["2020-05-06"],
            "owner": [party_id(ID_M)],
            "country": ["cn"],
        },
    ),
    "phone": (
        "UserAccount",
        {
            "phone": ["+8613912345678"],
            "username": ["+8613912345678"],
            "service": ["中国移动"],
            "owner": [party_id(ID_F)],
        },
    ),
    "organization": (
        "Company",
        {
            "name": ["济南某某科技有限公司"],
            "registrationNumber": [USCC],
            "uscCode": [USCC],
            "address": ["济南市历下区"],
            "incorporationDate": ["2015-06-01"],
            "country": ["cn"],
        },
    ),
    "account": (
        "BankAccount",
        {"accountNumber": [CARD], "bankName": ["工商银行济南分行"], "openingDate": ["2018-03-04"]},
    ),
    "place": (
        "Address",
        {
            "full": ["泉城路1号"],
            "name": ["泉城网吧"],
            "longitude": ["117.0234568"],
            "latitude": ["36.6612"],
            "country": ["cn"],
        },
    ),
}


def normalised(kind: str, cells: dict[str, str]) -> GoodRow:
    result = normalize_row(RawRow(2, dict[str, str | None](cells)), Mapping.default_for(kind, list(cells)))
    assert isinstance(result, GoodRow), result
    return result


@pytest.mark.parametrize("kind", list(SOURCE_ROWS))
def test_round_trip_through_followthemoney(kind: str) -> None:
    ours = normalised(kind, SOURCE_ROWS[kind])

    entity = records_to_ftm(kind, ours.source_key, ours.fields, source="hukou")

    proxy = model.get_proxy(json.loads(entity_line(entity)), cleaned=False)  # re-validates every value
    schema, properties = EXPECTED_PROPERTIES[kind]
    assert proxy.schema.name == schema
    assert proxy.id == entity_id("hukou", ours.source_key)
    assert {prop: proxy.get(prop) for prop in proxy.properties} == properties

    rows = list(ftm_to_rows([entity_line(proxy.to_dict())]))
    assert len(rows) == 1
    assert (rows[0].kind, rows[0].problem) == (kind, None)
    again = normalize_row(rows[0])
    assert isinstance(again, GoodRow), again
    assert again.source_key == ours.source_key
    assert again.fields == ours.fields
    assert again.content_hash == ours.content_hash


def test_an_exported_file_reads_back_without_a_mapping(tmp_path: Path) -> None:
    ours = [normalised(kind, cells) for kind, cells in SOURCE_ROWS.items()]
    path = tmp_path / "export.ftm.json"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(entity_line(party_entity(ID_M, "张三")))  # the vehicle's owner, for Aleph's graph
        for row in ours:
            handle.write(entity_line(records_to_ftm(row.kind, row.source_key, row.fields, source="hukou")))
        handle.write("\n")

    with read_file(path) as stream:
        assert stream.format == "ftm"
        rows = list(stream)

    assert [row.row_number for row in rows] == [2, 3, 4, 5, 6, 7]  # line 1, the party, is not a record
    results = [normalize_row(row) for row in rows]
    assert [(r.kind, r.source_key, r.fields) for r in results if isinstance(r, GoodRow)] == [
        (row.kind, row.source_key, row.fields) for row in ours
    ]


def test_entity_ids_are_deterministic_per_source_and_key() -> None:
    assert entity_id("hukou", ID_M) == entity_id("hukou", ID_M)
    assert entity_id("hukou", ID_M) != entity_id("traffic", ID_M)
    assert len(entity_id("hukou", ID_M)) == 40
    assert int(entity_id("hukou", ID_M), 16) >= 0
    assert party_entity(ID_M)["id"] == party_id(ID_M)
    assert model.get_proxy(party_entity(ID_M, "张三")).get("idNumber") == [ID_M]


@pytest.mark.parametrize(
    ("uscc", "schema"),
    [
        (USCC, "Company"),
        (make_uscc("11370000004503781"), "PublicBody"),
        (make_uscc("51370000MJD123456"), "Organization"),
    ],
)
def test_organisation_schema_follows_the_registering_authority(uscc: str, schema: str) -> None:
    entity = records_to_ftm("organization", uscc, {"name": "某单位", "uscc": uscc}, source="org")
    assert model.get_proxy(entity).schema.name == schema
    (row,) = ftm_to_rows([entity_line(entity)])
    assert row.kind == "organization"


def test_records_to_ftm_refuses_what_it_cannot_say() -> None:
    with pytest.raises(ValueError, match="unknown kind 'car'"):
        records_to_ftm("car", "k", {}, source="s")
    with pytest.raises(ValueError, match="'plate' is not a person field"):
        records_to_ftm("person", "k", {"name": "张三", "plate": "鲁A12345"}, source="s")


# --------------------------------------------------------------------------- streams from elsewhere


def line(entity: dict[str, Any]) -> str:
    return json.dumps(entity, ensure_ascii=False)


def test_an_aleph_entity_is_read_by_its_schema_and_keyed_by_its_id() -> None:
    entity = {
        "id": "aleph-person-1",
        "schema": "Person",
        "properties": {
            "name": ["陈鑫", "Chen Xin"],
            "idNumber": [ID_F],
            "gender": ["other"],
            "birthDate": ["1990-03-07"],
            "nationality": ["cn"],
        },
        "datasets": ["leak"],
    }

    (row,) = ftm_to_rows([line(entity)])

    assert row == RawRow(
        1,
        {
            "id": "aleph-person-1",
            "name": "陈鑫",
            "former_name": None,
            "id_number": ID_F,
            "birth_date": "1990-03-07",
            "sex": None,  # FtM's "other" has no counterpart in our M/F field
            "phone": None,
            "address": None,
        },
        kind="person",
    )
    result = normalize_row(row)
    assert isinstance(result, GoodRow)
    assert (result.source_key, result.fields["sex"]) == ("aleph-person-1", "F")  # filled from the ID number


def test_legal_entity_company_and_bytes_lines() -> None:
    entities = [
        {"id": "le", "schema": "LegalEntity", "properties": {"name": ["某公司"], "registrationNumber": [USCC]}},
        {"id": "co", "schema": "Company", "properties": {"name": ["某公司"], "uscCode": [USCC]}},
    ]
    rows = list(ftm_to_rows(line(e).encode() for e in entities))
    assert [(r.kind, r.fields["id"], r.fields["uscc"]) for r in rows] == [
        ("organization", "le", USCC),
        ("organization", "co", USCC),
    ]


def test_lines_that_are_not_records_become_problem_rows() -> None:
    lines = [
        '{"id": "x", "schema": "Person", "properties": {"name": ["张三"]}',
        "",
        '["not", "an", "entity"]',
        '{"id": "x", "schema": "Spaceship", "properties": {}}',
        '{"id": "o", "schema": "Ownership", "properties": {"owner": ["a"], "asset": ["b"]}}',
        '{"schema": "Person", "properties": {"name": ["张三"]}}',
    ]

    rows = list(ftm_to_rows(lines))

    assert [(r.row_number, r.problem) for r in rows] == [
        (1, "not valid JSON: Expecting ',' delimiter at column 63"),
        (3, "an FtM entity must be a JSON object, this line holds a list"),
        (4, "not an FtM entity: No schema for entity."),
        (
            5,
            "schema Ownership is not a record jingwu imports (Person, Organization (Company, PublicBody), "
            "LegalEntity, Vehicle, BankAccount, UserAccount, Address)",
        ),
        (6, "the entity has no id"),
    ]
    assert [r.kind for r in rows] == [None] * 5
    assert all(normalize_row(r).__class__.__name__ == "BadRow" for r in rows)


# --------------------------------------------------------------------------- property


_NAMES = st.text(st.sampled_from("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗鑫喆陳𠮷·"), min_size=1, max_size=4).filter(
    lambda name: any(char.isalpha() for char in name)
)


@settings(max_examples=80, deadline=None)
@given(
    name=_NAMES,
    birth=st.dates(dt.date(1920, 1, 1), dt.date(2020, 12, 31)),
    sequence=st.integers(0, 999),
    address=st.text(st.sampled_from("山东省济南市历下区泉城路号 1234-"), max_size=20),
    phone_tail=st.integers(0, 10**8 - 1),
    give_sex=st.booleans(),
)
def test_person_round_trip_property(
    name: str, birth: dt.date, sequence: int, address: str, phone_tail: int, give_sex: bool
) -> None:
    id_number = make_resident_id("370102", birth, sequence)
    cells = {
        "姓名": name,
        "身份证号": id_number,
        "出生日期": birth.strftime("%Y%m%d"),
        "性别": ("男" if sequence % 2 else "女") if give_sex else "",
        "电话": f"138{phone_tail:08d}",
        "住址": address,
    }
    ours = normalised("person", cells)

    (row,) = ftm_to_rows([entity_line(records_to_ftm("person", ours.source_key, ours.fields, source="hukou"))])
    again = normalize_row(row)

    assert isinstance(again, GoodRow), again
    assert (again.source_key, again.fields) == (ours.source_key, ours.fields)
