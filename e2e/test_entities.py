"""An officer opens a person's profile on a phone: values with their sources, the
timeline, the relationship graph (ECharts under the CSP) expanded by a click and from
the keyboard, and a data steward judges a pair."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from jingwu.core import services, timeline
from jingwu.core.tests.factories import make_user
from jingwu.records.models import ReviewPair
from jingwu.records.tests.test_linking_fixture import UNCERTAIN, entity_of, linked_province

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "jingwu-demo-2026"


def sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(re.compile(r"/$"))


NODE_AT = """(id) => {
  const chart = window.echarts.getInstanceByDom(document.getElementById("entity-graph"));
  const data = chart.getModel().getSeriesByIndex(0).getData();
  for (let i = 0; i < data.count(); i++) {
    if (data.getId(i) === id) {
      return chart.convertToPixel({seriesIndex: 0}, data.getItemLayout(i));
    }
  }
  return null;
}"""


def node_names(page: Any) -> list[str]:
    return page.locator("#graph-nodes .graph-node-name").all_inner_texts()


def test_an_officer_reads_a_profile_and_its_graph(phone: Any, transactional_db: Any) -> None:
    p = linked_province()
    officer = make_user("demo_officer", [("officer", p.tree.station_a1a)], password=PASSWORD)
    e1, wife = entity_of("HK1"), entity_of("HK2")
    sign_in(phone, "demo_officer")
    phone.goto(f"/records/entities/{e1}/")
    phone.wait_for_url(re.compile(r"/purpose\?next="))  # no purpose yet: asked for one first
    services.purpose_set(actor=officer, text="核查盗窃案嫌疑人")
    phone.goto(f"/records/entities/{e1}/")
    assert phone.get_by_role("heading", level=1).inner_text().startswith("陈大文")
    name_row = phone.locator("tr.attribute-name")
    assert name_row.locator("td.value").inner_text() == "陈大文"
    assert "陳大文" in name_row.locator("td.others").inner_text()
    assert "**********" in phone.locator("tr.attribute-id_number td.value").inner_text()

    # The timeline, newest first: the oldest event is his birth, dated only.
    events = phone.locator("#timeline-events li")
    assert events.count() == 14
    birth = events.last
    assert [birth.locator(part).inner_text() for part in ("time", ".event-label", ".event-summary", ".event-source")] \
        == ["1980-03-15", "出生", "出生日期 1980-03-15（2 条记录一致）",
            f"来源：电信实名 #{p.rid('TEL1')}、户籍 #{p.rid('HK1')}"]
    stay = phone.locator("#timeline-events li", has_text="住宿开始")
    assert stay.locator("time").inner_text() == "2025-11-24"
    assert stay.get_by_role("link", name="→ 泉城宾馆（301）").count() == 1
    assert phone.locator("#timeline-more").inner_text() == ""  # everything fits on one page

    # The graph: the first ring, listed under it for the keyboard.
    expect(phone.locator("#graph-status")).to_contain_text("已显示 8 / 8 条关系")
    assert phone.locator("#entity-graph canvas").count() >= 1
    assert phone.locator("#graph-more").is_hidden()
    assert node_names(phone) == ["陈大文", "王芳", "鲁A12345", "山东省济南市历下区泉城路1号", "泉城宾馆", "13912340001"]

    # A click on his wife's node brings her ring: her bank account and her phone join the graph.
    graph = phone.locator("#entity-graph")
    graph.scroll_into_view_if_needed()
    box = graph.bounding_box()
    x, y = phone.evaluate(NODE_AT, str(wife))
    phone.mouse.click(box["x"] + x, box["y"] + y)
    expect(phone.locator("#graph-nodes li")).to_have_count(8)  # waits without eval (the CSP allows none)
    assert phone.locator("#graph-status").inner_text() == "已展开 王芳：显示 5 / 5 条关系，新增 2 个节点。"
    assert node_names(phone)[6:] == ["齐鲁银行 6222021234567890128", "13912340002"]
    assert phone.evaluate(NODE_AT, str(entity_of("BK2", "account"))) is not None  # drawn, not only listed
    wife_item = phone.locator(f"#graph-nodes li[data-id='{wife}']")
    assert wife_item.locator(".graph-node-state").inner_text() == "5 / 5 条关系"
    assert wife_item.get_by_role("button", name="展开关系").is_hidden()

    # From the keyboard: the hotel's ring holds a guest from another county, shown unnamed.
    hotel_item = phone.locator(f"#graph-nodes li[data-id='{entity_of('HT1', 'place')}']")
    hotel_item.get_by_role("button", name="展开关系").focus()
    phone.keyboard.press("Enter")
    expect(phone.locator("#graph-nodes li")).to_have_count(9)
    guest = phone.locator("#graph-nodes li.restricted")
    assert guest.inner_text().split() == ["辖区外", "人员", "辖区外，不可展开"]
    assert guest.get_by_role("button").count() == 0 and guest.get_by_role("link").count() == 0
    assert phone.evaluate("document.activeElement.className") == "graph-node-state"
    assert "张伟" not in phone.locator("#graph-nodes").inner_text()

    assert phone.console_errors == []
    phone.locator("section[aria-labelledby='graph-title']").screenshot(path="/tmp/e2e-entity-graph.png")
    phone.locator("#timeline").screenshot(path="/tmp/e2e-entity-timeline.png")
    phone.screenshot(path="/tmp/e2e-entity.png", full_page=True)


def test_older_events_load_below_the_timeline(phone: Any, transactional_db: Any) -> None:
    p = linked_province()
    officer = make_user("demo_officer", [("officer", p.tree.station_a1a)], password=PASSWORD)
    services.purpose_set(actor=officer, text="核查盗窃案嫌疑人")
    base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    def hourly(actor: Any, entity_ids: Any, limit: int) -> list[timeline.Event]:  # another module's events
        return [timeline.Event(base - dt.timedelta(hours=i), "cases.e2e", "测试事件", f"事件 {i}")
                for i in range(min(limit, 30))]

    timeline.register("cases.e2e", hourly)
    try:
        sign_in(phone, "demo_officer")
        phone.goto(f"/records/entities/{entity_of('HK1')}/")
        events = phone.locator("#timeline-events li")
        expect(events).to_have_count(20)
        assert events.first.locator("time").inner_text() == "2030-01-01 08:00"  # midnight UTC, Beijing time
        phone.get_by_role("button", name="更早的事件").click()
        expect(events).to_have_count(40)
        assert events.nth(20).locator(".event-summary").inner_text() == "事件 20"
        phone.get_by_role("button", name="更早的事件").click()
        expect(events).to_have_count(44)
        assert events.last.locator(".event-label").inner_text() == "出生"
        expect(phone.get_by_role("button", name="更早的事件")).to_have_count(0)
        assert phone.console_errors == []
    finally:
        timeline.unregister("cases.e2e")


def test_a_data_steward_confirms_a_pair_from_the_queue(phone: Any, transactional_db: Any) -> None:
    p = linked_province()
    steward = make_user("demo_data_steward", [("data_steward", p.tree.county_a1)], password=PASSWORD)
    services.purpose_set(actor=steward, text="关联数据质量复核")
    pair = ReviewPair.objects.get(status="open")
    sign_in(phone, "demo_data_steward")
    phone.get_by_role("navigation", name="主导航").get_by_role("link", name="关联复核").click()
    phone.wait_for_url(re.compile(r"/records/review/$"))
    card = phone.locator(f"#pair-{pair.pk}")
    card.wait_for()
    assert card.locator("tr.agree-same").count() == 1 and card.locator("tr.agree-differ").count() == 2
    card.get_by_role("button", name="同一人", exact=True).click()
    phone.locator(".messages").wait_for()
    assert "两个实体已合并为实体" in phone.locator(".messages").inner_text()
    assert entity_of(UNCERTAIN[0]) == entity_of(UNCERTAIN[1])
    assert phone.console_errors == []
