"""The hand-off to case handling: awaiting_case until a registered intake accepts, and counted meanwhile."""

from __future__ import annotations

import pytest
from django.test import Client

from jingwu.core.models import User
from jingwu.dispatch import handoff, selectors, services
from jingwu.dispatch.models import Incident
from jingwu.dispatch.tests.factories import World, classified, patrol
from jingwu.dispatch.workflow import IncidentStatus

pytestmark = pytest.mark.django_db


def _to_case(world: World, caller: str = "13800000001") -> Incident:
    incident = classified(world, "家里被盗了", "criminal", "burglary", 2, lat=36.66, lon=117.01, caller=caller)
    unit = patrol(world.quancheng, f"Q{caller[-2:]}", 36.661, 117.011)
    services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)
    services.unit_transition(actor=world.officer_q, patrol_unit=unit, event="arrive")
    return services.incident_record_result(actor=world.officer_q, incident=incident, result="case",
                                           text="现场勘查，门锁被撬，丢失现金约五千元")


def test_without_a_case_module_the_incident_waits_and_is_counted(world: World, client: Client) -> None:
    incident = _to_case(world)
    assert (incident.status, incident.result, incident.closed_at is not None) == (
        IncidentStatus.AWAITING_CASE, "case", True)
    assert selectors.awaiting_case_count(world.dispatcher) == 1
    assert selectors.awaiting_case_count(world.officer_j) == 0  # another station's count
    client.force_login(world.dispatcher)
    assert client.get("/api/dispatch/summary").json()["awaiting_case"] == 1


def test_a_case_module_accepting_at_once_opens_the_case(world: World) -> None:
    received: list[tuple[User | None, handoff.IncidentHandoff]] = []

    def intake(*, actor: User | None, incident: handoff.IncidentHandoff) -> str | None:
        received.append((actor, incident))
        return f"A{incident.number[-5:]}"

    handoff.register_case_intake(intake)
    incident = _to_case(world)
    assert (incident.status, incident.case_reference) == (IncidentStatus.CASE_OPENED, "A00001")
    [(actor, given)] = received
    assert actor == world.officer_q
    assert (given.number, given.category, given.subcategory, given.station_code, given.result_text) == (
        incident.number, "criminal", "burglary", "370102004", "现场勘查，门锁被撬，丢失现金约五千元")
    assert selectors.awaiting_case_count(world.dispatcher) == 0


def test_a_queued_hand_off_is_accepted_later_through_the_service(world: World) -> None:
    handoff.register_case_intake(lambda *, actor, incident: None)
    incident = _to_case(world)
    assert incident.status == IncidentStatus.AWAITING_CASE
    accepted = services.incident_case_accepted(actor=world.officer_q, incident=incident, case_reference="XA-2026-7")
    assert (accepted.status, accepted.case_reference) == (IncidentStatus.CASE_OPENED, "XA-2026-7")
    with pytest.raises(services.DispatchConflict):
        services.incident_case_accepted(actor=world.officer_q, incident=incident, case_reference="again")


def test_a_failing_case_module_loses_nothing_and_a_retry_hands_over(world: World) -> None:
    def broken(*, actor: User | None, incident: handoff.IncidentHandoff) -> str | None:
        Incident.objects.filter(pk=incident.incident_id).update(summary="written by a failing intake")
        raise RuntimeError("cases module down")

    handoff.register_case_intake(broken)
    incident = _to_case(world)
    incident.refresh_from_db()
    assert (incident.status, incident.result) == (IncidentStatus.AWAITING_CASE, "case")
    assert incident.summary == "家里被盗了"  # the intake's own writes were rolled back with its savepoint
    handoff.register_case_intake(lambda *, actor, incident: "XA-9")
    retried = services.incident_handoff_retry(actor=world.dispatcher, incident=incident)
    assert (retried.status, retried.case_reference) == (IncidentStatus.CASE_OPENED, "XA-9")


def test_dispatchers_cannot_accept_cases(world: World) -> None:
    from django.core.exceptions import PermissionDenied

    incident = _to_case(world)
    with pytest.raises(PermissionDenied):
        services.incident_case_accepted(actor=world.dispatcher, incident=incident, case_reference="X")
    assert Incident.objects.get(pk=incident.pk).status == IncidentStatus.AWAITING_CASE
