"""A fixed fixture for the centre dashboard (used by the tests here and by e2e/): reports,
stop-payment results and warnings in two cities over three days, with their expected
figures worked out by hand in test_dashboard.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jingwu.antifraud.models import FraudReport, StopPaymentRequest, StopState
from jingwu.antifraud.warning_models import FraudWarning
from jingwu.core.models import Unit, UnitKind
from jingwu.core.tests.factories import Tree, make_unit

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
UNTIL = dt.date(2026, 5, 13)  # the period's last day (days=30: 2026-04-14 … 2026-05-13)


def local(day: int, hour: int, minute: int = 0, month: int = 5) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class FiguresWorld:
    tree: Tree
    station_b: Unit


def _report(number: str, unit: Unit, created: dt.datetime, loss_fen: int,
            first_stop_minutes: float | None) -> FraudReport:
    return FraudReport.objects.create(
        number=number, unit=unit, fraud_type="order_rebate", victim_name="受害人", loss_fen=loss_fen,
        reported_at=created - dt.timedelta(minutes=10), created_at=created,
        first_stop_sent_at=None if first_stop_minutes is None else created + dt.timedelta(minutes=first_stop_minutes))


def _stop(report: FraudReport, n: int, state: str, stopped: int, frozen: int = 0, returned: int = 0) -> None:
    StopPaymentRequest.objects.create(
        report=report, bank="ICBC", account=f"62220212345678{n:05d}", amount_fen=max(stopped, 1), state=state,
        idempotency_key=f"figures-{report.number}-{n}", created_at=report.created_at,
        amount_stopped_fen=stopped, amount_frozen_fen=frozen, amount_returned_fen=returned)


def _warning(key: str, unit: Unit, level: str, opened: dt.datetime, outcome: str = "") -> None:
    FraudWarning.objects.create(
        citizen_key=key, unit=unit, level=level, score=50, rule_version=1, signal_count=1, opened_at=opened,
        last_signal_at=opened, state="closed" if outcome else "open", outcome=outcome)


def build_figures(tree: Tree) -> FiguresWorld:
    """City A: four reports (one before midnight UTC but after it in Shanghai), one outside
    the period; city B: one report. Stops in every state that counts, and one that does not."""
    county_b = make_unit("370202", "市南区公安分局", UnitKind.COUNTY, tree.city_b, division_code="370202")
    station_b = make_unit("370202S01", "香港中路派出所", UnitKind.STATION, county_b)
    a1 = _report("FZT-A1", tree.station_a1a, local(11, 9), 100_000, 2)
    a2 = _report("FZT-A2", tree.station_a1a, local(11, 23, 30), 50_000, 4)
    _report("FZT-A3", tree.station_a1b, local(12, 0, 30), 20_000, 10)  # 2026-05-11 16:30 UTC
    _report("FZT-A4", tree.station_a1a, local(12, 8), 30_000, None)  # no request has reached a bank
    _report("FZT-OLD", tree.station_a1a, local(1, 9, month=4), 999_900, 1)  # before the period
    b1 = _report("FZT-B1", station_b, local(12, 10), 70_000, 1)
    _stop(a1, 1, StopState.STOPPED, 60_000)
    _stop(a1, 2, StopState.RETURNED, 20_000, 20_000, 15_000)
    _stop(a2, 3, StopState.FROZEN, 10_000, 10_000)
    _stop(a2, 4, StopState.RELEASED, 5_000)  # expired: no longer stopped
    _stop(b1, 5, StopState.STOPPED, 70_000)
    _warning("phone:+8613800000001", tree.station_a1a, "high", local(12, 9), "dissuaded")
    _warning("phone:+8613800000002", tree.station_a1a, "medium", local(12, 11), "false_alarm")
    _warning("phone:+8613800000003", tree.station_a1b, "low", local(13, 8))
    _warning("phone:+8613800000004", tree.station_a1a, "high", local(11, 7), "defrauded")
    _warning("phone:+8613800000005", station_b, "high", local(12, 9), "dissuaded")
    return FiguresWorld(tree, station_b)
