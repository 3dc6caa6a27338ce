"""The centre dashboard: figures of a fixed fixture, by day (Asia/Shanghai) and by city,
scoped to the analyst's jurisdiction, in a constant number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jingwu.antifraud import selectors, services
from jingwu.antifraud.bank_client import BankReply
from jingwu.antifraud.models import FraudReport, StopPaymentRequest
from jingwu.antifraud.tests.conftest import ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, Desk, report_input, transfer
from jingwu.antifraud.tests.figures import SHANGHAI, UNTIL, _report, build_figures
from jingwu.core.models import User
from jingwu.core.tests.factories import TEST_PASSWORD, make_user

pytestmark = pytest.mark.django_db
END = dt.datetime(2026, 5, 14, tzinfo=SHANGHAI)
START = END - dt.timedelta(days=30)


def row(r: selectors.FigureRow) -> tuple[object, ...]:
    return (r.reports, r.loss_fen, r.stopped_fen, r.frozen_fen, r.returned_fen, r.warnings, r.prevented,
            r.p50_minutes, r.p90_minutes)


def test_figures_of_the_fixture_by_day_and_city(desk: Desk) -> None:
    build_figures(desk.tree)
    figures = selectors.centre_figures(desk.analyst, start=START, end=END)  # city A only
    assert row(figures.total) == (4, 200_000, 90_000, 30_000, 15_000, 4, 1, 4.0, 10.0)
    days = {r.label: row(r) for r in figures.days}
    assert len(days) == 30 and days["2026-04-14"] == (0, 0, 0, 0, 0, 0, 0, None, None)
    assert days["2026-05-11"] == (2, 150_000, 90_000, 30_000, 15_000, 1, 0, 2.0, 4.0)
    assert days["2026-05-12"] == (2, 50_000, 0, 0, 0, 2, 1, 10.0, 10.0)
    assert days["2026-05-13"] == (0, 0, 0, 0, 0, 1, 0, None, None)
    assert [(c.label, row(c)) for c in figures.cities] == [("济南市公安局", row(figures.total))]
    assert [(w["level"], w["total"], w["outcomes"], w["open"]) for w in figures.warnings_by_level] == [
        ("high", 2, {"dissuaded": 1, "defrauded": 1, "false_alarm": 0}, 0),
        ("medium", 1, {"dissuaded": 0, "defrauded": 0, "false_alarm": 1}, 0),
        ("low", 1, {"dissuaded": 0, "defrauded": 0, "false_alarm": 0}, 1)]


def test_a_province_analyst_sees_both_cities(desk: Desk) -> None:
    build_figures(desk.tree)
    province = make_user("sheng_analyst", [("fraud_analyst", desk.tree.province)])
    figures = selectors.centre_figures(province, start=START, end=END)
    assert row(figures.total) == (5, 270_000, 160_000, 30_000, 15_000, 5, 2, 2.0, 10.0)
    assert [(c.label, c.reports, c.stopped_fen, c.prevented, c.p50_minutes) for c in figures.cities] == [
        ("济南市公安局", 4, 90_000, 1, 4.0), ("青岛市公安局", 1, 70_000, 1, 1.0)]


def login(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def test_the_page_shows_the_figures_in_constant_queries(desk: Desk) -> None:
    world = build_figures(desk.tree)
    client = login(desk.analyst)
    url = f"/antifraud/dashboard/?until={UNTIL.isoformat()}&days=30"
    with CaptureQueriesContext(connection) as first:
        page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    for figure, shown in (("reports", "4"), ("loss", "¥2,000.00"), ("stopped", "¥900.00"), ("frozen", "¥300.00"),
                          ("returned", "¥150.00"), ("warnings", "4"), ("prevented", "1"), ("minutes", "4.0 / 10.0")):
        assert f'data-figure="{figure}">{shown}</dd>' in html
    assert 'id="dashboard-data"' in html and "antifraud/dashboard.js" in html and "<script>" not in html
    assert "青岛市公安局" not in html
    for n in range(20):  # more rows, same statements
        _report(f"FZT-X{n}", desk.tree.station_a1b, dt.datetime(2026, 5, 2, 9, tzinfo=SHANGHAI), 100, n)
    with CaptureQueriesContext(connection) as second:
        assert client.get(url).status_code == 200
    assert len(second) == len(first)
    assert world.station_b.code == "370202S01"
    # Officers do not see the centre's figures; a bad period falls back to the default.
    assert login(desk.officer).get(url).status_code == 403
    assert client.get("/antifraud/dashboard/?days=0&until=nonsense").status_code == 200


def test_minutes_to_first_stop_count_from_the_systems_receipt_not_the_typed_report_time(desk: Desk) -> None:
    """Through the services with frozen clocks: the wait starts when the submission reached
    the system (created_at), not at `reported_at`, which the taker types and which may lie
    hours earlier (a report written down at the counter and entered later)."""
    t0 = dt.datetime(2026, 5, 12, 10, 0, tzinfo=SHANGHAI)

    def take(at: dt.datetime, reported_at: dt.datetime, account: str) -> FraudReport:
        with time_machine.travel(at, tick=False):
            data = report_input(transfer(account, "ICBC", 10_000, transferred_at=reported_at - dt.timedelta(hours=1)),
                                reported_at=reported_at, phones=[], urls=[], apps=[])
            return services.fraud_report_submit(actor=desk.analyst, unit=desk.tree.station_a1a, data=data).report

    def bank_answers(report: FraudReport, at: dt.datetime, status: int) -> None:
        stop = StopPaymentRequest.objects.get(report=report)
        with time_machine.travel(at, tick=False):
            services.stop_submit_recorded(stop_id=stop.pk, reply=BankReply(status, {"reference": f"R{stop.pk}"}),
                                          started_at=at, final=False, retry_in=30)

    first = take(t0, t0 - dt.timedelta(hours=3), ACCOUNT_A)
    second = take(t0 + dt.timedelta(minutes=10), t0 + dt.timedelta(minutes=9), ACCOUNT_B)
    late = take(t0 + dt.timedelta(minutes=20), dt.datetime(2026, 5, 11, 21, 0, tzinfo=SHANGHAI), ACCOUNT_C)
    bank_answers(first, t0 + dt.timedelta(seconds=90), 200)  # 1.5 minutes after receipt
    bank_answers(second, t0 + dt.timedelta(minutes=10, seconds=30), 503)  # not accepted: no start of the wait
    bank_answers(second, t0 + dt.timedelta(minutes=16), 200)  # 6 minutes
    bank_answers(late, t0 + dt.timedelta(minutes=22), 200)  # 2 minutes (16 hours 22 minutes after reported_at)
    assert [r.created_at for r in FraudReport.objects.order_by("pk")] == [
        t0, t0 + dt.timedelta(minutes=10), t0 + dt.timedelta(minutes=20)]

    day = dt.datetime(2026, 5, 12, tzinfo=SHANGHAI)
    figures = selectors.centre_figures(desk.analyst, start=day - dt.timedelta(days=1), end=day + dt.timedelta(days=1))
    # Waits 1.5, 2 and 6 minutes: p50 is the smallest reaching half (2.0), p90 the largest.
    assert (figures.total.reports, figures.total.p50_minutes, figures.total.p90_minutes) == (3, 2.0, 6.0)
    assert [(r.label, r.reports, r.p50_minutes, r.p90_minutes) for r in figures.days] == [
        ("2026-05-11", 0, None, None), ("2026-05-12", 3, 2.0, 6.0)]
