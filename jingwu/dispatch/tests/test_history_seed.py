"""Months of synthetic incidents: deterministic, idempotent, with a daily rhythm, a 110 centre's
category mix, points clustered in the towns' grids, and consistent timing."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from jingwu.core.models import User
from jingwu.core.tests.factories import make_user
from jingwu.dispatch import locating, selectors
from jingwu.dispatch.models import Assignment, Call, Diversion, Incident, IncidentSequence, PatrolMember
from jingwu.dispatch.synthetic import seed_demo, seed_dispatch, seed_history
from jingwu.dispatch.tests.factories import World

pytestmark = pytest.mark.django_db

UNTIL = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.get_current_timezone())


def _snapshot() -> list[tuple[object, ...]]:
    return list(Incident.objects.order_by("number").values_list(
        "number", "category", "subcategory", "priority", "lat", "lon", "received_at", "status", "result"))


def _wipe() -> None:
    Assignment.objects.all().delete()
    Diversion.objects.all().delete()
    Call.objects.all().delete()
    Incident.objects.all().delete()
    IncidentSequence.objects.all().delete()


def test_history_is_deterministic_and_added_once(world: World) -> None:
    seed_dispatch(seed=5, per_station=2)
    report = seed_history(seed=5, incidents=400, days=30, until=UNTIL)
    assert report.incidents == 400 and report.calls > 400 and report.assignments > 200
    first = _snapshot()
    again = seed_history(seed=5, incidents=400, days=30, until=UNTIL)
    assert (again.incidents, again.existing) == (0, 400)
    _wipe()
    seed_history(seed=5, incidents=400, days=30, until=UNTIL)
    assert _snapshot() == first
    _wipe()
    seed_history(seed=6, incidents=400, days=30, until=UNTIL)
    assert _snapshot() != first


def test_history_has_a_daily_rhythm_a_110_mix_and_points_in_the_towns(world: World) -> None:
    seed_dispatch(seed=5, per_station=2)
    seed_history(seed=5, incidents=1200, days=60, until=UNTIL)
    incidents = list(Incident.objects.select_related("grid"))
    local = [timezone.localtime(i.received_at) for i in incidents]
    assert min(local).date() == (UNTIL - timedelta(days=60)).date() and max(local).date() < UNTIL.date()
    hours = Counter(t.hour for t in local)
    evening, small_hours = sum(hours[h] for h in (18, 19, 20, 21)), sum(hours[h] for h in (2, 3, 4, 5))
    assert evening > 3 * small_hours
    mix = Counter(i.category for i in incidents)
    assert 0.05 <= mix["criminal"] / len(incidents) <= 0.15
    assert mix["assistance"] + mix["dispute"] + mix["traffic"] + mix["non_police"] > 4 * mix["criminal"]
    assert mix["fire"] > 0 and mix["invalid"] > 0
    # Every point lies in the grid it was filed under, and that grid belongs to a station with units.
    assert all(i.grid is not None and i.station_id == i.grid.parent_id for i in incidents)
    for incident in incidents[:100]:
        assert incident.lat is not None and incident.lon is not None
        assert locating.locate(lat=incident.lat, lon=incident.lon, address="",
                               centre=incident.centre).unit.pk == incident.grid_id
    # Times run in order, and numbers count up per centre and day.
    for i in incidents:
        steps = [t for t in (i.received_at, i.answered_at, i.classified_at, i.dispatched_at, i.arrived_at,
                             i.cleared_at, i.closed_at) if t is not None]
        assert steps == sorted(steps)
        assert i.number.startswith(f"J{i.centre.code}{timezone.localtime(i.received_at):%Y%m%d}")
    assert Incident.objects.exclude(status__in=("closed", "awaiting_case")).count() == 0
    assert Incident.objects.filter(status="awaiting_case", category="criminal").count() > 0
    # The timing report reads them like live incidents.
    report = {(r.interval, r.group): r for r in selectors.timing_report(
        world.commander, since=UNTIL - timedelta(days=61), until=UNTIL)}
    dispatched = Incident.objects.filter(dispatched_at__isnull=False, centre=world.jinan).count()
    assert report[("processing", "all")].count == dispatched
    assert 20 <= report[("processing", "all")].p50 <= 90


def test_jingwu_seed_s_dispatch_part_puts_the_demo_officer_on_a_crew(world: World) -> None:
    officer = make_user("demo_officer", [("officer", world.quancheng)])
    line = seed_demo(seed=5, incidents=50, days=10)
    assert line.startswith("Dispatch: patrol units 6 created, 0 kept; added 50 past incidents")
    crew = PatrolMember.objects.get(user=officer).patrol_unit
    assert crew.call_sign == "370102004-P01"
    assert seed_demo(seed=5, incidents=50, days=10) == (
        "Dispatch: patrol units 0 created, 6 kept; 50 past incidents of seed 5 already there.")
    assert PatrolMember.objects.filter(user=officer).count() == 1
    assert isinstance(User.objects.get(username="demo_officer"), User)


def test_dispatch_seed_history_command(world: World) -> None:
    out = StringIO()
    call_command("dispatch", "seed-units", "--seed", "3", stdout=out)
    call_command("dispatch", "seed-history", "--seed", "3", "--incidents", "80", "--days", "7", stdout=out)
    assert "80 past incidents" in out.getvalue()
    assert Incident.objects.count() == 80
