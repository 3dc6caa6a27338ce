"""Tables of early warning (预警劝阻) and linking (串并案): watch lists, versioned rule sets,
partners' signals, warnings with their outcome, the SMS outbox, and the union-find forest
that groups reports and signals into networks.

Imported by models.py so Django sees them; kept apart so the report tables stay readable."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jingwu.core.models import Unit, User


class ListKind(models.TextChoices):
    PHONE = "phone", _("电话号码")
    ACCOUNT = "account", _("银行账户")
    URL = "url", _("网址")
    APP = "app", _("应用")


class WatchListEntry(models.Model):
    """A listed fraud number, account, URL or app; it stops counting at `expires_at`."""

    kind = models.CharField(max_length=10, choices=ListKind.choices)
    value = models.CharField(max_length=500)  # normalised as indicators.py does
    source = models.CharField(max_length=100)  # who listed it: "部反诈中心", "ICBC", a report number …
    note = models.CharField(max_length=300, blank=True)
    added_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)  # never, when empty
    added_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Withdrawn by the centre (expires_at is then set to that moment, which is what the engine reads).
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    retire_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["kind", "value", "id"]
        indexes = [models.Index(fields=["kind", "value"])]
        constraints = [models.UniqueConstraint(fields=["kind", "value", "source"], name="watchlist_once_per_source")]


class ListVersion(models.Model):
    """One row: a token changed with every watch-list change, so each process knows when
    its in-memory copy of the lists (early_warning.live_lists) is stale."""

    token = models.CharField(max_length=32)
    changed_at = models.DateTimeField(default=timezone.now)


class RuleSet(models.Model):
    """One version of the rules (rules.py describes the format). A draft (no `published_at`) is
    edited until published; of the published ones at most one is active, and it decides."""

    version = models.PositiveIntegerField(unique=True)
    rules = models.JSONField()
    note = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    published_at = models.DateTimeField(null=True, blank=True)  # empty: a draft
    published_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["active"], condition=models.Q(active=True),
                                               name="one_active_ruleset"),
                       models.CheckConstraint(condition=models.Q(active=False) | models.Q(published_at__isnull=False),
                                              name="active_ruleset_is_published")]


class SignalKind(models.TextChoices):
    CALL = "call", _("通话")
    SMS = "sms", _("短信")
    TRANSFER = "transfer", _("转账")
    APP_INSTALL = "app_install", _("安装应用")
    URL_VISIT = "url_visit", _("访问网址")


class RiskLevel(models.TextChoices):
    NONE = "none", _("无风险")
    LOW = "low", _("低")
    MEDIUM = "medium", _("中")
    HIGH = "high", _("高")


LEVEL_RANK = {RiskLevel.NONE: 0, RiskLevel.LOW: 1, RiskLevel.MEDIUM: 2, RiskLevel.HIGH: 3}


class WarningState(models.TextChoices):
    OPEN = "open", _("处置中")
    CLOSED = "closed", _("已处置")


class WarningOutcome(models.TextChoices):
    DISSUADED = "dissuaded", _("劝阻成功")
    DEFRAUDED = "defrauded", _("已被骗")
    FALSE_ALARM = "false_alarm", _("误报")


class FraudWarning(models.Model):
    """A citizen at risk: one open warning per citizen, which later signals add to."""

    citizen_key = models.CharField(max_length=40)  # "id:<ID number>" or "phone:<E.164>"
    citizen_name = models.CharField(max_length=100, blank=True)
    citizen_phone = models.CharField(max_length=20, blank=True)
    citizen_id_number = models.CharField(max_length=18, blank=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")  # the citizen's station
    level = models.CharField(max_length=8, choices=RiskLevel.choices)
    score = models.PositiveIntegerField()
    reasons = models.JSONField(default=list)  # [{"rule": id, "weight": n, "detail": …}], each rule once
    rule_version = models.PositiveIntegerField()
    signal_count = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=8, choices=WarningState.choices, default=WarningState.OPEN)
    opened_at = models.DateTimeField()
    last_signal_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)  # the deadline of the current task
    outcome = models.CharField(max_length=12, choices=WarningOutcome.choices, blank=True)
    outcome_note = models.CharField(max_length=500, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    outcome_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    report = models.ForeignKey("antifraud.FraudReport", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["unit", "state", "opened_at"]), models.Index(fields=["citizen_key"])]
        constraints = [models.UniqueConstraint(fields=["citizen_key"], condition=models.Q(state="open"),
                                               name="one_open_warning_per_citizen")]


class Signal(models.Model):
    """One event a partner pushed (a call, an SMS, a transfer, an app install, a URL visit)."""

    # "<partner>:<partner's id>". Every processed signal has its row, so this is also the record
    # of message ids already processed: a redelivered stream message is acknowledged and skipped.
    message_id = models.CharField(max_length=160, unique=True)
    partner = models.CharField(max_length=40)
    kind = models.CharField(max_length=12, choices=SignalKind.choices)
    citizen_key = models.CharField(max_length=40)
    counterpart_kind = models.CharField(max_length=10, choices=ListKind.choices)
    counterpart = models.CharField(max_length=500)  # normalised
    account = models.CharField(max_length=32, blank=True)  # the payee of a transfer
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    amount_fen = models.BigIntegerField(null=True, blank=True)
    device = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    score = models.PositiveIntegerField(default=0)
    hits = models.JSONField(default=list)
    warning = models.ForeignKey(FraudWarning, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="signals", db_index=False)

    class Meta:
        ordering = ["occurred_at", "id"]
        # Every signal pays for each index it enters, so each holds only the rows its one reader
        # asks for: the citizen windows count signals that scored, the account windows
        # transfers, the warning page a warning's signals. The message id's unique index is
        # the record of what was processed.
        indexes = [models.Index(fields=["citizen_key", "occurred_at"], condition=models.Q(score__gt=0),
                                name="signal_citizen_scored"),
                   models.Index(fields=["account", "occurred_at"], condition=~models.Q(account=""),
                                name="signal_account_set"),
                   models.Index(fields=["warning"], condition=models.Q(warning__isnull=False),
                                name="signal_warning_set")]


class SignalPartner(models.Model):
    """A partner code and the one partner user whose tokens may push signals under it
    (message ids are "<code>:<id>": pushing under another's code could spoil its ids)."""

    code = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signal_partner_codes")
    bound_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.code


class SmsState(models.TextChoices):
    QUEUED = "queued", _("待发送")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")


class SmsOutbox(models.Model):
    """A warning SMS waiting for the SMS gateway (low risk is told by SMS, not visited)."""

    warning = models.ForeignKey(FraudWarning, on_delete=models.CASCADE, related_name="sms")
    phone = models.CharField(max_length=20)
    text = models.CharField(max_length=300)
    state = models.CharField(max_length=8, choices=SmsState.choices, default=SmsState.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(null=True, blank=True)  # after a failed try
    last_error = models.CharField(max_length=200, blank=True)
    gateway_id = models.CharField(max_length=64, blank=True)  # the gateway's id of the sent message

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["state", "next_try_at"])]
        constraints = [models.UniqueConstraint(fields=["warning", "phone"], name="one_warning_sms_per_phone")]


class LinkNode(models.Model):
    """A node of the linking forest: a report, a signal, or an identifier they carry
    ("account:…", "phone:…", "url:…", "app:…", "device:…", "ip:…"). Nodes with the same
    `root` form one network. Union by size relabels the smaller side, so each node is
    relabelled O(log n) times and a network's members are one indexed query."""

    key = models.CharField(max_length=520, unique=True)
    root = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    size = models.PositiveIntegerField(default=1)  # meaningful on roots
    report = models.ForeignKey("antifraud.FraudReport", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="+")
    signal = models.ForeignKey(Signal, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["root"])]
