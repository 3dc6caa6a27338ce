"""Benchmark: from a victim's report to its first stop-payment request at a bank.

    .venv/bin/python bench/antifraud_stop.py                    # 200 reports, SQLite
    .venv/bin/python bench/antifraud_stop.py --database postgres
    .venv/bin/python bench/antifraud_stop.py --reports 50 --latency-ms 20

The bank simulator (`jingwu bank-sim`) runs as a subprocess, generating the accounts it is
asked about (some keep the money, some pass it on, so reports are chased a hop or two). An
anti-fraud analyst files each report through services.fraud_report_submit — the path the
page and the API take — one after another; each report's chase finishes before the next.

- ``ours``: report → first request: from the moment the service is called (the report's
  created_at) to the moment the first of its requests was accepted by the bank (its
  first_stop_sent_at: the sender's time on reading the bank's 202);
- ``floor``: the same simulator's raw round trip for one stop request over HTTP (the same
  client library, a fresh idempotency key each time), measured in the same run;
- the split of ours: ``write`` (checking and storing the report, until it commits) and
  ``send`` (commit → the bank's 202: handing to the sender thread, claiming, the HTTP try,
  recording it).

The issue's target is report → first request p99 ≤ 1 s on this machine."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measure import PeakMemory, django_on_scratch, machine, percentile  # noqa: E402  (bench/ is on sys.path)

BENCH_DB: Final = "jingwu_bench_antifraud"


def analyst() -> tuple[Any, Any]:
    from jingwu.core import services
    from jingwu.core.models import UnitKind

    province = services.unit_create(actor=None, code="370000", name="山东省公安厅", kind=UnitKind.PROVINCE)
    city = services.unit_create(actor=None, code="370100", name="济南市公安局", kind=UnitKind.CITY, parent=province)
    station = services.unit_create(actor=None, code="370102S01", name="泉城路派出所", kind=UnitKind.STATION,
                                   parent=city)
    centre = services.unit_create(actor=None, code="370100D-FZ", name="济南市公安局反诈中心",
                                  kind=UnitKind.DEPARTMENT, parent=city, department="anti_fraud")
    user = services.user_create(actor=None, username="bench_analyst", password="bench-password-1", home_unit=centre)
    services.role_grant(actor=None, user=user, role="fraud_analyst", unit=centre)
    return user, station


def account(i: int) -> str:
    from jingwu.core.identifiers import luhn_check_digit

    stem = f"621700{i:012d}"
    return stem + luhn_check_digit(stem)


def floor_round_trips(n: int, first: int) -> list[float]:
    from jingwu.antifraud import bank_client

    times = []
    for i in range(first, first + n):
        started = time.perf_counter()
        reply = bank_client.submit("CCB", {"account": account(10_000_000 + i), "amount_fen": 100_000},
                                   key=f"floor-{i}", timeout=5)
        times.append((time.perf_counter() - started) * 1000)
        assert reply.status == 202, reply
    return times


def ours(n: int, user: Any, station: Any) -> tuple[list[float], list[float], list[float]]:
    from jingwu.antifraud import sender, services
    from jingwu.antifraud.models import FraudReport

    total, write, send = [], [], []
    for i in range(n):
        data = services.ReportInput(
            victim_name="王秀英", fraud_type="order_rebate", phones=[f"1710000{i:04d}"],
            transfers=[services.TransferInput(payee_account=account(i), payee_bank="ICBC", amount_fen=100_000 + i,
                                              transferred_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))])
        called = time.perf_counter()
        report = services.fraud_report_submit(actor=user, unit=station, data=data).report
        committed = time.perf_counter()
        assert sender.wait_idle(120), "the sender did not finish"
        report = FraudReport.objects.get(pk=report.pk)
        assert report.first_stop_sent_at is not None, f"report {report.number}: no request reached the bank"
        latency = (report.first_stop_sent_at - report.created_at).total_seconds() * 1000
        total.append(latency)
        write.append((committed - called) * 1000)
        send.append(latency - write[-1])
    return total, write, send


def run(args: argparse.Namespace) -> dict[str, Any]:
    from jingwu.antifraud.tests.simulator import running_simulator

    with tempfile.TemporaryDirectory(prefix="jingwu-bench-antifraud-") as tmp:
        django_on_scratch(Path(tmp), database=args.database, postgres_name=BENCH_DB)
        from django.conf import settings
        from django.db import connection

        user, station = analyst()
        with running_simulator("--seed", str(args.seed), "--latency-ms", str(args.latency_ms),
                               "--processing-ms", str(args.processing_ms)) as sim:
            settings.JINGWU_BANK_SIM_URL = sim.url
            settings.JINGWU_BANK_URLS = {}
            floor_round_trips(10, 0)  # warm both sides' connections and code paths
            with PeakMemory() as memory:
                floor = floor_round_trips(args.reports, 10)
                total, write, send = ours(args.reports, user, station)
            stats = sim.stats()
        return {"database": connection.vendor, "floor": floor, "ours": total, "write": write, "send": send,
                "peak_rss": memory.peak, "bank_stops": stats.get("stops", 0)}


def line(name: str, values: list[float]) -> str:
    return (f"  {name:<28} p50 {percentile(values, 50):8.2f} ms   p90 {percentile(values, 90):8.2f} ms   "
            f"p99 {percentile(values, 99):8.2f} ms   mean {statistics.fmean(values):8.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the simulator's added latency per call")
    parser.add_argument("--processing-ms", type=float, default=200.0, help="the simulator's time to an answer")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    print(f"bench/antifraud_stop.py: {args.reports} reports, {args.database}, simulator latency "
          f"{args.latency_ms:g} ms, processing {args.processing_ms:g} ms")
    print(machine())
    result = run(args)
    print(line("floor: simulator round trip", result["floor"]))
    print(line("ours: report → first request", result["ours"]))
    print(line("  of which write (commit)", result["write"]))
    print(line("  of which send (→ bank 202)", result["send"]))
    print(f"  ratio ours/floor            p50 {percentile(result['ours'], 50) / percentile(result['floor'], 50):8.1f}×"
          f"        p99 {percentile(result['ours'], 99) / percentile(result['floor'], 99):8.1f}×")
    print(f"  stops at the bank: {result['bank_stops']} (for {args.reports} reports, chased onward)   "
          f"peak memory {result['peak_rss'] / 2**20:,.0f} MiB ({result['database']})")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "args": vars(args), **result}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
