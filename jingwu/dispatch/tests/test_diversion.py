"""分流: rules divert non-police calls with a transfer record; the agency's feedback closes or returns them."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from jingwu.core import tokens
from jingwu.dispatch import diversion, services
from jingwu.dispatch.models import Diversion, Incident
from jingwu.dispatch.tests.factories import World, classified, take_call
from jingwu.dispatch.workflow import IncidentStatus

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("category", "subcategory", "rule"), [
    ("non_police", "utilities", ("non_police_to_12345", "12345", "transfer")),
    ("non_police", "consumer", ("consumer_to_12315", "12315", "transfer")),
    ("non_police", "labour", ("labour_to_12333", "12333", "transfer")),
    ("non_police", "enquiry", ("non_police_to_12345", "12345", "transfer")),
    ("fire", "building", ("fire_to_119", "119", "notice")),
    ("assistance", "medical", ("medical_to_120", "120", "notice")),
    ("traffic", "accident_injury", ("traffic_injury_to_120", "120", "notice")),
    ("criminal", "theft", None),
    ("assistance", "missing_person", None),
])
def test_the_rule_table(category: str, subcategory: str, rule: tuple[str, str, str] | None) -> None:
    found = diversion.rule_for(category, subcategory)
    assert (None if found is None else (found.key, found.agency, found.kind)) == rule


def test_a_non_police_call_is_transferred_on_classification(world: World) -> None:
    incident = classified(world, "小区停水两天了", "non_police", "utilities", 4, lat=36.66, lon=117.01)
    assert (incident.status, incident.diverted_at is not None) == (IncidentStatus.DIVERTED, True)
    record = Diversion.objects.get(incident=incident)
    assert (record.kind, record.agency, record.rule, record.status, record.sent_by) == (
        "transfer", "12345", "non_police_to_12345", "sent", world.dispatcher)


def test_a_fire_notifies_119_and_stays_with_the_police(world: World) -> None:
    incident = classified(world, "楼道里着火了", "fire", "building", 1, lat=36.66, lon=117.01)
    assert incident.status == IncidentStatus.CLASSIFIED
    assert list(incident.diversions.values_list("kind", "agency", "status")) == [("notice", "119", "sent")]
    # Classifying again as the same thing sends no second notice.
    services.incident_classify(actor=world.dispatcher, incident=incident, category="fire", subcategory="building",
                               priority=2)
    assert incident.diversions.count() == 1


def test_feedback_done_closes_the_incident_refused_returns_it(world: World) -> None:
    closed = classified(world, "路灯不亮", "non_police", "municipal", 4, caller="13900000001")
    record = closed.diversions.get()
    services.diversion_feedback(actor=world.dispatcher, diversion_id=record.pk, status="accepted",
                                agency_reference="12345-778")
    assert Incident.objects.get(pk=closed.pk).status == IncidentStatus.DIVERTED
    services.diversion_feedback(actor=world.dispatcher, diversion_id=record.pk, status="done", feedback="已修复")
    closed.refresh_from_db()
    record.refresh_from_db()
    assert (closed.status, closed.result, closed.result_text, closed.closed_at is not None) == (
        IncidentStatus.CLOSED, "transferred", "已修复", True)
    assert (record.status, record.agency_reference, record.feedback) == ("done", "12345-778", "已修复")
    with pytest.raises(services.DispatchConflict):
        services.diversion_feedback(actor=world.dispatcher, diversion_id=record.pk, status="refused", feedback="x")

    returned = classified(world, "停电了", "non_police", "utilities", 4, caller="13900000002")
    back = returned.diversions.get()
    with pytest.raises(services.ServiceError) as refused:
        services.diversion_feedback(actor=world.dispatcher, diversion_id=back.pk, status="refused")
    assert refused.value.field == "feedback"  # a refusal must say why
    services.diversion_feedback(actor=world.dispatcher, diversion_id=back.pk, status="refused",
                                feedback="属于公安管辖：有人偷电")
    returned.refresh_from_db()
    assert (returned.status, returned.result) == (IncidentStatus.CLASSIFIED, "")


def test_a_dispatcher_diverts_by_hand(world: World) -> None:
    incident = classified(world, "有人问怎么办护照", "assistance", "other", 4)
    record = services.incident_divert(actor=world.dispatcher, incident=incident, agency="12345", note="出入境咨询")
    incident.refresh_from_db()
    assert (incident.status, record.kind, record.rule, record.note) == (IncidentStatus.DIVERTED, "transfer", "",
                                                                         "出入境咨询")
    with pytest.raises(services.ServiceError) as bad:
        services.incident_divert(actor=world.dispatcher, incident=classified(world, "x", "assistance", "other",
                                                                             caller="13900000003"), agency="110")
    assert bad.value.field == "agency"
    # Only a classified incident (no units out) can be transferred.
    with pytest.raises(services.DispatchConflict):
        services.incident_divert(actor=world.dispatcher, incident=take_call(world, "y", caller="").incident,
                                 agency="12345")


def test_the_agency_answers_through_the_api_with_the_gateway_token(world: World, client: Client) -> None:
    incident = classified(world, "物业不给供暖", "non_police", "utilities", 4)
    record = incident.diversions.get()
    secret = tokens.token_create(actor=None, user=world.gateway, scopes=["dispatch.calls"], days=1).secret
    response = client.post(f"/api/diversions/{record.pk}/feedback", content_type="application/json",
                           data=json.dumps({"status": "done", "feedback": "已协调供暖", "agency_reference": "A-1"}),
                           HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in ("status", "agency", "feedback", "agency_reference")} == {
        "status": "done", "agency": "12345", "feedback": "已协调供暖", "agency_reference": "A-1"}
    again = client.post(f"/api/diversions/{record.pk}/feedback", content_type="application/json",
                        data=json.dumps({"status": "accepted"}), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    missing = client.post("/api/diversions/999999/feedback", content_type="application/json",
                          data=json.dumps({"status": "done"}), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert missing.status_code == 404


def test_feedback_outside_the_sender_s_area_answers_as_for_an_unknown_diversion(world: World,
                                                                                 client: Client) -> None:
    """No existence oracle: Qingdao's gateway gets the same 404 for Jinan's diversion as for a
    diversion that does not exist; the attempt is audited as denied and nothing changes."""
    from jingwu.core.models import AuditEntry
    from jingwu.core.tests.factories import make_user

    incident = classified(world, "物业不给供暖", "non_police", "utilities", 4)
    record = incident.diversions.get()
    qingdao_gateway = make_user("gateway_qd", [("dispatch_gateway", world.qingdao)])
    secret = tokens.token_create(actor=None, user=qingdao_gateway, scopes=["dispatch.calls"], days=1).secret
    body = json.dumps({"status": "done", "feedback": "已办结"})
    answers = [client.post(f"/api/diversions/{pk}/feedback", content_type="application/json", data=body,
                           HTTP_AUTHORIZATION=f"Bearer {secret}") for pk in (record.pk, record.pk + 1000)]
    assert [(a.status_code, a.json()) for a in answers] == [(404, {"detail": "Not Found"})] * 2
    record.refresh_from_db()
    incident.refresh_from_db()
    assert (record.status, record.feedback, incident.status) == ("sent", "", IncidentStatus.DIVERTED)
    denied = AuditEntry.objects.filter(actor_username="gateway_qd", outcome="denied")
    assert list(denied.values_list("action", "object_type", "object_id", "unit_code")) == [
        ("dispatch.diversion_feedback", "diversion", str(record.pk), incident.unit.code)]
