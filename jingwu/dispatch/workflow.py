"""The two state machines of 110 dispatch, each as one table: the incident's and the patrol unit's.

A row says: on this event, from these states, the thing moves to that state, and the actor
needs this action over the thing's unit. Services look moves up here and nowhere else;
`move()` refuses what the table does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

from jingwu.core.access import Action


class IncidentStatus(models.TextChoices):
    RECEIVED = "received", _("已接警")
    CLASSIFIED = "classified", _("已定性")
    DIVERTED = "diverted", _("已分流")
    DISPATCHED = "dispatched", _("已派警")
    ON_SCENE = "on_scene", _("已到场")
    AWAITING_CASE = "awaiting_case", _("待转案件")
    CASE_OPENED = "case_opened", _("已转案件")
    REFERRED = "referred", _("已移交")
    CLOSED = "closed", _("已办结")
    MERGED = "merged", _("已合并")


class UnitStatus(models.TextChoices):
    AVAILABLE = "available", _("可派")
    DISPATCHED = "dispatched", _("已派出")
    EN_ROUTE = "en_route", _("途中")
    ON_SCENE = "on_scene", _("到场")
    CLEARED = "cleared", _("处置完毕")
    OUT_OF_SERVICE = "out_of_service", _("暂停执勤")


@dataclass(frozen=True)
class Move:
    event: str
    sources: frozenset[str]
    target: str
    # Any one of these, over the incident's unit (incidents) or the patrol unit's station (units).
    actions: tuple[str, ...]


_I = IncidentStatus
_U = UnitStatus
_OPEN_WORK = frozenset({_I.CLASSIFIED, _I.DISPATCHED, _I.ON_SCENE})
# The agency's answer arrives through its feed, or by telephone to the dispatcher.
_FEEDBACK = (Action.DIVERSION_FEEDBACK, Action.INCIDENT_DISPATCH)

INCIDENT_WORKFLOW: tuple[Move, ...] = (
    # The dispatcher confirms or corrects the classifier's suggestion; correcting again later keeps the state.
    Move("classify", frozenset({_I.RECEIVED}), _I.CLASSIFIED, (Action.INCIDENT_RECORD,)),
    Move("reclassify", _OPEN_WORK, "", (Action.INCIDENT_RECORD,)),  # "" = state unchanged
    # 分流: a non-police call goes to the receiving agency; it comes back if the agency refuses.
    Move("divert", frozenset({_I.CLASSIFIED}), _I.DIVERTED, (Action.INCIDENT_DISPATCH,)),
    Move("diversion_refused", frozenset({_I.DIVERTED}), _I.CLASSIFIED, _FEEDBACK),
    Move("diversion_done", frozenset({_I.DIVERTED}), _I.CLOSED, _FEEDBACK),
    # The first unit sent makes the incident dispatched; more units keep the state.
    Move("dispatch", frozenset({_I.CLASSIFIED}), _I.DISPATCHED, (Action.INCIDENT_DISPATCH,)),
    Move("reinforce", frozenset({_I.DISPATCHED, _I.ON_SCENE}), "", (Action.INCIDENT_DISPATCH,)),
    Move("all_recalled", frozenset({_I.DISPATCHED}), _I.CLASSIFIED, (Action.INCIDENT_DISPATCH,)),
    Move("arrive", frozenset({_I.DISPATCHED}), _I.ON_SCENE, (Action.INCIDENT_RECORD,)),
    # 处警结果: handled (closed), referred elsewhere, or handed to case handling.
    Move("close", _OPEN_WORK, _I.CLOSED, (Action.INCIDENT_RECORD,)),
    Move("refer", _OPEN_WORK, _I.REFERRED, (Action.INCIDENT_RECORD,)),
    Move("to_case", _OPEN_WORK, _I.AWAITING_CASE, (Action.INCIDENT_RECORD,)),
    Move("case_accepted", frozenset({_I.AWAITING_CASE}), _I.CASE_OPENED, (Action.CASE_RECORD,)),
    # A repeat call filed as its own incident, moved onto the first one, leaves an empty shell.
    Move("merge", frozenset({_I.RECEIVED, _I.CLASSIFIED}), _I.MERGED, (Action.INCIDENT_DISPATCH,)),
)

UNIT_WORKFLOW: tuple[Move, ...] = (
    Move("dispatch", frozenset({_U.AVAILABLE, _U.CLEARED}), _U.DISPATCHED, (Action.INCIDENT_DISPATCH,)),
    Move("en_route", frozenset({_U.DISPATCHED}), _U.EN_ROUTE, (Action.INCIDENT_RECORD,)),
    Move("arrive", frozenset({_U.DISPATCHED, _U.EN_ROUTE}), _U.ON_SCENE, (Action.INCIDENT_RECORD,)),
    Move("clear", frozenset({_U.ON_SCENE}), _U.CLEARED, (Action.INCIDENT_RECORD,)),
    Move("recall", frozenset({_U.DISPATCHED, _U.EN_ROUTE}), _U.AVAILABLE, (Action.INCIDENT_DISPATCH,)),
    Move("available", frozenset({_U.CLEARED, _U.OUT_OF_SERVICE}), _U.AVAILABLE, (Action.INCIDENT_RECORD,)),
    Move("out_of_service", frozenset({_U.AVAILABLE, _U.CLEARED}), _U.OUT_OF_SERVICE, (Action.INCIDENT_RECORD,)),
)

# Incidents in these states are finished: no more units, results or calls.
INCIDENT_TERMINAL = frozenset({_I.CASE_OPENED, _I.REFERRED, _I.CLOSED, _I.MERGED})
# A unit in these states is tied to an incident (it has an open assignment).
UNIT_BUSY = frozenset({_U.DISPATCHED, _U.EN_ROUTE, _U.ON_SCENE})
# Events a unit's crew or the dispatcher sends for a unit (dispatch itself is its own service).
UNIT_EVENTS = tuple(m.event for m in UNIT_WORKFLOW if m.event != "dispatch")


class MoveRefused(Exception):
    """The table has no such move from the current state."""

    def __init__(self, machine: str, event: str, state: str) -> None:
        super().__init__(f"{machine}: no move {event!r} from {state!r}")
        self.machine, self.event, self.state = machine, event, state


def _lookup(table: tuple[Move, ...], machine: str, event: str, state: str) -> Move:
    for move in table:
        if move.event == event and state in move.sources:
            return move
    raise MoveRefused(machine, event, state)


def incident_move(event: str, state: str) -> Move:
    return _lookup(INCIDENT_WORKFLOW, "incident", event, state)


def unit_move(event: str, state: str) -> Move:
    return _lookup(UNIT_WORKFLOW, "unit", event, state)


def incident_target(event: str, state: str) -> str:
    """The state after `event` (the same state for moves that keep it)."""
    return incident_move(event, state).target or state


def unit_events_from(state: str) -> list[str]:
    """The unit events allowed from `state`, in table order (for buttons and tests)."""
    return [m.event for m in UNIT_WORKFLOW if state in m.sources]
