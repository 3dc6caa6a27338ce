"""Writes to the search index.

The index follows the database: an app that changes searchable things calls
:func:`index_later` inside its transaction; when the transaction commits, a job
(tasks.py) builds those documents again from the database and replaces them in the
index (ids that are gone are removed).  Jobs run in the job consumer (``jingwu serve``
runs one in-process), or at once in tests (JINGWU_JOBS_IMMEDIATE).  A change touching
very many ids queues a rebuild of the type instead of a list of ids.
:func:`index_rebuild` builds everything again (``jingwu index rebuild``).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from django.conf import settings
from django.db import connection, connections, transaction

from jingwu.core import audit
from jingwu.core.models import User
from jingwu.core.services import ServiceError
from jingwu.search import registry
from jingwu.search.backend import PreparedDocument, get_backend, prepare
from jingwu.search.registry import SearchDocument

__all__ = ["FULL_REINDEX_AT", "RebuildReport", "index_later", "index_rebuild", "index_update", "read_state"]

# More ids than this in one change: rebuild the type (one job, not a huge argument list).
FULL_REINDEX_AT: Final = 20_000
STATE_FILE: Final = "state.json"

Progress = Callable[[str, int, int], None]  # (doc_type, done, total)


def index_later(doc_type: str, ids: Iterable[int]) -> None:
    """Queue these objects for the index once the current transaction commits (at once
    outside a transaction).  A failure to queue never breaks the caller's write."""
    registry.doc_type(doc_type)  # an unknown type is a programming error: fail at the call
    wanted = sorted(set(ids))
    if not wanted:
        return
    enqueued_at = time.time()

    def send() -> None:
        from jingwu.search import tasks

        if len(wanted) > FULL_REINDEX_AT:
            tasks.index_type(doc_type, enqueued_at)
        else:
            tasks.index_ids(doc_type, wanted, enqueued_at)

    transaction.on_commit(send, robust=True)


def _state_path() -> Path:
    return Path(settings.JINGWU_SEARCH_DIR) / STATE_FILE


def read_state() -> dict[str, Any]:
    try:
        return dict(json.loads(_state_path().read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def _write_state(*, enqueued_at: float | None = None, rebuilt: Sequence[str] = ()) -> None:
    """When the index last changed, and the newest queued change it holds (for the lag)."""
    state = read_state()
    now = time.time()
    state["committed_at"] = now
    if enqueued_at is not None:
        state["through"] = max(float(state.get("through", 0.0)), enqueued_at)
    for name in rebuilt:
        state.setdefault("rebuilt_at", {})[name] = now
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def index_update(*, doc_type: str, ids: Sequence[int], enqueued_at: float | None = None) -> int:
    """Build the documents of ``ids`` from the database and replace them in the index;
    ids with no document (deleted, merged away) are removed.  Returns documents written."""
    kind = registry.doc_type(doc_type)
    docs: list[SearchDocument] = []
    for start in range(0, len(ids), kind.batch_size):
        docs.extend(kind.build(ids[start:start + kind.batch_size]))
    built = {d.id for d in docs}
    gone = [f"{doc_type}:{pk}" for pk in ids if pk not in built]
    written = get_backend().index(docs, delete=gone)
    _write_state(enqueued_at=enqueued_at)
    return written


@dataclass
class RebuildReport:
    documents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.documents.values())

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """No cyclic garbage collection while building documents in bulk: they hold no cycles,
    and the collector's passes over the millions of young objects cost a third of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _prepare_batch(task: tuple[str, Sequence[int]]) -> list[PreparedDocument]:
    """In a worker process: one batch of ids, built and prepared."""
    name, ids = task
    with _bulk_allocation():
        return prepare(list(registry.doc_type(name).build(ids)))


def _worker_start() -> None:
    # The parent's database connections were closed before the fork; each worker opens its own.
    connections.close_all()


def _prepared(kind: registry.DocumentType, pool: Any, progress: Progress | None,
              total: int) -> Iterator[PreparedDocument]:
    done = 0
    if pool is None:
        batches: Iterable[list[PreparedDocument]] = (prepare(list(kind.build(ids))) for ids in kind.all_ids())
    else:
        batches = pool.imap(_prepare_batch, ((kind.name, ids) for ids in kind.all_ids()))
    for prepared in batches:
        yield from prepared
        done += len(prepared)
        if progress is not None:
            progress(kind.name, min(done, total), total)


def index_rebuild(*, actor: User | None = None, doc_types: Sequence[str] | None = None,
                  progress: Progress | None = None, enqueued_at: float | None = None,
                  workers: int = 1) -> RebuildReport:
    """Build every document of the given types (all by default) again, one atomic commit
    per type: searches see the old documents until the new ones are all in.

    ``workers`` > 1 builds documents in that many forked processes (each with its own
    database connection) while this one feeds the index; for the command line only, as
    the workers cannot see an open transaction's rows."""
    kinds = [registry.doc_type(name) for name in doc_types] if doc_types else registry.doc_types()
    if workers > 1 and connection.in_atomic_block:
        raise ServiceError("a parallel rebuild cannot run inside a transaction", field="workers")
    report = RebuildReport()
    started = time.perf_counter()
    backend = get_backend()
    if not backend.schema_current():
        if doc_types and {k.name for k in kinds} != {t.name for t in registry.doc_types()}:
            raise ServiceError("the index has an old schema: rebuild every type", field="doc_types")
        backend.recreate()
    for kind in kinds:
        total = kind.count()
        if progress is not None:
            progress(kind.name, 0, total)
        with _bulk_allocation(), ExitStack() as stack:
            pool = None
            if workers > 1:
                connections.close_all()  # forked children must not share the parent's connection
                pool = stack.enter_context(multiprocessing.get_context("fork").Pool(workers, _worker_start))
            report.documents[kind.name] = backend.index(_prepared(kind, pool, progress, total), clear=[kind.name],
                                                       bulk=True)
    report.seconds = time.perf_counter() - started
    _write_state(enqueued_at=enqueued_at, rebuilt=[k.name for k in kinds])
    audit.record(actor=actor, action="search.index_rebuild", object_type="search_index",
                 details={"documents": report.documents, "seconds": round(report.seconds, 2), "workers": workers})
    return report


def stamp(value: float | None) -> dt.datetime | None:
    """A state time as an aware datetime."""
    return dt.datetime.fromtimestamp(value, tz=dt.UTC) if value else None
