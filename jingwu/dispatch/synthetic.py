"""Synthetic patrol units for the demo, the simulator and the benchmark: deterministic per seed.

Each station of the chosen cities gets `per_station` units, each with a beat (one of the
station's grids in turn), a police vehicle plate, a crew of a sworn leader and an
auxiliary officer, a day or night shift, and a position inside its beat. Existing call
signs are left alone, so running it again adds only what is missing."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jingwu.core import audit
from jingwu.core.models import Unit, UnitKind, User
from jingwu.core.services import ServiceError
from jingwu.dispatch import classifier, diversion, services
from jingwu.dispatch.distance import eta_seconds, haversine_m, road_m
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
    LocatedBy,
    PatrolKind,
    PatrolMember,
    PatrolUnit,
)
from jingwu.dispatch.workflow import IncidentStatus
from jingwu.synthetic.names import given_name_draw, surname_draw
from jingwu.synthetic.province import PLATE_LETTERS, PLATE_PROVINCE, stable_hash


@dataclass(frozen=True)
class DispatchSeedReport:
    stations: int
    created: int
    existing: int


def call_sign(station_code: str, n: int) -> str:
    return f"{station_code}-P{n:02d}"


def _point_in(geometry: dict | None, rng: random.Random) -> tuple[float, float] | None:
    """A point inside a grid's box (the synthetic grids are boxes), away from its edges."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        return None
    ring = geometry["coordinates"][0]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    w, e, s, n = min(lons), max(lons), min(lats), max(lats)
    return (round(s + (n - s) * rng.uniform(0.1, 0.9), 6), round(w + (e - w) * rng.uniform(0.1, 0.9), 6))


def _shift(n: int, day: datetime) -> tuple[str, datetime, datetime]:
    local = timezone.localtime(day).date()
    tz = timezone.get_current_timezone()
    if n % 2:
        start = datetime.combine(local, time(8), tzinfo=tz)
        return "白班", start, start + timedelta(hours=12)
    start = datetime.combine(local, time(20), tzinfo=tz)
    return "夜班", start - timedelta(days=1), start - timedelta(hours=12)


def seed_dispatch(*, seed: int = 2017, per_station: int = 2, city_codes: list[str] | None = None,
                  at: datetime | None = None) -> DispatchSeedReport:
    """Patrol units for every station (of the given cities; default all in the database)."""
    if per_station < 1:
        raise ServiceError("per_station must be at least 1", field="per_station")
    when = at or timezone.now()
    stations = Unit.objects.filter(kind=UnitKind.STATION).select_related("parent").order_by("code")
    if city_codes:
        query = Q()
        for code in city_codes:
            query |= Q(path__contains=f"/{code}/")
        stations = stations.filter(query)
    grids_of: dict[int, list[Unit]] = {}
    for grid in Unit.objects.filter(kind=UnitKind.GRID, parent__in=stations).order_by("code"):
        grids_of.setdefault(grid.parent_id or 0, []).append(grid)
    existing = set(PatrolUnit.objects.values_list("call_sign", flat=True))
    created = kept = 0
    count = 0
    for station in stations:
        count += 1
        city = station.path.strip("/").split("/")[1] if station.path.count("/") > 1 else ""
        letter = PLATE_LETTERS.get(city, "A")[0]
        grids = grids_of.get(station.pk, [])
        for n in range(1, per_station + 1):
            sign = call_sign(station.code, n)
            if sign in existing:
                kept += 1
                continue
            rng = random.Random(stable_hash(f"dispatch/{seed}/{sign}"))
            beat = grids[(n - 1) % len(grids)] if grids else None
            point = _point_in(beat.geometry if beat else None, rng)
            label, start, end = _shift(n, when)
            crew = [
                services.MemberSpec(name=surname_draw(rng) + given_name_draw(rng, rng.choice("MF"), 1985),
                                    badge_number=f"{rng.randrange(100000, 999999)}", leader=True),
                services.MemberSpec(name=surname_draw(rng) + given_name_draw(rng, rng.choice("MF"), 1995),
                                    auxiliary=True),
            ]
            services.patrol_unit_create(
                actor=None, station=station, call_sign=sign, name=f"{station.name}巡逻{n}组",
                kind=PatrolKind.CAR if n % 3 else PatrolKind.MOTORCYCLE,
                vehicle_plate=f"{PLATE_PROVINCE}{letter}{rng.randrange(0, 10000):04d}警", grid=beat, members=crew,
                shift_label=label, shift_start=start, shift_end=end,
                lat=point[0] if point else None, lon=point[1] if point else None, at=when)
            created += 1
    return DispatchSeedReport(stations=count, created=created, existing=kept)


# --- months of incidents ----------------------------------------------------------------------------

# Calls per hour of the local day (relative): quiet before dawn, busy late morning and evening.
HOURLY_WEIGHTS: Final = (3, 2, 1.5, 1, 1, 1.2, 2, 3.5, 5, 6, 6.5, 6.5, 6, 5.5, 5.5, 5.5, 6, 6.5, 7, 7.5, 7.5, 7,
                         5.5, 4)
# The mix of a city 110 centre: (share, call texts the classifier knows). Help, disputes, traffic
# and non-police calls outnumber crime, as in published 110 statistics.
CALL_MIX: Final[tuple[tuple[float, tuple[str, ...]], ...]] = (
    (0.14, ("有老人走失了", "孩子走丢了，找不到孩子", "有人晕倒在路边", "被困在电梯里出不来", "丢了钱包，请帮忙找")),
    (0.13, ("邻居吵架吵得很凶", "两口子吵架，要动手", "饭店吵架，不给退款", "讨薪，老板拖欠工资",
            "借钱不还，欠款纠纷")),
    (0.12, ("路口追尾了", "车祸，有人受伤", "剐蹭，对方不肯走", "有人乱停车挡道", "撞了就跑，肇事逃逸")),
    (0.12, ("家里停水了", "路灯不亮", "井盖丢了", "咨询怎么办理身份证", "没有暖气")),
    (0.10, ("有人打架", "醉酒闹事", "楼上装修噪音太吵", "广场舞扰民", "有人聚众赌博")),
    (0.09, ("电动车被偷了", "家里被盗，门被撬了", "接到冒充客服电话被骗了", "手机被抢了", "有人吸毒")),
    (0.08, ("打错了", "无声电话", "测试一下", "不小心拨的")),
    (0.05, ("举报有人在卖假烟", "投诉民警态度")),
    (0.03, ("楼下着火了，冒烟", "电动车着火了", "荒草着火")),
)
_DAY_SECONDS: Final = 86_400


@dataclass(frozen=True)
class HistoryReport:
    incidents: int
    calls: int
    assignments: int
    diversions: int
    days: int
    existing: int  # incidents of this seed already there (nothing added)


@dataclass(frozen=True)
class _Town:
    station: Unit
    city: Unit
    county: Unit | None
    grids: list[Unit]
    units: list[PatrolUnit]
    lat: float
    lon: float
    spread: float
    weight: float


def _box(grid: Unit) -> tuple[float, float, float, float]:
    geometry = grid.geometry
    assert isinstance(geometry, dict)
    ring = geometry["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return min(lons), min(lats), max(lons), max(lats)


def _towns(city_codes: list[str] | None, rng: random.Random) -> list[_Town]:
    """Every station with grids and patrol units is a town: its calls cluster round its grids' middle."""
    units_of: dict[int, list[PatrolUnit]] = {}
    for unit in PatrolUnit.objects.order_by("call_sign"):
        units_of.setdefault(unit.station_id, []).append(unit)
    grids_of: dict[int, list[Unit]] = {}
    for grid in Unit.objects.filter(kind=UnitKind.GRID, parent_id__in=list(units_of)).order_by("code"):
        if isinstance(grid.geometry, dict) and grid.geometry.get("type") == "Polygon":
            grids_of.setdefault(grid.parent_id or 0, []).append(grid)
    cities = {u.code: u for u in Unit.objects.filter(kind=UnitKind.CITY)}
    towns = []
    for station in Unit.objects.filter(pk__in=list(grids_of)).select_related("parent").order_by("code"):
        parts = station.path.strip("/").split("/")
        city = cities.get(parts[1]) if len(parts) > 1 else None
        if city is None or (city_codes and city.code not in city_codes):
            continue
        boxes = [_box(g) for g in grids_of[station.pk]]
        w, s = min(b[0] for b in boxes), min(b[1] for b in boxes)
        e, n = max(b[2] for b in boxes), max(b[3] for b in boxes)
        county = station.parent if station.parent is not None and station.parent.kind == UnitKind.COUNTY else None
        towns.append(_Town(station, city, county, grids_of[station.pk], units_of[station.pk], (s + n) / 2,
                           (w + e) / 2, max(e - w, n - s) / 4, rng.lognormvariate(0, 0.8)))
    return towns


def _place(town: _Town, rng: random.Random) -> tuple[float, float, Unit]:
    """A point near the town's middle that falls in one of its grids, and that grid."""
    for _attempt in range(6):
        lat, lon = rng.gauss(town.lat, town.spread), rng.gauss(town.lon, town.spread)
        for grid in town.grids:
            w, s, e, n = _box(grid)
            if w <= lon < e and s <= lat < n:
                return round(lat, 6), round(lon, 6), grid
    grid = rng.choice(town.grids)
    w, s, e, n = _box(grid)
    return round(rng.uniform(s, n), 6), round(rng.uniform(w, e), 6), grid


def _result_for(category: str, rng: random.Random) -> str:
    if category == classifier.Category.CRIMINAL:
        return IncidentResult.CASE if rng.random() < 0.6 else IncidentResult.HANDLED
    if category == classifier.Category.DISPUTE:
        return IncidentResult.MEDIATED
    return rng.choice((IncidentResult.HANDLED, IncidentResult.HANDLED, IncidentResult.NO_FINDING))


def seed_history(*, seed: int = 2017, incidents: int = 3000, days: int = 90, city_codes: list[str] | None = None,
                 until: datetime | None = None) -> HistoryReport:
    """`incidents` past incidents over the `days` before `until`'s local day (default today), with
    calls, classification, diversion or dispatch, arrival, clearance and result — every time
    stamped, so timing reports and the board's counts have history. Written in bulk (history, not
    live work); deterministic per seed; a second run with the same seed adds nothing. Needs the
    patrol units of seed_dispatch."""
    if incidents < 0 or days < 1:
        raise ServiceError("incidents must be ≥ 0 and days ≥ 1", field="incidents")
    marker = f"syn{seed}-"
    existing = Call.objects.filter(external_id__startswith=marker).values("incident_id").distinct().count()
    if existing or incidents == 0:
        return HistoryReport(0, 0, 0, 0, days, existing)
    rng = random.Random(stable_hash(f"dispatch-history/{seed}"))
    towns = _towns(city_codes, rng)
    if not towns:
        raise ServiceError("no stations with grids and patrol units: run seed_dispatch first", field="city_codes")
    tz = timezone.get_current_timezone()
    end_day = timezone.localtime(until or timezone.now()).date()
    first_day = end_day - timedelta(days=days)
    town_weights = [t.weight for t in towns]
    mix_weights = [share for share, _texts in CALL_MIX]
    drafts = []
    for k in range(incidents):
        day = first_day + timedelta(days=rng.randrange(days))
        hour = rng.choices(range(24), weights=HOURLY_WEIGHTS)[0]
        received = datetime.combine(day, time(hour), tzinfo=tz) + timedelta(seconds=rng.randrange(3600))
        town = rng.choices(towns, weights=town_weights)[0]
        text = rng.choice(CALL_MIX[rng.choices(range(len(CALL_MIX)), weights=mix_weights)[0]][1])
        drafts.append((received, k, town, text))
    drafts.sort(key=lambda d: (d[0], d[1]))
    sequences = {(s.centre_code, s.day): s for s in IncidentSequence.objects.filter(
        day__gte=first_day, day__lt=end_day)}
    serial: dict[tuple[str, date], int] = {key: s.last for key, s in sequences.items()}
    rows = []
    for received, k, town, text in drafts:
        suggestion = classifier.classify(text)
        lat, lon, grid = _place(town, rng)
        code = town.city.division_code or town.city.code
        local_day = timezone.localtime(received).date()
        serial[(code, local_day)] = serial.get((code, local_day), 0) + 1
        number = f"J{code}{local_day:%Y%m%d}{serial[(code, local_day)]:05d}"
        rows.append((received, k, town, text, suggestion, lat, lon, grid, number))
    with transaction.atomic():
        made = _history_write(rows, rng, marker)
        for (code, day), last in serial.items():
            IncidentSequence.objects.update_or_create(centre_code=code, day=day, defaults={"last": last})
        audit.record(actor=None, action="dispatch.history_seed", object_type="incident",
                     details={"seed": seed, "incidents": made.incidents, "days": days,
                              "from": first_day.isoformat(), "until": end_day.isoformat()})
    return made


def _history_write(rows: list[tuple[Any, ...]], rng: random.Random, marker: str) -> HistoryReport:
    incidents, calls, assignments, diversions = [], [], [], []
    plans = []
    for received, k, town, text, suggestion, lat, lon, grid, number in rows:
        category = suggestion.category or classifier.Category.INVALID
        subcategory = suggestion.subcategory or "other"
        priority = suggestion.priority or 4
        if rng.random() < 0.06:  # the dispatcher corrects the priority now and then
            priority = min(4, max(1, priority + rng.choice((-1, 1))))
        answered = received + timedelta(seconds=round(rng.expovariate(1 / 6), 1))
        classified = answered + timedelta(seconds=rng.uniform(15, 60))
        incident = Incident(
            number=number, category=category, subcategory=subcategory, priority=priority,
            suggested_category=suggestion.category, suggested_subcategory=suggestion.subcategory,
            suggested_priority=suggestion.priority, classifier_rule=suggestion.rule,
            classifier_version=suggestion.version, summary=text,
            corrected=(suggestion.category, suggestion.subcategory, suggestion.priority)
            != (category, subcategory, priority), address=f"{grid.name}附近", lat=lat, lon=lon,
            located_by=LocatedBy.COORDINATES, grid=grid, station=town.station, county=town.county, centre=town.city,
            unit=grid, received_at=received, answered_at=answered, classified_at=classified, updated_at=classified)
        rule = diversion.rule_for(category, subcategory)
        plan: dict[str, Any] = {"k": k, "received": received, "answered": answered, "text": text, "lat": lat,
                                "lon": lon, "suggestion": suggestion}
        if category == classifier.Category.INVALID:
            incident.status, incident.result = IncidentStatus.CLOSED, IncidentResult.INVALID
            incident.closed_at = classified
        elif rule is not None and rule.kind == diversion.DiversionKind.TRANSFER:
            incident.status, incident.result = IncidentStatus.CLOSED, IncidentResult.TRANSFERRED
            incident.diverted_at = classified + timedelta(seconds=rng.uniform(5, 30))
            incident.closed_at = incident.diverted_at + timedelta(hours=rng.uniform(2, 48))
            plan["diversion"] = (rule, incident.diverted_at, incident.closed_at)
        else:
            unit = rng.choice(town.units)
            dispatched = classified + timedelta(seconds=rng.lognormvariate(math.log(20), 0.6))
            straight = haversine_m(unit.lat or lat, unit.lon or lon, lat, lon)
            travel = eta_seconds(road_m(straight)) * rng.uniform(0.8, 1.6) + rng.uniform(60, 180)
            arrived = dispatched + timedelta(seconds=travel)
            cleared = arrived + timedelta(minutes=rng.uniform(10, 60))
            result = _result_for(category, rng)
            incident.status = IncidentStatus.AWAITING_CASE if result == IncidentResult.CASE else IncidentStatus.CLOSED
            incident.result, incident.result_text = result, "" if result != IncidentResult.CASE else "转为案件办理"
            incident.dispatched_at, incident.arrived_at, incident.cleared_at = dispatched, arrived, cleared
            incident.closed_at = cleared + timedelta(minutes=rng.uniform(1, 10))
            plan["assignment"] = (unit, dispatched, arrived, cleared, road_m(straight))
        plan["repeat"] = category not in (classifier.Category.INVALID, classifier.Category.NON_POLICE) \
            and rng.random() < 0.05
        incident.updated_at = incident.closed_at or classified
        incidents.append(incident)
        plans.append(plan)
    Incident.objects.bulk_create(incidents, batch_size=500)
    for incident, plan in zip(incidents, plans, strict=True):
        s = plan["suggestion"]
        for n in range(2 if plan["repeat"] else 1):
            offset = timedelta(minutes=3 * n)
            external = f"{marker}{plan['k']}-{n}"
            calls.append(Call(
                incident=incident, channel=CallChannel.TELEPHONY, external_id=external,
                caller_number=f"+86139{stable_hash(external) % 10**8:08d}",
                received_at=plan["received"] + offset, answered_at=plan["answered"] + offset, lat=plan["lat"],
                lon=plan["lon"], address=incident.address, content=plan["text"], suggested_category=s.category,
                suggested_subcategory=s.subcategory, suggested_priority=s.priority, classifier_rule=s.rule,
                classifier_version=s.version, repeat=n > 0, repeat_reason="same_place" if n else "",
                updated_at=plan["answered"] + offset))
        if "assignment" in plan:
            unit, dispatched, arrived, cleared, road = plan["assignment"]
            assignments.append(Assignment(
                incident=incident, patrol_unit=unit, dispatched_at=dispatched, distance_m=road,
                eta_seconds=eta_seconds(road), en_route_at=dispatched + timedelta(seconds=20), arrived_at=arrived,
                ended_at=cleared, end=AssignmentEnd.CLEARED, updated_at=cleared))
        if "diversion" in plan:
            rule, sent, done = plan["diversion"]
            diversions.append(Diversion(
                incident=incident, kind=rule.kind, agency=rule.agency, rule=rule.key, status=DiversionStatus.DONE,
                sent_at=sent, agency_reference=f"{rule.agency}-{plan['k']:06d}", feedback="已办结",
                feedback_at=done, updated_at=done))
    Call.objects.bulk_create(calls, batch_size=1000)
    Assignment.objects.bulk_create(assignments, batch_size=1000)
    Diversion.objects.bulk_create(diversions, batch_size=1000)
    return HistoryReport(incidents=len(incidents), calls=len(calls), assignments=len(assignments),
                         diversions=len(diversions), days=0, existing=0)


def seed_demo(*, seed: int = 2017, incidents: int = 3000, days: int = 90) -> str:
    """What `jingwu seed` adds for 110 dispatch: patrol units at every station, months of past
    incidents, and the demo officer on a crew (so 我的出警 has someone's dispatches). One line back."""
    units = seed_dispatch(seed=seed)
    history = seed_history(seed=seed, incidents=incidents, days=days) if units.stations else None
    officer = User.objects.filter(username="demo_officer").select_related("home_unit").first()
    if officer is not None and not PatrolMember.objects.filter(user=officer).exists():
        crew = PatrolUnit.objects.filter(station=officer.home_unit).order_by("call_sign").first()
        if crew is not None:
            PatrolMember.objects.create(patrol_unit=crew, name=officer.display_name or officer.username,
                                        user=officer)
    if history is None:
        return "Dispatch: no stations, nothing added."
    added = (f"added {history.incidents:,} past incidents ({history.calls:,} calls, {history.assignments:,} "
             f"dispatches, {history.diversions:,} diversions)" if history.incidents
             else f"{history.existing:,} past incidents of seed {seed} already there")
    return f"Dispatch: patrol units {units.created} created, {units.existing} kept; {added}."


# --- a live stream, for the simulator and the benchmark ---------------------------------------------

class CallStream:
    """Calls as the telephony link would send them (`POST /api/calls` bodies) and position pings
    of patrol units moving about their beats, drawn from the towns in the database."""

    def __init__(self, *, seed: int = 2017, city_codes: list[str] | None = None, run: str = "") -> None:
        self.rng = random.Random(stable_hash(f"dispatch-stream/{seed}/{run}"))
        self.towns = _towns(city_codes, self.rng)
        if not self.towns:
            raise ServiceError("no stations with grids and patrol units: run `jingwu seed` first",
                               field="city_codes")
        self.run = run or f"{seed}"
        self.sent = 0
        self.positions = {u.call_sign: (u.lat or t.lat, u.lon or t.lon) for t in self.towns for u in t.units}
        self._weights = [t.weight for t in self.towns]
        self._mix = [share for share, _texts in CALL_MIX]

    def call(self, at: datetime) -> dict[str, Any]:
        town = self.rng.choices(self.towns, weights=self._weights)[0]
        text = self.rng.choice(CALL_MIX[self.rng.choices(range(len(CALL_MIX)), weights=self._mix)[0]][1])
        lat, lon, grid = _place(town, self.rng)
        self.sent += 1
        answered = at + timedelta(seconds=round(self.rng.expovariate(1 / 6), 1))
        return {"content": text, "caller_number": f"139{self.rng.randrange(10**8):08d}",
                "received_at": at.isoformat(), "answered_at": answered.isoformat(), "lat": lat, "lon": lon,
                "address": f"{grid.name}附近", "external_id": f"sim-{self.run}-{self.sent}",
                "centre": town.city.code}

    def pings(self, at: datetime) -> list[dict[str, Any]]:
        """Every unit moves up to about 150 m."""
        moved = []
        for sign, (lat, lon) in sorted(self.positions.items()):
            lat = round(lat + self.rng.uniform(-0.0013, 0.0013), 6)
            lon = round(lon + self.rng.uniform(-0.0017, 0.0017), 6)
            self.positions[sign] = (lat, lon)
            moved.append({"call_sign": sign, "lat": lat, "lon": lon, "at": at.isoformat()})
        return moved
