"""Reads of the core, scoped to the actor."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from jingwu.core import access
from jingwu.core.models import AccessPurpose, User, WorkItem, WorkItemStatus

OPEN_STATUSES = (WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS)


def _inbox_filter(actor: User) -> Q:
    mine = Q(assignee_user=actor)
    roots = access.jurisdictions(actor, access.Action.WORKITEM_READ_UNIT)
    # Unit-wide items are seen by those who hold a role at exactly that unit
    # (a station's shared queue is the station's, not the whole province's).
    unit_ids = [unit.pk for role, unit in access._assignments(actor)
                if role in access.ROLES and access.Action.WORKITEM_READ_UNIT in access.ROLES[role].actions]
    if roots and unit_ids:
        mine |= Q(assignee_user__isnull=True, assignee_unit_id__in=unit_ids)
    return mine


def inbox(actor: User, *, include_closed: bool = False) -> QuerySet[WorkItem]:
    """The actor's tasks: assigned to them, or to a unit they work at; overdue first, then priority."""
    qs = WorkItem.objects.filter(_inbox_filter(actor)).select_related("assignee_unit", "assignee_user")
    if not include_closed:
        qs = qs.filter(status__in=OPEN_STATUSES)
    now = timezone.now()
    return qs.annotate(
        overdue=Case(When(due_at__lt=now, then=Value(0)), default=Value(1), output_field=IntegerField())
    ).order_by("overdue", "priority", "due_at", "id")


def workitem_visible_to(actor: User, item: WorkItem) -> bool:
    return WorkItem.objects.filter(_inbox_filter(actor), pk=item.pk).exists()


def current_purpose(actor: User) -> AccessPurpose | None:
    return (AccessPurpose.objects.filter(user=actor, cleared_at__isnull=True, expires_at__gt=timezone.now())
            .order_by("-set_at").first())
