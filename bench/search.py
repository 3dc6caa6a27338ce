"""Benchmark: searching the synthetic province (jingwu.search) beside raw Tantivy, PostgreSQL and SQLite.

    .venv/bin/python bench/search.py                        # 1,000,000 entities (the target size)
    .venv/bin/python bench/search.py --entities 20000       # a small check
    .venv/bin/python bench/search.py --entities 10000000    # the large size

The province lives in its own folder (``--data``, default ``var/bench-search/e<N>``): a
SQLite database and the ground truth. When it holds no people yet it is made there with
``jingwu seed --people P`` (P = N / 3.38, the entities a synthetic person brings) and
``jingwu link``; a later run reuses it. Then, in this one run, on the same data:

- **indexing**: ``jingwu index rebuild`` with the workers it chooses (``--index-workers``) — documents/s,
  CPU seconds and the index's size;
- **query sets** drawn from the generator's ground truth with ``--query-seed``: ID number,
  phone (typed plain, spaced or +86), plate, two- and three-character names, traditional
  characters (the generator's own simplified→traditional map), pinyin (pypinyin, surnames
  read as surnames), a one-character typo (the generator's same-sound typo, searched with
  "include similar sounding"), an address fragment (road and number) and free text (a
  word of a person's record text);
- **latency** p50/p95/p99 per class, each query once after a warm-up pass, for:
  ``raw`` — the same Tantivy query already built, top 20 with the count and the stored
  hits read: the engine's floor; ``backend`` — TantivyBackend.search (scope, facets,
  highlights); ``selector`` — jingwu.search.selectors.search, what the page and the API
  call (parsing, scope, purpose check, the audit entry); ``http`` — ``GET /api/search``
  with a bearer token against a live ``jingwu serve --no-jobs`` (gunicorn, the production
  server: ``--http-workers`` synchronous worker processes, each warmed up; a connection a
  request, as a sync worker closes each);
  ``pg_trgm`` — PostgreSQL, a GIN trigram index, ``ILIKE '%q%'`` ranked by ``similarity``
  (the typo class: ``q <% doc`` ranked by ``word_similarity``);
  ``pg_fts`` — PostgreSQL full text, ``simple`` configuration over text cut one token per
  Han character (PostgreSQL has no Chinese parser), a phrase query ranked by ``ts_rank``;
  ``fts5`` — SQLite FTS5 with the trigram tokenizer (``MATCH`` a quoted phrase; ``LIKE``
  for shorter text, which the trigram index cannot serve);
- **relevance** of every engine against the ground truth: identifier classes top-1
  accuracy (the person, or the phone's or vehicle's own entity, first), name classes
  recall@10 (the entities of the people who bear the name — or its pinyin — found among
  the first ten, out of at most ten).

The application's database is the folder's SQLite file; the peers' PostgreSQL is the
server DATABASE_URL names when it names one, else the embedded one (jingwu.testing.postgres),
in a fresh database ``jingwu_bench_search``. The peers hold one row per indexed document
with the same text our index holds (names, pinyin, addresses, identifiers in normal form,
record text), and are given the query as typed. Prints one table, ours beside each peer
with the ratios; ``--out`` writes JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measure import PeakMemory, machine, postgres_database_url  # noqa: E402  (bench/ is on sys.path)

ENTITIES_PER_PERSON: Final = 3.38  # 20,000 people link into 67,606 entities
CITIES: Final = 3
PEER_DB: Final = "jingwu_bench_search"
PAGE: Final = 20
CLASSES: Final = ("id", "phone", "plate", "name2", "name3", "traditional", "pinyin", "typo", "address", "text")
CLASS_LABELS: Final = {"id": "ID number", "phone": "phone", "plate": "plate", "name2": "name, 2 characters",
                       "name3": "name, 3 characters", "traditional": "traditional-character name",
                       "pinyin": "pinyin", "typo": "typo (similar sounding)", "address": "address fragment",
                       "text": "free text"}
IDENTIFIER_CLASSES: Final = ("id", "phone", "plate")
NAME_CLASSES: Final = ("name2", "name3", "traditional", "pinyin", "typo")
VARIANT_CLASSES: Final = ("traditional", "pinyin", "typo")
ENGINES: Final = ("raw", "backend", "selector", "http", "pg_trgm", "pg_fts", "fts5")
ENGINE_LABELS: Final = {"raw": "raw Tantivy (floor)", "backend": "TantivyBackend.search", "selector": "ours: selectors",
                        "http": "ours: HTTP /api/search", "pg_trgm": "PostgreSQL pg_trgm",
                        "pg_fts": "PostgreSQL full text", "fts5": "SQLite FTS5 trigram"}
TARGET_P95_MS: Final = 50.0
TARGET_OVER_RAW: Final = 2.0
TARGET_VS_TRGM: Final = 10.0
TARGET_DOCS_PER_S: Final = 20_000
TARGET_RECALL: Final = 0.95
_HAN_OR_WORD: Final = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[0-9A-Za-z+]+")
_ROAD_NUMBER: Final = re.compile(r"街道(.+?(?:路|街|大街|大道|巷|胡同)\d+号)")


# --------------------------------------------------------------------------- the province


def _environment(data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(JINGWU_VAR_DIR=str(data), DATABASE_URL=f"sqlite:///{data / 'jingwu.sqlite3'}",
               JINGWU_SEARCH_DIR=str(data / "search"), DJANGO_SETTINGS_MODULE="jingwu.settings",
               JINGWU_LOG_LEVEL="ERROR", XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    env.pop("JINGWU_JOBS_IMMEDIATE", None)
    return env


def province_make(data: Path, people: int, seed: int) -> float:
    """Seed and link the province in ``data`` unless it is there; seconds spent."""
    env = _environment(data)
    jingwu = str(ROOT / ".venv" / "bin" / "jingwu")
    started = time.perf_counter()
    for command in ([jingwu, "migrate", "--no-input", "-v", "0"],
                    [jingwu, "seed", "--people", str(people), "--seed", str(seed), "--cities", str(CITIES), "-v", "0"],
                    [jingwu, "link"]):
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _entities_in_database(data: Path) -> int:
    path = data / "jingwu.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            linked = db.execute("SELECT COUNT(*) FROM records_entity").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
    return int(linked)


# --------------------------------------------------------------------------- query sets


@dataclass
class Query:
    cls: str
    text: str
    similar: bool = False
    person: int = -1
    expected_top: list[int] = field(default_factory=list)  # identifier classes: any of these first
    relevant: list[int] = field(default_factory=list)  # name classes: entities bearing the name
    same_sound: bool = False  # a typo by a same-sound character (else any character: another name)
    # Other-sound typos: people whose name differs from the typed one in one given-name
    # character, the surname and length kept — as alike to the query as the intended person.
    lookalikes: int = 0


def pinyin_of(name: str) -> str:
    """The name as typed in pinyin: pypinyin per character, the surname read as a surname."""
    from pypinyin import Style, lazy_pinyin

    from jingwu.records.linkage.surnames import COMPOUND_SURNAMES, SINGLE_SURNAME_READINGS

    compound = COMPOUND_SURNAMES.get(name[:2]) if len(name) >= 3 else None
    if compound is not None:
        head, rest = list(compound), name[2:]
    else:
        reading = SINGLE_SURNAME_READINGS.get(name[0])
        head, rest = ([reading], name[1:]) if reading else ([], name)
    return "".join([*head, *lazy_pinyin(rest, style=Style.NORMAL)]).lower()


def _phone_typed(rng: random.Random, phone: str) -> str:
    style = rng.randrange(3)
    if style == 0:
        return phone
    if style == 1:
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return f"+86-{phone[:3]}-{phone[3:7]}-{phone[7:]}"


def draw_queries(path: Path, per_class: int, seed: int) -> tuple[list[Query], dict[str, Any]]:
    """Query sets drawn from the ground truth (deterministic for a seed), their expected
    entities resolved through the linked database."""
    from jingwu.records.models import Entity
    from jingwu.search import analysis, registry
    from jingwu.synthetic import names as synthetic_names
    from jingwu.synthetic.ground_truth import read_people

    rng = random.Random(seed)
    people = list(read_people(path))
    order = list(range(len(people)))
    rng.shuffle(order)
    by_name: dict[str, list[int]] = defaultdict(list)
    for p in people:
        by_name[p.name].append(p.person)
    pinyin_cache: dict[str, str] = {}

    def pinyin_key(name: str) -> str:
        if name not in pinyin_cache:
            pinyin_cache[name] = pinyin_of(name)
        return pinyin_cache[name]

    queries: list[Query] = []

    def take(cls: str, make: Callable[[Any], Query | None]) -> None:
        n = 0
        rng.shuffle(order)  # each class its own people
        for i in order:
            if n >= per_class:
                return
            q = make(people[i])
            if q is not None:
                q.cls, q.person = cls, people[i].person
                queries.append(q)
                n += 1

    take("id", lambda p: Query("", p.id_number) if p.id_number else None)
    take("phone", lambda p: Query("", _phone_typed(rng, rng.choice(p.phones))) if p.phones else None)
    take("plate", lambda p: Query("", rng.choice(p.plates)) if p.plates else None)
    take("name2", lambda p: Query("", p.name) if len(p.name) == 2 else None)
    take("name3", lambda p: Query("", p.name) if len(p.name) == 3 else None)

    def traditional(p: Any) -> Query | None:
        text = synthetic_names.to_traditional(p.name)
        return Query("", text) if text != p.name else None

    take("traditional", traditional)
    take("pinyin", lambda p: Query("", pinyin_key(p.name)))

    by_shape: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in people:
        by_shape[(synthetic_names.split_name(p.name)[0], len(p.name))][p.name] += 1

    def lookalikes(text: str) -> int:
        surname = synthetic_names.split_name(text)[0]
        return sum(n for name, n in by_shape[(surname, len(text))].items()
                   if sum(a != b for a, b in zip(name, text, strict=True)) == 1)

    def typo(p: Any) -> Query | None:
        text = synthetic_names.name_with_typo(rng, p.name)
        if text == p.name:
            return None
        same = pinyin_key(text) == pinyin_key(p.name)
        return Query("", text, similar=True, same_sound=same, lookalikes=0 if same else lookalikes(text))

    take("typo", typo)

    def address(p: Any) -> Query | None:
        m = _ROAD_NUMBER.search(p.address)
        return Query("", m.group(1)) if m else None

    take("address", address)

    # Which entity each chosen person (and each bearer of a chosen name) became.
    wanted: set[int] = {q.person for q in queries}
    for q in queries:
        if q.cls in ("name2", "name3", "traditional", "typo"):
            wanted.update(by_name[people[q.person].name])
    pinyin_wanted = {q.text for q in queries if q.cls == "pinyin"}
    by_pinyin: dict[str, list[int]] = defaultdict(list)
    if pinyin_wanted:
        for p in people:
            key = pinyin_key(p.name)
            if key in pinyin_wanted:
                by_pinyin[key].append(p.person)
                wanted.add(p.person)
    entity_of = _person_entities([people[i] for i in sorted(wanted)])
    phones = {"+86" + ph for q in queries if q.cls == "phone" for ph in people[q.person].phones}
    plates = {q.text for q in queries if q.cls == "plate"}
    own = dict(Entity.objects.filter(merged_into__isnull=True, kind__in=["phone", "vehicle"],
                                     key__in=sorted(phones | plates)).values_list("key", "pk"))
    for q in queries:
        p = people[q.person]
        mine = [entity_of[p.person]] if p.person in entity_of else []
        if q.cls == "id":
            q.expected_top = mine
        elif q.cls == "phone":
            digits = re.sub(r"\D", "", q.text)[-11:]
            q.expected_top = mine + ([own["+86" + digits]] if "+86" + digits in own else [])
        elif q.cls == "plate":
            q.expected_top = mine + ([own[q.text]] if q.text in own else [])
        elif q.cls in ("name2", "name3", "traditional", "typo"):
            q.relevant = sorted({entity_of[x] for x in by_name[p.name] if x in entity_of})
        elif q.cls == "pinyin":
            q.relevant = sorted({entity_of[x] for x in by_pinyin[q.text] if x in entity_of})

    # Free text: a word of a chosen person's record text, as the index keeps it.
    kind = registry.doc_type("records.entity")
    text_people = [people[i] for i in order[: per_class * 20]]
    text_entities = _person_entities(text_people)
    docs = {d.id: d for d in kind.build(sorted(set(text_entities.values())))}
    n = 0
    for p in text_people:
        if n >= per_class:
            break
        doc = docs.get(text_entities.get(p.person, -1))
        texts = [t for t in (doc.text if doc else []) if t]
        if not texts:
            continue
        words = [w for w in analysis.words(analysis.simplified(rng.choice(texts)))
                 if len(w) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in w)]
        if not words:
            continue
        queries.append(Query("text", rng.choice(words), person=p.person))
        n += 1
    info = {"people_in_ground_truth": len(people), "persons_resolved": len(entity_of)}
    return queries, info


def _person_entities(persons: Sequence[Any]) -> dict[int, int]:
    """person number → the live person entity most of their records belong to."""
    from jingwu.records.models import EntityRecord

    owner: dict[tuple[str, str], int] = {(r.source, r.key): p.person for p in persons for r in p.records}
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, key in owner:
        by_source[source].append(key)
    votes: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for source, keys in by_source.items():
        for at in range(0, len(keys), 500):
            rows = EntityRecord.objects.filter(
                kind="person", entity__merged_into__isnull=True, record__source__key=source,
                record__source_key__in=keys[at:at + 500]).values_list("record__source_key", "entity_id")
            for key, entity in rows:
                votes[owner[(source, key)]][entity] += 1
    return {person: max(v.items(), key=lambda item: (item[1], -item[0]))[0] for person, v in votes.items()}


# --------------------------------------------------------------------------- the engines


class Engine:
    name = ""
    timeouts = 0  # queries stopped at --peer-timeout (their time counts as the timeout)

    def prepare(self, query: Query) -> Any:  # untimed: what the engine's caller has at hand
        return query

    def warm(self, prepared: Sequence[Any]) -> None:  # untimed: the warm-up pass
        for p in prepared:
            self.run(p)

    def cpu_seconds(self) -> float | None:  # CPU time spent answering so far (None: not measurable)
        return time.process_time()

    def run(self, prepared: Any) -> list[int]:  # timed: entity ids in rank order
        raise NotImplementedError

    def close(self) -> None:
        pass


class RawTantivy(Engine):
    """The same Tantivy query our backend builds, without scope, facets or highlights."""

    name = "raw"

    def __init__(self) -> None:
        from jingwu.search.backend import get_backend

        self.searcher = get_backend()._searcher()

    def prepare(self, query: Query) -> Any:
        from jingwu.search import query as query_parser
        from jingwu.search.backend import match_query

        return match_query(query_parser.parse(query.text), query.similar)

    def run(self, prepared: Any) -> list[int]:
        if prepared is None:
            return []
        result = self.searcher.search(prepared, PAGE, count=True)
        return [int(self.searcher.doc(address)["id"][0]) for _score, address in result.hits]


class Backend(Engine):
    name = "backend"

    def __init__(self, scope: Any) -> None:
        from jingwu.search.backend import get_backend

        self.backend, self.scope = get_backend(), scope

    def prepare(self, query: Query) -> Any:
        from jingwu.search import query as query_parser
        from jingwu.search.backend import SearchRequest

        return SearchRequest(query=query_parser.parse(query.text), scope=self.scope, similar=query.similar,
                             limit=PAGE)

    def run(self, prepared: Any) -> list[int]:
        return [h.entities[0] if h.entities else h.id for h in self.backend.search(prepared).hits]


class Selector(Engine):
    name = "selector"

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def run(self, prepared: Any) -> list[int]:
        from jingwu.search import selectors

        found = selectors.search(self.actor, prepared.text, similar=prepared.similar, page_size=PAGE)
        return [r.entity_id if r.entity_id is not None else r.id for r in found.results]


class Http(Engine):
    name = "http"

    def __init__(self, port: int, token: str, server: subprocess.Popen[bytes], workers: int) -> None:
        self.port, self.token, self.server, self.workers = port, token, server, workers

    def warm(self, prepared: Sequence[Any]) -> None:
        # As many at once as there are workers, so each worker (a process of its own, loading
        # the application, the index and the analysers on its first request) is warmed.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(self.run, [p for p in prepared for _ in range(self.workers)]))

    def cpu_seconds(self) -> float | None:
        """The server's CPU time: gunicorn's worker processes (children of the master)."""
        try:
            children = Path(f"/proc/{self.server.pid}/task/{self.server.pid}/children").read_text().split()
            ticks = 0
            for pid in children:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            return None
        return ticks / os.sysconf("SC_CLK_TCK")

    def prepare(self, query: Query) -> Any:
        params = {"q": query.text, "page_size": str(PAGE)}
        if query.similar:
            params["similar"] = "true"
        return "/api/search?" + urllib.parse.urlencode(params)

    def run(self, prepared: Any) -> list[int]:
        # A connection a request: gunicorn's synchronous workers close each one anyway.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", prepared, headers={"Authorization": f"Bearer {self.token}", "Connection": "close"})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"GET {prepared}: {response.status} {body[:300]!r}")
        return [r["entity_id"] if r["entity_id"] is not None else r["id"] for r in json.loads(body)["results"]]


class PgTrigram(Engine):
    name = "pg_trgm"

    def cpu_seconds(self) -> float | None:  # spent in the server, not here
        return None

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def run(self, prepared: Any) -> list[int]:
        import psycopg

        try:
            return self._run(prepared)
        except psycopg.errors.QueryCanceled:
            self.timeouts += 1
            return []

    def _run(self, prepared: Any) -> list[int]:
        with self.conn.cursor() as cur:
            if prepared.similar:
                cur.execute("SELECT id FROM peer_doc WHERE %s <%% doc ORDER BY word_similarity(%s, doc) DESC, id "
                            "LIMIT %s", (prepared.text, prepared.text, PAGE))
            else:
                cur.execute("SELECT id FROM peer_doc WHERE doc ILIKE %s ORDER BY similarity(doc, %s) DESC, id "
                            "LIMIT %s", ("%" + _like_escape(prepared.text) + "%", prepared.text, PAGE))
            return [row[0] for row in cur.fetchall()]


class PgFullText(Engine):
    name = "pg_fts"

    def cpu_seconds(self) -> float | None:  # spent in the server, not here
        return None

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def prepare(self, query: Query) -> Any:
        return spaced(query.text.lower())

    def run(self, prepared: Any) -> list[int]:
        import psycopg

        if not prepared:
            return []
        try:
            return self._run(prepared)
        except psycopg.errors.QueryCanceled:
            self.timeouts += 1
            return []

    def _run(self, prepared: Any) -> list[int]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT id FROM peer_doc, phraseto_tsquery('simple', %s) q WHERE tsv @@ q "
                        "ORDER BY ts_rank(tsv, q) DESC, id LIMIT %s", (prepared, PAGE))
            return [row[0] for row in cur.fetchall()]


class Fts5Trigram(Engine):
    name = "fts5"

    def __init__(self, db: sqlite3.Connection, timeout: float) -> None:
        self.db, self.timeout, self.deadline = db, timeout, math.inf
        db.set_progress_handler(lambda: int(time.perf_counter() > self.deadline), 10_000)

    def prepare(self, query: Query) -> Any:
        text = query.text
        if len(text) >= 3:
            return ("SELECT id FROM peer_doc WHERE peer_doc MATCH ? ORDER BY rank LIMIT ?",
                    ('"' + text.replace('"', '""') + '"', PAGE))
        return ("SELECT id FROM peer_doc WHERE doc LIKE ? ESCAPE '\\' LIMIT ?",
                ("%" + _like_escape(text) + "%", PAGE))

    def run(self, prepared: Any) -> list[int]:
        sql, params = prepared
        self.deadline = time.perf_counter() + self.timeout
        try:
            return [row[0] for row in self.db.execute(sql, params)]
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            self.timeouts += 1
            return []


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def spaced(text: str) -> str:
    """One token per Han character, Latin and digit runs whole: what a parser for
    Chinese would give PostgreSQL's ``simple`` configuration."""
    return " ".join(_HAN_OR_WORD.findall(text))


# --------------------------------------------------------------------------- the peers' data


def peer_rows() -> Iterator[tuple[int, str, str]]:
    """(entity id, kind, text) for every indexed document: the text our index holds."""
    from jingwu.search import analysis, registry

    kind = registry.doc_type("records.entity")
    for ids in kind.all_ids():
        docs = list(kind.build(ids))
        for a in analysis.analyse(docs):
            d = a.source
            idents = [t.split(":", 1)[1] for t in a.identifiers]
            parts = [*a.names, *a.name_pinyin, *a.name_initials, *a.addresses, *idents, *a.text]
            yield d.id, d.kind, " ".join(p for p in parts if p)


def _one_row(conn: Any, sql: str) -> tuple[Any, ...]:
    row = conn.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {sql!r}")
    return tuple(row)


def peers_load(pg_url: str, sqlite_path: Path) -> dict[str, Any]:
    """Load the peer tables (PostgreSQL and SQLite) and build their indexes; seconds for each."""
    import psycopg

    rows = list(peer_rows())
    out: dict[str, Any] = {"rows": len(rows)}
    started = time.perf_counter()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.execute("DROP TABLE IF EXISTS peer_doc")
        conn.execute("CREATE TABLE peer_doc (id bigint PRIMARY KEY, kind text NOT NULL, doc text NOT NULL, "
                     "spaced text NOT NULL, "
                     "tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', spaced)) STORED)")
        with conn.cursor() as cur, cur.copy("COPY peer_doc (id, kind, doc, spaced) FROM STDIN") as copy:
            for entity, kind, text in rows:
                copy.write_row((entity, kind, text, spaced(text.lower())))
        loaded = time.perf_counter()
        conn.execute("CREATE INDEX peer_doc_trgm ON peer_doc USING gin (doc gin_trgm_ops)")
        trgm = time.perf_counter()
        conn.execute("CREATE INDEX peer_doc_tsv ON peer_doc USING gin (tsv)")
        fts = time.perf_counter()
        conn.execute("VACUUM ANALYZE peer_doc")
        size = _one_row(conn, "SELECT pg_total_relation_size('peer_doc'), pg_relation_size('peer_doc_trgm'), "
                               "pg_relation_size('peer_doc_tsv')")
        ctype = _one_row(conn, "SELECT datctype FROM pg_database WHERE datname = current_database()")[0]
        version = _one_row(conn, "SHOW server_version")[0]
    out["postgres"] = {"version": version, "ctype": ctype, "load_s": loaded - started, "trgm_index_s": trgm - loaded,
                       "fts_index_s": fts - trgm, "table_bytes": size[0], "trgm_index_bytes": size[1],
                       "fts_index_bytes": size[2]}
    started = time.perf_counter()
    sqlite_path.unlink(missing_ok=True)
    with sqlite3.connect(sqlite_path) as db:
        db.execute("CREATE VIRTUAL TABLE peer_doc USING fts5(doc, id UNINDEXED, kind UNINDEXED, "
                   "tokenize = 'trigram')")
        db.executemany("INSERT INTO peer_doc (doc, id, kind) VALUES (?, ?, ?)",
                       ((text, entity, kind) for entity, kind, text in rows))
        db.commit()
    out["sqlite"] = {"version": sqlite3.sqlite_version, "load_and_index_s": time.perf_counter() - started,
                     "bytes": sqlite_path.stat().st_size}
    return out


# --------------------------------------------------------------------------- measuring


@dataclass
class ClassResult:
    queries: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    top1: float | None = None
    recall10: float | None = None
    recall10_same_sound: float | None = None  # typo class: same-sound typos only
    same_sound: int = 0
    # Typo class: the other-sound typos' recall@10 and its chance ceiling — the query tells
    # the intended person from their look-alikes by nothing, so ten places hold them at
    # best ten in `lookalikes`: the mean of min(1, 10 / lookalikes).
    recall10_other_sound: float | None = None
    other_sound_ceiling: float | None = None
    other_sound_lookalikes_median: float | None = None
    empty: int = 0  # queries that found nothing
    timeouts: int = 0  # queries stopped at --peer-timeout (counted at the time they ran)
    cpu_ms: float | None = None  # CPU time a query, mean (the server's for HTTP; None for peers)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure_engine(engine: Engine, queries: Sequence[Query], warmup: int) -> tuple[dict[str, ClassResult],
                                                                                 list[dict[str, Any]]]:
    prepared = [engine.prepare(q) for q in queries]
    engine.warm(prepared[::max(1, len(prepared) // max(1, warmup))][:warmup])
    times: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, float | None] = defaultdict(float)
    hits: dict[str, list[list[int]]] = defaultdict(list)
    misses: list[dict[str, Any]] = []
    timeouts: dict[str, int] = defaultdict(int)
    for q, p in zip(queries, prepared, strict=True):
        before = engine.timeouts
        cpu_before = engine.cpu_seconds()
        started = time.perf_counter()
        found = engine.run(p)
        times[q.cls].append((time.perf_counter() - started) * 1000)
        cpu_after = engine.cpu_seconds()
        spent = cpu[q.cls]
        cpu[q.cls] = None if cpu_before is None or cpu_after is None or spent is None else \
            spent + cpu_after - cpu_before
        hits[q.cls].append(found)
        timeouts[q.cls] += engine.timeouts - before
    out = {}
    for cls, values in times.items():
        r = ClassResult(len(values), percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99),
                        empty=sum(1 for h in hits[cls] if not h), timeouts=timeouts[cls],
                        cpu_ms=None if (c := cpu[cls]) is None else c * 1000 / len(values))
        class_queries = [q for q in queries if q.cls == cls]
        if cls in IDENTIFIER_CLASSES:
            good = [bool(h) and h[0] in q.expected_top for q, h in zip(class_queries, hits[cls], strict=True)]
            r.top1 = sum(good) / len(good)
            misses.extend({"engine": engine.name, "class": cls, "query": q.text, "expected_any_of": q.expected_top,
                           "got": h[:3]} for q, h, ok in zip(class_queries, hits[cls], good, strict=True) if not ok)
        elif cls in NAME_CLASSES:
            recalls = []
            for q, h in zip(class_queries, hits[cls], strict=True):
                if not q.relevant:
                    continue
                in_top = len(set(h[:10]) & set(q.relevant))
                recall = in_top / min(10, len(q.relevant))
                recalls.append(recall)
                if recall < 1.0:
                    misses.append({"engine": engine.name, "class": cls, "query": q.text, "similar": q.similar,
                                   "same_sound": q.same_sound, "person": q.person,
                                   "relevant": len(q.relevant), "found_in_top10": in_top,
                                   "missing": [e for e in q.relevant if e not in h[:10]][:3], "got": h[:10]})
            r.recall10 = statistics.fmean(recalls) if recalls else None
            if cls == "typo":
                sound = [x for q, x in zip([q for q in class_queries if q.relevant], recalls, strict=True)
                         if q.same_sound]
                r.same_sound = len(sound)
                r.recall10_same_sound = statistics.fmean(sound) if sound else None
                other = [(q, x) for q, x in zip([q for q in class_queries if q.relevant], recalls, strict=True)
                         if not q.same_sound]
                if other:
                    r.recall10_other_sound = statistics.fmean(x for _q, x in other)
                    r.other_sound_ceiling = statistics.fmean(min(1.0, 10 / max(1, q.lookalikes)) for q, _x in other)
                    r.other_sound_lookalikes_median = statistics.median(q.lookalikes for q, _x in other)
        out[cls] = r
    return out, misses


# --------------------------------------------------------------------------- the HTTP server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_start(data: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = _environment(data)
    log = open(data / "bench-server.log", "wb")  # noqa: SIM115 - the server holds it until stopped
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "jingwu"), "serve", f"127.0.0.1:{port}", "--no-jobs",
                                "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped: see {data / 'bench-server.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the server did not start within 60 s")


# --------------------------------------------------------------------------- main


def _cpu_seconds() -> float:
    """This process's CPU time and its finished children's (a rebuild's workers)."""
    import resource

    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=1_000_000, help="province size in entities (1000000)")
    parser.add_argument("--data", type=Path, default=None, help="the province's folder (var/bench-search/e<N>)")
    parser.add_argument("--seed", type=int, default=2017, help="the generator's seed (2017)")
    parser.add_argument("--queries", type=int, default=200, help="queries per class (200)")
    parser.add_argument("--query-seed", type=int, default=4, help="seed drawing the query sets (4)")
    parser.add_argument("--warmup", type=int, default=20, help="queries run untimed first, per engine (20)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"which to run ({','.join(ENGINES)})")
    parser.add_argument("--peer-timeout", type=float, default=10.0,
                        help="seconds a peer's query may run before it is stopped and counted as such (10)")
    parser.add_argument("--skip-rebuild", action="store_true", help="keep the index as it is (no indexing figure)")
    parser.add_argument("--index-workers", type=int, default=None,
                        help="processes building documents (default: as `jingwu index rebuild` chooses)")
    parser.add_argument("--http-workers", type=int, default=2,
                        help="gunicorn worker processes for the http engine (2: one a core here)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engines {unknown}; known: {', '.join(ENGINES)}")
    data = (args.data or ROOT / "var" / "bench-search" / f"e{args.entities}").resolve()
    peer_server = os.environ.get("DATABASE_URL", "")  # a PostgreSQL server named here hosts the peers
    data.mkdir(parents=True, exist_ok=True)
    people = max(100, round(args.entities / ENTITIES_PER_PERSON))
    report: dict[str, Any] = {"machine": machine(), "entities_asked": args.entities, "people_seeded": people,
                              "query_seed": args.query_seed, "queries_per_class": args.queries,
                              "command": " ".join([Path(sys.executable).name, *sys.argv])}
    if _entities_in_database(data) == 0:
        report["province_make_s"] = province_make(data, people, args.seed)
    os.environ.update({k: v for k, v in _environment(data).items() if k.startswith(("JINGWU_", "DATABASE_URL",
                                                                                    "DJANGO_"))})
    os.environ.pop("JINGWU_JOBS_IMMEDIATE", None)
    import django

    django.setup()
    from django.conf import settings

    from jingwu.core import services as core_services
    from jingwu.core import tokens
    from jingwu.core.models import Unit, User
    from jingwu.records.models import Entity
    from jingwu.search import services
    from jingwu.search.selectors import scope_for
    from jingwu.synthetic.ground_truth import ground_truth_path

    entities = Entity.objects.filter(merged_into__isnull=True).count()
    report["entities"] = entities
    print(f"Province: {entities:,} live entities in {data}", flush=True)

    # Indexing.
    if not args.skip_rebuild:
        from jingwu.search.management.commands.index import PARALLEL_FROM

        workers = args.index_workers or (min(2, os.cpu_count() or 1) if entities >= PARALLEL_FROM else 1)
        with PeakMemory() as memory:
            cpu, started = _cpu_seconds(), time.perf_counter()
            rebuilt = services.index_rebuild(workers=workers)
            seconds = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu
        report["indexing"] = {"documents": rebuilt.total, "seconds": seconds, "docs_per_s": rebuilt.total / seconds,
                              "peak_rss": memory.peak, "workers": workers, "cpu_s": cpu}
    report.setdefault("indexing", {})["index_bytes"] = _folder_bytes(Path(settings.JINGWU_SEARCH_DIR))
    print(f"Indexing: {report['indexing']}", flush=True)

    # The actor: an investigator of the whole province, purpose stated, and a token.
    province = Unit.objects.get(code="370000")
    actor = User.objects.filter(username="bench_search").first()
    if actor is None:
        actor = core_services.user_create(actor=None, username="bench_search", password=os.urandom(16).hex(),
                                          display_name="bench_search", home_unit=province)
        core_services.role_grant(actor=None, user=actor, role="investigator", unit=province)
    core_services.purpose_set(actor=actor, text="检索性能基准测试", ref_type="case", ref_id="BENCH-0004", hours=12)
    token = tokens.token_create(actor=None, user=actor, scopes=["read"], days=1, name="bench/search.py").secret

    queries, info = draw_queries(ground_truth_path(args.seed, CITIES, data / "synthetic"), args.queries,
                                 args.query_seed)
    report["query_info"] = info
    report["query_examples"] = {cls: [q.text for q in queries if q.cls == cls][:5] for cls in CLASSES}
    print(f"Queries: {len(queries)} ({info})", flush=True)

    peer_info: dict[str, Any] = {}
    if {"pg_trgm", "pg_fts", "fts5"} & set(engines):
        from jingwu.testing.postgres import server_url

        app_database = os.environ["DATABASE_URL"]
        if peer_server.startswith(("postgres://", "postgresql://")):
            os.environ["DATABASE_URL"] = peer_server
        else:
            server_url(keep_running=False)  # an embedded server started here stops with this process
        pg_url = postgres_database_url(PEER_DB).replace("postgres://", "postgresql://", 1)
        os.environ["DATABASE_URL"] = app_database
        peer_info = peers_load(pg_url, data / "peer-fts5.sqlite3")
        report["peers"] = peer_info
        print(f"Peers loaded: {peer_info}", flush=True)

    results: dict[str, dict[str, ClassResult]] = {}
    misses: list[dict[str, Any]] = []
    server = None
    try:
        for name in engines:
            engine: Engine
            if name == "raw":
                engine = RawTantivy()
            elif name == "backend":
                engine = Backend(scope_for(actor))
            elif name == "selector":
                engine = Selector(actor)
            elif name == "http":
                port = _free_port()
                server = server_start(data, port, args.http_workers)
                engine = Http(port, token, server, args.http_workers)
            elif name in ("pg_trgm", "pg_fts"):
                import psycopg

                conn = psycopg.connect(pg_url, autocommit=True)
                conn.execute(f"SET statement_timeout = {int(args.peer_timeout * 1000)}")
                engine = PgTrigram(conn) if name == "pg_trgm" else PgFullText(conn)
            else:
                engine = Fts5Trigram(sqlite3.connect(data / "peer-fts5.sqlite3"), args.peer_timeout)
            started = time.perf_counter()
            results[name], engine_misses = measure_engine(engine, queries, args.warmup)
            misses.extend(engine_misses)
            engine.close()
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
                server = None
            print(f"  {ENGINE_LABELS[name]}: {time.perf_counter() - started:.1f} s", flush=True)
            if args.out:  # what is measured so far survives a run stopped before the end
                partial = {n: {c: asdict(r) for c, r in by_class.items()} for n, by_class in results.items()}
                args.out.write_text(json.dumps({**report, "results": partial, "misses": misses, "partial": True},
                                               ensure_ascii=False, indent=1))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    report["results"] = {name: {cls: asdict(r) for cls, r in by_class.items()} for name, by_class in results.items()}
    report["misses"] = misses
    report["load_average"] = os.getloadavg()
    print_table(report, results)
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
        print(f"JSON: {args.out}")
    return 0


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def print_table(report: dict[str, Any], results: dict[str, dict[str, ClassResult]]) -> None:
    idx = report.get("indexing", {})
    print()
    print(f"Search benchmark: {report['entities']:,} live entities "
          f"({report['query_info']['people_in_ground_truth']:,} people), "
          f"{report['queries_per_class']} queries a class, query seed {report['query_seed']}.")
    print(f"Machine: {report['machine']}; load average {report['load_average'][0]:.1f}")
    if "docs_per_s" in idx:
        workers = idx.get("workers", 1)
        print(f"Indexing (jingwu index rebuild, {workers} worker{'s' if workers > 1 else ''}): {idx['documents']:,} "
              f"documents in {idx['seconds']:.1f} s = {idx['docs_per_s']:,.0f} docs/s (target ≥ "
              f"{TARGET_DOCS_PER_S:,}), {idx.get('cpu_s', math.nan):.1f} CPU s; index "
              f"{idx['index_bytes'] / 2**20:.1f} MiB; peak RSS {idx['peak_rss'] / 2**20:.0f} MiB")
    peers = report.get("peers")
    if peers:
        pg, lite = peers["postgres"], peers["sqlite"]
        print(f"Peers: PostgreSQL {pg['version']} (ctype {pg['ctype']}): COPY {pg['load_s']:.1f} s, trigram GIN "
              f"{pg['trgm_index_s']:.1f} s ({pg['trgm_index_bytes'] / 2**20:.1f} MiB), full-text GIN "
              f"{pg['fts_index_s']:.1f} s ({pg['fts_index_bytes'] / 2**20:.1f} MiB); SQLite {lite['version']} FTS5 "
              f"trigram {lite['load_and_index_s']:.1f} s ({lite['bytes'] / 2**20:.1f} MiB)")
    names = list(results)
    print()
    print("p95 latency, ms (p50 / p99 in the JSON); ratios: selector p95 / raw p95, peer p95 / selector p95;")
    print("sel-raw: what the selector layer adds to the engine at p50, ms")
    head = f"{'class':<28}" + "".join(f"{n:>10}" for n in names)
    if "selector" in results and "raw" in results:
        head += f"{'sel/raw':>9}{'sel-raw':>9}"
    peers_here = [p for p in ("pg_trgm", "pg_fts", "fts5") if p in results and "selector" in results]
    head += "".join(f"{p + '/sel':>12}" for p in peers_here)
    print(head)
    for cls in CLASSES:
        if not any(cls in results[n] for n in names):
            continue
        row = f"{CLASS_LABELS[cls]:<28}" + "".join(f"{_fmt(results[n][cls].p95_ms, 2):>10}" for n in names)
        sel = results.get("selector", {}).get(cls)
        if sel is not None and "raw" in results:
            raw = results["raw"][cls]
            row += f"{sel.p95_ms / raw.p95_ms:>9.1f}{sel.p50_ms - raw.p50_ms:>9.1f}"
        for p in peers_here:
            row += f"{results[p][cls].p95_ms / sel.p95_ms:>12.1f}" if sel is not None else f"{'':>12}"
        print(row)
    print()
    print("p50 latency, ms, and in brackets CPU ms a query (mean; HTTP: the server's workers; — unmeasured);")
    print("sel/raw at p50 and p95")
    head = f"{'class':<28}" + "".join(f"{n:>18}" for n in names)
    if "selector" in results and "raw" in results:
        head += f"{'p50 sel/raw':>13}{'p95 sel/raw':>13}"
    print(head)
    for cls in CLASSES:
        if not any(cls in results[n] for n in names):
            continue
        row = f"{CLASS_LABELS[cls]:<28}"
        for n in names:
            r = results[n].get(cls)
            row += f"{'':>18}" if r is None else f"{_fmt(r.p50_ms, 2) + ' (' + _fmt(r.cpu_ms, 2) + ')':>18}"
        sel = results.get("selector", {}).get(cls)
        if sel is not None and "raw" in results and cls in results["raw"]:
            raw = results["raw"][cls]
            row += f"{sel.p50_ms / raw.p50_ms:>13.1f}{sel.p95_ms / raw.p95_ms:>13.1f}"
        print(row)
    stopped = {f"{n}/{cls}": r.timeouts for n, by_class in results.items() for cls, r in by_class.items()
               if r.timeouts}
    if stopped:
        print(f"Queries stopped at --peer-timeout (their latency is the timeout): {stopped}")
    print()
    print("Relevance: identifier classes top-1 accuracy, name classes recall@10")
    print(f"{'class':<28}" + "".join(f"{n:>10}" for n in names))
    for cls in (*IDENTIFIER_CLASSES, *NAME_CLASSES):
        row = f"{CLASS_LABELS[cls]:<28}"
        for n in names:
            r = results[n].get(cls)
            value = None if r is None else r.top1 if cls in IDENTIFIER_CLASSES else r.recall10
            row += f"{_fmt(value, 3):>10}"
        print(row)
    typo = [(n, results[n]["typo"]) for n in names if "typo" in results[n]]
    if typo:
        print(f"{'  typo, same-sound only':<28}" + "".join(f"{_fmt(r.recall10_same_sound, 3):>10}" for _n, r in typo)
              + f"   ({typo[0][1].same_sound} of {typo[0][1].queries} typos are same-sound)")
        first = typo[0][1]
        print(f"{'  typo, other-sound only':<28}" + "".join(f"{_fmt(r.recall10_other_sound, 3):>10}"
                                                          for _n, r in typo)
              + f"   (chance ceiling {_fmt(first.other_sound_ceiling, 3)}: median "
                f"{_fmt(first.other_sound_lookalikes_median, 0)} people one given-name character away)")
    ours = results.get("selector")
    if ours:
        print()
        worst = max(ours.values(), key=lambda r: r.p95_ms)
        print(f"Targets at 1M: p95 ≤ {TARGET_P95_MS:.0f} ms per class (selector worst {worst.p95_ms:.1f} ms); "
              f"≤ {TARGET_OVER_RAW:.0f}× raw; ≥ {TARGET_VS_TRGM:.0f}× faster than pg_trgm at p95; "
              f"identifier top-1 = 1; name-variant recall@10 ≥ {TARGET_RECALL}")


if __name__ == "__main__":
    raise SystemExit(main())
