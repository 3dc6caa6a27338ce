"""The stop-payment request's state machine, as one table.

    awaiting_approval ─approve→ queued ─deliver→ sent ─acknowledge→ acknowledged
    sent/acknowledged ─stop→ stopped (an amount, maybe 0) │ ─move_onward→ moved_onward
    queued/sent/acknowledged ─fail→ failed ─resend→ queued
    stopped ─renew (once, before expiry)→ stopped ─expire (48 h, or 96 h renewed)→ released
    stopped ─freeze→ frozen ─return→ returned ; stopped/frozen ─release→ released

Money that moved onward is chased by new requests (services create them); the request
that learned of it ends in moved_onward, or in stopped when part was still there.
`who` is "system" for moves the sender and the scheduler make, else the Action a person
needs over the report's unit (stop-payment decisions are sworn officers' alone)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from jingwu.antifraud.models import StopState
from jingwu.core.access import Action

SYSTEM: Final = "system"
STOP_DURATION: Final = timedelta(hours=48)
RENEWALS_ALLOWED: Final = 1
MAX_HOPS: Final = 6  # money is chased this many hops past the victim's payee, then left to investigators

S = StopState


class Stop(Protocol):
    state: str
    renewals: int
    expires_at: datetime | None
    amount_stopped_fen: int
    amount_frozen_fen: int


class WorkflowError(ValueError):
    """A move the table does not allow from here; `field` names what was wrong for the caller."""

    def __init__(self, message: str, *, field: str = "state") -> None:
        super().__init__(message)
        self.field = field


Guard = Callable[[Stop, datetime], str | None]


def _not_expired(stop: Stop, now: datetime) -> str | None:
    if stop.expires_at is not None and now >= stop.expires_at:
        return _("止付已于 %(at)s 到期，不能再操作。") % {"at": stop.expires_at.isoformat(timespec="minutes")}
    return None


def _renewable(stop: Stop, now: datetime) -> str | None:
    if stop.renewals >= RENEWALS_ALLOWED:
        return _("止付只能续止一次，本请求已续止过。")
    return _not_expired(stop, now)


def _expired(stop: Stop, now: datetime) -> str | None:
    if stop.expires_at is None or now < stop.expires_at:
        return _("止付尚未到期。")
    return None


def _has_money(stop: Stop, now: datetime) -> str | None:
    if stop.amount_stopped_fen <= 0:
        return _("该账户没有止付到资金，无可冻结。")
    return _not_expired(stop, now)


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str
    who: str
    guard: Guard | None = None


MOVES: Final[dict[str, Move]] = {
    "approve": Move(frozenset({S.AWAITING_APPROVAL}), S.QUEUED, Action.FRAUD_STOP_PAYMENT),
    "deliver": Move(frozenset({S.QUEUED}), S.SENT, SYSTEM),
    "acknowledge": Move(frozenset({S.SENT}), S.ACKNOWLEDGED, SYSTEM),
    "stop": Move(frozenset({S.SENT, S.ACKNOWLEDGED}), S.STOPPED, SYSTEM),
    "move_onward": Move(frozenset({S.SENT, S.ACKNOWLEDGED}), S.MOVED_ONWARD, SYSTEM),
    "fail": Move(frozenset({S.QUEUED, S.SENT, S.ACKNOWLEDGED}), S.FAILED, SYSTEM),
    "resend": Move(frozenset({S.FAILED}), S.QUEUED, Action.FRAUD_STOP_PAYMENT),
    "renew": Move(frozenset({S.STOPPED}), S.STOPPED, Action.FRAUD_STOP_PAYMENT, _renewable),
    "expire": Move(frozenset({S.STOPPED}), S.RELEASED, SYSTEM, _expired),
    "release": Move(frozenset({S.STOPPED, S.FROZEN}), S.RELEASED, Action.FRAUD_STOP_PAYMENT),
    "freeze": Move(frozenset({S.STOPPED}), S.FROZEN, Action.FRAUD_STOP_PAYMENT, _has_money),
    "return": Move(frozenset({S.FROZEN}), S.RETURNED, Action.FRAUD_STOP_PAYMENT),
}

# States in which the bank still owes an answer: the report page keeps polling.
IN_FLIGHT: Final = frozenset({S.QUEUED, S.SENT, S.ACKNOWLEDGED})
# Events a person may take, in the order the page offers them.
DECISIONS: Final = ("approve", "renew", "freeze", "return", "release", "resend")


def allowed(stop: Stop, event: str, now: datetime) -> bool:
    move = MOVES[event]
    return stop.state in move.sources and (move.guard is None or move.guard(stop, now) is None)


def target(stop: Stop, event: str, now: datetime) -> str:
    """The state `event` leads to from `stop`'s, or WorkflowError saying why not."""
    try:
        move = MOVES[event]
    except KeyError:
        raise WorkflowError(_("未知的操作：%(event)s") % {"event": event}, field="event") from None
    if stop.state not in move.sources:
        raise WorkflowError(_("当前状态“%(state)s”下不能%(event)s。") % {
            "state": StopState(stop.state).label, "event": event_label(event)})
    if move.guard is not None:
        reason = move.guard(stop, now)
        if reason:
            raise WorkflowError(reason, field="renewals" if event == "renew" else "state")
    return move.target


def event_label(event: str) -> str:
    """The event as a verb ("renew"), for messages: "cannot renew a request that is …"."""
    labels = {
        "approve": pgettext("stop event", "批准发送"), "deliver": pgettext("stop event", "送达"),
        "acknowledge": pgettext("stop event", "受理"), "stop": pgettext("stop event", "止付"),
        "move_onward": pgettext("stop event", "转出"), "fail": pgettext("stop event", "判定失败"),
        "resend": pgettext("stop event", "重新发送"), "renew": pgettext("stop event", "续止"),
        "expire": pgettext("stop event", "到期解除"), "release": pgettext("stop event", "解除止付"),
        "freeze": pgettext("stop event", "冻结"), "return": pgettext("stop event", "返还"),
    }
    return str(labels.get(event, event))
