"""Benchmark: the deadline scan, the case list and the supervision page with many open cases.

    .venv/bin/python bench/cases.py                       # 1,000,000 open cases, SQLite
    .venv/bin/python bench/cases.py --cases 200000
    .venv/bin/python bench/cases.py --database postgres

Open cases are written in bulk by `jingwu.cases.synthetic.cases_write` (the seeder's
writer: one Deadline per running clock) over 32 stations of one city: criminal cases under
investigation (3 % idle since filing), administrative cases and disputes, their clocks
started so that about 5 % are past due and about 4 % inside their warning window. Then, in the same run:

- ``scan``: `services.deadlines_scan` — the first run (it warns and alerts the backlog,
  writing inbox items) and a re-run a minute later (nothing new to do), beside
  ``naive scan``: every running clock read into Python and tested there (finding only, no writes);
- ``list``: GET /cases/ as a city-level officer who sees every case (first page, a deep page,
  a filtered page), beside ``naive list``: every visible case's (accepted_at, id) read and
  sorted in Python for the first page and the count;
- ``supervision``: GET /cases/supervision/ as the city's inspector (overview, one county
  with the overdue drill-down), beside ``naive supervision``: running clocks and open cases
  read into Python and counted per county there.

Pages are timed through Django's test client (middleware, template and all) after one warm-up
request; p95 over `--repeat` requests each. Targets (issue 6): scan ≤ 30 s, list pages p95 ≤ 200 ms."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measure import PeakMemory, django_on_scratch, machine, percentile  # noqa: E402  (bench/ is on sys.path)

BENCH_DB: Final = "jingwu_bench_cases"


def world() -> dict[str, Any]:
    from jingwu.core import services
    from jingwu.core.models import UnitKind

    province = services.unit_create(actor=None, code="370000", name="山东省公安厅", kind=UnitKind.PROVINCE)
    city = services.unit_create(actor=None, code="370100", name="济南市公安局", kind=UnitKind.CITY, parent=province)
    stations = []
    for c in range(8):
        county = services.unit_create(actor=None, code=f"3701{c + 2:02d}", name=f"第{c + 1}分局",
                                      kind=UnitKind.COUNTY, parent=city)
        for s in range(4):
            stations.append(services.unit_create(actor=None, code=f"{county.code}S{s + 1:02d}",
                                                 name=f"第{c + 1}分局第{s + 1}派出所", kind=UnitKind.STATION,
                                                 parent=county))
    officer = services.user_create(actor=None, username="bench_officer", password="bench-password-1", home_unit=city)
    services.role_grant(actor=None, user=officer, role="officer", unit=city)
    inspector = services.user_create(actor=None, username="bench_inspector", password="bench-password-1",
                                     home_unit=city)
    services.role_grant(actor=None, user=inspector, role="inspector", unit=city)
    return {"city": city, "stations": stations, "officer": officer, "inspector": inspector,
            "county": stations[0].parent}


def open_cases(stations: list[Any], count: int, now: dt.datetime, seed: int) -> list[Any]:
    """Plans of `count` open cases whose clocks are spread so a few are due or warning."""
    from jingwu.cases.synthetic import CATEGORY_WEIGHTS, _Plan
    from jingwu.cases.workflow import CaseType

    rng = random.Random(seed)
    day = dt.timedelta(days=1)
    plans = []
    for _i in range(count):
        roll = rng.random()
        station = rng.choice(stations)
        if roll < 0.45:  # criminal, investigating; the six-month clock: ~3 % past it, ~5 % within 14 days
            filed = now - day * rng.choice([rng.uniform(0, 160), rng.uniform(160, 182), rng.uniform(184, 200)]
                                           if rng.random() < 0.2 else [rng.uniform(0, 160)])
            category = rng.choice(list(CATEGORY_WEIGHTS[CaseType.CRIMINAL]))
            # Worked on within the last 25 days, except 3 % left idle since filing (立而不侦).
            activity = filed if rng.random() < 0.03 else max(filed, now - day * rng.uniform(0, 25))
            plans.append(_Plan(CaseType.CRIMINAL, category, station, filed - day, "investigation", filed,
                               filed_at=filed, activity_at=activity,
                               clock="criminal.investigation", clock_start=filed))
        elif roll < 0.8:
            accepted = now - day * (rng.uniform(0, 26) if rng.random() < 0.9 else rng.uniform(26, 34))
            category = rng.choice(list(CATEGORY_WEIGHTS[CaseType.ADMINISTRATIVE]))
            plans.append(_Plan(CaseType.ADMINISTRATIVE, category, station, accepted, "investigation", accepted,
                               clock="administrative.handling", clock_start=accepted))
        else:
            accepted = now - day * (rng.uniform(0, 26) if rng.random() < 0.9 else rng.uniform(26, 34))
            category = rng.choice(list(CATEGORY_WEIGHTS[CaseType.DISPUTE]))
            plans.append(_Plan(CaseType.DISPUTE, category, station, accepted, "mediation", accepted,
                               clock="dispute.mediation", clock_start=accepted))
    return plans


def naive_scan(now: dt.datetime) -> tuple[int, int]:
    from jingwu.cases.models import Deadline

    warn = overdue = 0
    rows = Deadline.objects.filter(stopped_at__isnull=True).values_list("warn_at", "due_at", "warned_at",
                                                                         "overdue_at")
    for warn_at, due_at, warned_at, overdue_at in rows.iterator(chunk_size=20_000):
        if overdue_at is None and due_at <= now:
            overdue += 1
        elif warned_at is None and overdue_at is None and warn_at <= now < due_at:
            warn += 1
    return warn, overdue


def naive_list(user: Any) -> tuple[int, list[int]]:
    from jingwu.cases import selectors
    from jingwu.cases.models import Case

    rows = list(selectors.cases_visible(user).values_list("accepted_at", "pk"))
    rows.sort(reverse=True)
    first = [pk for _at, pk in rows[:50]]
    page = {c.pk: c for c in Case.objects.filter(pk__in=first).select_related("unit", "owner")}
    return len(rows), [page[pk].pk for pk in first]


def naive_supervision(now: dt.datetime, idle_days: int) -> dict[str, dict[str, int]]:
    from jingwu.cases.models import Case, Deadline
    from jingwu.core.models import Unit

    county_of = {pk: path.split("/")[2] for pk, path in Unit.objects.values_list("pk", "path") if path.count("/") >= 3}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for unit_id, due_at in Deadline.objects.filter(stopped_at__isnull=True).values_list("unit_id", "due_at") \
            .iterator(chunk_size=20_000):
        if due_at <= now:
            counts[county_of.get(unit_id, "")]["overdue"] += 1
    idle_since = now - dt.timedelta(days=idle_days)
    for unit_id, state, activity_at in Case.objects.values_list("unit_id", "state", "activity_at") \
            .iterator(chunk_size=20_000):
        idle = activity_at is not None and activity_at <= idle_since
        if idle and state in ("filed", "investigation", "legal_review"):
            counts[county_of.get(unit_id, "")]["filed_idle"] += 1
    return counts


def timed(fn: Any, repeat: int) -> tuple[list[float], Any]:
    result = fn()  # warm-up
    times = []
    for _i in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jingwu-bench-cases-") as tmp:
        django_on_scratch(Path(tmp), database=args.database, postgres_name=BENCH_DB, test_environment=True)
        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.urls import reverse
        from django.utils import timezone

        from jingwu.cases import services, synthetic

        reverse("cases:list")  # load the URL configuration now, not inside the first timed scan
        now = timezone.now()
        w = world()
        started = time.perf_counter()
        plans = open_cases(w["stations"], args.cases, now, args.seed)
        synthetic.cases_write(plans, lookup_hash=services.lookup_hash_for_seed(synthetic.SEED_LOOKUP_CODE))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        load_s = time.perf_counter() - started
        out: dict[str, Any] = {"database": connection.vendor, "cases": args.cases, "load_s": load_s}
        with PeakMemory() as memory:
            started = time.perf_counter()
            naive = naive_scan(now)
            out["naive_scan_s"] = time.perf_counter() - started
            started = time.perf_counter()
            first = services.deadlines_scan(now=now)
            out["scan_first_s"] = time.perf_counter() - started
            started = time.perf_counter()
            again = services.deadlines_scan(now=now + dt.timedelta(minutes=1))
            out["scan_again_s"] = time.perf_counter() - started
            out["scan_acted"] = {"warned": first.warned, "overdue": first.overdue, "naive_warn": naive[0],
                                 "naive_overdue": naive[1], "again": again.warned + again.overdue}
            officer, inspector = Client(), Client()
            officer.force_login(w["officer"])
            inspector.force_login(w["inspector"])
            county = w["county"].code
            pages = {"list first page": (officer, "/cases/"),
                     "list page 100": (officer, "/cases/?page=100"),
                     "list filtered": (officer, "/cases/?type=criminal&state=investigation"),
                     "supervision overview": (inspector, "/cases/supervision/"),
                     "supervision county, overdue": (inspector, f"/cases/supervision/?unit={county}&kind=overdue")}
            out["pages"] = {}
            for name, (client, url) in pages.items():
                def get(client: Any = client, url: str = url) -> int:
                    response = client.get(url)
                    assert response.status_code == 200, (url, response.status_code)
                    return int(response.status_code)
                out["pages"][name], _status = timed(get, args.repeat)
            out["naive_list"], (count, _first) = timed(lambda: naive_list(w["officer"]), max(3, args.repeat // 4))
            out["naive_list_count"] = count
            out["naive_supervision"], _counts = timed(
                lambda: naive_supervision(now, settings.JINGWU_CASE_IDLE_DAYS), max(3, args.repeat // 4))
        out["peak_rss"] = memory.peak
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=40, help="requests per page after the warm-up")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    print(f"bench/cases.py: {args.cases:,} open cases, {args.database}, {args.repeat} requests per page")
    print(machine())
    r = run(args)
    print(f"  load (bulk write of cases, events, clocks): {r['load_s']:.1f} s")
    acted = r["scan_acted"]
    print(f"  scan, first run (warns {acted['warned']:,}, alerts {acted['overdue']:,}): {r['scan_first_s']:.2f} s")
    print(f"  scan, re-run (acted on {acted['again']}):                  {r['scan_again_s']:.2f} s")
    print(f"  naive scan (find only; warn {acted['naive_warn']:,}, overdue {acted['naive_overdue']:,}): "
          f"{r['naive_scan_s']:.2f} s   ratio naive/re-run {r['naive_scan_s'] / r['scan_again_s']:.0f}×")
    for name, times in r["pages"].items():
        print(f"  {name:<30} p50 {percentile(times, 50):7.1f} ms   p95 {percentile(times, 95):7.1f} ms")
    list_p95 = percentile(r["pages"]["list first page"], 95)
    sup_p95 = percentile(r["pages"]["supervision overview"], 95)
    naive_list_p95, naive_sup_p95 = percentile(r["naive_list"], 95), percentile(r["naive_supervision"], 95)
    print(f"  naive list ({r['naive_list_count']:,} rows sorted in Python) p95 {naive_list_p95:7.1f} ms   "
          f"ratio naive/ours {naive_list_p95 / list_p95:.1f}×")
    print(f"  naive supervision (counted in Python)       p95 {naive_sup_p95:7.1f} ms   "
          f"ratio naive/ours {naive_sup_p95 / sup_p95:.1f}×")
    print(f"  peak memory {r['peak_rss'] / 2**20:,.0f} MiB ({r['database']})")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "args": vars(args), **r}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
