"""The search engine behind one interface: Tantivy embedded, others later.

:class:`SearchBackend` is what the rest of jingwu uses: ``index`` (documents in, with
deletions and whole-type clears in the same atomic commit), ``delete``, ``search``,
``suggest`` and ``count``.  :class:`TantivyBackend` keeps a Tantivy index in a folder
(``JINGWU_SEARCH_DIR``).

**One writer.**  Tantivy allows one writer per index; every write here takes a lock file
in the folder first (and a thread lock), so writers from the job consumer, a rebuild
and a test wait for each other instead of failing.  **Readers reload**: before each
search the reader checks whether a commit happened since (the index's meta.json) and
reloads, so a committed change is visible at once in every process.

**Scoping is part of the query.**  A request carries the actor's grants (document types
and the unit paths they may see them under); the grants are a required clause of the
Tantivy query itself, so totals, facet counts and suggestions never count what the
actor may not see.  Documents index every prefix of their unit path.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, Protocol

import orjson
import tantivy
from django.conf import settings

from jingwu.search import analysis
from jingwu.search.analysis import HAN, KEYWORDS, STORED_ONLY, WORDS
from jingwu.search.query import ParsedQuery, TextClause
from jingwu.search.registry import SearchDocument

__all__ = [
    "HIGHLIGHT_FIELDS",
    "Highlight",
    "Hit",
    "PreparedDocument",
    "SchemaMismatch",
    "ScopeGrant",
    "SearchBackend",
    "SearchPage",
    "SearchRequest",
    "Suggestion",
    "TantivyBackend",
    "get_backend",
    "prepare",
    "unit_prefixes",
]

INDEX_FOLDER: Final = "tantivy-v1"  # a schema change gets a new folder (and a rebuild)
NO_UNIT: Final = "~"  # the unit term of documents that belong to no unit
NO_KIND: Final = "\x00"  # the facets' bucket of documents without a kind (no kind is spelt so)
WRITER_HEAP: Final = 128_000_000
# A rebuild writes everything at once: a larger heap makes fewer, larger segments (less
# merging after).
BULK_WRITER_HEAP: Final = 512_000_000
BULK_WRITER_THREADS: Final = 1
ANALYSE_BATCH: Final = 1000
SNIPPET_CHARS: Final = 90
HIGHLIGHTS_PER_FIELD: Final = 3
HIGHLIGHT_FIELDS: Final = ("name", "address", "body")

Sort = Literal["relevance", "date"]


# --------------------------------------------------------------------------- requests and results


@dataclass(frozen=True)
class ScopeGrant:
    """The actor may see documents of ``doc_types`` whose unit lies under one of ``roots``
    (unit paths); ``unitless``: also documents that belong to no unit."""

    doc_types: tuple[str, ...]
    roots: tuple[str, ...]
    unitless: bool = False


@dataclass(frozen=True)
class SearchRequest:
    query: ParsedQuery
    scope: tuple[ScopeGrant, ...]
    kinds: tuple[str, ...] = ()
    unit: str = ""  # a unit path: only documents under it
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    similar: bool = False  # names also by sound (pinyin) and with one character wrong
    sort: Sort = "relevance"
    offset: int = 0
    limit: int = 20
    facets: bool = True
    highlights: bool = True


@dataclass(frozen=True)
class Highlight:
    field: str
    text: str
    marks: tuple[tuple[int, int], ...]  # character ranges of `text` that matched


@dataclass
class Hit:
    doc_type: str
    id: int
    kind: str
    title: str
    unit_path: str
    date: dt.datetime | None
    entities: list[int]
    score: float | None  # None when sorted by date
    highlights: list[Highlight] = field(default_factory=list)


@dataclass
class SearchPage:
    total: int
    facets: dict[str, int]
    hits: list[Hit]


@dataclass(frozen=True)
class Suggestion:
    text: str
    count: int


class SearchBackend(Protocol):
    def index(self, docs: Iterable[SearchDocument], *, delete: Iterable[str] = (),
              clear: Iterable[str] = (), bulk: bool = False) -> int:
        """In one atomic commit: remove every document of the ``clear`` types and the
        documents keyed ``delete`` ("doc_type:id"), then add ``docs`` (replacing any
        document with the same key).  ``bulk``: very many documents (a rebuild).
        Returns the number of documents added."""
        ...

    def delete(self, keys: Iterable[str]) -> None: ...

    def search(self, request: SearchRequest) -> SearchPage: ...

    def suggest(self, prefix: str, scope: Sequence[ScopeGrant], limit: int = 10) -> list[Suggestion]: ...

    def count(self) -> dict[str, int]:
        """Documents per document type."""
        ...


@functools.lru_cache(maxsize=65_536)
def _unit_terms(path: str) -> str:
    return " ".join(unit_prefixes(path))


def unit_prefixes(path: str) -> list[str]:
    """"370000/370100/370102/" → every ancestor's path and its own, for scoping."""
    if not path:
        return [NO_UNIT]
    parts = path.rstrip("/").split("/")
    return ["/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]


# --------------------------------------------------------------------------- the schema


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("doc_key", stored=True, tokenizer_name="raw", index_option="basic")
    b.add_text_field("doc_type", stored=True, fast=True, tokenizer_name="raw", index_option="basic")
    b.add_text_field("kind", stored=True, fast=True, tokenizer_name="raw", index_option="basic")
    b.add_unsigned_field("id", stored=True, indexed=True, fast=True)
    b.add_unsigned_field("entity", stored=True, indexed=True)
    b.add_text_field("unit", tokenizer_name=KEYWORDS, index_option="basic")
    b.add_text_field("unit_path", stored=True, tokenizer_name="raw", index_option="basic")
    b.add_date_field("date", stored=True, indexed=True, fast=True)
    b.add_text_field("title", stored=True, tokenizer_name=STORED_ONLY, index_option="basic")  # names hold it
    b.add_text_field("name", stored=True, tokenizer_name=HAN)
    b.add_text_field("name_exact", tokenizer_name=KEYWORDS, index_option="basic")
    b.add_text_field("name_pinyin", tokenizer_name=KEYWORDS, index_option="basic")
    b.add_text_field("name_initials", tokenizer_name=KEYWORDS, index_option="basic")
    b.add_text_field("address", stored=True, tokenizer_name=HAN)
    b.add_text_field("body", stored=True, tokenizer_name=STORED_ONLY, index_option="basic")  # shown, not searched
    b.add_text_field("words", tokenizer_name=WORDS)
    b.add_text_field("ident", tokenizer_name=KEYWORDS, index_option="basic")
    b.add_text_field("birth", tokenizer_name=KEYWORDS, index_option="basic")
    b.add_text_field("suggest", tokenizer_name=KEYWORDS, index_option="basic")
    return b.build()


SCHEMA: Final = _schema()


class PreparedDocument(NamedTuple):
    """A document analysed and encoded for the index: made in a worker process, sent as text."""

    key: str
    doc_type: str
    json: str


def _json_time(value: dt.datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat()


def prepare(docs: Sequence[SearchDocument]) -> list[PreparedDocument]:
    """Analyse documents and encode them as Tantivy takes them (JSON: one call a document)."""
    out = []
    last_date: dt.datetime | None = None
    last_json_date = ""
    for a in analysis.analyse(docs):
        d = a.source
        key = d.key
        values: dict[str, Any] = {"doc_key": key, "doc_type": d.doc_type, "kind": d.kind, "id": d.id,
                                  "entity": list(d.entities), "unit": _unit_terms(d.unit_path),
                                  "unit_path": d.unit_path, "title": d.title}
        if (date := d.date) is not None:
            if date is not last_date:  # documents built together mostly share one (a batch's change)
                last_date, last_json_date = date, _json_time(date)
            values["date"] = last_json_date
        if a.names:
            values["name"] = a.names
        if a.addresses:
            values["address"] = a.addresses
        if a.text:
            values["body"] = a.text
        if a.name_exact:
            values["name_exact"] = " ".join(a.name_exact)
        if a.name_pinyin:
            values["name_pinyin"] = " ".join(a.name_pinyin)
        if a.name_initials:
            values["name_initials"] = " ".join(a.name_initials)
        if a.identifiers:
            values["ident"] = " ".join(a.identifiers)
        if a.births:
            values["birth"] = " ".join(a.births)
        if a.suggest:
            values["suggest"] = " ".join(a.suggest)
        if a.words:
            values["words"] = a.words
        out.append(PreparedDocument(key, d.doc_type, orjson.dumps(values).decode()))
    return out


# --------------------------------------------------------------------------- building queries

_Q = tantivy.Query
_MUST, _SHOULD = tantivy.Occur.Must, tantivy.Occur.Should

# Relative weight of each way a text term can match.
BOOST: Final = {"ident": 20.0, "name_exact": 10.0, "name": 6.0, "name_pinyin": 6.0, "name_initials": 2.0,
                "address": 3.0, "body": 1.0,
                "similar_pinyin": 4.0, "similar_name": 3.0, "similar_pinyin_typo": 3.0, "similar_syllable": 3.0,
                "similar_given": 1.5}
# Fuzzy over the whole name (any one character, the surname too) from three characters:
# in a two-character name that is any name sharing one character.
FUZZY_NAME_MIN: Final = 3
FUZZY_PINYIN_MIN: Final = 5
INITIALS_MAX: Final = 4


def _boost(query: tantivy.Query, what: str) -> tantivy.Query:
    return _Q.boost_query(query, BOOST[what])


def _chars(fname: str, tokens: Sequence[str]) -> tantivy.Query:
    if len(tokens) == 1:
        return _Q.term_query(SCHEMA, fname, tokens[0])
    return _Q.phrase_query(SCHEMA, fname, list(tokens))


def _any(queries: Sequence[tantivy.Query]) -> tantivy.Query:
    return queries[0] if len(queries) == 1 else _Q.boolean_query([(_SHOULD, q) for q in queries])


def _term_query(term: TextClause, similar: bool) -> tantivy.Query | None:
    """Where one typed term may match, each way weighted; None when it holds nothing searchable."""
    text = analysis.simplified(term.text)
    tokens = analysis.han_tokens(text)
    if not tokens:
        return None
    ways: list[tantivy.Query] = []
    anywhere = term.field is None
    if anywhere or term.field == "name":
        norm = analysis.normalize_name(term.text)
        ways.append(_boost(_chars("name", tokens), "name"))
        ways.append(_boost(_Q.term_query(SCHEMA, "name_exact", norm), "name_exact"))
        if term.latin_words:
            joined = "".join(term.text.split()).lower()
            ways.append(_boost(_Q.term_query(SCHEMA, "name_pinyin", joined), "name_pinyin"))
            if len(joined) <= INITIALS_MAX:
                ways.append(_boost(_Q.term_query(SCHEMA, "name_initials", joined), "name_initials"))
            if similar and len(joined) >= FUZZY_PINYIN_MIN:
                ways.append(_boost(_Q.fuzzy_term_query(SCHEMA, "name_pinyin", joined, distance=1),
                                   "similar_pinyin_typo"))
        elif similar:
            keys = analysis.name_keys(term.text)
            pinyin = keys.pinyin.replace(" ", "")
            if pinyin and pinyin.isascii():
                ways.append(_boost(_Q.term_query(SCHEMA, "name_pinyin", pinyin), "similar_pinyin"))
                if len(pinyin) >= FUZZY_PINYIN_MIN and len(norm) >= FUZZY_NAME_MIN:
                    ways.append(_boost(_Q.fuzzy_term_query(SCHEMA, "name_pinyin", pinyin, distance=1),
                                       "similar_pinyin_typo"))
            if len(norm) >= FUZZY_NAME_MIN:
                ways.append(_boost(_Q.fuzzy_term_query(SCHEMA, "name_exact", norm, distance=1), "similar_name"))
            ways.extend(_given_name_typos(keys))
    if anywhere or term.field == "address":
        ways.append(_boost(_chars("address", tokens), "address"))
    if anywhere and (found := analysis.words(text)):  # record text, by jieba's words
        ways.append(_boost(_chars("words", found), "body"))
    return _any(ways)


def _given_name_typos(keys: analysis.NameKeys) -> list[tantivy.Query]:
    """A Han name with one given-name character typed wrong, the surname kept: by a
    character that sounds nearly the same (one letter of its pinyin off: 晶 jing for
    青 qing), else by any character.  Constant scores below the same-sound match, so
    rare names do not rise above likely ones by their rarity alone; the near-sound
    ones first."""
    norm, surname = keys.norm, keys.surname
    syllables = keys.pinyin.split()
    if not surname or len(norm) <= len(surname) or not all(_is_han(c) for c in norm):
        return []
    ways = []
    if len(syllables) == len(norm) and keys.pinyin.isascii():
        for i in range(len(surname), len(syllables)):
            for near in analysis.near_syllables(syllables[i]):
                variant = "".join([*syllables[:i], near, *syllables[i + 1:]])
                ways.append(_Q.const_score_query(_Q.term_query(SCHEMA, "name_pinyin", variant),
                                                 BOOST["similar_syllable"]))
    given = norm[len(surname):]
    replaced = "|".join(given[:i] + "." + given[i + 1:] for i in range(len(given)))
    ways.append(_Q.const_score_query(_Q.regex_query(SCHEMA, "name_exact", f"{surname}({replaced})"),
                                     BOOST["similar_given"]))
    return ways


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\U00020000" <= char <= "\U0003134f"


def match_query(query: ParsedQuery, similar: bool) -> tantivy.Query | None:
    """Every clause of the parsed query must match."""
    must: list[tantivy.Query] = []
    for ident in query.identifiers:
        must.append(_boost(_Q.term_query(SCHEMA, "ident", f"{ident.kind}:{ident.value}"), "ident"))
    for birth in query.births:
        must.append(_Q.const_score_query(_Q.term_query(SCHEMA, "birth", birth), 1.0))
    for term in query.terms:
        q = _term_query(term, similar)
        if q is not None:
            must.append(q)
    if not must:
        return None
    return _Q.boolean_query([(_MUST, q) for q in must])


def _one_of(fname: str, values: Sequence[str]) -> tantivy.Query:
    """Documents holding any of the terms.  Term queries, not a term-set query: a term
    set collects every matching document into a bitset first, so a scope covering the
    whole index cost time in proportion to the index; term queries skip along with the
    (usually rarer) match."""
    return _any([_Q.term_query(SCHEMA, fname, v) for v in values])


def scope_query(scope: Sequence[ScopeGrant]) -> tantivy.Query:
    """The documents the grants let the actor see (nothing when there are none)."""
    parts = []
    for grant in scope:
        units = list(grant.roots) + ([NO_UNIT] if grant.unitless else [])
        if not grant.doc_types or not units:
            continue
        parts.append(_Q.boolean_query([(_MUST, _one_of("doc_type", grant.doc_types)),
                                       (_MUST, _one_of("unit", units))]))
    if not parts:
        return _Q.empty_query()
    return _Q.const_score_query(_any(parts), 0.0)


def _and(match: tantivy.Query, filters: Sequence[tantivy.Query]) -> tantivy.Query:
    return _Q.boolean_query([(_MUST, match)] + [(_MUST, f) for f in filters]) if filters else match


def _filters(request: SearchRequest, *, kinds: bool, scoped: bool = True) -> list[tantivy.Query]:
    """The request's filters; ``scoped=False``: without the scope (it admits every document)."""
    out = [scope_query(request.scope)] if scoped else []
    if kinds and request.kinds:
        out.append(_one_of("kind", request.kinds))
    if request.unit:
        out.append(_Q.term_query(SCHEMA, "unit", request.unit))
    if request.date_from is not None or request.date_to is not None:
        out.append(_Q.range_query(SCHEMA, "date", tantivy.FieldType.Date, lower_bound=request.date_from,
                                  upper_bound=request.date_to))
    return [_Q.const_score_query(q, 0.0) for q in out]


def _needles(query: ParsedQuery) -> list[str]:
    """The strings a result's text is marked at: each typed term as the index holds it."""
    out = []
    for term in query.terms:
        text = analysis.simplified(term.text).lower()
        if term.latin_words:
            out.extend(text.split())
        elif joined := "".join(text.split()):
            out.append(joined)
    return sorted(set(out), key=len, reverse=True)


def _marked(value: str, needles: Sequence[str]) -> Highlight | None:
    """``value`` with the places the needles occur, cut to a window around the first."""
    low = value.lower()
    if len(low) != len(value):  # a character whose lower case is longer: positions would not map
        low = value
    marks: list[tuple[int, int]] = []
    for needle in needles:
        at = low.find(needle)
        while at >= 0:
            marks.append((at, at + len(needle)))
            at = low.find(needle, at + len(needle))
    if not marks:
        return None
    merged: list[tuple[int, int]] = []
    for start, end in sorted(marks):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    text, shift = value, 0
    if len(value) > SNIPPET_CHARS:
        shift = max(0, min(merged[0][0] - SNIPPET_CHARS // 4, len(value) - SNIPPET_CHARS))
        text = value[shift:shift + SNIPPET_CHARS]
        if shift:
            text, shift = "…" + text[1:], shift
    kept = tuple((max(s - shift, 0), min(e - shift, len(text))) for s, e in merged if s - shift < len(text))
    return Highlight("", text, kept)


def _highlights(values: dict[str, list[Any]], needles: Sequence[str]) -> list[Highlight]:
    out = []
    for fname in HIGHLIGHT_FIELDS:
        shown = 0
        for value in values.get(fname, []):
            found = _marked(str(value), needles)
            if found is not None and shown < HIGHLIGHTS_PER_FIELD:
                out.append(Highlight(fname, found.text, found.marks))
                shown += 1
    return out


def _first(values: dict[str, list[Any]], name: str, default: Any = None) -> Any:
    got = values.get(name)
    return got[0] if got else default


# --------------------------------------------------------------------------- the Tantivy backend


class SchemaMismatch(RuntimeError):
    """The index folder holds an index built with another schema."""


COVERS_MAX: Final = 256  # scopes remembered a generation (distinct actors' jurisdictions)


@dataclass
class _Generation:
    """One commit of the index as this process reads it: its searcher, and for the scopes
    asked so far whether each admits every document of it."""

    stamp: tuple[int, int]
    searcher: tantivy.Searcher
    covers: dict[tuple[ScopeGrant, ...], bool] = field(default_factory=dict)


class TantivyBackend:
    """A Tantivy index in ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / INDEX_FOLDER
        self._index: tantivy.Index | None = None
        self._generation: _Generation | None = None
        self._open_lock = threading.Lock()
        self._write_lock = threading.Lock()

    # -- opening and reloading

    def _open(self) -> tantivy.Index:
        with self._open_lock:
            if self._index is None:
                self.path.mkdir(parents=True, exist_ok=True)
                try:
                    index = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
                except ValueError as exc:
                    if "schema does not match" not in str(exc):
                        raise
                    raise SchemaMismatch(f"the search index in {self.path} has another schema: run "
                                         f"`jingwu index rebuild`") from exc
                analysis.register(index)  # analyzers are not stored with the index
                self._index = index
            return self._index

    def recreate(self) -> None:
        """Start an empty index with this schema (before a full rebuild of an index whose
        schema is out of date)."""
        with self._write_lock, self._open_lock:
            self.path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(SCHEMA, path=str(self.path), reuse=False)
            analysis.register(index)
            self._index, self._generation = index, None

    def schema_current(self) -> bool:
        try:
            self._open()
        except SchemaMismatch:
            return False
        return True

    def _commit_stamp(self) -> tuple[int, int]:
        """Changes with every commit: meta.json is replaced (a new inode) and written (a new time;
        the time alone can repeat, the kernel's clock moving in steps of milliseconds)."""
        try:
            meta = (self.path / "meta.json").stat()
        except FileNotFoundError:
            return (0, 0)
        return (meta.st_mtime_ns, meta.st_ino)

    def _current(self) -> _Generation:
        index = self._open()
        stamp = self._commit_stamp()
        generation = self._generation
        if generation is None or generation.stamp != stamp:
            index.reload()
            generation = self._generation = _Generation(stamp, index.searcher())
        return generation

    def _searcher(self) -> tantivy.Searcher:
        return self._current().searcher

    @staticmethod
    def _covers_all(generation: _Generation, scope: tuple[ScopeGrant, ...]) -> bool:
        """Does ``scope`` admit every document of this generation?  Then its filter — a
        union over nearly every document, which doubled a broad query's time — can go:
        the results are the same.  Only a grant with unitless documents (a province-wide
        role) can; it is counted once a generation."""
        if not any(grant.unitless for grant in scope):
            return False
        covers = generation.covers.get(scope)
        if covers is None:
            searcher = generation.searcher
            admitted = searcher.search(scope_query(scope), 1, count=True)
            covers = int(getattr(admitted, "count", 0) or 0) == searcher.num_docs
            if len(generation.covers) >= COVERS_MAX:
                generation.covers.clear()
            generation.covers[scope] = covers
        return covers

    @contextmanager
    def _writer(self, *, bulk: bool = False) -> Iterator[tantivy.IndexWriter]:
        """The one writer: a thread lock and the folder's lock file, then commit or roll back."""
        with self._write_lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.directory / "writer.lock", "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    index = self._open()
                    writer = (index.writer(heap_size=BULK_WRITER_HEAP, num_threads=BULK_WRITER_THREADS) if bulk
                              else index.writer(heap_size=WRITER_HEAP, num_threads=1))
                    try:
                        yield writer
                        writer.commit()
                    except BaseException:
                        writer.rollback()
                        raise
                    finally:
                        writer.wait_merging_threads()
                    index.reload()
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    # -- writing

    def index(self, docs: Iterable[SearchDocument | PreparedDocument], *, delete: Iterable[str] = (),
              clear: Iterable[str] = (), bulk: bool = False) -> int:
        """See :class:`SearchBackend`; ``bulk``: a rebuild's many documents (a larger writer)."""
        added = 0
        cleared = set(clear)
        with self._writer(bulk=bulk) as writer:
            for doc_type in sorted(cleared):
                writer.delete_documents_by_term("doc_type", doc_type)
            for key in delete:
                writer.delete_documents_by_term("doc_key", key)
            batch: list[SearchDocument] = []
            for doc in docs:
                if isinstance(doc, PreparedDocument):  # a rebuild's, prepared in a worker: inline, per document
                    if doc.doc_type not in cleared:
                        writer.delete_documents_by_term("doc_key", doc.key)
                    writer.add_json(doc.json)
                    added += 1
                    continue
                batch.append(doc)
                if len(batch) >= ANALYSE_BATCH:
                    added += self._add(writer, prepare(batch), cleared)
                    batch = []
            added += self._add(writer, prepare(batch), cleared)
        return added

    @staticmethod
    def _add(writer: tantivy.IndexWriter, prepared: list[PreparedDocument], cleared: set[str]) -> int:
        for doc in prepared:
            if doc.doc_type not in cleared:  # a document indexed again replaces the old one
                writer.delete_documents_by_term("doc_key", doc.key)
            writer.add_json(doc.json)
        return len(prepared)

    def delete(self, keys: Iterable[str]) -> None:
        self.index((), delete=keys)

    # -- reading

    def count(self) -> dict[str, int]:
        searcher = self._searcher()
        if searcher.num_docs == 0:
            return {}
        result = searcher.aggregate(_Q.all_query(), {"t": {"terms": {"field": "doc_type", "size": 1000}}})
        return {b["key"]: int(b["doc_count"]) for b in result["t"]["buckets"]}

    def kinds(self) -> dict[str, int]:
        """Documents per kind (the facet), over the whole index."""
        searcher = self._searcher()
        if searcher.num_docs == 0:
            return {}
        result = searcher.aggregate(_Q.all_query(), {"k": {"terms": {"field": "kind", "size": 1000}}})
        return {b["key"]: int(b["doc_count"]) for b in result["k"]["buckets"]}

    def search(self, request: SearchRequest) -> SearchPage:
        match = match_query(request.query, request.similar)
        if match is None:
            return SearchPage(0, {}, [])
        generation = self._current()
        searcher = generation.searcher
        scoped = not self._covers_all(generation, request.scope)
        full = _and(match, _filters(request, kinds=True, scoped=scoped))
        limit = max(1, request.limit)
        # Without a kind filter the facets' aggregation counts the same matches, so the total
        # comes from it and the search itself need not count (it may then skip non-competitive
        # matches).
        counted = not (request.facets and not request.kinds)
        if request.sort == "date":
            result = searcher.search(full, limit, count=counted, order_by_field="date", offset=request.offset,
                                     order=tantivy.Order.Desc)
        else:
            result = searcher.search(full, limit, count=counted, offset=request.offset)
        needles = _needles(request.query) if request.highlights else []
        hits = []
        for value, address in result.hits:
            doc = searcher.doc(address)
            values = doc.to_dict()
            hit = Hit(doc_type=_first(values, "doc_type", ""), id=int(_first(values, "id", 0)),
                      kind=_first(values, "kind", ""), title=_first(values, "title", ""),
                      unit_path=_first(values, "unit_path", ""), date=_first(values, "date"),
                      entities=[int(e) for e in values.get("entity", [])],
                      score=float(value) if request.sort != "date" else None)
            if needles:
                hit.highlights = _highlights(values, needles)
            hits.append(hit)
        facets: dict[str, int] = {}
        if counted:
            total = int(getattr(result, "count", 0) or 0)
        elif request.offset == 0 and len(hits) < limit:
            # Every match is on this page (an identifier, a rare name): count its kinds here
            # rather than run the aggregation over the same matches again.
            total = len(hits)
            for hit in hits:
                if hit.kind:
                    facets[hit.kind] = facets.get(hit.kind, 0) + 1
        else:
            facets, total = self._kinds_of(searcher, full)
        if request.facets and request.kinds:
            # Counted without the kind filter, so every kind's count shows beside the chosen one.
            facets, _all = self._kinds_of(searcher, _and(match, _filters(request, kinds=False, scoped=scoped)))
        return SearchPage(total, facets, hits)

    @staticmethod
    def _kinds_of(searcher: tantivy.Searcher, query: tantivy.Query) -> tuple[dict[str, int], int]:
        """Matches per kind, and all matches (those without a kind too)."""
        agg = searcher.aggregate(query, {"k": {"terms": {"field": "kind", "size": 1000, "missing": NO_KIND}}})
        buckets = {b["key"]: int(b["doc_count"]) for b in agg["k"]["buckets"]}
        total = sum(buckets.values()) + int(agg["k"].get("sum_other_doc_count", 0))
        buckets.pop(NO_KIND, None)
        return buckets, total

    def suggest(self, prefix: str, scope: Sequence[ScopeGrant], limit: int = 10) -> list[Suggestion]:
        key = analysis.suggest_key(prefix)
        if not key:
            return []
        searcher = self._searcher()
        if searcher.num_docs == 0:
            return []
        terms = searcher.terms_with_prefix("suggest", key, filter_query=scope_query(scope), limit=limit * 4)
        counts: dict[str, int] = {}
        for term, n in terms:
            if n <= 0:
                continue
            shown = term.split(analysis.SUGGEST_SEPARATOR, 1)[-1]
            counts[shown] = max(counts.get(shown, 0), int(n))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], len(item[0]), item[0]))
        return [Suggestion(text, n) for text, n in ranked[:limit]]


_BACKENDS: dict[str, TantivyBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def get_backend() -> TantivyBackend:
    """The backend for the configured folder (one object per folder and process)."""
    directory = os.fspath(settings.JINGWU_SEARCH_DIR)
    with _BACKENDS_LOCK:
        backend = _BACKENDS.get(directory)
        if backend is None:
            backend = _BACKENDS[directory] = TantivyBackend(Path(directory))
        return backend
