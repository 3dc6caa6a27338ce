"""Synthetic patrol units for the demo, the simulator and the benchmark: deterministic per seed.

Each station of the chosen cities gets `per_station` units, each with a beat (one of the
station's grids in turn), a police vehicle plate, a crew of a sworn leader and an
auxiliary officer, a day or night shift, and a position inside its beat. Existing call
signs are left alone, so running it again adds only what is missing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from jingwu.core.models import Unit, UnitKind
from jingwu.core.services import ServiceError
from jingwu.dispatch import services
from jingwu.dispatch.models import PatrolKind, PatrolUnit
from jingwu.synthetic.names import given_name_draw, surname_draw
from jingwu.synthetic.province import PLATE_LETTERS, PLATE_PROVINCE, stable_hash


@dataclass(frozen=True)
class DispatchSeedReport:
    stations: int
    created: int
    existing: int


def call_sign(station_code: str, n: int) -> str:
    return f"{station_code}-P{n:02d}"


def _point_in(geometry: dict | None, rng: random.Random) -> tuple[float, float] | None:
    """A point inside a grid's box (the synthetic grids are boxes), away from its edges."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        return None
    ring = geometry["coordinates"][0]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    w, e, s, n = min(lons), max(lons), min(lats), max(lats)
    return (round(s + (n - s) * rng.uniform(0.1, 0.9), 6), round(w + (e - w) * rng.uniform(0.1, 0.9), 6))


def _shift(n: int, day: datetime) -> tuple[str, datetime, datetime]:
    local = timezone.localtime(day).date()
    tz = timezone.get_current_timezone()
    if n % 2:
        start = datetime.combine(local, time(8), tzinfo=tz)
        return "白班", start, start + timedelta(hours=12)
    start = datetime.combine(local, time(20), tzinfo=tz)
    return "夜班", start - timedelta(days=1), start - timedelta(hours=12)


def seed_dispatch(*, seed: int = 2017, per_station: int = 2, city_codes: list[str] | None = None,
                  at: datetime | None = None) -> DispatchSeedReport:
    """Patrol units for every station (of the given cities; default all in the database)."""
    if per_station < 1:
        raise ServiceError("per_station must be at least 1", field="per_station")
    when = at or timezone.now()
    stations = Unit.objects.filter(kind=UnitKind.STATION).select_related("parent").order_by("code")
    if city_codes:
        query = Q()
        for code in city_codes:
            query |= Q(path__contains=f"/{code}/")
        stations = stations.filter(query)
    grids_of: dict[int, list[Unit]] = {}
    for grid in Unit.objects.filter(kind=UnitKind.GRID, parent__in=stations).order_by("code"):
        grids_of.setdefault(grid.parent_id or 0, []).append(grid)
    existing = set(PatrolUnit.objects.values_list("call_sign", flat=True))
    created = kept = 0
    count = 0
    for station in stations:
        count += 1
        city = station.path.strip("/").split("/")[1] if station.path.count("/") > 1 else ""
        letter = PLATE_LETTERS.get(city, "A")[0]
        grids = grids_of.get(station.pk, [])
        for n in range(1, per_station + 1):
            sign = call_sign(station.code, n)
            if sign in existing:
                kept += 1
                continue
            rng = random.Random(stable_hash(f"dispatch/{seed}/{sign}"))
            beat = grids[(n - 1) % len(grids)] if grids else None
            point = _point_in(beat.geometry if beat else None, rng)
            label, start, end = _shift(n, when)
            crew = [
                services.MemberSpec(name=surname_draw(rng) + given_name_draw(rng, rng.choice("MF"), 1985),
                                    badge_number=f"{rng.randrange(100000, 999999)}", leader=True),
                services.MemberSpec(name=surname_draw(rng) + given_name_draw(rng, rng.choice("MF"), 1995),
                                    auxiliary=True),
            ]
            services.patrol_unit_create(
                actor=None, station=station, call_sign=sign, name=f"{station.name}巡逻{n}组",
                kind=PatrolKind.CAR if n % 3 else PatrolKind.MOTORCYCLE,
                vehicle_plate=f"{PLATE_PROVINCE}{letter}{rng.randrange(0, 10000):04d}警", grid=beat, members=crew,
                shift_label=label, shift_start=start, shift_end=end,
                lat=point[0] if point else None, lon=point[1] if point else None, at=when)
            created += 1
    return DispatchSeedReport(stations=count, created=created, existing=kept)
