"""Benchmark: linking 串并案 recall and precision on the seeded fraud rings.

    .venv/bin/python bench/antifraud_linking.py                  # 60 rings, 100 lone frauds
    .venv/bin/python bench/antifraud_linking.py --rings 200 --lone 300 --seed 3

Seeds the synthetic province's org tree and `antifraud.synthetic.fraud_seed` into SQLite in a
temporary directory (reports linked incrementally as they are stored), then scores the
networks against the ground truth's ring labels, pairwise. Beside ours, in the same run and
on the same reports:

- ``payee account only``: reports joined when they paid the same account (the baseline);
- ``every identifier``: ours without the everyday-app stop list (微信, QQ … link nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measure import django_on_scratch, machine  # noqa: E402  (bench/ is on sys.path)


def union_find(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    return {x: find(x) for x in parent}


def baseline(*, payees_only: bool) -> dict[str, str]:
    """Networks joined on the accounts the victims paid, or on every identifier with no stop list."""
    from jingwu.antifraud.models import IdentifierSource, ReportIdentifier

    rows = ReportIdentifier.objects.all()
    if payees_only:
        rows = rows.filter(source=IdentifierSource.TRANSFER)
    roots = union_find((f"r:{n}", f"{k}:{v}") for n, k, v in rows.values_list("report__number", "kind", "value"))
    return {key[2:]: root for key, root in roots.items() if key.startswith("r:")}


def ours() -> dict[str, Any]:
    from jingwu.antifraud.warning_models import LinkNode

    return dict(LinkNode.objects.filter(report__isnull=False).values_list("report__number", "root_id"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rings", type=int, default=60)
    parser.add_argument("--lone", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2017)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jingwu-bench-linking-") as tmp:
        django_on_scratch(Path(tmp))
        from jingwu.antifraud import synthetic
        from jingwu.synthetic.services import province_build

        province_build(cities=3)
        started = time.perf_counter()
        seeded = synthetic.fraud_seed(seed=args.seed, rings=args.rings, lone=args.lone)
        seconds = time.perf_counter() - started
        truth = json.loads(seeded.ground_truth.read_text())["report_ring"]
        results = [("ours (every identifier, everyday apps excluded)", ours()),
                   ("baseline: payee account only", baseline(payees_only=True)),
                   ("every identifier, no stop list", baseline(payees_only=False))]
        scores = [(name, synthetic.linking_scores(truth, found)) for name, found in results]
    print(f"machine: {machine()}")
    print(f"seed {args.seed}: {seeded.reports} reports, {seeded.rings} rings + lone frauds; seeded and linked in "
          f"{seconds:.1f} s")
    print(f"{'method':<50} {'recall':>7} {'precision':>9} {'rings whole':>12}")
    for name, s in scores:
        print(f"{name:<50} {s.recall:>7.3f} {s.precision:>9.3f} {s.rings_whole:>6}/{s.rings:<5}")
    ours_s, base_s = scores[0][1], scores[1][1]
    print(f"ratio recall ours/baseline: {ours_s.recall / base_s.recall:.2f}; "
          f"precision ours/baseline: {ours_s.precision / base_s.precision:.2f}")


if __name__ == "__main__":
    main()
