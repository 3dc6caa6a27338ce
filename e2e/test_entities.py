"""An officer opens a person's profile on a phone: values with their sources, the
relationship graph (ECharts under the CSP), and a data steward judges a pair."""

from __future__ import annotations

import re
from typing import Any

import pytest

from jingwu.core import services
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


def test_an_officer_reads_a_profile_and_its_graph(phone: Any, transactional_db: Any) -> None:
    p = linked_province()
    officer = make_user("demo_officer", [("officer", p.tree.station_a1a)], password=PASSWORD)
    e1 = entity_of("HK1")
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
    phone.wait_for_function("document.getElementById('graph-status').textContent.length > 0")
    assert phone.locator("#graph-status").inner_text().startswith("已显示 8 / 8 条关系")
    assert phone.locator("#entity-graph canvas").count() >= 1
    assert phone.locator("#graph-more").is_hidden()
    assert phone.console_errors == []
    phone.screenshot(path="/tmp/e2e-entity.png", full_page=True)


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
