"""Call intake through the telephony API: numbering, idempotency, repeat calls, split and link,
and bad input answered with a structured 4xx with nothing written."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jingwu.core import audit, tokens
from jingwu.core.models import AuditEntry
from jingwu.dispatch import services
from jingwu.dispatch.models import Call, Incident, IncidentSequence
from jingwu.dispatch.tests.factories import World, take_call
from jingwu.dispatch.workflow import IncidentStatus

pytestmark = pytest.mark.django_db


def _bearer(world: World, scopes: list[str] | None = None) -> str:
    secret = tokens.token_create(actor=None, user=world.gateway, scopes=scopes or ["dispatch.calls"], days=1).secret
    return f"Bearer {secret}"


def _post(client: Client, auth: str, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=auth)


_BASE = timezone.now() - timedelta(minutes=1)


def _iso(delta_seconds: float = 0) -> str:
    return (_BASE + timedelta(seconds=delta_seconds)).isoformat()


def _rows() -> tuple[int, int, int]:
    return Incident.objects.count(), Call.objects.count(), IncidentSequence.objects.count()


def test_a_call_opens_a_numbered_located_classified_incident(world: World, client: Client) -> None:
    auth = _bearer(world)
    response = _post(client, auth, "/api/calls", {
        "content": "泉城路有人持刀抢劫", "caller_number": "138 1234 5678", "lat": 36.66, "lon": 117.01,
        "received_at": _iso(), "answered_at": _iso(4), "external_id": "tel-0001"})
    assert response.status_code == 201, response.content
    body = response.json()
    day = timezone.localdate(_BASE).strftime("%Y%m%d")
    assert body["incident_number"] == f"J370100{day}00001"
    assert body | {"call_id": 0, "incident_id": 0} == {
        "call_id": 0, "incident_id": 0, "incident_number": f"J370100{day}00001", "repeat": False, "replayed": False,
        "suggestion": {"category": "criminal", "subcategory": "robbery", "priority": 1, "rule": "robbery",
                       "version": "2026.1"},
        "located_by": "coordinates", "unit_code": "370102004G01", "grid_code": "370102004G01",
        "station_code": "370102004"}
    call = Call.objects.get(pk=body["call_id"])
    assert (call.caller_number, call.external_id, call.channel) == ("+8613812345678", "tel-0001", "telephony")
    assert call.answered_at is not None and (call.answered_at - call.received_at).total_seconds() == 4
    incident = Incident.objects.get(pk=body["incident_id"])
    assert incident.county is not None
    assert (incident.status, incident.centre.code, incident.county.code) == ("received", "370100", "370102")
    entry = AuditEntry.objects.filter(action="dispatch.call_receive").get()
    assert (entry.actor_username, entry.object_id, entry.unit_code) == ("gateway_110", incident.number,
                                                                         "370102004G01")


def test_numbers_follow_on_per_centre_and_day(world: World) -> None:
    day = timezone.localdate(timezone.now() - timedelta(minutes=1)).strftime("%Y%m%d")
    numbers = [take_call(world, f"第{i}起：停水", lat=36.0 + i, lon=100.0, caller=f"1391234560{i}").incident.number
               for i in range(3)]
    assert numbers == [f"J370100{day}0000{i}" for i in (1, 2, 3)]
    other = services.call_receive(actor=None, centre=world.qingdao, content="停电").incident.number
    assert other == f"J370200{day}00001"
    yesterday = take_call(world, "噪音", at=timezone.now() - timedelta(days=1), caller="").incident.number
    assert re.fullmatch(r"J370100\d{8}00001", yesterday) and yesterday[7:15] != day


def test_the_same_external_id_twice_is_one_call(world: World, client: Client) -> None:
    auth = _bearer(world)
    body = {"content": "停水了", "external_id": "tel-42", "received_at": _iso()}
    first = _post(client, auth, "/api/calls", body)
    before = _rows(), AuditEntry.objects.count()
    again = _post(client, auth, "/api/calls", body | {"content": "别的内容也不改变结果"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() | {"replayed": True}
    assert (_rows(), AuditEntry.objects.count()) == before
    # The replay used no number: the next call gets the one after the first.
    following = _post(client, auth, "/api/calls", {"content": "停电了", "received_at": _iso(1)})
    assert following.json()["incident_number"] == first.json()["incident_number"][:-5] + "00002"


def test_a_call_costs_a_fixed_number_of_statements(world: World, client: Client) -> None:
    """Once the process is warm (grid index, unit chains, the centre cached): the token, the actor's
    roles, the repeat check (one statement however it matches), the number, the incident, the
    call and the audit entry (chain head, entry, new head). It was 18, then 13 while the audit
    entry took a savepoint of its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    auth = _bearer(world)
    _post(client, auth, "/api/calls", {"content": "有人打架", "lat": 36.66, "lon": 117.01,
                                       "caller_number": "13800000001"})
    counts = []
    bodies: list[dict[str, Any]] = [{"lat": 36.68, "lon": 117.03}, {"lat": 36.6601, "lon": 117.0101},
                                    {"address": "解放路街道文化东路5号"}, {}]
    for i, body in enumerate(bodies):
        with CaptureQueriesContext(connection) as captured:
            response = _post(client, auth, "/api/calls", {"content": "有人打架", "caller_number": f"1380000010{i}",
                                                          **body})
        assert response.status_code in (200, 201), response.content
        counts.append((response.json()["repeat"], len(captured.captured_queries)))
    # A repeat writes the incident's first-call times too; the first address lookup reads its division once.
    # The test's transaction turns BEGIN/COMMIT into a savepoint and its release: 8 statements and the
    # audit entry's either way, a repeat too (it locks the incident and updates its first-call times
    # instead of numbering and inserting one); the first call located by address reads its division's
    # units once.
    call = 8 + audit.statements_per_entry()
    assert counts == [(False, call), (True, call), (False, call + 2), (False, call)]


def test_a_caller_calling_back_from_elsewhere_joins_and_the_place_wins_over_the_caller(world: World) -> None:
    first = take_call(world, "我的车被偷了", lat=36.66, lon=117.01, caller="13800000009")
    other = take_call(world, "车被偷了", lat=36.68, lon=117.03, caller="13800000008")
    # The same caller from 2 km away joins the first incident, as a call back.
    back = take_call(world, "车被偷了怎么还没人来", lat=36.68, lon=117.012, caller="13800000009",
                     at=first.call.received_at + timedelta(minutes=3))
    assert (back.repeat, back.call.repeat_reason, back.incident.pk) == (True, "same_caller", first.incident.pk)
    # Calling again from next to the other incident: the place wins.
    near_other = take_call(world, "车被偷了", lat=36.6801, lon=117.0301, caller="13800000009",
                           at=first.call.received_at + timedelta(minutes=4))
    assert (near_other.call.repeat_reason, near_other.incident.pk) == ("same_place", other.incident.pk)


def test_a_repeat_call_about_the_same_place_joins_the_open_incident(world: World) -> None:
    first = take_call(world, "路口有人打架", lat=36.6600, lon=117.0100, caller="13800000001")
    # 150 m away, two minutes later, seen by another caller as an assault.
    second = take_call(world, "有人被打伤了", lat=36.6613, lon=117.0104, caller="13800000002",
                       at=first.call.received_at + timedelta(minutes=2))
    assert (second.repeat, second.incident.pk) == (True, first.incident.pk)
    assert second.call.repeat_reason == "same_place"
    assert first.incident.calls.count() == 2


@pytest.mark.parametrize(("change", "why"), [
    ({"lat": 36.6650}, "beyond 300 m"),
    ({"minutes": 31}, "beyond 30 minutes"),
    ({"content": "这里着火了"}, "a fire is not a fight"),
])
def test_calls_not_about_the_same_event_open_their_own_incident(world: World, change: dict[str, Any],
                                                                why: str) -> None:
    first = take_call(world, "路口有人打架", lat=36.6600, lon=117.0100, caller="13800000001",
                      at=timezone.now() - timedelta(minutes=40))
    second = take_call(world, change.get("content", "有人打架"), lat=change.get("lat", 36.6601), lon=117.0100,
                       caller="13800000002",
                       at=first.call.received_at + timedelta(minutes=change.get("minutes", 1)))
    assert second.repeat is False and second.incident.pk != first.incident.pk, why


def test_a_closed_incident_is_not_joined(world: World) -> None:
    first = take_call(world, "路口有人打架", lat=36.66, lon=117.01)
    services.incident_classify(actor=world.dispatcher, incident=first.incident, category="invalid",
                               subcategory="prank", priority=4)
    services.incident_record_result(actor=world.dispatcher, incident=first.incident, result="invalid")
    second = take_call(world, "路口有人打架", lat=36.66, lon=117.01)
    assert second.repeat is False


def test_a_caller_calling_back_joins_their_incident_without_coordinates(world: World) -> None:
    first = take_call(world, "我家被盗了", address="解放路街道文化东路5号", caller="13800000009")
    back = take_call(world, "怎么还没人来，家里被偷了", caller="13800000009",
                     at=first.call.received_at + timedelta(minutes=5))
    assert (back.repeat, back.call.repeat_reason, back.incident.pk) == (True, "same_caller", first.incident.pk)


def test_the_same_address_without_coordinates_joins(world: World) -> None:
    first = take_call(world, "有人打架", address="解放路街道文化东路5号", caller="13800000001")
    other = take_call(world, "有人在打人", address="解放路街道文化东路5号", caller="13800000002")
    assert (other.repeat, other.call.repeat_reason, other.incident.pk) == (True, "same_address", first.incident.pk)


def test_a_dispatcher_splits_a_call_off_again(world: World, client: Client) -> None:
    first = take_call(world, "路口有人打架", lat=36.66, lon=117.01, caller="13800000001")
    second = take_call(world, "隔壁楼有人打架", lat=36.6605, lon=117.0102, caller="13800000002",
                       at=first.call.received_at - timedelta(seconds=30))
    assert second.incident.pk == first.incident.pk
    incident = Incident.objects.get(pk=first.incident.pk)
    assert incident.received_at == second.call.received_at  # the earliest call counts
    client.force_login(world.dispatcher)
    response = client.post(f"/api/calls/{second.call.pk}/split")
    assert response.status_code == 201, response.content
    new = Incident.objects.get(number=response.json()["number"])
    assert list(new.calls.values_list("pk", flat=True)) == [second.call.pk]
    incident.refresh_from_db()
    assert list(incident.calls.values_list("pk", flat=True)) == [first.call.pk]
    assert incident.received_at == first.call.received_at
    assert (new.status, new.suggested_category, new.received_at) == ("received", "public_order",
                                                                     second.call.received_at)
    # The only call of an incident cannot be split off.
    again = client.post(f"/api/calls/{second.call.pk}/split")
    assert (again.status_code, again.json()["field"]) == (400, "call")


def test_a_call_moved_onto_another_incident_merges_the_emptied_one(world: World, client: Client) -> None:
    first = take_call(world, "路口有人打架", lat=36.66, lon=117.01)
    lone = take_call(world, "有人打架", lat=36.68, lon=117.03, caller="13900000000")
    assert lone.incident.pk != first.incident.pk
    client.force_login(world.dispatcher)
    response = client.post(f"/api/calls/{lone.call.pk}/link", data={"incident": first.incident.number},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    merged = Incident.objects.get(pk=lone.incident.pk)
    assert (merged.status, merged.merged_into_id) == (IncidentStatus.MERGED, first.incident.pk)
    assert first.incident.calls.count() == 2


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "status", "field"), [
    ({"content": ""}, 400, "content"),
    ({"content": "   "}, 400, "content"),
    ({"content": "x" * 2001}, 400, "content"),
    ({"content": "有人打架", "lat": 36.6}, 400, "lon"),
    ({"content": "有人打架", "lon": 117.0}, 400, "lat"),
    ({"content": "有人打架", "lat": 91, "lon": 117.0}, 400, "lat"),
    ({"content": "有人打架", "lat": 36.6, "lon": -181}, 400, "lon"),
    ({"content": "有人打架", "caller_number": "138abc"}, 400, "caller_number"),
    ({"content": "有人打架", "caller_number": "12"}, 400, "caller_number"),
    ({"content": "有人打架", "received_at": "2026-01-01T08:00:00"}, 400, "received_at"),
    ({"content": "有人打架", "received_at": "2099-01-01T08:00:00+08:00"}, 400, "received_at"),
    ({"content": "有人打架", "received_at": "2026-01-01T08:00:10+08:00",
      "answered_at": "2026-01-01T08:00:00+08:00"}, 400, "answered_at"),
    ({"content": "有人打架", "centre": "370102"}, 400, "centre"),
    ({"content": "有人打架", "centre": "999999"}, 400, "centre"),
    ({"content": "有人打\x00架"}, 400, "content"),
    ({"content": "有人打架", "address": "地" * 256}, 400, "address"),
    ({"content": "有人打架", "external_id": "x" * 65}, 400, "external_id"),
])
def test_bad_calls_are_refused_naming_the_field_and_nothing_is_written(world: World, client: Client,
                                                                        body: dict[str, Any], status: int,
                                                                        field: str) -> None:
    auth = _bearer(world)
    before = _rows()
    response = _post(client, auth, "/api/calls", body)
    assert (response.status_code, response.json()["field"], response.json()["code"]) == (status, field, "invalid")
    assert response.json()["detail"]
    assert _rows() == before


@pytest.mark.parametrize("raw", [
    "not json", "[]", '{"content": 5}', '{"lat": 1}', '{"content": "x", "lat": "north"}',
    '{"content": "x", "received_at": "yesterday"}', '{"content": "x", "lat": NaN, "lon": 1}',
])
def test_malformed_bodies_are_4xx_json_never_500(world: World, client: Client, raw: str) -> None:
    before = _rows()
    response = client.post("/api/calls", data=raw, content_type="application/json",
                           HTTP_AUTHORIZATION=_bearer(world))
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    assert _rows() == before


def test_intake_needs_the_scope_and_the_role(world: World, client: Client) -> None:
    read_only = _bearer(world, ["read"])
    response = _post(client, read_only, "/api/calls", {"content": "有人打架"})
    assert (response.status_code, response.json()["code"]) == (403, "scope")
    # An officer's token with the scope still lacks CALL_INTAKE.
    secret = tokens.token_create(actor=None, user=world.officer_q, scopes=["dispatch.calls"], days=1).secret
    response = _post(client, f"Bearer {secret}", "/api/calls", {"content": "有人打架", "centre": "370100"})
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    # The gateway of Jinan may not feed Qingdao's centre.
    response = _post(client, _bearer(world), "/api/calls", {"content": "有人打架", "centre": "370200"})
    assert response.status_code == 403
    assert Incident.objects.count() == 0
