"""`jingwu dispatch seed-units`: deterministic patrol units with crews and positions in their beats."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jingwu.dispatch import locating
from jingwu.dispatch.models import PatrolMember, PatrolUnit
from jingwu.dispatch.synthetic import seed_dispatch
from jingwu.dispatch.tests.factories import World

pytestmark = pytest.mark.django_db


def _snapshot() -> list[tuple[object, ...]]:
    return list(PatrolUnit.objects.order_by("call_sign").values_list(
        "call_sign", "station__code", "grid__code", "kind", "vehicle_plate", "lat", "lon", "shift_label"))


def test_seeding_is_deterministic_and_idempotent(world: World) -> None:
    report = seed_dispatch(seed=5, per_station=3, city_codes=["370100"])
    assert (report.stations, report.created, report.existing) == (2, 6, 0)
    first = _snapshot()
    assert [row[0] for row in first] == ["370102001-P01", "370102001-P02", "370102001-P03",
                                         "370102004-P01", "370102004-P02", "370102004-P03"]
    assert [row[2] for row in first] == ["370102001G01"] * 3 + ["370102004G01", "370102004G02", "370102004G01"]
    assert all(str(row[4]).startswith("鲁A") and str(row[4]).endswith("警") for row in first)
    # Each unit stands inside its own beat.
    for sign, _station, beat, *_rest in first:
        unit = PatrolUnit.objects.get(call_sign=sign)
        assert unit.lat is not None and unit.lon is not None
        assert locating.locate(lat=unit.lat, lon=unit.lon, address="", centre=world.jinan).unit.code == beat
    crews = PatrolMember.objects.filter(patrol_unit__call_sign="370102004-P01")
    assert [(m.leader, m.auxiliary, bool(m.badge_number)) for m in crews] == [(True, False, True),
                                                                            (False, True, False)]
    again = seed_dispatch(seed=5, per_station=3, city_codes=["370100"])
    assert (again.created, again.existing) == (0, 6)
    PatrolMember.objects.all().delete()
    PatrolUnit.objects.all().delete()
    seed_dispatch(seed=5, per_station=3, city_codes=["370100"])
    assert _snapshot() == first
    PatrolMember.objects.all().delete()
    PatrolUnit.objects.all().delete()
    seed_dispatch(seed=6, per_station=3, city_codes=["370100"])
    assert _snapshot() != first


def test_the_command(world: World) -> None:
    out = StringIO()
    call_command("dispatch", "seed-units", "--per-station", "1", stdout=out)
    assert out.getvalue().strip() == "Patrol units: 3 created, 0 already there, for 3 stations."
    with pytest.raises(CommandError):
        call_command("dispatch", "seed-units", "--per-station", "0")


def test_the_command_without_an_organisation_tree(db: None) -> None:
    with pytest.raises(CommandError, match="jingwu seed"):
        call_command("dispatch", "seed-units")
