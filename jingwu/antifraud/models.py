"""The anti-fraud centre's tables: victim reports with their transfers and the fraudsters'
identifiers, emergency stop-payment requests to banks (chased hop by hop), and every HTTP
try made to a bank.

Money is integer fen (1 yuan = 100 fen) everywhere. Identifiers are stored normalised
beside the raw value, one row per (report, kind, value), so reports sharing an account,
phone, URL or app can be found with one index (the linking of 串并案 builds on them)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jingwu.core.models import Unit, User


class FraudType(models.TextChoices):
    """The one table of fraud types (DOMAIN.md §2); the codes are stable, the labels translate."""

    ORDER_REBATE = "order_rebate", _("刷单返利")
    INVESTMENT = "investment", _("虚假投资理财")
    LOAN = "loan", _("虚假贷款")
    FAKE_SERVICE = "fake_service", _("冒充客服")
    FAKE_OFFICIALS = "fake_officials", _("冒充公检法")
    CREDIT_REPAIR = "credit_repair", _("虚假征信")
    FAKE_ACQUAINTANCE = "fake_acquaintance", _("冒充领导熟人")
    ROMANCE = "romance", _("网络婚恋交友（杀猪盘）")
    GAME_TRADE = "game_trade", _("游戏交易")
    OTHER = "other", _("其他")


class ReportChannel(models.TextChoices):
    OFFICER = "officer", _("民警受理")
    API = "api", _("系统接口")
    PORTAL = "portal", _("网上报案")


class FraudReport(models.Model):
    """A victim's report: who, what was lost, through which transfers, to whom."""

    number = models.CharField(max_length=24, unique=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")  # the unit that took it
    taken_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=10, choices=ReportChannel.choices, default=ReportChannel.OFFICER)
    fraud_type = models.CharField(max_length=24, choices=FraudType.choices)
    # The victim in the data centre when known (found by ID number, or named by the caller);
    # the name, ID number and phone are also kept as the victim gave them.
    victim_entity = models.ForeignKey("records.Entity", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    victim_name = models.CharField(max_length=100)
    victim_id_number = models.CharField(max_length=18, blank=True)  # normalised; empty when not given
    victim_id_raw = models.CharField(max_length=64, blank=True)
    victim_phone = models.CharField(max_length=20, blank=True)  # E.164
    victim_phone_raw = models.CharField(max_length=64, blank=True)
    loss_fen = models.BigIntegerField()
    narrative = models.TextField(blank=True)
    reported_at = models.DateTimeField()  # when the victim reported
    created_at = models.DateTimeField(default=timezone.now)  # when it was entered here
    # When the first stop-payment request of this report reached a bank (the speed figure).
    first_stop_sent_at = models.DateTimeField(null=True, blank=True)
    # A client's key for this report: the same key again returns the first report.
    idempotency_key = models.CharField(max_length=128, null=True, blank=True, unique=True)
    input_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["unit", "created_at"]), models.Index(fields=["fraud_type", "created_at"])]
        constraints = [models.CheckConstraint(condition=models.Q(loss_fen__gte=0),
                                              name="fraud_report_loss_not_negative")]

    def __str__(self) -> str:
        return self.number


class Transfer(models.Model):
    """One payment the victim made to the fraudsters."""

    report = models.ForeignKey(FraudReport, on_delete=models.CASCADE, related_name="transfers")
    position = models.PositiveSmallIntegerField()  # 1, 2, … in the order reported
    payer_account = models.CharField(max_length=32, blank=True)
    payer_bank = models.CharField(max_length=16, blank=True)
    payee_account = models.CharField(max_length=32)
    payee_bank = models.CharField(max_length=16)
    payee_name = models.CharField(max_length=100, blank=True)
    amount_fen = models.BigIntegerField()
    transferred_at = models.DateTimeField()
    # Soft signals on the payee account (e.g. "luhn_failed": normal for corporate accounts).
    payee_warnings = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["report_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["report", "position"], name="transfer_position_unique"),
            models.CheckConstraint(condition=models.Q(amount_fen__gt=0), name="transfer_amount_positive"),
        ]


class IdentifierKind(models.TextChoices):
    ACCOUNT = "account", _("银行账户")
    PHONE = "phone", _("电话号码")
    URL = "url", _("网址")
    APP = "app", _("应用")


class IdentifierSource(models.TextChoices):
    REPORTED = "reported", _("受害人提供")
    TRANSFER = "transfer", _("收款账户")
    ONWARD = "onward", _("资金流向")  # learned from a bank's answer while chasing the money


class ReportIdentifier(models.Model):
    """A fraudster's identifier seen in a report, normalised (core/identifiers.py rules)."""

    report = models.ForeignKey(FraudReport, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=10, choices=IdentifierKind.choices)
    value = models.CharField(max_length=500)  # normalised: E.164, canonical URL, account digits, app name
    raw = models.CharField(max_length=500)
    source = models.CharField(max_length=10, choices=IdentifierSource.choices)
    # False when the value passed no validation for its kind but is kept as given
    # (an overseas or virtual number, an account number of unusual length).
    valid = models.BooleanField(default=True)
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["report_id", "kind", "id"]
        indexes = [models.Index(fields=["kind", "value"])]
        constraints = [models.UniqueConstraint(fields=["report", "kind", "value"], name="identifier_once_per_report")]


class StopState(models.TextChoices):
    """States of a stop-payment request; the moves between them are workflow.py's table."""

    AWAITING_APPROVAL = "awaiting_approval", _("待审批")
    QUEUED = "queued", _("待发送")
    SENT = "sent", _("已送达银行")
    ACKNOWLEDGED = "acknowledged", _("银行处理中")
    STOPPED = "stopped", _("已止付")
    MOVED_ONWARD = "moved_onward", _("资金已转出")
    FAILED = "failed", _("发送失败")
    RELEASED = "released", _("已解除")
    FROZEN = "frozen", _("已冻结")
    RETURNED = "returned", _("已返还")


class StopPaymentRequest(models.Model):
    """An emergency stop-payment request (紧急止付) for one account at one bank.

    Hop 0 asks the bank of a payee the victim paid; when a bank answers that the money
    already moved on, each onward account gets a request of its own (hop + 1, `parent`)."""

    report = models.ForeignKey(FraudReport, on_delete=models.PROTECT, related_name="stop_requests")
    transfer = models.ForeignKey(Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    hop = models.PositiveSmallIntegerField(default=0)
    bank = models.CharField(max_length=16)
    account = models.CharField(max_length=32)
    amount_fen = models.BigIntegerField()  # asked to stop
    state = models.CharField(max_length=20, choices=StopState.choices, default=StopState.QUEUED)
    # Sent as the Idempotency-Key header: a retried request is the same request at the bank.
    idempotency_key = models.CharField(max_length=64, unique=True)
    ordered_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    bank_reference = models.CharField(max_length=64, blank=True)
    bank_answer = models.JSONField(null=True, blank=True)  # the bank's last status reply, as received
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    amount_stopped_fen = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    renewals = models.PositiveSmallIntegerField(default=0)
    renewed_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=16, blank=True)  # "expired" or "released"
    frozen_at = models.DateTimeField(null=True, blank=True)
    amount_frozen_fen = models.BigIntegerField(default=0)
    freeze_document = models.CharField(max_length=64, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    amount_returned_fen = models.BigIntegerField(default=0)
    return_document = models.CharField(max_length=64, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # Delivery bookkeeping, shown on the page while it matters.
    attempts = models.PositiveIntegerField(default=0)  # tries to submit
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # A sender working on the request holds it until then; a lapsed lease means it died.
    lease_until = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["report_id", "hop", "id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["state", "expires_at"]),
            models.Index(fields=["bank", "account"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["report", "bank", "account"], condition=models.Q(parent=None),
                                    name="stop_first_hop_once_per_account"),
            models.UniqueConstraint(fields=["parent", "bank", "account"], condition=models.Q(parent__isnull=False),
                                    name="stop_onward_once_per_account"),
            models.CheckConstraint(condition=models.Q(amount_fen__gt=0), name="stop_amount_positive"),
            models.CheckConstraint(condition=models.Q(renewals__lte=1), name="stop_renewed_at_most_once"),
        ]

    def __str__(self) -> str:
        return f"{self.report.number}/{self.pk} {self.bank} {self.account}"


class Operation(models.TextChoices):
    SUBMIT = "submit", _("提交止付")
    QUERY = "query", _("查询结果")
    RENEW = "renew", _("续止")
    RELEASE = "release", _("解除止付")
    FREEZE = "freeze", _("冻结")
    RETURN = "return", _("返还")


class AttemptOutcome(models.TextChoices):
    OK = "ok", _("成功")
    RETRY = "retry", _("失败，将重试")
    FAILED = "failed", _("失败")


class StopPaymentAttempt(models.Model):
    """One HTTP try made to a bank for a request: what, when, how long, what came back."""

    request = models.ForeignKey(StopPaymentRequest, on_delete=models.CASCADE, related_name="attempt_log")
    operation = models.CharField(max_length=8, choices=Operation.choices)
    started_at = models.DateTimeField()
    latency_ms = models.FloatField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=AttemptOutcome.choices)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["request_id", "started_at", "id"]


# Early warning and linking (kept in their own module).
from jingwu.antifraud.warning_models import (  # noqa: E402, F401
    FraudWarning,
    LinkNode,
    ListVersion,
    RuleSet,
    Signal,
    SmsOutbox,
    WatchListEntry,
)
