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


def case_accepted_elsewhere(actor: User | None, incident_id: str, case_reference: str) -> None:
    """The cases module accepted one of our incidents outside the intake (a retry on its side):
    an incident still waiting in awaiting_case moves to case_opened."""
    from jingwu.dispatch import services
    from jingwu.dispatch.models import Incident
    from jingwu.dispatch.workflow import IncidentStatus

    incident = Incident.objects.filter(pk=int(incident_id), status=IncidentStatus.AWAITING_CASE).first()
    if incident is not None:
        services.incident_case_accepted(actor=actor, incident=incident, case_reference=case_reference)


def register_incident_feed() -> None:
    """Give case supervision our incidents (有案不立, incidents without an outcome, the
    closed-loop report): see jingwu/cases/incidents.py. Concluded on our side: closed,
    referred, diverted, merged, or opened as a case. A merged shell is no criminal incident."""
    from django.db.models import Q

    from jingwu.cases.incidents import IncidentFeed, register
    from jingwu.dispatch.classifier import Category
    from jingwu.dispatch.models import Incident
    from jingwu.dispatch.workflow import IncidentStatus as S

    register(IncidentFeed(
        app="dispatch", queryset=lambda: Incident.objects.all(),
        criminal=Q(category=Category.CRIMINAL) & ~Q(status=S.MERGED),
        concluded=Q(status__in=[S.CLOSED, S.REFERRED, S.DIVERTED, S.MERGED, S.CASE_OPENED]),
        id_field="id", number_field="number", unit_field="unit", reported_field="received_at",
        on_case_accepted=case_accepted_elsewhere))
