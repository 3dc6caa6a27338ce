"""Benchmark: building the search index (jingwu.search) from a seeded, linked province.

    .venv/bin/jingwu seed --people 20000 && .venv/bin/jingwu link    # once (JINGWU_VAR_DIR, DATABASE_URL)
    .venv/bin/python bench/search_index.py                            # indexes into a temporary folder

Measured in this process one after the other, each index into a fresh folder:

- ``read only``: the rows a rebuild reads (live entities, their units, person records),
  fetched and decoded, nothing built — the database's part;
- ``build + analyse``: the documents built and analysed into Tantivy's JSON, not indexed;
- ``raw Tantivy``: those prepared documents added to a Tantivy index with the same
  schema and committed — the engine's part, the floor for any indexer on top of it;
- ``ours, N workers``: ``index_rebuild`` as ``jingwu index rebuild --workers N`` runs it.

Prints documents per second for each, ours beside raw Tantivy, and CPU seconds (this
process and its workers): on a shared host wall time moves with other load, work does not.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def speed_reference() -> float:
    """Seconds for a fixed pure-Python loop: the machine's speed at that moment."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i * i
    return time.perf_counter() - started


def cpu_seconds() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def measure(label: str, run: Callable[[], int]) -> dict[str, Any]:
    gc.collect()
    cpu, started = cpu_seconds(), time.perf_counter()
    documents = run()
    seconds = time.perf_counter() - started
    return {"label": label, "documents": documents, "seconds": seconds, "cpu": cpu_seconds() - cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="worker counts to run (1 2)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jingwu.settings")
    os.environ.setdefault("JINGWU_LOG_LEVEL", "ERROR")
    import django

    django.setup()
    import tantivy
    from django.conf import settings
    from django.db import connection

    from jingwu.records.models import Entity, EntityRecord
    from jingwu.search import analysis, registry, services
    from jingwu.search.backend import SCHEMA, PreparedDocument, prepare

    kind = registry.doc_type("records.entity")
    total = kind.count()
    if total == 0:
        print("No entities: seed and link a province first (jingwu seed --people 20000; jingwu link).")
        return 1
    batches = list(kind.all_ids())
    reference_before = speed_reference()
    results = []

    def read_only() -> int:
        n = 0
        for ids in batches:
            for qs in (Entity.objects.filter(pk__in=ids).values_list("pk", "kind", "attributes", "unit__path",
                                                                    "updated_at"),
                       EntityRecord.objects.filter(entity_id__in=ids, kind="person")
                       .values_list("entity_id", "record__payload")):
                sql, params = qs.query.sql_with_params()
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    for row in cursor.fetchall():
                        for value in row:
                            if isinstance(value, str) and value[:1] == "{":
                                json.loads(value)
            n += len(ids)
        return n

    prepared: list[PreparedDocument] = []

    def build_and_analyse() -> int:
        gc.disable()
        try:
            for ids in batches:
                prepared.extend(prepare(list(kind.build(ids))))
        finally:
            gc.enable()
        return len(prepared)

    folder = Path(tempfile.mkdtemp(prefix="jingwu-bench-index-"))

    def raw_tantivy() -> int:
        path = folder / "raw"
        path.mkdir()
        index = tantivy.Index(SCHEMA, path=str(path))
        analysis.register(index)
        writer = index.writer(heap_size=128_000_000, num_threads=1)
        for doc in prepared:
            writer.add_json(doc.json)
        writer.commit()
        writer.wait_merging_threads()
        return len(prepared)

    results.append(measure("read only (database)", read_only))
    results.append(measure("build + analyse, no index", build_and_analyse))
    results.append(measure("raw Tantivy, prepared documents", raw_tantivy))
    prepared.clear()
    for workers in args.workers:
        settings.JINGWU_SEARCH_DIR = folder / f"ours-{workers}"

        def ours(workers: int = workers) -> int:
            return services.index_rebuild(workers=workers).total

        results.append(measure(f"ours, jingwu index rebuild --workers {workers}", ours))
    reference_after = speed_reference()

    raw = next(r for r in results if r["label"].startswith("raw"))
    print(f"Search index build: {total:,} live entities ({connection.vendor}), batches of {kind.batch_size}.")
    print(f"{'':<44} {'documents':>10} {'wall s':>8} {'docs/s':>9} {'CPU s':>7} {'vs raw':>7}")
    for r in results:
        rate = r["documents"] / r["seconds"] if r["seconds"] else 0.0
        ratio = f"{raw['seconds'] / r['seconds']:.2f}" if r["label"].startswith("ours") else ""
        print(f"{r['label']:<44} {r['documents']:>10,} {r['seconds']:>8.2f} {rate:>9,.0f} {r['cpu']:>7.2f} "
              f"{ratio:>7}")
    print(f"speed reference (fixed Python loop): {reference_before:.2f} s before, {reference_after:.2f} s after; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print("'vs raw' = raw Tantivy's wall time / ours: the share of the engine's own speed ours keeps.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
