"""Stop-payment requests against the bank simulator (a real HTTP service in a subprocess):
delivery on commit, waiting for the bank's answer, retries through outages without a
duplicate request at the bank, permanent refusals, and chasing the money hop by hop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jingwu.antifraud import linking, sender, services, workflow
from jingwu.antifraud.models import (
    AttemptOutcome,
    FraudReport,
    IdentifierSource,
    ReportIdentifier,
    StopPaymentAttempt,
    StopPaymentRequest,
    StopState,
)
from jingwu.antifraud.tests.conftest import (
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    ACCOUNT_D,
    Desk,
    report_input,
    transfer,
)
from jingwu.antifraud.tests.simulator import BankSim
from jingwu.antifraud.warning_models import LinkNode
from jingwu.core.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)
S = StopState


def submit(desk: Desk, *transfers: Any, **overrides: Any) -> FraudReport:
    report = services.fraud_report_submit(actor=desk.analyst, unit=desk.tree.station_a1a,
                                          data=report_input(*transfers, **overrides)).report
    assert sender.wait_idle(60)
    return report


def stops(report: FraudReport) -> dict[str, StopPaymentRequest]:
    return {s.account: s for s in StopPaymentRequest.objects.filter(report=report)}


def tries(stop: StopPaymentRequest, operation: str = "submit") -> list[tuple[str, int | None]]:
    return [(a.outcome, a.http_status)
            for a in StopPaymentAttempt.objects.filter(request=stop, operation=operation).order_by("started_at", "id")]


def test_every_payee_bank_gets_a_request_as_the_report_commits(desk: Desk, bank: BankSim) -> None:
    bank.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000},
                  {"bank": "CCB", "account": ACCOUNT_B, "balance_fen": 30_000})
    report = submit(desk, transfer(ACCOUNT_A, "ICBC", 60_000), transfer(ACCOUNT_B, "CCB", 50_000),
                    transfer(ACCOUNT_A, "ICBC", 40_000))

    found = stops(report)
    assert set(found) == {ACCOUNT_A, ACCOUNT_B}  # one request per payee account, for all paid into it
    a, b = found[ACCOUNT_A], found[ACCOUNT_B]
    assert (a.state, a.amount_fen, a.amount_stopped_fen, a.hop) == (S.STOPPED, 100_000, 100_000, 0)
    assert (b.state, b.amount_fen, b.amount_stopped_fen) == (S.STOPPED, 50_000, 30_000)  # partly still there
    assert a.bank_reference.startswith("ICBC-") and b.bank_reference.startswith("CCB-")
    assert a.ordered_by == desk.analyst
    assert tries(a) == [(AttemptOutcome.OK, 202)]
    report.refresh_from_db()
    assert report.first_stop_sent_at is not None
    assert report.first_stop_sent_at == min(a.sent_at, b.sent_at)  # type: ignore[type-var]
    assert a.expires_at is not None and a.answered_at is not None
    assert abs(a.expires_at - (a.answered_at + timedelta(hours=48))).total_seconds() < 5
    stats = bank.stats()
    assert (stats["stops"], stats["submits"]) == (2, 2)
    assert stats["balances"] == {f"ICBC:{ACCOUNT_A}": 0, f"CCB:{ACCOUNT_B}": 0}
    # One audit entry per request: delivered and, the bank answering at once, stopped.
    entries = {e.object_id: (e.actor_id, e.action, e.details["event"], e.details["answer"], e.details["stopped_fen"])
               for e in AuditEntry.objects.filter(object_type="stop_payment_request")}
    assert entries == {str(a.pk): (None, "fraud.stop_payment.deliver", "deliver", "stopped", 100_000),
                       str(b.pk): (None, "fraud.stop_payment.deliver", "deliver", "stopped", 30_000)}


def test_the_sender_polls_until_the_bank_answers(desk: Desk, bank: BankSim) -> None:
    # The bank says "received" for 0.5 s, "processing" for 0.5 s more, then answers; the
    # sender polls 0.1, 0.2, 0.4, 0.8 … s apart.
    bank.configure(processing_ms=1000)
    bank.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000})
    report = submit(desk)

    stop = stops(report)[ACCOUNT_A]
    assert stop.state == S.STOPPED
    assert stop.sent_at < stop.acknowledged_at < stop.answered_at  # type: ignore[operator]
    assert (stop.answered_at - stop.sent_at).total_seconds() >= 1.0  # type: ignore[operator]
    queries = tries(stop, "query")
    assert len(queries) >= 3  # received, processing, the answer
    assert set(queries) == {(AttemptOutcome.OK, 200)}


def test_503_answers_are_retried_with_backoff_and_shown(desk: Desk, bank: BankSim, settings: Any) -> None:
    settings.JINGWU_STOP_BACKOFF = 0.2
    bank.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000})
    bank.outage(mode="503", requests=2)
    report = services.fraud_report_submit(actor=desk.analyst, unit=desk.tree.station_a1a,
                                          data=report_input()).report

    # While the sender waits out its backoff, the request shows why.
    retrying = StopPaymentRequest.objects.get(report=report)
    deadline = timezone.now() + timedelta(seconds=10)
    while retrying.attempts == 0 and timezone.now() < deadline:
        retrying.refresh_from_db()
    assert retrying.state == S.QUEUED
    assert retrying.last_error == "HTTP 503 unavailable the bank's system is down"
    assert retrying.next_attempt_at is not None

    assert sender.wait_idle(60)
    stop = stops(report)[ACCOUNT_A]
    assert stop.state == S.STOPPED
    assert stop.attempts == 3
    assert tries(stop) == [(AttemptOutcome.RETRY, 503), (AttemptOutcome.RETRY, 503), (AttemptOutcome.OK, 202)]
    started = [a.started_at for a in StopPaymentAttempt.objects.filter(request=stop).order_by("started_at")]
    assert (started[1] - started[0]).total_seconds() >= 0.2  # backoff, doubling
    assert (started[2] - started[1]).total_seconds() >= 0.4
    assert stop.last_error == ""
    stats = bank.stats()
    assert (stats["outage_503"], stats["stops"]) == (2, 1)


def test_a_reply_lost_to_a_timeout_does_not_make_a_second_stop_at_the_bank(desk: Desk, bank: BankSim,
                                                                            settings: Any) -> None:
    settings.JINGWU_BANK_TIMEOUT = 0.5
    bank.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000})
    bank.outage(mode="timeout", requests=1, stall_seconds=1.5)  # the bank does the work, the reply comes late
    report = submit(desk)

    stop = stops(report)[ACCOUNT_A]
    assert stop.state == S.STOPPED
    assert tries(stop) == [(AttemptOutcome.RETRY, None), (AttemptOutcome.OK, 200)]
    first = StopPaymentAttempt.objects.filter(request=stop).order_by("started_at").first()
    assert first is not None and first.error == "timeout after 0.5 s"
    stats = bank.stats()
    assert (stats["submits"], stats["stops"], stats["replays"]) == (2, 1, 1)  # the retry was the same request
    assert stats["per_account"] == {f"ICBC:{ACCOUNT_A}": 1}
    assert stats["balances"][f"ICBC:{ACCOUNT_A}"] == 0  # stopped once, not twice


def test_an_account_the_bank_does_not_hold_fails_at_once(desk: Desk, bank: BankSim) -> None:
    report = submit(desk)  # nothing loaded: the simulator rejects unknown accounts

    stop = stops(report)[ACCOUNT_A]
    assert stop.state == S.FAILED
    assert tries(stop) == [(AttemptOutcome.FAILED, 404)]
    assert stop.last_error == f"HTTP 404 account_not_found no open account {ACCOUNT_A} at ICBC"
    report.refresh_from_db()
    assert report.first_stop_sent_at is None


def test_after_the_last_try_a_request_fails_and_can_be_sent_again(desk: Desk, bank: BankSim, settings: Any) -> None:
    settings.JINGWU_STOP_MAX_ATTEMPTS = 3
    bank.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000})
    bank.outage(mode="503", requests=100)
    report = submit(desk)

    stop = stops(report)[ACCOUNT_A]
    assert stop.state == S.FAILED
    assert stop.last_error == "连续 3 次未能送达：HTTP 503 unavailable the bank's system is down"
    assert [o for o, _status in tries(stop)] == [AttemptOutcome.RETRY, AttemptOutcome.RETRY, AttemptOutcome.FAILED]

    bank.outage(mode="none")
    services.stop_payment_resend(actor=desk.analyst, stop=stop)
    assert sender.wait_idle(60)
    stop.refresh_from_db()
    assert (stop.state, stop.attempts, stop.amount_stopped_fen) == (S.STOPPED, 4, 100_000)
    assert bank.stats()["stops"] == 1


def test_money_that_moved_on_is_chased_hop_by_hop(desk: Desk, bank: BankSim) -> None:
    # A kept nothing: 60,000 went to B, 40,000 to C. B kept 20,000 and sent 40,000 to D.
    bank.accounts(
        {"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 0,
         "onward": [{"bank": "CCB", "account": ACCOUNT_B, "amount_fen": 60_000},
                    {"bank": "ALIPAY", "account": "13900001111", "amount_fen": 40_000}]},
        {"bank": "CCB", "account": ACCOUNT_B, "balance_fen": 20_000,
         "onward": [{"bank": "CMB", "account": ACCOUNT_D, "amount_fen": 40_000}]},
        {"bank": "ALIPAY", "account": "13900001111", "balance_fen": 40_000},
        {"bank": "CMB", "account": ACCOUNT_D, "balance_fen": 90_000},
    )
    report = submit(desk)

    found = stops(report)
    alipay = "13900001111"  # a payment account known by its mobile number
    assert set(found) == {ACCOUNT_A, ACCOUNT_B, alipay, ACCOUNT_D}
    a, b, c, d = found[ACCOUNT_A], found[ACCOUNT_B], found[alipay], found[ACCOUNT_D]
    assert (a.state, a.hop, a.amount_stopped_fen, a.parent_id) == (S.MOVED_ONWARD, 0, 0, None)
    assert (b.state, b.hop, b.amount_fen, b.amount_stopped_fen, b.parent_id) == (S.STOPPED, 1, 60_000, 20_000, a.pk)
    assert (c.state, c.hop, c.amount_fen, c.amount_stopped_fen, c.parent_id) == (S.STOPPED, 1, 40_000, 40_000, a.pk)
    assert (d.state, d.hop, d.amount_fen, d.amount_stopped_fen, d.parent_id) == (S.STOPPED, 2, 40_000, 40_000, b.pk)
    assert sum(s.amount_stopped_fen for s in found.values()) == 100_000  # every fen found
    assert {s.transfer_id for s in found.values()} == {a.transfer_id}
    onward = set(ReportIdentifier.objects.filter(report=report, source=IdentifierSource.ONWARD)
                 .values_list("kind", "value"))
    assert onward == {("account", ACCOUNT_B), ("account", alipay), ("account", ACCOUNT_D)}
    assert bank.stats()["stops"] == 4


def test_reports_whose_money_met_in_an_onward_account_link_into_one_network(desk: Desk, bank: BankSim) -> None:
    # Two victims paid different mules (A, C); both mules passed the money on to collector B,
    # which only the banks' answers name. A third victim paid D, which kept it.
    bank.accounts(
        {"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 0,
         "onward": [{"bank": "CCB", "account": ACCOUNT_B, "amount_fen": 100_000}]},
        {"bank": "CMB", "account": ACCOUNT_C, "balance_fen": 0,
         "onward": [{"bank": "CCB", "account": ACCOUNT_B, "amount_fen": 50_000}]},
        {"bank": "CCB", "account": ACCOUNT_B, "balance_fen": 150_000},
        {"bank": "CMB", "account": ACCOUNT_D, "balance_fen": 70_000},
    )
    alone: dict[str, list[str]] = {"phones": [], "urls": [], "apps": []}  # nothing else in common
    first = submit(desk, transfer(ACCOUNT_A, "ICBC", 100_000), **alone)
    second = submit(desk, transfer(ACCOUNT_C, "CMB", 50_000), **alone)
    third = submit(desk, transfer(ACCOUNT_D, "CMB", 70_000), **alone)

    assert {s.account: s.state for s in StopPaymentRequest.objects.filter(report__in=[first, second])} == {
        ACCOUNT_A: S.MOVED_ONWARD, ACCOUNT_C: S.MOVED_ONWARD, ACCOUNT_B: S.STOPPED}
    root = linking.network_root(first)
    assert root is not None and linking.network_root(second) == root
    assert linking.network_root(third) not in (None, root)
    assert LinkNode.objects.get(key=f"account:{ACCOUNT_B}").root_id == root
    # The network: two reports, their mules and the collector the banks named.
    assert sorted(m.key for m in linking.network_members(root)) == sorted([
        f"report:{first.pk}", f"report:{second.pk}", f"account:{ACCOUNT_A}", f"account:{ACCOUNT_C}",
        f"account:{ACCOUNT_B}"])
    assert [n["reports"] for n in linking.networks()] == [2]


def test_chasing_stops_at_the_hop_limit_with_a_note(desk: Desk, bank: BankSim, monkeypatch: Any) -> None:
    monkeypatch.setattr(workflow, "MAX_HOPS", 1)
    bank.accounts(
        {"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 0,
         "onward": [{"bank": "CCB", "account": ACCOUNT_B, "amount_fen": 100_000}]},
        {"bank": "CCB", "account": ACCOUNT_B, "balance_fen": 0,
         "onward": [{"bank": "CMB", "account": ACCOUNT_C, "amount_fen": 100_000}]},
    )
    report = submit(desk)

    found = stops(report)
    assert set(found) == {ACCOUNT_A, ACCOUNT_B}
    assert found[ACCOUNT_B].state == S.MOVED_ONWARD
    assert found[ACCOUNT_B].note == "已追到第 1 跳，后续资金流向请转侦查。"
    assert ReportIdentifier.objects.filter(report=report, kind="account", value=ACCOUNT_C,
                                           source=IdentifierSource.ONWARD).exists()


def test_a_request_scheduled_many_times_at_once_is_sent_once(desk: Desk, bank: BankSim) -> None:
    bank.configure(latency_ms=50)
    bank.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000})
    report = services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a,
                                          data=report_input()).report  # waits for approval: not sent yet
    stop = StopPaymentRequest.objects.get(report=report)
    StopPaymentRequest.objects.filter(pk=stop.pk).update(state=S.QUEUED)

    sender.schedule([stop.pk] * 6)
    assert sender.wait_idle(60)

    stop.refresh_from_db()
    assert stop.state == S.STOPPED
    assert tries(stop) == [(AttemptOutcome.OK, 202)]
    assert (bank.stats()["submits"], bank.stats()["stops"]) == (1, 1)


def test_the_sweep_takes_up_requests_whose_sender_died(desk: Desk, bank: BankSim) -> None:
    bank.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000},
                  {"bank": "CCB", "account": ACCOUNT_B, "balance_fen": 100_000})
    report = services.fraud_report_submit(
        actor=desk.officer, unit=desk.tree.station_a1a,
        data=report_input(transfer(ACCOUNT_A, "ICBC", 1_000), transfer(ACCOUNT_B, "CCB", 2_000))).report
    found = stops(report)
    now = timezone.now()
    # A sender took A and died (its lease lapsed); B is held by a live one.
    StopPaymentRequest.objects.filter(pk=found[ACCOUNT_A].pk).update(state=S.QUEUED,
                                                                     lease_until=now - timedelta(seconds=1))
    StopPaymentRequest.objects.filter(pk=found[ACCOUNT_B].pk).update(state=S.QUEUED,
                                                                     lease_until=now + timedelta(minutes=1))

    sweep = services.stop_payment_sweep(now=now)
    assert sender.wait_idle(60)

    assert (sweep.expired, sweep.reminded, sweep.resumed) == (0, 0, 1)
    found = stops(report)
    assert (found[ACCOUNT_A].state, found[ACCOUNT_B].state) == (S.STOPPED, S.QUEUED)
