"""The stop-payment state machine's table: every move, its guards, and random walks through it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jingwu.antifraud import workflow
from jingwu.antifraud.models import StopState
from jingwu.antifraud.workflow import MOVES, WorkflowError
from jingwu.core.access import DECIDING_ACTIONS, Action

S = StopState
NOW = datetime(2026, 5, 13, 2, 0, tzinfo=UTC)


@dataclass
class Stop:
    state: str
    renewals: int = 0
    expires_at: datetime | None = None
    amount_stopped_fen: int = 0
    amount_frozen_fen: int = 0


def test_every_move_leads_to_a_state_and_people_decide_only_with_the_deciding_action() -> None:
    for event, move in MOVES.items():
        assert move.target in S.values, event
        assert move.sources <= set(S.values), event
        assert move.who in (workflow.SYSTEM, Action.FRAUD_STOP_PAYMENT), event
    assert Action.FRAUD_STOP_PAYMENT in DECIDING_ACTIONS  # auxiliaries can never hold it
    people = {e for e, m in MOVES.items() if m.who != workflow.SYSTEM}
    assert people == set(workflow.DECISIONS)


@pytest.mark.parametrize("state", [S.MOVED_ONWARD, S.RETURNED, S.RELEASED])
def test_final_states_accept_nothing(state: str) -> None:
    stop = Stop(state, expires_at=NOW + timedelta(hours=1), amount_stopped_fen=100)
    assert [e for e in MOVES if workflow.allowed(stop, e, NOW)] == []


def test_renewal_once_and_before_expiry() -> None:
    stop = Stop(S.STOPPED, expires_at=NOW + timedelta(hours=1))
    assert workflow.target(stop, "renew", NOW) == S.STOPPED
    stop.renewals = 1
    with pytest.raises(WorkflowError, match="只能续止一次") as once:
        workflow.target(stop, "renew", NOW)
    assert once.value.field == "renewals"
    late = Stop(S.STOPPED, expires_at=NOW)
    with pytest.raises(WorkflowError, match="到期"):
        workflow.target(late, "renew", NOW)
    assert workflow.target(late, "expire", NOW) == S.RELEASED
    with pytest.raises(WorkflowError, match="尚未到期"):
        workflow.target(Stop(S.STOPPED, expires_at=NOW + timedelta(seconds=1)), "expire", NOW)


def test_nothing_stopped_cannot_be_frozen() -> None:
    with pytest.raises(WorkflowError, match="无可冻结"):
        workflow.target(Stop(S.STOPPED, expires_at=NOW + timedelta(hours=1)), "freeze", NOW)


def test_an_unknown_event_is_refused() -> None:
    with pytest.raises(WorkflowError) as refused:
        workflow.target(Stop(S.QUEUED), "cancel", NOW)
    assert refused.value.field == "event"


@given(st.lists(st.sampled_from(sorted(MOVES)), max_size=30), st.integers(0, 100_000))
def test_random_walks_never_renew_twice_and_keep_money_consistent(events: list[str], stopped: int) -> None:
    stop = Stop(S.AWAITING_APPROVAL)
    now = NOW
    for event in events:
        now += timedelta(hours=7)
        if not workflow.allowed(stop, event, now):
            with pytest.raises(WorkflowError):
                workflow.target(stop, event, now)
            continue
        before = stop.state
        stop.state = workflow.target(stop, event, now)
        if event == "stop":
            stop.amount_stopped_fen, stop.expires_at = stopped, now + workflow.STOP_DURATION
        elif event == "renew":
            stop.renewals += 1
            assert stop.expires_at is not None
            stop.expires_at += workflow.STOP_DURATION
        elif event == "freeze":
            stop.amount_frozen_fen = stop.amount_stopped_fen
        assert stop.renewals <= workflow.RENEWALS_ALLOWED
        assert before in MOVES[event].sources
        if stop.state == S.FROZEN:
            assert stop.amount_frozen_fen > 0
