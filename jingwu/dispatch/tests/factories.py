"""A small world for dispatch tests: two cities with real division codes, grids as boxes near
Jinan's centre, a command centre, people in every role that matters, and patrol units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from jingwu.core.models import Unit, UnitKind, User
from jingwu.core.tests.factories import make_unit, make_user
from jingwu.dispatch import services
from jingwu.dispatch.models import CallChannel, Incident, PatrolUnit


def box(w: float, s: float, e: float, n: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


@dataclass
class World:
    province: Unit
    jinan: Unit
    qingdao: Unit
    zaozhuang: Unit
    lixia: Unit  # 370102 历下区
    shizhong: Unit  # 370103 市中区 (Jinan)
    quancheng: Unit  # station 泉城路 (township 370102004)
    jiefang: Unit  # station 解放路 (township 370102001)
    grid_q1: Unit  # 泉城路 grid 1: lon 117.00–117.02, lat 36.65–36.67
    grid_q2: Unit  # 泉城路 grid 2: lon 117.02–117.04, lat 36.65–36.67
    grid_j1: Unit  # 解放路 grid 1: lon 117.00–117.04, lat 36.67–36.69
    shinan_station: Unit  # Qingdao 市南区, station 八大关 (370202010), grid near 120.35, 36.06
    grid_s1: Unit
    jinan_command: Unit  # 济南市公安局指挥中心 (a department: works for the city)
    qingdao_command: Unit
    dispatcher: User
    dispatcher2: User
    commander: User
    officer_q: User  # officer at 泉城路派出所
    officer_j: User  # officer at 解放路派出所
    qingdao_dispatcher: User
    gateway: User  # the Jinan 110 centre's telephony / positioning link


def make_world() -> World:
    p = make_unit("370000", "山东省公安厅", UnitKind.PROVINCE, division_code="370000")
    jinan = make_unit("370100", "济南市公安局", UnitKind.CITY, p, division_code="370100")
    qingdao = make_unit("370200", "青岛市公安局", UnitKind.CITY, p, division_code="370200")
    zaozhuang = make_unit("370400", "枣庄市公安局", UnitKind.CITY, p, division_code="370400")
    lixia = make_unit("370102", "济南市公安局历下区分局", UnitKind.COUNTY, jinan, division_code="370102")
    shizhong = make_unit("370103", "济南市公安局市中区分局", UnitKind.COUNTY, jinan, division_code="370103")
    make_unit("370402", "枣庄市公安局市中区分局", UnitKind.COUNTY, zaozhuang, division_code="370402")
    quancheng = make_unit("370102004", "泉城路派出所", UnitKind.STATION, lixia, division_code="370102004",
                          geometry={"type": "Point", "coordinates": [117.02, 36.66]})
    jiefang = make_unit("370102001", "解放路派出所", UnitKind.STATION, lixia, division_code="370102001",
                        geometry={"type": "Point", "coordinates": [117.02, 36.68]})
    grid_q1 = make_unit("370102004G01", "泉城路第一警务区", UnitKind.GRID, quancheng,
                        geometry=box(117.00, 36.65, 117.02, 36.67))
    grid_q2 = make_unit("370102004G02", "泉城路第二警务区", UnitKind.GRID, quancheng,
                        geometry=box(117.02, 36.65, 117.04, 36.67))
    grid_j1 = make_unit("370102001G01", "解放路第一警务区", UnitKind.GRID, jiefang,
                        geometry=box(117.00, 36.67, 117.04, 36.69))
    shinan = make_unit("370202", "青岛市公安局市南区分局", UnitKind.COUNTY, qingdao, division_code="370202")
    badaguan = make_unit("370202010", "八大关派出所", UnitKind.STATION, shinan, division_code="370202010")
    grid_s1 = make_unit("370202010G01", "八大关第一警务区", UnitKind.GRID, badaguan,
                        geometry=box(120.34, 36.05, 120.36, 36.07))
    jinan_command = make_unit("370100D-ZH", "济南市公安局指挥中心", UnitKind.DEPARTMENT, jinan,
                              department="command_centre")
    qingdao_command = make_unit("370200D-ZH", "青岛市公安局指挥中心", UnitKind.DEPARTMENT, qingdao,
                                department="command_centre")
    return World(
        province=p, jinan=jinan, qingdao=qingdao, zaozhuang=zaozhuang, lixia=lixia, shizhong=shizhong,
        quancheng=quancheng, jiefang=jiefang, grid_q1=grid_q1, grid_q2=grid_q2, grid_j1=grid_j1,
        shinan_station=badaguan, grid_s1=grid_s1, jinan_command=jinan_command, qingdao_command=qingdao_command,
        dispatcher=make_user("jiejing", [("dispatcher", jinan_command)]),
        dispatcher2=make_user("jiejing2", [("dispatcher", jinan_command)]),
        commander=make_user("zhihui", [("commander", jinan_command)]),
        officer_q=make_user("minjing_q", [("officer", quancheng)]),
        officer_j=make_user("minjing_j", [("officer", jiefang)]),
        qingdao_dispatcher=make_user("qd_jiejing", [("dispatcher", qingdao_command)]),
        gateway=make_user("gateway_110", [("dispatch_gateway", jinan)]),
    )


def patrol(station: Unit, sign: str, lat: float | None, lon: float | None, grid: Unit | None = None,
           **extra: Any) -> PatrolUnit:
    return services.patrol_unit_create(actor=None, station=station, call_sign=sign, name=f"{station.name}{sign}",
                                       grid=grid, lat=lat, lon=lon, **extra)


def take_call(world: World, content: str, *, lat: float | None = None, lon: float | None = None,
              address: str = "", caller: str = "13812345678", at: datetime | None = None,
              answer_after: float | None = 5.0, actor: User | None = None, centre: Unit | None = None,
              external_id: str | None = None) -> services.CallIntake:
    received = at or timezone.now() - timedelta(minutes=1)
    return services.call_receive(
        actor=actor if actor is not None else world.gateway, centre=centre or world.jinan, content=content,
        received_at=received, answered_at=received + timedelta(seconds=answer_after) if answer_after is not None
        else None, caller_number=caller, lat=lat, lon=lon, address=address, external_id=external_id,
        channel=CallChannel.TELEPHONY)


def classified(world: World, content: str, category: str, subcategory: str, priority: int = 2,
               **kwargs: Any) -> Incident:
    incident = take_call(world, content, **kwargs).incident
    return services.incident_classify(actor=world.dispatcher, incident=incident, category=category,
                                      subcategory=subcategory, priority=priority)
