"""Synthetic cases for the demo, supervision tests and the benchmark: deterministic per seed.

`cases_seed` writes two years of cases for the stations under a unit (the province by
default), with the recent year about a tenth busier than the one before so year-over-year
figures mean something. Each case's course is drawn — how long filing review,
investigation, mediation took, and how it ended — and its state at `now` follows from
those durations: old cases have ended, recent ones are open with their clock running.

A small share is planted wrong for supervision to find, each with exactly one running
clock, and listed in the ground truth (`var/synthetic/cases-seed<seed>.json`):

- overdue: a criminal filing review or an administrative case past its deadline;
- filed_idle (立而不侦): filed 40–120 days ago, nothing done since;
- investigation_overdue (侦而不结): investigating past the six-month clock (also overdue);
- criminal_no_case (有案不立): the registered incident feed's criminal incidents past the
  grace period with no case, as they stand when seeding (the incident keeper's own seeder
  decides which those are; this one links none).

Written in bulk (cases, one Deadline per running clock, one acceptance event per case),
with numbers from `services.case_numbers_reserve` and one shared lookup-code hash. A second
run with the same seed finds its cases and adds nothing."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from jingwu.cases import deadlines, incidents, services
from jingwu.cases.models import Case, CaseEvent, Deadline, EventKind, Origin
from jingwu.cases.workflow import CaseType, DeclineReason
from jingwu.core.models import Unit, UnitKind

DAY = dt.timedelta(days=1)
SEED_LOOKUP_CODE = "SEED-CASE"  # the one lookup code every seeded case shares (demo only)

# Shares of case types, and the categories' relative frequencies within each.
TYPE_SHARES = ((CaseType.CRIMINAL, 0.40), (CaseType.ADMINISTRATIVE, 0.35), (CaseType.DISPUTE, 0.25))
CATEGORY_WEIGHTS: dict[str, dict[str, int]] = {
    CaseType.CRIMINAL: {"theft": 30, "telecom_fraud": 18, "fraud": 10, "burglary": 8, "assault": 7,
                        "dangerous_driving": 8, "drugs": 4, "robbery": 2, "snatching": 2, "affray": 4,
                        "extortion": 2, "other_criminal": 5},
    CaseType.ADMINISTRATIVE: {"beating": 30, "minor_theft": 20, "disorder": 10, "gambling": 8,
                              "prostitution": 5, "property_damage": 10, "harassment": 7, "drug_use": 5,
                              "other_administrative": 5},
    CaseType.DISPUTE: {"neighbour": 30, "family": 25, "labour": 10, "consumer": 15, "traffic": 12,
                       "property": 5, "other_dispute": 3},
}
ANOMALY_SHARE = 0.01  # of each kind, at least one each
GROWTH = 1.10  # the recent year against the year before
SUMMARIES: dict[str, str] = {CaseType.CRIMINAL: "报案人称其财物或人身权利受到侵害，请求公安机关依法处理。",
             CaseType.ADMINISTRATIVE: "当事人涉嫌违反治安管理，民警到场调查处理。",
             CaseType.DISPUTE: "双方当事人发生纠纷，请求民警调处。"}


@dataclass
class CasesSeedReport:
    created: int
    existing: bool
    ground_truth: Path
    anomalies: dict[str, list[str]] = field(default_factory=dict)
    by_year: dict[str, dict[str, int]] = field(default_factory=dict)


def ground_truth_path(seed: int, directory: Path | None = None) -> Path:
    return (directory or Path(settings.VAR_DIR) / "synthetic") / f"cases-seed{seed}.json"


@dataclass
class _Plan:
    """One case to write: where it stands at `now`, and its running clock (if any)."""

    case_type: str
    category: str
    unit: Unit
    accepted_at: dt.datetime
    state: str
    state_entered_at: dt.datetime
    terminal: bool = False
    ended_at: dt.datetime | None = None
    outcome: str = ""
    decline_reason: str = ""
    filed_at: dt.datetime | None = None
    activity_at: dt.datetime | None = None
    clock: str = ""
    clock_start: dt.datetime | None = None
    anomaly: str = ""


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _days(rng: random.Random, low: float, high: float) -> dt.timedelta:
    return dt.timedelta(days=rng.uniform(low, high))


def _criminal(rng: random.Random, p: _Plan, now: dt.datetime) -> None:
    review_end = p.accepted_at + _days(rng, 0.2, 2.8)
    if review_end > now:  # still under filing review
        p.state, p.state_entered_at = rng.choice(["accepted", "filing_review"]), p.accepted_at
        p.clock, p.clock_start = "criminal.filing_review", p.accepted_at
        return
    if rng.random() < 0.18:  # declined, the reporter told within a day
        p.decline_reason = rng.choice(list(DeclineReason.values))
        notified = min(review_end + _days(rng, 0.1, 1.0), now)
        p.state, p.state_entered_at, p.terminal, p.ended_at, p.outcome = (
            "decline_notified", notified, True, notified, "declined")
        return
    p.filed_at = review_end
    done = review_end + dt.timedelta(days=min(175.0, rng.lognormvariate(4.0, 0.6)))  # median ≈ 55 days
    if done > now:  # investigating, active within the idle threshold
        p.state = "legal_review" if done - now < 10 * DAY else "investigation"
        p.state_entered_at = max(review_end, now - _days(rng, 1, 20))
        p.activity_at = max(review_end, now - _days(rng, 0, 25))
        p.clock, p.clock_start = "criminal.investigation", review_end
        return
    p.activity_at = done
    withdrawn = rng.random() < 0.12
    p.terminal, p.ended_at = True, done
    p.outcome = "withdrawn" if withdrawn else "transferred"
    archived = done + _days(rng, 5, 40)
    p.state, p.state_entered_at = (("closed", archived) if archived < now
                                   else ("withdrawn" if withdrawn else "transferred", done))


def _administrative(rng: random.Random, p: _Plan, now: dt.datetime) -> None:
    fast = rng.random() < 0.4
    done = p.accepted_at + (_days(rng, 0.2, 2.5) if fast else _days(rng, 2, 28))
    if done > now:
        p.state, p.state_entered_at = ("fast_track" if fast else "investigation"), p.accepted_at
        p.clock = "administrative.fast_track" if fast else "administrative.handling"
        p.clock_start = p.accepted_at
        return
    p.terminal, p.ended_at = True, done
    if rng.random() < 0.2 and not fast:
        p.state, p.state_entered_at, p.outcome = "closed", done, "no_penalty"
        return
    p.outcome = "penalized"
    executed = done + _days(rng, 0.5, 14)
    if executed > now:  # the fine is still to be paid
        p.terminal, p.ended_at, p.outcome = False, None, ""
        p.state, p.state_entered_at = "penalty_decided", done
        p.clock, p.clock_start = "administrative.execution", done
        return
    p.ended_at = executed
    p.state, p.state_entered_at = ("closed", executed + DAY) if executed + DAY < now else ("executed", executed)


def _dispute(rng: random.Random, p: _Plan, now: dt.datetime) -> None:
    roll = rng.random()
    done = p.accepted_at + (_days(rng, 0.1, 2) if roll < 0.12 else _days(rng, 1, 25))
    if done > now:
        p.state, p.state_entered_at = "mediation", p.accepted_at
        p.clock, p.clock_start = "dispute.mediation", p.accepted_at
        return
    p.state, p.state_entered_at, p.terminal, p.ended_at = "closed", done, True, done
    p.outcome = "referred" if roll < 0.12 else ("settled" if roll < 0.75 else "unsettled")


_COURSES = {CaseType.CRIMINAL: _criminal, CaseType.ADMINISTRATIVE: _administrative, CaseType.DISPUTE: _dispute}


def _anomaly(rng: random.Random, kind: str, unit: Unit, now: dt.datetime) -> _Plan:
    if kind == "overdue" and rng.random() < 0.5:
        accepted = now - _days(rng, 35, 60)
        return _Plan(CaseType.ADMINISTRATIVE, _pick(rng, CATEGORY_WEIGHTS[CaseType.ADMINISTRATIVE]), unit, accepted,
                     "investigation", accepted + DAY, clock="administrative.handling", clock_start=accepted,
                     anomaly=kind)
    category = _pick(rng, CATEGORY_WEIGHTS[CaseType.CRIMINAL])
    if kind == "overdue":  # a filing review left lying
        accepted = now - _days(rng, 6, 20)
        return _Plan(CaseType.CRIMINAL, category, unit, accepted, "filing_review", accepted + DAY / 4,
                     clock="criminal.filing_review", clock_start=accepted, anomaly=kind)
    if kind == "filed_idle":
        filed = now - _days(rng, 40, 120)
        return _Plan(CaseType.CRIMINAL, category, unit, filed - _days(rng, 0.5, 2.5), "filed", filed, filed_at=filed,
                     activity_at=filed, clock="criminal.investigation", clock_start=filed, anomaly=kind)
    filed = now - _days(rng, 200, 300)  # investigation_overdue
    return _Plan(CaseType.CRIMINAL, category, unit, filed - _days(rng, 0.5, 2.5), "investigation", filed + DAY,
                 filed_at=filed, activity_at=now - _days(rng, 1, 10), clock="criminal.investigation",
                 clock_start=filed, anomaly=kind)


def _accepted_times(rng: random.Random, count: int, now: dt.datetime) -> list[dt.datetime]:
    """`count` acceptance times over the two years before `now`, the recent year GROWTH times busier."""
    recent = round(count * GROWTH / (1 + GROWTH))
    times = [now - _days(rng, 0, 365) for _i in range(recent)]
    times += [now - _days(rng, 365, 730) for _i in range(count - recent)]
    return sorted(times)


def case_plans(*, rng: random.Random, stations: list[Unit], count: int, now: dt.datetime) -> list[_Plan]:
    """The courses of `count` ordinary cases and the planted anomalies (the last ones)."""
    plans = []
    for accepted in _accepted_times(rng, count, now):
        case_type = rng.choices([t for t, _s in TYPE_SHARES], weights=[s for _t, s in TYPE_SHARES])[0]
        plan = _Plan(case_type, _pick(rng, CATEGORY_WEIGHTS[case_type]), rng.choice(stations), accepted,
                     "accepted", accepted)
        _COURSES[case_type](rng, plan, now)
        plans.append(plan)
    planted = max(1, round(count * ANOMALY_SHARE))
    for kind in ("overdue", "filed_idle", "investigation_overdue"):
        plans += [_anomaly(rng, kind, rng.choice(stations), now) for _i in range(planted)]
    return plans


class _RowWriter:
    """Inserts rows of one model with `executemany`, values prepared once per column kind.

    Django's bulk_create spends most of its time building model instances and preparing each
    value through the field (profiled at 20k cases: 8 of 80 s in the database); the seeder
    writes millions of rows whose columns are plain text, numbers, times and a few repeated
    JSON values, so it prepares them here the way the fields would."""

    def __init__(self, model: type[models.Model]) -> None:
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.defaults = {f.attname: f.get_default() for f in self.fields}
        names = ", ".join(connection.ops.quote_name(str(f.column)) for f in self.fields)
        table = connection.ops.quote_name(model._meta.db_table)
        # Names from the model, quoted; values are parameters.
        self.sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(self.fields))})"  # noqa: S608
        self.times = {f.attname for f in self.fields if isinstance(f, models.DateTimeField)}
        self.json = {f.attname: f for f in self.fields if isinstance(f, models.JSONField)}
        self._json_cache: dict[tuple[str, str], Any] = {}

    def _value(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in self.times:
            return connection.ops.adapt_datetimefield_value(value)
        if name in self.json:
            key = (name, json.dumps(value, sort_keys=True))
            if key not in self._json_cache:
                self._json_cache[key] = self.json[name].get_db_prep_save(value, connection)
            return self._json_cache[key]
        return value

    def write(self, rows: list[dict[str, Any]]) -> None:
        params = [[self._value(f.attname, row.get(f.attname, self.defaults[f.attname])) for f in self.fields]
                  for row in rows]
        with connection.cursor() as cursor:
            cursor.executemany(self.sql, params)


def cases_write(plans: list[_Plan], *, lookup_hash: str, batch: int = 5000) -> list[str]:
    """Write planned cases in bulk: numbers reserved per (type, unit, year), one acceptance
    event per case, and one Deadline per running clock as services._clock_start would.
    Returns the case numbers, in the order of `plans`."""
    groups: dict[tuple[str, int, int], list[_Plan]] = defaultdict(list)
    for plan in plans:
        groups[(plan.case_type, plan.unit.pk, timezone.localtime(plan.accepted_at).year)].append(plan)
    numbers: dict[int, str] = {}
    for (case_type, _unit_id, year), members in groups.items():
        reserved = services.case_numbers_reserve(case_type=case_type, unit=members[0].unit, year=year,
                                                 count=len(members))
        members.sort(key=lambda p: p.accepted_at)
        numbers.update({id(p): n for p, n in zip(members, reserved, strict=True)})
    policies = deadlines.policies()
    case_rows, event_rows, clock_rows = _RowWriter(Case), _RowWriter(CaseEvent), _RowWriter(Deadline)
    written: list[str] = []
    for i in range(0, len(plans), batch):
        chunk = plans[i:i + batch]
        chunk_numbers = [numbers[id(p)] for p in chunk]
        with transaction.atomic():
            case_rows.write([{
                "number": number, "case_type": p.case_type, "state": p.state, "category": p.category,
                "categories": [p.category], "summary": SUMMARIES[p.case_type], "unit_id": p.unit.pk,
                "origin": Origin.STATION, "reported_at": p.accepted_at - dt.timedelta(minutes=30),
                "accepted_at": p.accepted_at, "state_entered_at": p.state_entered_at, "filed_at": p.filed_at,
                "activity_at": p.activity_at, "terminal": p.terminal, "ended_at": p.ended_at, "outcome": p.outcome,
                "decline_reason": p.decline_reason, "lookup_hash": lookup_hash, "created_at": p.accepted_at}
                for number, p in zip(chunk_numbers, chunk, strict=True)])
            ids = dict(Case.objects.filter(number__in=chunk_numbers).values_list("number", "pk"))
            event_rows.write([{"case_id": ids[number], "at": p.accepted_at, "kind": EventKind.ACCEPTED,
                               "to_state": "accepted", "details": {"origin": "station"}}
                              for number, p in zip(chunk_numbers, chunk, strict=True)])
            clocks = []
            for number, p in zip(chunk_numbers, chunk, strict=True):
                if not p.clock or p.clock_start is None:
                    continue
                policy = policies[p.clock]
                due = policy.period.end(p.clock_start)
                clocks.append({"case_id": ids[number], "unit_id": p.unit.pk, "clock": p.clock,
                               "started_at": p.clock_start, "due_at": due,
                               "warn_at": due - dt.timedelta(hours=policy.warn_hours)})
            clock_rows.write(clocks)
        written += chunk_numbers
    return written


def _incidents_without_case(now: dt.datetime) -> list[str]:
    grace = now - dt.timedelta(hours=settings.JINGWU_CASE_INCIDENT_GRACE_HOURS)
    found: list[str] = []
    for feed in incidents.feeds():
        qs = feed.with_case().filter(feed.criminal, **{f"{feed.reported_field}__lte": grace}, has_case=False)
        found += [f"{feed.app}:{n}" for n in qs.values_list(feed.number_field, flat=True)]
    return sorted(found)


def cases_seed(*, seed: int, count: int = 3000, within: Unit | None = None, now: dt.datetime | None = None,
               directory: Path | None = None) -> CasesSeedReport:
    """Two years of cases for the stations under `within` (default: every station), `count`
    ordinary ones plus ANOMALY_SHARE of each anomaly; writes the ground truth."""
    now = now or timezone.now()
    path = ground_truth_path(seed, directory)
    if path.exists():
        truth = json.loads(path.read_text())
        if Case.objects.filter(number=truth["first_number"]).exists():
            return CasesSeedReport(created=0, existing=True, ground_truth=path, anomalies=truth["anomalies"],
                                   by_year=truth["by_year"])
    stations = Unit.objects.filter(kind=UnitKind.STATION).order_by("path")
    if within is not None:
        stations = stations.filter(path__startswith=within.path)
    units = list(stations)
    if not units:
        return CasesSeedReport(created=0, existing=False, ground_truth=path)
    rng = random.Random(f"cases:{seed}")
    plans = case_plans(rng=rng, stations=units, count=count, now=now)
    written = cases_write(plans, lookup_hash=services.lookup_hash_for_seed(SEED_LOOKUP_CODE))
    anomalies: dict[str, list[str]] = {"overdue": [], "filed_idle": [], "investigation_overdue": []}
    for number, plan in zip(written, plans, strict=True):
        if plan.anomaly:
            anomalies[plan.anomaly].append(number)
        if plan.anomaly == "investigation_overdue":  # its clock is past due too
            anomalies["overdue"].append(number)
    anomalies = {k: sorted(v) for k, v in anomalies.items()}
    anomalies["criminal_no_case"] = _incidents_without_case(now)
    by_year: dict[str, Counter[str]] = defaultdict(Counter)
    for plan in plans:
        by_year[str(timezone.localtime(plan.accepted_at).year)][plan.case_type] += 1
    truth_years = {year: dict(sorted(counts.items())) for year, counts in sorted(by_year.items())}
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = {"seed": seed, "as_of": now.isoformat(), "cases": len(written), "first_number": written[0],
             "lookup_code": SEED_LOOKUP_CODE, "anomalies": anomalies, "by_year": truth_years,
             "outcomes": dict(sorted(Counter(f"{p.case_type}.{p.outcome or 'open'}" for p in plans).items()))}
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=1))
    return CasesSeedReport(created=len(written), existing=False, ground_truth=path, anomalies=anomalies,
                           by_year=truth_years)


def summary_line(report: CasesSeedReport) -> str:
    """One line for `jingwu seed`'s output."""
    if report.existing:
        return f"Cases: already seeded — ground truth {report.ground_truth}"
    planted = ", ".join(f"{k} {len(v)}" for k, v in report.anomalies.items())
    return f"Cases: added {report.created:,} over two years (anomalies: {planted}); ground truth {report.ground_truth}"

