"""How the cases app reads incidents kept by another app (dispatch), without importing it.

The app that keeps incidents registers one `IncidentFeed` in its AppConfig.ready():

    from jingwu.cases.incidents import IncidentFeed, register
    register(IncidentFeed(
        app="dispatch",
        queryset=lambda: Incident.objects.all(),
        id_field="id", number_field="number", unit_field="unit", reported_field="reported_at",
        criminal=Q(category="criminal"),
        concluded=Q(status__in=["closed", "diverted", "case"]),
    ))

Supervision (有案不立, incidents with no outcome) and the closed-loop report then run as
SQL against that queryset, anti-joined with the incident references cases keep
(CaseIncident: app, incident id as text, number). With no feed registered those
queries answer "not available" rather than zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast


@dataclass(frozen=True)
class IncidentFeed:
    app: str  # the app label stored in CaseIncident.app
    queryset: Callable[[], QuerySet[Any]]  # every incident the app keeps
    criminal: Q  # incidents of a criminal category
    concluded: Q  # incidents that reached an outcome on the incident side
    id_field: str = "id"
    number_field: str = "number"
    unit_field: str = "unit"  # a ForeignKey to core.Unit
    reported_field: str = "reported_at"
    # Told when a case is accepted from one of the app's incidents other than through the
    # app's own hand-off: (actor, incident id as text, case number).
    on_case_accepted: Callable[[Any, str, str], None] | None = None

    def with_case(self) -> QuerySet[Any]:
        """Every incident, annotated `has_case` (a case was accepted from it)."""
        from jingwu.cases.models import CaseIncident

        linked = CaseIncident.objects.filter(app=self.app, incident_id=OuterRef("incident_ref"))
        return (self.queryset().annotate(incident_ref=Cast(self.id_field, CharField()))
                .annotate(has_case=Exists(linked)))


_FEEDS: dict[str, IncidentFeed] = {}


def register(feed: IncidentFeed) -> None:
    _FEEDS[feed.app] = feed


def unregister(app: str) -> None:
    _FEEDS.pop(app, None)


def feed_for(app: str) -> IncidentFeed | None:
    return _FEEDS.get(app)


def feeds() -> list[IncidentFeed]:
    return list(_FEEDS.values())
