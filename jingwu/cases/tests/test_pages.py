"""The case pages: list (scoped, paged, constant queries), accepting a report, a case's page
with the actions the workflow offers this user, parties behind a stated purpose, the inbox."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from jingwu.cases import services
from jingwu.cases.models import Case, CaseTask
from jingwu.cases.tests.world import World, accept, make_world, move, review
from jingwu.core import services as core_services
from jingwu.core.models import AuditEntry, WorkItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    return make_world()


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _numbers(html: str) -> list[str]:
    return re.findall(r'<tr class="case-row">\s*<td><a href="/cases/\d+/">([^<]+)</a>', html)


def _no_inline(html: str) -> None:
    assert "<style" not in html and " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert re.search(r"<[^>]+\son[a-z]+=", html) is None


def test_the_list_is_scoped_paged_and_constant_in_queries(w: World, django_assert_num_queries: Any) -> None:
    mine = [accept(w).case for _ in range(3)]
    accept(w, unit=w.tree.station_a1b, actor=w.other_officer)
    client = _client(w.officer)
    with django_assert_num_queries(6):  # session, user, roles, home unit, count, one page of cases
        response = client.get("/cases/")
    html = response.content.decode()
    assert _numbers(html) == [c.number for c in reversed(mine)]
    assert "共 3 件" in html
    _no_inline(html)
    for _ in range(60):
        accept(w)
    with django_assert_num_queries(6):
        html = client.get("/cases/?page=2").content.decode()
    assert len(_numbers(html)) == 13 and "第 2 / 2 页" in html
    # the county chief sees both stations' cases
    assert "共 64 件" in _client(w.county_chief).get("/cases/").content.decode()
    # filters
    assert _numbers(client.get(f"/cases/?q={mine[0].number}").content.decode()) == [mine[0].number]
    assert _numbers(client.get("/cases/?type=dispute").content.decode()) == []
    assert _client(w.inspector).get("/cases/").status_code == 200
    assert _client(w.city_b_officer).get("/cases/").content.decode().count('class="case-row"') == 0


def test_the_count_stops_at_the_cap(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from jingwu.cases import views

    monkeypatch.setattr(views, "COUNT_CAP", 3)
    for _ in range(4):
        accept(w)
    html = _client(w.officer).get("/cases/").content.decode()
    assert "超过 3 件，请用筛选条件缩小范围" in html and "共 4 件" not in html
    assert "第 1 / 1 页" not in html and len(_numbers(html)) == 4
    monkeypatch.setattr(views, "COUNT_CAP", 4)
    assert "共 4 件" in _client(w.officer).get("/cases/").content.decode()


def test_a_user_without_case_roles_is_refused(w: World) -> None:
    from jingwu.core.tests.factories import make_user

    dispatcher = make_user("jie", [("dispatcher", w.station)])
    assert _client(dispatcher).get("/cases/").status_code == 403
    assert Client().get("/cases/").status_code == 302


def test_accepting_a_report_shows_the_receipt_with_the_code_once(w: World) -> None:
    client = _client(w.auxiliary)
    form = client.get("/cases/new")
    assert form.status_code == 200
    response = client.post("/cases/new", {"case_type": "criminal", "category": "theft", "summary": "手机被盗",
                                          "reported_at": "2026-01-05T09:30", "reporter_name": "报案人甲",
                                          "reporter_phone": "138 0013 8000"})
    assert response.status_code == 200
    html = response.content.decode()
    code = re.search(r'<strong class="lookup-code" id="lookup-code">([^<]+)</strong>', html)
    assert code is not None
    case = Case.objects.get()
    assert services.public_lookup(number=case.number, code=code.group(1), client="t").outcome == "found"
    assert case.parties.get().phone == "+8613800138000"
    assert "no-store" in response["Cache-Control"]
    _no_inline(html)
    # the detail page never shows the code again
    assert code.group(1) not in _client(w.officer).get(f"/cases/{case.pk}/").content.decode()


def test_a_bad_report_is_sent_back_with_the_field_marked(w: World) -> None:
    response = _client(w.officer).post("/cases/new", {"case_type": "criminal", "category": "beating",
                                                      "summary": "x", "reported_at": "2026-01-05T09:30"})
    assert response.status_code == 400
    assert "案由 beating 不属于刑事案件" in response.content.decode()
    assert Case.objects.count() == 0


def test_the_case_page_offers_what_the_workflow_allows_this_user(w: World) -> None:
    case = move(w, accept(w).case, "begin_review", w.officer)

    def actions(user: Any) -> dict[str, bool]:
        html = _client(user).get(f"/cases/{case.pk}/").content.decode()
        found = re.findall(r'<li class="action card" id="action-(\w+)">.*?<button type="submit"( disabled)?', html,
                           re.S)
        return {key: not disabled for key, disabled in found}

    assert actions(w.officer) == {"verify_clues": True}
    assert actions(w.auxiliary) == {}
    assert actions(w.chief) == {"verify_clues": True, "mark_complex": True, "file": False, "decline": False}
    review(w, case, "filing")
    assert actions(w.chief) == {"verify_clues": True, "mark_complex": True, "file": True, "decline": True}
    html = _client(w.chief).get(f"/cases/{case.pk}/").content.decode()
    _no_inline(html)
    assert AuditEntry.objects.filter(action="case.read", object_id=case.number).count() >= 4
    assert _client(w.other_officer).get(f"/cases/{case.pk}/").status_code == 404


def test_taking_a_transition_from_the_page(w: World) -> None:
    case = move(w, accept(w).case, "begin_review", w.officer)
    review(w, case, "filing")
    client = _client(w.chief)
    response = client.post(f"/cases/{case.pk}/transition", {"transition": "decline", "reason": "minor",
                                                             "note": "情节轻微"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/cases/{case.pk}/"
    assert "已办理：决定不予立案。" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "declined"
    refused = _client(w.officer).post(f"/cases/{case.pk}/transition", {"transition": "notify_decline"},
                                      follow=True)
    assert Case.objects.get(pk=case.pk).state == "decline_notified"
    assert "已办理" in refused.content.decode()
    wrong = client.post(f"/cases/{case.pk}/transition", {"transition": "file"}, follow=True)
    assert "案件当前状态不能进行此操作" in wrong.content.decode()


def test_legal_review_from_the_pages(w: World) -> None:
    case = move(w, accept(w).case, "begin_review", w.officer)
    _client(w.officer).post(f"/cases/{case.pk}/reviews", {"subject": "filing", "proposal": "拟立案"})
    item = WorkItem.objects.get(kind="cases.legal_review")
    assert (item.assignee_unit, item.status) == (w.legal_unit, "open")
    # it is in the legal reviewer's inbox
    assert "法制审核：" in _client(w.reviewer).get("/").content.decode()
    review_id = case.reviews.get().pk
    _client(w.reviewer).post(f"/cases/reviews/{review_id}/decide", {"outcome": "approve", "opinion": "同意立案"})
    assert case.reviews.get().outcome == "approved"
    assert WorkItem.objects.get(pk=item.pk).status == "done"
    # the filing decision it allows is now in the station chief's inbox, and only there
    approval = WorkItem.objects.get(kind="cases.approval")
    assert (approval.assignee_unit, approval.assignee_user, approval.status) == (w.station, None, "open")
    assert approval.title == f"待决定：{case.number} 立案/不予立案决定（法制审核已通过）"
    assert approval.title in _client(w.chief).get("/").content.decode()
    assert approval.title not in _client(w.reviewer).get("/").content.decode()
    _client(w.chief).post(f"/cases/{case.pk}/transition", {"transition": "file"})
    assert Case.objects.get(pk=case.pk).state == "filed"
    assert WorkItem.objects.get(pk=approval.pk).status == "done"


def test_parties_need_a_stated_purpose(w: World) -> None:
    acceptance = accept(w, parties=[services.PartyIn("reporter", name="报案人乙")])
    case = acceptance.case
    core_services.purpose_clear(actor=w.officer2)
    html = _client(w.officer2).get(f"/cases/{case.pk}/").content.decode()
    assert "报案人乙" not in html and "设置查询事由" in html
    core_services.purpose_set(actor=w.officer2, text="核实报案人身份", ref_type="case", ref_id=case.number)
    html = _client(w.officer2).get(f"/cases/{case.pk}/").content.decode()
    assert "报案人乙" in html
    read = AuditEntry.objects.filter(action="person.read", object_type="case_parties", actor_username="sun").get()
    assert read.purpose.startswith("核实报案人身份") and read.object_id == case.number
    # an inspector may see the case but holds no person.read
    assert "报案人乙" not in _client(w.inspector).get(f"/cases/{case.pk}/").content.decode()


def test_penalty_from_the_page_asks_for_a_purpose_first(w: World) -> None:
    case = move(w, accept(w, "administrative", "beating").case, "investigate", w.officer)
    suspect = services.party_add(actor=w.officer, case=case, party=services.PartyIn("suspect", name="某丁"))
    review(w, case, "penalty")
    core_services.purpose_clear(actor=w.chief)
    response = _client(w.chief).post(f"/cases/{case.pk}/transition", {
        "transition": "penalize", "penalty_kind": "warning", "penalty_party": suspect.pk})
    assert response.status_code == 302 and response["Location"].startswith("/purpose?next=")
    assert Case.objects.get(pk=case.pk).state == "investigation"


def test_tasks_go_to_the_assignee_inbox_and_count_as_activity(w: World) -> None:
    case = accept(w).case
    client = _client(w.officer)
    client.post(f"/cases/{case.pk}/tasks", {"title": "调取监控", "assignee": "fu"})
    task = CaseTask.objects.get()
    item = WorkItem.objects.get(kind="cases.task")
    assert (item.assignee_user, item.title, item.url) == (w.auxiliary, f"{case.number} 调取监控", f"/cases/{case.pk}/")
    assert f"{case.number} 调取监控" in _client(w.auxiliary).get("/").content.decode()
    _client(w.auxiliary).post(f"/cases/tasks/{task.pk}/done", {"result": "已调取"})
    task.refresh_from_db()
    assert (task.status, task.result) == ("done", "已调取")
    assert WorkItem.objects.get(pk=item.pk).status == "done"


def test_naming_the_officer_in_charge(w: World) -> None:
    case = accept(w).case
    _client(w.officer).post(f"/cases/{case.pk}/owner", {"owner": "sun"})
    assert Case.objects.get(pk=case.pk).owner == w.officer2
    item = WorkItem.objects.get(kind="cases.case")
    assert (item.assignee_user, item.title) == (w.officer2, f"承办案件 {case.number}")
    # deadlines now go to them
    _client(w.officer).post(f"/cases/{case.pk}/owner", {"owner": "zhao"})  # another station's officer
    assert Case.objects.get(pk=case.pk).owner == w.officer2
    refused = _client(w.auxiliary).post(f"/cases/{case.pk}/owner", {"owner": "wang"}, follow=True)
    assert "您无权进行此操作" in refused.content.decode()


def test_evidence_and_parties_from_the_page(w: World) -> None:
    case = accept(w).case
    client = _client(w.auxiliary)
    client.post(f"/cases/{case.pk}/evidence", {"kind": "physical", "description": "撬锁工具一把"})
    client.post(f"/cases/{case.pk}/parties", {"role": "witness", "name": "目击者"})
    assert list(case.evidence.values_list("description", flat=True)) == ["撬锁工具一把"]
    assert list(case.parties.values_list("role", "name")) == [("witness", "目击者")]


def test_a_case_page_in_english(w: World) -> None:
    case = accept(w).case
    client = _client(w.officer)
    client.cookies["django_language"] = "en"
    html = client.get(f"/cases/{case.pk}/").content.decode()
    assert "Deadlines" in html and "Filing review" in html


def test_coercive_measures_from_the_pages(w: World) -> None:
    from jingwu.cases.models import CoerciveMeasure
    from jingwu.cases.tests.world import to_filed

    case = move(w, to_filed(w, accept(w).case), "start_investigation", w.officer)
    suspect = services.party_add(actor=w.officer, case=case, party=services.PartyIn("suspect", name="吴某"))
    review(w, case, "measure", measure="detention")
    chief = _client(w.chief)
    # the officer may not order detention; the chief may
    refused = _client(w.officer).post(f"/cases/{case.pk}/measures", {"kind": "detention", "party": suspect.pk},
                                      follow=True)
    assert "您无权进行此操作" in refused.content.decode() and not CoerciveMeasure.objects.exists()
    chief.post(f"/cases/{case.pk}/measures", {"kind": "detention", "party": suspect.pk, "note": "现行犯"})
    m = CoerciveMeasure.objects.get(case=case)
    assert (m.kind, m.party_id, m.decided_by) == ("detention", suspect.pk, w.chief)
    chief.post(f"/cases/measures/{m.pk}/extend", {"note": "流窜作案"})
    assert m.deadlines.get().extensions == 1
    # another station's chief cannot even find it
    assert _client(w.other_chief).post(f"/cases/measures/{m.pk}/end", {"reason": "释放"}).status_code == 404
    empty = chief.post(f"/cases/measures/{m.pk}/end", {"reason": ""}, follow=True)
    assert "请填写解除或变更的理由" in empty.content.decode()
    chief.post(f"/cases/measures/{m.pk}/end", {"reason": "转为取保候审"})
    m.refresh_from_db()
    assert m.end_reason == "转为取保候审" and m.deadlines.get().stopped_at is not None
