"""Analysis: how text becomes terms (DOMAIN.md §4), the same for documents and queries."""

from __future__ import annotations

import datetime as dt

from jingwu.core.identifiers import make_resident_id
from jingwu.search import analysis
from jingwu.search.registry import SearchDocument

ID1 = make_resident_id("370102", dt.date(1980, 3, 15), 11)


def test_han_text_is_one_token_per_character_and_latin_and_digits_stay_whole() -> None:
    assert analysis.han_tokens("陈大文") == ["陈", "大", "文"]
    assert analysis.han_tokens("泉城路1号 Room 301B") == ["泉", "城", "路", "1", "号", "room", "301b"]
    assert analysis.han_tokens("张伟，电话：13912340001") == ["张", "伟", "电", "话", "13912340001"]


def test_plates_are_never_segmented_but_kept_whole_as_identifiers() -> None:
    # In free text a plate falls apart like any Han-and-Latin run; as an identifier it is one term.
    assert analysis.han_tokens("鲁A12345") == ["鲁", "a12345"]
    assert analysis.identifier_term("plate", "鲁a·12345") == "plate:鲁A12345"
    assert analysis.identifier_term("plate", "鲁A 12345") == "plate:鲁A12345"


def test_traditional_characters_become_simplified_never_the_reverse() -> None:
    assert analysis.simplified("陳大文") == "陈大文"
    assert analysis.simplified("  台灣  省 ") == "台湾 省"
    assert analysis.simplified_many(["陳", "abc", "", "發展"]) == ["陈", "abc", "", "发展"]
    # Again, each string now from the process's cache, and mixed with ones not seen yet.
    assert analysis.simplified_many(["陳", "abc", "", "發展"]) == ["陈", "abc", "", "发展"]
    assert analysis.simplified_many(["發展", " 臺  灣 ", "陳"]) == ["发展", "台 湾", "陈"]
    assert analysis.simplified("发") == "发"


def test_jieba_cuts_longer_text_into_words() -> None:
    assert analysis.words("山东省济南市历下区泉城路") == ["山东省", "济南市", "历下区", "泉城路"]
    assert analysis.words("泉城宾馆，301") == ["泉城", "宾馆", "301"]


def test_identifiers_become_exact_normalised_keywords() -> None:
    assert analysis.identifier_term("phone", "+86 139-1234-0001") == "phone:+8613912340001"
    assert analysis.identifier_term("phone", "13912340001") == "phone:+8613912340001"
    assert analysis.identifier_term("phone", "+8613912340001") == "phone:+8613912340001"
    legacy = ID1[:6] + ID1[8:17]
    assert analysis.identifier_term("resident_id", legacy) == f"resident_id:{ID1}"
    assert analysis.identifier_term("resident_id", ID1.lower()) == f"resident_id:{ID1}"
    assert analysis.identifier_term("account", "6222 0212 3456 7890 128") == "account:6222021234567890128"


def test_birth_dates_match_by_year_month_or_day() -> None:
    assert analysis.birth_terms("1985-07-20") == ["1985", "1985-07", "1985-07-20"]
    assert analysis.birth_terms("1985") == []


def test_a_document_is_analysed_with_pinyin_the_surname_read_as_a_surname() -> None:
    doc = SearchDocument(doc_type="t", id=1, kind="person", title="曾国藩", names=["曾國藩", "單雄信"],
                         identifiers=[("resident_id", ID1), ("phone", "139 1234 0001")],
                         addresses=["山東省濟南市"], text=["旅館業：泉城賓館"], births=["1980-03-15"],
                         suggest=["鲁A 12345"])
    (a,) = analysis.analyse([doc])
    assert a.names == ["曾国藩", "单雄信"]
    assert a.name_pinyin == ["zengguofan", "shanxiongxin"]  # 曾 zeng, 单 shan: the surname table
    assert a.name_initials == ["zgf", "sxx"]
    assert a.addresses == ["山东省济南市"]
    assert a.text == ["旅馆业:泉城宾馆"]
    assert a.identifiers == [f"resident_id:{ID1}", "phone:+8613912340001"]
    assert a.births == ["1980", "1980-03", "1980-03-15"]
    sep = analysis.SUGGEST_SEPARATOR
    assert a.suggest == [f"曾国藩{sep}曾国藩", f"单雄信{sep}单雄信", f"zengguofan{sep}曾国藩",
                         f"shanxiongxin{sep}单雄信", f"鲁a12345{sep}鲁A12345"]
    assert "泉城" in a.words.split() and "宾馆" in a.words.split()
    assert not any(" " in term for term in a.identifiers + a.suggest + a.name_exact)  # keyword fields
