"""阳光警务: the public progress lookup and reconsideration request."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from jingwu.cases import services
from jingwu.cases.models import Case, LookupThrottle, Reconsideration
from jingwu.cases.tests.world import World, accept, make_world, move, review, to_declined_notified
from jingwu.core.models import AuditEntry

pytestmark = pytest.mark.django_db

URL = "/public/cases/"


@pytest.fixture
def w() -> World:
    return make_world()


def _post(client: Client, number: str, code: str, *, addr: str = "203.0.113.7") -> Any:
    return client.post(URL, {"number": number, "code": code}, REMOTE_ADDR=addr)


def test_the_code_is_stored_only_as_a_hash(w: World) -> None:
    acceptance = accept(w)
    code = acceptance.lookup_code
    assert code is not None and re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", code)
    case = Case.objects.get(pk=acceptance.case.pk)
    assert code not in case.lookup_hash and code.replace("-", "") not in case.lookup_hash
    assert case.lookup_hash.count("$") >= 2  # a Django password hash
    doc = case.documents.get(kind="receipt")
    assert code not in doc.body_html and "本单位不保存" in doc.body_html
    assert code in acceptance.receipt_html


def test_right_code_shows_the_minimal_status(w: World, client: Client) -> None:
    acceptance = accept(w)
    response = _post(client, acceptance.case.number, acceptance.lookup_code.lower().replace("-", " "))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<dd class="public-status" id="public-status">已受理</dd>' in html
    assert f'<dd id="case-number">{acceptance.case.number}</dd>' in html
    # nothing personal, nothing internal
    for secret in ("电动自行车", "泉城路派出所", "wang", "theft", "盗窃"):
        assert secret not in html
    assert response["Cache-Control"].startswith("max-age=0")
    assert "Set-Cookie" not in response.headers


def test_wrong_code_and_unknown_number_look_the_same(w: World, client: Client) -> None:
    acceptance = accept(w)
    wrong = _post(client, acceptance.case.number, "2222-2222")
    unknown = _post(client, "A370102S012099000001", "2222-2222")
    unknown_right_code = _post(client, "A370102S012099000009", acceptance.lookup_code)
    assert wrong.status_code == unknown.status_code == unknown_right_code.status_code == 200
    assert wrong.content == unknown.content == unknown_right_code.content
    assert wrong["Content-Type"] == unknown["Content-Type"]
    assert "未查到与该案件编号和查询码相符的案件" in wrong.content.decode()
    assert acceptance.case.number not in wrong.content.decode()


def test_every_attempt_is_audited_without_the_code(w: World, client: Client) -> None:
    acceptance = accept(w)
    _post(client, acceptance.case.number, acceptance.lookup_code)
    _post(client, acceptance.case.number, "2222-2222")
    _post(client, "NOPE", "2222-2222")
    entries = AuditEntry.objects.filter(action="case.public_lookup").order_by("pk")
    assert [(e.object_id, e.outcome, e.details["result"], e.client_addr, e.unit_code) for e in entries] == [
        (acceptance.case.number, "allowed", "found", "203.0.113.7", "370102S01"),
        (acceptance.case.number, "denied", "no_match", "203.0.113.7", ""),
        ("NOPE", "denied", "no_match", "203.0.113.7", ""),
    ]
    code = acceptance.lookup_code
    assert not AuditEntry.objects.filter(details__icontains=code.replace("-", "")).exists()


def test_attempts_are_limited_per_client(w: World, client: Client, settings: Any) -> None:
    settings.JINGWU_LOOKUP_PER_CLIENT = 3
    acceptance = accept(w)
    for n in range(3):
        assert _post(client, f"A{n}", "2222-2222").status_code == 200
    blocked = _post(client, acceptance.case.number, acceptance.lookup_code)
    assert blocked.status_code == 429 and "查询次数过多" in blocked.content.decode()
    # another client is not affected
    assert _post(client, acceptance.case.number, acceptance.lookup_code, addr="198.51.100.2").status_code == 200
    assert AuditEntry.objects.filter(action="case.public_lookup", details__result="throttled").count() == 1


def test_attempts_are_limited_per_case_number(w: World, client: Client, settings: Any) -> None:
    settings.JINGWU_LOOKUP_PER_CASE = 2
    acceptance = accept(w)
    number = acceptance.case.number
    for addr in ("192.0.2.1", "192.0.2.2"):
        assert _post(client, number, "2222-2222", addr=addr).status_code == 200
    assert _post(client, number, acceptance.lookup_code, addr="192.0.2.3").status_code == 429
    # an unknown number is limited the same way
    for addr in ("192.0.2.1", "192.0.2.2"):
        _post(client, "A1", "2222-2222", addr=addr)
    unknown = _post(client, "A1", "2222-2222", addr="192.0.2.3")
    known = _post(client, number, "2222-2222", addr="192.0.2.4")
    assert unknown.status_code == known.status_code == 429 and unknown.content == known.content


def test_counters_are_per_window_and_purged(w: World, settings: Any) -> None:
    import datetime as dt

    settings.JINGWU_LOOKUP_PER_CLIENT = 1
    now = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
    assert services.public_lookup(number="X", code="C", client="a", now=now).outcome == "no_match"
    assert services.public_lookup(number="Y", code="C", client="a", now=now + dt.timedelta(minutes=59)
                                  ).outcome == "throttled"
    later = now + dt.timedelta(hours=1)
    assert services.public_lookup(number="Z", code="C", client="a", now=later).outcome == "no_match"
    assert LookupThrottle.objects.count() == 5  # ip:a, case:X, case:Y in the first hour; ip:a, case:Z next
    assert services.lookup_throttle_purge(now=later + dt.timedelta(hours=2)) == 3
    assert sorted(LookupThrottle.objects.values_list("key", "count")) == [("case:Z", 1), ("ip:a", 1)]


def test_the_status_follows_the_case(w: World) -> None:
    acceptance = accept(w)
    case, code = acceptance.case, acceptance.lookup_code

    def status() -> tuple[str, str]:
        r = services.public_lookup(number=case.number, code=code, client="t")
        return r.public_status, r.decline_reason

    assert status() == ("accepted", "")
    case = move(w, case, "begin_review", w.officer)
    assert status() == ("under_review", "")
    review(w, case, "filing")
    case = move(w, case, "file", w.chief)
    assert status() == ("filed", "")
    case = move(w, case, "start_investigation", w.officer)
    assert status() == ("investigating", "")


def test_a_declined_reporter_can_ask_for_reconsideration_online(w: World, client: Client) -> None:
    acceptance = accept(w)
    case = to_declined_notified(w, acceptance.case)
    page = _post(client, case.number, acceptance.lookup_code).content.decode()
    assert '<dd class="public-status" id="public-status">不予立案</dd>' in page
    assert '<dd id="decline-reason">没有犯罪事实</dd>' in page
    assert 'action="/public/cases/reconsideration"' in page
    response = client.post("/public/cases/reconsideration", {
        "number": case.number, "code": acceptance.lookup_code, "reason": "我有新的监控录像"}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    html = response.content.decode()
    assert "复议申请已提交" in html and '<dd class="public-status" id="public-status">审查中</dd>' in html
    assert 'action="/public/cases/reconsideration"' not in html
    rec = Reconsideration.objects.get(case=case)
    assert (rec.via, rec.reason, rec.requested_by) == ("public", "我有新的监控录像", None)
    assert Case.objects.get(pk=case.pk).state == "reconsideration"
    entry = AuditEntry.objects.get(action="case.request_reconsideration")
    assert (entry.actor_username, entry.details["via"], entry.client_addr) == ("", "public", "203.0.113.9")
    # asking again: not allowed, and a wrong code gets the plain no-match page
    again = client.post("/public/cases/reconsideration", {
        "number": case.number, "code": acceptance.lookup_code, "reason": "再次申请"}, REMOTE_ADDR="203.0.113.9")
    assert "现在不能申请复议" in again.content.decode()
    wrong = client.post("/public/cases/reconsideration", {
        "number": case.number, "code": "2222-2222", "reason": "x"}, REMOTE_ADDR="203.0.113.9")
    assert "未查到与该案件编号和查询码相符的案件" in wrong.content.decode()


def test_no_reconsideration_offered_for_a_case_not_declined(w: World, client: Client) -> None:
    acceptance = accept(w)
    assert services.public_reconsideration_request(number=acceptance.case.number, code=acceptance.lookup_code,
                                                   reason="不服", client="t") == "not_allowed"
    assert Reconsideration.objects.count() == 0


def test_a_reissued_receipt_replaces_the_code(w: World) -> None:
    acceptance = accept(w)
    again = services.receipt_reissue(actor=w.officer, case=acceptance.case)
    assert again.lookup_code is not None and again.lookup_code != acceptance.lookup_code
    assert services.public_lookup(number=acceptance.case.number, code=acceptance.lookup_code,
                                  client="t").outcome == "no_match"
    assert services.public_lookup(number=acceptance.case.number, code=again.lookup_code,
                                  client="t").outcome == "found"
    assert acceptance.case.documents.filter(kind="receipt").count() == 2


def test_the_lookup_page_needs_no_login_and_has_no_inline_script_or_style(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert "csrfmiddlewaretoken" not in html
    assert client.get(URL).content == response.content
