"""The life of a stop after the bank answers, with the clock held where the test says
(services take an explicit `now`): 48 hours, one renewal, expiry, the desk's reminder,
freezing and returning — and who may decide each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from huey.contrib.djhuey import HUEY

from jingwu.antifraud import sender, services, tasks
from jingwu.antifraud.models import StopPaymentAttempt, StopPaymentRequest, StopState
from jingwu.antifraud.tests.conftest import ACCOUNT_A, Desk, report_input
from jingwu.antifraud.tests.simulator import BankSim
from jingwu.core.models import AuditEntry, WorkItem
from jingwu.core.services import ServiceError

pytestmark = pytest.mark.django_db(transaction=True)
S = StopState


@pytest.fixture
def stopped(desk: Desk, bank: BankSim) -> StopPaymentRequest:
    bank.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000})
    report = services.fraud_report_submit(actor=desk.analyst, unit=desk.tree.station_a1a, data=report_input()).report
    assert sender.wait_idle(60)
    stop = StopPaymentRequest.objects.select_related("report__unit").get(report=report)
    assert stop.state == S.STOPPED and stop.expires_at is not None
    return stop


def expiry(stop: StopPaymentRequest) -> datetime:
    assert stop.expires_at is not None
    return stop.expires_at


def test_a_stop_lasts_48_hours_and_renews_once(desk: Desk, bank: BankSim, stopped: StopPaymentRequest) -> None:
    first_expiry = expiry(stopped)
    assert abs((first_expiry - stopped.answered_at).total_seconds() - 48 * 3600) < 5  # type: ignore[operator]

    renewed = services.stop_payment_renew(actor=desk.analyst, stop=stopped, now=first_expiry - timedelta(hours=1))
    assert (renewed.state, renewed.renewals) == (S.STOPPED, 1)
    assert expiry(renewed) == first_expiry + timedelta(hours=48)  # the bank's new expiry: 48 h from the old one
    assert renewed.renewed_at == first_expiry - timedelta(hours=1)

    with pytest.raises(ServiceError) as refused:
        services.stop_payment_renew(actor=desk.analyst, stop=renewed, now=expiry(renewed) - timedelta(hours=1))
    assert str(refused.value) == "止付只能续止一次，本请求已续止过。"
    assert refused.value.field == "renewals"
    assert bank.stats()["renew"] == 1  # the second renewal never reached the bank
    renewed.refresh_from_db()
    assert (renewed.renewals, expiry(renewed)) == (1, first_expiry + timedelta(hours=48))
    events = [e.details["event"] for e in AuditEntry.objects.filter(object_type="stop_payment_request",
                                                                    actor=desk.analyst)]
    assert events == ["renew"]


def test_expiry_releases_the_stop_at_its_hour(desk: Desk, stopped: StopPaymentRequest) -> None:
    at = expiry(stopped)
    assert services.stop_payment_expire_due(now=at - timedelta(seconds=1)) == 0
    stopped.refresh_from_db()
    assert stopped.state == S.STOPPED

    assert services.stop_payment_expire_due(now=at) == 1
    stopped.refresh_from_db()
    assert (stopped.state, stopped.release_reason, stopped.released_at) == (S.RELEASED, "expired", at)
    entry = AuditEntry.objects.get(action="fraud.stop_payment.expire")
    assert (entry.actor_id, entry.object_id, entry.unit_code) == (None, str(stopped.pk), "370102S01")
    assert services.stop_payment_expire_due(now=at + timedelta(hours=1)) == 0  # once


def test_a_renewed_stop_expires_96_hours_after_the_answer(desk: Desk, stopped: StopPaymentRequest) -> None:
    first = expiry(stopped)
    services.stop_payment_renew(actor=desk.analyst, stop=stopped, now=first - timedelta(minutes=5))
    assert services.stop_payment_expire_due(now=first + timedelta(hours=1)) == 0
    assert services.stop_payment_expire_due(now=first + timedelta(hours=48)) == 1
    stopped.refresh_from_db()
    assert (stopped.state, stopped.released_at) == (S.RELEASED, first + timedelta(hours=48))


def test_an_expired_stop_cannot_be_renewed(desk: Desk, bank: BankSim, stopped: StopPaymentRequest) -> None:
    with pytest.raises(ServiceError) as refused:
        services.stop_payment_renew(actor=desk.analyst, stop=stopped, now=expiry(stopped) + timedelta(minutes=1))
    assert str(refused.value).startswith("止付已于 ")
    assert str(refused.value).endswith(" 到期，不能再操作。")
    assert bank.stats().get("renew", 0) == 0


def test_the_desk_is_reminded_once_before_expiry(desk: Desk, stopped: StopPaymentRequest) -> None:
    at = expiry(stopped)
    assert services.stop_payment_remind_renewals(now=at - timedelta(hours=13)) == 0
    services.stop_payment_remind_renewals(now=at - timedelta(hours=11))
    services.stop_payment_remind_renewals(now=at - timedelta(hours=10))
    item = WorkItem.objects.get(kind="antifraud.stop_renewal")
    assert item.assignee_unit == desk.centre  # the anti-fraud centre covering the station
    assert item.due_at == at
    assert item.url == f"/antifraud/reports/{stopped.report.number}/"
    assert item.title.startswith("止付将于 ")


def test_the_sweep_is_a_periodic_task_every_minute() -> None:
    for minute in (datetime(2026, 5, 13, 3, 17), datetime(2026, 5, 13, 3, 18)):
        assert tasks.stop_payment_sweep.task_class in {type(task) for task in HUEY.read_periodic(minute)}


def test_freeze_then_return(desk: Desk, bank: BankSim, stopped: StopPaymentRequest) -> None:
    with pytest.raises(ServiceError) as missing:
        services.stop_payment_freeze(actor=desk.analyst, stop=stopped, document_no=" ")
    assert missing.value.field == "document_no"

    frozen = services.stop_payment_freeze(actor=desk.analyst, stop=stopped, document_no="济公（反诈）冻字〔2026〕17号")
    assert (frozen.state, frozen.amount_frozen_fen, frozen.freeze_document) == (
        S.FROZEN, 100_000, "济公（反诈）冻字〔2026〕17号")
    assert services.stop_payment_expire_due(now=expiry(frozen) + timedelta(days=1)) == 0  # a freeze does not lapse

    with pytest.raises(ServiceError) as too_much:
        services.stop_payment_return(actor=desk.analyst, stop=frozen, amount_fen=100_001, document_no="返〔2026〕3号")
    assert (too_much.value.field, str(too_much.value)) == (
        "amount_fen", "amount_fen: 返还金额不能超过冻结金额 1000.00 元")

    returned = services.stop_payment_return(actor=desk.analyst, stop=frozen, amount_fen=80_000,
                                            document_no="返〔2026〕3号")
    assert (returned.state, returned.amount_returned_fen) == (S.RETURNED, 80_000)
    ops = list(StopPaymentAttempt.objects.filter(request=stopped).values_list("operation", "http_status"))
    assert ops == [("submit", 202), ("freeze", 200), ("return", 200)]


def test_release_by_hand(desk: Desk, bank: BankSim, stopped: StopPaymentRequest) -> None:
    released = services.stop_payment_release(actor=desk.analyst, stop=stopped)
    assert (released.state, released.release_reason) == (S.RELEASED, "released")
    assert bank.stats()["balances"][f"ICBC:{ACCOUNT_A}"] == 100_000  # the bank let the money go
    with pytest.raises(ServiceError) as again:
        services.stop_payment_release(actor=desk.analyst, stop=released)
    assert str(again.value) == "当前状态“已解除”下不能解除止付。"


@pytest.mark.parametrize("who", ["officer", "auxiliary", "other_officer"])
def test_only_a_sworn_holder_of_the_stop_payment_power_decides(desk: Desk, stopped: StopPaymentRequest,
                                                               who: str) -> None:
    actor = getattr(desk, who)
    with pytest.raises(PermissionDenied):
        services.stop_payment_renew(actor=actor, stop=stopped)
    with pytest.raises(PermissionDenied):
        services.stop_payment_release(actor=actor, stop=stopped)
    with pytest.raises(PermissionDenied):
        services.stop_payment_freeze(actor=actor, stop=stopped, document_no="冻〔2026〕1号")
    denied = AuditEntry.objects.filter(actor=actor, outcome="denied", object_type="stop_payment_request")
    assert denied.count() == 3
    assert set(denied.values_list("action", flat=True)) == {"fraud.stop_payment"}
    stopped.refresh_from_db()
    assert (stopped.state, stopped.renewals) == (S.STOPPED, 0)


def test_a_bank_that_refuses_a_decision_leaves_the_stop_as_it_was(desk: Desk, bank: BankSim,
                                                                  stopped: StopPaymentRequest, settings: Any) -> None:
    settings.JINGWU_BANK_TIMEOUT = 0.5
    bank.outage(mode="503", requests=3)
    with pytest.raises(ServiceError) as refused:
        services.stop_payment_renew(actor=desk.analyst, stop=stopped, now=expiry(stopped) - timedelta(hours=2))
    assert (refused.value.field, str(refused.value)) == (
        "bank", "中国工商银行 未能办理：HTTP 503 unavailable the bank's system is down")
    stopped.refresh_from_db()
    assert stopped.renewals == 0
    assert list(StopPaymentAttempt.objects.filter(request=stopped, operation="renew")
                .values_list("outcome", flat=True)) == ["retry", "retry", "failed"]
