"""警务千度 in the browser: an officer signs in, searches a name written in traditional
characters, states a purpose when asked, finds the person under the simplified name,
opens the profile and expands the relationship graph once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jingwu.core.models import AuditEntry
from jingwu.core.tests.factories import make_user
from jingwu.records.tests.test_linking_fixture import entity_of, linked_province

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "jingwu-demo-2026"

# Where ECharts drew a node, in page pixels (the force layout keeps moving, so asked just before clicking).
NODE_POSITION = """(name) => {
  const el = document.getElementById('entity-graph');
  const chart = window.echarts.getInstanceByDom(el);
  const data = chart.getModel().getSeriesByIndex(0).getData();
  const index = data.indexOfName(name);
  if (index < 0) { return null; }
  const [x, y] = chart.convertToPixel({seriesIndex: 0}, data.getItemLayout(index));
  const box = el.getBoundingClientRect();
  return {x: box.left + x, y: box.top + y};
}"""
NODE_COUNT = "() => window.echarts.getInstanceByDom(document.getElementById('entity-graph'))" \
             ".getOption().series[0].data.length"


def until(page: Any, condition: Callable[[], bool], seconds: float = 10) -> bool:
    """Poll from Python: Playwright's wait_for_function compiles its predicate in the page,
    which the CSP (no eval) refuses now and then."""
    for _ in range(int(seconds * 10)):
        if condition():
            return True
        page.wait_for_timeout(100)
    return condition()


def test_an_officer_finds_a_traditional_name_opens_the_profile_and_expands_the_graph(
        phone: Any, transactional_db: Any, settings: Any, tmp_path: Path) -> None:
    settings.JINGWU_SEARCH_DIR = tmp_path / "search"
    province = linked_province()  # the link run sends its entities to the index when it commits
    make_user("demo_officer", [("officer", province.tree.county_a1)], password=PASSWORD)
    p1, p2 = entity_of("HK1"), entity_of("HK2")

    phone.goto("/login")
    phone.get_by_label("用户名").fill("demo_officer")
    phone.get_by_label("密码").fill(PASSWORD)
    phone.get_by_role("button", name="登录", exact=True).click()
    phone.wait_for_url(re.compile(r"/$"))
    phone.get_by_role("navigation", name="主导航").get_by_role("link", name="警务千度").click()
    phone.wait_for_url(re.compile(r"/search/$"))

    box = phone.get_by_role("combobox", name="查询内容")  # a search input with suggestions
    box.fill("陳大文")
    box.press("Enter")
    phone.wait_for_url(re.compile(r"/purpose\?next="))  # no purpose yet: asked for one, then back
    phone.get_by_label("查询事由").fill("核查盗窃案嫌疑人身份")
    phone.get_by_role("button", name="保存事由").click()
    phone.wait_for_url(re.compile(r"/search/\?q="))

    results = phone.locator("ol.search-results > li")
    results.first.wait_for()
    assert results.count() == 1
    assert phone.locator(".search-total").inner_text().startswith("共 1 条结果")
    first = results.first
    assert first.locator(".result-title a").inner_text() == "陈大文"
    assert first.locator(".kind-badge").inner_text() == "人员"
    assert first.locator("mark").all_inner_texts() == ["陈大文"]
    phone.screenshot(path="/tmp/e2e-search-results.png", full_page=True)
    query = AuditEntry.objects.get(actor_username="demo_officer", action="search.query")
    assert (query.details["q"], query.purpose) == ("陳大文", "核查盗窃案嫌疑人身份")

    first.locator(".result-title a").click()
    phone.wait_for_url(re.compile(rf"/records/entities/{p1}/$"))
    assert phone.get_by_role("heading", level=1).inner_text().startswith("陈大文")
    until(phone, lambda: phone.locator("#graph-status").inner_text() != "")
    assert phone.locator("#graph-status").inner_text().startswith("已显示 8 / 8 条关系")
    before = phone.evaluate(NODE_COUNT)
    assert phone.console_errors == [], phone.console_errors

    # Expand 王芳 (his wife): her ring brings her bank account and her phone into the graph.
    phone.locator("#entity-graph").scroll_into_view_if_needed()
    phone.wait_for_timeout(800)  # let the force layout settle a little
    for _attempt in range(6):
        spot = phone.evaluate(NODE_POSITION, "王芳")
        assert spot is not None
        phone.mouse.click(spot["x"], spot["y"])
        if until(phone, lambda: phone.evaluate(NODE_COUNT) > before, seconds=2):
            break  # else the node moved away before the click: ask again
    assert phone.evaluate(NODE_COUNT) == before + 2
    graph_reads = AuditEntry.objects.filter(actor_username="demo_officer", action="person.read",
                                            details__view="graph").values_list("object_id", flat=True)
    assert sorted(graph_reads) == sorted([str(p1), str(p2)])
    # Hovering a node shows ECharts' tooltip, whose markup carries inline styles the CSP blocks
    # (records/static/records/graph.js; reported): nothing else may have gone wrong.
    others = [e for e in phone.console_errors if not e.startswith("Applying inline style violates")]
    assert others == [], others
    phone.screenshot(path="/tmp/e2e-search-profile.png", full_page=True)
