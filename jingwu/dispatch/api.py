"""The 110 dispatch API: call intake for telephony, position pings for vehicle terminals, the
agencies' feedback on diverted calls, and the dispatcher's work (classify, recommend,
dispatch, unit status, result), timing figures and the NENA EIDO export.

Thin: the schema checks the shape, services and selectors do the rest. A bad value answers
400 {detail, field, code: "invalid"}; a state conflict (the unit was taken a moment ago,
the incident is already closed) answers 409 {detail, field, code: "conflict"}."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, Literal

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status

from jingwu.core import access
from jingwu.core.access import Action
from jingwu.core.api import ErrorOut
from jingwu.core.api_auth import BearerTokenAuth, SessionAuth
from jingwu.core.models import Unit, User
from jingwu.core.services import ServiceError
from jingwu.dispatch import classifier, locating, selectors, services
from jingwu.dispatch.models import Assignment, Call, CallChannel, Diversion, Incident, PatrolUnit
from jingwu.dispatch.services import DispatchConflict

router = Router(tags=["dispatch"])

CALLS_AUTH = [BearerTokenAuth(scope="dispatch.calls"), SessionAuth()]
POSITIONS_AUTH = [BearerTokenAuth(scope="dispatch.positions"), SessionAuth()]
MAX_ID = 2**63 - 1
MAX_LIST = 200
_ID = Path(..., ge=1, le=MAX_ID)  # a database id is a signed 64-bit integer


class SuggestionOut(Schema):
    category: str = Field(description="empty when no rule matched")
    subcategory: str
    priority: int | None
    rule: str
    version: str


class CallIn(Schema):
    content: str = Field(description="what the caller said (as transcribed)", max_length=10_000)
    caller_number: str = Field("", max_length=64, description="empty when withheld")
    received_at: dt.datetime | None = Field(None, description="when the call rang, with a time zone; default now")
    answered_at: dt.datetime | None = Field(None, description="when it was answered, with a time zone")
    lat: float | None = Field(None, description="caller location, WGS 84")
    lon: float | None = None
    address: str = Field("", max_length=1000, description="the address as told or given by the network")
    external_id: str | None = Field(None, max_length=200,
                                    description="the telephony system's call id: sending it again returns the "
                                                "first answer and writes nothing")
    centre: str | None = Field(None, max_length=32,
                               description="code of the city whose 110 centre took the call; default: the "
                                           "city of the sending account's unit")


class CallOut(Schema):
    call_id: int
    incident_id: int
    incident_number: str
    repeat: bool = Field(description="the call joined an open incident about the same event")
    replayed: bool
    suggestion: SuggestionOut
    located_by: str
    unit_code: str
    grid_code: str
    station_code: str


class CallDetailOut(Schema):
    id: int
    channel: str
    caller_number_masked: str
    received_at: dt.datetime
    answered_at: dt.datetime | None
    lat: float | None
    lon: float | None
    address: str
    content: str
    repeat: bool
    repeat_reason: str
    suggestion: SuggestionOut


class IncidentOut(Schema):
    id: int
    number: str
    status: str
    category: str
    subcategory: str
    priority: int | None
    suggestion: SuggestionOut
    corrected: bool | None
    summary: str
    address: str
    lat: float | None
    lon: float | None
    located_by: str
    unit_code: str
    grid_code: str
    station_code: str
    county_code: str
    centre_code: str
    received_at: dt.datetime
    answered_at: dt.datetime | None
    classified_at: dt.datetime | None
    diverted_at: dt.datetime | None
    dispatched_at: dt.datetime | None
    arrived_at: dt.datetime | None
    cleared_at: dt.datetime | None
    closed_at: dt.datetime | None
    result: str
    result_text: str
    case_reference: str
    merged_into: str


class AssignmentOut(Schema):
    id: int
    incident_number: str
    patrol_unit: str
    dispatched_at: dt.datetime
    distance_m: float | None
    eta_seconds: float | None
    en_route_at: dt.datetime | None
    arrived_at: dt.datetime | None
    ended_at: dt.datetime | None
    end: str


class DiversionOut(Schema):
    id: int
    incident_number: str
    kind: str
    agency: str
    rule: str
    status: str
    note: str
    sent_at: dt.datetime
    agency_reference: str
    feedback: str
    feedback_at: dt.datetime | None


class IncidentDetailOut(IncidentOut):
    calls: list[CallDetailOut]
    assignments: list[AssignmentOut]
    diversions: list[DiversionOut]


class ClassificationIn(Schema):
    category: str
    subcategory: str
    priority: int


class LocationIn(Schema):
    lat: float | None = None
    lon: float | None = None
    address: str = Field("", max_length=1000)


class RecommendationOut(Schema):
    patrol_unit: str
    name: str
    station_code: str
    station_name: str
    tier: str = Field(description="grid / station: the incident's own; nearby: by distance")
    straight_m: float
    road_m: float
    eta_seconds: float
    lat: float
    lon: float
    position_at: dt.datetime | None


class DispatchIn(Schema):
    patrol_unit: str = Field(max_length=64, description="the unit's call sign")


class ResultIn(Schema):
    result: str
    text: str = Field("", max_length=5000)


class DivertIn(Schema):
    agency: str
    note: str = Field("", max_length=2000)


class FeedbackIn(Schema):
    status: Literal["accepted", "done", "refused"]
    feedback: str = Field("", max_length=5000)
    agency_reference: str = Field("", max_length=200)


class LinkIn(Schema):
    incident: str = Field(max_length=32, description="the incident number to move the call onto")


class PatrolUnitOut(Schema):
    id: int
    call_sign: str
    name: str
    station_code: str
    grid_code: str
    kind: str
    vehicle_plate: str
    status: str
    status_at: dt.datetime
    incident_number: str
    lat: float | None
    lon: float | None
    position_at: dt.datetime | None
    shift_label: str


class UnitEventIn(Schema):
    event: str = Field(description="en_route, arrive, clear, recall, available or out_of_service")


class PingIn(Schema):
    call_sign: str = Field(max_length=64)
    lat: float
    lon: float
    at: dt.datetime


class PingsIn(Schema):
    pings: list[PingIn] = Field(min_length=1, max_length=services.MAX_PINGS)


class PingsOut(Schema):
    updated: int
    stale: int
    unknown: list[str]
    refused: list[str]


class TimingOut(Schema):
    interval: str
    group: str
    count: int
    p50: float
    p90: float
    p95: float
    max: float
    target_seconds: float | None
    target_share: float | None
    share_within: float | None
    meets_target: bool | None


class RuleFeedbackOut(Schema):
    version: str
    rule: str
    confirmed: int
    corrected: int
    category_changed: int
    subcategory_changed: int
    priority_changed: int
    corrections: list[tuple[str, str, int]]


class SummaryOut(Schema):
    incidents_by_status: dict[str, int]
    units_by_status: dict[str, int]
    awaiting_case: int


# --- plumbing ----------------------------------------------------------------------------------------

def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def conflicts_as_409(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer a DispatchConflict with 409 and the same structured body as a 400."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DispatchConflict as exc:
            return Status(409, {"detail": str(exc), "field": exc.field, "code": "conflict"})

    return wrapper


def _reader(request: HttpRequest) -> User:
    """The actor, who must be able to read incidents somewhere (feeds-only accounts cannot)."""
    actor = _actor(request)
    access.check(actor, Action.INCIDENT_RECORD, object_type="api", object_id=request.path, request=request)
    return actor


def _incident(request: HttpRequest, incident_id: int) -> Incident:
    try:
        return selectors.incident_get(_actor(request), incident_id)
    except Incident.DoesNotExist:
        raise Http404("no such incident") from None


def _call(actor: User, call_id: int) -> Call | None:
    try:
        return selectors.incident_call(actor, call_id)
    except Call.DoesNotExist:
        return None


def _suggestion(obj: Incident | Call) -> SuggestionOut:
    return SuggestionOut(category=obj.suggested_category, subcategory=obj.suggested_subcategory,
                         priority=obj.suggested_priority, rule=obj.classifier_rule, version=obj.classifier_version)


def _incident_out(i: Incident, cls: type[IncidentOut] = IncidentOut, **extra: Any) -> Any:
    return cls(
        id=i.pk, number=i.number, status=i.status, category=i.category, subcategory=i.subcategory, priority=i.priority,
        suggestion=_suggestion(i), corrected=i.corrected, summary=i.summary, address=i.address, lat=i.lat, lon=i.lon,
        located_by=i.located_by, unit_code=i.unit.code, grid_code=i.grid.code if i.grid else "",
        station_code=i.station.code if i.station else "", county_code=i.county.code if i.county else "",
        centre_code=i.centre.code, received_at=i.received_at, answered_at=i.answered_at,
        classified_at=i.classified_at, diverted_at=i.diverted_at, dispatched_at=i.dispatched_at,
        arrived_at=i.arrived_at, cleared_at=i.cleared_at, closed_at=i.closed_at, result=i.result,
        result_text=i.result_text, case_reference=i.case_reference,
        merged_into=i.merged_into.number if i.merged_into else "", **extra)


def _assignment_out(a: Assignment, number: str) -> AssignmentOut:
    return AssignmentOut(id=a.pk, incident_number=number, patrol_unit=a.patrol_unit.call_sign,
                         dispatched_at=a.dispatched_at, distance_m=a.distance_m, eta_seconds=a.eta_seconds,
                         en_route_at=a.en_route_at, arrived_at=a.arrived_at, ended_at=a.ended_at, end=a.end)


def _diversion_out(d: Diversion, number: str) -> DiversionOut:
    return DiversionOut(id=d.pk, incident_number=number, kind=d.kind, agency=d.agency, rule=d.rule, status=d.status,
                        note=d.note, sent_at=d.sent_at, agency_reference=d.agency_reference, feedback=d.feedback,
                        feedback_at=d.feedback_at)


def _unit_out(u: PatrolUnit) -> PatrolUnitOut:
    return PatrolUnitOut(id=u.pk, call_sign=u.call_sign, name=u.name, station_code=u.station.code,
                         grid_code=u.grid.code if u.grid else "", kind=u.kind, vehicle_plate=u.vehicle_plate,
                         status=u.status, status_at=u.status_at,
                         incident_number=u.incident.number if u.incident else "", lat=u.lat, lon=u.lon,
                         position_at=u.position_at, shift_label=u.shift_label)


def _centre(actor: User, code: str | None) -> Unit:
    centre = locating.city(code) if code else selectors.home_centre(actor)
    if centre is None:
        raise ServiceError("no such city" if code else "name the centre: this account's unit lies in no city",
                           field="centre")
    return centre


# --- intake --------------------------------------------------------------------------------------------

@router.post("/calls", auth=CALLS_AUTH, response={201: CallOut, 200: CallOut, 400: ErrorOut, 403: ErrorOut},
             url_name="dispatch_call_receive", summary="A call into the 110 centre (telephony integration)")
def call_receive(request: HttpRequest, payload: CallIn) -> Any:
    """Classified, located (coordinates → grid, else the address's division) and either joined to
    the open incident it repeats or opened as a new numbered incident. 201 for a new call, 200
    when `external_id` was seen before (nothing written)."""
    actor = _actor(request)
    intake = services.call_receive(
        actor=actor, centre=_centre(actor, payload.centre), content=payload.content,
        received_at=payload.received_at, answered_at=payload.answered_at, caller_number=payload.caller_number,
        lat=payload.lat, lon=payload.lon, address=payload.address, external_id=payload.external_id,
        channel=CallChannel.TELEPHONY)
    incident, call = intake.incident, intake.call
    body = CallOut(call_id=call.pk, incident_id=incident.pk, incident_number=incident.number, repeat=intake.repeat,
                   replayed=intake.replayed, suggestion=_suggestion(call), located_by=incident.located_by,
                   unit_code=incident.unit.code, grid_code=incident.grid.code if incident.grid else "",
                   station_code=incident.station.code if incident.station else "")
    return Status(200 if intake.replayed else 201, body)


@router.post("/calls/{call_id}/split", response={201: IncidentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                                                  409: ErrorOut},
             url_name="dispatch_call_split", summary="Take a call off its incident into a new incident")
@conflicts_as_409
def call_split(request: HttpRequest, call_id: int = _ID) -> Any:
    actor = _actor(request)
    call = _call(actor, call_id)
    if call is None:
        raise Http404("no such call")
    incident = services.call_split(actor=actor, call_id=call.pk)
    return Status(201, _incident_out(incident))


@router.post("/calls/{call_id}/link", response={200: IncidentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                                                 409: ErrorOut},
             url_name="dispatch_call_link", summary="Move a call onto another incident (a repeat call)")
@conflicts_as_409
def call_link(request: HttpRequest, payload: LinkIn, call_id: int = _ID) -> Any:
    actor = _actor(request)
    call = _call(actor, call_id)
    try:
        target = selectors.incident_by_number(actor, payload.incident)
    except Incident.DoesNotExist:
        target = None
    if call is None or target is None:
        raise Http404("no such call or incident")
    return _incident_out(services.call_link(actor=actor, call_id=call.pk, incident=target))


# --- incidents ----------------------------------------------------------------------------------------

@router.get("/incidents", response=list[IncidentOut], url_name="dispatch_incidents",
            summary="Incidents you see, newest first")
def incident_list(request: HttpRequest, status: str | None = None, open: bool = False,
                  limit: int = Query(50, ge=1, le=MAX_LIST), offset: int = Query(0, ge=0)) -> Any:
    actor = _reader(request)
    queryset = selectors.open_incidents(actor) if open else selectors.incidents(actor)
    if status:
        queryset = queryset.filter(status=status)
    return [_incident_out(i) for i in queryset.select_related("merged_into")[offset:offset + limit]]


@router.get("/incidents/{incident_id}", response={200: IncidentDetailOut, 404: ErrorOut},
            url_name="dispatch_incident", summary="An incident with its calls (numbers masked), units and diversions")
def incident_detail(request: HttpRequest, incident_id: int = _ID) -> Any:
    incident = _incident(request, incident_id)
    calls = [CallDetailOut(id=c.pk, channel=c.channel, caller_number_masked=selectors.mask_number(c.caller_number),
                           received_at=c.received_at, answered_at=c.answered_at, lat=c.lat, lon=c.lon,
                           address=c.address, content=c.content, repeat=c.repeat, repeat_reason=c.repeat_reason,
                           suggestion=_suggestion(c)) for c in selectors.incident_calls(incident)]
    assignments = [_assignment_out(a, incident.number) for a in selectors.incident_assignments(incident)]
    diversions = [_diversion_out(d, incident.number) for d in selectors.incident_diversions(incident)]
    return _incident_out(incident, IncidentDetailOut, calls=calls, assignments=assignments, diversions=diversions)


@router.post("/incidents/{incident_id}/classification",
             response={200: IncidentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             url_name="dispatch_classify", summary="Confirm or correct category, subcategory and priority")
@conflicts_as_409
def incident_classify(request: HttpRequest, payload: ClassificationIn, incident_id: int = _ID) -> Any:
    incident = services.incident_classify(actor=_actor(request), incident=_incident(request, incident_id),
                                          category=payload.category, subcategory=payload.subcategory,
                                          priority=payload.priority)
    return _incident_out(incident)


@router.post("/incidents/{incident_id}/location",
             response={200: IncidentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             url_name="dispatch_relocate", summary="Correct where the incident is")
@conflicts_as_409
def incident_relocate(request: HttpRequest, payload: LocationIn, incident_id: int = _ID) -> Any:
    incident = services.incident_relocate(actor=_actor(request), incident=_incident(request, incident_id),
                                          lat=payload.lat, lon=payload.lon, address=payload.address)
    return _incident_out(incident)


@router.get("/incidents/{incident_id}/recommendations", response={200: list[RecommendationOut], 403: ErrorOut,
                                                                   404: ErrorOut},
            url_name="dispatch_recommendations", summary="The best available units, with distance and arrival")
def incident_recommendations(request: HttpRequest, incident_id: int = _ID,
                             limit: int = Query(5, ge=1, le=50)) -> Any:
    incident = _incident(request, incident_id)
    return [RecommendationOut(patrol_unit=r.call_sign, name=r.name, station_code=r.station_code,
                              station_name=r.station_name, tier=r.tier, straight_m=round(r.straight_m, 1),
                              road_m=round(r.road_m, 1), eta_seconds=round(r.eta_seconds, 1), lat=r.lat, lon=r.lon,
                              position_at=r.position_at)
            for r in selectors.recommend_units(_actor(request), incident, limit=limit)]


@router.post("/incidents/{incident_id}/assignments",
             response={201: AssignmentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             url_name="dispatch_assign", summary="Dispatch a unit (409 when it was taken meanwhile)")
@conflicts_as_409
def incident_assign(request: HttpRequest, payload: DispatchIn, incident_id: int = _ID) -> Any:
    actor = _actor(request)
    incident = _incident(request, incident_id)
    unit = selectors.patrol_units(actor).filter(call_sign=payload.patrol_unit).first()
    if unit is None:
        raise ServiceError("no patrol unit with this call sign", field="patrol_unit")
    assignment = services.unit_dispatch(actor=actor, incident=incident, patrol_unit=unit)
    assignment.patrol_unit = unit
    return Status(201, _assignment_out(assignment, incident.number))


@router.post("/incidents/{incident_id}/result",
             response={200: IncidentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             url_name="dispatch_result", summary="The handling result: close, refer, or hand to case handling")
@conflicts_as_409
def incident_result(request: HttpRequest, payload: ResultIn, incident_id: int = _ID) -> Any:
    incident = services.incident_record_result(actor=_actor(request), incident=_incident(request, incident_id),
                                               result=payload.result, text=payload.text)
    return _incident_out(incident)


@router.post("/incidents/{incident_id}/diversions",
             response={201: DiversionOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             url_name="dispatch_divert", summary="Transfer the incident to another agency (分流)")
@conflicts_as_409
def incident_divert(request: HttpRequest, payload: DivertIn, incident_id: int = _ID) -> Any:
    incident = _incident(request, incident_id)
    record = services.incident_divert(actor=_actor(request), incident=incident, agency=payload.agency,
                                      note=payload.note)
    return Status(201, _diversion_out(record, incident.number))


@router.post("/incidents/{incident_id}/handoff", response={200: IncidentOut, 403: ErrorOut, 404: ErrorOut,
                                                           409: ErrorOut},
             url_name="dispatch_handoff_retry", summary="Offer an incident awaiting case handling again")
@conflicts_as_409
def incident_handoff_retry(request: HttpRequest, incident_id: int = _ID) -> Any:
    incident = services.incident_handoff_retry(actor=_actor(request), incident=_incident(request, incident_id))
    return _incident_out(incident)


@router.get("/incidents/{incident_id}/eido", response={200: dict[str, Any], 403: ErrorOut, 404: ErrorOut},
            url_name="dispatch_eido", summary="The incident as NENA EIDO JSON")
def incident_eido(request: HttpRequest, incident_id: int = _ID, with_callers: bool = False) -> Any:
    """Caller numbers are included only with `with_callers=true`, which needs a stated purpose
    of access (403 purpose_required otherwise) and is audited."""
    try:
        return selectors.incident_eido(_actor(request), incident_id, with_callers=with_callers, request=request)
    except Incident.DoesNotExist:
        raise Http404("no such incident") from None


@router.post("/diversions/{diversion_id}/feedback", auth=CALLS_AUTH,
             response={200: DiversionOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             url_name="dispatch_diversion_feedback", summary="The receiving agency's answer on a diverted call")
@conflicts_as_409
def diversion_feedback(request: HttpRequest, payload: FeedbackIn, diversion_id: int = _ID) -> Any:
    """404 alike for an unknown diversion and for one outside the sender's area (access is
    checked before existence is told)."""
    try:
        found = selectors.diversion_for_feedback(_actor(request), diversion_id, request=request)
    except Diversion.DoesNotExist:
        raise Http404("no such diversion") from None
    record = services.diversion_feedback(actor=_actor(request), diversion_id=found.pk, status=payload.status,
                                         feedback=payload.feedback, agency_reference=payload.agency_reference)
    return _diversion_out(record, record.incident.number)


# --- patrol units ------------------------------------------------------------------------------------

@router.get("/patrol-units", response=list[PatrolUnitOut], url_name="dispatch_patrol_units",
            summary="Patrol units you see, by call sign")
def patrol_unit_list(request: HttpRequest, status: str | None = None,
                     limit: int = Query(MAX_LIST, ge=1, le=5000), offset: int = Query(0, ge=0)) -> Any:
    units = selectors.patrol_units(_reader(request), status=status)[offset:offset + limit]
    return [_unit_out(u) for u in units]


@router.post("/patrol-units/positions", auth=POSITIONS_AUTH, response={200: PingsOut, 400: ErrorOut, 403: ErrorOut},
             url_name="dispatch_positions", summary="Position pings from vehicle terminals")
def patrol_unit_positions(request: HttpRequest, payload: PingsIn) -> Any:
    actor = _actor(request)
    if not (access.can(actor, Action.POSITION_REPORT) or access.can(actor, Action.INCIDENT_RECORD)):
        access.deny(actor, Action.POSITION_REPORT, object_type="patrol_unit", request=request)
    report = services.unit_positions_report(actor=actor, pings=[
        services.PositionPing(p.call_sign, p.lat, p.lon, p.at) for p in payload.pings])
    return PingsOut(updated=report.updated, stale=report.stale, unknown=report.unknown, refused=report.refused)


@router.post("/patrol-units/{call_sign}/status",
             response={200: PatrolUnitOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             url_name="dispatch_unit_status", summary="A unit's status event (en route, arrive, clear …)")
@conflicts_as_409
def patrol_unit_status(request: HttpRequest, call_sign: str, payload: UnitEventIn) -> Any:
    actor = _actor(request)
    unit = selectors.patrol_units(actor).filter(call_sign=call_sign).first()
    if unit is None:
        raise Http404("no such patrol unit")
    services.unit_transition(actor=actor, patrol_unit=unit, event=payload.event)
    return _unit_out(selectors.patrol_units(actor).get(pk=unit.pk))


# --- figures -------------------------------------------------------------------------------------------

@router.get("/dispatch/summary", response=SummaryOut, url_name="dispatch_summary",
            summary="Open incidents and patrol units by status, and incidents awaiting case handling")
def summary(request: HttpRequest) -> Any:
    actor = _reader(request)
    return SummaryOut(incidents_by_status=selectors.status_counts(actor),
                      units_by_status=selectors.unit_counts(actor), awaiting_case=selectors.awaiting_case_count(actor))


@router.get("/dispatch/timing", response={200: list[TimingOut], 400: ErrorOut}, url_name="dispatch_timing",
            summary="Percentiles of answer, classification, processing, arrival and clearance times")
def timing_figures(request: HttpRequest, since: dt.datetime, until: dt.datetime | None = None,
                   group_by: Literal["all", "priority", "area"] = "all") -> Any:
    if timezone.is_naive(since) or (until is not None and timezone.is_naive(until)):
        raise ServiceError("times must carry a time zone", field="since")
    stats = selectors.timing_report(_reader(request), since=since, until=until or timezone.now(), group_by=group_by)
    return [TimingOut(**vars(s)) for s in stats]


@router.get("/dispatch/classifier", response=list[RuleFeedbackOut], url_name="dispatch_classifier_feedback",
            summary="Per classifier rule: confirmations and the dispatchers' corrections")
def classifier_feedback(request: HttpRequest, version: str | None = None) -> Any:
    return [RuleFeedbackOut(**vars(f)) for f in selectors.classification_corrections(_reader(request),
                                                                                      version=version)]


@router.get("/dispatch/categories", response=list[tuple[str, str]], url_name="dispatch_categories",
            summary="category:subcategory codes and their names")
def categories(request: HttpRequest) -> Any:
    return classifier.subcategory_choices()
