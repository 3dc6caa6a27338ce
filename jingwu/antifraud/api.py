"""The anti-fraud API: take a victim's report (the 96110 desk, the public portal, another
police system) and read it back with the live state of its stop-payment requests.

Bad input never writes anything: a wrong type is a 422 naming the field (django-ninja),
a broken rule a 400 {detail, field, code} from the service ("transfers[0].payee_account")."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from jingwu.antifraud import selectors, services
from jingwu.antifraud.banks import bank_name
from jingwu.antifraud.models import FraudReport, ReportChannel, StopPaymentRequest
from jingwu.core.api import ErrorOut
from jingwu.core.api_auth import BearerTokenAuth, SessionAuth
from jingwu.core.models import Unit, User
from jingwu.core.services import ServiceError

router = Router(tags=["antifraud"])

# Submitting needs a token scoped "antifraud.reports" (reading back needs "read", as elsewhere);
# the user behind the token must also hold FRAUD_REPORT over the taking unit.
SUBMIT_AUTH = [BearerTokenAuth(scope="antifraud.reports"), SessionAuth()]


class TransferIn(Schema):
    payee_account: str = Field(max_length=64)
    payee_bank: str = Field(max_length=16, description="a bank code of docs/bank-api.md, e.g. ICBC")
    amount_fen: int = Field(description="integer fen: 1 yuan = 100")
    transferred_at: dt.datetime = Field(description="with a time zone")
    payee_name: str = Field("", max_length=100)
    payer_account: str = Field("", max_length=64)
    payer_bank: str = Field("", max_length=16)


class VictimIn(Schema):
    name: str = Field(max_length=100)
    id_number: str = Field("", max_length=64)
    phone: str = Field("", max_length=64)
    entity_id: int | None = Field(None, description="the person's entity in the data centre, when known")


class ReportIn(Schema):
    victim: VictimIn
    fraud_type: str = Field(description="a code of the fraud-type table, e.g. order_rebate, fake_officials")
    transfers: list[TransferIn]
    loss_fen: int | None = Field(None, description="the sum of the transfers when left out")
    reported_at: dt.datetime | None = Field(None, description="now when left out")
    narrative: str = ""
    phones: list[str] = []
    urls: list[str] = []
    apps: list[str] = []
    unit: str | None = Field(None, max_length=32, description="the taking unit's code; your own unit when left out")
    idempotency_key: str | None = Field(None, min_length=1, max_length=128,
                                        description="your id for this report: the same key again returns it")


class StopOut(Schema):
    id: int
    parent_id: int | None
    hop: int
    bank: str
    bank_name: str
    account: str
    amount_fen: int
    state: str
    state_label: str
    bank_reference: str
    sent_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    answered_at: dt.datetime | None
    amount_stopped_fen: int
    expires_at: dt.datetime | None
    renewals: int
    amount_frozen_fen: int
    amount_returned_fen: int
    attempts: int = Field(description="tries to submit so far")
    last_error: str
    next_attempt_at: dt.datetime | None
    note: str


class SubmittedOut(Schema):
    number: str
    unit: str
    fraud_type: str
    loss_fen: int
    created_at: dt.datetime
    replayed: bool = Field(description="true when this idempotency key was seen before: nothing was written")
    stop_requests: list[StopOut]


class TransferOut(Schema):
    position: int
    payee_account: str
    payee_bank: str
    payee_name: str
    amount_fen: int
    transferred_at: dt.datetime
    payer_account: str
    payer_bank: str


class IndicatorOut(Schema):
    kind: str
    value: str
    raw: str
    source: str
    valid: bool
    warnings: list[str]


class VictimOut(Schema):
    name: str
    id_number: str = Field(description="masked unless your role reads ID numbers in full")
    phone: str
    entity_id: int | None


class ReportOut(Schema):
    number: str
    unit: str
    fraud_type: str
    fraud_type_label: str
    channel: str
    victim: VictimOut
    loss_fen: int
    narrative: str
    reported_at: dt.datetime
    created_at: dt.datetime
    first_stop_sent_at: dt.datetime | None
    transfers: list[TransferOut]
    indicators: list[IndicatorOut]
    stop_requests: list[StopOut]


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _stop_out(stop: StopPaymentRequest) -> StopOut:
    return StopOut(
        id=stop.pk, parent_id=stop.parent_id, hop=stop.hop, bank=stop.bank, bank_name=bank_name(stop.bank),
        account=stop.account, amount_fen=stop.amount_fen, state=stop.state, state_label=str(stop.get_state_display()),
        bank_reference=stop.bank_reference, sent_at=stop.sent_at, acknowledged_at=stop.acknowledged_at,
        answered_at=stop.answered_at, amount_stopped_fen=stop.amount_stopped_fen, expires_at=stop.expires_at,
        renewals=stop.renewals, amount_frozen_fen=stop.amount_frozen_fen, amount_returned_fen=stop.amount_returned_fen,
        attempts=stop.attempts, last_error=stop.last_error, next_attempt_at=stop.next_attempt_at, note=stop.note)


def _unit(actor: User, code: str | None) -> Unit:
    if code:
        unit = selectors.unit_by_code(code)
        if unit is None:
            raise ServiceError(f"unit: no unit with code {code!r}", field="unit")
        return unit
    if actor.home_unit is None:
        raise ServiceError("unit: name the taking unit's code (your account has no unit)", field="unit")
    return actor.home_unit


@router.post("/reports", auth=SUBMIT_AUTH, url_name="antifraud_report_submit",
             response={201: SubmittedOut, 200: SubmittedOut, 400: ErrorOut, 403: ErrorOut},
             summary="Take a victim's report; stop-payment requests leave for the banks as it commits")
def report_submit(request: HttpRequest, payload: ReportIn) -> Any:
    """201 with the new report's number and its stop-payment requests (state `queued`, or
    `awaiting_approval` when you may not order stop-payments yourself); 200 with the first
    report when its idempotency key comes again. Poll GET /reports/{number} for the banks' answers."""
    actor = _actor(request)
    data = services.ReportInput(
        victim_name=payload.victim.name, victim_id_number=payload.victim.id_number, victim_phone=payload.victim.phone,
        victim_entity_id=payload.victim.entity_id, fraud_type=payload.fraud_type, loss_fen=payload.loss_fen,
        reported_at=payload.reported_at, narrative=payload.narrative, phones=payload.phones, urls=payload.urls,
        apps=payload.apps,
        transfers=[services.TransferInput(
            payee_account=t.payee_account, payee_bank=t.payee_bank, amount_fen=t.amount_fen,
            transferred_at=t.transferred_at, payee_name=t.payee_name, payer_account=t.payer_account,
            payer_bank=t.payer_bank) for t in payload.transfers])
    submitted = services.fraud_report_submit(actor=actor, unit=_unit(actor, payload.unit), data=data,
                                             channel=ReportChannel.API, idempotency_key=payload.idempotency_key)
    report = submitted.report
    stops = selectors.stops_of(report)  # the order GET /reports/{number} and the page show
    return Status(200 if submitted.replayed else 201, SubmittedOut(
        number=report.number, unit=report.unit.code, fraud_type=report.fraud_type, loss_fen=report.loss_fen,
        created_at=report.created_at, replayed=submitted.replayed, stop_requests=[_stop_out(s) for s in stops]))


@router.get("/reports/{number}", url_name="antifraud_report_detail",
            response={200: ReportOut, 403: ErrorOut, 404: ErrorOut},
            summary="A report with its transfers, indicators and stop-payment requests (purpose required; audited)")
def report_detail(request: HttpRequest, number: str) -> Any:
    try:
        view = selectors.report_read(_actor(request), number, request=request)
    except FraudReport.DoesNotExist:
        return Status(404, {"detail": f"no report {number}", "code": "not_found"})
    report = view.report
    return Status(200, ReportOut(
        number=report.number, unit=report.unit.code, fraud_type=report.fraud_type,
        fraud_type_label=str(report.get_fraud_type_display()), channel=report.channel,
        victim=VictimOut(name=report.victim_name, id_number=view.victim_id_shown, phone=report.victim_phone,
                         entity_id=report.victim_entity_id),
        loss_fen=report.loss_fen, narrative=report.narrative, reported_at=report.reported_at,
        created_at=report.created_at, first_stop_sent_at=report.first_stop_sent_at,
        transfers=[TransferOut(position=t.position, payee_account=t.payee_account, payee_bank=t.payee_bank,
                               payee_name=t.payee_name, amount_fen=t.amount_fen, transferred_at=t.transferred_at,
                               payer_account=t.payer_account, payer_bank=t.payer_bank)
                   for t in report.transfers.all()],
        indicators=[IndicatorOut(kind=i.kind, value=i.value, raw=i.raw, source=i.source, valid=i.valid,
                                 warnings=list(i.warnings)) for i in report.identifiers.all()],
        stop_requests=[_stop_out(s) for s in selectors.stops_of(report)]))


from jingwu.antifraud.warning_api import router as _warning_router  # noqa: E402

router.add_router("", _warning_router)
from jingwu.antifraud.lists_api import router as _lists_router  # noqa: E402

router.add_router("", _lists_router)
