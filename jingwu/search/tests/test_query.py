"""The query parser: identifiers recognised anywhere in the box, field syntax, free text, errors."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jingwu.core.identifiers import luhn_check_digit, make_resident_id, make_uscc
from jingwu.search.query import IdentifierClause, QueryError, TextClause, parse

ID1 = make_resident_id("370102", dt.date(1980, 3, 15), 11)
ID_X = next(i for i in (make_resident_id("370102", dt.date(1990, 1, d), 7) for d in range(1, 29)) if i[-1] == "X")
USCC = make_uscc("91370202MA3C4BXK8")
CARD = "622202123456789012" + luhn_check_digit("622202123456789012")
E164 = "+8613912340001"
WRONG_CHECK = ID1[:-1] + ("1" if ID1[-1] == "0" else "0")


@pytest.mark.parametrize(("typed", "kind", "value"), [
    (ID1, "resident_id", ID1),
    (ID_X.lower(), "resident_id", ID_X),
    (ID1[:6] + ID1[8:17], "resident_id", ID1),  # legacy 15 digits, upgraded
    (f"{ID1[:6]} {ID1[6:14]} {ID1[14:]}", "resident_id", ID1),
    ("13912340001", "phone", E164),
    ("139 1234 0001", "phone", E164),
    ("139-1234-0001", "phone", E164),
    ("+86 139 1234 0001", "phone", E164),
    ("0086-13912340001", "phone", E164),
    ("１３９１２３４０００１", "phone", E164),  # full-width digits
    ("鲁A12345", "plate", "鲁A12345"),
    ("鲁a 12345", "plate", "鲁A12345"),
    ("鲁A·12345", "plate", "鲁A12345"),
    ("鲁AD12345", "plate", "鲁AD12345"),  # new-energy
    (USCC, "uscc", USCC),
    (USCC.lower(), "uscc", USCC),
    (CARD, "account", CARD),
    ("6222 0212 3456 7890", "account", "6222021234567890"),  # 16 digits failing Luhn: still an account
])
def test_identifiers_typed_in_the_box_are_recognised(typed: str, kind: str, value: str) -> None:
    parsed = parse(typed)
    assert parsed.identifiers == (IdentifierClause(kind, value, unicodedata.normalize("NFKC", typed)),)
    assert parsed.terms == ()


def test_identifiers_and_text_together() -> None:
    parsed = parse("陈大文 139 1234 0001 泉城路")
    assert [(c.kind, c.value) for c in parsed.identifiers] == [("phone", E164)]
    assert parsed.terms == (TextClause("陈大文"), TextClause("泉城路"))


def test_numbers_that_are_no_identifier_stay_text() -> None:
    parsed = parse("301 1985 泉城宾馆")
    assert parsed.identifiers == ()
    assert [t.text for t in parsed.terms] == ["301", "1985", "泉城宾馆"]


def test_field_syntax() -> None:
    parsed = parse("姓名:张伟 出生:1985 地址：“经四路 4号” 类型:人员")
    assert parsed.terms == (TextClause("张伟", "name"), TextClause("经四路 4号", "address"))
    assert parsed.births == ("1985",)
    assert parsed.kinds == ("person",)
    assert parse("出生:1985-7").births == ("1985-07",)
    assert parse("出生:1985年7月20日").births == ("1985-07-20",)
    assert parse("出生:19850720").births == ("1985-07-20",)
    assert parse("type:vehicle 车牌:鲁A12345").kinds == ("vehicle",)
    assert [(c.kind, c.value) for c in parse("电话:+86 139 1234 0001 张").identifiers] == [("phone", E164)]
    assert [(c.kind, c.value) for c in parse('电话:"139 1234 0001"').identifiers] == [("phone", E164)]
    assert [(c.kind, c.value) for c in parse(f"身份证:{ID1}").identifiers] == [("resident_id", ID1)]


def test_unknown_field_names_are_text() -> None:
    assert parse("http://example.org").terms == (TextClause("http://example.org"),)


def test_latin_words_stay_together_as_possible_pinyin() -> None:
    parsed = parse("chen da wen 泉城")
    assert parsed.terms == (TextClause("chen da wen"), TextClause("泉城"))
    assert parsed.terms[0].latin_words and not parsed.terms[1].latin_words


@pytest.mark.parametrize(("typed", "message"), [
    ("身份证:123", "身份证号“123”无效。"),
    (f"身份证:{WRONG_CHECK}", f"身份证号“{WRONG_CHECK}”无效。"),
    ("电话:12345", "手机号“12345”无效。"),
    ("出生:85年", "无法识别"),
    ("出生:1985-13", "不是有效的日期"),
    ("类型:飞机", "没有“飞机”这种类型"),
    ("张" * 201, "查询内容过长"),
])
def test_bad_input_names_the_part_and_the_reason(typed: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(typed)
    assert message in str(caught.value)
    assert caught.value.field == "q"


def test_an_empty_box_is_empty() -> None:
    assert parse("   ").empty and parse("").empty and not parse("张").empty


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_with_a_query_error(text: str) -> None:
    try:
        parsed = parse(text)
    except QueryError:
        return
    assert len(parsed.identifiers) + len(parsed.terms) + len(parsed.births) <= 16
