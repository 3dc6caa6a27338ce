"""Chinese personal names for matching: normalise, read as pinyin, take initials.

``normalize_name`` is NFKC, drops whitespace and the middle dots of transliterated
names (阿卜杜拉·买买提), folds Latin case, and converts traditional to simplified with
OpenCC t2s (陳 → 陈).  Never the other way: s2t is one-to-many (发 → 發/髮).

Pinyin is read one character at a time from a per-character cache: pypinyin's phrase
segmentation costs ~18 µs a call and its context-dependent readings would make the same
given-name character read differently in different names, which is worse for matching
than a fixed reading.  The surname is read from :mod:`.surnames`.

The ``*_many`` functions work on whole columns: they convert each distinct value once,
and send all distinct names through OpenCC in one call.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

import opencc
from pypinyin import lazy_pinyin

from jingwu.records.linkage.surnames import COMPOUND_SURNAMES, SINGLE_SURNAME_READINGS, split_surname

__all__ = [
    "NameKeys",
    "name_initials",
    "name_keys",
    "name_keys_many",
    "name_pinyin",
    "name_surname",
    "normalize_name",
    "normalize_names",
]

# Created once: building the converter loads its dictionaries (~10 ms).
_T2S: Final = opencc.OpenCC("t2s")

# Middle dots and separators seen in transliterated minority and foreign names.
_DROP: Final = {ord(c): None for c in "·•‧∙⋅・･.-\u00b7\u2027\u30fb\ufe52\uff0e\u200b\u200c\u200d\u2060\ufeff"}

_char_pinyin: dict[str, str] = {}


def _clean(raw: str) -> str:
    s = unicodedata.normalize("NFKC", raw)
    return "".join(s.split()).translate(_DROP).casefold()


def normalize_name(raw: str | None) -> str:
    """The comparable form of a name; "" for a missing one."""
    if not raw:
        return ""
    s = _clean(raw)
    return str(_T2S.convert(s)) if s and not s.isascii() else s


def normalize_names(raws: Iterable[str | None]) -> list[str]:
    """``normalize_name`` over a column, converting each distinct value once."""
    values = list(raws)
    distinct = sorted({v for v in values if v})
    cleaned = [_clean(v) for v in distinct]
    # OpenCC converts by phrase and character, never across a newline, and a cleaned
    # name has no whitespace left: one call for the whole column is safe and ~7x faster.
    todo = [c for c in cleaned if c and not c.isascii()]
    converted = dict(zip(todo, str(_T2S.convert("\n".join(todo))).split("\n"), strict=True)) if todo else {}
    table = {raw: converted.get(c, c) for raw, c in zip(distinct, cleaned, strict=True)}
    return [table[v] if v else "" for v in values]


def _read_char(ch: str) -> str:
    reading = _char_pinyin.get(ch)
    if reading is None:
        # lazy_pinyin returns a non-Han character unchanged (a Latin letter, a digit).
        reading = lazy_pinyin(ch)[0] if not ch.isascii() else ch
        _char_pinyin[ch] = reading
    return reading


def _syllables(norm: str) -> list[str]:
    if not norm:
        return []
    if norm.isascii():
        # A name already in Latin letters ("johnsmith") is one token, not one per letter.
        return [norm]
    if any(c.isascii() for c in norm):
        return _mixed_syllables(norm)
    compound = COMPOUND_SURNAMES.get(norm[:2]) if len(norm) >= 3 else None
    if compound is not None:
        return [*compound, *(_read_char(c) for c in norm[2:])]
    first = SINGLE_SURNAME_READINGS.get(norm[0]) or _read_char(norm[0])
    return [first, *(_read_char(c) for c in norm[1:])]


def _mixed_syllables(norm: str) -> list[str]:
    out: list[str] = []
    run = ""
    for c in norm:
        if c.isascii():
            run += c
            continue
        if run:
            out.append(run)
            run = ""
        out.append((not out and SINGLE_SURNAME_READINGS.get(c)) or _read_char(c))
    if run:
        out.append(run)
    return out


class NameKeys(NamedTuple):
    """Everything linkage compares about a name."""

    norm: str  # normalised, simplified
    pinyin: str  # syllables without tones, space-separated: "zeng guo fan"
    initials: str  # first letter of each syllable: "zgf"
    surname: str  # "曾", or a compound surname "欧阳"


_EMPTY: Final = NameKeys("", "", "", "")


def _keys_of_normalized(norm: str) -> NameKeys:
    if not norm:
        return _EMPTY
    syllables = _syllables(norm)
    return NameKeys(
        norm,
        " ".join(syllables),
        "".join(s[0] for s in syllables if s),
        split_surname(norm)[0],
    )


def name_keys(raw: str | None) -> NameKeys:
    return _keys_of_normalized(normalize_name(raw))


def name_keys_many(raws: Sequence[str | None]) -> list[NameKeys]:
    """``name_keys`` over a column; repeated names (most of them) cost a dict lookup."""
    norms = normalize_names(raws)
    cache: dict[str, NameKeys] = {}
    out: list[NameKeys] = []
    for norm in norms:
        keys = cache.get(norm)
        if keys is None:
            keys = cache[norm] = _keys_of_normalized(norm)
        out.append(keys)
    return out


def name_pinyin(name: str | None) -> str:
    """Toneless pinyin, one syllable per character, the surname read as a surname:
    "曾国藩" → "zeng guo fan", "單雄信" → "shan xiong xin"."""
    return name_keys(name).pinyin


def name_initials(name: str | None) -> str:
    """First letters of the syllables: "欧阳娜娜" → "oynn"."""
    return name_keys(name).initials


def name_surname(name: str | None) -> str:
    """The surname, compound surnames kept whole: "诸葛亮" → "诸葛"."""
    return name_keys(name).surname
