"""Every read of 110 dispatch, scoped to the actor.

Who sees what: incidents belong to their responsible unit (grid, station, county or the
receiving centre's city), so a station's officers see the incidents of their station and
its grids, and the city's command centre (a department of the city: its jurisdiction is
the city) sees the whole city. Patrol units belong to their station. Reading uses
INCIDENT_RECORD; recommending units uses INCIDENT_DISPATCH.

For the board, the simulator and the benchmark:
  incidents, open_incidents, incident_get, status_counts, patrol_units, unit_counts,
  recommend_units (scoped) / nearest_units (indexed) / nearest_units_naive (full scan),
  awaiting_case, awaiting_case_count, diversions, classification_corrections,
  timing_report, incident_eido, caller_number_read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet

from jingwu.core import access, audit, purpose
from jingwu.core.access import Action
from jingwu.core.models import Unit, UnitKind, User
from jingwu.dispatch import eido, locating, timing
from jingwu.dispatch.distance import cells_around, covered_radius_m, eta_seconds, haversine_m, road_m
from jingwu.dispatch.models import Assignment, Call, Diversion, Incident, PatrolUnit
from jingwu.dispatch.workflow import INCIDENT_TERMINAL, IncidentStatus, UnitStatus

DEFAULT_RECOMMENDATIONS: Final = 5
# Rings of cells searched in turn before the recommendation gives up on the index (16 rings ≈ 70 km).
# Two rings (about 9 km) hold five units for most points of a province with a few units per station.
_RING_STEPS: Final = (2, 4, 8, 16)


def home_centre(actor: User) -> Unit | None:
    """The city whose 110 centre the actor takes calls for: the city over which they record
    incidents or feed calls, else the city of their home unit; None for province-wide accounts."""
    roots = access.jurisdictions(actor, Action.INCIDENT_RECORD) or access.jurisdictions(actor, Action.CALL_INTAKE)
    paths = roots or ([actor.home_unit.path] if actor.home_unit is not None else [])
    for path in paths:
        parts = path.strip("/").split("/")
        if len(parts) > 1:
            return locating.city(parts[1])
    return None


# --- incidents ----------------------------------------------------------------------------------

def incidents(actor: User) -> QuerySet[Incident]:
    """Incidents the actor sees, newest first."""
    queryset = Incident.objects.select_related("unit", "grid", "station", "county", "centre")
    return access.scope(actor, Action.INCIDENT_RECORD, queryset)


def open_incidents(actor: User) -> QuerySet[Incident]:
    return incidents(actor).exclude(status__in=INCIDENT_TERMINAL)


def incident_get(actor: User, pk: int) -> Incident:
    """One incident the actor sees; Incident.DoesNotExist otherwise (the caller answers 404)."""
    return incidents(actor).get(pk=pk)


def incident_by_number(actor: User, number: str) -> Incident:
    return incidents(actor).get(number=number)


def incident_calls(incident: Incident) -> QuerySet[Call]:
    return incident.calls.select_related("taken_by").order_by("received_at", "pk")


def incident_assignments(incident: Incident) -> QuerySet[Assignment]:
    return incident.assignments.select_related("patrol_unit__station", "dispatched_by").order_by("dispatched_at", "pk")


def incident_diversions(incident: Incident) -> QuerySet[Diversion]:
    return incident.diversions.order_by("sent_at", "pk")


def status_counts(actor: User) -> dict[str, int]:
    """Open incidents per status (every open status present, zero when none)."""
    counts = dict(open_incidents(actor).order_by().values_list("status").annotate(n=Count("id")))
    return {s: counts.get(s, 0) for s in IncidentStatus.values if s not in INCIDENT_TERMINAL}


def awaiting_case(actor: User) -> QuerySet[Incident]:
    """Incidents handed to case handling that the cases module has not accepted yet, oldest first."""
    return incidents(actor).filter(status=IncidentStatus.AWAITING_CASE).order_by("closed_at", "pk")


def awaiting_case_count(actor: User) -> int:
    return awaiting_case(actor).count()


def diversions(actor: User, *, status: str | None = None) -> QuerySet[Diversion]:
    queryset = access.scope(actor, Action.INCIDENT_RECORD,
                            Diversion.objects.select_related("incident__unit"), unit_field="incident__unit")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-sent_at", "-pk")


def incident_call(actor: User, pk: int, *, incident: Incident | None = None) -> Call:
    """One call on an incident the actor sees (on `incident` when given); Call.DoesNotExist otherwise."""
    calls = Call.objects.select_related("incident__unit").filter(incident__in=incidents(actor))
    if incident is not None:
        calls = calls.filter(incident=incident)
    return calls.get(pk=pk)


def incident_diversion(incident: Incident, pk: int) -> Diversion:
    """One diversion of an incident already read through `incident_get`; Diversion.DoesNotExist otherwise."""
    return incident_diversions(incident).get(pk=pk)


def diversion_for_feedback(actor: User, pk: int, *, request: Any = None) -> Diversion:
    """The diversion a receiving agency (or a dispatcher) answers on: one whose incident lies where the
    actor may give feedback (DIVERSION_FEEDBACK or INCIDENT_DISPATCH). Diversion.DoesNotExist for an
    unknown id and for one outside that area alike, so the answer tells nothing of what exists
    elsewhere; the refused attempt is audited all the same."""
    roots = sorted(set(access.jurisdictions(actor, Action.DIVERSION_FEEDBACK))
                   | set(access.jurisdictions(actor, Action.INCIDENT_DISPATCH)))
    within = Q(pk__in=[])
    for root in roots:
        within |= Q(incident__unit__path__startswith=root)
    found = Diversion.objects.select_related("incident__unit").filter(within, pk=pk).first()
    if found is not None:
        return found
    elsewhere = Diversion.objects.filter(pk=pk).values_list("incident__unit__code", flat=True).first()
    if elsewhere is not None:
        audit.record(actor=actor, action=Action.DIVERSION_FEEDBACK, object_type="diversion", object_id=pk,
                     unit_code=elsewhere, outcome="denied", request=request)
    raise Diversion.DoesNotExist


def mask_number(number: str) -> str:
    """138****5678 for a mobile (the middle hidden), the last two digits for short numbers."""
    digits = number[3:] if number.startswith("+86") else number
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(0, len(digits) - 2) + digits[-2:]


def caller_number_read(actor: User, call: Call, *, request: Any = None) -> str:
    """The caller's full number: a person's data, so a stated purpose is required and the read audited."""
    purpose.person_read(actor, object_type="call", object_id=call.pk, unit=call.incident.unit,
                        action=Action.INCIDENT_RECORD, details={"incident": call.incident.number})
    return call.caller_number


# --- patrol units ----------------------------------------------------------------------------------

def patrol_units(actor: User, *, status: str | None = None) -> QuerySet[PatrolUnit]:
    queryset = PatrolUnit.objects.select_related("station", "grid", "incident")
    queryset = access.scope(actor, Action.INCIDENT_RECORD, queryset, unit_field="station")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("call_sign")


def patrol_unit_get(actor: User, pk: int) -> PatrolUnit:
    return patrol_units(actor).prefetch_related("members").get(pk=pk)


def incident_patrol_unit(actor: User, incident: Incident, pk: int) -> PatrolUnit:
    """A patrol unit the actor sees that was dispatched to this incident; PatrolUnit.DoesNotExist otherwise."""
    return patrol_units(actor).filter(pk=pk, assignments__incident=incident).distinct().get()


def unit_counts(actor: User) -> dict[str, int]:
    counts = dict(patrol_units(actor).order_by().values_list("status").annotate(n=Count("id")))
    return {s: counts.get(s, 0) for s in UnitStatus.values}


# --- recommendation --------------------------------------------------------------------------

@dataclass(frozen=True)
class Recommendation:
    patrol_unit_id: int
    call_sign: str
    name: str
    station_code: str
    station_name: str
    tier: str  # "grid" (the incident's grid), "station" (its station), "nearby"
    straight_m: float
    road_m: float
    eta_seconds: float
    lat: float
    lon: float
    position_at: datetime | None

    @property
    def road_km(self) -> float:
        return round(self.road_m / 1000, 1)

    @property
    def eta_minutes(self) -> int:
        return max(1, round(self.eta_seconds / 60))


_COLUMNS: Final = ("u.id, u.call_sign, u.name, u.lat, u.lon, u.position_at, u.grid_id, u.station_id, "
                   "s.code, s.name, s.path")
_TIER_RANK: Final = {"grid": 0, "station": 1, "nearby": 2}


def _candidates(rows: Iterable[tuple[Any, ...]], lat: float, lon: float, grid_id: int | None,
                station_id: int | None, within: list[str] | None) -> dict[int, Recommendation]:
    found = {}
    for pk, sign, name, ulat, ulon, at, ugrid, ustation, scode, sname, spath in rows:
        if ulat is None or ulon is None:
            continue
        if within is not None and not any(spath.startswith(root) for root in within):
            continue
        straight = haversine_m(lat, lon, ulat, ulon)
        road = road_m(straight)
        eta = eta_seconds(road)
        tier = "nearby"
        if eta <= settings.JINGWU_DISPATCH_LOCAL_FIRST_SECONDS:
            if grid_id is not None and ugrid == grid_id:
                tier = "grid"
            elif station_id is not None and ustation == station_id:
                tier = "station"
        found[pk] = Recommendation(pk, sign, name, scode, sname, tier, straight, road, eta, ulat, ulon, at)
    return found


def _ranked(found: dict[int, Recommendation], limit: int) -> list[Recommendation]:
    return sorted(found.values(), key=lambda r: (_TIER_RANK[r.tier], r.road_m, r.call_sign))[:limit]


def _available_rows(*conditions: tuple[str, Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Available units meeting any of the SQL conditions on the patrol unit table (`u`), with their
    station (`s`): one SELECT per condition joined by UNION, so each uses its own index.

    Plain SQL on purpose: building the same query through the ORM costs more than the indexed
    lookup itself, and this runs for every recommendation."""
    quote = connection.ops.quote_name
    parts, params = [], []
    for condition, values in conditions:
        # Conditions come from this module only and hold placeholders; values go as parameters.
        parts.append(f"SELECT {_COLUMNS} FROM {quote(PatrolUnit._meta.db_table)} u "  # noqa: S608
                     f"JOIN {quote(Unit._meta.db_table)} s ON s.id = u.station_id "
                     f"WHERE u.status = %s AND {condition}")
        params += [UnitStatus.AVAILABLE, *values]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ".join(parts), params)
        rows = cursor.fetchall()
    # SQLite hands timestamps back without their (UTC) zone.
    return [(*row[:5], row[5].replace(tzinfo=UTC) if row[5] is not None and row[5].tzinfo is None else row[5],
             *row[6:]) for row in rows]


def nearest_units(*, lat: float, lon: float, grid_id: int | None = None, station_id: int | None = None,
                  limit: int = DEFAULT_RECOMMENDATIONS, within: list[str] | None = None) -> list[Recommendation]:
    """The best available units for a point: the incident's own grid and station first (when they
    can arrive within JINGWU_DISPATCH_LOCAL_FIRST_SECONDS), then by road distance.

    Indexed: available units are looked up by cell (an index on status and cell), ring by ring,
    until the last unit taken is nearer than the searched square is wide — then no unit outside
    can rank higher. The station's own units come with the first ring (an index on station and
    status). `within`: unit paths the units' stations must lie under (None: anywhere)."""
    found: dict[int, Recommendation] = {}
    searched: set[int] = set()
    for rings in _RING_STEPS:
        cells = [c for c in cells_around(lat, lon, rings) if c not in searched]  # only the new ring of cells
        searched.update(cells)
        conditions: list[tuple[str, Sequence[Any]]] = [(f"u.cell IN ({', '.join(['%s'] * len(cells))})", cells)]
        if rings == _RING_STEPS[0] and station_id is not None:
            conditions.append(("u.station_id = %s", [station_id]))
        found.update(_candidates(_available_rows(*conditions), lat, lon, grid_id, station_id, within))
        ranked = _ranked(found, limit)
        radius = covered_radius_m(lat, rings)
        if len(ranked) == limit and (ranked[-1].tier != "nearby" or ranked[-1].straight_m <= radius):
            return ranked
    # Sparse area: fewer units within reach of the index than asked for.
    return nearest_units_naive(lat=lat, lon=lon, grid_id=grid_id, station_id=station_id, limit=limit, within=within)


def nearest_units_naive(*, lat: float, lon: float, grid_id: int | None = None, station_id: int | None = None,
                        limit: int = DEFAULT_RECOMMENDATIONS, within: list[str] | None = None) -> list[Recommendation]:
    """The same answer by measuring every available unit (the benchmark's baseline)."""
    return _ranked(_candidates(_available_rows(("1 = 1", [])), lat, lon, grid_id, station_id, within), limit)


def incident_origin(incident: Incident) -> tuple[float, float, bool] | None:
    """Where units would drive to: the incident's point, else its station's point (approximate)."""
    if incident.lat is not None and incident.lon is not None:
        return incident.lat, incident.lon, False
    station = incident.station
    if station is not None and isinstance(station.geometry, dict) and station.geometry.get("type") == "Point":
        lon, lat = station.geometry["coordinates"][:2]
        return float(lat), float(lon), True
    return None


def recommend_units(actor: User, incident: Incident, *, limit: int = DEFAULT_RECOMMENDATIONS) -> list[Recommendation]:
    """Units the actor may dispatch to this incident, best first (empty when it cannot be placed)."""
    access.check(actor, Action.INCIDENT_DISPATCH, incident.unit, object_type="incident", object_id=incident.number)
    origin = incident_origin(incident)
    if origin is None:
        return []
    lat, lon, _approximate = origin
    return nearest_units(lat=lat, lon=lon, grid_id=incident.grid_id, station_id=incident.station_id, limit=limit,
                         within=access.jurisdictions(actor, Action.INCIDENT_DISPATCH))


# --- classification feedback --------------------------------------------------------------------

@dataclass(frozen=True)
class RuleFeedback:
    version: str
    rule: str  # "" for calls no rule matched
    confirmed: int
    corrected: int
    category_changed: int
    subcategory_changed: int
    priority_changed: int
    corrections: list[tuple[str, str, int]]  # (suggested "cat.sub/p", confirmed "cat.sub/p", count), most first


def classification_corrections(actor: User, *, version: str | None = None) -> list[RuleFeedback]:
    """Per classifier rule: how often its suggestion was confirmed as it was and how often (and
    how) the dispatcher corrected it. The rules with the most corrections come first."""
    queryset = incidents(actor).filter(corrected__isnull=False)
    if version:
        queryset = queryset.filter(classifier_version=version)
    rows = queryset.order_by().values_list("classifier_version", "classifier_rule", "suggested_category",
                                           "suggested_subcategory", "suggested_priority", "category", "subcategory",
                                           "priority")
    groups: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        groups[(row[0], row[1])].append(row[2:])
    feedback = []
    for (ver, rule), items in groups.items():
        changed = [i for i in items if (i[0], i[1], i[2]) != (i[3], i[4], i[5])]
        pairs = Counter((f"{i[0]}.{i[1]}/{i[2] or ''}", f"{i[3]}.{i[4]}/{i[5]}") for i in changed)
        feedback.append(RuleFeedback(
            version=ver, rule=rule, confirmed=len(items), corrected=len(changed),
            category_changed=sum(1 for i in items if i[0] != i[3]),
            subcategory_changed=sum(1 for i in items if (i[0], i[1]) != (i[3], i[4])),
            priority_changed=sum(1 for i in items if i[2] != i[5]),
            corrections=[(a, b, n) for (a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]))
    return sorted(feedback, key=lambda f: (-f.corrected, f.version, f.rule))


# --- timing ------------------------------------------------------------------------------------------

_GROUPINGS: Final = ("all", "priority", "area")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def timing_report(actor: User, *, since: datetime, until: datetime,
                  group_by: str = "all") -> list[timing.IntervalStats]:
    """Percentiles of every interval (timing.INTERVALS) for incidents first called in [since, until),
    grouped by "priority" (unclassified: "-"), "area" (county code, else the centre's code) or "all".
    Groups without samples are left out."""
    if group_by not in _GROUPINGS:
        raise ValueError(f"group_by must be one of {_GROUPINGS}")
    rows = list(incidents(actor).filter(received_at__gte=since, received_at__lt=until).exclude(
        status=IncidentStatus.MERGED).values_list(
        "pk", "priority", "county__code", "centre__code", "answered_at", "classified_at", "dispatched_at",
        "arrived_at", "cleared_at"))
    samples: dict[tuple[str, str], list[timing.Sample]] = defaultdict(list)
    group_of: dict[int, str] = {}
    for pk, priority, county, centre, answered, classified, dispatched, arrived, cleared in rows:
        area = county or centre
        group = {"all": "all", "priority": str(priority or "-"), "area": area}[group_by]
        group_of[pk] = group
        arrival_target = timing.arrival_target(county or "", centre)
        for interval, seconds, target in (
                ("classification", _seconds(answered, classified), None),
                ("processing", _seconds(answered, dispatched), settings.JINGWU_DISPATCH_PROCESSING_SECONDS),
                ("arrival", _seconds(dispatched, arrived), arrival_target),
                ("clearance", _seconds(arrived, cleared), None)):
            if seconds is not None:
                samples[(interval, group)].append(timing.Sample(seconds, target))
    calls = Call.objects.filter(incident_id__in=list(group_of), answered_at__isnull=False).values_list(
        "incident_id", "received_at", "answered_at")
    for incident_id, received, answered in calls:
        seconds = _seconds(received, answered)
        if seconds is not None:
            samples[("answer", group_of[incident_id])].append(
                timing.Sample(seconds, settings.JINGWU_DISPATCH_ANSWER_SECONDS))
    order = {name: i for i, name in enumerate(timing.INTERVALS)}
    return [timing.summarise(interval, group, items)
            for (interval, group), items in sorted(samples.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))]


# --- interop -----------------------------------------------------------------------------------------

def incident_eido(actor: User, pk: int, *, with_callers: bool = False, request: Any = None) -> dict[str, Any]:
    """The incident as NENA EIDO JSON. Caller numbers only `with_callers`, which is a person read
    (purpose required, audited); the export itself is audited too."""
    incident = incident_get(actor, pk)
    calls = list(incident_calls(incident))
    numbers = None
    if with_callers:
        purpose.person_read(actor, object_type="incident_callers", object_id=incident.number, unit=incident.unit,
                            action=Action.INCIDENT_RECORD, details={"calls": [c.pk for c in calls]})
        numbers = {c.pk: c.caller_number for c in calls if c.caller_number}
    document = eido.incident_eido(incident, calls, list(incident_assignments(incident)),
                                  list(incident_diversions(incident)), caller_numbers=numbers)
    audit.record(actor=actor, action="dispatch.eido_export", object_type="incident", object_id=incident.number,
                 unit_code=incident.unit.code, request=request, details={"with_callers": with_callers})
    return document


def incidents_matching(actor: User, text: str) -> QuerySet[Incident]:
    """Incidents whose number, address or summary contains `text` (the dispatcher's lookup box)."""
    return incidents(actor).filter(Q(number__icontains=text) | Q(address__icontains=text)
                                   | Q(summary__icontains=text))


# --- the command centre board and the officer's view ----------------------------------------------

BOARD_LIMIT: Final = 500


def board_incidents(actor: User, *, limit: int = BOARD_LIMIT) -> list[Incident]:
    """Open incidents for the board, most urgent first: by priority (the classifier's suggestion
    until a dispatcher confirms one), then oldest first. One query, at most `limit` rows."""
    from django.db.models import Value
    from django.db.models.functions import Coalesce

    rank = Coalesce("priority", "suggested_priority", Value(9))
    return list(open_incidents(actor).annotate(rank=rank).order_by("rank", "received_at", "pk")[:limit])


def board_grids(actor: User) -> list[tuple[str, str, dict[str, Any]]]:
    """(code, name, polygon) of the grids in the actor's jurisdiction, for the board's map."""
    roots = access.jurisdictions(actor, Action.INCIDENT_RECORD)
    if not roots:
        return []
    within = Q()
    for root in roots:
        within |= Q(path__startswith=root)
    grids = Unit.objects.filter(within, kind=UnitKind.GRID, geometry__isnull=False)
    return [(code, name, geometry) for code, name, geometry in grids.order_by("code").values_list(
        "code", "name", "geometry") if isinstance(geometry, dict) and geometry.get("type") == "Polygon"]


def my_assignments(actor: User) -> QuerySet[Assignment]:
    """Open assignments of the patrol units the actor serves on (as a crew member), newest first."""
    return (Assignment.objects.filter(ended_at__isnull=True, patrol_unit__members__user=actor)
            .select_related("incident__unit", "patrol_unit__station").distinct().order_by("-dispatched_at", "-pk"))
