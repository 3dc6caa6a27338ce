"""The cases API and the hand-off from dispatch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from jingwu.cases import selectors, services
from jingwu.cases.models import Case, CaseIncident
from jingwu.cases.tests.world import World, accept, make_world, move
from jingwu.core.models import AuditEntry
from jingwu.core.services import ServiceError

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    return make_world()


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _accept_body(**over: Any) -> dict[str, Any]:
    body = {"unit_code": "370102S01", "case_type": "criminal", "category": "fraud", "summary": "网购被骗 3000 元",
            "reported_at": "2026-01-05T09:30:00+08:00",
            "parties": [{"role": "reporter", "name": "报案人丙", "phone": "13800138000"}]}
    body.update(over)
    return body


def test_accept_list_read_and_move_a_case(w: World, django_assert_num_queries: Any) -> None:
    client = _client(w.officer)
    created = client.post("/api/cases/", _accept_body(), content_type="application/json")
    assert created.status_code == 201
    data = created.json()
    case_id, number = data["case"]["id"], data["case"]["number"]
    assert data["case"]["state"] == "accepted" and data["case"]["public_status"] == "accepted"
    assert services.public_lookup(number=number, code=data["lookup_code"], client="t").outcome == "found"
    for _ in range(3):
        accept(w)
    with django_assert_num_queries(6):  # session, user, roles, count, one page, the incidents of that page
        listing = client.get("/api/cases/").json()
    assert listing["count"] == 4 and listing["items"][-1]["number"] == number
    detail = client.get(f"/api/cases/{case_id}").json()
    assert [t["key"] for t in detail["transitions"]] == ["begin_review"]
    assert detail["deadlines"][0]["clock"] == "criminal.filing_review"
    moved = client.post(f"/api/cases/{case_id}/transitions", {"transition": "begin_review"},
                        content_type="application/json")
    assert moved.status_code == 200 and moved.json()["to_state"] == "filing_review"
    owner = client.post(f"/api/cases/{case_id}/owner", {"username": "sun"}, content_type="application/json")
    assert owner.status_code == 200 and owner.json()["owner"] == "sun"
    # an auxiliary of the station may work on the case but not be in charge of it
    assert client.post(f"/api/cases/{case_id}/owner", {"username": "fu"}, content_type="application/json"
                       ).json()["field"] == "owner"
    # another station's officer reads the same as nobody at all
    elsewhere = client.post(f"/api/cases/{case_id}/owner", {"username": "zhao"}, content_type="application/json")
    nobody = client.post(f"/api/cases/{case_id}/owner", {"username": "nobody"}, content_type="application/json")
    assert (elsewhere.status_code, nobody.status_code) == (404, 404)
    assert elsewhere.json()["code"] == nobody.json()["code"] == "not_found"
    timeline = client.get(f"/api/cases/{case_id}/timeline").json()
    assert [e["kind"] for e in timeline] == ["accepted", "document", "transition", "note"]


def test_api_errors_are_structured(w: World) -> None:
    client = _client(w.officer)
    bad = client.post("/api/cases/", _accept_body(category="beating"), content_type="application/json")
    assert bad.status_code == 400 and bad.json()["field"] == "category"
    party = client.post("/api/cases/", _accept_body(parties=[{"role": "victim"}]), content_type="application/json")
    assert party.status_code == 400 and party.json()["field"] == "parties[0].name"
    assert client.post("/api/cases/", _accept_body(unit_code="nope"), content_type="application/json"
                       ).status_code == 404
    foreign = client.post("/api/cases/", _accept_body(unit_code="370102S02"), content_type="application/json")
    assert foreign.status_code == 403 and foreign.json()["code"] == "forbidden"
    assert client.post("/api/cases/", {"case_type": "criminal"}, content_type="application/json").status_code == 422
    case = accept(w).case
    wrong = client.post(f"/api/cases/{case.pk}/transitions", {"transition": "file"}, content_type="application/json")
    assert wrong.status_code == 403
    unknown = client.post(f"/api/cases/{case.pk}/transitions", {"transition": "explode"},
                          content_type="application/json")
    assert unknown.status_code == 400 and unknown.json()["field"] == "transition"
    assert client.get("/api/cases/999999").status_code == 404
    assert client.get(f"/api/cases/{2**63}").status_code in (404, 422)
    assert _client(w.other_officer).get(f"/api/cases/{case.pk}").status_code == 404
    assert Case.objects.count() == 1


def test_reviews_tasks_evidence_and_documents_by_api(w: World) -> None:
    case = move(w, accept(w).case, "begin_review", w.officer)
    officer = _client(w.officer)
    r = officer.post(f"/api/cases/{case.pk}/reviews", {"subject": "filing", "proposal": "拟立案"},
                     content_type="application/json")
    assert r.status_code == 201
    reviewer = _client(w.reviewer)
    assert [x["id"] for x in reviewer.get("/api/cases/reviews/pending").json()] == [r.json()["id"]]
    decided = reviewer.post(f"/api/cases/reviews/{r.json()['id']}/decision", {"approve": True},
                            content_type="application/json")
    assert decided.json()["outcome"] == "approved"
    filed = _client(w.chief).post(f"/api/cases/{case.pk}/transitions", {"transition": "file"},
                                  content_type="application/json")
    assert filed.status_code == 200
    task = officer.post(f"/api/cases/{case.pk}/tasks", {"title": "走访", "assignee": "sun"},
                        content_type="application/json")
    assert task.status_code == 201
    done = _client(w.officer2).post(f"/api/cases/tasks/{task.json()['id']}/done", {"result": "已走访"},
                                    content_type="application/json")
    assert done.json()["status"] == "done"
    ev = officer.post(f"/api/cases/{case.pk}/evidence", {"kind": "scene", "description": "现场勘验笔录"},
                      content_type="application/json")
    assert ev.status_code == 201
    bad_ev = officer.post(f"/api/cases/{case.pk}/evidence", {"kind": "rumour", "description": "x"},
                          content_type="application/json")
    assert bad_ev.status_code == 400 and bad_ev.json()["field"] == "kind"
    docs = officer.get(f"/api/cases/{case.pk}/documents").json()
    assert [d["kind"] for d in docs] == ["receipt", "filing_decision"]
    pdf = officer.get(f"/api/cases/documents/{docs[1]['id']}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"


def test_supervision_by_api(w: World) -> None:
    accept(w, now=timezone.now() - dt.timedelta(days=10))
    data = _client(w.inspector).get("/api/cases/supervision/overview?unit=370102").json()
    assert data["unit_code"] == "370102" and data["totals"]["overdue"] == 1
    assert data["totals"]["criminal_no_case"] == 0  # dispatch's feed is registered at start-up: a real zero
    assert _client(w.officer).get("/api/cases/supervision/overview").status_code == 403
    # a unit outside the inspector's jurisdiction is refused, and the refusal audited
    assert _client(w.inspector).get("/api/cases/supervision/overview?unit=370000").status_code == 403
    assert AuditEntry.objects.filter(outcome="denied", actor_username=w.inspector.username,
                                     action="supervision.read", object_id="370000").count() == 1


# --- the hand-off from dispatch ------------------------------------------------------

def _handoff(w: World, **over: Any) -> services.Acceptance:
    kwargs: dict[str, Any] = {
        "actor": w.officer, "incident_app": "dispatch", "incident_id": 42, "incident_number": "J3701022026000042",
        "unit": w.station, "case_type": "criminal", "category": "robbery", "summary": "夜间街头抢劫手机",
        "reported_at": timezone.now() - dt.timedelta(hours=2),
        "reporter": services.PartyIn("reporter", name="报案人丁", phone="13900139000")}
    kwargs.update(over)
    return services.case_accept_from_incident(**kwargs)


def test_an_incident_becomes_a_case_once(w: World) -> None:
    first = _handoff(w)
    assert first.created and first.lookup_code and first.case.origin == "incident"
    link = CaseIncident.objects.get()
    assert (link.app, link.incident_id, link.number) == ("dispatch", "42", "J3701022026000042")
    assert list(first.case.parties.values_list("role", "name", "phone")) == [("reporter", "报案人丁",
                                                                               "+8613900139000")]
    again = _handoff(w, actor=w.officer2)
    assert (again.case.pk, again.created, again.lookup_code) == (first.case.pk, False, None)
    assert Case.objects.count() == 1
    assert AuditEntry.objects.filter(action="case.accept").get().details["incident"] == "dispatch:42"
    assert selectors.case_outcomes_for_incidents("dispatch", ["42", "43"]) == {"42": {
        "case_id": first.case.pk, "case_number": first.case.number, "state": "accepted",
        "public_status": "accepted", "terminal": False}}


def test_the_handoff_is_checked_like_any_acceptance(w: World) -> None:
    with pytest.raises(PermissionDenied):
        _handoff(w, actor=w.other_officer)
    # Refused inside the hand-off's transaction, which rolled back: the denial is still on record.
    denied = AuditEntry.objects.filter(outcome="denied", actor_username=w.other_officer.username)
    assert list(denied.values_list("action", "object_type", "object_id", "unit_code")) == [
        ("case.record", "case", "new", w.station.code)]
    with pytest.raises(ServiceError) as exc:
        _handoff(w, incident_number="")
    assert exc.value.field == "incident_number"
    with pytest.raises(ServiceError) as exc:
        _handoff(w, category="gambling")
    assert exc.value.field == "category"
    assert Case.objects.count() == 0 and CaseIncident.objects.count() == 0
