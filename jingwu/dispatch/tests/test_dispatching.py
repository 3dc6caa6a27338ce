"""Recommending and dispatching units, unit status through the API, results, position pings."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from jingwu.core import tokens
from jingwu.dispatch import selectors, services
from jingwu.dispatch.distance import haversine_m
from jingwu.dispatch.models import Assignment, Incident, PatrolUnit
from jingwu.dispatch.tests.factories import World, classified, patrol

pytestmark = pytest.mark.django_db


def _json(client: Client, path: str, body: Any, **headers: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_haversine_is_right_on_known_distances() -> None:
    assert round(haversine_m(0, 0, 0, 1)) == 111_195  # one degree of the equator (mean radius)
    assert round(haversine_m(36.66, 117.0, 36.66, 117.0)) == 0
    assert round(haversine_m(36.0, 117.0, 37.0, 117.0)) == 111_195


@override_settings(JINGWU_DISPATCH_ROAD_FACTOR=1.5, JINGWU_DISPATCH_SPEED_KMH=36,
                   JINGWU_DISPATCH_LOCAL_FIRST_SECONDS=600)
def test_recommendations_put_the_grid_then_the_station_first_then_distance(world: World, client: Client) -> None:
    incident = classified(world, "有人打架", "public_order", "fighting", lat=36.66, lon=117.01)  # grid q1
    patrol(world.quancheng, "Q-GRID", 36.66, 117.018, grid=world.grid_q1)  # ~714 m, own grid
    patrol(world.quancheng, "Q-STATION", 36.66, 117.015, grid=world.grid_q2)  # ~446 m, own station
    patrol(world.jiefang, "J-NEAR", 36.6605, 117.0105)  # ~70 m, another station
    patrol(world.quancheng, "Q-FAR", 36.72, 117.01)  # ~6.7 km: own station but beyond 600 s
    patrol(world.quancheng, "Q-NOPOS", None, None)  # no position: cannot be measured
    busy = patrol(world.jiefang, "J-BUSY", 36.66, 117.01)
    other = classified(world, "有人偷车", "criminal", "theft", caller="13900000001", lat=36.68, lon=117.03)
    services.unit_dispatch(actor=world.dispatcher, incident=other, patrol_unit=busy)

    client.force_login(world.dispatcher)
    response = client.get(f"/api/incidents/{incident.pk}/recommendations?limit=10")
    assert response.status_code == 200, response.content
    rows = response.json()
    assert [(r["patrol_unit"], r["tier"]) for r in rows] == [
        ("Q-GRID", "grid"), ("Q-STATION", "station"), ("J-NEAR", "nearby"), ("Q-FAR", "nearby")]
    near = rows[2]
    straight = haversine_m(36.66, 117.01, 36.6605, 117.0105)
    assert (near["straight_m"], near["road_m"], near["eta_seconds"]) == (
        round(straight, 1), round(straight * 1.5, 1), round(straight * 1.5 / 10, 1))  # 36 km/h = 10 m/s
    assert rows[3]["eta_seconds"] > 600


def test_the_indexed_search_gives_the_full_scan_s_answer(world: World) -> None:
    rng = random.Random(7)
    stations = [world.quancheng, world.jiefang]
    for i in range(300):
        # Most units near Jinan's centre, some far out (up to ~2 degrees), a few without a position.
        spread = 0.05 if i % 3 else 2.0
        lat = 36.66 + rng.uniform(-spread, spread)
        lon = 117.02 + rng.uniform(-spread, spread)
        patrol(stations[i % 2], f"R{i:03d}", None if i % 50 == 0 else lat, None if i % 50 == 0 else lon,
               grid=world.grid_q1 if i % 14 == 0 else None)
    for _ in range(40):
        lat, lon = 36.66 + rng.uniform(-1.5, 1.5), 117.02 + rng.uniform(-1.5, 1.5)
        for limit in (1, 5, 12):
            kwargs: dict[str, Any] = {"lat": lat, "lon": lon, "grid_id": world.grid_q1.pk,
                                      "station_id": world.quancheng.pk, "limit": limit}
            assert selectors.nearest_units(**kwargs) == selectors.nearest_units_naive(**kwargs)
    # Far from every unit (the index gives up and scans), and with a scope.
    assert selectors.nearest_units(lat=20.0, lon=100.0, limit=3) == selectors.nearest_units_naive(
        lat=20.0, lon=100.0, limit=3)
    scoped = selectors.nearest_units(lat=36.66, lon=117.02, limit=5, within=[world.jiefang.path])
    assert scoped and {r.station_code for r in scoped} == {"370102001"}


def test_one_action_dispatches_and_a_taken_unit_is_a_409(world: World, client: Client) -> None:
    first = classified(world, "有人打架", "public_order", "fighting", lat=36.66, lon=117.01)
    second = classified(world, "有人偷车", "criminal", "theft", caller="13900000001", lat=36.68, lon=117.03)
    patrol(world.quancheng, "Q1", 36.661, 117.011)
    client.force_login(world.dispatcher)
    response = _json(client, f"/api/incidents/{first.pk}/assignments", {"patrol_unit": "Q1"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["incident_number"], body["patrol_unit"], body["end"], body["ended_at"]) == (
        first.number, "Q1", "", None)
    assert body["distance_m"] == pytest.approx(haversine_m(36.66, 117.01, 36.661, 117.011) * 1.4)
    first.refresh_from_db()
    assert (first.status, first.dispatched_at is not None) == ("dispatched", True)

    taken = _json(client, f"/api/incidents/{second.pk}/assignments", {"patrol_unit": "Q1"})
    assert taken.status_code == 409
    assert taken.json() == {"detail": "巡逻组 Q1 当前为“已派出”，不能派出。", "field": "patrol_unit",
                            "code": "conflict"}
    unknown = _json(client, f"/api/incidents/{second.pk}/assignments", {"patrol_unit": "NOPE"})
    assert (unknown.status_code, unknown.json()["field"]) == (400, "patrol_unit")
    assert Assignment.objects.count() == 1


def test_an_unclassified_incident_cannot_be_dispatched_yet(world: World, client: Client) -> None:
    incident = services.call_receive(actor=None, centre=world.jinan, content="有人打架").incident
    patrol(world.quancheng, "Q1", 36.661, 117.011)
    client.force_login(world.dispatcher)
    response = _json(client, f"/api/incidents/{incident.pk}/assignments", {"patrol_unit": "Q1"})
    assert (response.status_code, response.json()["field"]) == (409, "status")
    assert PatrolUnit.objects.get(call_sign="Q1").status == "available"


def test_the_crew_reports_progress_but_only_dispatchers_recall(world: World, client: Client) -> None:
    incident = classified(world, "有人打架", "public_order", "fighting", lat=36.66, lon=117.01)
    unit = patrol(world.quancheng, "Q1", 36.661, 117.011)
    services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)
    client.force_login(world.officer_q)
    assert _json(client, "/api/patrol-units/Q1/status", {"event": "en_route"}).json()["status"] == "en_route"
    refused = _json(client, "/api/patrol-units/Q1/status", {"event": "recall"})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    wrong = _json(client, "/api/patrol-units/Q1/status", {"event": "clear"})
    assert (wrong.status_code, wrong.json()["code"], wrong.json()["field"]) == (409, "conflict", "event")
    assert _json(client, "/api/patrol-units/Q1/status", {"event": "arrive"}).json()["status"] == "on_scene"
    incident.refresh_from_db()
    assert (incident.status, incident.arrived_at is not None) == ("on_scene", True)
    # Another station's officer does not even see the unit.
    client.force_login(world.officer_j)
    assert _json(client, "/api/patrol-units/Q1/status", {"event": "clear"}).status_code == 404


def test_recalling_every_unit_before_arrival_returns_the_incident_to_the_queue(world: World) -> None:
    incident = classified(world, "有人打架", "public_order", "fighting", lat=36.66, lon=117.01)
    a, b = patrol(world.quancheng, "A", 36.661, 117.011), patrol(world.quancheng, "B", 36.662, 117.012)
    for unit in (a, b):
        services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)
    services.unit_transition(actor=world.dispatcher, patrol_unit=a, event="recall")
    assert Incident.objects.get(pk=incident.pk).status == "dispatched"
    services.unit_transition(actor=world.dispatcher, patrol_unit=b, event="recall")
    incident.refresh_from_db()
    assert (incident.status, incident.dispatched_at is not None) == ("classified", True)
    assert list(Assignment.objects.order_by("pk").values_list("end", flat=True)) == ["recalled", "recalled"]


def test_the_result_closes_the_incident_and_releases_its_units(world: World) -> None:
    incident = classified(world, "有人打架", "public_order", "fighting", lat=36.66, lon=117.01)
    there, coming = patrol(world.quancheng, "A", 36.661, 117.011), patrol(world.quancheng, "B", 36.7, 117.0)
    for unit in (there, coming):
        services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)
    with pytest.raises(services.ServiceError) as early:
        services.incident_record_result(actor=world.officer_q, incident=incident, result="handled")
    assert early.value.field == "result"  # nobody has arrived yet
    services.unit_transition(actor=world.officer_q, patrol_unit=there, event="arrive")
    with pytest.raises(services.ServiceError) as why:
        services.incident_record_result(actor=world.officer_q, incident=incident, result="referred")
    assert why.value.field == "text"
    done = services.incident_record_result(actor=world.officer_q, incident=incident, result="mediated",
                                           text="双方和解")
    assert (done.status, done.result, done.result_by, done.cleared_at == done.closed_at) == (
        "closed", "mediated", world.officer_q, True)
    assert dict(PatrolUnit.objects.values_list("call_sign", "status")) == {"A": "cleared", "B": "available"}
    assert not Assignment.objects.filter(ended_at__isnull=True).exists()
    with pytest.raises(services.DispatchConflict):
        services.incident_record_result(actor=world.officer_q, incident=incident, result="handled")


def test_position_pings_update_units_and_report_what_was_skipped(world: World, client: Client) -> None:
    an_hour_ago = timezone.now() - timedelta(hours=1)
    patrol(world.quancheng, "Q1", 36.66, 117.01, at=an_hour_ago)
    patrol(world.shinan_station, "QD1", 36.06, 120.35, at=an_hour_ago)
    secret = tokens.token_create(actor=None, user=world.gateway, scopes=["dispatch.positions"], days=1).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    now = timezone.now()
    pings = [
        {"call_sign": "Q1", "lat": 36.665, "lon": 117.012, "at": (now - timedelta(seconds=20)).isoformat()},
        {"call_sign": "Q1", "lat": 36.667, "lon": 117.013, "at": (now - timedelta(seconds=10)).isoformat()},
        {"call_sign": "QD1", "lat": 36.061, "lon": 120.351, "at": now.isoformat()},
        {"call_sign": "GHOST", "lat": 36.0, "lon": 117.0, "at": now.isoformat()},
    ]
    response = _json(client, "/api/patrol-units/positions", {"pings": pings}, **auth)
    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 1, "stale": 0, "unknown": ["GHOST"], "refused": ["QD1"]}
    q1 = PatrolUnit.objects.get(call_sign="Q1")
    assert (q1.lat, q1.lon) == (36.667, 117.013)
    old = [{"call_sign": "Q1", "lat": 1.0, "lon": 1.0, "at": (now - timedelta(minutes=5)).isoformat()}]
    assert _json(client, "/api/patrol-units/positions", {"pings": old}, **auth).json()["stale"] == 1
    bad = [*pings[:1], {"call_sign": "Q1", "lat": 99.0, "lon": 117.0, "at": now.isoformat()}]
    refused = _json(client, "/api/patrol-units/positions", {"pings": bad}, **auth)
    assert (refused.status_code, refused.json()["field"]) == (400, "pings[1].lat")
    assert PatrolUnit.objects.get(call_sign="Q1").lat == 36.667  # nothing of the bad batch was written
    calls_token = tokens.token_create(actor=None, user=world.gateway, scopes=["dispatch.calls"], days=1).secret
    wrong_scope = _json(client, "/api/patrol-units/positions", {"pings": pings[:1]},
                        HTTP_AUTHORIZATION=f"Bearer {calls_token}")
    assert (wrong_scope.status_code, wrong_scope.json()["code"]) == (403, "scope")
