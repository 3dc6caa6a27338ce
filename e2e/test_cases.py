"""One criminal case from a dispatched incident to transfer for prosecution, across three
people — the officer who handled the incident, the county's legal reviewer and the station
chief — each in their own browser, and the reporter's public lookup (case number + code)
checked at every step. The incident is created through dispatch's services; every case
step goes through the pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jingwu.cases import intake
from jingwu.cases.models import Case
from jingwu.core.models import UnitKind, User
from jingwu.core.tests.factories import TEST_PASSWORD, make_unit, make_user
from jingwu.dispatch import handoff
from jingwu.dispatch import services as dispatch_services
from jingwu.dispatch.tests.factories import classified, make_world, patrol
from jingwu.dispatch.workflow import IncidentStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(transactional_db: Any) -> dict[str, Any]:
    intake.register()
    handoff.register_incident_feed()
    world = make_world()
    legal = make_unit("370102D-FZ", "历下分局法制大队", UnitKind.DEPARTMENT, world.lixia, department="legal")
    reviewer = make_user("fazhi", [("legal_reviewer", legal)])
    chief = make_user("suozhang", [("station_chief", world.quancheng)])
    officer: User = world.officer_q
    officer.set_password(TEST_PASSWORD)
    officer.save(update_fields=["password"])
    # The incident: a burglary reported on 110, a patrol sent, the officer on scene hands it to case handling.
    incident = classified(world, "家里被盗了，门锁被撬", "criminal", "burglary", 2, lat=36.66, lon=117.01,
                          caller="13800000021")
    unit = patrol(world.quancheng, "Q21", 36.661, 117.011)
    dispatch_services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)
    dispatch_services.unit_transition(actor=officer, patrol_unit=unit, event="arrive")
    done = dispatch_services.incident_record_result(actor=officer, incident=incident, result="case",
                                                    text="现场勘查，门锁被撬，丢失现金约五千元")
    assert done.status == IncidentStatus.CASE_OPENED
    return {"officer": officer, "reviewer": reviewer, "chief": chief,
            "case": Case.objects.get(number=done.case_reference), "incident": done}


@pytest.fixture
def signed_in(browser: Any, live_server: Any) -> Iterator[Callable[[str], Any]]:
    contexts: list[Any] = []

    def open_as(username: str) -> Any:
        context = browser.new_context(locale="zh-CN", base_url=live_server.url)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(TEST_PASSWORD)
        page.get_by_role("button", name="登录", exact=True).click()
        page.wait_for_url(re.compile(r"/$"))
        return page

    yield open_as
    for context in contexts:
        context.close()


def _lookup(reporter: Any, number: str, code: str) -> str:
    """The status the reporter sees, or the alert when nothing matches."""
    reporter.goto("/public/cases/")
    reporter.get_by_label("案件编号").fill(number)
    reporter.get_by_label("查询码").fill(code)
    reporter.get_by_role("button", name="查询", exact=True).click()
    reporter.locator("#public-status, [role=alert]").first.wait_for()
    if reporter.locator("#public-status").count():
        return str(reporter.locator("#public-status").inner_text()).strip()
    return str(reporter.get_by_role("alert").inner_text()).strip()


def _take(page: Any, key: str) -> None:
    page.locator(f"#action-{key}").get_by_role("button").click()
    page.wait_for_load_state()


def _state(page: Any) -> str:
    return str(page.locator("#case-state").inner_text()).strip()


def test_a_criminal_case_from_incident_to_transfer(browser: Any, live_server: Any, people: dict[str, Any],
                                                   signed_in: Callable[[str], Any]) -> None:
    case: Case = people["case"]
    reporter = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()

    # The officer finds the case in the list, sees where it came from, and prints the receipt with the code.
    officer = signed_in("minjing_q")
    officer.goto("/cases/")
    officer.get_by_role("link", name=case.number).click()
    officer.get_by_role("heading", level=1, name=case.number).wait_for()
    assert _state(officer) == "已受案"
    assert f"警情 {people['incident'].number}" in officer.content()
    officer.get_by_role("button", name="重新生成受案回执（原查询码作废）").click()
    code = str(officer.locator("#lookup-code").inner_text()).strip()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", code)
    assert _lookup(reporter, case.number, code) == "已受理"
    assert _lookup(reporter, case.number, "2222-2222").startswith("未查到")  # a wrong code: no status at all

    # Filing review, and the legal review the filing decision rests on.
    officer.get_by_role("link", name="查看案件").click()
    _take(officer, "begin_review")
    assert _state(officer) == "立案审查"
    assert _lookup(reporter, case.number, code) == "审查中"
    officer.locator("#rq-subject").select_option("filing")
    officer.locator("#rq-proposal").fill("现场勘查证实被盗，涉案金额达到立案标准，拟立案侦查")
    officer.get_by_role("button", name="提请审核").click()
    # The officer may not decide: the filing decision is the chief's.
    assert officer.locator("#action-file").count() == 0

    # The reviewer and then the chief reach the case from their inboxes.
    reviewer = signed_in("fazhi")
    reviewer.get_by_role("link", name=f"法制审核：{case.number} 立案/不予立案决定").click()
    reviewer.get_by_role("heading", level=1, name=case.number).wait_for()
    reviewer.locator(".review-pending textarea").fill("事实清楚，同意立案")
    reviewer.locator(".review-pending").get_by_role("button", name="审核通过").click()
    reviewer.locator(".review-approved").wait_for()

    assert _lookup(reporter, case.number, code) == "审查中"

    chief = signed_in("suozhang")
    chief.get_by_role("link", name=f"待决定：{case.number} 立案/不予立案决定（法制审核已通过）").click()
    chief.get_by_role("heading", level=1, name=case.number).wait_for()
    _take(chief, "file")
    assert _state(chief) == "已立案"
    assert _lookup(reporter, case.number, code) == "已立案"

    # Investigation, then the transfer for prosecution through a second legal review.
    officer.goto(f"/cases/{case.pk}/")
    _take(officer, "start_investigation")
    assert _state(officer) == "侦查中"
    assert _lookup(reporter, case.number, code) == "办理中"
    officer.get_by_text("登记证据", exact=True).click()
    officer.get_by_label("证据描述").fill("现场提取撬痕照片及指纹")
    officer.get_by_role("button", name="登记", exact=True).click()
    officer.locator("#subject-submit_review").select_option("transfer")
    _take(officer, "submit_review")
    assert _state(officer) == "法制审核中"
    assert _lookup(reporter, case.number, code) == "办理中"

    reviewer.goto(f"/cases/{case.pk}/")
    reviewer.locator(".review-pending").get_by_role("button", name="审核通过").click()
    reviewer.locator(".review-pending").wait_for(state="detached")
    assert _lookup(reporter, case.number, code) == "办理中"

    chief.goto("/")
    chief.get_by_role("link", name=f"待决定：{case.number} 移送审查起诉（法制审核已通过）").click()
    chief.get_by_role("heading", level=1, name=case.number).wait_for()
    _take(chief, "transfer")
    assert _state(chief) == "已移送审查起诉"
    assert _lookup(reporter, case.number, code) == "已移送审查起诉"
    case.refresh_from_db()
    assert (case.state, case.terminal, case.outcome) == ("transferred", True, "transferred")
