"""The hand-off from 110 dispatch to case handling (警情转案件).

The protocol, for the cases module to implement:

1. When a handling result says "case" (`services.incident_record_result(result="case")`),
   the incident moves to `awaiting_case` and the registered case intake is called with an
   `IncidentHandoff` and the actor, inside the same transaction but in its own savepoint.
2. The intake either accepts at once — it returns the case's reference, and the incident
   moves to `case_opened` in the same transaction — or returns None: the case module
   has queued it and calls `services.incident_case_accepted(actor=…, incident=…,
   case_reference=…)` when it accepts it.
3. If no intake is registered, or the intake raises, the incident stays in
   `awaiting_case` (the result itself is kept) and `selectors.awaiting_case_count` counts
   it; `services.incident_handoff_retry` offers it again.

The cases app registers its implementation once, in its AppConfig.ready():

    from jingwu.dispatch import handoff
    handoff.register_case_intake(my_intake)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from jingwu.core.models import User


@dataclass(frozen=True)
class IncidentHandoff:
    """What case handling receives about an incident (no caller numbers: it asks for them if needed)."""

    incident_id: int
    number: str
    category: str
    subcategory: str
    priority: int | None
    summary: str
    address: str
    lat: float | None
    lon: float | None
    unit_code: str  # the responsible unit (grid, station, county or centre)
    station_code: str
    received_at: datetime
    arrived_at: datetime | None
    result_text: str


class CaseIntake(Protocol):
    def __call__(self, *, actor: User | None, incident: IncidentHandoff) -> str | None:
        """Accept the incident as a case and return the case reference, or return None when
        acceptance will follow later through `services.incident_case_accepted`."""


_intake: CaseIntake | None = None


def register_case_intake(intake: CaseIntake | None) -> None:
    """Install (or with None remove) the one case intake."""
    global _intake
    _intake = intake


def registered_case_intake() -> CaseIntake | None:
    return _intake
