"""The command centre board and the officer's view: what they show, that they act through the
services, and that the board's queries do not grow with the number of open incidents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jingwu.dispatch import services
from jingwu.dispatch.models import Assignment, Incident, PatrolUnit
from jingwu.dispatch.tests.factories import World, classified, patrol, take_call
from jingwu.dispatch.views_board import board_rows

pytestmark = pytest.mark.django_db


def _open_incidents(world: World, n: int, start: int = 0) -> None:
    base = timezone.now() - timedelta(hours=2)
    for k in range(start, start + n):
        # Far enough apart (and from different callers) that none repeats another.
        take_call(world, "有人打架", lat=36.601 + 0.004 * (k % 10), lon=117.001 + 0.005 * (k // 10),
                  caller=f"1380000{k:04d}", at=base + timedelta(seconds=k))


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_board_s_queries_do_not_grow_with_the_open_incidents(world: World, client: Client) -> None:
    patrol(world.quancheng, "Q1", 36.661, 117.011, grid=world.grid_q1)
    client.force_login(world.dispatcher)
    _open_incidents(world, 5)
    client.get("/dispatch/board/")  # warm: the centre (a city) then comes from the process's unit cache
    few = {url: _queries(client, url) for url in ("/dispatch/board/", "/dispatch/board/incidents",
                                                   "/dispatch/board/positions.json")}
    _open_incidents(world, 45, start=5)
    assert Incident.objects.count() == 50
    many = {url: _queries(client, url) for url in few}
    assert many == few
    # Session, user, role grants, then one query per part: incidents, the three counts, the units.
    assert many == {"/dispatch/board/": 8, "/dispatch/board/incidents": 7, "/dispatch/board/positions.json": 5}
    html = client.get("/dispatch/board/incidents").content.decode()
    assert html.count('class="secondary board-open"') == 50


def test_the_board_lists_the_most_urgent_first_with_timers_against_targets(world: World, client: Client,
                                                                        settings: object) -> None:
    now = timezone.now()
    noise = take_call(world, "楼上装修噪音太吵", lat=36.655, lon=117.005, caller="13800000001",
                      at=now - timedelta(seconds=10), answer_after=0).incident  # priority 4 suggested
    fight = take_call(world, "有人持刀砍人", lat=36.665, lon=117.035, caller="13800000002",
                      at=now - timedelta(seconds=50), answer_after=0).incident  # priority 1
    old = take_call(world, "路上追尾了", lat=36.680, lon=117.010, caller="13800000003",
                    at=now - timedelta(seconds=120), answer_after=0).incident  # priority 3
    client.force_login(world.dispatcher)
    html = client.get("/dispatch/board/").content.decode()
    order = [html.index(i.number) for i in (fight, old, noise)]
    assert order == sorted(order)
    rows = {r.incident.pk: r for r in board_rows([fight, old, noise], now)}
    # Waiting for dispatch: the target is 60 s from the answer (NFPA 1225), amber from 45 s.
    assert (rows[noise.pk].state, rows[fight.pk].state, rows[old.pk].state) == ("ok", "warn", "late")
    assert rows[fight.pk].target_seconds == 60.0 and rows[fight.pk].elapsed in (50, 51)
    assert 'class="timer timer-late"' in html and 'data-target="60"' in html
    assert 'accesskey="n"' in html and 'accesskey="r"' in html
    assert "<script>" not in html and " style=" not in html  # CSP: no inline script or style


def test_a_dispatcher_takes_a_call_confirms_and_dispatches_from_the_board(world: World, client: Client) -> None:
    patrol(world.quancheng, "Q1", 36.661, 117.011, grid=world.grid_q1)
    patrol(world.quancheng, "Q2", 36.669, 117.039, grid=world.grid_q2)
    client.force_login(world.dispatcher)
    response = client.post("/dispatch/board/call", {"content": "泉城路有人打架", "lat": "36.66", "lon": "117.01"})
    incident = Incident.objects.get()
    assert response.status_code == 200 and response["HX-Trigger"] == "board-refresh"
    html = response.content.decode()
    assert incident.number in html and "确认定性" in html and "推荐警力" not in html

    response = client.post(f"/dispatch/board/incidents/{incident.pk}/classify",
                           {"kind": "public_order:fighting", "priority": "2"})
    html = response.content.decode()
    assert response.status_code == 200 and "推荐警力" in html
    assert html.index("Q1") < html.index("Q2") and html.count('accesskey="d"') == 1

    q1 = PatrolUnit.objects.get(call_sign="Q1")
    response = client.post(f"/dispatch/board/incidents/{incident.pk}/dispatch", {"patrol_unit": str(q1.pk)})
    assert response.status_code == 200 and response["HX-Trigger"] == "board-refresh"
    assert Assignment.objects.get().patrol_unit_id == q1.pk
    incident.refresh_from_db()
    assert incident.status == "dispatched"
    board = client.get("/dispatch/board/incidents").content.decode()
    assert "已派警" in board and "待到场" in board

    # The same unit again: refused with the reason in the panel (409), nothing written.
    again = client.post(f"/dispatch/board/incidents/{incident.pk}/dispatch", {"patrol_unit": str(q1.pk)})
    assert again.status_code == 409 and "不能派出" in again.content.decode()
    assert Assignment.objects.count() == 1


def test_bad_input_on_the_board_answers_400_and_writes_nothing(world: World, client: Client) -> None:
    client.force_login(world.dispatcher)
    response = client.post("/dispatch/board/call", {"content": "有人打架", "lat": "36.6"})
    assert response.status_code == 400 and "经度和纬度必须同时提供" in response.content.decode()
    response = client.post("/dispatch/board/call", {"content": ""})
    assert response.status_code == 400 and "报警内容" in response.content.decode()
    assert Incident.objects.count() == 0


def test_the_map_shows_the_grids_and_units_of_the_actor_s_area(world: World, client: Client) -> None:
    patrol(world.quancheng, "Q1", 36.661, 117.011, grid=world.grid_q1)
    patrol(world.shinan_station, "S1", 36.06, 120.35, grid=world.grid_s1)
    incident = take_call(world, "有人打架", lat=36.66, lon=117.01).incident
    client.force_login(world.dispatcher)
    grids = client.get("/dispatch/board/grids.json").json()
    assert [f["properties"]["code"] for f in grids["features"]] == ["370102001G01", "370102004G01", "370102004G02"]
    assert grids["features"][0]["geometry"]["type"] == "Polygon"
    positions = client.get("/dispatch/board/positions.json").json()
    assert [u[3] for u in positions["units"]] == ["Q1"] and positions["units"][0][:3] == [117.011, 36.661,
                                                                                        "available"]
    assert positions["incidents"] == [[117.01, 36.66, 2, incident.number, incident.pk]]


def test_officers_may_not_open_the_board(world: World, client: Client) -> None:
    client.force_login(world.officer_q)
    assert client.get("/dispatch/board/").status_code == 403
    assert client.post("/dispatch/board/call", {"content": "有人打架"}).status_code == 403


def test_an_officer_accepts_arrives_and_records_the_result_on_the_phone(world: World, client: Client) -> None:
    unit = patrol(world.quancheng, "Q1", 36.661, 117.011, grid=world.grid_q1,
                  members=[services.MemberSpec(name="张警官", leader=True, user=world.officer_q)])
    other = patrol(world.quancheng, "Q2", 36.662, 117.012, grid=world.grid_q1)
    incident = classified(world, "有人打架", "public_order", "fighting", lat=36.66, lon=117.01)
    elsewhere = classified(world, "路上追尾了", "traffic", "accident", lat=36.68, lon=117.02, caller="13900000000")
    mine = services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)
    theirs = services.unit_dispatch(actor=world.dispatcher, incident=elsewhere, patrol_unit=other)
    client.force_login(world.officer_q)
    html = client.get("/dispatch/my/").content.decode()
    assert incident.number in html and elsewhere.number not in html
    assert "接受出警（出发）" in html and "提交处警结果" not in html  # a result once on scene

    # Not theirs: 404, nothing changes.
    assert client.post(f"/dispatch/my/{theirs.pk}/event", {"event": "en_route"}).status_code == 404
    client.post(f"/dispatch/my/{mine.pk}/event", {"event": "en_route"})
    unit.refresh_from_db()
    assert unit.status == "en_route"
    client.post(f"/dispatch/my/{mine.pk}/event", {"event": "arrive"})
    incident.refresh_from_db()
    assert incident.status == "on_scene"
    assert "提交处警结果" in client.get("/dispatch/my/").content.decode()
    response = client.post(f"/dispatch/my/{mine.pk}/result", {"result": "mediated", "text": "双方和解"}, follow=True)
    incident.refresh_from_db()
    unit.refresh_from_db()
    assert (incident.status, incident.result, unit.status) == ("closed", "mediated", "cleared")
    assert "当前没有出警任务" in response.content.decode()
