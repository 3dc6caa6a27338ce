"""Fixtures of the anti-fraud tests: an organisation tree with people in every role that
matters here, and the bank simulator (a real HTTP service in a subprocess)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from jingwu.antifraud import sender
from jingwu.antifraud.services import ReportInput, TransferInput
from jingwu.antifraud.tests.simulator import BankSim, running_simulator
from jingwu.core import services as core_services
from jingwu.core.models import Unit, UnitKind, User
from jingwu.core.tests.factories import Tree, make_tree, make_user

ACCOUNT_A = "6222021234567890128"  # Luhn-valid card numbers
ACCOUNT_B = "6217000010002000308"
ACCOUNT_C = "6225880137706884"
ACCOUNT_D = "6212261202011001113"
VICTIM_ID = "370102198501011233"
NOW = dt.datetime(2026, 5, 13, 2, 0, tzinfo=dt.UTC)


@dataclass
class Desk:
    tree: Tree
    centre: Unit  # the city's anti-fraud centre (a department of city A)
    analyst: User  # fraud_analyst at the centre: may order stop-payments over city A
    officer: User  # officer at station A1a: takes reports, may not order stop-payments
    auxiliary: User  # auxiliary officer at station A1a
    other_officer: User  # officer at station A1b
    investigator: User  # investigator at county A1: reads ID numbers in full


@pytest.fixture
def desk(db: None) -> Desk:
    tree = make_tree()
    centre = core_services.unit_create(actor=None, code="370100D-FZ", name="济南市公安局反诈中心",
                                       kind=UnitKind.DEPARTMENT, parent=tree.city_a, department="anti_fraud")
    return Desk(
        tree=tree, centre=centre,
        analyst=make_user("fz_analyst", [("fraud_analyst", centre)]),
        officer=make_user("mj_officer", [("officer", tree.station_a1a)]),
        auxiliary=make_user("fj_auxiliary", [("auxiliary", tree.station_a1a)]),
        other_officer=make_user("mj_other", [("officer", tree.station_a1b)]),
        investigator=make_user("zc_investigator", [("investigator", tree.county_a1)]),
    )


def report_input(*transfers: TransferInput, **overrides: Any) -> ReportInput:
    fields: dict[str, Any] = {
        "victim_name": "王秀英", "victim_id_number": VICTIM_ID, "victim_phone": "138 1234 5678",
        "fraud_type": "order_rebate", "narrative": "刷单返利：先返小额佣金，后要求大额垫付。",
        "phones": ["+86 171-0000-1234"], "urls": ["Shua-Dan.example.com/task"], "apps": ["ＦａｓｔＴａｓｋ"],
        "transfers": list(transfers) or [transfer(ACCOUNT_A, "ICBC", 100_000)],
    }
    fields.update(overrides)
    return ReportInput(**fields)


def transfer(account: str, bank: str, amount_fen: int, **extra: Any) -> TransferInput:
    return TransferInput(payee_account=account, payee_bank=bank, amount_fen=amount_fen,
                         transferred_at=extra.pop("transferred_at", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)),
                         **extra)


@pytest.fixture(scope="session")
def bank_sim_server() -> Iterator[BankSim]:
    with running_simulator("--seed", "7") as sim:
        yield sim


@pytest.fixture
def bank(bank_sim_server: BankSim, settings: Any) -> Iterator[BankSim]:
    """The simulator, emptied, answering at once and rejecting accounts not loaded; the sender
    pointed at it with short waits."""
    settings.JINGWU_BANK_SIM_URL = bank_sim_server.url
    settings.JINGWU_BANK_URLS = {}
    settings.JINGWU_BANK_TIMEOUT = 2.0
    settings.JINGWU_STOP_BACKOFF = 0.05
    settings.JINGWU_STOP_MAX_ATTEMPTS = 4
    bank_sim_server.reset(latency_ms=0, processing_ms=0, unknown_accounts="reject")
    yield bank_sim_server
    assert sender.wait_idle(60), "the stop-payment sender did not finish"


@pytest.fixture(autouse=True)
def _sender_idle() -> Iterator[None]:
    # No sender thread may outlive its test and write into the next one's database.
    yield
    assert sender.wait_idle(60), "the stop-payment sender did not finish"
