"""Benchmark: `jingwu import` of a person CSV with validation, into SQLite and PostgreSQL.

    .venv/bin/python bench/import.py                  # 1,000,000 rows
    .venv/bin/python bench/import.py --rows 100000    # quicker

A household-registration style CSV (姓名, 证件号码, 性别, 出生日期, 联系电话, 住址,
行政区划代码) is generated once per row count and seed (bench/out/, not committed): valid
rows for people of the first three cities of the synthetic province, and about 1% bad
rows — wrong ID check characters, impossible dates, numbers that are not mobiles,
ragged lines. Each measurement runs in a fresh process:

- ``baseline``: read + normalise only (readers.read_file, rows.normalize_row and the
  content hash), no database — so the cost of storing is visible;
- ``sqlite``: services.import_file into a fresh SQLite file (WAL, as the settings open it);
- ``postgres``: the same into a fresh database on the server named by DATABASE_URL,
  else the embedded one (jingwu.testing.postgres).

Migrations and the organisation tree (units resolve each record's jurisdiction) are
built first and not timed. The import reads and normalises a file this big in worker
processes (one per core, up to services.MAX_WORKERS) while the importing process writes;
the baseline is one process, so "over the baseline" is what storing adds to the wall
time, not its CPU cost. Unless ``--no-reimport`` is given the same file is imported a
second time, when every row is unchanged. Peak memory is sampled (psutil, every 50 ms)
over the measuring process and its workers together; the PostgreSQL server's own memory
is not counted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
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

TARGETS: Final = ("baseline", "sqlite", "postgres")
BENCH_DB: Final = "jingwu_bench_import"
CITIES: Final = 3
HEADER: Final = "姓名,证件号码,性别,出生日期,联系电话,住址,行政区划代码"
SURNAMES: Final = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN: Final = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅德新海波宁健云飞鑫浩宇晨欣怡佳琪子涵"
# Mobile prefixes and a few hundred region blocks: about what one province's numbers look like.
PREFIXES: Final = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                   "155", "156", "157", "158", "159", "176", "177", "178", "180", "181", "182", "186", "187",
                   "188", "189", "198", "199")


def generate_csv(path: Path, rows: int, seed: int, bad_share: float) -> dict[str, int]:
    """Write the benchmark file; returns how many rows of each kind it holds."""
    from jingwu.core.identifiers import make_resident_id
    from jingwu.synthetic.province import province_layout

    rng = random.Random(seed)
    towns = province_layout(CITIES).townships
    regions = [f"{rng.randrange(10_000):04d}" for _ in range(300)]
    seen: set[str] = set()
    kinds = {"valid": 0, "bad_check": 0, "bad_date": 0, "bad_phone": 0, "ragged": 0}
    first_day = dt.date(1940, 1, 1)
    tmp = path.with_suffix(".partial")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        for _ in range(rows):
            town = towns[rng.randrange(len(towns))]
            while True:
                birth = first_day + dt.timedelta(days=rng.randrange(30_000))
                id_number = make_resident_id(town.county_code, birth, rng.randrange(1, 1000))
                if id_number not in seen:
                    seen.add(id_number)
                    break
            name = SURNAMES[rng.randrange(len(SURNAMES))] + "".join(
                GIVEN[rng.randrange(len(GIVEN))] for _ in range(rng.choice((1, 2, 2))))
            sex = "男" if int(id_number[16]) % 2 else "女"
            birth_text = birth.strftime("%Y%m%d")
            phone = PREFIXES[rng.randrange(len(PREFIXES))] + regions[rng.randrange(len(regions))] + \
                f"{rng.randrange(10_000):04d}"
            address = f"山东省{town.name}{rng.randrange(1, 300)}号"
            kind = "valid"
            if rng.random() < bad_share:
                kind = rng.choice(("bad_check", "bad_date", "bad_phone", "ragged"))
                if kind == "bad_check":
                    id_number = id_number[:17] + ("0" if id_number[17] != "0" else "1")
                elif kind == "bad_date":
                    birth_text = birth_text[:4] + "13" + birth_text[6:]
                elif kind == "bad_phone":
                    phone = phone[:10]
            kinds[kind] += 1
            if kind == "ragged":
                out.write(f"{name},{id_number},{sex},{birth_text}\n")
            else:
                out.write(f"{name},{id_number},{sex},{birth_text},{phone},{address},{town.code}\n")
    tmp.rename(path)
    return kinds


def bench_file(rows: int, seed: int, bad_share: float) -> Path:
    folder = ROOT / "bench" / "out"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"import-people-{rows}-{seed}-{bad_share:g}.csv"
    if not path.exists():
        started = time.perf_counter()
        kinds = generate_csv(path, rows, seed, bad_share)
        print(f"generated {path.relative_to(ROOT)} in {time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{k} {v:,}" for k, v in kinds.items()), flush=True)
    return path






def _baseline(path: Path) -> dict[str, Any]:
    from jingwu.records.mapping import Mapping
    from jingwu.records.readers import read_file
    from jingwu.records.rows import GoodRow, content_hash, normalize_row

    good = bad = 0
    with read_file(path) as stream:
        assert stream.header is not None
        mapping = Mapping.default_for("person", stream.header)
        for raw in stream:
            result = normalize_row(raw, mapping)
            if isinstance(result, GoodRow):
                content_hash(result.fields)
                good += 1
            else:
                bad += 1
    return {"read": good + bad, "imported": good, "unchanged": 0, "quarantined": bad}


def child(args: argparse.Namespace) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "jingwu.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    path = Path(args.csv)
    result: dict[str, Any] = {"target": args.child}
    memory = PeakMemory()
    if args.child == "baseline":
        with memory:
            started = time.perf_counter()
            result["counts"] = _baseline(path)
            result["seconds"] = time.perf_counter() - started
    else:
        from jingwu.records import services
        from jingwu.synthetic.services import province_build

        call_command("migrate", verbosity=0)
        province_build(cities=CITIES)
        services.source_create(actor=None, key="hukou", name="户籍人口")
        if connection.vendor == "sqlite":
            import sqlite3

            result["database"] = f"SQLite {sqlite3.sqlite_version}"
        else:
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                result["database"] = f"PostgreSQL {cursor.fetchone()[0]}"
        result["workers"] = min(services.MAX_WORKERS, os.cpu_count() or 1)
        runs = 2 if args.reimport else 1
        for run in range(runs):
            memory = PeakMemory()
            with memory:
                started = time.perf_counter()
                batch = services.import_file(actor=None, source_key="hukou", path=path, kind="person")
                seconds = time.perf_counter() - started
            result.setdefault("peak_rss", memory.peak)  # the first import's
            counts = {"read": batch.rows_read, "imported": batch.rows_imported, "unchanged": batch.rows_unchanged,
                      "quarantined": batch.rows_quarantined}
            assert batch.balances, counts
            if run == 0:
                result.update(seconds=seconds, counts=counts)
            else:
                result.update(reimport_seconds=seconds, reimport_counts=counts)
        if connection.vendor == "sqlite":
            result["db_bytes"] = sum(p.stat().st_size for p in Path(args.workdir).glob("bench.sqlite3*"))
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_database_size(current_database())")
                result["db_bytes"] = cursor.fetchone()[0]
    result.setdefault("peak_rss", memory.peak)  # the baseline's
    result["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


def run_child(target: str, args: argparse.Namespace, csv_path: Path, workdir: Path) -> dict[str, Any]:
    env = dict(os.environ, JINGWU_VAR_DIR=str(workdir), JINGWU_LOG_LEVEL="ERROR")
    if target == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    elif target == "postgres":
        env["DATABASE_URL"] = postgres_database_url(BENCH_DB)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", target, "--csv", str(csv_path),
               "--workdir", str(workdir)]
    if args.reimport:
        command.append("--reimport")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{target} run failed")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))




def table(results: dict[str, dict[str, Any]]) -> str:
    columns = [t for t in TARGETS if t in results]
    both = "sqlite" in results and "postgres" in results
    lines = [f"{'':<26}" + "".join(f"{c:>14}" for c in columns) + (f"{'PG/SQLite':>12}" if both else "")]

    def row(label: str, value: Any, fmt: str, ratio: bool = True, only_db: bool = False) -> None:
        cells = []
        for c in columns:
            shown = value(results[c]) if not (only_db and c == "baseline") else None
            cells.append(f"{shown:>14{fmt}}" if shown is not None else f"{'—':>14}")
        line = f"{label:<26}" + "".join(cells)
        if both and ratio:
            line += f"{value(results['postgres']) / value(results['sqlite']):>12.2f}"
        lines.append(line)

    row("rows read", lambda r: r["counts"]["read"], ",", ratio=False)
    row("imported", lambda r: r["counts"]["imported"], ",", ratio=False)
    row("quarantined", lambda r: r["counts"]["quarantined"], ",", ratio=False)
    row("wall time (s)", lambda r: r["seconds"], ".1f")
    row("rows/s", lambda r: r["counts"]["read"] / r["seconds"], ",.0f")
    if any("reimport_seconds" in r for r in results.values()):
        row("re-import, unchanged (s)", lambda r: r["reimport_seconds"], ".1f", only_db=True)
        row("re-import rows/s", lambda r: r["reimport_counts"]["read"] / r["reimport_seconds"], ",.0f",
            only_db=True)
    row("processes", lambda r: 1 + r.get("workers", 0), "", ratio=False)
    row("peak RSS, all (MiB)", lambda r: r["peak_rss"] / 2**20, ",.0f")
    row("peak RSS, main (MiB)", lambda r: r["maxrss"] / 2**20, ",.0f")
    row("database size (MiB)", lambda r: r.get("db_bytes", 0) / 2**20, ",.0f", only_db=True)
    if "baseline" in results:
        for target in ("sqlite", "postgres"):
            if target in results:
                over = results[target]["seconds"] - results["baseline"]["seconds"]
                lines.append(f"{target}: {over:+.1f} s over one process reading and normalising "
                             f"({results[target]['seconds'] / results['baseline']['seconds']:.2f}x the baseline)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--bad", type=float, default=0.01, help="share of bad rows (default 0.01)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--no-reimport", dest="reimport", action="store_false",
                        help="skip the second, all-unchanged import")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--reimport", dest="reimport", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.set_defaults(reimport=True)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jingwu.settings")
    csv_path = bench_file(args.rows, args.seed, args.bad)
    print(f"bench/import.py: {args.rows:,} person rows ({csv_path.stat().st_size / 2**20:,.0f} MiB CSV, "
          f"{args.bad:.0%} bad), seed {args.seed}")
    print(machine())
    results: dict[str, dict[str, Any]] = {}
    for target in args.targets.split(","):
        with tempfile.TemporaryDirectory(prefix=f"jingwu-bench-import-{target}-") as tmp:
            results[target] = run_child(target, args, csv_path, Path(tmp))
        r = results[target]
        print(f"  {target:<9} {r['seconds']:7.1f} s  {r['counts']['read'] / r['seconds']:>9,.0f} rows/s  "
              f"peak {r['peak_rss'] / 2**20:,.0f} MiB  {r.get('database', '')}", flush=True)
    print()
    print(table(results))
    if args.json:
        report = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}, "results": results}
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
