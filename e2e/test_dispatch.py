"""A dispatcher on the command centre board: a telephony call appears by itself (htmx
polling), a call taken on the page is confirmed, the recommended unit accepted, and the
board shows the incident dispatched — in a real Chromium, under the site's CSP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from jingwu.dispatch import handoff, locating
from jingwu.dispatch.models import Assignment, Incident
from jingwu.dispatch.tests.factories import World, make_world, patrol, take_call

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "jingwu-demo-2026"
SCREENSHOT = "/tmp/e2e-dispatch.png"


@pytest.fixture
def world(transactional_db: Any) -> Iterator[World]:
    locating.forget()
    handoff.register_case_intake(None)
    built = make_world()
    built.dispatcher.set_password(PASSWORD)
    built.dispatcher.save(update_fields=["password"])
    patrol(built.quancheng, "Q1", 36.661, 117.011, grid=built.grid_q1)
    patrol(built.quancheng, "Q2", 36.669, 117.039, grid=built.grid_q2)
    patrol(built.jiefang, "J1", 36.685, 117.03, grid=built.grid_j1)
    yield built
    locating.forget()


def test_a_dispatcher_takes_a_call_accepts_the_recommended_unit_and_sees_the_board_update(
        desktop: Any, world: World) -> None:
    desktop.goto("/login")
    desktop.get_by_label("用户名").fill("jiejing")
    desktop.get_by_label("密码").fill(PASSWORD)
    desktop.get_by_role("button", name="登录", exact=True).click()
    desktop.wait_for_url(re.compile(r"/$"))
    desktop.get_by_role("navigation", name="主导航").get_by_role("link", name="指挥大屏").click()
    desktop.get_by_role("heading", level=1, name="指挥大屏").wait_for()
    desktop.locator("#board-map canvas").first.wait_for()  # ECharts drew the grid map

    # A call through telephony shows up on the board by itself (the list polls every 5 s).
    phoned = take_call(world, "解放路有人醉酒闹事", lat=36.684, lon=117.025, caller="13900000009").incident
    desktop.locator(f"#incident-{phoned.pk}").wait_for(timeout=15_000)

    # The dispatcher takes a call on the page.
    desktop.get_by_label("报警内容").fill("泉城路芙蓉街有人打架，有人受伤")
    desktop.get_by_label("纬度").fill("36.66")
    desktop.get_by_label("经度").fill("117.01")
    desktop.get_by_role("button", name="登记警情").click()
    panel = desktop.locator("#board-panel")
    panel.get_by_role("button", name="确认定性").wait_for()
    taken = Incident.objects.exclude(pk=phoned.pk).get()
    assert taken.number in panel.inner_text()
    assert desktop.get_by_label("报警内容").input_value() == ""  # the form is ready for the next call

    # Confirm the suggestion as it is, then accept the first recommended unit.
    panel.get_by_role("button", name="确认定性").click()
    first = panel.locator("ol.recommendations li").first
    first.wait_for()
    assert first.inner_text().startswith("Q1 ")
    assert "本网格" in first.inner_text()
    first.get_by_role("button", name="派警").click()
    desktop.locator("#panel-status").filter(has_text="已派警").wait_for()

    row = desktop.locator(f"#incident-{taken.pk}")
    row.locator(".board-status").filter(has_text="已派警").wait_for()
    assert "待到场" in row.locator(".timer").inner_text()
    assert desktop.locator(f"#incident-{phoned.pk} .board-status").inner_text() == "已接警"
    assert Assignment.objects.get().patrol_unit.call_sign == "Q1"
    assert desktop.console_errors == []  # nothing refused by the Content-Security-Policy
    desktop.screenshot(path=SCREENSHOT, full_page=True)


def test_an_officer_accepts_arrives_and_records_the_result_on_a_phone(phone: Any, world: World) -> None:
    from jingwu.dispatch import services
    from jingwu.dispatch.models import PatrolMember, PatrolUnit
    from jingwu.dispatch.tests.factories import classified

    world.officer_q.set_password(PASSWORD)
    world.officer_q.save(update_fields=["password"])
    unit = PatrolUnit.objects.get(call_sign="Q1")
    PatrolMember.objects.create(patrol_unit=unit, name="张警官", user=world.officer_q, leader=True)
    incident = classified(world, "芙蓉街有人打架", "public_order", "fighting", lat=36.66, lon=117.01)
    services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)

    phone.goto("/login")
    phone.get_by_label("用户名").fill("minjing_q")
    phone.get_by_label("密码").fill(PASSWORD)
    phone.get_by_role("button", name="登录", exact=True).click()
    phone.wait_for_url(re.compile(r"/$"))
    phone.get_by_role("navigation", name="主导航").get_by_role("link", name="我的出警").click()
    phone.get_by_role("heading", level=1, name="我的出警").wait_for()
    assert incident.number in phone.locator("li.task").first.inner_text()

    phone.get_by_role("button", name="接受出警（出发）").click()
    phone.get_by_role("button", name="已到达现场").wait_for()
    assert "途中" in phone.locator("li.task").first.inner_text()
    phone.get_by_role("button", name="已到达现场").click()
    phone.locator("summary", has_text="处警结果").click()
    phone.get_by_label("处警结果", exact=True).select_option("mediated")
    phone.get_by_label("处警情况").fill("双方和解")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.get_by_role("button", name="提交处警结果").click()
    phone.get_by_text("当前没有出警任务").wait_for()
    incident.refresh_from_db()
    assert (incident.status, incident.result, incident.result_text) == ("closed", "mediated", "双方和解")
    assert phone.console_errors == []
