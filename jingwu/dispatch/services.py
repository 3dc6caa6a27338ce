"""Every write of 110 dispatch. Each service is one transaction with one audit entry.

Locking: a service that touches an incident and patrol units locks the incident row
first and the unit rows after it (units in id order), so two services never wait on
each other in opposite orders. Dispatching selects the unit FOR UPDATE and checks its
status inside the transaction: of two dispatchers sending the same unit, the second
finds it taken and gets `UnitUnavailable` (the API answers 409). On SQLite the
IMMEDIATE transactions serialise writers to the same effect.

Every service takes `at` (default: now) so a simulator or an import can replay events
at their own times; times must be timezone-aware.

Callers (pages, API, the simulator, the benchmark) use:
  call_receive, incident_classify, incident_relocate, incident_divert, diversion_feedback,
  call_split, call_link, unit_dispatch, unit_transition, unit_positions_report,
  incident_record_result, incident_case_accepted, incident_handoff_retry, patrol_unit_create.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from jingwu.core import access, audit
from jingwu.core.access import Action
from jingwu.core.identifiers import clean_input, validate_phone
from jingwu.core.models import Unit, UnitKind, User
from jingwu.core.services import ServiceError
from jingwu.dispatch import classifier, diversion, handoff, locating, workflow
from jingwu.dispatch.distance import cell_of, eta_seconds, haversine_m, road_m
from jingwu.dispatch.models import (
    Assignment,
    AssignmentEnd,
    Call,
    CallChannel,
    Diversion,
    DiversionStatus,
    Incident,
    IncidentResult,
    IncidentSequence,
    PatrolKind,
    PatrolMember,
    PatrolUnit,
    UnitStatusChange,
)
from jingwu.dispatch.workflow import IncidentStatus, MoveRefused, UnitStatus

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

MAX_CONTENT = 2000
MAX_ADDRESS = 255
MAX_RESULT_TEXT = 1000
MAX_EXTERNAL_ID = 64
MAX_PINGS = 5000
# Clocks of outside systems run a little ahead; further ahead than this is an error.
CLOCK_TOLERANCE = timedelta(minutes=5)
# Statuses of an incident a repeat call may join.
JOINABLE = frozenset({IncidentStatus.RECEIVED, IncidentStatus.CLASSIFIED, IncidentStatus.DIVERTED,
                      IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE})
# Results that say someone was there.
_ATTENDED_RESULTS = frozenset({IncidentResult.HANDLED, IncidentResult.MEDIATED, IncidentResult.NO_FINDING})


class DispatchConflict(ServiceError):
    """Refused because of the current state of things (another dispatcher got there first, the
    incident is already closed …): the API answers 409, and trying again after a reload may work."""


class UnitUnavailable(DispatchConflict):
    """The patrol unit is not free to be dispatched."""


# --- small checks ------------------------------------------------------------------------------

def _now(at: datetime | None, name: str = "at") -> datetime:
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise ServiceError(_("时间必须带时区。"), field=name)
    return at


def _not_future(value: datetime, name: str) -> None:
    if value > timezone.now() + CLOCK_TOLERANCE:
        raise ServiceError(_("时间晚于当前时间。"), field=name)


def _text(value: str, name: str, limit: int, *, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ServiceError(_("不能为空。"), field=name)
    if len(value) > limit:
        raise ServiceError(_("不能超过 %(limit)d 个字。") % {"limit": limit}, field=name)
    if "\x00" in value:
        raise ServiceError(_("含有不可见的空字符。"), field=name)
    return value


def _point(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    if (lat is None) != (lon is None):
        raise ServiceError(_("经度和纬度必须同时提供。"), field="lat" if lat is None else "lon")
    if lat is None or lon is None:
        return None, None
    for name, value, bound in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) \
                or not -bound <= value <= bound:
            raise ServiceError(_("坐标超出范围。"), field=name)
    return float(lat), float(lon)


def caller_number_normalize(raw: str) -> str:
    """E.164 for a CN mobile number; digits (with a leading + kept) for landlines and
    numbers from abroad; "" for a withheld number."""
    value = clean_input(raw or "")
    if not value:
        return ""
    checked = validate_phone(value)
    if checked.valid and checked.e164:
        return checked.e164
    digits = value[1:] if value.startswith("+") else value
    if not digits.isascii() or not digits.isdigit() or not 3 <= len(digits) <= 20:
        raise ServiceError(_("来电号码只能由数字组成（3 至 20 位，可带 +）。"), field="caller_number")
    return value


def _allowed(actor: User | None, actions: Sequence[str], unit: Unit, *, object_type: str,
             object_id: str | int) -> None:
    """The actor holds one of `actions` over `unit` (None is the system itself: seeding, tests)."""
    if actor is None:
        return
    if not any(access.can(actor, action, unit) for action in actions):
        access.deny(actor, actions[0], unit, object_type=object_type, object_id=object_id)


def _lock_incident(incident: Incident | int) -> Incident:
    pk = incident if isinstance(incident, int) else incident.pk
    # of=self: lock the incident row only, not the units joined in for reading.
    return Incident.objects.select_for_update(of=("self",)).select_related("unit", "centre", "grid",
                                                                            "station").get(pk=pk)


def _incident_move(incident: Incident, event: str) -> workflow.Move:
    try:
        return workflow.incident_move(event, incident.status)
    except MoveRefused:
        raise DispatchConflict(
            _("警情 %(number)s 当前为“%(status)s”，不能进行此操作。")
            % {"number": incident.number, "status": IncidentStatus(incident.status).label},
            field="status") from None


def _touch(incident: Incident, now: datetime, fields: Iterable[str]) -> None:
    incident.updated_at = now
    incident.save(update_fields=[*fields, "updated_at"])


# --- numbers -------------------------------------------------------------------------------------

def _next_number(centre: Unit, at: datetime) -> str:
    """J + the centre's division code + the local date + a 5-digit serial (J37010020261129 00001).
    The sequence row is locked (by the UPDATE, or FOR UPDATE the first time in a day), so
    concurrent intakes never share a number."""
    code = centre.division_code or centre.code
    day = timezone.localdate(at)
    table = connection.ops.quote_name(IncidentSequence._meta.db_table)
    # One statement instead of a locking read and a write; every call of the day after the first takes this way.
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET last = last + 1 WHERE centre_code = %s AND day = %s "  # noqa: S608
                       "RETURNING last", [code, connection.ops.adapt_datefield_value(day)])
        row = cursor.fetchone()
    if row is not None:
        return f"J{code}{day:%Y%m%d}{int(row[0]):05d}"
    seq, _created = IncidentSequence.objects.select_for_update().get_or_create(centre_code=code, day=day)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"J{code}{day:%Y%m%d}{seq.last:05d}"


# --- intake ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallIntake:
    call: Call
    incident: Incident
    repeat: bool  # joined an incident that already existed
    replayed: bool  # this external id was seen before: nothing was written


def _repeat_of(*, received_at: datetime, lat: float | None, lon: float | None, caller: str,
               category: str, station: Unit | None, address: str) -> tuple[int, str] | None:
    """The open incident this call is most likely about, and why; None for a new event.

    Same place: within JINGWU_DISPATCH_REPEAT_METRES when both have coordinates, else the same
    address in the same station's area. Or the same caller calling back. Always within
    JINGWU_DISPATCH_REPEAT_MINUTES of the incident's first call, with a compatible category;
    the place wins over the caller.

    One statement: a SELECT per way of matching joined by UNION ALL, so each uses its own index
    (the place: status and latitude; the caller: the calls' number and time). Plain SQL for the
    reason `selectors._available_rows` gives: every call pays for it, and building it through
    the ORM cost several times the query itself."""
    since = received_at - timedelta(minutes=settings.JINGWU_DISPATCH_REPEAT_MINUTES)
    metres = settings.JINGWU_DISPATCH_REPEAT_METRES
    ops = connection.ops
    incidents, calls = (ops.quote_name(m._meta.db_table) for m in (Incident, Call))
    columns = "i.id, i.lat, i.lon, i.station_id, i.address, i.category, i.suggested_category"
    recent = (f"i.status IN ({', '.join(['%s'] * len(JOINABLE))}) AND i.received_at >= %s "
              "AND i.received_at <= %s")
    recent_params = [*sorted(JOINABLE), ops.adapt_datetimefield_value(since),
                     ops.adapt_datetimefield_value(received_at + CLOCK_TOLERANCE)]
    parts: list[str] = []
    params: list[Any] = []
    if lat is not None and lon is not None:
        dlat = metres / 111_000 * 1.01
        dlon = dlat / max(0.05, math.cos(math.radians(lat)))
        parts.append(f"SELECT {columns}, 0 FROM {incidents} i WHERE {recent} "  # noqa: S608  (placeholders only)
                     "AND i.lat BETWEEN %s AND %s AND i.lon BETWEEN %s AND %s")
        params += [*recent_params, lat - dlat, lat + dlat, lon - dlon, lon + dlon]
    elif address and station is not None:
        parts.append(f"SELECT {columns}, 0 FROM {incidents} i WHERE {recent} "  # noqa: S608
                     "AND i.station_id = %s AND i.lat IS NULL AND i.address = %s")
        params += [*recent_params, station.pk, address]
    if caller:
        # From the caller's calls to their incidents (a caller has few calls; a window has many incidents).
        parts.append(f"SELECT {columns}, 1 FROM {calls} c JOIN {incidents} i ON i.id = c.incident_id "  # noqa: S608
                     f"WHERE c.caller_number = %s AND c.received_at >= %s AND {recent}")
        params += [caller, ops.adapt_datetimefield_value(since), *recent_params]
    if not parts:
        return None
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    calling_back = {row[0] for row in rows if row[7]}
    near: list[tuple[float, int, str]] = []  # (metres, -id, reason): the nearest, then the newest
    by_caller: list[tuple[float, int, str]] = []
    for pk, ilat, ilon, istation, iaddress, cat, suggested, _flag in {row[0]: row for row in rows}.values():
        if not classifier.compatible(category, cat or suggested):
            continue
        if lat is not None and lon is not None:
            distance = haversine_m(lat, lon, ilat, ilon) if ilat is not None and ilon is not None else math.inf
            if distance <= metres:
                near.append((distance, -pk, "same_place"))
                continue
        elif station is not None and address and ilat is None and istation == station.pk and iaddress == address:
            near.append((0.0, -pk, "same_address"))
            continue
        if pk in calling_back:
            by_caller.append((0.0, -pk, "same_caller"))
    candidates = near or by_caller
    if not candidates:
        return None
    best = min(candidates)
    return -best[1], best[2]


@access.refusals_audited
def call_receive(*, actor: User | None, centre: Unit, content: str, received_at: datetime | None = None,
                 answered_at: datetime | None = None, caller_number: str = "", lat: float | None = None,
                 lon: float | None = None, address: str = "", external_id: str | None = None,
                 channel: str = CallChannel.TELEPHONY) -> CallIntake:
    """Take one call: classify its text, locate it, and either join the open incident it repeats
    or open a new numbered incident. Telephony (CALL_INTAKE) and dispatchers (INCIDENT_RECORD)
    both come here; the same `external_id` twice returns the first intake unchanged."""
    if channel not in CallChannel.values:
        raise ServiceError(_("未知的接入渠道。"), field="channel")
    action = Action.CALL_INTAKE if channel == CallChannel.TELEPHONY else Action.INCIDENT_RECORD
    _allowed(actor, (action,), centre, object_type="call", object_id=external_id or "")
    if centre.kind != UnitKind.CITY:
        raise ServiceError(_("接警中心必须是市公安局。"), field="centre")
    content = _text(content, "content", MAX_CONTENT, required=True)
    address = _text(address, "address", MAX_ADDRESS)
    lat, lon = _point(lat, lon)
    received = _now(received_at, "received_at")
    _not_future(received, "received_at")
    # A dispatcher typing a call in has answered it; telephony says when (or not yet).
    answered = _now(answered_at, "answered_at") if answered_at is not None else (
        received if channel == CallChannel.DISPATCHER else None)
    if answered is not None:
        _not_future(answered, "answered_at")
        if answered < received:
            raise ServiceError(_("接听时间早于来电时间。"), field="answered_at")
    caller = caller_number_normalize(caller_number)
    external = _text(external_id or "", "external_id", MAX_EXTERNAL_ID) or None
    # A call sent again (same external id) is found by the unique index refusing its second
    # insert, not by a lookup first: that lookup would cost every new call a query.
    suggestion = classifier.classify(content)
    where = locating.locate(lat=lat, lon=lon, address=address, centre=centre)
    try:
        return _call_store(actor=actor, centre=centre, content=content, received=received, answered=answered,
                           caller=caller, address=address, external=external, channel=channel,
                           suggestion=suggestion, where=where)
    except IntegrityError:
        if external is not None:  # this call was taken before (or a moment ago, by a twin request)
            replay = _replayed(external)
            if replay is not None:
                return replay
        raise


def _replayed(external_id: str) -> CallIntake | None:
    call = Call.objects.select_related("incident__unit").filter(external_id=external_id).first()
    if call is None:
        return None
    return CallIntake(call=call, incident=call.incident, repeat=call.repeat, replayed=True)


def _call_store(*, actor: User | None, centre: Unit, content: str, received: datetime,
                answered: datetime | None, caller: str, address: str, external: str | None, channel: str,
                suggestion: classifier.Suggestion, where: locating.Location) -> CallIntake:
    with transaction.atomic():
        joined = _repeat_of(received_at=received, lat=where.lat, lon=where.lon, caller=caller,
                            category=suggestion.category, station=where.station, address=address)
        incident: Incident | None = None
        reason = ""
        if joined is not None:
            incident = _lock_incident(joined[0])
            reason = joined[1]
            if incident.status not in JOINABLE:  # closed while we looked
                incident, reason = None, ""
        if incident is None:
            incident = Incident.objects.create(
                number=_next_number(centre, received), status=IncidentStatus.RECEIVED,
                suggested_category=suggestion.category, suggested_subcategory=suggestion.subcategory,
                suggested_priority=suggestion.priority, classifier_rule=suggestion.rule,
                classifier_version=suggestion.version, summary=content[:500], address=address,
                lat=where.lat, lon=where.lon, located_by=where.located_by, grid=where.grid,
                station=where.station, county=where.county, centre=centre, unit=where.unit,
                received_at=received, answered_at=answered, created_by=actor, updated_at=timezone.now())
        call = Call.objects.create(
            incident=incident, channel=channel, external_id=external, caller_number=caller, received_at=received,
            answered_at=answered, lat=where.lat, lon=where.lon, address=address, content=content,
            suggested_category=suggestion.category, suggested_subcategory=suggestion.subcategory,
            suggested_priority=suggestion.priority, classifier_rule=suggestion.rule,
            classifier_version=suggestion.version, repeat=bool(reason), repeat_reason=reason, taken_by=actor)
        if reason:  # a repeat call may have rung before the first one recorded (queued calls)
            incident.received_at = min(incident.received_at, received)
            if answered is not None:
                incident.answered_at = min(incident.answered_at or answered, answered)
            _touch(incident, timezone.now(), ["received_at", "answered_at"])
        audit.record(actor=actor, action="dispatch.call_receive", object_type="incident", object_id=incident.number,
                     unit_code=incident.unit.code,
                     details={"call": call.pk, "channel": channel, "repeat": reason, "rule": suggestion.rule,
                              "located_by": where.located_by, "external_id": external or ""})
    return CallIntake(call=call, incident=incident, repeat=bool(reason), replayed=False)


# --- classification and location -------------------------------------------------------------

def _validate_classification(category: str, subcategory: str, priority: int) -> None:
    if category not in classifier.Category.values:
        raise ServiceError(_("未知的警情类别。"), field="category")
    if subcategory not in classifier.SUBCATEGORIES[category]:
        raise ServiceError(_("该类别下没有这个细类。"), field="subcategory")
    if priority not in classifier.Priority.values:
        raise ServiceError(_("警情等级必须是 1 至 4。"), field="priority")


@access.refusals_audited
def incident_classify(*, actor: User | None, incident: Incident, category: str, subcategory: str,
                      priority: int, at: datetime | None = None) -> Incident:
    """Confirm or correct the suggested category, subcategory and priority. A correction is
    recorded against the classifier's rule; a category with a diversion rule is diverted
    (transfer, while no unit is out) or its agency notified, in the same transaction."""
    _validate_classification(category, subcategory, priority)
    now = _now(at)
    with transaction.atomic():
        locked = _lock_incident(incident)
        first = locked.status == IncidentStatus.RECEIVED
        move = _incident_move(locked, "classify" if first else "reclassify")
        _allowed(actor, move.actions, locked.unit, object_type="incident", object_id=locked.number)
        before = (locked.category, locked.subcategory, locked.priority)
        locked.category, locked.subcategory, locked.priority = category, subcategory, priority
        suggested = (locked.suggested_category, locked.suggested_subcategory, locked.suggested_priority)
        locked.corrected = suggested != (category, subcategory, priority)
        locked.status = move.target or locked.status
        if first:
            locked.classified_at = now
        _touch(locked, now, ["category", "subcategory", "priority", "corrected", "status", "classified_at"])
        diverted = _divert_by_rule(actor, locked, now) if before[:2] != (category, subcategory) else []
        audit.record(actor=actor, action="dispatch.incident_classify", object_type="incident",
                     object_id=locked.number, unit_code=locked.unit.code,
                     details={"category": category, "subcategory": subcategory, "priority": priority,
                              "before": list(before), "suggested": list(suggested), "corrected": locked.corrected,
                              "rule": locked.classifier_rule, "version": locked.classifier_version,
                              "diverted": diverted})
    return locked


def _divert_by_rule(actor: User | None, incident: Incident, now: datetime) -> list[str]:
    rule = diversion.rule_for(incident.category, incident.subcategory)
    if rule is None or incident.diversions.filter(agency=rule.agency).exclude(
            status=DiversionStatus.REFUSED).exists():
        return []
    if rule.kind == diversion.DiversionKind.TRANSFER:
        if incident.status != IncidentStatus.CLASSIFIED:
            return []  # units are already out: the dispatcher decides
        incident.status = workflow.incident_target("divert", incident.status)
        incident.diverted_at = now
        _touch(incident, now, ["status", "diverted_at"])
    Diversion.objects.create(incident=incident, kind=rule.kind, agency=rule.agency, rule=rule.key, sent_at=now,
                             sent_by=actor, updated_at=now)
    return [rule.agency]


@access.refusals_audited
def incident_relocate(*, actor: User | None, incident: Incident, lat: float | None, lon: float | None,
                      address: str, at: datetime | None = None) -> Incident:
    """The dispatcher corrects where the incident is; grid, station and county follow."""
    lat, lon = _point(lat, lon)
    address = _text(address, "address", MAX_ADDRESS)
    if lat is None and not address:
        raise ServiceError(_("请提供坐标或地址。"), field="address")
    now = _now(at)
    with transaction.atomic():
        locked = _lock_incident(incident)
        if locked.status in workflow.INCIDENT_TERMINAL:
            raise DispatchConflict(_("警情已结束，不能再改地点。"), field="status")
        _allowed(actor, (Action.INCIDENT_DISPATCH,), locked.unit, object_type="incident", object_id=locked.number)
        before = locked.unit.code
        where = locating.locate(lat=lat, lon=lon, address=address, centre=locked.centre)
        locked.lat, locked.lon, locked.address, locked.located_by = where.lat, where.lon, address, where.located_by
        locked.grid, locked.station, locked.county, locked.unit = where.grid, where.station, where.county, where.unit
        _touch(locked, now, ["lat", "lon", "address", "located_by", "grid", "station", "county", "unit"])
        audit.record(actor=actor, action="dispatch.incident_relocate", object_type="incident",
                     object_id=locked.number, unit_code=where.unit.code,
                     details={"from_unit": before, "to_unit": where.unit.code, "located_by": where.located_by})
    return locked


# --- diversion ------------------------------------------------------------------------------------

@access.refusals_audited
def incident_divert(*, actor: User | None, incident: Incident, agency: str, note: str = "",
                    at: datetime | None = None) -> Diversion:
    """Transfer the incident to an agency by hand (the rules do it on classification)."""
    if agency not in diversion.AGENCIES:
        raise ServiceError(_("未知的分流单位。"), field="agency")
    note = _text(note, "note", 500)
    now = _now(at)
    with transaction.atomic():
        locked = _lock_incident(incident)
        move = _incident_move(locked, "divert")
        _allowed(actor, move.actions, locked.unit, object_type="incident", object_id=locked.number)
        rule = diversion.rule_for(locked.category, locked.subcategory)
        record = Diversion.objects.create(
            incident=locked, kind=diversion.DiversionKind.TRANSFER, agency=agency,
            rule=rule.key if rule is not None and rule.agency == agency else "", note=note, sent_at=now,
            sent_by=actor, updated_at=now)
        locked.status, locked.diverted_at = move.target, now
        _touch(locked, now, ["status", "diverted_at"])
        audit.record(actor=actor, action="dispatch.incident_divert", object_type="incident", object_id=locked.number,
                     unit_code=locked.unit.code, details={"agency": agency, "diversion": record.pk})
    return record


_FEEDBACK_EVENTS: dict[str, str] = {DiversionStatus.DONE: "diversion_done",
                                    DiversionStatus.REFUSED: "diversion_refused"}


@access.refusals_audited
def diversion_feedback(*, actor: User | None, diversion_id: int, status: str, feedback: str = "",
                       agency_reference: str = "", at: datetime | None = None) -> Diversion:
    """The receiving agency's answer: accepted, done (the incident closes) or refused (it goes
    back to the dispatcher). Answers after done or refused are refused."""
    if status not in (DiversionStatus.ACCEPTED, DiversionStatus.DONE, DiversionStatus.REFUSED):
        raise ServiceError(_("反馈状态只能是已受理、已办结或退回。"), field="status")
    feedback = _text(feedback, "feedback", 1000, required=status == DiversionStatus.REFUSED)
    agency_reference = _text(agency_reference, "agency_reference", 64)
    now = _now(at)
    with transaction.atomic():
        record = Diversion.objects.select_related("incident").filter(pk=diversion_id).first()
        if record is None:
            raise ServiceError(_("没有这条分流记录。"), field="diversion")
        locked = _lock_incident(record.incident_id)
        record = Diversion.objects.select_for_update().get(pk=diversion_id)
        _allowed(actor, (Action.DIVERSION_FEEDBACK, Action.INCIDENT_DISPATCH), locked.unit,
                 object_type="diversion", object_id=record.pk)
        if record.status in (DiversionStatus.DONE, DiversionStatus.REFUSED):
            raise DispatchConflict(_("该分流已有最终反馈。"), field="status")
        event = _FEEDBACK_EVENTS.get(status)
        moved = ""
        if record.kind == diversion.DiversionKind.TRANSFER and event and locked.status == IncidentStatus.DIVERTED:
            move = _incident_move(locked, event)
            locked.status = move.target
            if move.target == IncidentStatus.CLOSED:
                locked.result, locked.closed_at = IncidentResult.TRANSFERRED, now
                locked.result_text = feedback
            _touch(locked, now, ["status", "result", "closed_at", "result_text"])
            moved = move.target
        record.status, record.feedback, record.feedback_at = status, feedback, now
        record.agency_reference = agency_reference or record.agency_reference
        record.updated_at = now
        record.save(update_fields=["status", "feedback", "feedback_at", "agency_reference", "updated_at"])
        audit.record(actor=actor, action="dispatch.diversion_feedback", object_type="diversion", object_id=record.pk,
                     unit_code=locked.unit.code,
                     details={"incident": locked.number, "status": status, "incident_status": moved})
    return record


# --- repeat calls: split and link ---------------------------------------------------------------

def _times_from_calls(incident: Incident) -> None:
    first = incident.calls.aggregate(received=Min("received_at"), answered=Min("answered_at"))
    if first["received"] is not None:
        incident.received_at = first["received"]
        incident.answered_at = first["answered"]


@access.refusals_audited
def call_split(*, actor: User | None, call_id: int, at: datetime | None = None) -> Incident:
    """Take a call off its incident (linked by mistake) and open a new incident for it."""
    now = _now(at)
    with transaction.atomic():
        found = Call.objects.filter(pk=call_id).values_list("incident_id", flat=True).first()
        if found is None:
            raise ServiceError(_("没有这个来电记录。"), field="call")
        old = _lock_incident(found)
        call = Call.objects.select_for_update().get(pk=call_id)
        if call.incident_id != old.pk:
            raise DispatchConflict(_("来电已被移动，请刷新。"), field="call")
        _allowed(actor, (Action.INCIDENT_DISPATCH,), old.unit, object_type="call", object_id=call.pk)
        if old.status == IncidentStatus.MERGED or old.calls.count() < 2:
            raise ServiceError(_("这是该警情唯一的来电，无需拆分。"), field="call")
        where = locating.locate(lat=call.lat, lon=call.lon, address=call.address, centre=old.centre)
        new = Incident.objects.create(
            number=_next_number(old.centre, call.received_at), status=IncidentStatus.RECEIVED,
            suggested_category=call.suggested_category, suggested_subcategory=call.suggested_subcategory,
            suggested_priority=call.suggested_priority, classifier_rule=call.classifier_rule,
            classifier_version=call.classifier_version, summary=call.content[:500], address=call.address,
            lat=where.lat, lon=where.lon, located_by=where.located_by, grid=where.grid, station=where.station,
            county=where.county, centre=old.centre, unit=where.unit, received_at=call.received_at,
            answered_at=call.answered_at, created_by=actor, updated_at=now)
        call.incident, call.repeat, call.repeat_reason, call.updated_at = new, False, "", now
        call.save(update_fields=["incident", "repeat", "repeat_reason", "updated_at"])
        _times_from_calls(old)
        _touch(old, now, ["received_at", "answered_at"])
        audit.record(actor=actor, action="dispatch.call_split", object_type="incident", object_id=new.number,
                     unit_code=new.unit.code, details={"call": call.pk, "from": old.number})
    return new


@access.refusals_audited
def call_link(*, actor: User | None, call_id: int, incident: Incident, at: datetime | None = None) -> Incident:
    """Move a call onto another incident (a repeat the intake did not recognise). An incident
    left without calls is merged into the target."""
    now = _now(at)
    with transaction.atomic():
        found = Call.objects.filter(pk=call_id).values_list("incident_id", flat=True).first()
        if found is None:
            raise ServiceError(_("没有这个来电记录。"), field="call")
        if found == incident.pk:
            raise ServiceError(_("来电已属于该警情。"), field="incident")
        first, second = sorted((found, incident.pk))
        locked = {first: _lock_incident(first), second: _lock_incident(second)}
        old, target = locked[found], locked[incident.pk]
        call = Call.objects.select_for_update().get(pk=call_id)
        if call.incident_id != old.pk:
            raise DispatchConflict(_("来电已被移动，请刷新。"), field="call")
        for unit in (old.unit, target.unit):
            _allowed(actor, (Action.INCIDENT_DISPATCH,), unit, object_type="call", object_id=call.pk)
        if target.status not in JOINABLE:
            raise DispatchConflict(_("目标警情已结束。"), field="incident")
        emptied = old.calls.count() == 1
        merge = _incident_move(old, "merge") if emptied else None
        call.incident, call.repeat, call.repeat_reason, call.updated_at = target, True, "linked_by_hand", now
        call.save(update_fields=["incident", "repeat", "repeat_reason", "updated_at"])
        if merge is not None:
            old.status, old.merged_into, old.closed_at = merge.target, target, now
            _touch(old, now, ["status", "merged_into", "closed_at"])
        else:
            _times_from_calls(old)
            _touch(old, now, ["received_at", "answered_at"])
        _times_from_calls(target)
        _touch(target, now, ["received_at", "answered_at"])
        audit.record(actor=actor, action="dispatch.call_link", object_type="incident", object_id=target.number,
                     unit_code=target.unit.code,
                     details={"call": call.pk, "from": old.number, "merged": merge is not None})
    return target


# --- patrol units ----------------------------------------------------------------------------------

def _unit_status(unit: PatrolUnit, new: str, now: datetime, actor: User | None, incident: Incident | None) -> None:
    UnitStatusChange.objects.create(patrol_unit=unit, at=now, old=unit.status, new=new, incident=incident,
                                    actor=actor)
    unit.status, unit.status_at = new, now


@access.refusals_audited
def unit_dispatch(*, actor: User | None, incident: Incident, patrol_unit: PatrolUnit,
                  at: datetime | None = None) -> Assignment:
    """Send a unit to an incident: the one action of the dispatcher. The unit row is locked and
    its status checked inside the transaction, so a unit is never sent twice."""
    now = _now(at)
    with transaction.atomic():
        locked = _lock_incident(incident)
        unit = PatrolUnit.objects.select_for_update(of=("self",)).select_related("station").filter(
            pk=patrol_unit.pk).first()
        if unit is None:
            raise ServiceError(_("没有这个巡逻组。"), field="patrol_unit")
        event = "dispatch" if locked.status == IncidentStatus.CLASSIFIED else "reinforce"
        move = _incident_move(locked, event)
        _allowed(actor, move.actions, locked.unit, object_type="incident", object_id=locked.number)
        _allowed(actor, (Action.INCIDENT_DISPATCH,), unit.station, object_type="patrol_unit", object_id=unit.call_sign)
        try:
            workflow.unit_move("dispatch", unit.status)
        except MoveRefused:
            raise UnitUnavailable(
                _("巡逻组 %(unit)s 当前为“%(status)s”，不能派出。")
                % {"unit": unit.call_sign, "status": UnitStatus(unit.status).label}, field="patrol_unit") from None
        distance = eta = None
        if locked.lat is not None and locked.lon is not None and unit.lat is not None and unit.lon is not None:
            distance = road_m(haversine_m(unit.lat, unit.lon, locked.lat, locked.lon))
            eta = eta_seconds(distance)
        try:
            with transaction.atomic():
                assignment = Assignment.objects.create(incident=locked, patrol_unit=unit, dispatched_at=now,
                                                       dispatched_by=actor, distance_m=distance, eta_seconds=eta,
                                                       updated_at=now)
        except IntegrityError:  # the partial unique index: never reached while the lock above holds
            raise UnitUnavailable(_("巡逻组 %(unit)s 已在出警。") % {"unit": unit.call_sign},
                                  field="patrol_unit") from None
        _unit_status(unit, UnitStatus.DISPATCHED, now, actor, locked)
        unit.incident = locked
        unit.save(update_fields=["status", "status_at", "incident"])
        locked.status = move.target or locked.status
        if locked.dispatched_at is None:
            locked.dispatched_at = now
        _touch(locked, now, ["status", "dispatched_at"])
        audit.record(actor=actor, action="dispatch.unit_dispatch", object_type="incident", object_id=locked.number,
                     unit_code=locked.unit.code,
                     details={"patrol_unit": unit.call_sign, "assignment": assignment.pk,
                              "distance_m": round(distance) if distance is not None else None})
    return assignment


@access.refusals_audited
def unit_transition(*, actor: User | None, patrol_unit: PatrolUnit, event: str,
                    at: datetime | None = None) -> PatrolUnit:
    """A status event of a unit (en_route, arrive, clear, recall, available, out_of_service), with
    what follows for its incident: the first arrival puts the incident on scene, the last unit
    clearing stamps its clearance, recalling every unit before arrival returns it to the queue."""
    if event not in workflow.UNIT_EVENTS:
        raise ServiceError(_("未知的状态操作。"), field="event")
    now = _now(at)
    with transaction.atomic():
        incident_id = PatrolUnit.objects.filter(pk=patrol_unit.pk).values_list("incident_id", flat=True).first()
        locked = _lock_incident(incident_id) if incident_id is not None else None
        unit = PatrolUnit.objects.select_for_update(of=("self",)).select_related("station").filter(
            pk=patrol_unit.pk).first()
        if unit is None:
            raise ServiceError(_("没有这个巡逻组。"), field="patrol_unit")
        if unit.incident_id != incident_id:
            raise DispatchConflict(_("巡逻组状态刚刚变化，请刷新后重试。"), field="patrol_unit")
        try:
            move = workflow.unit_move(event, unit.status)
        except MoveRefused:
            raise DispatchConflict(
                _("巡逻组 %(unit)s 当前为“%(status)s”，不能进行此操作。")
                % {"unit": unit.call_sign, "status": UnitStatus(unit.status).label}, field="event") from None
        _allowed(actor, move.actions, unit.station, object_type="patrol_unit", object_id=unit.call_sign)
        assignment = Assignment.objects.filter(patrol_unit=unit, ended_at__isnull=True).first()
        details: dict[str, Any] = {"event": event, "from": unit.status, "to": move.target}
        if assignment is not None and locked is not None:
            _assignment_event(assignment, locked, event, now)
            details["incident"] = locked.number
        _unit_status(unit, move.target, now, actor, locked)
        if move.target not in workflow.UNIT_BUSY:
            unit.incident = None
        unit.save(update_fields=["status", "status_at", "incident"])
        audit.record(actor=actor, action="dispatch.unit_status", object_type="patrol_unit", object_id=unit.call_sign,
                     unit_code=unit.station.code, details=details)
    return unit


def _assignment_event(assignment: Assignment, incident: Incident, event: str, now: datetime) -> None:
    fields = ["updated_at"]
    if event == "en_route":
        assignment.en_route_at = now
        fields.append("en_route_at")
    elif event == "arrive":
        assignment.arrived_at = now
        fields.append("arrived_at")
        if incident.status == IncidentStatus.DISPATCHED:
            incident.status = workflow.incident_target("arrive", incident.status)
            incident.arrived_at = incident.arrived_at or now
            _touch(incident, now, ["status", "arrived_at"])
    elif event in ("clear", "recall"):
        assignment.ended_at = now
        assignment.end = AssignmentEnd.CLEARED if event == "clear" else AssignmentEnd.RECALLED
        fields += ["ended_at", "end"]
        others = incident.assignments.filter(ended_at__isnull=True).exclude(pk=assignment.pk)
        if not others.exists():
            if event == "clear":
                incident.cleared_at = now
                _touch(incident, now, ["cleared_at"])
            elif incident.status == IncidentStatus.DISPATCHED:
                incident.status = workflow.incident_target("all_recalled", incident.status)
                _touch(incident, now, ["status"])
    assignment.updated_at = now
    assignment.save(update_fields=fields)


@dataclass(frozen=True)
class PositionPing:
    call_sign: str
    lat: float
    lon: float
    at: datetime


@dataclass
class PositionReport:
    updated: int = 0
    stale: int = 0  # older than the position already held
    unknown: list[str] = field(default_factory=list)  # no such call sign
    refused: list[str] = field(default_factory=list)  # outside the reporter's jurisdiction


def unit_positions_report(*, actor: User | None, pings: Sequence[PositionPing]) -> PositionReport:
    """Positions from vehicle terminals. A malformed ping refuses the whole batch (nothing is
    written); unknown call signs and units outside the reporter's area are listed and skipped;
    within a batch the latest ping per unit counts, and pings older than the stored one are stale."""
    if not pings:
        raise ServiceError(_("没有位置数据。"), field="pings")
    if len(pings) > MAX_PINGS:
        raise ServiceError(_("一次最多 %(n)d 条位置。") % {"n": MAX_PINGS}, field="pings")
    latest: dict[str, PositionPing] = {}
    for i, ping in enumerate(pings):
        try:
            _point(ping.lat, ping.lon)
            _not_future(_now(ping.at), "at")
        except ServiceError as exc:
            raise ServiceError(str(exc), field=f"pings[{i}].{exc.field}") from None
        sign = (ping.call_sign or "").strip()
        if not sign:
            raise ServiceError(_("不能为空。"), field=f"pings[{i}].call_sign")
        if sign not in latest or ping.at > latest[sign].at:
            latest[sign] = ping
    report = PositionReport()
    with transaction.atomic():
        units = {u.call_sign: u for u in PatrolUnit.objects.select_for_update(of=("self",))
                 .select_related("station").filter(call_sign__in=list(latest)).order_by("pk")}
        changed = []
        for sign, ping in sorted(latest.items()):
            unit = units.get(sign)
            if unit is None:
                report.unknown.append(sign)
                continue
            if actor is not None and not (access.can(actor, Action.POSITION_REPORT, unit.station)
                                          or access.can(actor, Action.INCIDENT_RECORD, unit.station)):
                report.refused.append(sign)
                continue
            if unit.position_at is not None and ping.at <= unit.position_at:
                report.stale += 1
                continue
            unit.lat, unit.lon, unit.position_at = float(ping.lat), float(ping.lon), ping.at
            unit.cell = cell_of(unit.lat, unit.lon)
            changed.append(unit)
        PatrolUnit.objects.bulk_update(changed, ["lat", "lon", "cell", "position_at"], batch_size=500)
        report.updated = len(changed)
        audit.record(actor=actor, action="dispatch.positions", object_type="patrol_unit",
                     details={"updated": report.updated, "stale": report.stale, "unknown": report.unknown[:50],
                              "refused": report.refused[:50]})
    return report


@dataclass(frozen=True)
class MemberSpec:
    name: str
    badge_number: str = ""
    leader: bool = False
    auxiliary: bool = False
    user: User | None = None


@access.refusals_audited
def patrol_unit_create(*, actor: User | None, station: Unit, call_sign: str, name: str,
                       kind: str = PatrolKind.CAR, vehicle_plate: str = "", grid: Unit | None = None,
                       members: Sequence[MemberSpec] = (), shift_label: str = "", shift_start: datetime | None = None,
                       shift_end: datetime | None = None, lat: float | None = None, lon: float | None = None,
                       at: datetime | None = None) -> PatrolUnit:
    """A patrol unit of a station with its crew (arranging patrols is command's work: INCIDENT_COMMAND)."""
    if station.kind != UnitKind.STATION:
        raise ServiceError(_("巡逻组必须隶属于派出所。"), field="station")
    if grid is not None and (grid.kind != UnitKind.GRID or grid.parent_id != station.pk):
        raise ServiceError(_("责任网格必须是本所的网格。"), field="grid")
    call_sign = _text(call_sign, "call_sign", 32, required=True)
    name = _text(name, "name", 100, required=True)
    if kind not in PatrolKind.values:
        raise ServiceError(_("未知的巡逻方式。"), field="kind")
    lat, lon = _point(lat, lon)
    now = _now(at)
    _allowed(actor, (Action.INCIDENT_COMMAND,), station, object_type="patrol_unit", object_id=call_sign)
    if PatrolUnit.objects.filter(call_sign=call_sign).exists():
        raise ServiceError(_("呼号已被使用。"), field="call_sign")
    with transaction.atomic():
        unit = PatrolUnit.objects.create(
            call_sign=call_sign, name=name, station=station, grid=grid, kind=kind, vehicle_plate=vehicle_plate,
            status_at=now, lat=lat, lon=lon, cell=cell_of(lat, lon) if lat is not None and lon is not None else None,
            position_at=now if lat is not None else None, shift_label=shift_label, shift_start=shift_start,
            shift_end=shift_end)
        PatrolMember.objects.bulk_create([
            PatrolMember(patrol_unit=unit, name=m.name, badge_number=m.badge_number, leader=m.leader,
                         auxiliary=m.auxiliary, user=m.user) for m in members])
        audit.record(actor=actor, action="dispatch.patrol_unit_create", object_type="patrol_unit",
                     object_id=call_sign, unit_code=station.code, details={"members": len(members)})
    return unit


# --- handling result and the hand-off to cases ----------------------------------------------------

_RESULT_EVENTS: dict[str, str] = {IncidentResult.REFERRED: "refer", IncidentResult.CASE: "to_case"}


@access.refusals_audited
def incident_record_result(*, actor: User | None, incident: Incident, result: str, text: str = "",
                           at: datetime | None = None) -> Incident:
    """处警结果: close the incident, refer it, or hand it to case handling (see handoff.py).
    Units still out are released: those on scene clear, those on the way return to available."""
    if result not in IncidentResult.values or result == IncidentResult.TRANSFERRED:
        raise ServiceError(_("未知的处警结果。"), field="result")
    required = result in (IncidentResult.REFERRED, IncidentResult.CASE)
    text = _text(text, "text", MAX_RESULT_TEXT, required=required)
    now = _now(at)
    event = _RESULT_EVENTS.get(result, "close")
    with transaction.atomic():
        locked = _lock_incident(incident)
        move = _incident_move(locked, event)
        _allowed(actor, move.actions, locked.unit, object_type="incident", object_id=locked.number)
        if result in _ATTENDED_RESULTS and locked.arrived_at is None:
            raise ServiceError(_("还没有警力到场，不能选择这个处警结果。"), field="result")
        released = _release_units(actor, locked, now)
        if released and locked.arrived_at is not None:
            locked.cleared_at = now
        locked.status, locked.result, locked.result_text = move.target, result, text
        locked.result_by, locked.closed_at = actor, now
        _touch(locked, now, ["status", "result", "result_text", "result_by", "closed_at", "cleared_at"])
        offered = _offer_to_cases(actor, locked, now) if result == IncidentResult.CASE else ""
        audit.record(actor=actor, action="dispatch.incident_result", object_type="incident", object_id=locked.number,
                     unit_code=locked.unit.code,
                     details={"result": result, "released": released, "handoff": offered})
    return locked


def _release_units(actor: User | None, incident: Incident, now: datetime) -> list[str]:
    open_ones = list(incident.assignments.filter(ended_at__isnull=True).order_by("patrol_unit_id"))
    if not open_ones:
        return []
    units = {u.pk: u for u in PatrolUnit.objects.select_for_update().filter(
        pk__in=[a.patrol_unit_id for a in open_ones]).order_by("pk")}
    released = []
    for assignment in open_ones:
        unit = units[assignment.patrol_unit_id]
        new = UnitStatus.CLEARED if unit.status == UnitStatus.ON_SCENE else UnitStatus.AVAILABLE
        _unit_status(unit, new, now, actor, incident)
        unit.incident = None
        unit.save(update_fields=["status", "status_at", "incident"])
        assignment.ended_at, assignment.end, assignment.updated_at = now, AssignmentEnd.CLOSED, now
        assignment.save(update_fields=["ended_at", "end", "updated_at"])
        released.append(unit.call_sign)
    return released


def _handoff_of(incident: Incident) -> handoff.IncidentHandoff:
    return handoff.IncidentHandoff(
        incident_id=incident.pk, number=incident.number, category=incident.category,
        subcategory=incident.subcategory, priority=incident.priority, summary=incident.summary,
        address=incident.address, lat=incident.lat, lon=incident.lon, unit_code=incident.unit.code,
        station_code=incident.station.code if incident.station is not None else "", received_at=incident.received_at,
        arrived_at=incident.arrived_at, result_text=incident.result_text)


def _offer_to_cases(actor: User | None, incident: Incident, now: datetime) -> str:
    """Call the registered case intake in a savepoint: "accepted", "queued", "no_intake" or "failed"."""
    intake = handoff.registered_case_intake()
    if intake is None:
        return "no_intake"
    try:
        with transaction.atomic():
            reference = intake(actor=actor, incident=_handoff_of(incident))
    except Exception as exc:  # the case module's failure must not lose the handling result
        if isinstance(exc, access.Refused):  # its on-commit audit went with the savepoint: owe it to ours
            transaction.on_commit(functools.partial(access.audit_refusal, exc, committed=True))
        logger.exception("case intake failed for incident %s", incident.number)
        return "failed"
    if not reference:
        return "queued"
    move = workflow.incident_move("case_accepted", incident.status)
    incident.status, incident.case_reference, incident.case_accepted_at = move.target, str(reference)[:64], now
    _touch(incident, now, ["status", "case_reference", "case_accepted_at"])
    return "accepted"


@access.refusals_audited
def incident_case_accepted(*, actor: User | None, incident: Incident, case_reference: str,
                           at: datetime | None = None) -> Incident:
    """Called by the cases module when it accepts an incident waiting in awaiting_case."""
    reference = _text(case_reference, "case_reference", 64, required=True)
    now = _now(at)
    with transaction.atomic():
        locked = _lock_incident(incident)
        move = _incident_move(locked, "case_accepted")
        _allowed(actor, move.actions, locked.unit, object_type="incident", object_id=locked.number)
        locked.status, locked.case_reference, locked.case_accepted_at = move.target, reference, now
        _touch(locked, now, ["status", "case_reference", "case_accepted_at"])
        audit.record(actor=actor, action="dispatch.case_accepted", object_type="incident", object_id=locked.number,
                     unit_code=locked.unit.code, details={"case": reference})
    return locked


@access.refusals_audited
def incident_handoff_retry(*, actor: User | None, incident: Incident, at: datetime | None = None) -> Incident:
    """Offer an incident waiting in awaiting_case to the case intake again."""
    now = _now(at)
    with transaction.atomic():
        locked = _lock_incident(incident)
        if locked.status != IncidentStatus.AWAITING_CASE:
            raise DispatchConflict(_("该警情不在待转案件状态。"), field="status")
        _allowed(actor, (Action.INCIDENT_RECORD,), locked.unit, object_type="incident", object_id=locked.number)
        offered = _offer_to_cases(actor, locked, now)
        audit.record(actor=actor, action="dispatch.handoff_retry", object_type="incident", object_id=locked.number,
                     unit_code=locked.unit.code, details={"handoff": offered})
    return locked
