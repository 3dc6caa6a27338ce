"""The dispatcher's pages: take a call, classify, dispatch a recommended unit, record the result."""

from __future__ import annotations

import pytest
from django.test import Client

from jingwu.core import services as core_services
from jingwu.core.models import AuditEntry
from jingwu.dispatch.models import Assignment, Incident
from jingwu.dispatch.tests.factories import World, patrol, take_call

pytestmark = pytest.mark.django_db


def test_a_dispatcher_works_a_call_from_intake_to_result(world: World, client: Client) -> None:
    patrol(world.quancheng, "Q1", 36.661, 117.011, grid=world.grid_q1)
    client.force_login(world.dispatcher)
    page = client.get("/dispatch/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/dispatch/"' in html and "接处警" in html  # the menu entry
    assert "济南市公安局" in html

    response = client.post("/dispatch/", {"content": "泉城路有人打架，有人受伤", "caller_number": "13800000001",
                                          "address": "泉城路街道芙蓉街", "lat": "36.66", "lon": "117.01"})
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/dispatch/incidents/{incident.pk}/"
    assert (incident.suggested_category, incident.suggested_priority, incident.unit.code) == (
        "public_order", 1, "370102004G01")
    assert incident.calls.get().channel == "dispatcher"

    detail = client.get(response["Location"]).content.decode()
    assert incident.number in detail and "138****0001" in detail and "13800000001" not in detail
    assert "确认定性" in detail and "推荐警力" not in detail  # recommendations once classified

    client.post(f"/dispatch/incidents/{incident.pk}/classify", {"kind": "public_order:fighting", "priority": "1"})
    incident.refresh_from_db()
    assert (incident.status, incident.category, incident.corrected) == ("classified", "public_order", False)
    detail = client.get(f"/dispatch/incidents/{incident.pk}/").content.decode()
    assert "推荐警力" in detail and "Q1" in detail and "本网格" in detail

    unit_pk = world.quancheng.patrol_units.get().pk
    client.post(f"/dispatch/incidents/{incident.pk}/dispatch", {"patrol_unit": str(unit_pk)})
    assert Assignment.objects.get().incident_id == incident.pk
    client.post(f"/dispatch/incidents/{incident.pk}/units/{unit_pk}/event", {"event": "arrive"})
    client.post(f"/dispatch/incidents/{incident.pk}/result", {"result": "mediated", "text": "双方和解"})
    incident.refresh_from_db()
    assert (incident.status, incident.result, incident.result_text) == ("closed", "mediated", "双方和解")
    # A second dispatch of a closed incident is refused with a message, not an error page.
    again = client.post(f"/dispatch/incidents/{incident.pk}/dispatch", {"patrol_unit": str(unit_pk)}, follow=True)
    assert again.status_code == 200 and "不能进行此操作" in again.content.decode()


def test_bad_intake_is_shown_on_the_form_and_nothing_is_written(world: World, client: Client) -> None:
    client.force_login(world.dispatcher)
    response = client.post("/dispatch/", {"content": "", "lat": "36.6"})
    assert response.status_code == 400
    response = client.post("/dispatch/", {"content": "有人打架", "lat": "36.6"})
    assert response.status_code == 400
    assert "经度和纬度必须同时提供" in response.content.decode()
    assert Incident.objects.count() == 0


def test_the_caller_s_full_number_needs_a_stated_purpose(world: World, client: Client) -> None:
    incident = take_call(world, "有人打架", lat=36.66, lon=117.01, caller="13800000001").incident
    call = incident.calls.get()
    client.force_login(world.dispatcher)
    response = client.post(f"/dispatch/incidents/{incident.pk}/calls/{call.pk}/number")
    assert response.status_code == 302 and response["Location"].startswith("/purpose?next=")
    core_services.purpose_set(actor=world.dispatcher, text="回拨报警人核实地点", ref_type="incident",
                              ref_id=incident.number)
    response = client.post(f"/dispatch/incidents/{incident.pk}/calls/{call.pk}/number")
    assert response.status_code == 200 and "+8613800000001" in response.content.decode()
    assert AuditEntry.objects.filter(action="incident.record", object_type="call", object_id=str(call.pk),
                                     outcome="allowed").count() == 1


def test_officers_see_their_incidents_but_no_dispatch_controls(world: World, client: Client) -> None:
    incident = take_call(world, "有人打架", lat=36.66, lon=117.01).incident
    client.force_login(world.officer_q)
    detail = client.get(f"/dispatch/incidents/{incident.pk}/")
    assert detail.status_code == 200
    assert "拆分为新警情" not in detail.content.decode()
    assert client.post(f"/dispatch/incidents/{incident.pk}/dispatch", {"patrol_unit": "1"}).status_code == 403
    client.force_login(world.gateway)
    assert client.get("/dispatch/").status_code == 403


def test_the_pages_speak_english_when_chosen(world: World, client: Client) -> None:
    from django.conf import settings

    client.force_login(world.dispatcher)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get("/dispatch/").content.decode()
    assert "Take a call" in html and "What the caller says" in html and "接警登记" not in html
