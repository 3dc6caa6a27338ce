"""How text becomes index terms, the same way for documents and for queries (DOMAIN.md §4).

- **Han text** is one token per Han character; Latin letters and digits stay whole runs
  (``HAN_PATTERN``).  Queries match a run of characters with a phrase query, so 张伟
  matches 张伟 and never 伟张, and nothing depends on a word list.
- **Words**: longer text (source records' text) is cut into words by jieba (rjieba) and
  matched as a phrase of words.
- **Traditional → simplified** with OpenCC t2s before anything else, documents and
  queries alike (陳 → 陈); never the other way.
- **Names** are also kept whole (for exact and typo matching) and read as pinyin, full
  and initials, with the surname reading table of records.linkage (曾 zeng, 单 shan):
  searching by sound is an opt-in broadening.
- **Identifiers** are exact keywords ``kind:value`` in normalised form (E.164 phones,
  upgraded 18-character IDs, plates upper-case without the middle dot): never cut.
- **Suggestions** are whole keywords ``key\\x1fshown``: a prefix of the key finds them.

Tantivy's Python binding offers only built-in tokenizers: the Han analyzer is a regex
tokenizer, and jieba's words are joined by spaces into a whitespace-tokenized field.
Custom analyzers are not saved with an index: :func:`register` runs on every open.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import opencc
import rjieba
import tantivy

from jingwu.core.identifiers import clean_input, validate_phone, validate_resident_id
from jingwu.records.linkage.names import NameKeys, name_keys, name_keys_many, normalize_name
from jingwu.search.registry import SearchDocument

__all__ = [
    "HAN",
    "HAN_PATTERN",
    "IDENTIFIER_KINDS",
    "KEYWORDS",
    "STORED_ONLY",
    "SUGGEST_SEPARATOR",
    "WORDS",
    "AnalysedDocument",
    "NameKeys",
    "analyse",
    "birth_terms",
    "han_tokens",
    "identifier_term",
    "name_keys",
    "near_syllables",
    "normalize_name",
    "register",
    "simplified",
    "simplified_many",
    "suggest_key",
    "words",
]

HAN_PATTERN: Final = r"\p{Han}|[\p{L}\p{N}--\p{Han}]+"
HAN: Final = "jingwu_han"
WORDS: Final = "jingwu_words"
# Keyword fields take their terms as one space-separated string: one call into Tantivy
# for a field, not one per value (values never hold ASCII whitespace).
KEYWORDS: Final = "jingwu_keywords"
# Kept for showing only (a result's record text): whole value as one token, then dropped.
STORED_ONLY: Final = "jingwu_stored_only"
SUGGEST_SEPARATOR: Final = "\x1f"
# Identifier kinds as index terms use them ("phone:+8613912340001").
IDENTIFIER_KINDS: Final = ("resident_id", "phone", "plate", "uscc", "account")
MAX_TOKEN: Final = 64  # longer runs (hashes, base64) are not words anyone types

_T2S: Final = opencc.OpenCC("t2s")
# Names and record texts repeat across documents (a province has far fewer distinct
# names than people; a source's fixed wording recurs): read each once a process.
NAME_CACHE_MAX: Final = 200_000
_name_cache: dict[str, NameKeys] = {}
SIMPLIFIED_CACHE_MAX: Final = 400_000
_simplified_cache: dict[str, str] = {}


@functools.cache
def _han_analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(HAN_PATTERN))
            .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.remove_long(MAX_TOKEN)).build())


@functools.cache
def _words_analyzer() -> tantivy.TextAnalyzer:
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).filter(tantivy.Filter.lowercase()).build()


@functools.cache
def _keywords_analyzer() -> tantivy.TextAnalyzer:
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()


@functools.cache
def _stored_only_analyzer() -> tantivy.TextAnalyzer:
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw()).filter(tantivy.Filter.remove_long(1)).build()


def register(index: tantivy.Index) -> None:
    """Register our analyzers with an opened index (Tantivy does not store them)."""
    index.register_tokenizer(HAN, _han_analyzer())
    index.register_tokenizer(WORDS, _words_analyzer())
    index.register_tokenizer(KEYWORDS, _keywords_analyzer())
    index.register_tokenizer(STORED_ONLY, _stored_only_analyzer())


# --------------------------------------------------------------------------- text


def _tidy(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def simplified(text: str) -> str:
    """NFKC, whitespace collapsed, traditional characters made simplified."""
    tidy = _tidy(text)
    return str(_T2S.convert(tidy)) if tidy and not tidy.isascii() else tidy


def simplified_many(texts: Sequence[str]) -> list[str]:
    """:func:`simplified` over many strings with one OpenCC call (a call costs far more
    than its characters; OpenCC never converts across a newline, and tidy text has none).
    Each distinct string is converted once a process: record texts and addresses recur."""
    cache = _simplified_cache
    out = [cache.get(t) for t in texts]
    todo = [i for i, value in enumerate(out) if value is None]
    if not todo:
        return out  # type: ignore[return-value]  # every one found
    if len(cache) + len(todo) > SIMPLIFIED_CACHE_MAX:
        cache.clear()
    tidy = {i: _tidy(texts[i]) for i in todo}
    convert = [i for i, t in tidy.items() if t and not t.isascii()]
    if convert:
        converted = str(_T2S.convert("\n".join([tidy[i] for i in convert]))).split("\n")
        for i, value in zip(convert, converted, strict=True):
            tidy[i] = value
    for i, value in tidy.items():
        out[i] = cache[texts[i]] = value
    return out  # type: ignore[return-value]  # every one filled


def han_tokens(text: str) -> list[str]:
    """The tokens the index holds for ``text`` (already simplified)."""
    return list(_han_analyzer().analyze(text))


def words(text: str) -> list[str]:
    """jieba's words of ``text`` (already simplified), lower-case, punctuation dropped."""
    return [w.lower() for w in rjieba.cut(text) if any(c.isalnum() for c in w)]


@functools.lru_cache(maxsize=65_536)
def _spaced_words(text: str) -> str:
    """jieba's words of one record text joined by spaces, as the words field takes them.
    jieba never joins across whitespace, so texts cut one by one give the words of
    their joined whole."""
    return " ".join(rjieba.cut(text))


def _name_keys(raws: list[str]) -> list[NameKeys]:
    """``name_keys_many`` through the process's cache."""
    cache = _name_cache
    missing = [r for r in dict.fromkeys(raws) if r not in cache]
    if missing:
        if len(cache) + len(missing) > NAME_CACHE_MAX:
            cache.clear()
        cache.update(zip(missing, name_keys_many(missing), strict=True))
    return [cache[r] for r in raws]


@functools.cache
def _syllables() -> frozenset[str]:
    """Every toneless pinyin syllable, as names are read ("lv" for 吕)."""
    from pypinyin.pinyin_dict import pinyin_dict

    readings = {r for value in set(pinyin_dict.values()) for r in value.split(",")}
    out = set()
    for reading in readings:
        plain = unicodedata.normalize("NFD", reading.replace("ü", "v").replace("ǖ", "v").replace("ǘ", "v")
                                      .replace("ǚ", "v").replace("ǜ", "v"))
        out.add("".join(c for c in plain if not unicodedata.combining(c)))
    return frozenset(out)


@functools.lru_cache(maxsize=4096)
def near_syllables(syllable: str) -> tuple[str, ...]:
    """The pinyin syllables one letter away from ``syllable`` (jing → jin, qing, jiang …):
    a character typed for another that sounds nearly the same."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    edits = {syllable[:i] + syllable[i + 1:] for i in range(len(syllable))}
    edits.update(syllable[:i] + c + syllable[i + 1:] for i in range(len(syllable)) for c in letters)
    edits.update(syllable[:i] + c + syllable[i:] for i in range(len(syllable) + 1) for c in letters)
    known = _syllables()
    return tuple(sorted(e for e in edits if e != syllable and e in known))


# --------------------------------------------------------------------------- keywords


_PHONE_SEPARATORS: Final = str.maketrans("", "", " -()")


def _mainland_mobile(value: str) -> str | None:
    """E.164 for the common spellings of a mainland mobile number, without libphonenumber
    (it costs ~30 µs a number): 13912340001, 139 1234 0001, +86 139-1234-0001."""
    if not value.isascii():
        return None
    digits = value.translate(_PHONE_SEPARATORS)
    for prefix in ("+86", "0086", "86"):
        if len(digits) == 11 + len(prefix) and digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    if len(digits) == 11 and digits[0] == "1" and digits.isdigit():
        return "+86" + digits
    return None


def identifier_term(kind: str, value: str) -> str:
    """``kind:normalised`` for an identifier already validated or as a source gave it."""
    if kind == "resident_id":
        if len(value) == 18 and value.isascii() and value[:17].isdigit():  # as records normalise them
            norm = value.upper()
        else:
            result = validate_resident_id(value)
            norm = result.normalized if result.valid else clean_input(value)
    elif kind == "phone":
        if len(value) == 11 and value[0] == "1" and value.isascii() and value.isdigit():  # as sources give most
            norm = "+86" + value
        elif value.startswith("+") and value.isascii() and value[1:].isdigit():
            norm = value
        elif (quick := _mainland_mobile(value)) is not None:
            norm = quick
        else:
            phone = validate_phone(value)
            norm = phone.normalized if phone.valid else clean_input(value)
    elif kind in IDENTIFIER_KINDS:
        # Sources give most identifiers clean already (an account's digits, a plate).
        tail = value[1:] if value and not value[0].isascii() else value
        norm = value.upper() if tail.isascii() and tail.isalnum() else clean_input(value)
    else:
        raise ValueError(f"unknown identifier kind {kind!r}; expected one of {IDENTIFIER_KINDS}")
    return f"{kind}:{norm}"


def birth_terms(iso_date: str) -> list[str]:
    """"1985-07-20" → the year, the month and the day, so ``出生:1985`` finds it."""
    day = iso_date[:10]
    if len(day) != 10 or day[4] != "-" or day[7] != "-":
        return []
    return [day[:4], day[:7], day]


def suggest_key(text: str) -> str:
    """The form a typed prefix is compared in: simplified, no spaces, Latin lower-case."""
    return "".join(simplified(text).split()).casefold()


# --------------------------------------------------------------------------- documents


@dataclass(slots=True)
class AnalysedDocument:
    """A document's field values as the index takes them."""

    source: SearchDocument
    names: list[str] = field(default_factory=list)  # normalised names (one token per Han character)
    name_exact: list[str] = field(default_factory=list)
    name_pinyin: list[str] = field(default_factory=list)  # "chendawen"
    name_initials: list[str] = field(default_factory=list)  # "cdw"
    addresses: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    words: str = ""
    identifiers: list[str] = field(default_factory=list)
    births: list[str] = field(default_factory=list)
    suggest: list[str] = field(default_factory=list)


# An empty field: shared by the documents that have none (nothing appends to an analysed list).
_NONE: Final[list[str]] = []


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values)) if len(values) > 1 else values


def analyse(docs: Sequence[SearchDocument]) -> list[AnalysedDocument]:
    """Analyse a batch of documents: one OpenCC call and one pinyin pass for the batch.
    Names always complete in the suggestion box (and from their pinyin); ``suggest``
    adds other strings (a plate)."""
    texts: list[str] = []
    for d in docs:
        texts += d.addresses
        texts += d.text
        texts += d.suggest
    converted = simplified_many(texts)
    keys = _name_keys([n for d in docs for n in d.names])
    pos = kpos = 0
    out = []
    for d in docs:
        addresses = text = extra = names = pinyin = initials = identifiers = births = suggest = _NONE
        spaced = ""
        if n := len(d.addresses):
            addresses = _unique([t for t in converted[pos:pos + n] if t])
            pos += n
        if n := len(d.text):
            text = _unique([t for t in converted[pos:pos + n] if t])
            pos += n
            # Record text only (names and addresses have their own fields); the whitespace
            # analyzer drops the spaces jieba returns.
            if text:
                spaced = " ".join([_spaced_words(t) for t in text])
        if n := len(d.suggest):
            extra = [t for t in converted[pos:pos + n] if t]
            pos += n
        if n := len(d.names):
            own = [k for k in keys[kpos:kpos + n] if k.norm]
            kpos += n
            if own:
                names = _unique([k.norm for k in own])
                pinyin = _unique([k.pinyin.replace(" ", "") for k in own if k.pinyin])
                initials = _unique([k.initials for k in own if k.initials])
                suggest = [f"{k.norm}{SUGGEST_SEPARATOR}{k.norm}" for k in own]
                suggest.extend(f"{k.pinyin.replace(' ', '')}{SUGGEST_SEPARATOR}{k.norm}" for k in own
                               if k.pinyin and k.pinyin.isascii() and not k.norm.isascii())
        if extra:
            whole = ["".join(t.split()) for t in extra]
            suggest = [*suggest, *(f"{t.casefold()}{SUGGEST_SEPARATOR}{t}" for t in whole)]
        if d.identifiers:
            identifiers = _unique([identifier_term(kind, value) for kind, value in d.identifiers if value])
        if d.births:
            births = _unique([t for b in d.births for t in birth_terms(b)])
        out.append(AnalysedDocument(d, names, names, pinyin, initials, addresses, text, spaced, identifiers, births,
                                    _unique(suggest) if suggest else _NONE))
    return out
