"""The hand-off both ways with the real dispatch app: an incident handled "to case" becomes a
case at once, dispatch learns it, and supervision reads dispatch's incidents through the
feed dispatch registers (有案不立, incidents without an outcome, the closed-loop report)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from jingwu.cases import incidents, intake, selectors, services
from jingwu.cases.models import Case, CaseIncident
from jingwu.cases.selectors import Anomaly
from jingwu.core.models import AuditEntry, User
from jingwu.core.tests.factories import make_user
from jingwu.dispatch import handoff
from jingwu.dispatch import services as dispatch_services
from jingwu.dispatch.models import Incident
from jingwu.dispatch.tests.factories import World, classified, make_world, patrol
from jingwu.dispatch.workflow import IncidentStatus

pytestmark = pytest.mark.django_db

NOW = timezone.now()
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _wired() -> Iterator[None]:
    # Other apps' tests may have swapped these out; this module tests the real wiring.
    intake.register()
    handoff.register_incident_feed()
    yield


@pytest.fixture
def world() -> Any:
    return make_world()


def _on_scene(world: World, content: str, category: str, subcategory: str, *, caller: str,
              age: dt.timedelta = dt.timedelta(minutes=30)) -> Incident:
    # Apart in time (by the caller's last digits): calls close together in time and place would be merged.
    incident = classified(world, content, category, subcategory, 2, lat=36.66, lon=117.01, caller=caller,
                          at=NOW - age - int(caller[-2:]) * dt.timedelta(hours=2))
    unit = patrol(world.quancheng, f"Q{caller[-3:]}", 36.661, 117.011)
    dispatch_services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)
    dispatch_services.unit_transition(actor=world.officer_q, patrol_unit=unit, event="arrive")
    return Incident.objects.get(pk=incident.pk)


SCENE = "现场勘查，门锁被撬，丢失现金约五千元"


def _result(actor: User, incident: Incident, result: str, text: str = SCENE) -> Incident:
    return dispatch_services.incident_record_result(actor=actor, incident=incident, result=result, text=text)


def test_an_incident_handled_to_case_becomes_a_case(world: World) -> None:
    incident = _result(world.officer_q, _on_scene(world, "家里被盗了", "criminal", "burglary", caller="13800000001"),
                       "case")
    case = Case.objects.get(incidents__app="dispatch", incidents__incident_id=str(incident.pk))
    assert (incident.status, incident.case_reference) == (IncidentStatus.CASE_OPENED, case.number)
    assert (case.case_type, case.category, case.state, case.origin, case.unit.code, case.accepted_by) == (
        "criminal", "burglary", "accepted", "incident", "370102004", world.officer_q)
    assert case.reported_at == incident.received_at
    assert case.summary == "家里被盗了\n处警情况：现场勘查，门锁被撬，丢失现金约五千元"
    assert case.number.startswith("A370102004")
    assert AuditEntry.objects.filter(action="case.accept", object_id=case.number).count() == 1
    # where the incident ended, as dispatch can ask
    outcome = selectors.case_outcomes_for_incidents("dispatch", [incident.pk])[str(incident.pk)]
    assert (outcome["case_number"], outcome["public_status"], outcome["terminal"]) == (case.number, "accepted", False)
    # idempotent: handing the same incident over again gives the same case, no new code
    again = services.case_accept_from_incident(
        actor=world.officer_q, incident_app="dispatch", incident_id=incident.pk, incident_number=incident.number,
        unit=world.quancheng, case_type="criminal", category="burglary", summary="x", reported_at=NOW)
    assert (again.case.pk, again.created, again.lookup_code) == (case.pk, False, None)
    assert CaseIncident.objects.filter(app="dispatch").count() == 1


def test_dispatch_categories_map_to_case_types(world: World) -> None:
    fight = _result(world.officer_q, _on_scene(world, "有人打架", "public_order", "fighting", caller="13800000002"),
                    "case", text="双方互殴，一人轻微伤")
    family = _result(world.officer_q, _on_scene(world, "夫妻吵架", "dispute", "family", caller="13800000003"),
                     "case", text="调解未果")
    got = {c.number: (c.case_type, c.category) for c in Case.objects.all()}
    assert got == {fight.case_reference: ("administrative", "beating"), family.case_reference: ("dispute", "family")}
    assert intake.case_kind_for("criminal", "weapons") == ("criminal", "other_criminal")
    assert intake.case_kind_for("traffic", "drunk_driving") == ("criminal", "dangerous_driving")
    assert intake.case_kind_for("non_police", "utilities") == ("administrative", "other_administrative")


def test_a_refused_intake_waits_and_a_case_accepted_later_tells_dispatch(
        world: World, django_capture_on_commit_callbacks: Any) -> None:
    # A dispatcher may record the result but not accept cases: the incident waits, counted.
    on_scene = _on_scene(world, "家里被盗了", "criminal", "burglary", caller="13800000004")
    with django_capture_on_commit_callbacks(execute=True):  # dispatch's transaction commits
        waiting = _result(world.dispatcher, on_scene, "case")
    assert waiting.status == IncidentStatus.AWAITING_CASE and not Case.objects.exists()
    # The intake's refusal rolled back with dispatch's savepoint; its audit entry did not.
    denied = AuditEntry.objects.filter(outcome="denied", actor_username=world.dispatcher.username)
    assert list(denied.values_list("action", "object_id")) == [("case.record", "new")]
    # The station accepts it from the case side: dispatch is told in the same transaction.
    acceptance = services.case_accept_from_incident(
        actor=world.officer_q, incident_app="dispatch", incident_id=waiting.pk, incident_number=waiting.number,
        unit=world.quancheng, case_type="criminal", category="burglary", summary="入室盗窃",
        reported_at=waiting.received_at)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.case_reference) == (IncidentStatus.CASE_OPENED, acceptance.case.number)
    assert AuditEntry.objects.filter(action="dispatch.case_accepted", object_id=waiting.number).count() == 1


def test_supervision_counts_dispatch_incidents_exactly(world: World) -> None:
    inspector = make_user("ducha", [("inspector", world.jinan)])
    old = 5 * DAY
    # A criminal incident closed on scene with no case: 有案不立.
    no_case = _result(world.officer_q, _on_scene(world, "手机被偷了", "criminal", "theft", caller="13800000011",
                                                 age=old), "handled", text="已登记")
    # A criminal incident that became a case: fine.
    with_case = _result(world.officer_q, _on_scene(world, "家里被盗了", "criminal", "burglary",
                                                   caller="13800000012", age=old), "case")
    # A public-order incident still on scene after five days: no outcome.
    stuck = _on_scene(world, "有人打架", "public_order", "fighting", caller="13800000013", age=old)
    # A fresh criminal incident still on scene: within the grace period, not counted yet.
    _on_scene(world, "钱包被偷", "criminal", "theft", caller="13800000014")
    # A closed non-criminal incident: nothing to see.
    _result(world.officer_q, _on_scene(world, "噪音扰民", "public_order", "noise", caller="13800000015", age=old),
            "handled", text="已劝离")
    feed = incidents.feed_for("dispatch")
    assert feed is not None

    def numbers(kind: str) -> list[str]:
        qs = selectors.anomaly_queryset(inspector, kind, now=NOW, feed=feed)
        return sorted(qs.values_list("number", flat=True))

    assert numbers(Anomaly.CRIMINAL_NO_CASE) == [no_case.number]
    assert numbers(Anomaly.INCIDENT_NO_OUTCOME) == [stuck.number]
    overview = selectors.supervision_overview(inspector, unit=world.lixia, now=NOW)
    assert overview.incidents_available
    assert (overview.totals[Anomaly.CRIMINAL_NO_CASE], overview.totals[Anomaly.INCIDENT_NO_OUTCOME]) == (1, 1)
    row = next(r for r in overview.rows if r.unit is not None and r.unit.code == "370102004")
    assert (row.counts[Anomaly.CRIMINAL_NO_CASE], row.counts[Anomaly.INCIDENT_NO_OUTCOME]) == (1, 1)
    # Outside the inspector's city: nothing.
    qingdao = make_user("ducha_qd", [("inspector", world.qingdao)])
    assert selectors.supervision_overview(qingdao, now=NOW).totals[Anomaly.CRIMINAL_NO_CASE] == 0
    # The closed-loop report's incident half.
    report = selectors.closed_loop_report(inspector, start=NOW - 30 * DAY, end=NOW + DAY, now=NOW)
    (loop,) = [i for i in report.incidents if i.app == "dispatch"]
    assert (loop.total, loop.with_case, loop.concluded, loop.pending, loop.unexplained) == (5, 1, 2, 1, 1)
    assert with_case.status == IncidentStatus.CASE_OPENED
