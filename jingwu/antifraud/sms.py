"""The sender of the early-warning SMS outbox (low risk is told by SMS).

`sms_outbox_send` runs every minute (tasks.py): it leases the queued messages that are due,
posts each to the SMS gateway (JINGWU_SMS_GATEWAY_URL, JSON {id, phone, text}; the id is
the idempotency key, so a resend after a lost answer is not a second SMS) and records the
answer. Timeouts, refused connections, 429 and 5xx are tried again later with a doubling
wait; other answers, or too many tries, mark the message failed with the reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import urllib3
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jingwu.antifraud.warning_models import SmsOutbox, SmsState
from jingwu.core import audit
from jingwu.core.models import User

_POOL: Final = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)
LEASE: Final = timedelta(minutes=2)  # a sender that died mid-run frees its messages after this
FIRST_RETRY: Final = timedelta(seconds=30)
MAX_ATTEMPTS: Final = 6
TIMEOUT_SECONDS: Final = 5.0


@dataclass
class SmsRun:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def _post(url: str, message: SmsOutbox) -> tuple[int | None, str, str]:
    """(HTTP status or None, the gateway's message id, an error line)."""
    body = json.dumps({"id": f"jingwu-sms-{message.pk}", "phone": message.phone, "text": message.text},
                      ensure_ascii=False).encode()
    try:
        response = _POOL.request("POST", url, body=body, headers={"Content-Type": "application/json"},
                                 timeout=TIMEOUT_SECONDS)
    except urllib3.exceptions.HTTPError as exc:
        return None, "", f"no answer: {type(exc).__name__}"
    try:
        answer = json.loads(response.data or b"{}")
    except ValueError:
        answer = {}
    gateway_id = str(answer.get("id") or "")[:64] if isinstance(answer, dict) else ""
    error = "" if 200 <= response.status < 300 else f"HTTP {response.status}"
    return response.status, gateway_id, error


def sms_outbox_send(*, actor: User | None = None, now: datetime | None = None, limit: int = 200) -> SmsRun:
    run = SmsRun()
    url = settings.JINGWU_SMS_GATEWAY_URL
    if not url:
        return run
    now = now or timezone.now()
    with transaction.atomic():
        due = list(SmsOutbox.objects.select_for_update(skip_locked=True)
                   .filter(state=SmsState.QUEUED).exclude(next_try_at__gt=now).order_by("created_at", "id")[:limit])
        SmsOutbox.objects.filter(pk__in=[m.pk for m in due]).update(next_try_at=now + LEASE)
    for message in due:
        status, gateway_id, error = _post(url, message)
        attempts = message.attempts + 1
        if error == "":
            changes = {"state": SmsState.SENT, "sent_at": timezone.now(), "gateway_id": gateway_id,
                       "last_error": "", "next_try_at": None}
            run.sent += 1
        elif (status is None or status >= 500 or status == 429) and attempts < MAX_ATTEMPTS:
            changes = {"next_try_at": now + FIRST_RETRY * 2 ** (attempts - 1), "last_error": error}
            run.retrying += 1
        else:
            changes = {"state": SmsState.FAILED, "last_error": error, "next_try_at": None}
            run.failed += 1
        SmsOutbox.objects.filter(pk=message.pk).update(attempts=attempts, **changes)
    if due:
        audit.record(actor=actor, action="antifraud.sms_send", object_type="sms_outbox",
                     details={"sent": run.sent, "retrying": run.retrying, "failed": run.failed})
    return run
