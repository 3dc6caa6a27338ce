"""Reads of the anti-fraud centre, scoped to the actor: reports within their FRAUD_REPORT
jurisdiction. A report names its victim, so reading one goes through person_read (a stated
purpose, audited); the list and the live status of stop-payment requests name no victim."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from jingwu.antifraud import workflow
from jingwu.antifraud.models import FraudReport, StopPaymentAttempt, StopPaymentRequest, StopState
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
