"""Cases 案件 and everything the loop keeps about them: where they came from, the people
in them, what happened and who decided it, the clocks running on them, the documents
issued, reconsiderations and the enforcement errors they uncovered.

States and transitions are in workflow.py; every write is in services.py."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jingwu.cases.workflow import MEASURES, CaseType, DeclineReason, Document, Subject
from jingwu.core.models import Unit, User
from jingwu.records.models import Entity


class Origin(models.TextChoices):
    INCIDENT = "incident", _("警情转案")
    STATION = "station", _("来所报案")
    ONLINE = "online", _("网上报案")


class CaseNumberSequence(models.Model):
    """The last number issued per prefix (type letter + unit code + year)."""

    prefix = models.CharField(max_length=48, unique=True)
    last = models.PositiveIntegerField(default=0)


class Case(models.Model):
    number = models.CharField(max_length=64, unique=True)
    case_type = models.CharField(max_length=16, choices=CaseType.choices)
    state = models.CharField(max_length=24)
    category = models.CharField(max_length=32)  # the main category (categories.py)
    categories = models.JSONField(default=list, blank=True)  # every category, the main one first
    summary = models.TextField(max_length=2000)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")  # the handling unit
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    reported_at = models.DateTimeField()
    accepted_at = models.DateTimeField()
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state_entered_at = models.DateTimeField()
    # Criminal filing review: standard 3 days, verify 7, complex 30 (deadlines.py).
    review_track = models.CharField(max_length=10, default="standard")
    filed_at = models.DateTimeField(null=True, blank=True)
    # The last investigative act since filing (tasks done, evidence, measures); starts at filing.
    activity_at = models.DateTimeField(null=True, blank=True)
    terminal = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)  # when it first reached a terminal state
    outcome = models.CharField(max_length=24, blank=True)
    decline_reason = models.CharField(max_length=24, choices=DeclineReason.choices, blank=True)
    penalty = models.JSONField(null=True, blank=True)
    # Only a hash of the reporter's lookup code (Django's password hasher); empty: no lookup.
    lookup_hash = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["unit", "-accepted_at"], name="cases_unit_accepted"),
            models.Index(fields=["-accepted_at", "-id"], name="cases_accepted"),
            # 立而不侦 counted per unit from the index alone (supervision), never the case rows.
            models.Index(fields=["unit", "state", "activity_at"], name="cases_unit_state_activity"),
            # The list filtered by type and state, newest first, reads this index in order.
            models.Index(fields=["case_type", "state", "-accepted_at", "-id"], name="cases_type_state_accepted"),
        ]

    def __str__(self) -> str:
        return self.number


class CaseIncident(models.Model):
    """An incident a case came from, by reference: (app, id, number). No foreign key,
    so the link works whichever app keeps incidents. An incident feeds at most one case."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="incidents")
    app = models.CharField(max_length=32)
    incident_id = models.CharField(max_length=64)
    number = models.CharField(max_length=64)
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "incident_id"], name="one_case_per_incident")]


class PartyRole(models.TextChoices):
    REPORTER = "reporter", _("报案人")
    VICTIM = "victim", _("被害人")
    SUSPECT = "suspect", _("嫌疑人/违法行为人")
    WITNESS = "witness", _("证人")
    PARTY = "party", _("纠纷当事人")


class CaseParty(models.Model):
    """A person in a case: a records entity where known, else the name and phone as given.
    Read only through selectors.case_parties (purpose stated, audited)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="parties")
    role = models.CharField(max_length=16, choices=PartyRole.choices)
    entity = models.ForeignKey(Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    added_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(entity__isnull=False) | ~Q(name=""),
                                              name="party_has_entity_or_name")]


class EventKind(models.TextChoices):
    ACCEPTED = "accepted", _("受案")
    TRANSITION = "transition", _("流转")
    REVIEW = "review", _("法制审核")
    MEASURE = "measure", _("强制措施")
    TASK = "task", _("侦查任务")
    EVIDENCE = "evidence", _("证据")
    PARTY = "party", _("当事人")
    DOCUMENT = "document", _("文书")
    RECONSIDERATION = "reconsideration", _("复议")
    NOTE = "note", _("记录")


class CaseEvent(models.Model):
    """One line of a case's timeline. Decisions name their decider (the actor) and the
    legal review they rested on, so an overturned one can be traced to the people."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    transition = models.CharField(max_length=32, blank=True)
    from_state = models.CharField(max_length=24, blank=True)
    to_state = models.CharField(max_length=24, blank=True)
    decision = models.BooleanField(default=False)
    note = models.TextField(max_length=2000, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["case", "at"])]


class ReviewOutcome(models.TextChoices):
    PENDING = "pending", _("待审核")
    APPROVED = "approved", _("审核通过")
    RETURNED = "returned", _("退回")
    WITHDRAWN = "withdrawn", _("已撤回")


class LegalReview(models.Model):
    """A legal review 法制审核 of a proposed decision. An approved one is used up by the
    decision it allowed (used_by)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reviews")
    subject = models.CharField(max_length=16, choices=Subject.choices)
    proposal = models.TextField(max_length=2000, blank=True)
    details = models.JSONField(default=dict, blank=True)  # e.g. the measure proposed
    requested_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    review_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=ReviewOutcome.choices, default=ReviewOutcome.PENDING)
    opinion = models.TextField(max_length=2000, blank=True)
    used_by = models.ForeignKey(CaseEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["case", "subject", "outcome"])]

    @property
    def measure_label(self) -> str:
        kind = self.details.get("measure", "")
        return str(MEASURES[kind].label) if kind in MEASURES else kind


class CoerciveMeasure(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="measures")
    kind = models.CharField(max_length=16)  # workflow.MEASURES
    party = models.ForeignKey(CaseParty, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    review = models.ForeignKey(LegalReview, null=True, on_delete=models.SET_NULL, related_name="+")
    extensions = models.PositiveSmallIntegerField(default=0)

    @property
    def label(self) -> str:
        return str(MEASURES[self.kind].label) if self.kind in MEASURES else self.kind


class Deadline(models.Model):
    """One running (or stopped) clock: a state's clock or a measure's custody clock.

    The scan finds due warnings and overdue clocks through the two partial indexes, so it
    reads only the rows that need it however many cases are open."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="deadlines")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")  # the case's, for scoping
    clock = models.CharField(max_length=40)
    measure = models.ForeignKey(CoerciveMeasure, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="deadlines")
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField()
    extensions = models.PositiveSmallIntegerField(default=0)
    warned_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)  # when the overdue alert went out
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["warn_at"], name="deadline_to_warn",
                         condition=Q(stopped_at__isnull=True, warned_at__isnull=True, overdue_at__isnull=True)),
            models.Index(fields=["due_at"], name="deadline_to_alert",
                         condition=Q(stopped_at__isnull=True, overdue_at__isnull=True)),
            models.Index(fields=["unit", "due_at"], name="deadline_running",
                         condition=Q(stopped_at__isnull=True)),
            models.Index(fields=["case", "clock"], name="deadline_case_clock"),
            # 侦而不结 per unit and clock, with the case whose state the count checks, so it
            # reads no deadline row. Not partial on the clocks: SQLite cannot match a partial
            # index's `clock IN (…)` against the bound parameters Django sends.
            models.Index(fields=["unit", "clock", "due_at", "case"], name="deadline_running_clock",
                         condition=Q(stopped_at__isnull=True)),
        ]

    @property
    def met(self) -> bool | None:
        if self.stopped_at is None:
            return None
        return self.stopped_at < self.due_at


class TaskStatus(models.TextChoices):
    OPEN = "open", _("进行中")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已撤销")


class CaseTask(models.Model):
    """An investigation task; it sits in the assignee's inbox until done."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    assignee = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    result = models.TextField(max_length=2000, blank=True)


class EvidenceKind(models.TextChoices):
    PHYSICAL = "physical", _("物证")
    DOCUMENTARY = "documentary", _("书证")
    STATEMENT = "statement", _("证人证言/陈述")
    ELECTRONIC = "electronic", _("电子数据")
    AUDIOVISUAL = "audiovisual", _("视听资料")
    EXPERT = "expert", _("鉴定意见")
    SCENE = "scene", _("勘验、检查笔录")


class EvidenceItem(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=16, choices=EvidenceKind.choices)
    description = models.TextField(max_length=2000)
    collected_at = models.DateTimeField()
    collected_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")


class CaseDocument(models.Model):
    """A document as issued: its HTML body kept as it was (a receipt without the lookup
    code, which only the reporter holds), and its digest."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20, choices=Document.choices)
    number = models.CharField(max_length=80, unique=True)
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    body_html = models.TextField()
    sha256 = models.CharField(max_length=64)


class ReconsiderationStatus(models.TextChoices):
    PENDING = "pending", _("待决定")
    UPHELD = "upheld", _("维持原决定")
    OVERTURNED = "overturned", _("撤销原决定")


class Reconsideration(models.Model):
    """A request for reconsideration 复议 of a decline, from the public lookup or at a station."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reconsiderations")
    requested_at = models.DateTimeField(default=timezone.now)
    via = models.CharField(max_length=8)  # public / station
    reason = models.TextField(max_length=2000)
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=ReconsiderationStatus.choices,
                              default=ReconsiderationStatus.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decision_event = models.ForeignKey(CaseEvent, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")  # the decision reconsidered


class ErrorRole(models.TextChoices):
    DECIDER = "decider", _("决定人")
    LEGAL_REVIEWER = "legal_reviewer", _("法制审核人")


class EnforcementError(models.Model):
    """执法过错: a decision overturned, and each person who took part in it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="errors")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    decision_event = models.ForeignKey(CaseEvent, on_delete=models.PROTECT, related_name="+")
    overturned_by = models.ForeignKey(CaseEvent, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=16, choices=ErrorRole.choices)
    created_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(max_length=2000, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["decision_event", "person", "role"],
                                               name="one_error_per_person_per_decision")]


class LookupThrottle(models.Model):
    """Public lookup attempts per key (client address or case number) per fixed window.
    In the database so every server process counts the same attempts."""

    key = models.CharField(max_length=120)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="one_counter_per_window")]
        indexes = [models.Index(fields=["window_start"])]
