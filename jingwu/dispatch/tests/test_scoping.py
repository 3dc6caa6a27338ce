"""Who sees what: a station its own incidents, the city's command centre the city, no one another city."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jingwu.core.models import AuditEntry
from jingwu.dispatch import selectors, services
from jingwu.dispatch.tests.factories import World, classified, patrol, take_call

pytestmark = pytest.mark.django_db


@pytest.fixture
def incidents(world: World) -> dict[str, Any]:
    return {
        "quancheng": take_call(world, "有人打架", lat=36.66, lon=117.01, caller="13800000001").incident,
        "jiefang": take_call(world, "有人偷车", lat=36.68, lon=117.03, caller="13800000002").incident,
        "lixia": take_call(world, "有人吵架", address="济南市历下区", caller="13800000003").incident,
        "nowhere": take_call(world, "说不清在哪", caller="13800000004").incident,
        "qingdao": services.call_receive(actor=None, centre=world.qingdao, content="有人打架", lat=36.06,
                                         lon=120.35).incident,
    }


def _numbers(client: Client) -> set[str]:
    response = client.get("/api/incidents?limit=200")
    assert response.status_code == 200, response.content
    return {row["number"] for row in response.json()}


def test_each_sees_their_own(world: World, incidents: dict[str, Any], client: Client) -> None:
    number = {key: incident.number for key, incident in incidents.items()}
    seen = {}
    for who in ("officer_q", "officer_j", "dispatcher", "commander", "qingdao_dispatcher"):
        client.force_login(getattr(world, who))
        seen[who] = _numbers(client)
    assert seen == {
        "officer_q": {number["quancheng"]},
        "officer_j": {number["jiefang"]},
        "dispatcher": {number[k] for k in ("quancheng", "jiefang", "lixia", "nowhere")},
        "commander": {number[k] for k in ("quancheng", "jiefang", "lixia", "nowhere")},
        "qingdao_dispatcher": {number["qingdao"]},
    }


def test_another_s_incident_is_not_found_and_cannot_be_worked(world: World, incidents: dict[str, Any],
                                                              client: Client) -> None:
    other = incidents["jiefang"]
    client.force_login(world.officer_q)
    for response in (client.get(f"/api/incidents/{other.pk}"), client.get(f"/api/incidents/{other.pk}/eido"),
                     client.get(f"/dispatch/incidents/{other.pk}/")):
        assert response.status_code == 404
    client.force_login(world.qingdao_dispatcher)
    response = client.post(f"/api/incidents/{other.pk}/classification", content_type="application/json",
                           data={"category": "criminal", "subcategory": "theft", "priority": 3})
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == "received"


def test_officers_may_not_dispatch_and_dispatchers_only_their_city_s_units(world: World,
                                                                           incidents: dict[str, Any]) -> None:
    from django.core.exceptions import PermissionDenied

    incident = services.incident_classify(actor=world.officer_q, incident=incidents["quancheng"],
                                          category="public_order", subcategory="fighting", priority=2)
    ours = patrol(world.quancheng, "Q1", 36.661, 117.011)
    theirs = patrol(world.shinan_station, "QD1", 36.661, 117.012)
    before = AuditEntry.objects.filter(outcome="denied").count()
    with pytest.raises(PermissionDenied):
        services.unit_dispatch(actor=world.officer_q, incident=incident, patrol_unit=ours)
    with pytest.raises(PermissionDenied):
        services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=theirs)
    assert AuditEntry.objects.filter(outcome="denied").count() == before + 2
    # The Qingdao unit is nearer but not the Jinan dispatcher's to send.
    assert [r.call_sign for r in selectors.recommend_units(world.dispatcher, incident)] == ["Q1"]
    with pytest.raises(PermissionDenied):
        selectors.recommend_units(world.officer_q, incident)
    assert services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=ours).pk


def test_patrol_units_and_counts_are_scoped(world: World, client: Client) -> None:
    patrol(world.quancheng, "Q1", 36.661, 117.011)
    patrol(world.jiefang, "J1", 36.68, 117.02)
    patrol(world.shinan_station, "QD1", 36.06, 120.35)
    client.force_login(world.officer_q)
    assert [u["call_sign"] for u in client.get("/api/patrol-units").json()] == ["Q1"]
    client.force_login(world.dispatcher)
    assert [u["call_sign"] for u in client.get("/api/patrol-units").json()] == ["J1", "Q1"]
    summary = client.get("/api/dispatch/summary").json()
    assert summary["units_by_status"] == {"available": 2, "dispatched": 0, "en_route": 0, "on_scene": 0,
                                          "cleared": 0, "out_of_service": 0}


def test_the_list_costs_a_fixed_number_of_queries(world: World, client: Client,
                                                  django_assert_num_queries: Any) -> None:
    for i in range(3):
        classified(world, f"有人打架{i}", "public_order", "fighting", caller=f"1380000001{i}", lat=30.0 + i, lon=100)
    client.force_login(world.dispatcher)
    client.get("/api/incidents")
    # session, user, roles, the page of incidents with their units
    with django_assert_num_queries(4):
        small = client.get("/api/incidents")
    for i in range(5):
        classified(world, f"有人偷车{i}", "criminal", "theft", caller=f"1380000002{i}", lat=20.0 + i, lon=100)
    with django_assert_num_queries(4):
        large = client.get("/api/incidents")
    assert (len(small.json()), len(large.json())) == (3, 8)


def test_feed_accounts_read_nothing(world: World, incidents: dict[str, Any], client: Client) -> None:
    client.force_login(world.gateway)
    for path in ("/api/incidents", "/api/patrol-units", "/api/dispatch/summary", "/api/dispatch/classifier"):
        response = client.get(path)
        assert (path, response.status_code) == (path, 403)


def test_a_unit_event_on_the_page_reaches_only_a_unit_sent_to_that_incident(world: World,
                                                                             client: Client) -> None:
    """The page finds the unit through the scoped selector: a unit the dispatcher does not see, or one
    not sent to this incident, is refused and stays as it was."""
    from jingwu.dispatch.models import PatrolUnit

    q1 = patrol(world.quancheng, "Q1", 36.661, 117.011, grid=world.grid_q1)
    j1 = patrol(world.jiefang, "J1", 36.685, 117.03, grid=world.grid_j1)
    s1 = patrol(world.shinan_station, "S1", 36.06, 120.35, grid=world.grid_s1)
    fight = classified(world, "有人打架", "public_order", "fighting", lat=36.66, lon=117.01, caller="13800000011")
    theft = classified(world, "有人偷车", "criminal", "theft", lat=36.68, lon=117.03, caller="13800000012")
    services.unit_dispatch(actor=world.dispatcher, incident=fight, patrol_unit=q1)
    services.unit_dispatch(actor=world.dispatcher, incident=theft, patrol_unit=j1)
    client.force_login(world.dispatcher)
    for unit in (j1, s1):  # sent elsewhere; in another city
        response = client.post(f"/dispatch/incidents/{fight.pk}/units/{unit.pk}/event", {"event": "en_route"},
                               follow=True)
        assert response.status_code == 200
        assert "无效的操作。" in response.content.decode()
    assert dict(PatrolUnit.objects.values_list("call_sign", "status")) == {
        "Q1": "dispatched", "J1": "dispatched", "S1": "available"}
    client.post(f"/dispatch/incidents/{fight.pk}/units/{q1.pk}/event", {"event": "en_route"})
    assert PatrolUnit.objects.get(pk=q1.pk).status == "en_route"
