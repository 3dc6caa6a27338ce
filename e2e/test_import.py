"""A data steward imports a small CSV through the page, reads the report, and corrects the
one quarantined row in place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from jingwu.core.models import User
from jingwu.core.tests.factories import make_tree, make_user
from jingwu.records import services
from jingwu.records.models import QuarantinedRow, QuarantineStatus, SourceRecord

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "jingwu-demo-2026"
SCREENSHOT = "/tmp/e2e-import.png"
GOOD_ID = "370102198501011233"
BAD_ID = "370102198501011234"  # the check character should be 3
CSV = (
    "姓名,证件号码,性别,出生日期,联系电话,住址\n"
    "陈鑫,370102199003070024,女,19900307,13812345678,济南市历下区大明湖路2号\n"
    "李喆,370103197211300450,男,19721130,,济南市市中区经四路3号\n"
    f"张三,{BAD_ID},男,19850101,,济南市历下区泉城路1号\n"
    "赵一,370203200106150884,女,20010615,13900001111,青岛市市北区\n"
)


@pytest.fixture
def steward(transactional_db: Any) -> User:
    tree = make_tree()
    user = make_user("demo_data_steward", [("data_steward", tree.province)], password=PASSWORD)
    User.objects.filter(pk=user.pk).update(display_name="刘数据")
    services.source_create(actor=None, key="hukou", name="户籍人口")
    return user


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()


def test_a_steward_imports_a_csv_and_corrects_the_bad_row(phone: Any, steward: User, tmp_path: Path) -> None:
    upload = tmp_path / "户籍人口.csv"
    upload.write_text(CSV, encoding="gb18030")  # as a county's old export system writes it
    sign_in(phone, "demo_data_steward", PASSWORD)
    phone.wait_for_url(re.compile(r"/$"))

    phone.get_by_role("navigation", name="主导航").get_by_role("link", name="数据导入").click()
    phone.get_by_role("heading", level=1, name="数据导入").wait_for()
    phone.get_by_label("数据来源").select_option("hukou")
    phone.get_by_label("记录类型").select_option("person")
    phone.get_by_label("数据文件").set_input_files(str(upload))
    phone.get_by_role("button", name="上传并导入").click()

    # Done at once in tests; in the demo the page polls and reloads when the import ends.
    report = phone.locator(".report-line")
    report.filter(has_text="读取 4 行").wait_for()
    assert report.inner_text() == "读取 4 行：导入 3，未变化 0，隔离 1"
    assert phone.locator(".report-status").first.inner_text() == "已完成"
    row = phone.locator("article.quarantined")
    assert row.count() == 1
    assert row.get_by_role("heading", level=3).inner_text() == "第 4 行"
    assert "第 4 行，证件号码 列（id_number）：校验码为“4”，应为“3”" in row.inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot(path=SCREENSHOT, full_page=True)

    # Correct the ID number in its cell and retry: htmx swaps the row in place.
    row.get_by_label("证件号码").fill(GOOD_ID)
    row.get_by_role("button", name=re.compile("^修正并重试")).click()
    phone.locator("article.quarantined .report-status").filter(has_text="已修正并导入").wait_for()
    quarantined = QuarantinedRow.objects.get()
    assert quarantined.status == QuarantineStatus.FIXED
    assert quarantined.record is not None
    assert quarantined.record.source_key == GOOD_ID
    assert SourceRecord.objects.filter(superseded_by__isnull=True).count() == 4
    assert phone.console_errors == []  # nothing refused by the Content-Security-Policy

    phone.reload()
    assert phone.locator(".empty-title").inner_text() == "没有待处理的隔离行"
    assert phone.locator(".report-line").inner_text() == "读取 4 行：导入 3，未变化 0，隔离 1"
