"""The anti-fraud centre's analyst pages in a real browser: a linked network is shown as a
graph with its reports and grouped into one case; the dashboard shows the figures of a
fixed fixture with its charts drawn."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from jingwu.antifraud import linking
from jingwu.antifraud.models import FraudReport
from jingwu.antifraud.services import ReportInput, TransferInput, fraud_report_submit
from jingwu.antifraud.tests.figures import build_figures
from jingwu.antifraud.warning_models import WatchListEntry
from jingwu.cases.models import Case, CaseIncident
from jingwu.core import services as core_services
from jingwu.core.models import UnitKind, User
from jingwu.core.tests.factories import Tree, make_tree, make_user

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "jingwu-demo-2026"
@pytest.fixture
def tree(transactional_db: Any) -> Tree:
    return make_tree()


@pytest.fixture
def analyst(tree: Tree) -> User:
    centre = core_services.unit_create(actor=None, code="370100D-FZ", name="济南市公安局反诈中心",
                                       kind=UnitKind.DEPARTMENT, parent=tree.city_a, department="anti_fraud")
    return make_user("demo_fraud_analyst", [("fraud_analyst", centre)], password=PASSWORD)


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(re.compile(r"/$"))


def file_ring(tree: Tree) -> list[str]:
    """Three reports of one ring (a shared mule account, then a shared number) and one apart,
    taken by a station officer: their stop-payments wait for the centre, nothing is sent."""
    officer = make_user("mj_officer", [("officer", tree.station_a1a)])
    when = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    numbers = []
    for account, phone in (("6222021234567890128", "17100001234"), ("6222021234567890128", "16512345678"),
                           ("6217000010002000308", "165 1234 5678"), ("6225880137706884", "13912345678")):
        data = ReportInput(victim_name="王秀英", fraud_type="order_rebate", phones=[phone],
                           transfers=[TransferInput(account, "ICBC", 500_000, when)])
        numbers.append(fraud_report_submit(actor=officer, unit=tree.station_a1a, data=data).report.number)
    return numbers


def test_the_network_page_shows_a_seeded_network_and_groups_its_reports(desktop: Any, tree: Tree,
                                                                        analyst: User) -> None:
    numbers = file_ring(tree)
    root = linking.network_root(FraudReport.objects.get(number=numbers[0]))
    sign_in(desktop, "demo_fraud_analyst", PASSWORD)
    desktop.get_by_role("navigation", name="主导航").get_by_role("link", name="串并案").click()
    desktop.get_by_role("link", name=f"#{root}").click()
    desktop.get_by_role("heading", level=1, name=f"团伙网络 #{root}").wait_for()
    desktop.locator("#network-graph canvas").first.wait_for()  # ECharts drew the graph
    rows = desktop.locator("table.network-reports tbody tr")
    assert sorted(rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())) == sorted(numbers[:3])
    assert numbers[3] not in desktop.content()

    desktop.get_by_role("button", name="并为一案").click()
    case = Case.objects.get()
    desktop.locator(".messages").filter(has_text=f"已并为一案：{case.number}（3 起报案）。").wait_for()
    assert [rows.nth(i).locator("td").nth(4).inner_text() for i in range(3)] == [case.number] * 3
    assert desktop.get_by_role("button", name="并为一案").count() == 0
    assert sorted(CaseIncident.objects.values_list("number", flat=True)) == sorted(numbers[:3])
    desktop.get_by_text("已并案").get_by_role("link", name=case.number).click()
    desktop.get_by_role("heading", level=1, name=case.number).wait_for()
    assert desktop.console_errors == []


def test_the_dashboard_renders_the_figures_of_a_fixed_fixture(desktop: Any, tree: Tree, analyst: User) -> None:
    build_figures(tree)
    sign_in(desktop, "demo_fraud_analyst", PASSWORD)
    desktop.get_by_role("navigation", name="主导航").get_by_role("link", name="反诈态势").click()
    desktop.get_by_role("heading", level=1, name="反诈态势").wait_for()
    desktop.get_by_label("截至日期").fill("2026-05-13")
    desktop.get_by_label("天数").fill("30")
    desktop.get_by_role("button", name="查看").click()
    desktop.wait_for_url(re.compile(r"until=2026-05-13"))
    figures = {key: desktop.locator(f'[data-figure="{key}"]').inner_text()
               for key in ("reports", "loss", "stopped", "frozen", "returned", "warnings", "prevented", "minutes")}
    assert figures == {"reports": "4", "loss": "¥2,000.00", "stopped": "¥900.00", "frozen": "¥300.00",
                       "returned": "¥150.00", "warnings": "4", "prevented": "1", "minutes": "4.0 / 10.0"}
    for chart in ("chart-money", "chart-minutes", "chart-warnings", "chart-cities"):
        desktop.locator(f"#{chart} canvas").first.wait_for()
    day = desktop.locator('table.figure-rows-day tr[data-key="2026-05-11"] td')
    assert [day.nth(i).inner_text() for i in range(9)] == [
        "2", "¥1,500.00", "¥900.00", "¥300.00", "¥150.00", "1", "0", "2.0", "4.0"]
    city = desktop.locator("table.figure-rows-city tbody tr")
    assert city.count() == 1 and city.first.locator("th").inner_text() == "济南市公安局"
    high = desktop.locator('table.dashboard-warnings tr[data-level="high"] td')
    assert [high.nth(i).inner_text() for i in range(5)] == ["2", "1", "1", "0", "0"]
    assert desktop.console_errors == []


def test_an_analyst_imports_a_watch_list_csv_fixing_the_row_the_page_names(desktop: Any, tree: Tree,
                                                                           analyst: User) -> None:
    sign_in(desktop, "demo_fraud_analyst", PASSWORD)
    desktop.get_by_role("navigation", name="主导航").get_by_role("link", name="名单与规则").click()
    desktop.get_by_role("heading", level=1, name="预警名单").wait_for()
    box = desktop.get_by_label("或粘贴 CSV 内容")
    box.fill("kind,value,source,expires_at\nphone,171 0000 1234,部反诈中心,2099-12-31\nurl,,部反诈中心,\n")
    desktop.get_by_role("button", name="导入", exact=True).click()
    errors = desktop.locator("table.csv-errors tbody tr td")
    errors.first.wait_for()
    assert [errors.nth(i).inner_text() for i in range(3)] == ["3", "value", "不能为空"]
    assert WatchListEntry.objects.count() == 0
    box = desktop.get_by_label("或粘贴 CSV 内容")
    assert "171 0000 1234" in box.input_value()  # the text is kept for correcting
    box.fill(box.input_value().replace("url,,", "url,shua-dan.example.com/task,"))
    desktop.get_by_role("button", name="导入", exact=True).click()
    desktop.get_by_text("已导入 2 条，更新 0 条。").wait_for()
    rows = desktop.locator("table.watchlist tbody tr")
    assert rows.count() == 2
    phone = desktop.locator("table.watchlist tbody tr", has_text="+8617100001234")
    phone.get_by_placeholder("撤销理由").fill("号码已回收")
    phone.get_by_role("button", name="撤销").click()
    desktop.get_by_text("已撤销：+8617100001234").wait_for()
    assert desktop.locator("table.watchlist tbody tr").count() == 1
    assert WatchListEntry.objects.get(kind="phone").retire_reason == "号码已回收"
    # The rejected upload's page is answered 400 (the browser logs that), nothing else failed.
    assert desktop.console_errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"]
