"""Benchmark: building the search index (jingwu.search) from a seeded, linked province.

    .venv/bin/jingwu seed --people 20000 && .venv/bin/jingwu link    # once (JINGWU_VAR_DIR, DATABASE_URL)
    .venv/bin/python bench/search_index.py                            # indexes into a temporary folder
    .venv/bin/python bench/search_index.py --data var/e1m --out var/e1m/index-build.jsonl

``--data DIR`` reads the province in DIR/jingwu.sqlite3 (a folder as ``bench/search.py``
seeds); the indexes still go to a temporary folder, never to DIR/search.  ``ours`` runs
the real rebuild, which writes one audit entry into that database: give it a copy, not
a database someone else is measuring.

Measured in this process one after the other, each index into a fresh folder:

- ``read only``: the rows a rebuild reads (live entities, their units, person records),
  fetched and decoded, nothing built — the database's part;
- ``build + analyse``: the documents built and analysed into Tantivy's JSON, not indexed;
- ``raw Tantivy``: those prepared documents added to a Tantivy index with the same
  schema and the same writer as a rebuild's (heap, threads) and committed — the engine's
  part, the floor for any indexer on top of it;
- ``ours, N workers``: ``index_rebuild`` as ``jingwu index rebuild --workers N`` runs it.

Prints documents per second for each, ours beside raw Tantivy, CPU seconds (this
process and its workers) and CPU microseconds a document: on a shared host wall time
moves with other load, work does not.  ``--out`` appends the figures as one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
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
    parser.add_argument("--data", type=Path, default=None,
                        help="a province's folder holding jingwu.sqlite3 (default: the configured database)")
    parser.add_argument("--out", type=Path, default=None, help="append the figures to this file as a JSON line")
    args = parser.parse_args(argv)
    if args.data is not None:
        database = args.data.resolve() / "jingwu.sqlite3"
        if not database.is_file():
            parser.error(f"--data {args.data}: no jingwu.sqlite3 there")
        os.environ["JINGWU_VAR_DIR"] = str(args.data.resolve())
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    folder = Path(tempfile.mkdtemp(prefix="jingwu-bench-index-"))
    # Nothing of a rebuild may reach the province's own index, whatever the settings say.
    os.environ["JINGWU_SEARCH_DIR"] = str(folder / "unused")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jingwu.settings")
    os.environ.setdefault("JINGWU_LOG_LEVEL", "ERROR")
    import django

    django.setup()
    import tantivy
    from django.conf import settings
    from django.db import connection

    from jingwu.records.models import Entity, EntityRecord
    from jingwu.search import analysis, registry, services
    from jingwu.search.backend import BULK_WRITER_HEAP, BULK_WRITER_THREADS, SCHEMA, PreparedDocument, prepare

    kind = registry.doc_type("records.entity")
    total = kind.count()
    if total == 0:
        print("No entities: seed and link a province first (jingwu seed --people 20000; jingwu link).")
        return 1
    batches = list(kind.all_ids())
    load_before = os.getloadavg()
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

    def raw_tantivy() -> int:
        path = folder / "raw"
        path.mkdir()
        index = tantivy.Index(SCHEMA, path=str(path))
        analysis.register(index)
        writer = index.writer(heap_size=BULK_WRITER_HEAP, num_threads=BULK_WRITER_THREADS)
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
    load_after = os.getloadavg()
    shutil.rmtree(folder, ignore_errors=True)

    raw = next(r for r in results if r["label"].startswith("raw"))
    print(f"Search index build: {total:,} live entities ({connection.vendor}), batches of {kind.batch_size}.")
    print(f"{'':<44} {'documents':>10} {'wall s':>8} {'docs/s':>9} {'CPU s':>7} {'CPU µs/doc':>10} {'vs raw':>7}")
    for r in results:
        r["per_second"] = r["documents"] / r["seconds"] if r["seconds"] else 0.0
        r["cpu_us_per_doc"] = 1e6 * r["cpu"] / r["documents"] if r["documents"] else 0.0
        r["vs_raw"] = raw["seconds"] / r["seconds"] if r["label"].startswith("ours") else None
        ratio = f"{r['vs_raw']:.2f}" if r["vs_raw"] is not None else ""
        print(f"{r['label']:<44} {r['documents']:>10,} {r['seconds']:>8.2f} {r['per_second']:>9,.0f} {r['cpu']:>7.2f} "
              f"{r['cpu_us_per_doc']:>10.1f} {ratio:>7}")
    print(f"speed reference (fixed Python loop): {reference_before:.2f} s before, {reference_after:.2f} s after; "
          f"{os.cpu_count()} cores; load average (1, 5, 15 min) before {_loads(load_before)}, after "
          f"{_loads(load_after)}")
    print("'vs raw' = raw Tantivy's wall time / ours: the share of the engine's own speed ours keeps.")
    if args.out is not None:
        record = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "entities": total,
                  "database": connection.vendor, "load_before": load_before, "load_after": load_after,
                  "speed_reference": [reference_before, reference_after], "results": results}
        with args.out.open("a") as out:
            out.write(json.dumps(record) + "\n")
    return 0


def _loads(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
