"""Timing percentiles on a fixed fixture: every interval, by priority and by area, with targets."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from jingwu.dispatch import selectors, services, timing
from jingwu.dispatch.tests.factories import World, patrol, take_call

pytestmark = pytest.mark.django_db

# (priority, where, answer, classification, processing, arrival, clearance) in seconds; None: never happened.
FIXTURE: list[tuple[int, dict[str, Any], int, int, int | None, int | None, int | None]] = [
    (1, {"lat": 36.655, "lon": 117.005}, 3, 10, 30, 240, 600),
    (1, {"lat": 36.665, "lon": 117.035}, 5, 20, 45, 300, 900),
    (2, {"lat": 36.685, "lon": 117.010}, 8, 15, 50, 420, 1200),
    (2, {"address": "济南市市中区经七路1号"}, 12, 25, 70, 500, 300),
    (3, {"address": "济南市市中区经十路9号"}, 20, 40, 90, 800, 1500),
    (4, {"lat": 36.685, "lon": 117.035}, 16, 30, None, None, None),
]
SUBCATEGORY = {1: ("criminal", "robbery"), 2: ("public_order", "fighting"), 3: ("dispute", "neighbour"),
               4: ("assistance", "lost_property")}


def _build(world: World) -> tuple[datetime, datetime]:
    start = timezone.now() - timedelta(hours=4)
    for n, (priority, where, answer, classify, process, arrive, clear) in enumerate(FIXTURE):
        received = start + timedelta(minutes=30 * n)
        intake = take_call(world, f"第{n}起", at=received, answer_after=answer, caller=f"1380000000{n}", **where)
        answered = received + timedelta(seconds=answer)
        category, subcategory = SUBCATEGORY[priority]
        incident = services.incident_classify(actor=world.dispatcher, incident=intake.incident, category=category,
                                              subcategory=subcategory, priority=priority,
                                              at=answered + timedelta(seconds=classify))
        if process is None or arrive is None or clear is None:
            services.incident_record_result(actor=world.dispatcher, incident=incident, result="advised",
                                            at=answered + timedelta(seconds=classify + 5))
            continue
        unit = patrol(world.quancheng, f"T{n}", 36.66, 117.01, at=start - timedelta(hours=1))
        dispatched = answered + timedelta(seconds=process)
        services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit, at=dispatched)
        arrived = dispatched + timedelta(seconds=arrive)
        services.unit_transition(actor=world.dispatcher, patrol_unit=unit, event="arrive", at=arrived)
        services.unit_transition(actor=world.dispatcher, patrol_unit=unit, event="clear",
                                 at=arrived + timedelta(seconds=clear))
    return start, timezone.now()


def _table(stats: list[timing.IntervalStats]) -> dict[tuple[str, str], tuple[object, ...]]:
    return {(s.interval, s.group): (s.count, s.p50, s.p90, s.p95, s.max, s.target_seconds, s.share_within,
                                    s.meets_target) for s in stats}


def test_nearest_rank() -> None:
    values = [3.0, 5.0, 8.0, 12.0, 16.0, 20.0]
    assert [timing.nearest_rank(values, p) for p in (1, 16, 17, 50, 51, 90, 95, 100)] == [
        3, 3, 5, 8, 12, 20, 20, 20]
    with pytest.raises(ValueError):
        timing.nearest_rank([], 50)


@override_settings(JINGWU_DISPATCH_ARRIVAL_SECONDS="default=900,370102=300")
def test_percentiles_of_the_whole_city(world: World) -> None:
    since, until = _build(world)
    got = _table(selectors.timing_report(world.dispatcher, since=since, until=until))
    assert got == {
        # answer: 3 5 8 12 16 20 — four of six within 15 s
        ("answer", "all"): (6, 8, 20, 20, 20, 15.0, 4 / 6, False),
        ("classification", "all"): (6, 20, 40, 40, 40, None, None, None),
        # processing (answer → dispatch): 30 45 50 70 90 — three of five within 60 s
        ("processing", "all"): (5, 50, 90, 90, 90, 60.0, 3 / 5, False),
        # arrival: 历下 240 300 | 420 against 300 s, 市中 500 800 against the default 900 s
        ("arrival", "all"): (5, 420, 800, 800, 800, None, 4 / 5, False),
        ("clearance", "all"): (5, 900, 1500, 1500, 1500, None, None, None),
    }


@override_settings(JINGWU_DISPATCH_ARRIVAL_SECONDS="default=900,370102=300")
def test_percentiles_by_area_and_by_priority(world: World) -> None:
    since, until = _build(world)
    by_area = _table(selectors.timing_report(world.dispatcher, since=since, until=until, group_by="area"))
    assert by_area[("arrival", "370102")] == (3, 300, 420, 420, 420, 300.0, 2 / 3, False)
    assert by_area[("arrival", "370103")] == (2, 500, 800, 800, 800, 900.0, 1.0, True)
    assert by_area[("answer", "370102")] == (4, 5, 16, 16, 16, 15.0, 3 / 4, False)
    assert by_area[("answer", "370103")] == (2, 12, 20, 20, 20, 15.0, 1 / 2, False)
    by_priority = _table(selectors.timing_report(world.dispatcher, since=since, until=until, group_by="priority"))
    assert by_priority[("processing", "1")] == (2, 30, 45, 45, 45, 60.0, 1.0, True)
    assert by_priority[("processing", "2")] == (2, 50, 70, 70, 70, 60.0, 1 / 2, False)
    assert by_priority[("answer", "4")] == (1, 16, 16, 16, 16, 15.0, 0.0, False)
    assert ("processing", "4") not in by_priority  # never dispatched: no sample, no row
    assert sorted({group for _interval, group in by_priority}) == ["1", "2", "3", "4"]


def test_the_window_and_the_actor_s_scope_limit_the_samples(world: World) -> None:
    since, until = _build(world)
    assert selectors.timing_report(world.dispatcher, since=until, until=until + timedelta(hours=1)) == []
    # 泉城路's officer sees only the incidents in 泉城路's grids: the first two.
    own = _table(selectors.timing_report(world.officer_q, since=since, until=until))
    assert own[("answer", "all")][:2] == (2, 3)
    assert selectors.timing_report(world.qingdao_dispatcher, since=since, until=until) == []


def test_targets_come_from_settings() -> None:
    assert timing.target_of("answer") == (15.0, 0.9)
    assert timing.target_of("processing") == (60.0, 0.9)
    with override_settings(JINGWU_DISPATCH_ARRIVAL_SECONDS="370100=600, 370102=300 ,"):
        assert timing.arrival_targets() == {"370100": 600.0, "370102": 300.0, "default": 900.0}
        assert (timing.arrival_target("370102", "370100"), timing.arrival_target("370103", "370100"),
                timing.arrival_target("370202", "370200")) == (300.0, 600.0, 900.0)


def test_the_timing_api(world: World, client: Client) -> None:
    since, until = _build(world)
    client.force_login(world.commander)
    response = client.get("/api/dispatch/timing", {"since": since.isoformat(), "until": until.isoformat(),
                                                   "group_by": "all"})
    assert response.status_code == 200, response.content
    rows = {row["interval"]: row for row in response.json()}
    assert rows["processing"] | {"share_within": round(rows["processing"]["share_within"], 3)} == {
        "interval": "processing", "group": "all", "count": 5, "p50": 50.0, "p90": 90.0, "p95": 90.0, "max": 90.0,
        "target_seconds": 60.0, "target_share": 0.9, "share_within": 0.6, "meets_target": False}
    naive = client.get("/api/dispatch/timing", {"since": "2026-01-01T00:00:00"})
    assert (naive.status_code, naive.json()["field"]) == (400, "since")
    client.force_login(world.gateway)
    assert client.get("/api/dispatch/timing", {"since": since.isoformat()}).status_code == 403
