"""The portal's pages: my tasks, stated purpose, audit log, language switch, health and the API."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jingwu.core import audit, services
from jingwu.core.models import AccessPurpose, AuditEntry, Unit, User, WorkItem, WorkItemPriority
from jingwu.core.tests.factories import Tree, make_tree, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree() -> Tree:
    return make_tree()


@pytest.fixture
def officer(tree: Tree) -> User:
    return make_user("wang", [("officer", tree.station_a1a)])


@pytest.fixture
def officer_client(client: Client, officer: User) -> Client:
    client.force_login(officer)
    return client


def _task(title: str, *, user: User | None = None, unit: Unit | None = None, priority: int = WorkItemPriority.NORMAL,
          due_in_hours: float | None = None, **extra: str) -> WorkItem:
    due = timezone.now() + timedelta(hours=due_in_hours) if due_in_hours is not None else None
    return services.workitem_create(actor=None, title=title, kind="test", assignee_user=user, assignee_unit=unit,
                                    priority=priority, due_at=due, **extra)


def _titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="task-title">(?:<a href="[^"]*">)?([^<]+)', html)


# --- my tasks -------------------------------------------------------------------

def test_inbox_shows_own_and_own_unit_items_in_order(officer_client: Client, officer: User, tree: Tree,
                                                     django_assert_num_queries: Any) -> None:
    other = make_user("zhao", [("officer", tree.station_a1b)])
    _task("普通-明天", user=officer, due_in_hours=24)
    _task("紧急-后天", user=officer, priority=WorkItemPriority.URGENT, due_in_hours=48)
    _task("低-已逾期", user=officer, priority=WorkItemPriority.LOW, due_in_hours=-2)
    _task("本所共享-高", unit=tree.station_a1a, priority=WorkItemPriority.HIGH)
    _task("普通-无期限", user=officer)
    _task("别的派出所", unit=tree.station_a1b)
    _task("上级分局", unit=tree.county_a1)
    _task("别人的", user=other)
    done = _task("已完成的", user=officer)
    services.workitem_set_status(actor=officer, item=done, status="done")

    with django_assert_num_queries(7):
        # session, user, roles, home unit, purpose, count, one page of items (whatever its length)
        response = officer_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _titles(html) == ["低-已逾期", "紧急-后天", "本所共享-高", "普通-明天", "普通-无期限"]
    assert "共 5 项" in html
    assert html.count('<strong class="overdue-flag">已逾期</strong>') == 1
    assert "泉城路派出所（本单位共享）" in html


def test_inbox_row_shows_kind_priority_due_and_source_link(officer_client: Client, officer: User) -> None:
    item = _task("回访报案人", user=officer, priority=WorkItemPriority.HIGH, due_in_hours=-1,
                 source_app="cases", source_type="case", source_id="A2026-7", url="/cases/7")
    html = officer_client.get("/").content.decode()
    row = html[html.index(f'<li id="task-{item.pk}"'):]
    row = row[: row.index("</li>")]
    assert 'class="task prio-2 status-open overdue"' in row
    assert '<span class="badge prio-badge">高</span>' in row
    assert '<h2 class="task-title"><a href="/cases/7">回访报案人</a></h2>' in row
    assert '<a href="/cases/7">cases #A2026-7</a>' in row
    assert "<dd>test</dd>" in row
    assert f'hx-post="/tasks/{item.pk}/status"' in row


def test_empty_inbox_says_so(officer_client: Client) -> None:
    html = officer_client.get("/").content.decode()
    assert '<p class="empty-title">暂无待办</p>' in html
    assert 'class="tasks"' not in html


def test_header_shows_name_unit_roles_and_menu(officer_client: Client) -> None:
    html = officer_client.get("/").content.decode()
    assert '<strong class="who-name">wang</strong>' in html
    assert '<span class="who-unit">泉城路派出所</span>' in html
    assert '<span class="role-tag">民警</span>' in html
    assert '<a href="/" aria-current="page">我的待办</a>' in html
    assert '<a href="/purpose">查询事由</a>' in html
    assert "审计日志" not in html  # an officer may not read the audit log


def test_mark_done_removes_the_item_from_the_inbox(officer_client: Client, officer: User) -> None:
    item = _task("核查线索", user=officer)
    response = officer_client.post(f"/tasks/{item.pk}/status", {"status": "done"})
    assert (response.status_code, response["Location"]) == (302, "/")
    item.refresh_from_db()
    assert item.status == "done"
    assert item.completed_at is not None
    home = officer_client.get("/").content.decode()
    assert "已更新：核查线索" in home
    assert "暂无待办" in home
    entry = AuditEntry.objects.filter(action="workitem.status").get()
    assert (entry.actor_username, entry.object_id, entry.details) == ("wang", str(item.pk), {"status": "done"})


def test_htmx_status_change_returns_the_row(officer_client: Client, officer: User) -> None:
    item = _task("核查线索", user=officer)
    response = officer_client.post(f"/tasks/{item.pk}/status", {"status": "in_progress"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<li id="task-{item.pk}" class="task prio-3 status-in_progress">')
    assert '<dd class="status">办理中</dd>' in html
    assert "开始办理" not in html
    assert "标记完成" in html
    done = officer_client.post(f"/tasks/{item.pk}/status", {"status": "done"}, HTTP_HX_REQUEST="true")
    assert '<dd class="status">已完成</dd>' in done.content.decode()
    assert "<form" not in done.content.decode()


def test_an_impossible_move_is_explained(officer_client: Client, officer: User) -> None:
    item = _task("核查线索", user=officer)
    services.workitem_set_status(actor=officer, item=item, status="done")
    response = officer_client.post(f"/tasks/{item.pk}/status", {"status": "in_progress"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert '<p class="field-error" role="alert">该待办当前状态下不能进行此操作。</p>' in response.content.decode()
    assert officer_client.post(f"/tasks/{item.pk}/status", {"status": "bogus"}).status_code == 400


def test_someone_elses_item_cannot_be_changed(officer_client: Client, tree: Tree) -> None:
    other = make_user("zhao", [("officer", tree.station_a1b)])
    item = _task("别人的", user=other)
    assert officer_client.post(f"/tasks/{item.pk}/status", {"status": "done"}).status_code == 403
    item.refresh_from_db()
    assert item.status == "open"
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None
    assert (entry.action, entry.outcome, entry.object_id) == ("workitem.update", "denied", str(item.pk))
    assert officer_client.post("/tasks/999999/status", {"status": "done"}).status_code == 404


def test_signed_out_visitor_is_sent_to_login(client: Client) -> None:
    for path in ("/", "/purpose", "/audit"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, f"/login?next={path}")


def test_user_without_portal_use_gets_a_clear_403(client: Client, tree: Tree) -> None:
    nobody = make_user("norole")
    partner = make_user("bank_feed", [("partner", tree.province)])
    for user in (nobody, partner):
        client.force_login(user)
        response = client.get("/")
        assert response.status_code == 403
        html = response.content.decode()
        assert "<h1>无权访问</h1>" in html
        assert "您的账号没有访问此页面的权限。此次访问已记入审计日志。" in html
        entry = AuditEntry.objects.order_by("-id").first()
        assert entry is not None
        assert (entry.actor_username, entry.action, entry.outcome, entry.object_id) == (
            user.username, "portal.use", "denied", "/")


# --- stated purpose ------------------------------------------------------------------

def test_purpose_set_shows_in_the_banner_and_clears(officer_client: Client, officer: User) -> None:
    assert "尚未设置查询事由" in officer_client.get("/").content.decode()
    response = officer_client.post("/purpose", {"text": "核查盗窃案嫌疑人", "ref_type": "case", "ref_id": "A2026-1",
                                                "hours": "4", "next": "/"})
    assert (response.status_code, response["Location"]) == (302, "/")
    purpose = AccessPurpose.objects.get(user=officer)
    assert (purpose.text, purpose.ref_type, purpose.ref_id) == ("核查盗窃案嫌疑人", "case", "A2026-1")
    assert round((purpose.expires_at - purpose.set_at).total_seconds()) == 4 * 3600
    expires = timezone.localtime(purpose.expires_at).strftime("%m-%d %H:%M")
    html = officer_client.get("/").content.decode()
    assert f"当前查询事由：<strong>核查盗窃案嫌疑人</strong>（有效至 {expires}）" in html
    assert '<span class="ref">案件 A2026-1</span>' in html

    page = officer_client.get("/purpose").content.decode()
    assert "<dd>核查盗窃案嫌疑人</dd>" in page
    cleared = officer_client.post("/purpose/clear")
    assert cleared["Location"] == "/purpose"
    assert "尚未设置查询事由" in officer_client.get("/").content.decode()
    assert list(AuditEntry.objects.filter(action__startswith="purpose.").values_list("action", flat=True)
                .order_by("id")) == ["purpose.set", "purpose.clear"]


def test_purpose_validation_errors_sit_next_to_their_fields(officer_client: Client, officer: User) -> None:
    response = officer_client.post("/purpose", {"text": "查人", "ref_type": "", "ref_id": "", "hours": "8"})
    assert response.status_code == 400
    html = response.content.decode()
    assert '<small id="id_text-error" class="field-error">事由至少需要 4 个字。</small>' in html
    assert 'aria-describedby="id_text-error id_text-help"' in html

    response = officer_client.post("/purpose", {"text": "核查盗窃案嫌疑人", "ref_type": "case", "ref_id": " ",
                                                "hours": "8"})
    assert '<small id="id_ref_id-error" class="field-error">请填写关联的案件、警情或任务编号。</small>' \
        in response.content.decode()

    response = officer_client.post("/purpose", {"text": "核查盗窃案嫌疑人", "ref_type": "person", "hours": "99"})
    html = response.content.decode()
    assert 'id="id_ref_type-error"' in html
    assert 'id="id_hours-error"' in html
    assert not AccessPurpose.objects.filter(user=officer).exists()


def test_purpose_page_shows_the_current_purpose(officer_client: Client, officer: User) -> None:
    assert '<p class="muted">未设置。</p>' in officer_client.get("/purpose").content.decode()
    services.purpose_set(actor=officer, text="巡查走访核实住户")
    html = officer_client.get("/purpose").content.decode()
    assert "<dd>巡查走访核实住户</dd>" in html
    assert "清除事由" in html


# --- audit log -----------------------------------------------------------------------

def test_audit_log_is_scoped_filtered_and_itself_audited(client: Client, tree: Tree) -> None:
    inspector = make_user("du", [("inspector", tree.city_a)])
    in_city_a = make_user("wang", [("officer", tree.station_a1a)])
    in_city_b = make_user("qing", [("officer", tree.city_b)])
    audit.record(actor=in_city_a, action="person.read", object_type="person", object_id="7", purpose="核查")
    audit.record(actor=in_city_b, action="person.read", object_type="person", object_id="8", purpose="核查")
    audit.record(actor=in_city_a, action="person.read", object_type="person", object_id="9", outcome="denied")
    client.force_login(inspector)

    html = client.get("/audit").content.decode()
    assert "<td>wang</td>" in html
    assert "<td>qing</td>" not in html
    assert "<td>370200</td>" not in html

    filtered = client.get("/audit", {"actor": "wang", "action": "person.", "outcome": "denied"}).content.decode()
    assert filtered.count("<tr>") == 2  # header + one row
    assert "<td>person 9</td>" in filtered

    reads = list(AuditEntry.objects.filter(action="audit.read").order_by("id"))
    assert [(r.actor_username, r.outcome, r.details) for r in reads] == [
        ("du", "allowed", {"actor_username": "", "action": "", "outcome": ""}),
        ("du", "allowed", {"actor_username": "wang", "action": "person.", "outcome": "denied"}),
    ]


def test_audit_log_is_refused_to_an_officer(officer_client: Client) -> None:
    assert officer_client.get("/audit").status_code == 403


# --- language, health, API --------------------------------------------------------------

def test_english_switch_changes_the_page(officer_client: Client) -> None:
    html = officer_client.get("/").content.decode()
    assert '<html lang="zh-Hans"' in html
    assert "<h1>我的待办</h1>" in html
    response = officer_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert (response.status_code, response["Location"]) == (302, "/")
    html = officer_client.get("/").content.decode()
    assert '<html lang="en"' in html
    assert "<h1>My tasks</h1>" in html
    assert '<p class="empty-title">Nothing to do</p>' in html
    officer_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "<h1>我的待办</h1>" in officer_client.get("/").content.decode()


def test_healthz_answers_json(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_schema_is_served(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert "/api/me" in response.json()["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in docs.content.decode()


def test_api_me_with_the_session(officer_client: Client) -> None:
    response = officer_client.get("/api/me")
    assert response.status_code == 200
    assert response.json() == {"username": "wang", "display_name": "wang",
                                "roles": [{"role": "officer", "unit_code": "370102S01", "unit_name": "泉城路派出所"}]}


def test_api_me_without_a_session_is_refused(client: Client) -> None:
    assert client.get("/api/me").status_code == 401
