"""The patrol unit's state machine, driven through the services by hypothesis, against a model
of the same rules written out by hand here (so a change to workflow.py must be made twice)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from jingwu.dispatch import services, workflow
from jingwu.dispatch.models import Assignment, Incident, PatrolUnit, UnitStatusChange
from jingwu.dispatch.tests.factories import World, patrol
from jingwu.dispatch.workflow import UNIT_EVENTS

pytestmark = pytest.mark.django_db

# (status, event) → status after it. Anything else is refused.
UNIT_MOVES: dict[tuple[str, str], str] = {
    ("available", "dispatch"): "dispatched", ("cleared", "dispatch"): "dispatched",
    ("dispatched", "en_route"): "en_route",
    ("dispatched", "arrive"): "on_scene", ("en_route", "arrive"): "on_scene",
    ("on_scene", "clear"): "cleared",
    ("dispatched", "recall"): "available", ("en_route", "recall"): "available",
    ("cleared", "available"): "available", ("out_of_service", "available"): "available",
    ("available", "out_of_service"): "out_of_service", ("cleared", "out_of_service"): "out_of_service",
}
BUSY = {"dispatched", "en_route", "on_scene"}
WORKING = {"classified", "dispatched", "on_scene"}


def test_the_table_in_workflow_is_the_table_here() -> None:
    got = {(source, move.event): move.target for move in workflow.UNIT_WORKFLOW for source in move.sources}
    assert got == UNIT_MOVES
    assert set(UNIT_EVENTS) == {"en_route", "arrive", "clear", "recall", "available", "out_of_service"}


class UnitMachine(RuleBasedStateMachine):
    world: ClassVar[World]
    incidents = Bundle("incidents")

    def __init__(self) -> None:
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        w = self.world
        self.units = [patrol(w.quancheng, f"U{i}", 36.66, 117.01 + i / 1000) for i in range(3)]
        self.unit_status = {u.pk: "available" for u in self.units}
        self.unit_incident: dict[int, int | None] = {u.pk: None for u in self.units}
        self.incident_status: dict[int, str] = {}
        self.count = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    # --- rules -----------------------------------------------------------------------

    @rule(target=incidents)
    def new_incident(self) -> int:
        self.count += 1
        intake = services.call_receive(actor=None, centre=self.world.jinan, content=f"第{self.count}起 有人打架",
                                       lat=30.0 + self.count, lon=100.0, caller_number="")
        incident = services.incident_classify(actor=None, incident=intake.incident, category="public_order",
                                              subcategory="fighting", priority=2)
        self.incident_status[incident.pk] = "classified"
        return incident.pk

    @rule(unit=st.integers(0, 2), incident=incidents)
    def dispatch(self, unit: int, incident: int) -> None:
        u = self.units[unit]
        allowed = (self.unit_status[u.pk], "dispatch") in UNIT_MOVES and self.incident_status[incident] in WORKING
        try:
            services.unit_dispatch(actor=self.world.dispatcher, incident=Incident.objects.get(pk=incident),
                                   patrol_unit=u)
        except services.DispatchConflict:
            assert not allowed
            return
        assert allowed
        self.unit_status[u.pk] = "dispatched"
        self.unit_incident[u.pk] = incident
        if self.incident_status[incident] == "classified":
            self.incident_status[incident] = "dispatched"

    @rule(unit=st.integers(0, 2), event=st.sampled_from(UNIT_EVENTS))
    def event(self, unit: int, event: str) -> None:
        u = self.units[unit]
        before = self.unit_status[u.pk]
        target = UNIT_MOVES.get((before, event))
        try:
            services.unit_transition(actor=self.world.dispatcher, patrol_unit=u, event=event)
        except services.DispatchConflict:
            assert target is None
            return
        assert target is not None
        incident = self.unit_incident[u.pk]
        self.unit_status[u.pk] = target
        if incident is not None:
            if event == "arrive" and self.incident_status[incident] == "dispatched":
                self.incident_status[incident] = "on_scene"
            if event in ("clear", "recall"):
                self.unit_incident[u.pk] = None
                others = [p for p, i in self.unit_incident.items() if i == incident]
                if event == "recall" and not others and self.incident_status[incident] == "dispatched":
                    self.incident_status[incident] = "classified"

    @rule(incident=incidents)
    def close(self, incident: int) -> None:
        allowed = self.incident_status[incident] in WORKING
        try:
            services.incident_record_result(actor=self.world.dispatcher, incident=Incident.objects.get(pk=incident),
                                            result="cancelled")
        except services.DispatchConflict:
            assert not allowed
            return
        assert allowed
        self.incident_status[incident] = "closed"
        for pk, held in self.unit_incident.items():
            if held == incident:
                self.unit_status[pk] = "cleared" if self.unit_status[pk] == "on_scene" else "available"
                self.unit_incident[pk] = None

    # --- what must always hold ----------------------------------------------------------

    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        rows = {u.pk: (u.status, u.incident_id) for u in PatrolUnit.objects.filter(pk__in=self.unit_status)}
        assert rows == {pk: (self.unit_status[pk], self.unit_incident[pk]) for pk in self.unit_status}
        got = dict(Incident.objects.filter(pk__in=self.incident_status).values_list("pk", "status"))
        assert got == self.incident_status

    @invariant()
    def a_unit_is_on_at_most_one_incident_and_only_while_busy(self) -> None:
        open_ones = list(Assignment.objects.filter(patrol_unit__in=self.unit_status, ended_at__isnull=True)
                         .values_list("patrol_unit_id", "incident_id"))
        assert len({unit for unit, _incident in open_ones}) == len(open_ones)
        assert dict(open_ones) == {pk: i for pk, i in self.unit_incident.items() if i is not None}
        assert all((self.unit_status[pk] in BUSY) == (self.unit_incident[pk] is not None) for pk in self.unit_status)

    @invariant()
    def the_status_history_ends_in_the_current_status(self) -> None:
        for pk, status in self.unit_status.items():
            last = UnitStatusChange.objects.filter(patrol_unit_id=pk).order_by("-at", "-pk").first()
            assert (last.new if last else "available") == status


def test_the_unit_state_machine(world: World) -> None:
    UnitMachine.world = world
    run_state_machine_as_test(UnitMachine, settings=settings(
        max_examples=30, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))


