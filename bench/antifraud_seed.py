"""Benchmark: the anti-fraud step of `jingwu seed` (synthetic.fraud_seed) with and without
pushing its signal stream through the early-warning engine.

    .venv/bin/python bench/antifraud_seed.py                 # --people 2000 --cities 1, 3 rounds
    .venv/bin/python bench/antifraud_seed.py --rounds 5

The province and its people are built once into an SQLite file (not timed). Each round then
copies that file and runs fraud_seed in a fresh process twice: `warn=False` — the step as it
was before the engine pass, the baseline — and `warn=True`, as `jingwu seed` runs it now.
Wall and CPU seconds (user + system of the measuring process) are reported, with medians over
the rounds and the ratio: the engine pass's cost is the difference. The URLconf is imported
before timing in both modes (the seed's earlier steps import it anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measure import machine  # noqa: E402  (bench/ is on sys.path)

SEED: Final = 2017


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def build(args: argparse.Namespace) -> None:
    """The province and its people, into JINGWU_VAR_DIR/bench.sqlite3."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "jingwu.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from jingwu.synthetic import services

    call_command("migrate", verbosity=0)
    services.synthetic_seed(people=args.people, cities=args.cities, seed=SEED, workers=0,
                            ground_truth_directory=Path(args.workdir) / "truth")


def measure(args: argparse.Namespace) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "jingwu.settings"
    import django

    django.setup()
    from django.urls import get_resolver

    from jingwu.antifraud import synthetic
    from jingwu.antifraud.warning_models import FraudWarning, Signal
    from jingwu.core.models import WorkItem

    # The URLconf (imported on the first reverse(), ~2 s of imports) is loaded before timing in
    # both modes: `jingwu seed`'s earlier steps load it anyway, and it is not the engine's cost.
    get_resolver().url_patterns  # noqa: B018
    warn = args.child == "with-engine"
    cpu, started = _cpu(), time.perf_counter()
    seeded = synthetic.fraud_seed(seed=SEED, directory=Path(args.workdir) / "fraud", warn=warn)
    seconds, cpu_seconds = time.perf_counter() - started, _cpu() - cpu
    print(json.dumps({"mode": args.child, "seconds": seconds, "cpu": cpu_seconds, "reports": seeded.reports,
                      "signals": Signal.objects.count(), "warnings": FraudWarning.objects.count(),
                      "open_tasks": WorkItem.objects.filter(source_app="antifraud", source_type="warning",
                                                            status="open").count()}))


def run(child: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ, JINGWU_VAR_DIR=str(workdir), JINGWU_LOG_LEVEL="ERROR",
               DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}")
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", child, "--people",
                          str(args.people), "--cities", str(args.cities), "--workdir", str(workdir)],
                         env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1]) if child != "build" else {}
    return result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--cities", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=("build", "without-engine", "with-engine"))
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.child == "build":
        build(args)
        return
    if args.child:
        measure(args)
        return
    with tempfile.TemporaryDirectory(prefix="jingwu-afseed-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        run("build", base, args)
        results: dict[str, list[dict[str, Any]]] = {"without-engine": [], "with-engine": []}
        for n in range(args.rounds):
            for mode in results:
                workdir = Path(tmp) / f"{mode}-{n}"
                workdir.mkdir()
                shutil.copy(base / "bench.sqlite3", workdir / "bench.sqlite3")
                results[mode].append(run(mode, workdir, args))
    print(f"fraud_seed (the anti-fraud step of `jingwu seed`), province of {args.people} people, "
          f"{args.cities} city, seed {SEED}; {args.rounds} rounds, medians; {machine()}")
    print(f"{'mode':<16}{'wall s':>9}{'cpu s':>9}{'signals':>9}{'warnings':>10}{'open tasks':>12}")
    figures = {}
    for mode, rows in results.items():
        wall, cpu = median([r["seconds"] for r in rows]), median([r["cpu"] for r in rows])
        figures[mode] = (wall, cpu)
        last = rows[-1]
        print(f"{mode:<16}{wall:>9.2f}{cpu:>9.2f}{last['signals']:>9}{last['warnings']:>10}{last['open_tasks']:>12}")
        print("  runs (wall/cpu): " + ", ".join(f"{r['seconds']:.2f}/{r['cpu']:.2f}" for r in rows))
    (wall0, cpu0), (wall1, cpu1) = figures["without-engine"], figures["with-engine"]
    print(f"ratio with/without: wall {wall1 / wall0:.2f}x, cpu {cpu1 / cpu0:.2f}x; "
          f"the engine pass costs {cpu1 - cpu0:.2f} cpu s")


if __name__ == "__main__":
    main()
