"""Hypothesis drives random sequences of actions by random people at a case: no sequence
reaches a state the workflow table forbids, a refused action changes nothing, and no
auxiliary officer ever takes a decision."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from jingwu.cases import categories, services
from jingwu.cases.models import Case, CaseEvent, LegalReview, ReviewOutcome
from jingwu.cases.tests.world import World, make_world
from jingwu.cases.workflow import REVIEW_REQUESTS, WORKFLOWS, Subject
from jingwu.core import access
from jingwu.core.access import DECIDING_ACTIONS
from jingwu.core.services import ServiceError

pytestmark = pytest.mark.django_db

ALL_TRANSITIONS = sorted({key for wf in WORKFLOWS.values() for key in wf.transitions})
PEOPLE = ["officer", "officer2", "auxiliary", "chief", "investigator", "reviewer", "county_chief", "other_officer",
          "inspector"]


def test_no_sequence_of_actions_leaves_the_table(db: Any) -> None:
    w: World = make_world()
    auxiliary_pk = w.auxiliary.pk

    class CaseMachine(RuleBasedStateMachine):
        case: Case

        @initialize(case_type=st.sampled_from(sorted(WORKFLOWS)))
        def accept(self, case_type: str) -> None:
            category = next(iter(categories.CATEGORIES[case_type]))
            self.case = services.case_accept(actor=w.officer, unit=w.station, case_type=case_type, category=category,
                                             summary="随机案件", reported_at=w_now()).case
            self.wf = WORKFLOWS[case_type]
            self.suspect = services.party_add(actor=w.officer, case=self.case,
                                              party=services.PartyIn("suspect", name="某甲"))
            self.taken: list[tuple[str, str, str]] = []

        @rule(who=st.sampled_from(PEOPLE), transition=st.sampled_from(ALL_TRANSITIONS),
              subject=st.sampled_from(["transfer", "withdraw"]), reason=st.sampled_from(["no_crime", "minor"]))
        def act(self, who: str, transition: str, subject: str, reason: str) -> None:
            self._try(who, transition, subject, reason)

        @rule(data=st.data(), who=st.sampled_from(PEOPLE), subject=st.sampled_from(["transfer", "withdraw"]))
        def act_from_here(self, data: st.DataObject, who: str, subject: str) -> None:
            """A transition the table offers from the current state (so runs get deep)."""
            state = Case.objects.get(pk=self.case.pk).state
            keys = sorted(t.key for t in self.wf.available(state))
            if keys:
                t = self.wf.transitions[data.draw(st.sampled_from(keys))]
                # Half the time someone whose roles allow it, else anyone.
                allowed = [p for p in PEOPLE if access.can(getattr(w, p), t.action, self.case.unit)]
                pick_allowed: bool = data.draw(st.booleans())
                if allowed and pick_allowed:
                    who = data.draw(st.sampled_from(allowed))
                self._try(who, t.key, subject, "no_crime")

        def _try(self, who: str, transition: str, subject: str, reason: str) -> None:
            actor = getattr(w, who)
            before = Case.objects.get(pk=self.case.pk).state
            try:
                services.case_transition(actor=actor, case=self.case, transition=transition, note="办理说明",
                                         reason=reason, review_subject=subject,
                                         penalty=services.PenaltyIn("warning", self.suspect.pk))
                ok = True
            except (ServiceError, PermissionDenied):
                ok = False
            after = Case.objects.get(pk=self.case.pk).state
            if not ok:
                assert after == before
                return
            t = self.wf.transitions[transition]
            assert before in t.sources and after == t.target
            assert access.can(actor, t.action, self.case.unit)
            if t.action in DECIDING_ACTIONS:
                assert actor.pk != auxiliary_pk
            self.taken.append((before, transition, after))

        @rule(data=st.data(), who=st.sampled_from(PEOPLE),
              reviewer=st.sampled_from(["reviewer", "reviewer", "county_chief", "officer"]),
              approve=st.sampled_from([True, True, False]))
        def legal_review(self, data: st.DataObject, who: str, reviewer: str, approve: bool) -> None:
            state = Case.objects.get(pk=self.case.pk).state
            open_here = sorted(s for s, states in REVIEW_REQUESTS.get(self.wf.case_type, {}).items()
                               if state in states)
            subject = data.draw(st.sampled_from(open_here or [Subject.FILING]))
            if data.draw(st.booleans()):
                who = data.draw(st.sampled_from(["officer", "investigator"]))
            review: LegalReview | None
            try:
                review = services.legal_review_request(actor=getattr(w, who), case=self.case, subject=subject,
                                                       measure="detention")
            except (ServiceError, PermissionDenied):
                review = LegalReview.objects.filter(case=self.case, outcome=ReviewOutcome.PENDING).first()
            if review is None:
                return
            try:
                services.legal_review_decide(actor=getattr(w, reviewer), review=review, approve=approve,
                                             opinion="意见")
            except (ServiceError, PermissionDenied):
                return
            assert reviewer == "reviewer"  # only the legal reviewer's word counts

        @invariant()
        def within_the_table(self) -> None:
            if not hasattr(self, "case"):
                return
            state = Case.objects.get(pk=self.case.pk).state
            assert state in self.wf.states
            edges = self.wf.edges()
            for source, target in CaseEvent.objects.filter(case=self.case, kind="transition").values_list(
                    "from_state", "to_state"):
                assert (source, target) in edges
            assert not CaseEvent.objects.filter(case=self.case, decision=True, actor_id=auxiliary_pk).exists()

    run_state_machine_as_test(CaseMachine, settings=settings(
        max_examples=60, stateful_step_count=30, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    # The runs did reach deep states, not only refusals.
    reached = set(CaseEvent.objects.filter(kind="transition").values_list("to_state", flat=True))
    # (derandomized, so the same runs each time; which states they reach moves with the code)
    assert len(reached) >= 6 and "closed" in reached and reached & {"filed", "declined"}


def w_now() -> Any:
    from django.utils import timezone

    return timezone.now()
