"""Writes of the anti-fraud centre: taking a victim's report, and everything that happens
to its stop-payment requests. Each write is one transaction with one audit entry.

A report is checked whole before anything is written: the first problem raises a
ServiceError naming the field ("transfers[1].payee_account") and nothing is stored.
Stop-payment requests are sent by jingwu/antifraud/sender.py after the report commits;
the sender reports back through the `stop_*_recorded` functions here (the system actor).
Decisions (approve, renew, freeze, return, release, resend) need FRAUD_STOP_PAYMENT over
the report's unit, which auxiliary officers never hold."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from jingwu.antifraud import bank_client, indicators, linking, selectors, workflow
from jingwu.antifraud.bank_client import BankReply
from jingwu.antifraud.banks import BANKS, bank_name
from jingwu.antifraud.models import (
    AttemptOutcome,
    FraudReport,
    FraudType,
    IdentifierSource,
    Operation,
    ReportChannel,
    ReportIdentifier,
    StopPaymentAttempt,
    StopPaymentRequest,
    StopState,
    Transfer,
)
from jingwu.core import access, audit, identifiers
from jingwu.core import selectors as core_selectors
from jingwu.core import services as core_services
from jingwu.core.access import Action
from jingwu.core.models import Unit, User, WorkItemPriority, WorkItemStatus
from jingwu.core.services import ServiceError

MAX_TRANSFERS: Final = 50
MAX_INDICATORS: Final = 50  # of each kind
MAX_AMOUNT_FEN: Final = 10**12  # ten billion yuan: beyond it, a typo
MAX_NARRATIVE: Final = 5000
CLOCK_SKEW: Final = timedelta(minutes=5)  # a time "in the future" by less is the clocks disagreeing
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LEASE: Final = timedelta(minutes=2)  # a sender silent this long has died; the sweep takes over
APPROVAL_MINUTES: Final = 10  # "分钟止付": an officer's report waits this long at most for the desk
RENEWAL_NOTICE: Final = timedelta(hours=12)
POLL_LATER: Final = timedelta(seconds=30)
S = StopState


# --- input -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TransferInput:
    payee_account: str
    payee_bank: str
    amount_fen: int
    transferred_at: datetime
    payee_name: str = ""
    payer_account: str = ""
    payer_bank: str = ""


@dataclass(frozen=True)
class ReportInput:
    victim_name: str
    fraud_type: str
    transfers: Sequence[TransferInput]
    victim_id_number: str = ""
    victim_phone: str = ""
    victim_entity_id: int | None = None
    loss_fen: int | None = None  # the sum of the transfers when not given
    reported_at: datetime | None = None  # now when not given
    narrative: str = ""
    phones: Sequence[str] = field(default_factory=tuple)
    urls: Sequence[str] = field(default_factory=tuple)
    apps: Sequence[str] = field(default_factory=tuple)

    def digest(self) -> str:
        data = asdict(self)
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


@dataclass
class _Checked:
    fraud_type: str
    victim_name: str
    victim_id_number: str
    victim_id_raw: str
    victim_phone: str
    victim_phone_raw: str
    victim_entity_id: int | None
    loss_fen: int
    reported_at: datetime
    narrative: str
    transfers: list[tuple[TransferInput, indicators.Indicator, indicators.Indicator | None]]
    found: list[tuple[indicators.Indicator, str]]  # (indicator, source)


def _fail(field_name: str, message: str) -> ServiceError:
    return ServiceError(f"{field_name}: {message}", field=field_name)


def _check_time(value: object, name: str, now: datetime) -> datetime:
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise _fail(name, _("需要带时区的日期时间"))
    if value > now + CLOCK_SKEW:
        raise _fail(name, _("不能晚于现在"))
    if value < EARLIEST:
        raise _fail(name, _("不能早于 2000 年"))
    return value


def _check_amount(value: object, name: str, *, zero_ok: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(name, _("金额须为整数（单位：分）"))
    if value < 0 or (value == 0 and not zero_ok):
        raise _fail(name, _("金额须大于 0") if not zero_ok else _("金额不能为负"))
    if value > MAX_AMOUNT_FEN:
        raise _fail(name, _("金额超出上限（100 亿元）"))
    return value


def _indicator(kind: str, raw: str, name: str, bank: str = "") -> indicators.Indicator:
    if not isinstance(raw, str):
        raise _fail(name, _("需要文本"))
    try:
        if kind == "account":
            return indicators.account(raw, bank)
        return {"phone": indicators.phone, "url": indicators.url, "app": indicators.app}[kind](raw)
    except indicators.IndicatorError as exc:
        raise _fail(name, str(exc)) from None


def _check(data: ReportInput, now: datetime) -> _Checked:
    """Every rule, in the order of the form; the first broken one is raised."""
    name = " ".join((data.victim_name or "").split())
    if not name:
        raise _fail("victim_name", _("请填写受害人姓名"))
    if len(name) > 100:
        raise _fail("victim_name", _("姓名最长 100 个字"))
    id_number = ""
    if data.victim_id_number.strip():
        checked_id = identifiers.validate_resident_id(data.victim_id_number)
        if not checked_id.valid:
            raise _fail("victim_id_number", checked_id.errors[0].message)
        id_number = checked_id.normalized
    victim_phone = ""
    if data.victim_phone.strip():
        victim_phone = _indicator("phone", data.victim_phone, "victim_phone").value
    if data.fraud_type not in FraudType.values:
        raise _fail("fraud_type", _("未知的诈骗类型 %(code)r，可选：%(codes)s") % {
            "code": data.fraud_type, "codes": ", ".join(FraudType.values)})
    reported_at = _check_time(data.reported_at or now, "reported_at", now)
    if not data.transfers:
        raise _fail("transfers", _("至少需要一笔转账"))
    if len(data.transfers) > MAX_TRANSFERS:
        raise _fail("transfers", _("一次最多登记 %(n)s 笔转账") % {"n": MAX_TRANSFERS})
    transfers = []
    for i, t in enumerate(data.transfers):
        where = f"transfers[{i}]"
        if t.payee_bank not in BANKS:
            raise _fail(f"{where}.payee_bank", _("未知的银行代码 %(code)r") % {"code": t.payee_bank})
        payee = _indicator("account", t.payee_account, f"{where}.payee_account", t.payee_bank)
        _check_amount(t.amount_fen, f"{where}.amount_fen")
        _check_time(t.transferred_at, f"{where}.transferred_at", now)
        if t.payer_bank and t.payer_bank not in BANKS:
            raise _fail(f"{where}.payer_bank", _("未知的银行代码 %(code)r") % {"code": t.payer_bank})
        payer = None
        if t.payer_account.strip():
            payer = _indicator("account", t.payer_account, f"{where}.payer_account", t.payer_bank)
        if len(t.payee_name) > 100:
            raise _fail(f"{where}.payee_name", _("户名最长 100 个字"))
        transfers.append((t, payee, payer))
    loss = sum(t.amount_fen for t in data.transfers) if data.loss_fen is None else data.loss_fen
    loss = _check_amount(loss, "loss_fen", zero_ok=True)
    if len(data.narrative) > MAX_NARRATIVE:
        raise _fail("narrative", _("简要案情最长 %(n)s 字") % {"n": MAX_NARRATIVE})
    found: list[tuple[indicators.Indicator, str]] = [(payee, IdentifierSource.TRANSFER) for _t, payee, _p in transfers]
    for kind, values in (("phone", data.phones), ("url", data.urls), ("app", data.apps)):
        plural = f"{kind}s"
        if len(values) > MAX_INDICATORS:
            raise _fail(plural, _("最多 %(n)s 项") % {"n": MAX_INDICATORS})
        found.extend((_indicator(kind, raw, f"{plural}[{i}]"), IdentifierSource.REPORTED)
                     for i, raw in enumerate(values))
    entity_id = data.victim_entity_id
    if entity_id is not None:
        live = selectors.live_entity(entity_id)
        if live is None:
            raise _fail("victim_entity_id", _("没有编号为 %(id)s 的人员实体") % {"id": entity_id})
        entity_id = live
    elif id_number:
        entity_id = selectors.person_entity_by_id_number(id_number)
    return _Checked(data.fraud_type, name, id_number, data.victim_id_number.strip()[:64], victim_phone,
                    data.victim_phone.strip()[:64], entity_id, loss, reported_at, data.narrative.strip(), transfers,
                    found)


# --- the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Submitted:
    report: FraudReport
    replayed: bool = False  # the idempotency key was seen before: nothing was written


def fraud_report_submit(*, actor: User, unit: Unit, data: ReportInput, channel: str = ReportChannel.OFFICER,
                        idempotency_key: str | None = None, now: datetime | None = None) -> Submitted:
    """Take a victim's report. With FRAUD_STOP_PAYMENT over the unit, a stop-payment request
    for every payee account leaves for its bank as soon as the report commits; otherwise
    they wait for the unit's anti-fraud desk to approve them (a task in its inbox)."""
    now = now or timezone.now()
    access.check(actor, Action.FRAUD_REPORT, unit, object_type="fraud_report")
    digest = data.digest()
    if idempotency_key:
        earlier = _replay(idempotency_key, digest)
        if earlier is not None:
            return Submitted(earlier, replayed=True)
    checked = _check(data, now)
    send_now = access.can(actor, Action.FRAUD_STOP_PAYMENT, unit)
    try:
        with transaction.atomic():
            report = _store(actor, unit, checked, channel, idempotency_key, digest, now, send_now)
    except IntegrityError:
        if idempotency_key:  # lost a race with the same report sent twice at once
            earlier = _replay(idempotency_key, digest)
            if earlier is not None:
                return Submitted(earlier, replayed=True)
        raise
    return Submitted(report)


def _replay(key: str, digest: str) -> FraudReport | None:
    earlier = FraudReport.objects.filter(idempotency_key=key).first()
    if earlier is not None and earlier.input_digest != digest:
        raise _fail("idempotency_key", _("这个幂等键已用于另一份不同的报案"))
    return earlier


def _store(actor: User, unit: Unit, checked: _Checked, channel: str, key: str | None, digest: str,
           now: datetime, send_now: bool) -> FraudReport:
    report = FraudReport.objects.create(
        number=f"~{uuid.uuid4().hex[:20]}",  # a placeholder: the number is made from the row's id
        unit=unit, taken_by=actor, channel=channel,
        fraud_type=checked.fraud_type, victim_entity_id=checked.victim_entity_id,
        victim_name=checked.victim_name, victim_id_number=checked.victim_id_number,
        victim_id_raw=checked.victim_id_raw, victim_phone=checked.victim_phone,
        victim_phone_raw=checked.victim_phone_raw, loss_fen=checked.loss_fen, narrative=checked.narrative,
        reported_at=checked.reported_at, created_at=now, idempotency_key=key or None, input_digest=digest)
    report.number = f"FZ{timezone.localtime(now):%Y%m%d}{report.pk:06d}"
    report.save(update_fields=["number"])
    transfers = Transfer.objects.bulk_create([
        Transfer(report=report, position=i + 1, payer_account=payer.value if payer else "", payer_bank=t.payer_bank,
                 payee_account=payee.value, payee_bank=t.payee_bank, payee_name=t.payee_name.strip(),
                 amount_fen=t.amount_fen, transferred_at=t.transferred_at, payee_warnings=list(payee.warnings))
        for i, (t, payee, payer) in enumerate(checked.transfers)])
    _add_indicators(report, checked.found, now)
    # One request per payee account, for everything paid into it.
    firsts: dict[tuple[str, str], tuple[Transfer, int]] = {}
    for transfer in transfers:
        key_of = (transfer.payee_bank, transfer.payee_account)
        first, total = firsts.get(key_of, (transfer, 0))
        firsts[key_of] = (first, total + transfer.amount_fen)
    state = S.QUEUED if send_now else S.AWAITING_APPROVAL
    requests = StopPaymentRequest.objects.bulk_create([
        StopPaymentRequest(report=report, transfer=first, hop=0, bank=bank, account=account, amount_fen=total,
                           state=state, idempotency_key=_new_key(), ordered_by=actor if send_now else None,
                           created_at=now)
        for (bank, account), (first, total) in firsts.items()])
    audit.record(actor=actor, action=Action.FRAUD_REPORT, object_type="fraud_report", object_id=report.number,
                 unit_code=unit.code, details={"transfers": len(transfers), "loss_fen": report.loss_fen,
                                               "stop_requests": len(requests), "sent_at_once": send_now})
    if send_now:
        _send_on_commit([r.pk for r in requests])
    else:
        _ask_the_desk(report, len(requests), now)
    linking.link_report(report)  # 串并案: join the networks of its accounts, phones, URLs, apps
    return report


def _add_indicators(report: FraudReport, found: Iterable[tuple[indicators.Indicator, str]], now: datetime) -> None:
    seen = set(ReportIdentifier.objects.filter(report=report).values_list("kind", "value"))
    rows = []
    for item, source in found:
        if (item.kind, item.value) in seen:
            continue
        seen.add((item.kind, item.value))
        rows.append(ReportIdentifier(report=report, kind=item.kind, value=item.value, raw=str(item.raw)[:500],
                                     source=source, valid=item.valid, warnings=list(item.warnings), created_at=now))
    ReportIdentifier.objects.bulk_create(rows)


def _new_key() -> str:
    return uuid.uuid4().hex


def _send_on_commit(ids: list[int]) -> None:
    from jingwu.antifraud import sender

    if ids:
        transaction.on_commit(lambda: sender.schedule(ids))


def _report_url(report: FraudReport) -> str:
    return reverse("antifraud:report", args=[report.number])


def _ask_the_desk(report: FraudReport, count: int, now: datetime) -> None:
    desk = selectors.stop_desk(report.unit) or report.unit
    with translation.override(settings.LANGUAGE_CODE):  # stored text: in the service's language
        _desk_task(report, desk, count, now)


def _desk_task(report: FraudReport, desk: Unit, count: int, now: datetime) -> None:
    core_services.workitem_create(
        actor=None, title=_("紧急止付待审批：%(number)s（%(n)s 个账户）") % {"number": report.number, "n": count},
        kind="antifraud.stop_approval", assignee_unit=desk, priority=WorkItemPriority.URGENT,
        due_at=now + timedelta(minutes=APPROVAL_MINUTES), source_app="antifraud", source_type="fraud_report",
        source_id=report.number, url=_report_url(report), dedupe_key=f"antifraud.stop_approval:{report.pk}")


# --- decisions -----------------------------------------------------------------------------------

def _decide(actor: User, stop: StopPaymentRequest, event: str, now: datetime) -> str:
    access.check(actor, workflow.MOVES[event].who, stop.report.unit, object_type="stop_payment_request",
                 object_id=stop.pk)
    try:
        return workflow.target(stop, event, now)
    except workflow.WorkflowError as exc:
        raise ServiceError(str(exc), field=exc.field) from None


def _locked(stop: StopPaymentRequest) -> StopPaymentRequest:
    return StopPaymentRequest.objects.select_for_update().select_related("report__unit").get(pk=stop.pk)


def stop_payment_approve(*, actor: User, report: FraudReport, now: datetime | None = None) -> int:
    """Send a report's requests that waited for approval; returns how many."""
    now = now or timezone.now()
    access.check(actor, Action.FRAUD_STOP_PAYMENT, report.unit, object_type="fraud_report", object_id=report.number)
    with transaction.atomic():
        waiting = list(StopPaymentRequest.objects.select_for_update().filter(report=report,
                                                                             state=S.AWAITING_APPROVAL))
        if not waiting:
            raise ServiceError(_("没有待审批的止付请求。"), field="state")
        ids = [s.pk for s in waiting]
        StopPaymentRequest.objects.filter(pk__in=ids).update(state=workflow.MOVES["approve"].target, ordered_by=actor)
        audit.record(actor=actor, action=Action.FRAUD_STOP_PAYMENT, object_type="fraud_report",
                     object_id=report.number, unit_code=report.unit.code,
                     details={"event": "approve", "requests": ids})
        _send_on_commit(ids)
    item = core_selectors.inbox(actor).filter(dedupe_key=f"antifraud.stop_approval:{report.pk}").first()
    if item is not None:
        core_services.workitem_set_status(actor=actor, item=item, status=WorkItemStatus.DONE)
    return len(ids)


def stop_payment_resend(*, actor: User, stop: StopPaymentRequest, now: datetime | None = None) -> StopPaymentRequest:
    """Try a failed request again, with the same idempotency key (the bank may have it already)."""
    now = now or timezone.now()
    with transaction.atomic():
        stop = _locked(stop)
        stop.state = _decide(actor, stop, "resend", now)
        stop.next_attempt_at = None
        stop.failed_at = None
        stop.lease_until = None
        stop.save(update_fields=["state", "next_attempt_at", "failed_at", "lease_until"])
        _audit_decision(actor, stop, "resend")
        _send_on_commit([stop.pk])
    return stop


def _audit_decision(actor: User | None, stop: StopPaymentRequest, event: str, **details: Any) -> None:
    audit.record(actor=actor, action=f"{Action.FRAUD_STOP_PAYMENT}.{event}" if actor is None
                 else Action.FRAUD_STOP_PAYMENT, object_type="stop_payment_request", object_id=stop.pk,
                 unit_code=stop.report.unit.code,
                 details={"event": event, "report": stop.report.number, "bank": stop.bank, "account": stop.account,
                          "state": stop.state, **details})


def _bank_act(stop: StopPaymentRequest, operation: str, body: dict[str, Any]) -> BankReply:
    """A decision's call to the bank, retried a few times on timeouts and 5xx with the same key."""
    key = f"{stop.idempotency_key}:{operation}"
    reply = BankReply(None, error="not tried")
    for attempt in range(3):
        started = timezone.now()
        reply = bank_client.act(stop.bank, stop.bank_reference, operation, body, key=key,
                                timeout=settings.JINGWU_BANK_TIMEOUT)
        retry = reply.retryable and attempt < 2
        _log_attempt(stop.pk, operation, reply, started,
                     AttemptOutcome.OK if reply.ok else AttemptOutcome.RETRY if retry else AttemptOutcome.FAILED)
        if not retry:
            break
        time.sleep(settings.JINGWU_STOP_BACKOFF * 2**attempt)
    if not reply.ok:
        raise ServiceError(_("%(bank)s 未能办理：%(reason)s") % {
            "bank": bank_name(stop.bank), "reason": reply.reason()}, field="bank")
    return reply


def _log_attempt(stop_id: int, operation: str, reply: BankReply, started: datetime, outcome: str) -> None:
    StopPaymentAttempt.objects.create(request_id=stop_id, operation=operation, started_at=started,
                                      latency_ms=reply.latency_ms, http_status=reply.status, outcome=outcome,
                                      error=reply.reason())


def _bank_time(value: object) -> datetime | None:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed if parsed is not None and timezone.is_aware(parsed) else None


def stop_payment_renew(*, actor: User, stop: StopPaymentRequest, now: datetime | None = None) -> StopPaymentRequest:
    """Renew a stop once, before it expires: another 48 hours from its expiry."""
    now = now or timezone.now()
    _decide(actor, stop, "renew", now)  # refused here, before the bank is asked
    reply = _bank_act(stop, Operation.RENEW, {"requested_at": now.isoformat()})
    with transaction.atomic():
        stop = _locked(stop)
        _decide(actor, stop, "renew", now)
        base = stop.expires_at or now
        stop.renewals += 1
        stop.renewed_at = now
        stop.expires_at = _bank_time(reply.body.get("expires_at")) or base + workflow.STOP_DURATION
        stop.bank_answer = reply.body
        stop.save(update_fields=["renewals", "renewed_at", "expires_at", "bank_answer"])
        _audit_decision(actor, stop, "renew", expires_at=stop.expires_at.isoformat())
    return stop


def stop_payment_release(*, actor: User, stop: StopPaymentRequest, now: datetime | None = None) -> StopPaymentRequest:
    now = now or timezone.now()
    _decide(actor, stop, "release", now)
    reply = _bank_act(stop, Operation.RELEASE, {})
    with transaction.atomic():
        stop = _locked(stop)
        stop.state = _decide(actor, stop, "release", now)
        stop.released_at = now
        stop.release_reason = "released"
        stop.bank_answer = reply.body
        stop.save(update_fields=["state", "released_at", "release_reason", "bank_answer"])
        _audit_decision(actor, stop, "release")
    return stop


def stop_payment_freeze(*, actor: User, stop: StopPaymentRequest, document_no: str,
                        now: datetime | None = None) -> StopPaymentRequest:
    """Freeze (冻结) the stopped money under a freezing decision's document number."""
    now = now or timezone.now()
    document_no = document_no.strip()
    if not document_no or len(document_no) > 64:
        raise _fail("document_no", _("请填写冻结决定书文号（最长 64 字）"))
    _decide(actor, stop, "freeze", now)
    reply = _bank_act(stop, Operation.FREEZE, {"document_no": document_no})
    with transaction.atomic():
        stop = _locked(stop)
        stop.state = _decide(actor, stop, "freeze", now)
        stop.frozen_at = now
        stop.freeze_document = document_no
        frozen = reply.body.get("frozen_fen")
        stop.amount_frozen_fen = frozen if isinstance(frozen, int) and frozen >= 0 else stop.amount_stopped_fen
        stop.bank_answer = reply.body
        stop.save(update_fields=["state", "frozen_at", "freeze_document", "amount_frozen_fen", "bank_answer"])
        _audit_decision(actor, stop, "freeze", document_no=document_no, amount_fen=stop.amount_frozen_fen)
    return stop


def stop_payment_return(*, actor: User, stop: StopPaymentRequest, amount_fen: int, document_no: str,
                        now: datetime | None = None) -> StopPaymentRequest:
    """Return (返还) frozen money to the victim."""
    now = now or timezone.now()
    document_no = document_no.strip()
    if not document_no or len(document_no) > 64:
        raise _fail("document_no", _("请填写返还决定书文号（最长 64 字）"))
    _check_amount(amount_fen, "amount_fen")
    if amount_fen > stop.amount_frozen_fen:
        raise _fail("amount_fen", _("返还金额不能超过冻结金额 %(yuan)s 元") % {
            "yuan": f"{stop.amount_frozen_fen / 100:.2f}"})
    _decide(actor, stop, "return", now)
    # To the account the victim paid from, when the report names it.
    to_account = stop.transfer.payer_account if stop.transfer is not None else ""
    reply = _bank_act(stop, Operation.RETURN, {"amount_fen": amount_fen, "document_no": document_no,
                                               "to_account": to_account})
    with transaction.atomic():
        stop = _locked(stop)
        stop.state = _decide(actor, stop, "return", now)
        stop.returned_at = now
        stop.return_document = document_no
        stop.amount_returned_fen = amount_fen
        stop.bank_answer = reply.body
        stop.save(update_fields=["state", "returned_at", "return_document", "amount_returned_fen", "bank_answer"])
        _audit_decision(actor, stop, "return", document_no=document_no, amount_fen=amount_fen)
    return stop


# --- what the sender reports (the system actor) ---------------------------------------------------

def stop_claim(stop_id: int, *, now: datetime) -> StopPaymentRequest | None:
    """Take a request to work on, unless a live sender holds it already; None then."""
    taken = (StopPaymentRequest.objects
             .filter(pk=stop_id, state__in=workflow.IN_FLIGHT)
             .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
             .update(lease_until=now + LEASE))
    if not taken:
        return None
    return StopPaymentRequest.objects.select_related("report", "parent", "transfer").get(pk=stop_id)


def stop_unclaim(stop_id: int) -> None:
    StopPaymentRequest.objects.filter(pk=stop_id).update(lease_until=None)


def stop_submit_recorded(*, stop_id: int, reply: BankReply, started_at: datetime, final: bool,
                         retry_in: float, now: datetime | None = None) -> StopPaymentRequest:
    """One try at submitting: sent (and maybe answered at once), to be retried, or failed."""
    now = now or timezone.now()
    with transaction.atomic():
        stop = StopPaymentRequest.objects.select_for_update().select_related("report__unit").get(pk=stop_id)
        stop.attempts += 1
        stop.lease_until = now + LEASE
        retry = not reply.ok and reply.retryable and not final
        _log_attempt(stop.pk, Operation.SUBMIT, reply, started_at,
                     AttemptOutcome.OK if reply.ok else AttemptOutcome.RETRY if retry else AttemptOutcome.FAILED)
        if stop.state != S.QUEUED:  # answered meanwhile by another sender
            stop.save(update_fields=["attempts", "lease_until"])
            return stop
        if reply.ok:
            stop.state = workflow.MOVES["deliver"].target
            stop.sent_at = now
            stop.bank_reference = str(reply.body.get("reference", ""))[:64]
            stop.last_error = ""
            stop.next_attempt_at = None
            stop.save()
            # The earliest wins: senders of one report's requests commit in any order.
            FraudReport.objects.filter(Q(first_stop_sent_at__isnull=True) | Q(first_stop_sent_at__gt=now),
                                       pk=stop.report_id).update(first_stop_sent_at=now)
            answer = _apply_answer(stop, reply.body, now)  # a bank may answer at once
            _audit_decision(None, stop, "deliver", attempts=stop.attempts, reference=stop.bank_reference,
                            **answer)
        elif retry:
            stop.last_error = reply.reason()
            stop.next_attempt_at = now + timedelta(seconds=retry_in)
            stop.save(update_fields=["attempts", "lease_until", "last_error", "next_attempt_at"])
        else:
            _fail_stop(stop, reply.reason() if not reply.retryable else
                       _("连续 %(n)s 次未能送达：%(reason)s") % {"n": stop.attempts, "reason": reply.reason()}, now)
    return stop


def _fail_stop(stop: StopPaymentRequest, reason: str, now: datetime) -> None:
    stop.state = workflow.MOVES["fail"].target
    stop.failed_at = now
    stop.last_error = reason[:300]
    stop.next_attempt_at = None
    stop.lease_until = None
    stop.save()
    _audit_decision(None, stop, "fail", reason=stop.last_error)


def stop_poll_recorded(*, stop_id: int, reply: BankReply, started_at: datetime,
                       now: datetime | None = None) -> StopPaymentRequest:
    """One status query's answer."""
    now = now or timezone.now()
    with transaction.atomic():
        stop = StopPaymentRequest.objects.select_for_update().select_related("report__unit").get(pk=stop_id)
        _log_attempt(stop.pk, Operation.QUERY, reply, started_at,
                     AttemptOutcome.OK if reply.ok else AttemptOutcome.RETRY if reply.retryable
                     else AttemptOutcome.FAILED)
        stop.lease_until = now + LEASE
        if reply.ok:
            stop.last_error = ""
            stop.save(update_fields=["lease_until", "last_error"])
            answer = _apply_answer(stop, reply.body, now)
            if "answer" in answer:
                _audit_decision(None, stop, "answer", **answer)
        elif reply.retryable:
            stop.last_error = reply.reason()
            stop.save(update_fields=["lease_until", "last_error"])
        elif stop.state in workflow.IN_FLIGHT:
            _fail_stop(stop, reply.reason(), now)
    return stop


def stop_poll_later(stop_id: int, *, at: datetime) -> None:
    StopPaymentRequest.objects.filter(pk=stop_id, state__in=workflow.IN_FLIGHT).update(next_poll_at=at,
                                                                                       lease_until=None)


def _apply_answer(stop: StopPaymentRequest, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Move a request on by the bank's status; onward money gets requests of its own.
    Returns what the bank's answer was, for the caller's audit entry ({} while it has none)."""
    status = body.get("status")
    stop.bank_answer = body
    if status == "processing" and stop.state == S.SENT:
        stop.state = workflow.MOVES["acknowledge"].target
        stop.acknowledged_at = now
        stop.save()
        return {}
    if status not in ("stopped", "moved_onward") or stop.state not in (S.SENT, S.ACKNOWLEDGED):
        stop.save(update_fields=["bank_answer"])
        return {}
    stopped = body.get("stopped_fen")
    stop.amount_stopped_fen = stopped if isinstance(stopped, int) and stopped >= 0 else 0
    onward = [o for o in body.get("onward") or [] if isinstance(o, dict)]
    stop.state = workflow.MOVES["stop" if status == "stopped" else "move_onward"].target
    stop.acknowledged_at = stop.acknowledged_at or now
    stop.answered_at = now
    stop.expires_at = _bank_time(body.get("expires_at")) or now + workflow.STOP_DURATION
    stop.next_poll_at = None
    children = _chase(stop, onward, now)
    stop.save()
    return {"answer": stop.state, "stopped_fen": stop.amount_stopped_fen, "onward": len(onward),
            "chased": [c.pk for c in children]}


def _chase(stop: StopPaymentRequest, onward: list[dict[str, Any]], now: datetime) -> list[StopPaymentRequest]:
    """A request for each onward account the money went to (hop + 1), sent on commit."""
    hop = stop.hop + 1
    children: list[StopPaymentRequest] = []
    found: list[tuple[indicators.Indicator, str]] = []
    skipped = []
    for item in onward:
        bank, raw_account, amount = item.get("bank"), item.get("account"), item.get("amount_fen")
        if bank not in BANKS or not isinstance(raw_account, str) or not isinstance(amount, int) or amount <= 0:
            skipped.append(str(item)[:60])
            continue
        try:
            account = indicators.account(raw_account, bank)
        except indicators.IndicatorError:
            skipped.append(raw_account[:40])
            continue
        found.append((account, IdentifierSource.ONWARD))
        if hop > workflow.MAX_HOPS:
            continue
        if StopPaymentRequest.objects.filter(parent=stop, bank=bank, account=account.value).exists():
            continue
        children.append(StopPaymentRequest.objects.create(
            report_id=stop.report_id, transfer_id=stop.transfer_id, parent=stop, hop=hop, bank=bank,
            account=account.value, amount_fen=amount, state=S.QUEUED, idempotency_key=_new_key(),
            ordered_by_id=stop.ordered_by_id, created_at=now))
    _add_indicators(stop.report, found, now)
    # 串并案 live: another report whose money reached the same onward account joins this network.
    linking.link_report_identifiers(stop.report, [(item.kind, item.value) for item, _source in found])
    notes = []
    if hop > workflow.MAX_HOPS and found:
        notes.append(_("已追到第 %(n)s 跳，后续资金流向请转侦查。") % {"n": workflow.MAX_HOPS})
    if skipped:
        notes.append(_("银行答复中有无法识别的去向：%(items)s") % {"items": "; ".join(skipped)})
    if notes:
        stop.note = " ".join(notes)[:300]
    _send_on_commit([c.pk for c in children])
    return children


# --- the schedule --------------------------------------------------------------------------------

def stop_payment_expire_due(*, now: datetime) -> int:
    """Stops past their expiry are released (the bank lets them lapse on its own)."""
    count = 0
    for stop_id in StopPaymentRequest.objects.filter(state=S.STOPPED, expires_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            stop = StopPaymentRequest.objects.select_for_update().select_related("report__unit").get(pk=stop_id)
            if not workflow.allowed(stop, "expire", now):
                continue
            stop.state = workflow.MOVES["expire"].target
            stop.released_at = stop.expires_at
            stop.release_reason = "expired"
            stop.save(update_fields=["state", "released_at", "release_reason"])
            _audit_decision(None, stop, "expire", expires_at=stop.expires_at.isoformat() if stop.expires_at else "")
            count += 1
    return count


def stop_payment_remind_renewals(*, now: datetime) -> int:
    """A task to the anti-fraud desk for each stop expiring within RENEWAL_NOTICE and not yet renewed."""
    due = (StopPaymentRequest.objects.filter(state=S.STOPPED, renewals=0, expires_at__gt=now,
                                             expires_at__lte=now + RENEWAL_NOTICE)
           .select_related("report__unit"))
    count = 0
    with translation.override(settings.LANGUAGE_CODE):  # stored text: in the service's language
        for stop in due:
            _renewal_task(stop)
            count += 1
    return count


def _renewal_task(stop: StopPaymentRequest) -> None:
    report = stop.report
    core_services.workitem_create(
        actor=None, title=_("止付将于 %(at)s 到期，是否续止：%(number)s %(bank)s %(account)s") % {
            "at": timezone.localtime(stop.expires_at).strftime("%m-%d %H:%M") if stop.expires_at else "",
            "number": report.number, "bank": bank_name(stop.bank), "account": stop.account},
        kind="antifraud.stop_renewal", assignee_unit=selectors.stop_desk(report.unit) or report.unit,
        priority=WorkItemPriority.HIGH, due_at=stop.expires_at, source_app="antifraud",
        source_type="stop_payment_request", source_id=str(stop.pk), url=_report_url(report),
        dedupe_key=f"antifraud.stop_renewal:{stop.pk}")


@dataclass(frozen=True)
class Sweep:
    expired: int
    reminded: int
    resumed: int


def stop_payment_sweep(*, now: datetime) -> Sweep:
    """The periodic task: expire, remind, and take up requests no live sender holds
    (the process that held them stopped, or their next poll is due)."""
    from jingwu.antifraud import sender

    expired = stop_payment_expire_due(now=now)
    reminded = stop_payment_remind_renewals(now=now)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    waiting = (Q(state=S.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
               | Q(state__in=(S.SENT, S.ACKNOWLEDGED)) & (Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)))
    ids = list(StopPaymentRequest.objects.filter(free & waiting).values_list("pk", flat=True))
    sender.schedule(ids)
    return Sweep(expired, reminded, len(ids))


# --- 串并案: a network's reports as one case ------------------------------------------------

CASE_APP: Final = "antifraud"  # how the cases module names where the grouped reports live


def _common_unit(units: Sequence[Unit]) -> Unit:
    """The deepest unit above (or equal to) every unit given: who handles a case spanning them."""
    paths = [[p for p in u.path.split("/") if p] for u in units]
    shared: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return Unit.objects.get(path="".join(f"{p}/" for p in shared))


@access.refusals_audited
def network_group(*, actor: User, root: int, now: datetime | None = None) -> Any:
    """Group the reports of one network (those the actor may analyse) into one case group
    through the cases module: a new criminal case of 电信网络诈骗 at the deepest unit over all
    of them, or, when some of them were grouped before, that case takes the rest. Needs
    FRAUD_ANALYSE over the reports and CASE_RECORD over the case's unit. Returns the
    cases module's `Grouped` (case, created, added)."""
    from jingwu.cases import services as case_services

    now = now or timezone.now()
    members = linking.network_members(root)
    ids = [m.report_id for m in members if m.report_id]
    reports = list(access.scope(actor, Action.FRAUD_ANALYSE, FraudReport.objects.filter(pk__in=ids))
                   .select_related("unit").order_by("reported_at", "pk"))
    if not reports:
        access.deny(actor, Action.FRAUD_ANALYSE, None, object_type="fraud_network", object_id=root)
    if len(reports) < 2:
        raise ServiceError(_("这个网络中您可见的报案不足两起，无需并案。"), field="root")
    loss = sum(r.loss_fen for r in reports)
    with translation.override(settings.LANGUAGE_CODE):  # stored text: in the service's language
        summary = _("串并案：团伙网络 #%(root)s，%(n)s 起电信网络诈骗报案，损失合计 %(yuan)s 元。") % {
            "root": root, "n": len(reports), "yuan": f"{loss / 100:,.2f}"}
    with transaction.atomic():
        grouped = case_services.case_group_incidents(
            actor=actor, unit=_common_unit([r.unit for r in reports]), incident_app=CASE_APP,
            incidents=[(str(r.pk), r.number) for r in reports], category="telecom_fraud", summary=summary,
            reported_at=reports[0].reported_at, now=now)
        audit.record(actor=actor, action="antifraud.network_group", object_type="fraud_network", object_id=str(root),
                     details={"case": grouped.case.number, "created": grouped.created, "added": grouped.added})
    return grouped
