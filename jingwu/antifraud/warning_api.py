"""The early-warning API: partners push signal batches; officers record outcomes.

A batch is checked whole before anything is stored or published: the first bad signal
is a 400 {detail, field: "signals[3].counterpart", code} and nothing of the batch is kept."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from jingwu.antifraud import early_warning, streams
from jingwu.core.api import ErrorOut
from jingwu.core.api_auth import BearerTokenAuth, SessionAuth
from jingwu.core.models import User

router = Router(tags=["antifraud"])
log = logging.getLogger(__name__)

# Pushing needs a token scoped "antifraud.signals" whose user holds WARNING_SIGNAL_PUSH (partner role).
PUSH_AUTH = [BearerTokenAuth(scope="antifraud.signals"), SessionAuth()]


class SignalItemIn(Schema):
    id: str = Field(max_length=100, description="the partner's id of the event: the same id again is a repeat")
    kind: str = Field(description="call, sms, transfer, app_install or url_visit")
    occurred_at: dt.datetime = Field(description="with a time zone")
    citizen_phone: str = Field("", max_length=64)
    citizen_id_number: str = Field("", max_length=64)
    citizen_name: str = Field("", max_length=100)
    station: str = Field("", max_length=32, description="the citizen's police station (unit code), when known")
    counterpart: str = Field(max_length=600, description="the other party: number, payee account, app or URL")
    bank: str = Field("", max_length=16, description="the payee's bank code, for transfers")
    duration_seconds: int | None = None
    amount_fen: int | None = None
    device: str = Field("", max_length=64)
    ip: str = Field("", max_length=64)


class BatchIn(Schema):
    partner: str = Field(max_length=40, description="the partner's code, e.g. CMCC-SD")
    signals: list[SignalItemIn]


class BatchOut(Schema):
    accepted: int
    mode: str = Field(description="inline (processed before answering) or stream (queued on JetStream)")
    new: int = Field(description="signals not seen before")
    warnings_opened: int = 0


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@router.post("/signals", auth=PUSH_AUTH, url_name="antifraud_signals_push",
             response={202: BatchOut, 400: ErrorOut, 403: ErrorOut, 503: ErrorOut},
             summary="Push a batch of early-warning signals (telecom, bank, app, URL)")
def signals_push(request: HttpRequest, payload: BatchIn) -> Any:
    checked = early_warning.signals_check(actor=_actor(request), partner=payload.partner,
                                          items=[s.dict() for s in payload.signals])
    if settings.NATS_URL:
        try:
            new = streams.signals_publish(checked)
        except streams.StreamUnavailable as exc:
            # Nothing is written in this mode; a signal that did reach the stream is a
            # duplicate when the partner pushes the batch again.
            log.warning("signal stream unavailable: %s", exc)
            return Status(503, ErrorOut(detail=_("信号队列暂时不可用，请稍后重新推送整个批次"),
                                        code="stream_unavailable"))
        return Status(202, BatchOut(accepted=len(checked), mode="stream", new=new))
    result = early_warning.signals_process(checked, actor=_actor(request))
    return Status(202, BatchOut(accepted=len(checked), mode="inline", new=result.signals,
                                warnings_opened=result.warnings_opened))
