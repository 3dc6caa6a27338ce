"""The bank simulator on its own, over HTTP: what the adapter can count on."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from django.test import override_settings

from jingwu.antifraud import bank_client
from jingwu.antifraud.tests.conftest import ACCOUNT_A, ACCOUNT_B
from jingwu.antifraud.tests.simulator import BankSim

STOP = {"account": ACCOUNT_A, "amount_fen": 100_000, "case_ref": "FZ1"}


@pytest.fixture
def sim(bank_sim_server: BankSim, settings: Any) -> BankSim:
    settings.JINGWU_BANK_SIM_URL = bank_sim_server.url
    settings.JINGWU_BANK_URLS = {}
    bank_sim_server.reset(latency_ms=0, processing_ms=0, unknown_accounts="reject")
    return bank_sim_server


def test_an_idempotency_key_makes_one_stop(sim: BankSim) -> None:
    sim.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 70_000,
                  "onward": [{"bank": "CCB", "account": ACCOUNT_B, "amount_fen": 50_000}]})
    first = bank_client.submit("ICBC", STOP, key="k1", timeout=2)
    again = bank_client.submit("ICBC", STOP, key="k1", timeout=2)
    assert (first.status, again.status) == (202, 200)
    assert first.body["reference"] == again.body["reference"]
    assert (first.body["status"], first.body["stopped_fen"]) == ("stopped", 70_000)
    assert [(o["bank"], o["account"], o["amount_fen"]) for o in first.body["onward"]] == [("CCB", ACCOUNT_B, 30_000)]
    assert again.body["replayed"] is True
    conflict = bank_client.submit("ICBC", {**STOP, "amount_fen": 5}, key="k1", timeout=2)
    assert (conflict.status, conflict.body["error"], conflict.retryable) == (409, "idempotency_conflict", False)
    assert sim.stats()["stops"] == 1


def test_processing_takes_its_time(sim: BankSim) -> None:
    sim.configure(processing_ms=400)
    sim.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000})
    reference = bank_client.submit("ICBC", STOP, key="k2", timeout=2).body["reference"]
    seen = []
    for _ in range(12):
        seen.append(bank_client.query("ICBC", reference, timeout=2).body["status"])
        time.sleep(0.06)
    assert seen[0] == "received"
    assert "processing" in seen and seen[-1] == "stopped"
    assert seen == sorted(seen, key=["received", "processing", "stopped"].index)


def test_renew_once_then_release(sim: BankSim) -> None:
    sim.accounts({"bank": "ICBC", "account": ACCOUNT_A, "balance_fen": 100_000})
    stop = bank_client.submit("ICBC", STOP, key="k3", timeout=2).body
    renewed = bank_client.act("ICBC", stop["reference"], "renew", {}, key="r1", timeout=2)
    assert (renewed.status, renewed.body["renewed"]) == (200, True)
    assert renewed.body["expires_at"] > stop["expires_at"]
    replay = bank_client.act("ICBC", stop["reference"], "renew", {}, key="r1", timeout=2)
    assert replay.body == renewed.body  # the same key: the same answer, not a second renewal
    twice = bank_client.act("ICBC", stop["reference"], "renew", {}, key="r2", timeout=2)
    assert (twice.status, twice.body["error"]) == (409, "already_renewed")
    released = bank_client.act("ICBC", stop["reference"], "release", {}, key="x1", timeout=2)
    assert released.body["status"] == "released"
    assert sim.stats()["balances"][f"ICBC:{ACCOUNT_A}"] == 100_000


def test_outages_and_unknown_accounts(sim: BankSim) -> None:
    sim.outage(mode="503", requests=1, bank="ICBC")
    down = bank_client.submit("ICBC", STOP, key="k4", timeout=2)
    assert (down.status, down.retryable) == (503, True)
    unknown = bank_client.submit("ICBC", STOP, key="k4", timeout=2)
    assert (unknown.status, unknown.body["error"], unknown.retryable) == (404, "account_not_found", False)
    no_bank = bank_client.call("NOBANK", "GET", "/v1/stops/x", timeout=2)
    assert no_bank.status == 404


def test_generated_accounts_repeat_for_the_same_seed(sim: BankSim) -> None:
    sim.reset(latency_ms=0, processing_ms=0, seed=11)
    first = [bank_client.submit("CMB", {**STOP, "account": f"62258801377068{i:02d}"}, key=f"g{i}", timeout=2).body
             for i in range(8)]
    sim.reset(latency_ms=0, processing_ms=0, seed=11)
    again = [bank_client.submit("CMB", {**STOP, "account": f"62258801377068{i:02d}"}, key=f"g{i}", timeout=2).body
             for i in range(8)]
    shape = [(b["status"], b["stopped_fen"], [(o["bank"], o["account"], o["amount_fen"]) for o in b["onward"]])
             for b in first]
    assert shape == [(b["status"], b["stopped_fen"], [(o["bank"], o["account"], o["amount_fen"]) for o in b["onward"]])
                     for b in again]
    for status, stopped, onward in shape:  # every fen is either still there or traced onward
        assert stopped + sum(amount for _b, _a, amount in onward) == 100_000
        assert status == ("stopped" if stopped else "moved_onward")


def test_a_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with override_settings(JINGWU_BANK_URLS={"ICBC": f"http://127.0.0.1:{port}"}):
        refused = bank_client.submit("ICBC", STOP, key="k", timeout=1)
    assert (refused.status, refused.error, refused.retryable) == (None, "connection refused", True)
