""""Include similar sounding": homophones, near-sound characters and one given-name
character typed wrong, ranked in that order below the exact name; never without the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from jingwu.search import analysis
from jingwu.search.backend import ScopeGrant, SearchRequest, TantivyBackend
from jingwu.search.query import parse
from jingwu.search.registry import SearchDocument

EVERYWHERE = (ScopeGrant(("test.thing",), ("370000/",)),)

NAMES = {
    1: "魏晶",  # the name typed
    2: "魏静",  # same sound (wei jing)
    3: "卫晶",  # same sound, another surname character
    4: "魏青",  # the given name one letter off in pinyin (qing)
    5: "魏旭",  # the given name any other character (xu)
    6: "李晶",  # another surname: another person
    7: "魏晶晶",  # a character more: another name
    8: "张博杰",
    9: "张强杰",  # three characters, one given-name character wrong
    10: "李博杰",  # three characters, the surname wrong
    11: "张博",
}
# Other people, so that a name's rarity weighs as in a real index.
FILLERS = {100 + i: name for i, name in enumerate(
    f"{s}{g}" for s in "赵钱孙周吴郑" for g in "一二三四五")}


@pytest.fixture
def backend(tmp_path: Path) -> TantivyBackend:
    b = TantivyBackend(tmp_path / "idx")
    b.index([SearchDocument(doc_type="test.thing", id=pk, kind="person", title=name, unit_path="370000/",
                            names=[name]) for pk, name in {**NAMES, **FILLERS}.items()])
    return b


def ranked(backend: TantivyBackend, text: str, *, similar: bool) -> list[list[int]]:
    """The ids found, best first, those of equal score together (in id order)."""
    page = backend.search(SearchRequest(parse(text), EVERYWHERE, similar=similar, limit=50, facets=False,
                                        highlights=False))
    tiers: dict[float, list[int]] = {}
    for hit in page.hits:
        tiers.setdefault(round(hit.score or 0.0, 4), []).append(hit.id)
    assert page.total == len(page.hits)
    return [sorted(ids) for _score, ids in sorted(tiers.items(), reverse=True)]


def test_without_the_option_a_name_finds_only_names_holding_it(backend: TantivyBackend) -> None:
    assert ranked(backend, "魏晶", similar=False) == [[1], [7]]  # 魏晶晶 holds 魏晶 (a phrase of characters)
    assert ranked(backend, "魏旭", similar=False) == [[5]]


def test_a_two_character_name_with_the_option_ranks_sound_before_spelling(backend: TantivyBackend) -> None:
    # exact; holding it; same sound with the surname kept; same sound, another surname; one
    # pinyin letter off; any given-name character.  李晶 is another person.
    assert ranked(backend, "魏晶", similar=True) == [[1], [7], [2], [3], [4], [5]]


def test_a_typo_in_a_two_character_name_finds_the_intended_person(backend: TantivyBackend) -> None:
    # 魏旭 typed as 魏晶: nothing of the sound is left, the surname and the length are.
    assert 5 in [i for tier in ranked(backend, "魏晶", similar=True) for i in tier]
    assert ranked(backend, "张丽", similar=True) == [[11]]  # zhang li → 张博: the surname kept
    assert ranked(backend, "张丽", similar=False) == []


def test_a_three_character_name_prefers_a_wrong_given_character_to_a_wrong_surname(
        backend: TantivyBackend) -> None:
    assert ranked(backend, "张博杰", similar=False) == [[8]]
    # 张强杰: one given-name character wrong, surname kept; 李博杰 (the surname wrong) and
    # 张博 (a character fewer) one character off the whole name.
    assert ranked(backend, "张博杰", similar=True) == [[8], [9], [10, 11]]
    assert ranked(backend, "张强杰", similar=True) == [[9], [8]]  # 李博杰 is two characters off


def test_typed_pinyin_is_broadened_by_one_letter_of_the_whole_name(backend: TantivyBackend) -> None:
    assert ranked(backend, "weijing", similar=False) == [[1, 2, 3]]
    assert ranked(backend, "weijing", similar=True) == [[1, 2, 3], [4]]  # weiqing


@pytest.mark.parametrize(("syllable", "near"), [
    ("jing", ("bing", "ding", "jiang", "jin", "jiong", "ling", "ming", "ning", "ping", "qing", "ting", "xing",
              "ying")),
    ("lv", ("la", "le", "li", "lo", "lu", "lve", "nv")),
    ("xu", ("bu", "cu", "du", "fu", "gu", "hu", "ju", "ku", "lu", "mu", "nu", "ou", "pu", "qu", "ru", "su", "tu",
            "wu", "xi", "xiu", "xue", "xun", "yu", "zu")),
])
def test_near_syllables_are_real_syllables_one_letter_away(syllable: str, near: tuple[str, ...]) -> None:
    assert analysis.near_syllables(syllable) == near
