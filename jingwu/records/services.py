"""Writes of the data centre's intake: source systems, imports, quarantine.

One core serves the three ways data arrives — a file on the command line, an upload on
the import page, a batch pushed to the API: rows are read (readers.py), normalised and
validated (rows.py, which runs every identifier through core.identifiers) and written in
chunks of :data:`CHUNK_ROWS`, each chunk one transaction together with the batch's
running counts, so a page polling the batch always sees a report that balances:
read = imported + unchanged + quarantined.

Source records are never edited in place. A row whose key has a current version with
the same content hash is *unchanged* and writes nothing; a row with different content
is inserted as a new version and the old one's ``superseded_by`` points at it. Ids of
new rows are taken before inserting, so the old version can be marked first and the
partial unique constraint "one current version per (source, source_key)" holds at
every statement. ``SourceRecord.fields`` holds the normalised fields that have a value,
as the canonical JSON the content hash is computed over (rows.content_hash).

Bad rows go to quarantine whole, with every reason; they can be corrected (by column,
as the person sees the file) and retried, or discarded. One audit entry per batch,
per retry and per discard.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import queue
import re
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Mapping as MappingABC
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jingwu.core import access, audit
from jingwu.core.access import Action
from jingwu.core.models import User
from jingwu.core.services import ServiceError
from jingwu.records import prepare, readers
from jingwu.records.mapping import KINDS, Mapping, MappingError, is_kind, parse_mapping
from jingwu.records.models import (
    BatchStatus,
    ImportBatch,
    QuarantinedRow,
    QuarantineStatus,
    Source,
    SourceRecord,
)
from jingwu.records.prepare import KIND_CELL, FileSpec, GoodItem, PreparedChunk
from jingwu.records.rows import FieldIssue, error_issue
from jingwu.records.units import UnitResolver

__all__ = [
    "CHUNK_ROWS",
    "KIND_CELL",
    "MAX_API_RECORDS",
    "BatchNotRunning",
    "FileImport",
    "IdempotencyConflict",
    "Progress",
    "RetryRejected",
    "import_batches_reap",
    "import_file",
    "import_launch",
    "import_records",
    "import_run",
    "import_start",
    "mapping_document",
    "mapping_from_document",
    "ordered_cells",
    "quarantine_discard",
    "quarantine_retry",
    "source_create",
    "source_ensure",
    "source_partner_set",
    "upload_discard",
    "upload_store",
    "worker_identity",
]

log = logging.getLogger(__name__)

# Rows per transaction. Large, because keys arrive in no order: every chunk rewrites
# index pages all over the (source, source_key) indexes, and on SQLite each commit writes
# those pages to the WAL again (measured on 1M rows: 20,000-row chunks spend 14 s in
# commits, 50,000-row chunks 6 s); at a few seconds a chunk, progress still moves visibly,
# and SQLite's one write lock is held about a second at a time (others wait, busy_timeout).
CHUNK_ROWS: Final = 50_000
# From this many rows (as count_rows estimates them) a file is read and normalised by
# worker processes while this one writes; below it their start-up costs more. Normalising
# is most of the work, so there is a worker per core (up to MAX_WORKERS) even though this
# process writes too: it spends much of its time waiting for the database.
PARALLEL_ROWS: Final = 50_000
MAX_WORKERS: Final = 4
MAX_API_RECORDS: Final = 10_000
# A partner's idempotency key is stored prefixed with the user and source (ImportBatch
# allows 128 characters), so two partners choosing "batch-1" never meet.
MAX_IDEMPOTENCY_KEY: Final = 80
# On PostgreSQL, writers of one source take this advisory lock (with the source id), so
# two imports into one source cannot both supersede the same version.
_LOCK_NAMESPACE: Final = 0x6A77  # "jw"
_SQLITE_KEYS_PER_QUERY: Final = 30_000
_SQLITE_CACHE_KIB: Final = 256 * 1024
# How long the importing process waits for the worker before checking it is still alive.
_WORKER_POLL_SECONDS: Final = 1.0

Progress = Callable[[int, int], None]

_SOURCE_KEY = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class BatchNotRunning(ServiceError):
    """The batch being written was marked interrupted (its heartbeat went stale) meanwhile."""


class RetryRejected(ServiceError):
    """A corrected row that still does not validate; ``issues`` says why, field by field."""

    def __init__(self, issues: list[FieldIssue]) -> None:
        super().__init__("; ".join(issue.message for issue in issues), field=issues[0].column if issues else "")
        self.issues = issues


# --------------------------------------------------------------------------- sources


def source_create(*, actor: User | None, key: str, name: str, trust_rank: int = 50) -> Source:
    if not _SOURCE_KEY.fullmatch(key):
        raise ServiceError(f"source key {key!r}: lower-case letters, digits, '_' or '-', starting with a letter, "
                           "at most 32", field="key")
    name = name.strip()
    if not name or len(name) > 100:
        raise ServiceError("a source needs a name of at most 100 characters", field="name")
    if not 0 <= trust_rank <= 1000:
        raise ServiceError("trust rank must be 0..1000 (lower is more trusted)", field="trust_rank")
    _authorise(actor, object_type="source", object_id=key)
    try:
        with transaction.atomic():
            source = Source.objects.create(key=key, name=name, trust_rank=trust_rank)
            audit.record(actor=actor, action="records.source_create", object_type="source", object_id=source.pk,
                         details={"key": key, "name": name, "trust_rank": trust_rank})
    except IntegrityError:
        raise ServiceError(f"source {key!r} already exists", field="key") from None
    return source


def source_ensure(*, actor: User | None, key: str, name: str, trust_rank: int = 50) -> Source:
    existing = Source.objects.filter(key=key).first()
    if existing is not None:
        return existing
    return source_create(actor=actor, key=key, name=name, trust_rank=trust_rank)


def source_partner_set(*, actor: User | None, source: Source, partner: User | None) -> Source:
    """Bind a source to the partner system that pushes its feed (None: unbind). The partner
    must hold the partner role (RECORDS_PUSH) somewhere."""
    _authorise(actor, object_type="source", object_id=source.key)
    if partner is not None and not access.can(partner, Action.RECORDS_PUSH):
        raise ServiceError(f"user {partner.username!r} holds no partner role (records.push), so cannot push",
                           field="partner")
    with transaction.atomic():
        before = source.partner.username if source.partner is not None else None
        source.partner = partner
        source.save(update_fields=["partner"])
        audit.record(actor=actor, action="records.source_partner", object_type="source", object_id=source.pk,
                     details={"key": source.key, "partner": partner.username if partner is not None else None,
                              "before": before})
    return source


def _source(key: str) -> Source:
    source = Source.objects.filter(key=key).first()
    if source is None:
        known = ", ".join(Source.objects.order_by("key").values_list("key", flat=True)) or "none yet"
        raise ServiceError(f"unknown source {key!r}; known sources: {known} "
                           "(add one with `jingwu sources add KEY NAME`)", field="source")
    return source


def _authorise(actor: User | None, *, object_type: str = "import_batch", object_id: str | int = "") -> None:
    # actor None: the operator at the console, as for core.services.
    if actor is not None:
        access.check(actor, Action.RECORDS_IMPORT, object_type=object_type, object_id=object_id)


# --------------------------------------------------------------------------- mappings on batches


def mapping_document(mapping: Mapping) -> dict[str, Any]:
    """A mapping as the JSON document parse_mapping reads (the TOML file's shape)."""
    fields: dict[str, dict[str, Any]] = {}
    for spec in mapping.fields:
        entry: dict[str, Any] = {"column": spec.column}
        if spec.formats:
            entry["formats"] = list(spec.formats)
        if spec.values:
            entry["values"] = dict(spec.values)
        fields[spec.field] = entry
    return {"kind": mapping.kind, "key": list(mapping.key), "fields": fields, "description": mapping.description}


def mapping_from_document(document: MappingABC[str, Any] | None) -> Mapping | None:
    return None if document is None else parse_mapping(document, origin="the batch's mapping")


def _batch_mapping(mapping: Mapping | None, header: Sequence[str] | None) -> dict[str, Any]:
    # The header is kept so a retry can tell cells beyond it (a ragged row) from columns, and
    # so a quarantined row's cells are shown in file order (jsonb keeps no key order).
    return {"mapping": mapping_document(mapping) if mapping is not None else None,
            "header": list(header) if header is not None else None}


# --------------------------------------------------------------------------- writing rows


@dataclass
class _Counts:
    read: int = 0
    imported: int = 0
    unchanged: int = 0
    quarantined: int = 0
    warnings: Counter[str] = field(default_factory=Counter)

    def as_batch_fields(self) -> dict[str, int]:
        return {"rows_read": self.read, "rows_imported": self.imported, "rows_unchanged": self.unchanged,
                "rows_quarantined": self.quarantined}


class _RecordWriter:
    """Writes prepared chunks of one source for one batch, each in one transaction."""

    def __init__(self, *, source: Source, batch: ImportBatch, relaxed_commit: bool = False,
                 quarantined_before: frozenset[int] = frozenset()) -> None:
        self.source = source
        self.batch = batch
        # Rows of a resumed batch that its interrupted run quarantined already: counted, not stored twice.
        self.quarantined_before = quarantined_before
        self.vendor = connection.vendor
        if self.vendor not in ("sqlite", "postgresql"):
            raise ServiceError(f"importing needs SQLite or PostgreSQL, not {connection.vendor}")
        # Only for re-runnable file imports: a crash loses the last chunks and their counts together.
        self.relaxed_commit = relaxed_commit
        self.table = SourceRecord._meta.db_table
        columns = ("id", "source_id", "source_key", "kind", "payload", "fields", "content_hash", "batch_id",
                   "received_at", "unit_id", "superseded_by_id")
        # Table and column names are this module's constants, not input.
        self._insert = (f'INSERT INTO "{self.table}" ({", ".join(columns)}) '  # noqa: S608
                        f'VALUES ({", ".join("?" for _ in columns)})')
        self._copy = f'COPY "{self.table}" ({", ".join(columns)}) FROM STDIN'
        self._supersede = f'UPDATE "{self.table}" SET superseded_by_id = %s WHERE id = %s'  # noqa: S608
        # While the source had no records when this writer started and nobody else has
        # written records since, only keys this writer wrote can have a current version:
        # the look-up is skipped for all others (the first import of a big file).
        self._fresh: bool | None = None
        self._last_id = 0
        self._written: set[int] = set()  # hash() of the keys written while fresh

    def write(self, chunk: PreparedChunk, counts: _Counts, *, update_batch: bool = True) -> dict[str, int]:
        """Store one chunk in one transaction; returns the current record id per key written.
        ``counts`` moves on only when the chunk is committed, so a failed batch reports
        exactly what it wrote."""
        pending = _Counts(counts.read, counts.imported, counts.unchanged, counts.quarantined, Counter(counts.warnings))
        current = self._write(chunk, pending, update_batch=update_batch)
        counts.read, counts.imported, counts.unchanged, counts.quarantined, counts.warnings = (
            pending.read, pending.imported, pending.unchanged, pending.quarantined, pending.warnings)
        return current

    def _write(self, chunk: PreparedChunk, counts: _Counts, *, update_batch: bool) -> dict[str, int]:
        with transaction.atomic():
            if self.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, self.source.pk])
                    if self.relaxed_commit:
                        cursor.execute("SET LOCAL synchronous_commit TO OFF")
            self._check_fresh()
            bad = [item for item in chunk.bad if item[0] not in self.quarantined_before]
            if bad:
                QuarantinedRow.objects.bulk_create(
                    [QuarantinedRow(batch=self.batch, row_number=number, raw=raw, issues=issues)
                     for number, raw, issues in bad])
            current = self._store(chunk.good, counts) if chunk.good else {}
            counts.read += chunk.rows
            counts.quarantined += len(chunk.bad)
            if update_batch:
                # The counts are the heartbeat; a batch no longer running was declared
                # interrupted meanwhile, and this chunk must not land in it.
                updated = ImportBatch.objects.filter(pk=self.batch.pk, status=BatchStatus.RUNNING).update(
                    heartbeat_at=timezone.now(), **counts.as_batch_fields())
                if not updated:
                    raise BatchNotRunning(f"batch #{self.batch.pk} is no longer running (marked interrupted?)")
        return current

    def _top_id(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT max(id) FROM "{self.table}"')  # noqa: S608
            return int(cursor.fetchone()[0] or 0)

    def _check_fresh(self) -> None:
        if self._fresh is None:
            self._fresh = not SourceRecord.objects.filter(source=self.source).exists()
            self._last_id = self._top_id()
        elif self._fresh and self._top_id() != self._last_id:
            self._fresh = False  # someone else wrote records: look every key up from now on

    def _store(self, good: list[GoodItem], counts: _Counts) -> dict[str, int]:
        keys = list(dict.fromkeys(item[1] for item in good))
        if self._fresh:
            written = self._written
            keys = [key for key in keys if hash(key) in written]
        current = self._current(keys) if keys else {}
        latest = {key: digest for key, (_pk, digest) in current.items()}
        new: list[GoodItem] = []
        warnings = counts.warnings
        for item in good:
            for code in item[7]:
                warnings[code] += 1
            key, digest = item[1], item[5]
            if latest.get(key) == digest:
                counts.unchanged += 1
                continue
            latest[key] = digest
            new.append(item)
        result = {key: pk for key, (pk, _digest) in current.items()}
        if not new:
            return result
        counts.imported += len(new)
        # In key order (stable, so a key's versions keep theirs): each index page is then
        # visited once per chunk, not once per row (a fifth off SQLite's insert time).
        new.sort(key=_source_key_of)
        ids = self._allocate_ids(len(new))
        # A key may get several versions in one chunk: each points to the next, the last is current.
        superseded_by: list[int | None] = [None] * len(new)
        last_index: dict[str, int] = {}
        replaced: list[tuple[int, int]] = []  # (first new version, old current version)
        for index, item in enumerate(new):
            key = item[1]
            previous = last_index.get(key)
            if previous is not None:
                superseded_by[previous] = ids[index]
            elif key in current:
                replaced.append((ids[index], current[key][0]))
            last_index[key] = index
        if replaced:
            # First: the old versions stop being current, so the new ones may be.
            with connection.cursor() as cursor:
                cursor.executemany(self._supersede, replaced)
        self._insert_rows(new, ids, superseded_by)
        self._last_id = max(self._last_id, ids[-1])
        if self._fresh:
            self._written.update(hash(key) for key in last_index)
        result.update((key, ids[index]) for key, index in last_index.items())
        return result

    def _current(self, keys: list[str]) -> dict[str, tuple[int, str]]:
        """(id, content hash) of the current version of each key that has one."""
        # SQL rather than the ORM: building thousands of lookup parameters costs more than the query.
        select = (f'SELECT source_key, id, content_hash FROM "{self.table}" '  # noqa: S608
                  "WHERE source_id = %s AND superseded_by_id IS NULL AND source_key ")
        found: dict[str, tuple[int, str]] = {}
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(select + "= ANY(%s)", [self.source.pk, keys])
                return {key: (pk, digest) for key, pk, digest in cursor.fetchall()}
            # SQLite allows at most 32,766 parameters in a statement.
            for start in range(0, len(keys), _SQLITE_KEYS_PER_QUERY):
                part = keys[start:start + _SQLITE_KEYS_PER_QUERY]
                cursor.execute(select + f"IN ({', '.join('%s' for _ in part)})", [self.source.pk, *part])
                found.update((key, (pk, digest)) for key, pk, digest in cursor.fetchall())
        return found

    def _allocate_ids(self, count: int) -> list[int]:
        with connection.cursor() as cursor:
            if self.vendor == "sqlite":
                # The chunk's transaction holds SQLite's one write lock, so nobody else takes these.
                top = self._top_id()
                cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [self.table])
                found = cursor.fetchone()
                start = max(top, found[0] if found else 0) + 1
                return list(range(start, start + count))
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [self.table, count])
            return [row[0] for row in cursor.fetchall()]

    def _insert_rows(self, new: list[GoodItem], ids: list[int], superseded_by: list[int | None]) -> None:
        source_id, batch_id = self.source.pk, self.batch.pk
        now = timezone.now()
        if self.vendor == "sqlite":
            received = connection.ops.adapt_datetimefield_value(now)
            params = [(ids[i], source_id, key, kind, payload, fields, digest, batch_id, received, unit,
                       superseded_by[i])
                      for i, (_number, key, kind, payload, fields, digest, unit, _warnings) in enumerate(new)]
            connection.ensure_connection()
            raw: Any = connection.connection
            raw.executemany(self._insert, params)
            return
        received = now.isoformat()
        lines = []
        for i, (_number, key, kind, payload, fields, digest, unit, _warnings) in enumerate(new):
            after = superseded_by[i]
            lines.append(f"{ids[i]}\t{source_id}\t{_copy_text(key)}\t{kind}\t{_copy_json(payload)}\t"
                         f"{_copy_json(fields)}\t{digest}\t{batch_id}\t{received}\t"
                         f"{_COPY_NULL if unit is None else unit}\t{_COPY_NULL if after is None else after}\n")
        with connection.cursor() as cursor:
            pg_connection = cursor.connection  # psycopg's, under Django's wrapper
            with pg_connection.cursor() as pg_cursor, pg_cursor.copy(self._copy) as copy:
                copy.write("".join(lines).encode("utf-8"))


def _source_key_of(item: GoodItem) -> str:
    return item[1]


_COPY_NULL: Final = "\\N"
_COPY_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(text: str) -> str:
    return text.translate(_COPY_ESCAPES)


def _copy_json(text: str) -> str:
    # JSON escapes control characters itself; only its backslashes need doubling for COPY.
    return text.replace("\\", "\\\\") if "\\" in text else text


@contextmanager
def _sqlite_cache() -> Iterator[None]:
    """A bigger SQLite page cache for a long import keeps the indexes being written in memory."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    raw: Any = connection.connection
    old = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(old)}")


def _finish(batch: ImportBatch, counts: _Counts, *, actor: User | None, status: str, error: str = "",
            details: dict[str, Any] | None = None) -> ImportBatch:
    with transaction.atomic():
        finished = ImportBatch.objects.filter(pk=batch.pk, status=BatchStatus.RUNNING).update(
            status=status, error=error, finished_at=timezone.now(), heartbeat_at=timezone.now(),
            **counts.as_batch_fields())
        if finished:
            audit.record(actor=actor, action="records.import", object_type="import_batch", object_id=batch.pk,
                         outcome="allowed" if status == BatchStatus.DONE else "error",
                         details={"source": batch.source.key, "label": batch.label, "format": batch.file_format,
                                  "read": counts.read, "imported": counts.imported, "unchanged": counts.unchanged,
                                  "quarantined": counts.quarantined, "warnings": dict(counts.warnings),
                                  **({"error": error} if error else {}), **(details or {})})
            _discard_upload_on_commit(batch.upload_path)
    batch.refresh_from_db()
    return batch


# --------------------------------------------------------------------------- interrupted batches


def _start_ticks(pid: int) -> str:
    """When the process started, in clock ticks since boot (Linux); "" when there is no such
    process. With the pid it names a process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22, counted after the command name, which may itself hold spaces and parentheses.
    return stat.rsplit(")", 1)[1].split()[19]


def worker_identity() -> str:
    """This process, as a running batch records it: host:pid:start ticks."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def _worker_gone(worker: str) -> bool:
    """True only when the process that ran a batch certainly no longer runs (it ran on this
    host); for another host's process only the heartbeat can tell."""
    host, _sep, rest = worker.partition(":")
    pid_text, _sep, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if ticks:
        return _start_ticks(pid) != ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def import_batches_reap(*, now: Any = None) -> list[ImportBatch]:
    """Mark as interrupted every running batch whose process is gone (on this host) or
    that wrote nothing for JINGWU_IMPORT_STALE_MINUTES: it keeps the counts of the chunks
    it wrote (they balance), its upload is deleted, and importing the same file again
    resumes it. Returns the batches marked."""
    now = now or timezone.now()
    silent_since = now - timedelta(minutes=settings.JINGWU_IMPORT_STALE_MINUTES)
    marked = []
    for batch in ImportBatch.objects.filter(status=BatchStatus.RUNNING).select_related("source"):
        last = batch.heartbeat_at or batch.started_at
        if batch.worker and _worker_gone(batch.worker):
            reason = f"the importing process ({batch.worker}) is gone"
        elif last < silent_since:
            reason = f"no progress since {last.isoformat()} ({settings.JINGWU_IMPORT_STALE_MINUTES} minutes)"
        else:
            continue
        with transaction.atomic():
            if not ImportBatch.objects.filter(pk=batch.pk, status=BatchStatus.RUNNING).update(
                    status=BatchStatus.INTERRUPTED, finished_at=now, error=f"interrupted: {reason}"):
                continue  # it finished meanwhile
            audit.record(actor=None, action="records.import_interrupted", object_type="import_batch",
                         object_id=batch.pk, outcome="error",
                         details={"source": batch.source.key, "label": batch.label, "reason": reason,
                                  "read": batch.rows_read, "imported": batch.rows_imported,
                                  "unchanged": batch.rows_unchanged, "quarantined": batch.rows_quarantined})
            _discard_upload_on_commit(batch.upload_path)
        batch.refresh_from_db()
        marked.append(batch)
    return marked


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class FileImport:
    """A file checked and its batch created by import_start, ready for import_run."""

    batch: ImportBatch
    spec: FileSpec
    mapping: Mapping | None
    # Resuming an interrupted batch: the rows it quarantined already (kept, not stored twice).
    resumed: bool = False
    quarantined_before: frozenset[int] = frozenset()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def import_start(*, actor: User | None, source_key: str, path: str | Path, mapping: Mapping | None = None,
                 kind: str | None = None, label: str = "", file_name: str = "", format: str | None = None,
                 encoding: str | None = None, sheet: str | int | None = None, upload: bool = False) -> FileImport:
    """Check that the file can be imported as asked (it opens, the mapping fits its header)
    and create its batch, running; nothing is read into the database yet. Refusals are
    ServiceErrors naming the field: source, kind, mapping or file.

    The same file (same bytes, source, format and mapping) as an interrupted batch resumes
    that batch instead: its counts start again from the first row, and the rows its first
    run stored are found unchanged. ``upload``: the file is an upload of the import page,
    deleted when the batch ends."""
    _authorise(actor)
    source = _source(source_key)
    if kind and not is_kind(kind):
        raise ServiceError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})", field="kind")
    path = Path(path)
    name = file_name or path.name
    try:
        with readers.read_file(path, format=format, encoding=encoding, sheet=sheet) as stream:
            fmt, header, detected = stream.format, stream.header, stream.encoding
            if header is None and stream.format == "jsonl":
                first = next(iter(stream), None)
                header = tuple(first.fields) if first is not None else ()
            mapping = _mapping_for(mapping, kind, fmt, header)
        expected = readers.count_rows(path, format=fmt, sheet=sheet)
        digest = _file_sha256(path)
    except readers.ReaderError as exc:
        raise ServiceError(str(exc), field="file") from None  # the reader names the file
    except OSError as exc:
        raise ServiceError(f"{name}: cannot be read: {exc.strerror or exc}", field="file") from None
    import_batches_reap()
    batch_kind = mapping.kind if mapping is not None else (kind or "")
    batch_mapping = _batch_mapping(mapping, header if fmt in ("csv", "spreadsheet") else None)
    # The detected encoding is passed on, so the worker does not detect it again.
    spec = FileSpec(path=path, format=fmt, encoding=encoding or detected, sheet=sheet)
    worker = worker_identity()
    resumed = _resume(actor, source=source, digest=digest, fmt=fmt, kind=batch_kind, mapping=batch_mapping,
                      expected=expected, worker=worker, upload_path=str(path) if upload else "")
    if resumed is not None:
        before = frozenset(resumed.quarantined.values_list("row_number", flat=True))
        return FileImport(batch=resumed, spec=spec, mapping=mapping, resumed=True, quarantined_before=before)
    batch = ImportBatch.objects.create(
        source=source, label=(label or name)[:200], status=BatchStatus.RUNNING,
        created_by=actor, file_name=name[:255], file_format=fmt, encoding=detected or "",
        kind=batch_kind, rows_expected=expected, mapping=batch_mapping, file_sha256=digest,
        upload_path=str(path) if upload else "", worker=worker, heartbeat_at=timezone.now())
    return FileImport(batch=batch, spec=spec, mapping=mapping)


def _resume(actor: User | None, *, source: Source, digest: str, fmt: str, kind: str, mapping: dict[str, Any],
            expected: int | None, worker: str, upload_path: str) -> ImportBatch | None:
    """The interrupted batch of this very file and mapping, set running again; None if there is none."""
    candidates = ImportBatch.objects.filter(source=source, status=BatchStatus.INTERRUPTED, file_sha256=digest,
                                            file_format=fmt, kind=kind).order_by("-started_at", "-pk")
    batch = next((b for b in candidates if b.mapping == mapping), None)
    if batch is None:
        return None
    with transaction.atomic():
        if not ImportBatch.objects.filter(pk=batch.pk, status=BatchStatus.INTERRUPTED).update(
                status=BatchStatus.RUNNING, finished_at=None, error="", rows_read=0, rows_imported=0,
                rows_unchanged=0, rows_quarantined=0, rows_expected=expected, worker=worker,
                heartbeat_at=timezone.now(), upload_path=upload_path):
            return None  # another import resumed it first
        audit.record(actor=actor, action="records.import_resume", object_type="import_batch", object_id=batch.pk,
                     details={"source": source.key, "label": batch.label,
                              "interrupted_at": {"read": batch.rows_read, "imported": batch.rows_imported,
                                                 "unchanged": batch.rows_unchanged,
                                                 "quarantined": batch.rows_quarantined}})
    batch.refresh_from_db()
    return batch


def _mapping_for(mapping: Mapping | None, kind: str | None, fmt: str, header: Sequence[str] | None) -> Mapping | None:
    try:
        if mapping is not None:
            if kind and mapping.kind != kind:
                raise ServiceError(f"the mapping is for {mapping.kind} records, not {kind}", field="kind")
            if fmt in ("csv", "spreadsheet") and header is not None:
                mapping.check_header(header)
            return mapping
        if fmt == "ftm":
            return None  # every entity says its kind
        if not kind:
            raise ServiceError("say what the file holds: a kind or a mapping file", field="kind")
        return Mapping.default_for(kind, header or ())
    except MappingError as exc:
        raise ServiceError(str(exc), field="mapping") from None


def _chunks_in_workers(job: FileImport, resolver: UnitResolver, parts: int) -> Iterator[PreparedChunk]:
    """The file's prepared chunks, in order, from ``parts`` worker processes that each read
    the file and prepare every parts-th chunk. Spawned, not forked: the page starts imports
    from a thread of the web server."""
    context = multiprocessing.get_context("spawn")
    # One chunk waiting per worker is enough to keep this process busy, and bounds memory.
    queues: list[Any] = [context.Queue(maxsize=1) for _ in range(parts)]
    workers = [context.Process(target=prepare.worker_main, name=f"jingwu-import-{job.batch.pk}-{part}",
                               daemon=True, args=(queues[part], job.spec, job.mapping, resolver, CHUNK_ROWS, part,
                                                  parts))
               for part in range(parts)]
    for worker in workers:
        worker.start()
    try:
        for index in itertools.count():
            part = index % parts
            kind, body = _next_message(queues[part], workers[part])
            if kind == "done":
                return  # chunk `index` does not exist, so no later one does
            if kind == "error":
                summary, trace = body
                log.error("the worker reading %s for batch %s failed:\n%s", job.spec.path, job.batch.pk, trace)
                raise RuntimeError(f"reading the file failed: {summary}")
            yield body
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        for messages in queues:
            messages.close()


def _next_message(messages: Any, worker: Any) -> prepare.Message:
    while True:
        try:
            message: prepare.Message = messages.get(timeout=_WORKER_POLL_SECONDS)
            return message
        except queue.Empty:
            if not worker.is_alive():
                raise RuntimeError(f"the worker reading the file stopped (exit code {worker.exitcode})") from None


def _prepared_chunks(job: FileImport, resolver: UnitResolver) -> Iterator[PreparedChunk]:
    parts = min(MAX_WORKERS, os.cpu_count() or 1)
    if (job.batch.rows_expected or 0) >= PARALLEL_ROWS and parts > 1:
        return _chunks_in_workers(job, resolver, parts)
    return prepare.file_chunks(job.spec, job.mapping, resolver, CHUNK_ROWS)


def import_run(job: FileImport, *, actor: User | None, progress: Progress | None = None) -> ImportBatch:
    """Read the file into the batch created by import_start, a chunk per transaction. On an
    unexpected error the batch is marked failed (the chunks written stay, and balance)
    and the error is raised again."""
    batch = job.batch
    counts = _Counts()
    total = batch.rows_expected or 0
    try:
        writer = _RecordWriter(source=batch.source, batch=batch, relaxed_commit=True,
                               quarantined_before=job.quarantined_before)
        with _sqlite_cache():
            for chunk in _prepared_chunks(job, UnitResolver.load()):
                writer.write(chunk, counts)
                if progress is not None:
                    progress(counts.read, max(total, counts.read))
    except BatchNotRunning:
        raise  # declared interrupted meanwhile: it keeps that state and the chunks it has
    except Exception as exc:
        _finish(batch, counts, actor=actor, status=BatchStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    if progress is not None and counts.read < total:
        progress(counts.read, counts.read)  # the estimate counted lines, not rows
    return _finish(batch, counts, actor=actor, status=BatchStatus.DONE,
                   details={"file": batch.file_name, "encoding": batch.encoding,
                            **({"resumed": True} if job.resumed else {})})


def import_file(*, actor: User | None, source_key: str, path: str | Path, mapping: Mapping | None = None,
                kind: str | None = None, label: str = "", progress: Progress | None = None,
                format: str | None = None, encoding: str | None = None,
                sheet: str | int | None = None) -> ImportBatch:
    """Import one file (CSV in any common encoding, spreadsheet, JSON Lines, FtM stream)
    into a source; returns the finished batch with its report."""
    job = import_start(actor=actor, source_key=source_key, path=path, mapping=mapping, kind=kind, label=label,
                       format=format, encoding=encoding, sheet=sheet)
    return import_run(job, actor=actor, progress=progress)


def _uploads_dir() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def upload_store(file_name: str, chunks: Iterable[bytes]) -> Path:
    """Keep an uploaded file under JINGWU_VAR_DIR/uploads, in a folder of its own; only the
    last component of the name the browser sent is used. It lives until upload_discard
    (import_start(upload=True) hands that to the batch: it runs when the batch ends)."""
    safe = Path(file_name.replace("\\", "/")).name.strip() or "upload"
    folder = _uploads_dir() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / safe[-200:]
    with path.open("wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    return path


def upload_discard(path: str | Path) -> None:
    """Delete an upload and its folder. Only paths inside the uploads folder are touched."""
    if not path:
        return
    target = Path(path)
    root = _uploads_dir().resolve()
    folder = target.parent.resolve()
    if folder.parent != root:
        log.warning("not deleting %s: not an upload", path)
        return
    target.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty, or already gone
        folder.rmdir()


def _discard_upload_on_commit(path: str) -> None:
    if path:
        transaction.on_commit(lambda: upload_discard(path))


def import_launch(job: FileImport, *, actor: User | None, background: bool) -> threading.Thread | None:
    """Run an import now, or in a thread of this process so the page can show progress.

    A thread rather than a Huey task: `make demo` runs no job consumer, and the upload
    is a file on this machine's disk anyway."""
    if not background:
        _run_logged(job, actor)
        return None
    thread = threading.Thread(target=_run_in_thread, args=(job, actor), name=f"import-{job.batch.pk}", daemon=True)
    thread.start()
    return thread


def _run_logged(job: FileImport, actor: User | None) -> None:
    try:
        import_run(job, actor=actor)
    except Exception:
        # The batch says it failed and why; the page shows it.
        log.exception("import batch %s failed", job.batch.pk)


def _run_in_thread(job: FileImport, actor: User | None) -> None:
    try:
        _run_logged(job, actor)
    finally:
        connection.close()  # this thread's own connection


# --------------------------------------------------------------------------- pushed batches


def _cell_text(value: object) -> str | None:
    """A JSON value of a pushed record as the text a file cell would hold."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


class IdempotencyConflict(ServiceError):
    """An idempotency key already used for a batch with other content."""

    code = "idempotency_conflict"


def _push_source(actor: User | None, source_key: str) -> Source:
    """The source a batch is pushed to, if the actor may push to it: a holder of
    RECORDS_IMPORT may push to any source; a partner (RECORDS_PUSH) only to the sources
    bound to it. A partner learns nothing about other sources: unknown and not theirs
    are the same refusal."""
    if actor is None or access.can(actor, Action.RECORDS_IMPORT):
        return _source(source_key)
    source = Source.objects.filter(key=source_key).first()
    if source is not None and source.partner_id == actor.pk and access.can(actor, Action.RECORDS_PUSH):
        return source
    access.deny(actor, Action.RECORDS_PUSH, object_type="source", object_id=source_key)


def _request_hash(kind: str, mapping: MappingABC[str, Any] | None, rows: Sequence[readers.RawRow]) -> str:
    """What a pushed batch asks for, as one digest: cells as the import reads them (13812345678
    and "13812345678" are the same cell), so only a different request differs."""
    document = {"kind": kind, "mapping": mapping, "records": [row.fields for row in rows]}
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _replayed(first: ImportBatch, digest: str, idempotency_key: str) -> tuple[ImportBatch, bool]:
    # Batches pushed before request hashes were kept have none: their key alone decides.
    if first.request_hash and first.request_hash != digest:
        raise IdempotencyConflict(
            f"idempotency key {idempotency_key!r} was used for batch #{first.pk} with other records; "
            "send these records under a new key", field="idempotency_key")
    return first, True


def import_records(*, actor: User | None, source_key: str, kind: str, idempotency_key: str,
                   records: Sequence[MappingABC[str, object]], mapping: MappingABC[str, Any] | None = None,
                   label: str = "") -> tuple[ImportBatch, bool]:
    """Import a batch a partner system pushed: up to MAX_API_RECORDS records, each an
    object of column -> value, mapped by ``mapping`` (a mapping document, the TOML file's
    shape) or by the usual column names of ``kind``. Returns (batch, replayed).

    All or nothing: the batch is checked before anything is written, then written in one
    transaction. The same idempotency key with the same request returns the first batch,
    writing nothing; with another request it raises IdempotencyConflict, writing nothing."""
    if actor is not None and not (access.can(actor, Action.RECORDS_IMPORT) or access.can(actor, Action.RECORDS_PUSH)):
        access.deny(actor, Action.RECORDS_PUSH, object_type="import_batch")
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ServiceError(f"an idempotency key of 1..{MAX_IDEMPOTENCY_KEY} characters is required",
                           field="idempotency_key")
    source = _push_source(actor, source_key)
    if len(records) > MAX_API_RECORDS:
        raise ServiceError(f"{len(records)} records; a batch holds at most {MAX_API_RECORDS}", field="records")
    rows = [readers.RawRow(number, {str(column): _cell_text(value) for column, value in record.items()})
            for number, record in enumerate(records, 1)]
    digest = _request_hash(kind, mapping, rows)
    stored_key = f"u{actor.pk if actor is not None else 0}/{source.key}/{idempotency_key}"
    first = ImportBatch.objects.filter(idempotency_key=stored_key).select_related("source").first()
    if first is not None:
        return _replayed(first, digest, idempotency_key)
    if not is_kind(kind):
        raise ServiceError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})", field="kind")
    if not records:
        raise ServiceError("a batch needs at least one record", field="records")
    header = list(dict.fromkeys(column for row in rows for column in row.fields))
    try:
        if mapping is not None:
            document = dict(mapping)
            document.setdefault("kind", kind)
            parsed = parse_mapping(document, origin="the batch's mapping")
            if parsed.kind != kind:
                raise ServiceError(f"the mapping is for {parsed.kind} records, not {kind}", field="mapping")
            parsed.check_header(header)
        else:
            parsed = Mapping.default_for(kind, header)
    except MappingError as exc:
        raise ServiceError(str(exc), field="mapping") from None

    resolver = UnitResolver.load()
    chunks = list(prepare.prepare_chunks(rows, parsed, resolver, CHUNK_ROWS))
    counts = _Counts()
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                source=source, label=(label or f"API {idempotency_key}")[:200], status=BatchStatus.RUNNING,
                created_by=actor, file_format="api", kind=kind, idempotency_key=stored_key, request_hash=digest,
                rows_expected=len(rows), mapping=_batch_mapping(parsed, header))
            writer = _RecordWriter(source=source, batch=batch)
            for chunk in chunks:
                writer.write(chunk, counts)
            batch = _finish(batch, counts, actor=actor, status=BatchStatus.DONE,
                            details={"idempotency_key": idempotency_key})
    except IntegrityError:
        # The same key pushed twice at once: the other request won, its report is the answer.
        first = ImportBatch.objects.filter(idempotency_key=stored_key).select_related("source").first()
        if first is None:
            raise
        return _replayed(first, digest, idempotency_key)
    return batch, False


# --------------------------------------------------------------------------- quarantine


def ordered_cells(row: QuarantinedRow) -> list[tuple[str, str | None]]:
    """A quarantined row's cells in the file's column order (the batch's header, then any
    cells beyond it), without the kind kept for FollowTheMoney rows."""
    header: list[str] = (row.batch.mapping or {}).get("header") or []
    cells: dict[str, str | None] = {k: v for k, v in row.raw.items() if k != KIND_CELL}
    ordered = [(column, cells[column]) for column in header if column in cells]
    seen = set(header)
    rest = sorted((column for column in cells if column not in seen), key=_column_order)
    return ordered + [(column, cells[column]) for column in rest]


def _column_order(column: str) -> tuple[int, str]:
    # Cells beyond the header are named by position ("#7"): in position order, after the rest.
    if column.startswith("#") and column[1:].isdigit():
        return 1, f"{int(column[1:]):09d}"
    return 0, column


def _visible_batch(actor: User | None, batch: ImportBatch, *, object_type: str, object_id: int) -> None:
    if actor is None:
        return
    from jingwu.records import selectors

    if not selectors.batches(actor).filter(pk=batch.pk).exists():
        access.deny(actor, Action.RECORDS_IMPORT, object_type=object_type, object_id=object_id)


def _open_row(row: QuarantinedRow) -> QuarantinedRow:
    locked = QuarantinedRow.objects.select_for_update().select_related("batch__source").get(pk=row.pk)
    if locked.status != QuarantineStatus.OPEN:
        raise ServiceError(f"row {locked.row_number} of batch {locked.batch_id} is already "
                           f"{locked.get_status_display()}", field="status")
    return locked


def quarantine_retry(*, actor: User | None, row: QuarantinedRow, corrected: MappingABC[str, str]) -> QuarantinedRow:
    """Correct a quarantined row (cells by column, as in the file) and import it with the
    batch's own mapping. Success stores a new or updated source record (or finds it
    unchanged) and marks the row fixed; the batch's report stays as it was at import time.
    A row that still fails raises RetryRejected with its issues and stays open."""
    _authorise(actor, object_type="quarantined_row", object_id=row.pk)
    _visible_batch(actor, row.batch, object_type="quarantined_row", object_id=row.pk)
    with transaction.atomic():
        locked = _open_row(row)
        batch = locked.batch
        stored = batch.mapping or {}
        header: list[str] | None = stored.get("header")
        cells: dict[str, str | None] = dict(locked.raw)
        kind = cells.pop(KIND_CELL, None)
        known = set(cells) | set(header or ())
        unknown = [column for column in corrected if column not in known]
        if unknown:
            columns = ", ".join(column for column, _value in ordered_cells(locked))
            raise ServiceError(f"no column {unknown[0]!r} in this row (columns: {columns})",
                               field=unknown[0])
        # An empty field for a cell the row did not have is no correction.
        corrected = {column: value for column, value in corrected.items()
                     if not (value == "" and cells.get(column) is None)}
        changed = sorted(column for column, value in corrected.items() if cells.get(column) != value)
        cells.update(corrected)
        try:
            mapping = mapping_from_document(stored.get("mapping"))
        except MappingError as exc:  # a batch written by an older version
            raise ServiceError(f"the batch's mapping cannot be used: {exc}", field="mapping") from None
        if mapping is None and kind is None:
            raise ServiceError("this row does not say what it holds (no mapping, no kind): discard it and "
                               "import the record again", field="status")
        extra = [column for column, value in cells.items()
                 if header is not None and column not in header and value and value.strip()]
        if extra:
            listed = ", ".join(f"{column} = {cells[column]!r}" for column in extra)
            raise RetryRejected([error_issue("", extra[0], cells[extra[0]], "extra_cells", f"row {locked.row_number}",
                                             f"cells beyond the header ({listed}): clear them or move the values "
                                             "into their columns")])
        item = prepare.prepare_row(readers.RawRow(locked.row_number, cells, None, kind), mapping,
                                   UnitResolver.load())
        if len(item) == 3:
            raise RetryRejected([FieldIssue(**issue) for issue in item[2]])
        good: GoodItem = item
        counts = _Counts()
        writer = _RecordWriter(source=batch.source, batch=batch)
        current = writer.write(PreparedChunk(good=[good]), counts, update_batch=False)
        locked.status = QuarantineStatus.FIXED
        locked.resolved_at = timezone.now()
        locked.resolved_by = actor
        locked.record_id = current[good[1]]
        locked.save(update_fields=["status", "resolved_at", "resolved_by", "record"])
        # Column names only: the values are in the row and the record, not copied into the log.
        audit.record(actor=actor, action="records.quarantine_retry", object_type="quarantined_row",
                     object_id=locked.pk,
                     details={"batch": batch.pk, "row": locked.row_number, "corrected_columns": changed,
                              "record": locked.record_id,
                              "outcome": "imported" if counts.imported else "unchanged"})
    return locked


def quarantine_discard(*, actor: User | None, row: QuarantinedRow, reason: str = "") -> QuarantinedRow:
    """Give up on a quarantined row; it stays, marked discarded, with who and why."""
    _authorise(actor, object_type="quarantined_row", object_id=row.pk)
    _visible_batch(actor, row.batch, object_type="quarantined_row", object_id=row.pk)
    with transaction.atomic():
        locked = _open_row(row)
        locked.status = QuarantineStatus.DISCARDED
        locked.resolved_at = timezone.now()
        locked.resolved_by = actor
        locked.save(update_fields=["status", "resolved_at", "resolved_by"])
        audit.record(actor=actor, action="records.quarantine_discard", object_type="quarantined_row",
                     object_id=locked.pk,
                     details={"batch": locked.batch_id, "row": locked.row_number, "reason": reason[:500]})
    return locked
