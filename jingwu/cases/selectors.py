"""Every read of the cases app, scoped to the actor: a user sees the cases of their unit
and below (Action.CASE_READ), supervisors the supervision figures of theirs
(Action.SUPERVISION_READ). Parties are people: they are read only through
`case_parties`, which needs a stated purpose and is audited (core.purpose.person_read).

For other apps: `case_outcomes_for_incidents(app, ids)` tells dispatch where each of its
incidents ended on the case side.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from jingwu.cases import deadlines, incidents
from jingwu.cases.models import (
    Case,
    CaseDocument,
    CaseEvent,
    CaseIncident,
    CaseParty,
    CaseTask,
    CoerciveMeasure,
    Deadline,
    EnforcementError,
    EvidenceItem,
    LegalReview,
    Reconsideration,
    ReviewOutcome,
)
from jingwu.cases.services import transition_blockers
from jingwu.cases.workflow import WORKFLOWS, Transition, workflow
from jingwu.core import access, audit
from jingwu.core.access import Action
from jingwu.core.models import Unit, User
from jingwu.core.purpose import person_read

# --------------------------------------------------------------------------- cases


def cases_visible(actor: User) -> QuerySet[Case]:
    return access.scope(actor, Action.CASE_READ, Case.objects.all())


def case_list(actor: User, *, state: str = "", case_type: str = "", q: str = "",
              unit: Unit | None = None) -> QuerySet[Case]:
    """The cases the actor may see, newest accepted first, filtered."""
    qs = cases_visible(actor).select_related("unit", "owner")
    if case_type:
        qs = qs.filter(case_type=case_type)
    if state:
        qs = qs.filter(state=state)
    if q:
        qs = qs.filter(number__startswith=q.strip().upper())
    if unit is not None:
        qs = qs.filter(unit__path__startswith=unit.path)
    return qs.order_by("-accepted_at", "-id")


def case_get(actor: User, pk: int, *, request: Any = None) -> Case:
    """One case the actor may see (Case.DoesNotExist otherwise); the read is audited."""
    case = cases_visible(actor).select_related("unit", "owner", "accepted_by").get(pk=pk)
    audit.record(actor=actor, action="case.read", object_type="case", object_id=case.number,
                 unit_code=case.unit.code, request=request)
    return case


def _in_visible_cases(actor: User, qs: QuerySet[Any]) -> QuerySet[Any]:
    return access.scope(actor, Action.CASE_READ, qs.select_related("case__unit"), unit_field="case__unit")


def review_get(actor: User, pk: int) -> LegalReview:
    """A legal review of a case the actor may see (LegalReview.DoesNotExist otherwise)."""
    return _in_visible_cases(actor, LegalReview.objects.all()).get(pk=pk)


def task_get(actor: User, pk: int) -> CaseTask:
    """A task of a case the actor may see (CaseTask.DoesNotExist otherwise)."""
    return _in_visible_cases(actor, CaseTask.objects.select_related("assignee")).get(pk=pk)


def measure_get(actor: User, pk: int) -> CoerciveMeasure:
    """A coercive measure of a case the actor may see (CoerciveMeasure.DoesNotExist otherwise)."""
    return _in_visible_cases(actor, CoerciveMeasure.objects.all()).get(pk=pk)


def document_get(actor: User, pk: int) -> CaseDocument:
    """A document of a case the actor may see (CaseDocument.DoesNotExist otherwise)."""
    return _in_visible_cases(actor, CaseDocument.objects.all()).get(pk=pk)


def case_worker(case: Case, username: str) -> User | None:
    """The active user of that name who may work on `case` (holds a role over its unit), to
    name as its officer in charge or a task's assignee; None for anyone else, so a name
    elsewhere in the force reads the same as an unknown one. `case` comes from the actor's
    own scoped read (case_get, cases_visible)."""
    user = User.objects.filter(username=username[:150], is_active=True).first() if username else None
    if user is None or not access.can(user, Action.CASE_RECORD, case.unit):
        return None
    return user


def unit_for(actor: User, code: str, action: str, *, request: Any = None) -> Unit | None:
    """The unit with this code, for the actor to take `action` at: None when there is no
    such unit; PermissionDenied (audited) when it lies outside the actor's jurisdiction."""
    unit = Unit.objects.filter(code=code[:32]).first() if code else None
    if unit is not None:
        access.check(actor, action, unit, object_type="unit", object_id=unit.code, request=request)
    return unit


def case_parties(actor: User, case: Case, *, request: Any = None) -> list[CaseParty]:
    """The people in a case. Needs a stated purpose (PurposeRequired otherwise); audited."""
    person_read(actor, object_type="case_parties", object_id=case.number, unit=case.unit,
                details={"case": case.number})
    return list(CaseParty.objects.filter(case=case).select_related("entity").order_by("role", "pk"))


def case_party_ids(case: Case, role: str = "") -> list[tuple[int, str]]:
    """Party ids and roles only (no names): for choosing whom a measure or penalty concerns."""
    qs = CaseParty.objects.filter(case=case)
    if role:
        qs = qs.filter(role=role)
    return list(qs.order_by("pk").values_list("pk", "role"))


def case_timeline(case: Case) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case).select_related("actor").order_by("at", "pk"))


@dataclass(frozen=True)
class ClockView:
    deadline: Deadline
    label: str
    overdue: bool
    warned: bool


def case_clocks(case: Case, now: dt.datetime | None = None) -> list[ClockView]:
    now = now or timezone.now()
    policies = deadlines.policies()
    rows = Deadline.objects.filter(case=case).order_by("stopped_at", "due_at", "pk")
    return [ClockView(d, str(policies[d.clock].label) if d.clock in policies else d.clock,
                      d.stopped_at is None and d.due_at <= now, d.warned_at is not None) for d in rows]


@dataclass
class CaseWork:
    tasks: list[CaseTask]
    evidence: list[EvidenceItem]
    measures: list[CoerciveMeasure]
    reviews: list[LegalReview]
    documents: list[CaseDocument]
    incidents: list[CaseIncident]
    reconsiderations: list[Reconsideration]


def case_work(case: Case) -> CaseWork:
    return CaseWork(
        tasks=list(CaseTask.objects.filter(case=case).select_related("assignee").order_by("status", "pk")),
        evidence=list(EvidenceItem.objects.filter(case=case).select_related("collected_by").order_by("pk")),
        measures=list(CoerciveMeasure.objects.filter(case=case).select_related("decided_by").order_by("pk")),
        reviews=list(LegalReview.objects.filter(case=case).select_related("requested_by", "reviewer")
                     .order_by("pk")),
        documents=list(CaseDocument.objects.filter(case=case).order_by("issued_at", "pk")),
        incidents=list(CaseIncident.objects.filter(case=case).order_by("pk")),
        reconsiderations=list(Reconsideration.objects.filter(case=case).order_by("pk")),
    )


@dataclass(frozen=True)
class TransitionOption:
    transition: Transition
    blockers: list[str]  # empty: the actor can take it now


def transitions_for(actor: User, case: Case, now: dt.datetime | None = None) -> list[TransitionOption]:
    """The workflow's transitions from the case's state that the actor's roles allow at the
    case's unit, each with what still stands in the way (a legal review, a guard)."""
    wf = workflow(case.case_type)
    return [TransitionOption(t, transition_blockers(case, t, actor, now)) for t in wf.available(case.state)
            if access.can(actor, t.action, case.unit)]


def reviews_pending_for(actor: User) -> QuerySet[LegalReview]:
    """Legal reviews waiting at units within the actor's legal-review jurisdiction."""
    return (access.scope(actor, Action.CASE_LEGAL_REVIEW,
                         LegalReview.objects.filter(outcome=ReviewOutcome.PENDING), unit_field="case__unit")
            .select_related("case", "requested_by").order_by("requested_at", "pk"))


def case_outcomes_for_incidents(app: str, incident_ids: Iterable[str | int]) -> dict[str, dict[str, Any]]:
    """For the incident side: {incident id: {case number, state, public status, terminal}}
    of incidents that became cases. Ids only, nothing personal."""
    ids = [str(i) for i in incident_ids]
    rows = (CaseIncident.objects.filter(app=app, incident_id__in=ids)
            .values_list("incident_id", "case_id", "case__number", "case__case_type", "case__state",
                         "case__terminal"))
    return {ref: {"case_id": case_id, "case_number": number, "state": state,
                  "public_status": WORKFLOWS[case_type].states[state].public, "terminal": terminal}
            for ref, case_id, number, case_type, state, terminal in rows}


# --------------------------------------------------------------------------- supervision

class Anomaly:
    OVERDUE = "overdue"  # any running clock past its deadline
    FILED_IDLE = "filed_idle"  # 立而不侦: filed, no investigative activity for N days
    INVESTIGATION_OVERDUE = "investigation_overdue"  # 侦而不结: investigation or custody clock past due
    CRIMINAL_NO_CASE = "criminal_no_case"  # 有案不立: criminal incident, no case after the grace period
    INCIDENT_NO_OUTCOME = "incident_no_outcome"  # incident with neither an outcome nor a case
    ERRORS = "errors"  # 执法过错 records


ANOMALIES = (Anomaly.OVERDUE, Anomaly.FILED_IDLE, Anomaly.INVESTIGATION_OVERDUE, Anomaly.CRIMINAL_NO_CASE,
             Anomaly.INCIDENT_NO_OUTCOME, Anomaly.ERRORS)
INCIDENT_ANOMALIES = (Anomaly.CRIMINAL_NO_CASE, Anomaly.INCIDENT_NO_OUTCOME)
INVESTIGATION_CLOCKS = ("criminal.investigation", "custody.detention", "custody.arrest")
INVESTIGATION_STATES = ("filed", "investigation", "legal_review")
INVESTIGATION_STATE_CLOCK = "criminal.investigation"  # the clock of exactly those states (a test holds it)
CUSTODY_CLOCKS = tuple(c for c in INVESTIGATION_CLOCKS if c != INVESTIGATION_STATE_CLOCK)


def supervision_roots(actor: User) -> list[Unit]:
    roots = access.jurisdictions(actor, Action.SUPERVISION_READ)
    return list(Unit.objects.filter(path__in=roots).order_by("path"))


def _within(actor: User, unit: Unit | None, qs: QuerySet[Any], unit_field: str) -> QuerySet[Any]:
    """`qs` restricted to the actor's supervision jurisdiction (and `unit`), as `unit IN (the
    units below those paths)`: a subquery on the small unit table, so each count seeks its
    (unit, …) index unit by unit instead of joining every matching row to core_unit for a
    LIKE on its path."""
    roots = access.jurisdictions(actor, Action.SUPERVISION_READ)
    if not roots:
        return qs.none()
    units = Unit.objects.filter(reduce(operator.or_, (Q(path__startswith=root) for root in roots)))
    if unit is not None:
        units = units.filter(path__startswith=unit.path)
    return qs.filter(**{f"{unit_field}__in": units.values("pk")})


def anomaly_queryset(actor: User, kind: str, *, unit: Unit | None = None, now: dt.datetime | None = None,
                     feed: incidents.IncidentFeed | None = None) -> QuerySet[Any]:
    """The rows of one anomaly within the actor's supervision jurisdiction (and `unit`).
    Incident anomalies need the feed of the app keeping incidents."""
    now = now or timezone.now()
    if kind == Anomaly.OVERDUE:
        qs: QuerySet[Any] = Deadline.objects.filter(stopped_at__isnull=True, due_at__lte=now)
        return _within(actor, unit, qs, "unit")
    if kind == Anomaly.INVESTIGATION_OVERDUE:
        state_clock, custody = _investigation_overdue_parts(actor, unit, now)
        return state_clock | custody
    if kind == Anomaly.FILED_IDLE:
        idle_since = now - dt.timedelta(days=settings.JINGWU_CASE_IDLE_DAYS)
        # Counted from the (unit, state, activity_at) index alone, never the case rows.
        qs = Case.objects.filter(state__in=INVESTIGATION_STATES, activity_at__lte=idle_since)
        return _within(actor, unit, qs, "unit")
    if kind == Anomaly.ERRORS:
        return _within(actor, unit, EnforcementError.objects.all(), "unit")
    if kind in INCIDENT_ANOMALIES:
        if feed is None:
            raise ValueError(f"{kind} needs an incident feed")
        grace = now - dt.timedelta(hours=settings.JINGWU_CASE_INCIDENT_GRACE_HOURS)
        qs = feed.with_case().filter(**{f"{feed.reported_field}__lte": grace}, has_case=False)
        qs = qs.filter(feed.criminal) if kind == Anomaly.CRIMINAL_NO_CASE else qs.exclude(feed.concluded)
        return _within(actor, unit, qs, feed.unit_field)
    raise ValueError(f"unknown anomaly {kind!r}")


def _investigation_overdue_parts(actor: User, unit: Unit | None,
                                 now: dt.datetime) -> tuple[QuerySet[Any], QuerySet[Any]]:
    """侦而不结 as two disjoint sets of clocks. The investigation clock is the clock of exactly
    the investigation states (services stop it on leaving them), so it needs no case row;
    only custody clocks, which outlive states, join their case for its state. Counted apart,
    each reads its (unit, clock, due_at, case) index, and the join touches only the few
    custody clocks (at 1M cases, reading a case row per overdue clock was most of the page)."""
    running = Deadline.objects.filter(stopped_at__isnull=True, due_at__lte=now)
    return (_within(actor, unit, running.filter(clock=INVESTIGATION_STATE_CLOCK), "unit"),
            _within(actor, unit, running.filter(clock__in=CUSTODY_CLOCKS, case__state__in=INVESTIGATION_STATES),
                    "unit"))


def _counted_parts(actor: User, kind: str, unit: Unit | None, now: dt.datetime) -> list[QuerySet[Any]]:
    """Disjoint querysets whose counts add up to the anomaly's."""
    if kind == Anomaly.INVESTIGATION_OVERDUE:
        return list(_investigation_overdue_parts(actor, unit, now))
    return [anomaly_queryset(actor, kind, unit=unit, now=now)]


@dataclass
class UnitRow:
    unit: Unit | None  # None: the selected unit itself (cases it handles directly)
    counts: dict[str, int | None] = field(default_factory=dict)


@dataclass
class Overview:
    unit: Unit | None
    rows: list[UnitRow]
    totals: dict[str, int | None]
    incidents_available: bool


def supervision_overview(actor: User, *, unit: Unit | None = None, now: dt.datetime | None = None,
                         request: Any = None) -> Overview:
    """Counts of every anomaly for each unit directly below `unit` (default: the actor's
    supervision root), rolled up from one grouped query per anomaly. Audited."""
    access.check(actor, Action.SUPERVISION_READ, unit, object_type="supervision",
                 object_id=unit.code if unit else "", request=request)
    now = now or timezone.now()
    roots = supervision_roots(actor)
    if unit is None and len(roots) == 1:
        unit = roots[0]
    children = list(Unit.objects.filter(parent=unit).order_by("path")) if unit else roots
    feeds = incidents.feeds()
    counts: dict[str, dict[int, int]] = {}
    for kind in ANOMALIES:
        if kind in INCIDENT_ANOMALIES:
            if not feeds:
                continue
            merged: dict[int, int] = defaultdict(int)
            for feed in feeds:
                grouped = (anomaly_queryset(actor, kind, unit=unit, now=now, feed=feed)
                           .values(f"{feed.unit_field}_id").annotate(n=Count("pk")).order_by())
                for row in grouped:
                    merged[row[f"{feed.unit_field}_id"]] += row["n"]
            counts[kind] = dict(merged)
        else:
            by_unit: dict[int, int] = defaultdict(int)
            for part in _counted_parts(actor, kind, unit, now):
                for row in part.values("unit_id").annotate(n=Count("pk")).order_by():
                    by_unit[row["unit_id"]] += row["n"]
            counts[kind] = dict(by_unit)
    unit_ids = {uid for by_unit in counts.values() for uid in by_unit}
    paths = dict(Unit.objects.filter(pk__in=unit_ids).values_list("pk", "path"))
    rows = [UnitRow(child) for child in children]
    own = UnitRow(None)
    for kind in ANOMALIES:
        available = kind in counts
        for row in [*rows, own]:
            row.counts[kind] = 0 if available else None
        for uid, n in counts.get(kind, {}).items():
            path = paths.get(uid, "")
            target = next((r for r in rows if r.unit is not None and path.startswith(r.unit.path)), own)
            target.counts[kind] = (target.counts[kind] or 0) + n
    if unit is not None and any(own.counts.values()):
        rows.insert(0, own)
    totals = {kind: (sum(counts[kind].values()) if kind in counts else None) for kind in ANOMALIES}
    audit.record(actor=actor, action="supervision.read", object_type="supervision",
                 object_id=unit.code if unit else "", unit_code=unit.code if unit else "", request=request,
                 details={"totals": totals})
    return Overview(unit=unit, rows=rows, totals=totals, incidents_available=bool(feeds))


ITEM_LIMIT = 100


def anomaly_items(actor: User, kind: str, *, unit: Unit | None = None, now: dt.datetime | None = None,
                  limit: int = ITEM_LIMIT) -> list[dict[str, Any]]:
    """The first `limit` rows of one anomaly, oldest first, as plain facts for the page."""
    now = now or timezone.now()
    if kind in (Anomaly.OVERDUE, Anomaly.INVESTIGATION_OVERDUE):
        policies = deadlines.policies()
        # The first `limit` clocks from the index, then their cases: joining first would read
        # the case row of every overdue clock in the unit before the sort.
        first = [pk for part in _counted_parts(actor, kind, unit, now)
                 for pk in part.order_by("due_at", "pk").values_list("pk", flat=True)[:limit]]
        rows = Deadline.objects.filter(pk__in=first).select_related("case", "unit").order_by("due_at", "pk")[:limit]
        return [{"case_id": d.case_id, "number": d.case.number, "unit": d.unit.name,
                 "what": str(policies[d.clock].label) if d.clock in policies else d.clock,
                 "since": d.due_at, "state": workflow(d.case.case_type).states[d.case.state].label} for d in rows]
    if kind == Anomaly.FILED_IDLE:
        cases = (anomaly_queryset(actor, kind, unit=unit, now=now).select_related("unit")
                 .order_by("activity_at", "pk")[:limit])
        return [{"case_id": c.pk, "number": c.number, "unit": c.unit.name, "what": "", "since": c.activity_at,
                 "state": workflow(c.case_type).states[c.state].label} for c in cases]
    if kind == Anomaly.ERRORS:
        errors = (anomaly_queryset(actor, kind, unit=unit, now=now)
                  .select_related("case", "unit", "person", "decision_event").order_by("-created_at", "pk")[:limit])
        return [{"case_id": e.case_id, "number": e.case.number, "unit": e.unit.name,
                 "what": f"{e.person} · {e.get_role_display()}", "since": e.created_at, "state": e.reason}
                for e in errors]
    items: list[dict[str, Any]] = []
    for feed in incidents.feeds():
        qs = anomaly_queryset(actor, kind, unit=unit, now=now, feed=feed).select_related(feed.unit_field)
        for inc in qs.order_by(feed.reported_field)[:limit]:
            items.append({"case_id": None, "number": getattr(inc, feed.number_field),
                          "unit": str(getattr(inc, feed.unit_field)), "what": feed.app,
                          "since": getattr(inc, feed.reported_field), "state": ""})
    return sorted(items, key=lambda i: i["since"])[:limit]


# --------------------------------------------------------------------------- the closed-loop report

@dataclass
class LoopRow:
    case_type: str
    accepted: int = 0
    ended: dict[str, int] = field(default_factory=dict)  # terminal state → count
    open_in_time: int = 0  # not ended, every clock within its deadline: explained
    open_overdue: int = 0  # not ended, a clock past due: unexplained


@dataclass
class IncidentLoop:
    app: str
    total: int
    with_case: int
    concluded: int  # ended on the incident side without a case
    pending: int  # neither, but still within the grace period: explained
    unexplained: int  # neither, past the grace period


@dataclass
class LoopReport:
    start: dt.datetime
    end: dt.datetime
    unit: Unit | None
    cases: list[LoopRow]
    incidents: list[IncidentLoop]
    incidents_available: bool

    @property
    def unexplained(self) -> int:
        return sum(r.open_overdue for r in self.cases) + sum(i.unexplained for i in self.incidents)


def closed_loop_report(actor: User, *, start: dt.datetime, end: dt.datetime, unit: Unit | None = None,
                       now: dt.datetime | None = None, request: Any = None) -> LoopReport:
    """Every case accepted and every incident reported in [start, end): where it ended, and
    the ones that have not — explained (within their deadline) or not."""
    access.check(actor, Action.SUPERVISION_READ, unit, object_type="closed_loop",
                 object_id=unit.code if unit else "", request=request)
    now = now or timezone.now()
    cases = _within(actor, unit, Case.objects.filter(accepted_at__gte=start, accepted_at__lt=end), "unit")
    overdue_cases = Deadline.objects.filter(stopped_at__isnull=True, due_at__lte=now).values("case_id")
    rows = {ct: LoopRow(ct) for ct in WORKFLOWS}
    for case_type, state, terminal, n in (cases.values_list("case_type", "state", "terminal")
                                          .annotate(n=Count("pk")).order_by()):
        row = rows[case_type]
        row.accepted += n
        if terminal:
            row.ended[state] = row.ended.get(state, 0) + n
    for case_type, n in (cases.filter(terminal=False, pk__in=overdue_cases).values_list("case_type")
                         .annotate(n=Count("pk")).order_by()):
        rows[case_type].open_overdue = n
    for row in rows.values():
        row.open_in_time = row.accepted - sum(row.ended.values()) - row.open_overdue
    loops = []
    grace = now - dt.timedelta(hours=settings.JINGWU_CASE_INCIDENT_GRACE_HOURS)
    for feed in incidents.feeds():
        reported = feed.reported_field
        qs = _within(actor, unit, feed.with_case().filter(**{f"{reported}__gte": start, f"{reported}__lt": end}),
                     feed.unit_field)
        figures = qs.aggregate(
            total=Count("pk"), with_case=Count("pk", filter=Q(has_case=True)),
            concluded=Count("pk", filter=Q(has_case=False) & feed.concluded),
            pending=Count("pk", filter=Q(has_case=False, **{f"{reported}__gt": grace}) & ~feed.concluded),
            unexplained=Count("pk", filter=Q(has_case=False, **{f"{reported}__lte": grace}) & ~feed.concluded))
        loops.append(IncidentLoop(app=feed.app, **figures))
    report = LoopReport(start=start, end=end, unit=unit, cases=list(rows.values()), incidents=loops,
                        incidents_available=bool(incidents.feeds()))
    audit.record(actor=actor, action="supervision.closed_loop", object_type="closed_loop",
                 object_id=unit.code if unit else "", unit_code=unit.code if unit else "", request=request,
                 details={"start": start.isoformat(), "end": end.isoformat(), "unexplained": report.unexplained})
    return report
