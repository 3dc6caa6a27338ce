"""Distances on the ground: great-circle metres, the road estimate, arrival time, and the
lattice of cells that lets the database find the units near a point with an index.

A cell is CELL_DEGREES on a side; its number packs row and column into one integer so
"the cells within r of this one" is a short IN list on an indexed column."""

from __future__ import annotations

import math
from typing import Final

from django.conf import settings

EARTH_RADIUS_M: Final = 6_371_008.8  # mean radius (IUGG)
CELL_DEGREES: Final = 0.05  # about 5.6 km north–south, 4.4 km east–west at Shandong's latitude
_COLUMNS: Final = 10_000  # more than 360 / CELL_DEGREES
METRES_PER_DEGREE_LAT: Final = math.pi * EARTH_RADIUS_M / 180


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def road_m(straight_m: float) -> float:
    """The road distance estimate: straight line × the configured road factor."""
    return straight_m * settings.JINGWU_DISPATCH_ROAD_FACTOR


def eta_seconds(road_metres: float) -> float:
    return road_metres / (settings.JINGWU_DISPATCH_SPEED_KMH / 3.6)


def cell_of(lat: float, lon: float) -> int:
    row = math.floor((lat + 90.0) / CELL_DEGREES)
    col = math.floor((lon + 180.0) / CELL_DEGREES)
    return row * _COLUMNS + col


def cells_around(lat: float, lon: float, rings: int) -> list[int]:
    """The cells of the square `rings` cells out from the point's cell, in every direction."""
    centre = cell_of(lat, lon)
    row, col = divmod(centre, _COLUMNS)
    return [(row + dr) * _COLUMNS + (col + dc)
            for dr in range(-rings, rings + 1) for dc in range(-rings, rings + 1)]


def covered_radius_m(lat: float, rings: int) -> float:
    """Every point within this distance of a point lies inside `cells_around(…, rings)`.

    The point may sit anywhere in its own cell, so only `rings` whole cells count, and the
    narrower east–west side (at the latitude farther from the equator) bounds the circle."""
    lat_edge = min(89.9, abs(lat) + (rings + 1) * CELL_DEGREES)
    east_west = rings * CELL_DEGREES * METRES_PER_DEGREE_LAT * math.cos(math.radians(lat_edge))
    north_south = rings * CELL_DEGREES * METRES_PER_DEGREE_LAT
    return min(east_west, north_south)
