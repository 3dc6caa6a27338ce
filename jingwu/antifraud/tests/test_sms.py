"""The early-warning SMS outbox and its sender, against a fake SMS gateway served over real
HTTP: sent once with an idempotency key, retried later on 5xx, failed on 4xx, kept queued
while no gateway is configured."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jingwu.antifraud import sms
from jingwu.antifraud.tests.conftest import Desk
from jingwu.antifraud.warning_models import FraudWarning, SmsOutbox
from jingwu.core.models import AuditEntry

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 5, 13, 6, 0, tzinfo=dt.UTC)


class Gateway:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []  # status codes to give first, then 200

    def handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.received.append(body)
                status = gateway.answers.pop(0) if gateway.answers else 200
                data = json.dumps({"id": f"gw-{len(gateway.received)}"} if status == 200 else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def gateway(settings: Any) -> Iterator[Gateway]:
    fake = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.JINGWU_SMS_GATEWAY_URL = f"http://127.0.0.1:{server.server_address[1]}/sms"
    yield fake
    server.shutdown()
    server.server_close()


def queued(desk: Desk, phone: str = "+8613812345678") -> SmsOutbox:
    warning = FraudWarning.objects.create(citizen_key=f"phone:{phone}", citizen_phone=phone,
                                          unit=desk.tree.station_a1a, level="low", score=25, rule_version=1,
                                          opened_at=NOW, last_signal_at=NOW)
    return SmsOutbox.objects.create(warning=warning, phone=phone, text="【反诈预警】请勿转账。", created_at=NOW)


def test_a_queued_sms_is_sent_once_with_its_idempotency_key(desk: Desk, gateway: Gateway) -> None:
    message = queued(desk)
    assert sms.sms_outbox_send(now=NOW) == sms.SmsRun(sent=1)
    message.refresh_from_db()
    assert (message.state, message.gateway_id, message.attempts) == ("sent", "gw-1", 1)
    assert gateway.received == [{"id": f"jingwu-sms-{message.pk}", "phone": "+8613812345678",
                                 "text": "【反诈预警】请勿转账。"}]
    assert sms.sms_outbox_send(now=NOW + dt.timedelta(minutes=1)) == sms.SmsRun()
    assert len(gateway.received) == 1
    assert AuditEntry.objects.filter(action="antifraud.sms_send").count() == 1


def test_a_5xx_is_tried_again_later_and_a_4xx_fails(desk: Desk, gateway: Gateway) -> None:
    first, second = queued(desk), queued(desk, "+8613900001111")
    gateway.answers = [503, 400]
    assert sms.sms_outbox_send(now=NOW) == sms.SmsRun(retrying=1, failed=1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.attempts, first.next_try_at, first.last_error) == (
        "queued", 1, NOW + dt.timedelta(seconds=30), "HTTP 503")
    assert (second.state, second.last_error) == ("failed", "HTTP 400")
    assert sms.sms_outbox_send(now=NOW + dt.timedelta(seconds=29)) == sms.SmsRun()  # not due yet
    assert sms.sms_outbox_send(now=NOW + dt.timedelta(seconds=30)) == sms.SmsRun(sent=1)
    first.refresh_from_db()
    assert (first.state, first.attempts, len(gateway.received)) == ("sent", 2, 3)


def test_the_last_allowed_try_fails_for_good(desk: Desk, gateway: Gateway) -> None:
    message = queued(desk)
    message.attempts = sms.MAX_ATTEMPTS - 1
    message.save()
    gateway.answers = [500]
    assert sms.sms_outbox_send(now=NOW) == sms.SmsRun(failed=1)
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("failed", sms.MAX_ATTEMPTS)


def test_without_a_gateway_the_outbox_keeps_its_messages(desk: Desk, settings: Any) -> None:
    settings.JINGWU_SMS_GATEWAY_URL = ""
    message = queued(desk)
    assert sms.sms_outbox_send(now=NOW) == sms.SmsRun()
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("queued", 0)
