from __future__ import annotations

import duckdb
import pytest

from jingwu.records.linkage.names import (
    name_initials,
    name_keys,
    name_keys_many,
    name_pinyin,
    name_surname,
    normalize_name,
    normalize_names,
)
from jingwu.records.linkage.surnames import split_surname


@pytest.mark.parametrize(
    ("name", "pinyin"),
    [
        ("曾国藩", "zeng guo fan"),
        ("单田芳", "shan tian fang"),
        ("解缙", "xie jin"),
        ("仇英", "qiu ying"),
        ("区志强", "ou zhi qiang"),
        ("查良镛", "zha liang yong"),
        ("朴成浩", "piao cheng hao"),
        ("覃春", "qin chun"),
        ("缪斯", "miao si"),
        ("盖聂", "ge nie"),
        ("长文", "chang wen"),
        ("翟丽", "zhai li"),
        ("尉迟恭", "yu chi gong"),
        ("万俟卨", "mo qi xie"),
        ("长孙无忌", "zhang sun wu ji"),
        ("欧阳娜娜", "ou yang na na"),
    ],
)
def test_surname_read_as_a_surname(name: str, pinyin: str) -> None:
    assert name_pinyin(name) == pinyin


def test_surname_reading_applies_to_the_first_character_only() -> None:
    # 曾 in a given name keeps pypinyin's reading; only the surname position is special.
    assert name_pinyin("王曾") == "wang ceng"
    assert name_pinyin("单") == "shan"


def test_compound_surnames_split() -> None:
    assert name_surname("诸葛亮") == "诸葛"
    assert name_surname("歐陽修") == "欧阳"
    assert split_surname("司马光") == ("司马", "光")
    # Two characters: a surname and a given name, not a bare compound surname.
    assert split_surname("司马") == ("司", "马")
    assert name_surname("张伟") == "张"


def test_traditional_to_simplified_never_back() -> None:
    assert normalize_name("陳大文") == "陈大文"
    assert normalize_name("單麗") == "单丽"
    assert normalize_name("歐陽娜娜") == "欧阳娜娜"
    assert normalize_name("发") == "发"  # simplified stays simplified
    assert name_pinyin("陳大文") == name_pinyin("陈大文") == "chen da wen"


def test_spaces_dots_and_width_are_dropped() -> None:
    assert normalize_name(" 司 馬光 ") == "司马光"
    assert normalize_name("阿卜杜拉·买买提") == "阿卜杜拉买买提"
    assert normalize_name("阿卜杜拉・买买提") == "阿卜杜拉买买提"  # katakana middle dot
    assert normalize_name("Ｊｏｈｎ Smith") == "johnsmith"
    assert normalize_name(None) == "" and normalize_name("  ") == ""


def test_homophones_share_pinyin_and_initials() -> None:
    assert name_keys("张伟").pinyin == name_keys("章伟").pinyin == "zhang wei"
    assert name_initials("张伟") == name_initials("章伟") == "zw"
    assert name_initials("欧阳娜娜") == "oynn"
    assert name_keys("王ab明").pinyin == "wang ab ming"
    assert name_keys("John Smith").pinyin == "johnsmith"


def test_column_functions_match_single_value_functions() -> None:
    raw = ["陳大文", None, "陈大文", "", "曾国藩", "陳大文", " 欧阳 娜娜", "Ｊｏｈｎ"]
    assert normalize_names(raw) == [normalize_name(r) for r in raw]
    assert name_keys_many(raw) == [name_keys(r) for r in raw]


def test_duckdb_compares_chinese_by_character() -> None:
    # DOMAIN.md §4: DuckDB <= 2.0.0 measured bytes (3 here); the model relies on characters.
    assert duckdb.connect().sql("SELECT levenshtein('张三', '张山')").fetchall() == [(1,)]
