"""The command centre board (指挥大屏): open incidents by priority with timers against their
targets, units on a map of the grids, a call form and the recommendation panel, refreshed by
htmx polling. Thin: the reads are selectors, the writes services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from jingwu.core import access
from jingwu.core.access import Action
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, portal_user, portal_view
from jingwu.dispatch import classifier, selectors, services, timing, workflow
from jingwu.dispatch.forms import ClassifyForm, IntakeForm
from jingwu.dispatch.models import CallChannel, Incident
from jingwu.dispatch.views import _incident_or_404
from jingwu.dispatch.workflow import IncidentStatus

# A timer turns amber at this share of its target, red past the target.
WARN_SHARE = 0.75
REFRESH_SECONDS = 5
# Rows of the list (the most urgent); the counts and the map cover every open incident. A board
# is read from the top, and each row costs about half a millisecond to render.
BOARD_ROWS = 100
REFRESH_EVENT = "board-refresh"


@dataclass(frozen=True)
class BoardRow:
    incident: Incident
    stage: str  # what the clock is waiting for
    since: datetime | None
    target_seconds: float | None
    elapsed: int
    state: str  # "ok", "warn", "late" or "none" (no target)
    status_label: str
    category_label: str  # "" until classified

    @property
    def since_iso(self) -> str:
        return self.since.isoformat() if self.since is not None else ""

    @property
    def target_whole(self) -> int | None:
        return round(self.target_seconds) if self.target_seconds is not None else None

    @property
    def priority(self) -> int | None:
        return self.incident.priority or self.incident.suggested_priority


# What the clock of an incident in each status waits for.
STAGES = {IncidentStatus.RECEIVED: gettext_lazy("待派警"), IncidentStatus.CLASSIFIED: gettext_lazy("待派警"),
          IncidentStatus.DISPATCHED: gettext_lazy("待到场"), IncidentStatus.DIVERTED: gettext_lazy("待对方反馈"),
          IncidentStatus.ON_SCENE: gettext_lazy("现场处置"), IncidentStatus.AWAITING_CASE: gettext_lazy("待转案件")}


def _clock(incident: Incident) -> tuple[datetime | None, float | None]:
    """Since when the incident's clock runs, and its step's target in seconds (None: no target)."""
    status = incident.status
    if status in (IncidentStatus.RECEIVED, IncidentStatus.CLASSIFIED):
        return incident.answered_at or incident.received_at, settings.JINGWU_DISPATCH_PROCESSING_SECONDS
    if status == IncidentStatus.DISPATCHED:
        county = incident.county.code if incident.county is not None else ""
        return incident.dispatched_at, timing.arrival_target(county, incident.centre.code)
    if status == IncidentStatus.DIVERTED:
        return incident.diverted_at, None
    if status == IncidentStatus.ON_SCENE:
        return incident.arrived_at, None
    return incident.closed_at, None


def board_rows(incidents: list[Incident], now: datetime) -> list[BoardRow]:
    # Labels translated once per render, not once per row: 500 rows of lazy labels cost more than the query.
    statuses = {s.value: str(s.label) for s in IncidentStatus}
    categories = {c.value: str(c.label) for c in classifier.Category}
    stages: dict[str, str] = {str(status): str(label) for status, label in STAGES.items()}
    rows = []
    for incident in incidents:
        since, target = _clock(incident)
        stage = stages.get(incident.status, "")
        elapsed = max(0, int((now - since).total_seconds())) if since is not None else 0
        state = "none"
        if target is not None:
            state = "late" if elapsed > target else "warn" if elapsed >= WARN_SHARE * target else "ok"
        rows.append(BoardRow(incident, stage, since, target, elapsed, state, statuses.get(incident.status, ""),
                             categories.get(incident.category, "")))
    return rows


def _board_context(request: HttpRequest) -> dict[str, Any]:
    user = portal_user(request)
    rows = board_rows(selectors.board_incidents(user, limit=BOARD_ROWS), timezone.now())
    counts = selectors.status_counts(user)
    return {
        "rows": rows, "open_total": sum(counts.values()), "limit": BOARD_ROWS,
        "counts": [(workflow.IncidentStatus(s).label, n) for s, n in counts.items()],
        "units": [(workflow.UnitStatus(s).label, s, n) for s, n in selectors.unit_counts(user).items()],
        "awaiting_case": selectors.awaiting_case_count(user), "refresh": REFRESH_SECONDS,
        # Row links are built from these prefixes: reversing two URLs per row costs more than the rest of the row.
        "incident_base": reverse("dispatch:incident", kwargs={"pk": 0})[:-2],
        "panel_base": reverse("dispatch:board_panel", kwargs={"pk": 0})[:-2],
    }


@portal_view(Action.INCIDENT_DISPATCH)
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    form = IntakeForm()
    form.fields["content"].widget.attrs["accesskey"] = "n"
    return render(request, "dispatch/board.html", {
        **_shell(request), **_board_context(request), "form": form, "centre": selectors.home_centre(user),
        "map_text": {"units": {s.value: str(s.label) for s in workflow.UnitStatus},
                     "incident": _("警情"), "unit": _("巡逻组")},
    })


@portal_view(Action.INCIDENT_DISPATCH)
@require_GET
def board_incidents(request: HttpRequest) -> HttpResponse:
    """The polled part of the board: counts and the open incidents."""
    return render(request, "dispatch/_board_incidents.html", _board_context(request))


@portal_view(Action.INCIDENT_DISPATCH)
@require_GET
def board_grids(request: HttpRequest) -> JsonResponse:
    """The grid polygons of the actor's area as GeoJSON, drawn once as the map."""
    features = [{"type": "Feature", "properties": {"name": name, "code": code}, "geometry": geometry}
                for code, name, geometry in selectors.board_grids(portal_user(request))]
    return JsonResponse({"type": "FeatureCollection", "features": features})


@portal_view(Action.INCIDENT_DISPATCH)
@require_GET
def board_positions(request: HttpRequest) -> JsonResponse:
    """Units and open incidents as points, polled by the map: [lon, lat, status, label, id]."""
    user = portal_user(request)
    units = [[lon, lat, status, sign, pk] for pk, sign, status, lat, lon in selectors.patrol_units(user).filter(
        lat__isnull=False).values_list("pk", "call_sign", "status", "lat", "lon")]
    placed = selectors.open_incidents(user).filter(lat__isnull=False, lon__isnull=False).order_by("-received_at")
    incidents = [[lon, lat, priority or suggested or 0, number, pk] for pk, number, lat, lon, priority, suggested
                 in placed.values_list("pk", "number", "lat", "lon", "priority", "suggested_priority")[
                     :selectors.BOARD_LIMIT]]
    return JsonResponse({"units": units, "incidents": incidents})


def _panel(request: HttpRequest, incident: Incident, *, errors: list[str] | None = None,
           status: int = 200, refresh: bool = False) -> HttpResponse:
    user = portal_user(request)
    may_dispatch = access.can(user, Action.INCIDENT_DISPATCH, incident.unit)
    working = incident.status in (IncidentStatus.CLASSIFIED, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE)
    suggested = incident.category or incident.suggested_category
    kind = f"{suggested}:{incident.subcategory or incident.suggested_subcategory}" if suggested else None
    response = render(request, "dispatch/_board_panel.html", {
        "incident": incident, "errors": errors or [], "may_dispatch": may_dispatch, "working": working,
        "recommendations": selectors.recommend_units(user, incident) if may_dispatch and working else [],
        "assignments": list(selectors.incident_assignments(incident)),
        "classify_form": ClassifyForm(initial={"kind": kind,
                                               "priority": incident.priority or incident.suggested_priority}),
        "suggested_label": classifier.subcategory_label(incident.suggested_category,
                                                        incident.suggested_subcategory),
    }, status=status)
    if refresh:
        response["HX-Trigger"] = REFRESH_EVENT
    return response


@portal_view(Action.INCIDENT_DISPATCH)
@require_GET
def board_panel(request: HttpRequest, pk: int) -> HttpResponse:
    return _panel(request, _incident_or_404(portal_user(request), pk))


@portal_view(Action.INCIDENT_DISPATCH)
@require_POST
def board_call(request: HttpRequest) -> HttpResponse:
    """A call typed in on the board: the new (or joined) incident opens in the panel."""
    user = portal_user(request)
    form = IntakeForm(request.POST)
    centre = selectors.home_centre(user)
    if not form.is_valid():
        errors = [f"{form.fields[name].label}：{' '.join(str(m) for m in found)}" if name in form.fields
                  else " ".join(str(m) for m in found) for name, found in form.errors.items()]
        return render(request, "dispatch/_board_errors.html", {"errors": errors}, status=400)
    if centre is None:
        return render(request, "dispatch/_board_errors.html",
                      {"errors": [_("你的账号不属于任何市的110指挥中心，不能在此接警。")]}, status=400)
    data = form.cleaned_data
    try:
        taken = services.call_receive(actor=user, centre=centre, channel=CallChannel.DISPATCHER,
                                      content=data["content"], caller_number=data["caller_number"],
                                      address=data["address"], lat=data["lat"], lon=data["lon"])
    except ServiceError as exc:
        return render(request, "dispatch/_board_errors.html", {"errors": [str(exc)]}, status=400)
    return _panel(request, selectors.incident_get(user, taken.incident.pk), refresh=True)


@portal_view(Action.INCIDENT_DISPATCH)
@require_POST
def board_classify(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    form = ClassifyForm(request.POST)
    if not form.is_valid():
        return _panel(request, found, errors=[_("请选择警情类别和等级。")], status=400)
    category, subcategory = form.category_and_subcategory()
    try:
        services.incident_classify(actor=user, incident=found, category=category, subcategory=subcategory,
                                   priority=form.cleaned_data["priority"])
    except ServiceError as exc:
        return _panel(request, selectors.incident_get(user, pk), errors=[str(exc)], status=409)
    return _panel(request, selectors.incident_get(user, pk), refresh=True)


@portal_view(Action.INCIDENT_DISPATCH)
@require_POST
def board_dispatch(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    raw = request.POST.get("patrol_unit") or ""
    unit = selectors.patrol_units(user).filter(pk=int(raw)).first() if raw.isdigit() else None
    if unit is None:
        raise Http404(_("没有这个巡逻组。"))
    try:
        services.unit_dispatch(actor=user, incident=found, patrol_unit=unit)
    except ServiceError as exc:  # taken a moment ago by another dispatcher, or the incident moved on
        return _panel(request, selectors.incident_get(user, pk), errors=[str(exc)], status=409, refresh=True)
    return _panel(request, selectors.incident_get(user, pk), refresh=True)
