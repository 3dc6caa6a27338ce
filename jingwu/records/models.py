"""The data centre: source systems, import batches, source records as received,
quarantined rows, and the entities (one per real-world thing) linked from them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jingwu.core.models import Unit, User


class Source(models.Model):
    """A source system: household registration 户籍, vehicle registry 车管, telecom …"""

    key = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    # Lower number = more trusted when attribute values disagree.
    trust_rank = models.PositiveSmallIntegerField(default=50)
    # The partner system (a user holding the partner role) whose API token may push this
    # source's feed; several sources may name the same partner (docs/data-formats.md §8).
    partner = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="partner_sources")

    def __str__(self) -> str:
        return self.name


class BatchStatus(models.TextChoices):
    RUNNING = "running", _("导入中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")
    # Its process stopped (killed, crashed) mid-run; importing the same file again resumes it.
    INTERRUPTED = "interrupted", _("已中断")


class ImportBatch(models.Model):
    """One import: a file, an upload or a pushed API batch. Its report always balances:
    rows_read = rows_imported + rows_unchanged + rows_quarantined."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="batches")
    label = models.CharField(max_length=200)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=BatchStatus.choices, default=BatchStatus.DONE)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    file_name = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=16, blank=True)
    encoding = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=16, blank=True)
    mapping = models.JSONField(null=True, blank=True)  # the mapping used, so quarantined rows retry the same way
    # A partner's batch id: pushing the same batch twice returns the first report.
    idempotency_key = models.CharField(max_length=128, null=True, blank=True, unique=True)
    # SHA-256 of what a pushed batch asked for (kind, mapping, records): the same key with
    # other records is a conflict, not a replay. Empty for files and older batches.
    request_hash = models.CharField(max_length=64, blank=True)
    # SHA-256 of the file's bytes: importing the same file again resumes an interrupted batch.
    file_sha256 = models.CharField(max_length=64, blank=True)
    # An upload from the import page, deleted when the batch ends (done, failed, interrupted).
    upload_path = models.CharField(max_length=500, blank=True)
    # Who is running the batch ("host:pid:start ticks") and when it last wrote a chunk: a
    # running batch whose process is gone, or silent too long, is marked interrupted.
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    rows_expected = models.PositiveIntegerField(null=True, blank=True)  # for progress; may be an estimate
    rows_read = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_quarantined = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.source.key} #{self.pk} {self.label}"

    @property
    def balances(self) -> bool:
        return self.rows_read == self.rows_imported + self.rows_unchanged + self.rows_quarantined


class SourceRecord(models.Model):
    """One record as a source system sent it. Never edited in place: a new version
    supersedes the old one and the history stays."""

    # No index of its own: the (source, source_key) index below starts with it.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="records", db_index=False)
    source_key = models.CharField(max_length=100)
    kind = models.CharField(max_length=16)  # person, phone, vehicle, organization, account, place
    payload = models.JSONField()  # the record as received
    # The normalised fields in our vocabulary (docs/data-formats.md). Null for records
    # loaded in bulk already in our vocabulary (the synthetic province): readers
    # normalise `payload` then.
    fields = models.JSONField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="records")
    received_at = models.DateTimeField(default=timezone.now)
    # The unit whose jurisdiction the record falls in (for access scoping).
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Indexed only where set (see Meta): almost every row is a current version, and a
    # full index of NULLs would cost every bulk insert for nothing.
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                      db_index=False)

    class Meta:
        indexes = [
            models.Index(fields=["source", "source_key"]),
            models.Index(fields=["kind"]),
            models.Index(fields=["superseded_by"], condition=models.Q(superseded_by__isnull=False),
                         name="records_superseded_by_set"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_key"], condition=models.Q(superseded_by=None),
                                    name="one_current_version_per_source_key"),
        ]


class QuarantineStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    FIXED = "fixed", _("已修正导入")
    DISCARDED = "discarded", _("已放弃")


class QuarantinedRow(models.Model):
    """A row that failed validation: kept whole with every reason, until corrected and
    re-imported or discarded. Nothing read is ever lost."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="quarantined")
    row_number = models.PositiveIntegerField()
    raw = models.JSONField()  # the cells as read, by column
    issues = models.JSONField()  # [{field, column, value, code, message}]
    status = models.CharField(max_length=10, choices=QuarantineStatus.choices, default=QuarantineStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    record = models.ForeignKey(SourceRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["batch_id", "row_number"]
        indexes = [models.Index(fields=["status", "batch"])]


class EntityKind(models.TextChoices):
    PERSON = "person", _("人员")
    ORGANIZATION = "organization", _("单位")
    VEHICLE = "vehicle", _("车辆")
    PHONE = "phone", _("电话")
    ACCOUNT = "account", _("账户")
    PLACE = "place", _("地点")


class Entity(models.Model):
    """One real-world thing, a cluster of source records.

    `attributes` caches the value shown for each field with the records it came
    from: {field: {"value": v, "records": [ids], "others": [{value, records}]}};
    the rule that chooses it is in records/attributes.py."""

    kind = models.CharField(max_length=16, choices=EntityKind.choices)
    # The identifier that keys non-person entities (E.164 phone, plate, USCC, account
    # number, normalised address); for people the validated ID number when known.
    key = models.CharField(max_length=200, blank=True, db_index=True)
    display_name = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict)
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Entities merged by linkage point to the survivor, so old links keep working.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["kind", "key"])]

    def __str__(self) -> str:
        return self.display_name or f"{self.kind} {self.pk}"


class EntityRecord(models.Model):
    """A source record's membership in an entity, with how it got there.
    A record describes at most one entity of each kind (a vehicle record: the
    vehicle, and its owner as a person)."""

    class Method(models.TextChoices):
        KEY = "key", _("标识符一致")
        RULE = "rule", _("身份证号一致")
        MODEL = "model", _("概率模型")
        JUDGEMENT = "judgement", _("人工确认")
        SINGLE = "single", _("单独成实体")

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="memberships")
    record = models.ForeignKey(SourceRecord, on_delete=models.PROTECT, related_name="memberships")
    kind = models.CharField(max_length=16, choices=EntityKind.choices)
    method = models.CharField(max_length=10, choices=Method.choices)
    probability = models.FloatField(null=True, blank=True)
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["record", "kind"], name="one_entity_per_kind_per_record")]


class RelationKind(models.TextChoices):
    USES_PHONE = "uses_phone", _("使用电话")
    OWNS_VEHICLE = "owns_vehicle", _("拥有车辆")
    HOLDS_ACCOUNT = "holds_account", _("持有账户")
    LEGAL_REPRESENTATIVE = "legal_rep", _("法定代表人")
    EMPLOYEE = "employee", _("任职")
    HOUSEHOLD_MEMBER = "household", _("同户成员")
    RELATIVE = "relative", _("亲属")
    LIVES_AT = "lives_at", _("居住")
    REGISTERED_AT = "registered_at", _("户籍登记地")
    STAYED_AT = "stayed_at", _("住宿")


class Relation(models.Model):
    """subject —kind→ object, from one source record, valid over a period."""

    kind = models.CharField(max_length=16, choices=RelationKind.choices)
    subject = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="relations_out")
    object = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="relations_in")
    record = models.ForeignKey(SourceRecord, on_delete=models.PROTECT, related_name="relations")
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "subject", "object", "record"],
                                               name="one_relation_per_record")]
        indexes = [models.Index(fields=["subject", "kind"]), models.Index(fields=["object", "kind"])]


class LinkRun(models.Model):
    class Mode(models.TextChoices):
        FULL = "full", _("全量")
        INCREMENTAL = "incremental", _("增量")

    mode = models.CharField(max_length=12, choices=Mode.choices)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stats = models.JSONField(default=dict)


class Verdict(models.TextChoices):
    CONFIRMED = "confirmed", _("确认同一人")
    REJECTED = "rejected", _("确认非同一人")
    UNSURE = "unsure", _("无法确定")


class LinkJudgement(models.Model):
    """An analyst's word on a pair of records; the linker obeys it forever after.
    The pair is stored with the smaller record id first."""

    record_a = models.ForeignKey(SourceRecord, on_delete=models.PROTECT, related_name="+")
    record_b = models.ForeignKey(SourceRecord, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    analyst = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)
    superseded = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record_a", "record_b"], condition=models.Q(superseded=False),
                                    name="one_live_judgement_per_pair"),
            models.CheckConstraint(condition=models.Q(record_a__lt=models.F("record_b")),
                                   name="judgement_pair_ordered"),
        ]


class ReviewPair(models.Model):
    """A pair in the uncertain band, waiting for an analyst."""

    class Status(models.TextChoices):
        OPEN = "open", _("待复核")
        JUDGED = "judged", _("已复核")
        OBSOLETE = "obsolete", _("已失效")

    record_a = models.ForeignKey(SourceRecord, on_delete=models.PROTECT, related_name="+")
    record_b = models.ForeignKey(SourceRecord, on_delete=models.PROTECT, related_name="+")
    probability = models.FloatField()
    explanation = models.JSONField(default=dict)
    run = models.ForeignKey(LinkRun, on_delete=models.PROTECT, related_name="review_pairs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record_a", "record_b"], condition=models.Q(status="open"),
                                    name="one_open_review_per_pair"),
        ]
        indexes = [models.Index(fields=["status", "-probability"])]
