"""A demo officer signs in on a phone and works their task inbox."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jingwu.core import services
from jingwu.core.models import User, WorkItem, WorkItemPriority
from jingwu.core.tests.factories import make_tree, make_user

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "jingwu-demo-2026"
SCREENSHOT = "/tmp/e2e-inbox.png"


@pytest.fixture
def demo_officer(transactional_db: Any) -> User:
    tree = make_tree()
    officer = make_user("demo_officer", [("officer", tree.station_a1a)], password=PASSWORD)
    User.objects.filter(pk=officer.pk).update(display_name="王建国")
    officer.refresh_from_db()
    return officer


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_officer_signs_in_on_a_phone_and_sees_my_tasks_in_chinese(phone: Any, demo_officer: User) -> None:
    item = services.workitem_create(actor=None, title="回访泉城路盗窃案报案人", kind="案件回访",
                                    assignee_user=demo_officer, priority=WorkItemPriority.HIGH,
                                    due_at=timezone.now() - timedelta(hours=2))
    sign_in(phone, "demo_officer", PASSWORD)

    phone.wait_for_url(re.compile(r"/$"))
    assert phone.locator("html").get_attribute("lang") == "zh-Hans"
    assert phone.get_by_role("heading", level=1).inner_text() == "我的待办"
    assert phone.locator(".who-name").inner_text() == "王建国"
    assert phone.locator(".who-unit").inner_text() == "泉城路派出所"
    assert phone.get_by_role("navigation", name="主导航").get_by_role("link", name="我的待办").is_visible()
    row = phone.locator(f"#task-{item.pk}")
    assert row.locator(".task-title").inner_text() == "回访泉城路盗窃案报案人"
    assert row.locator(".overdue-flag").inner_text() == "已逾期"
    assert "尚未设置查询事由" in phone.locator(".purpose-banner").inner_text()
    assert no_horizontal_scroll(phone)
    phone.screenshot(path=SCREENSHOT, full_page=True)

    # The main job of the page: finish a task; htmx swaps the row in place.
    row.get_by_role("button", name=re.compile("^标记完成")).click()
    phone.locator(f"#task-{item.pk} .status").filter(has_text="已完成").wait_for()
    item.refresh_from_db()
    assert item.status == "done"
    assert phone.console_errors == []  # nothing refused by the Content-Security-Policy

    phone.reload()
    assert phone.locator(".empty-title").inner_text() == "暂无待办"
    assert no_horizontal_scroll(phone)
    assert WorkItem.objects.filter(status="done").count() == 1


def test_wrong_password_shows_the_error(phone: Any, demo_officer: User) -> None:
    sign_in(phone, "demo_officer", "not-the-password")
    alert = phone.get_by_role("alert")
    assert alert.inner_text() == "用户名或密码错误，或账号已被暂时锁定。"
    assert phone.url.endswith("/login")
    assert no_horizontal_scroll(phone)


def test_switching_to_english(phone: Any, demo_officer: User) -> None:
    sign_in(phone, "demo_officer", PASSWORD)
    phone.wait_for_url(re.compile(r"/$"))
    phone.get_by_role("button", name="English").click()
    phone.get_by_role("heading", level=1, name="My tasks").wait_for()
    assert phone.locator("html").get_attribute("lang") == "en"
    assert phone.locator(".empty-title").inner_text() == "Nothing to do"
    assert phone.get_by_role("button", name="Sign out").is_visible()
    assert no_horizontal_scroll(phone)
    phone.get_by_role("button", name="中文").click()
    phone.get_by_role("heading", level=1, name="我的待办").wait_for()


def test_api_docs_render_under_the_content_security_policy(phone: Any) -> None:
    phone.goto("/api/docs")
    phone.locator(".swagger-ui .info .title").filter(has_text="jingwu API").wait_for()
    assert phone.locator(".opblock-summary-path").filter(has_text="/api/me").count() == 1
    assert phone.console_errors == []
