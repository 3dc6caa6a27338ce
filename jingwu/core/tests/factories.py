"""Test data builders: a small organisation tree and users holding roles."""

from __future__ import annotations

from dataclasses import dataclass

from jingwu.core import services
from jingwu.core.models import Unit, UnitKind, User

TEST_PASSWORD = "correct-horse-battery"


def make_unit(code: str, name: str, kind: str, parent: Unit | None = None, **extra: object) -> Unit:
    return services.unit_create(actor=None, code=code, name=name, kind=kind, parent=parent, **extra)  # type: ignore[arg-type]


def make_user(username: str, roles: list[tuple[str, Unit]] | None = None, home_unit: Unit | None = None,
              password: str = TEST_PASSWORD) -> User:
    user = services.user_create(actor=None, username=username, password=password, display_name=username,
                                home_unit=home_unit or (roles[0][1] if roles else None))
    for role, unit in roles or []:
        services.role_grant(actor=None, user=user, role=role, unit=unit)
    return user


@dataclass
class Tree:
    """province → city A (county A1 → station A1a → grid, station A1b), city B, departments."""

    province: Unit
    city_a: Unit
    city_b: Unit
    county_a1: Unit
    county_a2: Unit
    station_a1a: Unit
    station_a1b: Unit
    grid_a1a: Unit
    city_a_cid: Unit  # criminal investigation department of city A


def make_tree() -> Tree:
    prov = make_unit("370000", "山东省公安厅", UnitKind.PROVINCE, division_code="370000")
    city_a = make_unit("370100", "济南市公安局", UnitKind.CITY, prov, division_code="370100")
    city_b = make_unit("370200", "青岛市公安局", UnitKind.CITY, prov, division_code="370200")
    county_a1 = make_unit("370102", "历下区公安分局", UnitKind.COUNTY, city_a, division_code="370102")
    county_a2 = make_unit("370103", "市中区公安分局", UnitKind.COUNTY, city_a, division_code="370103")
    st_a = make_unit("370102S01", "泉城路派出所", UnitKind.STATION, county_a1)
    st_b = make_unit("370102S02", "大明湖派出所", UnitKind.STATION, county_a1)
    grid = make_unit("370102S01G01", "泉城路第一警务区", UnitKind.GRID, st_a)
    cid = make_unit("370100D-XZ", "济南市公安局刑侦支队", UnitKind.DEPARTMENT, city_a,
                    department="criminal_investigation")
    return Tree(prov, city_a, city_b, county_a1, county_a2, st_a, st_b, grid, cid)
