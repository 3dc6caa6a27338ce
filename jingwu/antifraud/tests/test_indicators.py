"""Normalising fraudsters' identifiers: the same value written two ways comes out the same."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from jingwu.antifraud import indicators
from jingwu.antifraud.indicators import IndicatorError


@pytest.mark.parametrize(("raw", "value", "valid", "warnings"), [
    ("+86 138-1234-5678", "+8613812345678", True, ()),
    ("００８６１３８１２３４５６７８", "+8613812345678", True, ()),
    ("+63 917 123 4567", "+639171234567", False, ("not_cn",)),
    ("010-12345678", "+861012345678", False, ("not_mobile",)),
    ("95588", "95588", False, ("not_mobile",)),  # a spoofed bank service number, kept as dialled
])
def test_phones(raw: str, value: str, valid: bool, warnings: tuple[str, ...]) -> None:
    found = indicators.phone(raw)
    assert (found.kind, found.value, found.valid, found.warnings, found.raw) == ("phone", value, valid, warnings, raw)


@pytest.mark.parametrize(("raw", "code"), [("abc", "invalid_chars"), ("12", "bad_length"), ("1" * 21, "bad_length")])
def test_phones_refused(raw: str, code: str) -> None:
    with pytest.raises(IndicatorError) as refused:
        indicators.phone(raw)
    assert refused.value.code == code


@pytest.mark.parametrize(("raw", "value"), [
    ("Shua-Dan.Example.COM/Task#top", "http://shua-dan.example.com/Task"),
    ("HTTPS://example.com:443", "https://example.com/"),
    ("http://example.com:8080/a?b=1", "http://example.com:8080/a?b=1"),
    ("https://例子.中国/投资", "https://xn--fsqu00a.xn--fiqs8s/投资"),
    ("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "http://www.example.com/"),
])
def test_urls(raw: str, value: str) -> None:
    assert indicators.url(raw).value == value


@pytest.mark.parametrize(("raw", "code"), [
    ("ftp://example.com", "bad_scheme"), ("localhost", "bad_host"), ("http://-x.com", "bad_host"),
    ("a b.com", "invalid_chars"), ("  ", "empty"), ("https://" + "a" * 600 + ".com", "bad_host"),
])
def test_urls_refused(raw: str, code: str) -> None:
    with pytest.raises(IndicatorError) as refused:
        indicators.url(raw)
    assert refused.value.code == code


def test_apps() -> None:
    assert indicators.app("  Ｆａｓｔ   Ｔａｓｋ ").value == "fast task"
    found = indicators.app("com.Fake.Invest")
    assert (found.value, found.warnings) == ("com.fake.invest", ("package",))


@pytest.mark.parametrize(("raw", "bank", "value", "warnings"), [
    ("6222 0212 3456 7890 128", "ICBC", "6222021234567890128", ()),
    ("6222021234567890", "ICBC", "6222021234567890", ("luhn_failed",)),  # a soft signal only
    ("139-0000-1111", "ALIPAY", "13900001111", ()),
    ("Zhang.San@163.COM", "TENPAY", "zhang.san@163.com", ()),
    ("2088 1234 56", "ALIPAY", "2088123456", ()),
])
def test_accounts(raw: str, bank: str, value: str, warnings: tuple[str, ...]) -> None:
    found = indicators.account(raw, bank)
    assert (found.value, found.warnings) == (value, warnings)


@pytest.mark.parametrize(("raw", "bank", "code"), [
    ("13900001111", "ICBC", "bad_length"), ("zhang@163.com", "ICBC", "invalid_chars"),
    ("not an account", "ALIPAY", "bad_account"), ("", "ICBC", "empty"),
])
def test_accounts_refused(raw: str, bank: str, code: str) -> None:
    with pytest.raises(IndicatorError) as refused:
        indicators.account(raw, bank)
    assert refused.value.code == code


@example("17900001000", "+86", "")  # an unallocated range, once normalised two ways
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "+86", "0086", "+86 "]),
       st.sampled_from(["", " ", "-"]))
def test_a_mobile_number_normalises_the_same_however_written(number: str, prefix: str, sep: str) -> None:
    written = prefix + sep.join((number[:3], number[3:7], number[7:]))
    try:
        plain = indicators.phone(number)
    except IndicatorError:
        return
    assert indicators.phone(written).value == plain.value


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20),
       st.sampled_from(["com", "cn", "net"]), st.text(alphabet="abcxyz/0123", max_size=10))
def test_a_normalised_url_normalises_to_itself(label: str, tld: str, path: str) -> None:
    try:
        first = indicators.url(f"{label}.{tld}/{path}")
    except IndicatorError:
        return
    assert indicators.url(first.value).value == first.value
