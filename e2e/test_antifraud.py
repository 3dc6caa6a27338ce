"""An anti-fraud analyst files a victim's report on a phone and watches the stop-payment
requests go to the bank simulator (a real HTTP service in a subprocess), wait for the
bank's answer, and chase the money to the next account — live on the report page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from jingwu.antifraud import sender
from jingwu.antifraud.models import FraudReport, StopPaymentRequest
from jingwu.antifraud.tests.simulator import BankSim, running_simulator
from jingwu.core import services as core_services
from jingwu.core.models import UnitKind, User
from jingwu.core.tests.factories import make_tree, make_user

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "jingwu-demo-2026"
SCREENSHOT = "/tmp/e2e-antifraud.png"
MULE = "6222021234567890128"
NEXT_HOP = "6217000010002000308"


@pytest.fixture(scope="module")
def simulator() -> Iterator[BankSim]:
    with running_simulator("--seed", "7") as sim:
        yield sim


@pytest.fixture
def bank(simulator: BankSim, settings: Any) -> Iterator[BankSim]:
    settings.JINGWU_BANK_SIM_URL = simulator.url
    settings.JINGWU_BANK_URLS = {}
    # Slow enough to watch: the bank takes 1.5 s to answer each request.
    simulator.reset(latency_ms=20, processing_ms=1500, unknown_accounts="reject")
    simulator.accounts(
        {"bank": "ICBC", "account": MULE, "balance_fen": 30_000,
         "onward": [{"bank": "CCB", "account": NEXT_HOP, "amount_fen": 70_000}]},
        {"bank": "CCB", "account": NEXT_HOP, "balance_fen": 90_000},
    )
    yield simulator
    assert sender.wait_idle(60)


@pytest.fixture
def analyst(transactional_db: Any) -> User:
    tree = make_tree()
    centre = core_services.unit_create(actor=None, code="370100D-FZ", name="济南市公安局反诈中心",
                                       kind=UnitKind.DEPARTMENT, parent=tree.city_a, department="anti_fraud")
    user = make_user("demo_fraud_analyst", [("fraud_analyst", centre)], password=PASSWORD)
    User.objects.filter(pk=user.pk).update(display_name="孙反诈")
    core_services.purpose_set(actor=user, text="受理电信网络诈骗报案", ref_type="", ref_id="")
    return user


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()


def test_an_analyst_files_a_report_and_watches_the_stop_payments_resolve(phone: Any, analyst: User,
                                                                         bank: BankSim) -> None:
    sign_in(phone, "demo_fraud_analyst", PASSWORD)
    phone.wait_for_url(re.compile(r"/$"))
    phone.get_by_role("navigation", name="主导航").get_by_role("link", name="反诈报案").click()
    phone.get_by_role("link", name="登记报案").click()
    phone.get_by_role("heading", level=1, name="登记报案").wait_for()

    phone.get_by_label("受害人姓名").fill("王秀英")
    phone.get_by_label("身份证号").fill("370102198501011233")
    phone.get_by_label("联系电话").fill("138 1234 5678")
    phone.get_by_label("诈骗类型").select_option("order_rebate")
    phone.get_by_label("收款银行").select_option("ICBC")
    phone.get_by_label("收款账号").fill("6222 0212 3456 7890 128")
    phone.get_by_label("金额（元）", exact=True).fill("1000")
    phone.get_by_label("转账时间").fill("2026-05-01T10:30")
    phone.get_by_label("诈骗电话").fill("171 0000 1234")
    phone.get_by_role("button", name="提交报案并止付").click()

    report = FraudReport.objects.get()
    phone.wait_for_url(re.compile(rf"/antifraud/reports/{report.number}/$"))
    status = phone.locator(".stops-status")
    assert status.inner_text() == "正在与银行交互……"  # the bank has not answered yet
    first = phone.locator(f"#stop-{StopPaymentRequest.objects.get(hop=0).pk}")
    assert first.locator(".state").inner_text() in ("待发送", "已送达银行", "银行处理中")

    # htmx polls the box every second; the bank answers, and the money's next hop is chased.
    status.filter(has_text="全部止付请求已有结果。").wait_for(timeout=30_000)
    rows = phone.locator("li.stop")
    assert rows.count() == 2
    assert [rows.nth(i).locator(".hop").inner_text() for i in range(2)] == ["收款账户", "第 1 跳"]
    assert [rows.nth(i).locator(".bank").inner_text() for i in range(2)] == ["中国工商银行", "中国建设银行"]
    assert [rows.nth(i).locator(".account").inner_text() for i in range(2)] == [MULE, NEXT_HOP]
    assert [rows.nth(i).locator(".state").inner_text() for i in range(2)] == ["已止付", "已止付"]
    assert [rows.nth(i).locator(".stopped-amount").inner_text() for i in range(2)] == ["¥300.00", "¥700.00"]
    totals = phone.locator(".stops-totals").inner_text()
    assert totals.startswith("已止付 ¥1,000.00 · 已冻结 ¥0.00 · 已返还 ¥0.00 · 首个请求 ")
    assert rows.first.get_by_role("button", name="续止 48 小时").is_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert phone.console_errors == []  # nothing refused by the Content-Security-Policy
    phone.screenshot(path=SCREENSHOT, full_page=True)

    assert sorted(StopPaymentRequest.objects.values_list("hop", "state", "amount_stopped_fen")) == [
        (0, "stopped", 30_000), (1, "stopped", 70_000)]
    assert bank.stats()["stops"] == 2
