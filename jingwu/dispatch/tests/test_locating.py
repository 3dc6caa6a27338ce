"""Where an incident is: point in grid polygon, address to division, the fallback to the centre."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jingwu.core import services as core_services
from jingwu.core.models import Unit
from jingwu.dispatch import locating
from jingwu.dispatch.tests.factories import World, box

pytestmark = pytest.mark.django_db


def _at(world: World, lat: float | None, lon: float | None, address: str = "") -> tuple[str, str, str, str, str]:
    where = locating.locate(lat=lat, lon=lon, address=address, centre=world.jinan)
    return (where.located_by, where.grid.code if where.grid else "", where.station.code if where.station else "",
            where.county.code if where.county else "", where.unit.code)


def test_a_point_inside_a_grid_gives_grid_station_and_county(world: World) -> None:
    assert _at(world, 36.66, 117.01) == ("coordinates", "370102004G01", "370102004", "370102", "370102004G01")
    assert _at(world, 36.66, 117.03) == ("coordinates", "370102004G02", "370102004", "370102", "370102004G02")
    assert _at(world, 36.68, 117.03) == ("coordinates", "370102001G01", "370102001", "370102", "370102001G01")
    assert _at(world, 36.06, 120.35)[1:] == ("370202010G01", "370202010", "370202", "370202010G01")


def test_a_point_on_a_shared_border_goes_to_one_grid_the_lower_code(world: World) -> None:
    # lon 117.02 is the border of 泉城路 grids 1 and 2; lat 36.67 the border with 解放路's grid.
    assert _at(world, 36.66, 117.02)[1] == "370102004G01"
    assert _at(world, 36.67, 117.03)[1] == "370102001G01"  # "370102001G01" < "370102004G02"
    # A corner shared by three grids, and a point on the outer edge.
    assert _at(world, 36.67, 117.02)[1] == "370102001G01"
    assert _at(world, 36.65, 117.01)[1] == "370102004G01"


def test_a_point_outside_every_grid_falls_back_to_the_address_then_the_centre(world: World) -> None:
    assert _at(world, 30.0, 110.0, "济南市历下区泉城路街道某小区") == (
        "address", "", "370102004", "370102", "370102004")
    assert _at(world, 30.0, 110.0) == ("centre", "", "", "", "370100")


@pytest.mark.parametrize(("address", "expected"), [
    ("山东省济南市历下区泉城路街道芙蓉街12号", ("address", "", "370102004", "370102", "370102004")),
    ("解放路街道文化东路", ("address", "", "370102001", "370102", "370102001")),
    ("济南市历下区某某路", ("address", "", "", "370102", "370102")),
    ("济南市市中区经七路", ("address", "", "", "370103", "370103")),
    ("枣庄市市中区光明路", ("address", "", "", "370402", "370402")),
    # 市中区 alone names counties of two cities: not the county, not a city either → the centre.
    ("市中区光明路", ("centre", "", "", "", "370100")),
    # A township the address puts in another county contradicts itself: the county is kept.
    ("济南市市中区泉城路街道", ("address", "", "", "370103", "370103")),
    ("青岛市某路", ("address", "", "", "", "370200")),
    ("不知道在哪里", ("centre", "", "", "", "370100")),
])
def test_an_address_without_coordinates_resolves_to_its_division(world: World, address: str,
                                                                   expected: tuple[str, ...]) -> None:
    assert _at(world, None, None, address) == expected


def test_the_grid_index_is_built_once_and_dropped_when_a_unit_changes(world: World) -> None:
    locating.locate(lat=36.66, lon=117.01, address="", centre=world.jinan)
    with CaptureQueriesContext(connection) as queries:
        locating.locate(lat=36.66, lon=117.03, address="", centre=world.jinan)
    assert len(queries) == 0  # polygons, and every grid with its station and county, come from the cache
    locating.locate(lat=None, lon=None, address="山东省济南市历下区泉城路街道", centre=world.jinan)
    with CaptureQueriesContext(connection) as queries:
        by_address = locating.locate(lat=None, lon=None, address="济南市历下区泉城路街道", centre=world.jinan)
    assert (len(queries), by_address.unit.code) == (0, "370102004")  # a division's unit: cached once read
    # Move grid 2 somewhere else: the next lookup sees the new polygon.
    grid = Unit.objects.get(code="370102004G02")
    grid.geometry = box(118.0, 37.0, 118.1, 37.1)
    grid.save(update_fields=["geometry"])
    assert _at(world, 36.66, 117.03)[0] == "centre"
    assert _at(world, 37.05, 118.05)[1] == "370102004G02"


def test_a_new_grid_is_found_after_it_is_created(world: World) -> None:
    assert _at(world, 36.70, 117.10)[0] == "centre"
    core_services.unit_create(actor=None, code="370102001G02", name="解放路第二警务区", kind="grid",
                              parent=world.jiefang, geometry=box(117.05, 36.67, 117.15, 36.75))
    assert _at(world, 36.70, 117.10)[1:3] == ("370102001G02", "370102001")


def test_malformed_polygons_are_ignored(world: World) -> None:
    core_services.unit_create(actor=None, code="370102001G09", name="坏网格", kind="grid", parent=world.jiefang,
                              geometry={"type": "Polygon", "coordinates": "nonsense"})
    assert _at(world, 36.66, 117.01)[1] == "370102004G01"
