"""Reads of the anti-fraud centre, scoped to the actor: reports within their FRAUD_REPORT
jurisdiction. A report names its victim, so reading one goes through person_read (a stated
purpose, audited); the list and the live status of stop-payment requests name no victim."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from jingwu.antifraud import workflow
from jingwu.antifraud.models import FraudReport, StopPaymentAttempt, StopPaymentRequest, StopState
from jingwu.antifraud.warning_models import FraudWarning
from jingwu.core import access, purpose
from jingwu.core.access import Action
from jingwu.core.models import RoleAssignment, Unit, UnitKind, User

S = StopState
HELD = (S.STOPPED, S.FROZEN, S.RETURNED)  # states whose stopped amount counts as stopped


def reports(actor: User) -> QuerySet[FraudReport]:
    """Reports taken within the actor's jurisdiction, newest first, with their stop figures."""
    qs = FraudReport.objects.select_related("unit", "taken_by").annotate(
        stop_count=Count("stop_requests"),
        in_flight=Count("stop_requests", filter=Q(stop_requests__state__in=workflow.IN_FLIGHT)),
        waiting=Count("stop_requests", filter=Q(stop_requests__state=S.AWAITING_APPROVAL)),
        stopped_fen=Sum("stop_requests__amount_stopped_fen", filter=Q(stop_requests__state__in=HELD), default=0),
    )
    return access.scope(actor, Action.FRAUD_REPORT, qs).order_by("-created_at", "-id")


def report_get(actor: User, number: str, *, request: Any = None) -> FraudReport:
    """A report the actor may see (an audited 403 when it lies outside their jurisdiction),
    without reading its victim's data. Raises FraudReport.DoesNotExist."""
    report = FraudReport.objects.select_related("unit", "taken_by").get(number=number)
    access.check(actor, Action.FRAUD_REPORT, report.unit, object_type="fraud_report", object_id=number,
                 request=request)
    return report


@dataclass(frozen=True)
class ReportView:
    report: FraudReport
    masked: bool
    victim_id_shown: str


def report_read(actor: User, number: str, *, request: Any = None) -> ReportView:
    """The whole report, victim included: needs a stated purpose and is audited.
    Raises FraudReport.DoesNotExist, PermissionDenied or PurposeRequired."""
    report = report_get(actor, number, request=request)
    purpose.person_read(actor, object_type="fraud_report", object_id=report.number, unit=report.unit,
                        details={"victim_entity": report.victim_entity_id})
    from jingwu.records.entities import mask_id_number

    masked = access.masks_id_numbers(actor, report.unit)
    shown = report.victim_id_number
    return ReportView(report, masked, mask_id_number(shown) if masked and shown else shown)


def stops_of(report: FraudReport) -> list[StopPaymentRequest]:
    """A report's requests in chase order (each followed by the ones it led to), with their tries."""
    rows = list(StopPaymentRequest.objects.filter(report=report).prefetch_related(
        Prefetch("attempt_log", queryset=StopPaymentAttempt.objects.order_by("started_at", "id"))))
    children: dict[int | None, list[StopPaymentRequest]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    ordered: list[StopPaymentRequest] = []

    def walk(parent: int | None) -> None:
        for row in children.get(parent, []):
            ordered.append(row)
            walk(row.pk)

    walk(None)
    return ordered


def stop_get(actor: User, pk: int) -> StopPaymentRequest:
    """A request of a report the actor may see. Raises StopPaymentRequest.DoesNotExist."""
    stop = StopPaymentRequest.objects.select_related("report__unit", "transfer").get(pk=pk)
    access.check(actor, Action.FRAUD_REPORT, stop.report.unit, object_type="stop_payment_request", object_id=pk)
    return stop


def warnings_visible(actor: User) -> QuerySet[FraudWarning]:
    """Warnings of stations within the actor's WARNING_HANDLE jurisdiction, open ones first."""
    return access.scope(actor, Action.WARNING_HANDLE, FraudWarning.objects.select_related("unit", "report")
                        .prefetch_related("sms")).order_by("state", "-opened_at", "-id")


def warning_get(actor: User, pk: int) -> FraudWarning:
    """A warning the actor may handle. Raises FraudWarning.DoesNotExist for one outside their
    jurisdiction too, so the answer does not tell whether it exists."""
    return warnings_visible(actor).get(pk=pk)


def unit_by_code(code: str) -> Unit | None:
    """The unit a caller names by code (the services check the actor's right over it)."""
    return Unit.objects.filter(code=code).first()


def stop_desk(unit: Unit) -> Unit | None:
    """The unit whose anti-fraud desk decides on stop-payments for `unit`: the nearest one up
    the tree where a sworn holder of FRAUD_STOP_PAYMENT works (a department works for its parent)."""
    roles = [key for key, role in access.ROLES.items() if role.sworn and Action.FRAUD_STOP_PAYMENT in role.actions]
    parts = [p for p in unit.path.split("/") if p]
    ancestors = ["".join(f"{p}/" for p in parts[:i]) for i in range(1, len(parts) + 1)]
    units = {a.unit for a in RoleAssignment.objects.filter(
        Q(unit__path__in=ancestors) | Q(unit__kind=UnitKind.DEPARTMENT, unit__parent__path__in=ancestors),
        role__in=roles, active=True, user__is_active=True).select_related("unit")}
    if not units:
        return None
    return max(units, key=lambda u: (len(u.jurisdiction_path), u.kind == UnitKind.DEPARTMENT, u.path))


def live_entity(entity_id: int) -> int | None:
    from jingwu.records import entities

    return entities.entity_resolve(entity_id)


def person_entity_by_id_number(id_number: str) -> int | None:
    """The data centre's person with this ID number, when there is exactly one."""
    from jingwu.records.models import Entity, EntityKind

    found = list(Entity.objects.filter(kind=EntityKind.PERSON, key=id_number, merged_into__isnull=True)
                 .values_list("pk", flat=True)[:2])
    return found[0] if len(found) == 1 else None


# --- the centre dashboard: aggregate SQL, scoped by FRAUD_ANALYSE over the units ------------

CITY_PATH_LENGTH = len("370000/370100/")  # a unit path's first two codes: its province and city


@dataclass
class FigureRow:
    """One row of the dashboard: a day, a city, or the whole period."""

    key: Any
    label: str = ""
    reports: int = 0
    loss_fen: int = 0
    stopped_fen: int = 0
    frozen_fen: int = 0
    returned_fen: int = 0
    warnings: int = 0
    prevented: int = 0  # warnings closed as dissuaded: a fraud that did not happen
    p50_minutes: float | None = None  # report → first stop-payment request reaching a bank
    p90_minutes: float | None = None


@dataclass
class CentreFigures:
    start: Any
    end: Any
    total: FigureRow
    days: list[FigureRow]
    cities: list[FigureRow]
    warnings_by_level: list[dict[str, Any]]  # [{level, label, outcomes: {outcome: n}, open: n}]


def _minutes(value: Any) -> float | None:
    """A duration as the database hands it back: an interval (PostgreSQL) or microseconds (SQLite)."""
    if value is None:
        return None
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else int(value) / 1_000_000
    return round(seconds / 60, 1)


def _percentiles(reports: QuerySet[FraudReport], group: Any,
                 as_key: Any = None) -> dict[Any, tuple[float | None, float | None]]:
    """p50 and p90 of minutes from report to first stop-payment request, per group, in one
    statement: the smallest wait whose cumulative share reaches 0.5 (0.9) — the discrete
    percentile, computed by the database with CUME_DIST over each group."""
    from django.db import connection
    from django.db.models import DurationField, ExpressionWrapper, F, Window
    from django.db.models.functions import CumeDist

    inner = (reports.filter(first_stop_sent_at__isnull=False)
             .annotate(grp=group, wait=ExpressionWrapper(F("first_stop_sent_at") - F("created_at"),
                                                         output_field=DurationField()))
             .annotate(share=Window(CumeDist(), partition_by=[F("grp")], order_by=F("wait").asc()))
             .values("grp", "wait", "share"))
    sql, params = inner.query.sql_with_params()
    # The ORM's own SQL wrapped, its values still parameters.
    outer = ("SELECT grp, MIN(CASE WHEN share >= 0.5 THEN wait END), MIN(CASE WHEN share >= 0.9 THEN wait END) "
             "FROM (" + sql + ") waits GROUP BY grp")
    with connection.cursor() as cursor:
        cursor.execute(outer, params)
        rows = cursor.fetchall()
    # Raw SQL skips the ORM's converters: SQLite hands a truncated date back as text.
    return {(as_key(key) if as_key else key): (_minutes(p50), _minutes(p90)) for key, p50, p90 in rows}


def _as_date(value: Any) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def centre_figures(actor: User, *, start: Any, end: Any) -> CentreFigures:
    """Reports, losses, stopped / frozen / returned amounts, warnings and frauds prevented,
    and report → first stop-payment minutes (p50/p90): in total, by day (Asia/Shanghai) and
    by city, for reports taken and warnings opened in [start, end) within the actor's
    FRAUD_ANALYSE jurisdiction. A handful of GROUP BY statements whatever the row count."""
    import datetime as dt

    from django.db.models import Value
    from django.db.models.functions import Substr, TruncDate
    from django.utils import timezone

    from jingwu.antifraud.warning_models import FraudWarning, RiskLevel, WarningOutcome, WarningState

    tz = timezone.get_current_timezone()
    # order_by(): the models' default orderings have no place in a GROUP BY.
    reports = access.scope(actor, Action.FRAUD_ANALYSE, FraudReport.objects.filter(
        created_at__gte=start, created_at__lt=end)).order_by()
    stops = StopPaymentRequest.objects.filter(report__in=reports).order_by()
    warnings = access.scope(actor, Action.FRAUD_ANALYSE, FraudWarning.objects.filter(
        opened_at__gte=start, opened_at__lt=end)).order_by()
    dimensions = {
        "total": (Value(0), Value(0), Value(0), Value(0)),
        "day": (TruncDate("created_at", tzinfo=tz), TruncDate("report__created_at", tzinfo=tz),
                TruncDate("opened_at", tzinfo=tz), TruncDate("created_at", tzinfo=tz)),
        "city": (Substr("unit__path", 1, CITY_PATH_LENGTH), Substr("report__unit__path", 1, CITY_PATH_LENGTH),
                 Substr("unit__path", 1, CITY_PATH_LENGTH), Substr("unit__path", 1, CITY_PATH_LENGTH)),
    }
    tables: dict[str, dict[Any, FigureRow]] = {}
    for name, (by_report, by_stop, by_warning, by_wait) in dimensions.items():
        rows: dict[Any, FigureRow] = {}
        for r in reports.annotate(k=by_report).values("k").annotate(n=Count("id"), loss=Sum("loss_fen")):
            rows[r["k"]] = FigureRow(r["k"], reports=r["n"], loss_fen=r["loss"] or 0)
        for s in stops.annotate(k=by_stop).values("k").annotate(
                stopped_fen=Sum("amount_stopped_fen", filter=Q(state__in=HELD), default=0),
                frozen_fen=Sum("amount_frozen_fen", filter=Q(state__in=(S.FROZEN, S.RETURNED)), default=0),
                returned_fen=Sum("amount_returned_fen", filter=Q(state=S.RETURNED), default=0)):
            row = rows.setdefault(s["k"], FigureRow(s["k"]))
            row.stopped_fen, row.frozen_fen, row.returned_fen = s["stopped_fen"], s["frozen_fen"], s["returned_fen"]
        for w in warnings.annotate(k=by_warning).values("k").annotate(
                warnings=Count("id"), prevented=Count("id", filter=Q(outcome=WarningOutcome.DISSUADED))):
            row = rows.setdefault(w["k"], FigureRow(w["k"]))
            row.warnings, row.prevented = w["warnings"], w["prevented"]
        for key, (p50, p90) in _percentiles(reports, by_wait, _as_date if name == "day" else None).items():
            row = rows.setdefault(key, FigureRow(key))
            row.p50_minutes, row.p90_minutes = p50, p90
        tables[name] = rows
    total = tables["total"].get(0, FigureRow(0))
    total.label = str(_("合计"))
    first_day, last_day = timezone.localtime(start, tz).date(), timezone.localtime(end - dt.timedelta(microseconds=1),
                                                                                  tz).date()
    days = []
    day = first_day
    while day <= last_day:  # every day of the period, quiet ones too (a loop over days, not rows)
        row = tables["day"].get(day) or FigureRow(day)
        row.key, row.label = day, day.isoformat()
        days.append(row)
        day += dt.timedelta(days=1)
    names = dict(Unit.objects.filter(path__in=list(tables["city"])).values_list("path", "name"))
    cities = sorted(tables["city"].values(), key=lambda r: str(r.key))
    for row in cities:
        row.label = names.get(row.key, str(row.key))
    levels = []
    counts = {(w["level"], w["outcome"], w["state"]): w["n"]
              for w in warnings.values("level", "outcome", "state").annotate(n=Count("id"))}
    for level in (RiskLevel.HIGH, RiskLevel.MEDIUM, RiskLevel.LOW):
        outcomes = {o.value: sum(n for (lv, out, _s), n in counts.items() if lv == level and out == o)
                    for o in WarningOutcome}
        still_open = sum(n for (lv, _o, st), n in counts.items() if lv == level and st == WarningState.OPEN)
        levels.append({"level": level.value, "label": str(level.label), "outcomes": outcomes, "open": still_open,
                       "total": sum(n for (lv, _o, _s), n in counts.items() if lv == level)})
    return CentreFigures(start, end, total, days, cities, levels)
