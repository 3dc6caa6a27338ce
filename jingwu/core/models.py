"""Core tables: the organisation tree, users and their roles, the audit log,
API tokens, stated purposes of access and work items."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UnitKind(models.TextChoices):
    PROVINCE = "province", _("省公安厅")
    CITY = "city", _("市公安局")
    COUNTY = "county", _("县(区)公安局")
    STATION = "station", _("派出所")
    GRID = "grid", _("警务区/网格")
    DEPARTMENT = "department", _("业务部门")


class Unit(models.Model):
    """A node of the organisation tree.

    `path` is the materialised path of unit codes ("370000/370100/370102/"), so a
    jurisdiction (a unit and everything below it) is one `startswith` filter.
    """

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=UnitKind.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=255, unique=True)
    depth = models.PositiveSmallIntegerField(default=0)
    # GB/T 2260 administrative division code, where the unit has one.
    division_code = models.CharField(max_length=12, blank=True, db_index=True)
    # Functional department key (刑侦 criminal_investigation, 法制 legal …), departments only.
    department = models.CharField(max_length=32, blank=True)
    # Grid polygon (GeoJSON geometry), grids only; stations may carry a point.
    geometry = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["path"]
        indexes = [models.Index(fields=["kind", "path"])]

    def __str__(self) -> str:
        return self.name

    @property
    def jurisdiction_path(self) -> str:
        """The subtree a role held here covers: a department works for the unit it sits in."""
        if self.kind == UnitKind.DEPARTMENT and self.parent_id is not None:
            return self.path[: self.path.rstrip("/").rfind("/") + 1]
        return self.path

    def is_within(self, other: Unit) -> bool:
        return self.path.startswith(other.path)


class User(AbstractUser):
    display_name = models.CharField(max_length=50, blank=True)
    failed_logins = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    # The unit the user works at day to day (for the portal shell); roles say what they may do.
    home_unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return self.display_name or self.username

    def is_locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or timezone.now())


class RoleAssignment(models.Model):
    """A user holds a role at a unit; a user may hold several."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=32)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="role_assignments")
    granted_at = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role", "unit"], name="uniq_role_at_unit")]

    def __str__(self) -> str:
        return f"{self.user} {self.role}@{self.unit.code}"


class AuditOutcome(models.TextChoices):
    ALLOWED = "allowed", _("允许")
    DENIED = "denied", _("拒绝")
    ERROR = "error", _("错误")


class AuditEntry(models.Model):
    """One append-only, hash-chained line of the audit log.

    Nothing in the application updates or deletes a row; on PostgreSQL a trigger
    rejects UPDATE and DELETE. `entry_hash` covers every field and `prev_hash`,
    so `jingwu audit verify` finds an altered or removed row.
    """

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                              related_name="+")
    actor_username = models.CharField(max_length=150, blank=True)
    unit_code = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_addr = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=8, choices=AuditOutcome.choices)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["actor", "at"]), models.Index(fields=["object_type", "object_id"])]


class AuditChainHead(models.Model):
    """The single row naming the last entry of the chain; writers lock it so the
    chain stays linear, and verify compares it to catch a removed tail."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_entry_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    entries = models.BigIntegerField(default=0)


class ApiToken(models.Model):
    """A bearer token for scripts and partner systems. Only its hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class AccessPurpose(models.Model):
    """The purpose a user states for reading personal data; it carries over until
    changed or expired, and every read records it."""

    class RefType(models.TextChoices):
        NONE = "", _("无")
        CASE = "case", _("案件")
        INCIDENT = "incident", _("警情")
        TASK = "task", _("任务")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="purposes")
    text = models.CharField(max_length=300)
    ref_type = models.CharField(max_length=16, choices=RefType.choices, blank=True)
    ref_id = models.CharField(max_length=64, blank=True)
    set_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-set_at"])]

    def __str__(self) -> str:
        ref = f" [{self.ref_type}:{self.ref_id}]" if self.ref_type else ""
        return f"{self.text}{ref}"


class WorkItemStatus(models.TextChoices):
    OPEN = "open", _("待办")
    IN_PROGRESS = "in_progress", _("办理中")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已撤销")


class WorkItemPriority(models.IntegerChoices):
    URGENT = 1, _("紧急")
    HIGH = 2, _("高")
    NORMAL = 3, _("普通")
    LOW = 4, _("低")


class WorkItem(models.Model):
    """A task in someone's inbox, created by any module ("my tasks")."""

    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=48)
    assignee_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="work_items")
    assignee_unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="work_items")
    priority = models.PositiveSmallIntegerField(choices=WorkItemPriority.choices, default=WorkItemPriority.NORMAL)
    status = models.CharField(max_length=16, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN)
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    completed_at = models.DateTimeField(null=True, blank=True)
    # What created it: app label, object type and id, and where to open it.
    source_app = models.CharField(max_length=32, blank=True)
    source_type = models.CharField(max_length=48, blank=True)
    source_id = models.CharField(max_length=64, blank=True)
    url = models.CharField(max_length=255, blank=True)
    # Idempotency: a module creating the same item twice gets the first one back.
    dedupe_key = models.CharField(max_length=128, null=True, blank=True, unique=True)

    class Meta:
        indexes = [
            models.Index(fields=["assignee_user", "status", "due_at"]),
            models.Index(fields=["assignee_unit", "status", "due_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(assignee_user__isnull=False) | models.Q(assignee_unit__isnull=False),
                name="work_item_has_assignee",
            )
        ]

    def __str__(self) -> str:
        return self.title
