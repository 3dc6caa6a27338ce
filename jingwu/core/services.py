"""Writes of the core: units, users, roles, work items, stated purposes, sign-in bookkeeping.
Each write is one transaction with one audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from jingwu.core import access, audit
from jingwu.core.models import (
    AccessPurpose,
    RoleAssignment,
    Unit,
    User,
    WorkItem,
    WorkItemPriority,
    WorkItemStatus,
)


class ServiceError(ValueError):
    """A write refused for a reason the caller can show: `field` names what was wrong."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def unit_path(parent: Unit | None, code: str) -> str:
    return f"{parent.path if parent else ''}{code}/"


def unit_create(*, actor: User | None, code: str, name: str, kind: str, parent: Unit | None = None,
                division_code: str = "", department: str = "", geometry: dict | None = None) -> Unit:
    if actor is not None and parent is not None:
        access.check(actor, access.Action.UNIT_MANAGE, parent, object_type="unit", object_id=code)
    with transaction.atomic():
        unit = Unit.objects.create(code=code, name=name, kind=kind, parent=parent, path=unit_path(parent, code),
                                   depth=parent.depth + 1 if parent else 0, division_code=division_code,
                                   department=department, geometry=geometry)
        audit.record(actor=actor, action="unit.create", object_type="unit", object_id=unit.code,
                     unit_code=unit.code)
    return unit


def user_create(*, actor: User | None, username: str, password: str, display_name: str = "",
                home_unit: Unit | None = None) -> User:
    if actor is not None:
        access.check(actor, access.Action.USER_MANAGE, home_unit, object_type="user", object_id=username)
    with transaction.atomic():
        user = User(username=username, display_name=display_name, home_unit=home_unit)
        user.set_password(password)
        user.save()
        audit.record(actor=actor, action="user.create", object_type="user", object_id=user.pk,
                     details={"username": username})
    return user


def role_grant(*, actor: User | None, user: User, role: str, unit: Unit) -> RoleAssignment:
    if role not in access.ROLES:
        raise ServiceError(f"unknown role {role!r}", field="role")
    if actor is not None:
        access.check(actor, access.Action.USER_MANAGE, unit, object_type="user", object_id=user.pk)
    with transaction.atomic():
        assignment, _created = RoleAssignment.objects.update_or_create(
            user=user, role=role, unit=unit, defaults={"active": True, "granted_by": actor})
        audit.record(actor=actor, action="role.grant", object_type="user", object_id=user.pk,
                     unit_code=unit.code, details={"role": role})
    access.forget(user)
    return assignment


def role_revoke(*, actor: User | None, user: User, role: str, unit: Unit) -> None:
    if actor is not None:
        access.check(actor, access.Action.USER_MANAGE, unit, object_type="user", object_id=user.pk)
    with transaction.atomic():
        RoleAssignment.objects.filter(user=user, role=role, unit=unit).update(active=False)
        audit.record(actor=actor, action="role.revoke", object_type="user", object_id=user.pk,
                     unit_code=unit.code, details={"role": role})
    access.forget(user)


# --- sign-in bookkeeping ---------------------------------------------------

def login_failed(*, user: User | None, username: str, reason: str = "") -> None:
    """Count a failed password (or second-factor code); lock the account after too many in a row."""
    with transaction.atomic():
        details: dict[str, object] = {"username": username}
        if reason:
            details["reason"] = reason
        if user is not None:
            locked = User.objects.select_for_update().get(pk=user.pk)
            locked.failed_logins += 1
            if locked.failed_logins >= settings.JINGWU_LOGIN_MAX_FAILURES:
                locked.locked_until = timezone.now() + timedelta(minutes=settings.JINGWU_LOGIN_LOCK_MINUTES)
                details["locked_until"] = locked.locked_until.isoformat()
            locked.save(update_fields=["failed_logins", "locked_until"])
            details["failed_logins"] = locked.failed_logins
        audit.record(actor=user, action="auth.login", outcome="denied", details=details)


def login_succeeded(*, user: User, second_factor: bool) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None, last_login=timezone.now())
        audit.record(actor=user, action="auth.login", details={"second_factor": second_factor})


def logout_recorded(*, user: User) -> None:
    audit.record(actor=user, action="auth.logout")


def login_locked_attempt(*, user: User) -> None:
    audit.record(actor=user, action="auth.login", outcome="denied",
                 details={"reason": "account locked", "locked_until": user.locked_until})


def totp_enrol_start(*, user: User) -> TOTPDevice:
    """The TOTP device a user is setting up: their unconfirmed one, created (with a fresh secret) when missing."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is not None:
        return device
    with transaction.atomic():
        device = TOTPDevice.objects.create(user=user, name="jingwu", confirmed=False)
        audit.record(actor=user, action="auth.totp_enrol", object_type="totp_device", object_id=device.pk)
    return device


def totp_enrol_confirm(*, user: User, device: TOTPDevice, token: str) -> bool:
    """Confirm a device being set up with a code from it; a wrong code is refused and audited."""
    if device.user_id != user.pk or device.confirmed:
        raise ServiceError("not a device being set up by this user", field="token")
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        ok = locked.verify_token(token)
        if ok:
            locked.confirmed = True
            locked.save(update_fields=["confirmed"])
        audit.record(actor=user, action="auth.totp_confirm", object_type="totp_device", object_id=device.pk,
                     outcome="allowed" if ok else "denied")
    if ok:
        device.refresh_from_db()
    return ok


# --- stated purpose of access -----------------------------------------------

def purpose_set(*, actor: User, text: str, ref_type: str = "", ref_id: str = "",
                hours: int | None = None) -> AccessPurpose:
    text = text.strip()
    if len(text) < 4:
        raise ServiceError(_("事由至少需要 4 个字。"), field="text")
    if ref_type not in AccessPurpose.RefType.values:
        raise ServiceError(_("未知的关联类型。"), field="ref_type")
    if ref_type and not ref_id.strip():
        raise ServiceError(_("请填写关联的案件、警情或任务编号。"), field="ref_id")
    now = timezone.now()
    with transaction.atomic():
        AccessPurpose.objects.filter(user=actor, cleared_at__isnull=True).update(cleared_at=now)
        purpose = AccessPurpose.objects.create(
            user=actor, text=text, ref_type=ref_type, ref_id=ref_id.strip(), set_at=now,
            expires_at=now + timedelta(hours=hours or settings.JINGWU_PURPOSE_HOURS))
        audit.record(actor=actor, action="purpose.set", object_type="purpose", object_id=purpose.pk,
                     purpose=str(purpose))
    return purpose


def purpose_clear(*, actor: User) -> None:
    with transaction.atomic():
        AccessPurpose.objects.filter(user=actor, cleared_at__isnull=True).update(cleared_at=timezone.now())
        audit.record(actor=actor, action="purpose.clear")


# --- work items -------------------------------------------------------------

def workitem_create(*, actor: User | None, title: str, kind: str, assignee_user: User | None = None,
                    assignee_unit: Unit | None = None, priority: int = WorkItemPriority.NORMAL,
                    due_at: datetime | None = None, source_app: str = "", source_type: str = "",
                    source_id: str = "", url: str = "", dedupe_key: str | None = None) -> WorkItem:
    """Put a task in a user's or a unit's inbox. With a dedupe_key, a second call returns the first item."""
    if assignee_user is None and assignee_unit is None:
        raise ServiceError("a work item needs an assignee user or unit", field="assignee")
    if dedupe_key:
        existing = WorkItem.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            item = WorkItem.objects.create(
                title=title, kind=kind, assignee_user=assignee_user, assignee_unit=assignee_unit,
                priority=priority, due_at=due_at, created_by=actor, source_app=source_app,
                source_type=source_type, source_id=source_id, url=url, dedupe_key=dedupe_key or None)
            audit.record(actor=actor, action="workitem.create", object_type="workitem", object_id=item.pk,
                         details={"kind": kind, "source": f"{source_app}:{source_type}:{source_id}"})
    except IntegrityError:
        if dedupe_key:  # lost a race with an identical request
            return WorkItem.objects.get(dedupe_key=dedupe_key)
        raise
    return item


_WORKITEM_MOVES = {
    WorkItemStatus.OPEN: {WorkItemStatus.IN_PROGRESS, WorkItemStatus.DONE, WorkItemStatus.CANCELLED},
    WorkItemStatus.IN_PROGRESS: {WorkItemStatus.DONE, WorkItemStatus.CANCELLED, WorkItemStatus.OPEN},
    WorkItemStatus.DONE: set(),
    WorkItemStatus.CANCELLED: set(),
}


def workitem_set_status(*, actor: User, item: WorkItem, status: str) -> WorkItem:
    from jingwu.core import selectors

    if not selectors.workitem_visible_to(actor, item):
        access.deny(actor, "workitem.update", item.assignee_unit, object_type="workitem", object_id=item.pk)
    current = WorkItemStatus(item.status)
    if status not in _WORKITEM_MOVES[current]:
        raise ServiceError(f"a {current.value} work item cannot become {status}", field="status")
    with transaction.atomic():
        item.status = status
        item.completed_at = timezone.now() if status in (WorkItemStatus.DONE, WorkItemStatus.CANCELLED) else None
        item.save(update_fields=["status", "completed_at"])
        audit.record(actor=actor, action="workitem.status", object_type="workitem", object_id=item.pk,
                     details={"status": status})
    return item


@dataclass(frozen=True)
class NewWorkItem:
    """One item for workitems_create_many (the fields of workitem_create)."""

    title: str
    kind: str
    dedupe_key: str
    assignee_user_id: int | None = None
    assignee_unit_id: int | None = None
    priority: int = WorkItemPriority.NORMAL
    due_at: datetime | None = None
    source_app: str = ""
    source_type: str = ""
    source_id: str = ""
    url: str = ""


def workitems_create_many(*, actor: User | None, items: list[NewWorkItem], batch_size: int = 2000,
                          audited: bool = True) -> int:
    """Put many items in inboxes at once (a module's periodic job). Every item carries a
    dedupe key and an item whose key exists already is skipped, so a re-run adds nothing.
    One audit entry for the lot; returns how many were asked for (skipped ones included).
    `audited=False`: the caller's own entry, in the same transaction, names the items
    (one entry per decision on a hot path)."""
    for item in items:
        if item.assignee_user_id is None and item.assignee_unit_id is None:
            raise ServiceError(f"work item {item.dedupe_key!r} needs an assignee user or unit", field="assignee")
        if not item.dedupe_key:
            raise ServiceError("bulk work items need a dedupe key", field="dedupe_key")
    if not items:
        return 0
    now = timezone.now()
    with transaction.atomic():
        WorkItem.objects.bulk_create(
            [WorkItem(title=i.title[:200], kind=i.kind, assignee_user_id=i.assignee_user_id,
                      assignee_unit_id=i.assignee_unit_id, priority=i.priority, due_at=i.due_at, created_at=now,
                      created_by=actor, source_app=i.source_app, source_type=i.source_type,
                      source_id=i.source_id, url=i.url, dedupe_key=i.dedupe_key) for i in items],
            batch_size=batch_size, ignore_conflicts=True)
        kinds = sorted({i.kind for i in items})
        if audited:
            audit.record(actor=actor, action="workitem.create_many", object_type="workitem",
                         details={"items": len(items), "kinds": kinds, "source_app": items[0].source_app})
    return len(items)


def workitems_close(*, actor: User | None, source_app: str, source_type: str, source_ids: list[str],
                    kinds: list[str] | None = None, status: str = WorkItemStatus.DONE, audited: bool = True) -> int:
    """Close the open items a module created for these objects (a task done elsewhere,
    a deadline that stopped). Returns how many were closed; audited when any were (by the
    caller's own entry in the same transaction when `audited=False`)."""
    if status not in (WorkItemStatus.DONE, WorkItemStatus.CANCELLED):
        raise ServiceError(f"work items are closed as done or cancelled, not {status}", field="status")
    if not source_ids:
        return 0
    with transaction.atomic():
        qs = WorkItem.objects.filter(source_app=source_app, source_type=source_type, source_id__in=source_ids,
                                     status__in=(WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS))
        if kinds:
            qs = qs.filter(kind__in=kinds)
        closed = qs.update(status=status, completed_at=timezone.now())
        if closed and audited:
            audit.record(actor=actor, action="workitem.close_many", object_type="workitem",
                         details={"closed": closed, "source": f"{source_app}:{source_type}",
                                  "source_ids": source_ids[:20], "status": status})
    return closed
