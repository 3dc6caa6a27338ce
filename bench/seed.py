"""Benchmark: generating and storing the synthetic province's people.

    .venv/bin/python bench/seed.py                    # 1,000,000 people, SQLite and PostgreSQL
    .venv/bin/python bench/seed.py --people 100000    # quicker

Each measurement runs in a fresh process:

- ``generate``: the seed pipeline (registry, worker processes rendering records and the
  ground truth) with nothing stored — the baseline, so the cost of storing is visible;
- ``sqlite``: `people_store` into a fresh SQLite file (WAL, as the settings open it);
- ``postgres``: `people_store` into a fresh database on the server named by
  DATABASE_URL, else the embedded one (jingwu.testing.postgres).

Migrations and the organisation tree are built first and not timed; the time is for
people 0 … N-1: generating them, their source records and ground truth, and storing.
Peak memory is sampled (psutil, every 50 ms) over the measuring process and its worker
processes together; the PostgreSQL server's own memory is not counted. CPU seconds
(user + system) of the seeding processes and of the PostgreSQL backend are reported
too: on a shared machine wall time moves with other load, the work done does not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measure import PeakMemory, machine, postgres_database_url  # noqa: E402  (bench/ is on sys.path)

TARGETS: Final = ("generate", "sqlite", "postgres")
BENCH_DB: Final = "jingwu_bench_seed"






def _postgres_backend() -> Any:
    """The server process behind this connection (the server runs on this machine)."""
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return psutil.Process(cursor.fetchone()[0])


def _cpu_seconds(backend: Any) -> tuple[float, float]:
    """CPU seconds (user + system) of this process and its reaped children, and of the
    PostgreSQL backend when there is one: the work done, whatever else ran on the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    server = 0.0
    if backend is not None:
        times = backend.cpu_times()
        server = times.user + times.system
    return client, server


def child(args: argparse.Namespace) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "jingwu.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from jingwu.synthetic import services

    workers = args.workers
    result: dict[str, Any] = {"target": args.child}
    if args.child != "generate":
        call_command("migrate", verbosity=0)
        services.province_build(cities=args.cities)
        if connection.vendor == "sqlite":
            import sqlite3

            result["database"] = f"SQLite {sqlite3.sqlite_version}"
        else:
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                result["database"] = f"PostgreSQL {cursor.fetchone()[0]}"

    backend = _postgres_backend() if args.child == "postgres" else None
    cpu_before = _cpu_seconds(backend)
    with PeakMemory() as memory:
        started = time.perf_counter()
        if args.child == "generate":
            records = 0
            for chunk in services.people_generate(seed=args.seed, cities=args.cities, people=args.people,
                                                  workers=workers):
                records += len(chunk.rows)
        else:
            stored = services.people_store(seed=args.seed, cities=args.cities, people=args.people, workers=workers,
                                           ground_truth_directory=Path(args.workdir))
            records = sum(stored.records.values())
        seconds = time.perf_counter() - started
    cpu_after = _cpu_seconds(backend)
    result["cpu_client"] = cpu_after[0] - cpu_before[0]
    result["cpu_server"] = cpu_after[1] - cpu_before[1]
    result.update(people=args.people, records=records, seconds=seconds, peak_rss=memory.peak,
                  self_maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    if args.child == "sqlite":
        result["db_bytes"] = sum(p.stat().st_size for p in Path(args.workdir).glob("bench.sqlite3*"))
    print(json.dumps(result))


def speed_reference() -> float:
    """Seconds for a fixed pure-Python loop: the machine's speed at that moment. On a
    shared host it moves with other load, and so do all the figures beside it."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i * i
    return time.perf_counter() - started


def run_child(target: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = dict(os.environ, JINGWU_VAR_DIR=str(workdir), JINGWU_LOG_LEVEL="ERROR")
    if target == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    elif target == "postgres":
        env["DATABASE_URL"] = postgres_database_url(BENCH_DB)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", target, "--people", str(args.people),
               "--cities", str(args.cities), "--seed", str(args.seed), "--workers", str(args.workers),
               "--workdir", str(workdir)]
    reference = speed_reference()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{target} run failed")
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    result["speed_reference"] = (reference + speed_reference()) / 2
    return result




def table(results: dict[str, dict[str, Any]]) -> str:
    columns = [t for t in TARGETS if t in results]
    header = f"{'':<22}" + "".join(f"{c:>14}" for c in columns)
    both = "sqlite" in results and "postgres" in results
    if both:
        header += f"{'PG/SQLite':>12}"
    lines = [header]

    def row(label: str, value: Any, fmt: str, ratio: bool = True) -> None:
        cells = [value(results[c]) for c in columns]
        line = f"{label:<22}" + "".join(f"{v:>14{fmt}}" for v in cells)
        if both and ratio:
            line += f"{value(results['postgres']) / value(results['sqlite']):>12.2f}"
        lines.append(line)

    row("wall time (s)", lambda r: r["seconds"], ".1f")
    row("people/s", lambda r: r["people"] / r["seconds"], ",.0f")
    row("records/s", lambda r: r["records"] / r["seconds"], ",.0f")
    row("records", lambda r: r["records"], ",", ratio=False)
    row("CPU s, seed processes", lambda r: r["cpu_client"], ".1f")
    row("CPU s, PG backend", lambda r: r["cpu_server"], ".1f", ratio=False)
    row("speed reference (s)", lambda r: r["speed_reference"], ".2f")
    row("peak RSS, all (MiB)", lambda r: r["peak_rss"] / 2**20, ",.0f")
    row("peak RSS, main (MiB)", lambda r: r["self_maxrss"] / 2**20, ",.0f")
    if "generate" in results:
        for target in ("sqlite", "postgres"):
            if target in results:
                share = 1 - results["generate"]["seconds"] / results[target]["seconds"]
                lines.append(f"storing is {share:.0%} of the {target} wall time "
                             f"({results[target]['seconds'] - results['generate']['seconds']:.1f} s over generating)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--cities", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="generator processes (default: up to 2)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    print(f"bench/seed.py: {args.people:,} people, {args.cities} cities, seed {args.seed}, "
          f"{args.workers} generator processes")
    print(machine())
    results: dict[str, dict[str, Any]] = {}
    for target in args.targets.split(","):
        with tempfile.TemporaryDirectory(prefix=f"jingwu-bench-seed-{target}-") as tmp:
            results[target] = run_child(target, args, Path(tmp))
        r = results[target]
        print(f"  {target:<9} {r['seconds']:7.1f} s  {r['people'] / r['seconds']:>9,.0f} people/s  "
              f"peak {r['peak_rss'] / 2**20:,.0f} MiB  {r.get('database', '')}", flush=True)
    print()
    print(table(results))
    if args.json:
        report = {"machine": machine(), "args": vars(args), "results": results}
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
