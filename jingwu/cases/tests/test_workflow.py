"""Every transition and guard of the three workflows, through the services."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from jingwu.cases import services
from jingwu.cases.models import (
    Case,
    CaseEvent,
    CaseParty,
    EnforcementError,
    LegalReview,
    Reconsideration,
    ReviewOutcome,
)
from jingwu.cases.tests.world import World, accept, make_world, move, review, to_declined_notified, to_filed
from jingwu.cases.workflow import ADMINISTRATIVE, CRIMINAL, DISPUTE, WORKFLOWS, CaseType
from jingwu.core.access import DECIDING_ACTIONS, ROLES, Action
from jingwu.core.models import AuditEntry, User, WorkItem
from jingwu.core.services import ServiceError

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    return make_world()


def _states(case: Case) -> list[tuple[str, str]]:
    return list(CaseEvent.objects.filter(case=case, kind="transition").order_by("at", "pk")
                .values_list("from_state", "to_state"))


# --- the tables -----------------------------------------------------------------

def test_every_state_is_reachable_and_every_edge_is_between_known_states() -> None:
    for wf in WORKFLOWS.values():
        assert wf.reachable() == set(wf.states)
        for source, target in wf.edges():
            assert source in wf.states and target in wf.states


def test_decisions_need_deciding_actions_that_auxiliaries_never_hold() -> None:
    auxiliary = ROLES["auxiliary"]
    for wf in WORKFLOWS.values():
        for t in wf.transitions.values():
            if t.decision or t.legal_review:
                assert t.action in DECIDING_ACTIONS, t.key
            if t.action in DECIDING_ACTIONS:
                assert t.action not in auxiliary.actions


def test_legal_review_precedes_filing_decisions_penalties_transfer_and_withdrawal() -> None:
    needs = {(wf.case_type, t.key): t.legal_review for wf in WORKFLOWS.values() for t in wf.transitions.values()
             if t.legal_review}
    assert needs == {
        ("criminal", "file"): "filing", ("criminal", "decline"): "filing",
        ("criminal", "overturn_decline"): "filing", ("criminal", "transfer"): "transfer",
        ("criminal", "withdraw"): "withdraw", ("administrative", "penalize"): "penalty",
        ("administrative", "penalize_fast"): "penalty", ("administrative", "no_penalty"): "penalty",
    }


def test_terminal_states() -> None:
    assert {k for k, s in CRIMINAL.states.items() if s.terminal} == {"decline_notified", "transferred", "withdrawn",
                                                                      "closed"}
    assert {k for k, s in ADMINISTRATIVE.states.items() if s.terminal} == {"executed", "closed"}
    assert {k for k, s in DISPUTE.states.items() if s.terminal} == {"closed"}


# --- criminal -----------------------------------------------------------------------

def test_a_criminal_case_from_acceptance_to_closure(w: World) -> None:
    case = accept(w).case
    assert case.state == "accepted" and case.number.startswith(f"A{w.station.code}")
    case = to_filed(w, case)
    assert case.state == "filed" and case.filed_at is not None and case.activity_at == case.filed_at
    case = move(w, case, "start_investigation", w.officer)
    case = move(w, case, "submit_review", w.officer, review_subject="transfer")
    pending = LegalReview.objects.get(case=case, subject="transfer")
    assert pending.outcome == ReviewOutcome.PENDING
    services.legal_review_decide(actor=w.reviewer, review=pending, approve=True, opinion="事实清楚")
    case = move(w, case, "transfer", w.chief)
    assert case.terminal and case.outcome == "transferred" and case.ended_at is not None
    case = move(w, case, "close", w.officer)
    assert case.state == "closed" and case.outcome == "transferred"
    assert _states(case) == [("accepted", "filing_review"), ("filing_review", "filed"), ("filed", "investigation"),
                             ("investigation", "legal_review"), ("legal_review", "transferred"),
                             ("transferred", "closed")]
    decisions = CaseEvent.objects.filter(case=case, decision=True, kind="transition")
    assert sorted(decisions.values_list("transition", "actor__username")) == [("file", "zhang"),
                                                                              ("transfer", "zhang")]
    assert all(e.details["legal_reviewer_id"] == w.reviewer.pk for e in decisions)


def test_filing_without_legal_review_is_refused_and_writes_nothing(w: World) -> None:
    case = move(w, accept(w).case, "begin_review", w.officer)
    events = CaseEvent.objects.count()
    with pytest.raises(ServiceError) as exc:
        services.case_transition(actor=w.chief, case=case, transition="file")
    assert exc.value.field == "transition" and "法制审核" in str(exc.value)
    assert Case.objects.get(pk=case.pk).state == "filing_review"
    assert CaseEvent.objects.count() == events


def test_a_legal_review_allows_one_decision_only(w: World) -> None:
    case = move(w, accept(w).case, "begin_review", w.officer)
    review(w, case, "filing")
    case = move(w, case, "file", w.chief)
    assert LegalReview.objects.get(case=case).used_by is not None


def test_the_reviewer_cannot_also_decide_nor_review_their_own_request(w: World) -> None:
    both = _both_reviewer_and_chief(w)
    case = move(w, accept(w).case, "begin_review", w.officer)
    r = services.legal_review_request(actor=w.officer, case=case, subject="filing")
    services.legal_review_decide(actor=both, review=r, approve=True, opinion="")
    with pytest.raises(ServiceError, match="法制审核人不能同时作出该决定"):
        services.case_transition(actor=both, case=case, transition="file")
    # someone else may decide on it
    move(w, case, "file", w.chief)
    case2 = move(w, accept(w).case, "begin_review", w.officer)
    own = services.legal_review_request(actor=both, case=case2, subject="filing")
    with pytest.raises(ServiceError, match="提请人不能审核"):
        services.legal_review_decide(actor=both, review=own, approve=True)


def _both_reviewer_and_chief(w: World) -> User:
    from jingwu.core.tests.factories import make_user

    return make_user("both", [("station_chief", w.station), ("legal_reviewer", w.legal_unit)])


def test_a_returned_review_allows_nothing(w: World) -> None:
    case = move(w, accept(w).case, "begin_review", w.officer)
    r = services.legal_review_request(actor=w.officer, case=case, subject="filing")
    with pytest.raises(ServiceError) as exc:
        services.legal_review_decide(actor=w.reviewer, review=r, approve=False, opinion="")
    assert exc.value.field == "opinion"
    services.legal_review_decide(actor=w.reviewer, review=r, approve=False, opinion="证据不足")
    with pytest.raises(ServiceError, match="法制审核"):
        services.case_transition(actor=w.chief, case=case, transition="file")
    with pytest.raises(ServiceError, match="已有结论"):
        services.legal_review_decide(actor=w.reviewer, review=r, approve=True)


def test_who_may_take_each_criminal_step(w: World) -> None:
    case = accept(w).case
    for actor in (w.auxiliary, w.reviewer, w.inspector, w.other_officer, w.city_b_officer):
        with pytest.raises(PermissionDenied):
            services.case_transition(actor=actor, case=case, transition="begin_review")
    case = move(w, case, "begin_review", w.officer)
    review(w, case, "filing")
    for actor in (w.officer, w.auxiliary, w.investigator, w.reviewer, w.other_chief):
        with pytest.raises(PermissionDenied):
            services.case_transition(actor=actor, case=case, transition="file")
    # the chief of the county above may approve too
    case = move(w, case, "file", w.county_chief)
    denied = AuditEntry.objects.filter(outcome="denied", action="case.approve", object_id=case.number)
    assert sorted(denied.values_list("actor_username", flat=True)) == ["fa", "fu", "qian", "wang", "zhou"]


def test_auxiliary_officers_record_but_never_decide(w: World) -> None:
    case = to_declined_notified(w, accept(w).case)  # notify_decline taken by the auxiliary
    assert case.state == "decline_notified"
    assert CaseEvent.objects.get(case=case, transition="notify_decline").actor == w.auxiliary
    with pytest.raises(PermissionDenied):
        services.case_transition(actor=w.auxiliary, case=case, transition="uphold_decline")


def test_filing_review_tracks_lengthen_the_clock_once_each(w: World) -> None:
    now = timezone.now()
    case = move(w, accept(w, now=now).case, "begin_review", w.officer)
    with pytest.raises(PermissionDenied):
        services.case_transition(actor=w.officer, case=case, transition="mark_complex")
    case = move(w, case, "verify_clues", w.officer)
    assert case.review_track == "verify"
    with pytest.raises(ServiceError, match="已延长过"):
        services.case_transition(actor=w.officer, case=case, transition="verify_clues")
    case = move(w, case, "mark_complex", w.chief)
    assert case.review_track == "complex"
    with pytest.raises(ServiceError, match="重大疑难"):
        services.case_transition(actor=w.chief, case=case, transition="mark_complex")


def test_decline_needs_a_reason_and_issues_the_notice(w: World) -> None:
    case = move(w, accept(w).case, "begin_review", w.officer)
    review(w, case, "filing")
    with pytest.raises(ServiceError) as exc:
        services.case_transition(actor=w.chief, case=case, transition="decline", reason="because")
    assert exc.value.field == "reason"
    case = move(w, case, "decline", w.chief, reason="minor")
    assert (case.state, case.decline_reason, case.terminal) == ("declined", "minor", False)
    assert case.documents.filter(kind="decline_notice").count() == 1


def test_reconsideration_overturned_records_errors_against_the_deciders(w: World) -> None:
    case = to_declined_notified(w, accept(w).case)
    assert case.terminal and case.outcome == "declined"
    case = move(w, case, "request_reconsideration", w.auxiliary, note="有新证据：监控录像")
    assert case.state == "reconsideration" and not case.terminal and case.outcome == ""
    rec = Reconsideration.objects.get(case=case)
    assert rec.decision_event is not None
    assert (rec.via, rec.status, rec.decision_event.transition) == ("station", "pending", "decline")
    assert WorkItem.objects.filter(kind="cases.reconsideration", assignee_unit=w.station, status="open").count() == 1
    # the original decider may not decide the reconsideration
    review(w, case, "filing")
    with pytest.raises(ServiceError, match="参与原决定"):
        services.case_transition(actor=w.chief, case=case, transition="overturn_decline")
    case = move(w, case, "overturn_decline", w.county_chief, note="原决定认定事实错误")
    assert case.state == "filed" and case.decline_reason == ""
    rec.refresh_from_db()
    assert (rec.status, rec.decided_by) == ("overturned", w.county_chief)
    errors = EnforcementError.objects.filter(case=case).order_by("role")
    assert [(e.person.username, e.role) for e in errors] == [("zhang", "decider"), ("fa", "legal_reviewer")]
    assert {e.decision_event.transition for e in errors} == {"decline"}
    assert WorkItem.objects.filter(kind="cases.reconsideration", status="open").count() == 0
    assert case.documents.filter(kind="filing_decision").count() == 1


def test_reconsideration_upheld_leaves_no_error_and_only_one_request(w: World) -> None:
    case = to_declined_notified(w, accept(w).case)
    case = move(w, case, "request_reconsideration", w.officer, note="不服")
    case = move(w, case, "uphold_decline", w.county_chief)
    assert case.state == "decline_notified" and case.terminal
    assert EnforcementError.objects.count() == 0
    with pytest.raises(ServiceError, match="已经复议过"):
        services.case_transition(actor=w.officer, case=case, transition="request_reconsideration", note="再议")


def test_reconsideration_window_is_seven_days_from_notice(w: World) -> None:
    start = timezone.now() - dt.timedelta(days=10)
    case = to_declined_notified(w, accept(w, now=start).case, now=start)
    with pytest.raises(ServiceError, match="7 日"):
        services.case_transition(actor=w.officer, case=case, transition="request_reconsideration", note="不服")
    inside = start + dt.timedelta(days=6, hours=23)
    move(w, case, "request_reconsideration", w.officer, note="不服", now=inside)


def test_withdrawal_and_return_for_more_investigation(w: World) -> None:
    case = move(w, to_filed(w, accept(w).case), "start_investigation", w.officer)
    case = move(w, case, "submit_review", w.officer, review_subject="withdraw")
    case = move(w, case, "return_investigation", w.reviewer, note="补充调取监控")
    assert case.state == "investigation"
    assert LegalReview.objects.get(case=case, subject="withdraw").outcome == "returned"
    with pytest.raises(ServiceError) as exc:
        services.case_transition(actor=w.officer, case=case, transition="submit_review", review_subject="close")
    assert exc.value.field == "review_subject"
    case = move(w, case, "submit_review", w.officer, review_subject="withdraw")
    services.legal_review_decide(actor=w.reviewer, review=LegalReview.objects.get(case=case, outcome="pending"),
                                 approve=True)
    with pytest.raises(ServiceError, match="移送审查起诉"):  # the approved review is for withdrawal only
        services.case_transition(actor=w.chief, case=case, transition="transfer")
    case = move(w, case, "withdraw", w.chief)
    assert (case.state, case.outcome, case.terminal) == ("withdrawn", "withdrawn", True)


def test_a_transition_from_the_wrong_state_or_unknown_is_refused(w: World) -> None:
    case = accept(w).case
    with pytest.raises(ServiceError) as exc:
        services.case_transition(actor=w.officer, case=case, transition="start_investigation")
    assert exc.value.field == "transition"
    with pytest.raises(ServiceError, match="没有“penalize”"):
        services.case_transition(actor=w.chief, case=case, transition="penalize")


def test_coercive_measures_need_review_and_start_custody_clocks(w: World) -> None:
    case = move(w, to_filed(w, accept(w).case), "start_investigation", w.officer)
    suspect = services.party_add(actor=w.officer, case=case, party=services.PartyIn("suspect", name="李某"))
    with pytest.raises(ServiceError, match="法制审核"):
        services.measure_take(actor=w.chief, case=case, kind="detention", party_id=suspect.pk)
    review(w, case, "measure", measure="bail")
    with pytest.raises(ServiceError, match="法制审核"):  # approved for bail, not detention
        services.measure_take(actor=w.chief, case=case, kind="detention", party_id=suspect.pk)
    review(w, case, "measure", measure="detention")
    measure_reviews = [str(pk) for pk in case.reviews.filter(subject="measure").values_list("pk", flat=True)]
    approvals = WorkItem.objects.filter(kind="cases.approval", source_id__in=measure_reviews).order_by("pk")
    assert [(i.title.split(" ")[1], i.assignee_unit, i.status) for i in approvals] == [
        ("取保候审（法制审核已通过）", w.station, "open"), ("刑事拘留（法制审核已通过）", w.station, "open")]
    with pytest.raises(PermissionDenied):
        services.measure_take(actor=w.investigator, case=case, kind="detention", party_id=suspect.pk)
    m = services.measure_take(actor=w.chief, case=case, kind="detention", party_id=suspect.pk)
    assert [i.status for i in approvals.all()] == ["open", "done"]  # bail is still to be decided
    d = m.deadlines.get()
    assert d.clock == "custody.detention"
    first_due = d.due_at
    d = services.measure_extend(actor=w.chief, measure=m)
    assert d.due_at - first_due == dt.timedelta(days=4)
    d = services.measure_extend(actor=w.chief, measure=m)
    assert d.due_at - first_due == dt.timedelta(days=27)
    with pytest.raises(ServiceError, match="用尽"):
        services.measure_extend(actor=w.chief, measure=m)
    services.measure_end(actor=w.investigator, measure=m, reason="转为逮捕")
    assert m.deadlines.get().stopped_at is not None


# --- administrative and dispute ------------------------------------------------------

def test_an_administrative_case_with_penalty_and_execution(w: World) -> None:
    case = accept(w, "administrative", "beating").case
    assert case.number.startswith("B")
    suspect = services.party_add(actor=w.officer, case=case, party=services.PartyIn("suspect", name="赵某"))
    case = move(w, case, "investigate", w.officer)
    case = move(w, case, "extend", w.chief)
    with pytest.raises(ServiceError, match="延长过"):
        services.case_transition(actor=w.chief, case=case, transition="extend")
    review(w, case, "penalty")
    with pytest.raises(ServiceError) as exc:
        services.case_transition(actor=w.chief, case=case, transition="penalize",
                                 penalty=services.PenaltyIn("fine", suspect.pk, fine_yuan=0))
    assert exc.value.field == "penalty.fine_yuan"
    case = move(w, case, "penalize", w.chief,
                penalty=services.PenaltyIn("fine_detention", suspect.pk, fine_yuan=500, detention_days=5))
    assert case.penalty == {"kind": "fine_detention", "label": "罚款并处行政拘留", "fine_yuan": 500,
                            "detention_days": 5, "party_id": suspect.pk}
    doc = case.documents.get(kind="penalty_decision")
    assert "赵某" in doc.body_html and "500" in doc.body_html
    case = move(w, case, "execute", w.officer)
    case = move(w, case, "close", w.officer)
    assert (case.state, case.outcome) == ("closed", "penalized")


def test_fast_track_penalty_by_a_sworn_officer_with_decide_rights(w: World) -> None:
    case = move(w, accept(w, "administrative", "disorder").case, "fast_track", w.officer)
    suspect = services.party_add(actor=w.officer, case=case, party=services.PartyIn("suspect", name="钱某"))
    case = services.case_assign_owner(actor=w.officer, case=case, owner=w.investigator)
    review(w, case, "penalty")
    # A fast-track penalty is the sworn officer's own decision: it waits in the officer in charge's inbox.
    approval = WorkItem.objects.get(kind="cases.approval")
    assert (approval.assignee_user, approval.assignee_unit, approval.status) == (w.investigator, None, "open")
    with pytest.raises(PermissionDenied):  # an officer without decide rights
        services.case_transition(actor=w.officer, case=case, transition="penalize_fast",
                                 penalty=services.PenaltyIn("warning", suspect.pk))
    case = move(w, case, "penalize_fast", w.investigator, penalty=services.PenaltyIn("warning", suspect.pk))
    assert case.state == "penalty_decided"
    assert WorkItem.objects.get(pk=approval.pk).status == "done"


def test_penalty_must_name_a_suspect_of_this_case(w: World) -> None:
    case = move(w, accept(w, "administrative", "beating").case, "investigate", w.officer)
    victim = services.party_add(actor=w.officer, case=case, party=services.PartyIn("victim", name="孙某"))
    review(w, case, "penalty")
    with pytest.raises(ServiceError) as exc:
        services.case_transition(actor=w.chief, case=case, transition="penalize",
                                 penalty=services.PenaltyIn("warning", victim.pk))
    assert exc.value.field == "penalty.party_id"


def test_administrative_no_penalty_and_leaving_fast_track(w: World) -> None:
    case = move(w, accept(w, "administrative", "gambling").case, "fast_track", w.officer)
    case = move(w, case, "leave_fast_track", w.officer)
    review(w, case, "penalty")
    case = move(w, case, "no_penalty", w.chief)
    assert (case.state, case.outcome, case.terminal) == ("closed", "no_penalty", True)


@pytest.mark.parametrize(("path", "outcome"), [(["mediate", "settle"], "settled"),
                                               (["mediate", "close_unsettled"], "unsettled"),
                                               (["refer"], "referred")])
def test_disputes(w: World, path: list[str], outcome: str) -> None:
    case = accept(w, "dispute", "neighbour").case
    assert case.number.startswith("C")
    for key in path:
        case = move(w, case, key, w.officer)
    assert (case.state, case.outcome, case.terminal) == ("closed", outcome, True)


def test_closing_stops_every_clock(w: World) -> None:
    case = move(w, accept(w, "dispute", "family").case, "mediate", w.officer)
    assert case.deadlines.filter(stopped_at__isnull=True).count() == 1
    case = move(w, case, "settle", w.officer)
    assert case.deadlines.filter(stopped_at__isnull=True).count() == 0


def test_every_transition_is_audited(w: World) -> None:
    case = move(w, accept(w, "dispute", "labour").case, "mediate", w.officer)
    entry = AuditEntry.objects.filter(action="case.mediate").get()
    assert (entry.object_id, entry.actor_username, entry.details["to_state"]) == (case.number, "wang", "mediation")


def test_acceptance_input_errors_name_the_field(w: World) -> None:
    cases = Case.objects.count()
    bad: list[tuple[dict[str, Any], str]] = [({"category": "beating"}, "category"), ({"summary": "  "}, "summary"),
           ({"reported_at": timezone.now() + dt.timedelta(days=1)}, "reported_at"),
           ({"parties": [services.PartyIn("boss", name="x")]}, "parties[0].role"),
           ({"parties": [services.PartyIn("victim")]}, "parties[0].name"),
           ({"parties": [services.PartyIn("victim", entity_id=999999)]}, "parties[0].entity_id"),
           ({"parties": [services.PartyIn("victim", name="王某", phone="abc")]}, "parties[0].phone")]
    for kwargs, field in bad:
        with pytest.raises(ServiceError) as exc:
            accept(w, **kwargs)
        assert exc.value.field == field, kwargs
    with pytest.raises(ServiceError) as exc:
        accept(w, case_type="traffic")
    assert exc.value.field == "case_type"
    assert Case.objects.count() == cases
    assert CaseParty.objects.count() == 0


def test_case_numbers_run_per_unit_type_and_year(w: World) -> None:
    first = accept(w).case.number
    second = accept(w).case.number
    year = timezone.localdate().year
    assert first == f"A{w.station.code}{year}000001" and second == f"A{w.station.code}{year}000002"
    assert accept(w, unit=w.tree.station_a1b, actor=w.other_officer).case.number.endswith("000001")
    assert services.case_numbers_reserve(case_type=CaseType.CRIMINAL, unit=w.station, year=year, count=3) == [
        f"A{w.station.code}{year}00000{n}" for n in (3, 4, 5)]


def test_auxiliary_may_accept_a_report(w: World) -> None:
    acceptance = accept(w, actor=w.auxiliary)
    assert acceptance.case.accepted_by == w.auxiliary
    assert Action.CASE_RECORD in ROLES["auxiliary"].actions
