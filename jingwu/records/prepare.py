"""Rows made ready to store: normalised, encoded as JSON, hashed and placed in a unit.

This is the CPU-bound half of an import and it touches no database, so for a big file it
runs in a worker process (:func:`worker_main`) while the importing process writes the
chunks it sends. Nothing here imports Django: a spawned worker imports only this module,
the readers, the mapping and rows.py.

A prepared chunk holds plain tuples, cheap to pickle between processes:

- a good row: (row number, source key, kind, payload JSON, fields JSON, content hash,
  unit id, warning codes) — the fields JSON is the canonical JSON of the fields that have
  a value, exactly what rows.content_hash hashes;
- a bad row: (row number, cells, issues) — cells and issues as they can be stored (NUL
  and unpaired surrogates, which PostgreSQL's jsonb refuses, replaced by U+FFFD).
"""

from __future__ import annotations

import hashlib
import json
import re
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, Final

from jingwu.records import readers
from jingwu.records.mapping import Mapping
from jingwu.records.rows import BadRow, FieldIssue, error_issue, normalize_row
from jingwu.records.units import UnitResolver

__all__ = [
    "KIND_CELL",
    "BadItem",
    "GoodItem",
    "PreparedChunk",
    "prepare_chunks",
    "prepare_row",
    "storable",
    "worker_main",
]

# FollowTheMoney rows say their kind; a quarantined one keeps it under this cell, which no
# column of a source file can be confused with, so a retry knows what it was.
KIND_CELL: Final = "@kind"

GoodItem = tuple[int, str, str, str, str, str, int | None, tuple[str, ...]]
BadItem = tuple[int, dict[str, Any], list[dict[str, Any]]]

# jsonb refuses NUL, and unpaired surrogates are not UTF-8: such a cell cannot be stored.
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")
_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# The encoder rows.content_hash uses: the stored fields are exactly what is hashed.
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(slots=True)
class PreparedChunk:
    good: list[GoodItem] = field(default_factory=list)
    bad: list[BadItem] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.good) + len(self.bad)


def storable(value: Any) -> Any:
    """``value`` with NUL and unpaired surrogates replaced by U+FFFD, in strings, dict keys
    and lists at any depth."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _bad(row_number: int, cells: dict[str, str | None], issues: Iterable[FieldIssue], kind: str | None) -> BadItem:
    stored: dict[str, Any] = {**cells, KIND_CELL: kind} if kind is not None else cells
    return row_number, storable(stored), storable([asdict(issue) for issue in issues])


def _unstorable_issue(raw: readers.RawRow) -> FieldIssue | None:
    for column, cell in raw.fields.items():
        if _UNSTORABLE.search(column) or (cell and _UNSTORABLE.search(cell)):
            return error_issue("", column, cell, "unstorable_character", f"row {raw.row_number}, column {column}",
                               "holds a NUL or unpaired surrogate character, which cannot be stored")
    return None


def prepare_row(raw: readers.RawRow, mapping: Mapping | None, resolver: UnitResolver) -> GoodItem | BadItem:
    """One row, normalised under ``mapping`` (None for rows that say their kind), ready to
    store; a bad row as it goes to quarantine. Tell them apart by length (8 or 3)."""
    result = normalize_row(raw, mapping)
    if isinstance(result, BadRow):
        return _bad(result.row_number, result.raw, result.issues, raw.kind)
    payload = _JSON.encode(raw.fields)
    # One look at the encoded row: NUL comes out as the escape \u0000 (which a cell may also
    # spell literally, hence the second look), surrogates come out as themselves.
    if "\\u0000" in payload or _UNSTORABLE.search(payload):
        issue = _unstorable_issue(raw)
        if issue is not None:
            return _bad(raw.row_number, raw.fields, [issue], raw.kind)
    fields = result.fields
    text = _CANONICAL.encode({name: value for name, value in fields.items() if value is not None})
    return (result.row_number, result.source_key, result.kind, payload, text,
            hashlib.sha256(text.encode()).hexdigest(), resolver.unit_for(fields),
            tuple(warning.code for warning in result.warnings))


def prepare_chunks(rows: Iterable[readers.RawRow], mapping: Mapping | None, resolver: UnitResolver,
                   chunk_rows: int, *, part: int = 0, parts: int = 1) -> Iterator[PreparedChunk]:
    """The rows in chunks of ``chunk_rows``. With ``parts`` > 1 only every parts-th chunk,
    starting at chunk ``part``, is prepared (the others are read and skipped): that many
    workers share a file, each reading it, and the chunks are put back in order."""
    chunk = PreparedChunk()
    good, bad = chunk.good, chunk.bad
    mine = part == 0
    counted = 0
    index = 0
    for raw in rows:
        if mine:
            item = prepare_row(raw, mapping, resolver)
            if len(item) == 8:
                good.append(item)
            else:
                bad.append(item)
        counted += 1
        if counted == chunk_rows:
            if mine:
                yield chunk
                chunk = PreparedChunk()
                good, bad = chunk.good, chunk.bad
            counted = 0
            index += 1
            mine = index % parts == part
    if mine and (good or bad):
        yield chunk


@dataclass(frozen=True)
class FileSpec:
    """How to open a file, as import_start found it."""

    path: Path
    format: str
    encoding: str | None = None
    sheet: str | int | None = None

    def open(self) -> readers.RowStream:
        return readers.read_file(self.path, format=self.format, encoding=self.encoding, sheet=self.sheet)


def file_chunks(spec: FileSpec, mapping: Mapping | None, resolver: UnitResolver, chunk_rows: int, *,
                part: int = 0, parts: int = 1) -> Iterator[PreparedChunk]:
    with spec.open() as stream:
        yield from prepare_chunks(stream, mapping, resolver, chunk_rows, part=part, parts=parts)


# Messages from a worker: ("chunk", PreparedChunk), ("done", None), ("error", (summary, traceback)).
Message = tuple[str, Any]


def worker_main(queue: Queue[Message], spec: FileSpec, mapping: Mapping | None, resolver: UnitResolver,
                chunk_rows: int, part: int = 0, parts: int = 1) -> None:
    """Entry point of a worker process: prepare its share of the file's chunks, in order."""
    try:
        for chunk in file_chunks(spec, mapping, resolver, chunk_rows, part=part, parts=parts):
            queue.put(("chunk", chunk))
    except Exception as exc:
        queue.put(("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))
        return
    queue.put(("done", None))
