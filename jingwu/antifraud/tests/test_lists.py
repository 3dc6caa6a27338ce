"""Managing watch lists and rule sets: the pages, the API and the services; who may; every
change audited; the engine taking up a change from its next batch, in the same process."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jingwu.antifraud import early_warning, rules, watchlists
from jingwu.antifraud.tests.conftest import ACCOUNT_A, Desk
from jingwu.antifraud.tests.test_early_warning import FRAUD_PHONE, NOW, item, push, warning_of
from jingwu.antifraud.warning_models import FraudWarning, RuleSet, Signal, WatchListEntry
from jingwu.core import identifiers, tokens
from jingwu.core.models import AuditEntry, User
from jingwu.core.services import ServiceError
from jingwu.core.tests.factories import TEST_PASSWORD, make_user

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
LATER = NOW + dt.timedelta(days=365)
SECOND = identifiers.make_resident_id("370102", dt.date(1990, 2, 1), 3)  # not elderly: one rule hits
THIRD = identifiers.make_resident_id("370102", dt.date(1991, 3, 2), 4)


@pytest.fixture
def partner(desk: Desk) -> User:
    user = make_user("cmcc_gateway", [("partner", desk.tree.city_a)])
    early_warning.signal_partner_bind(actor=None, code="CMCC", user=user)
    return user


def login(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def audited(action: str) -> list[tuple[str, str]]:
    return [(e.actor.username if e.actor else "", e.object_id) for e in AuditEntry.objects.filter(action=action)
            .order_by("id")]


def entry(kind: str, value: str, source: str = "部反诈中心", **extra: Any) -> watchlists.EntryIn:
    return watchlists.EntryIn(kind=kind, value=value, source=source, **extra)


# --- watch lists: the services and the engine ------------------------------------------------

def test_an_entry_added_then_retired_counts_from_the_next_batch_on(desk: Desk, partner: User) -> None:
    push(partner, item("before"), now=NOW)
    assert Signal.objects.get(message_id="CMCC:before").score == 0  # the process's lists are loaded now
    added = watchlists.watchlist_add_batch(actor=desk.analyst, entries=[(0, entry("phone", "171 0000 1234"))],
                                           now=NOW)
    push(partner, item("listed", at=NOW + dt.timedelta(minutes=1)), now=NOW + dt.timedelta(minutes=1))
    assert (Signal.objects.get(message_id="CMCC:listed").score, warning_of().level) == (40, "medium")

    listed = WatchListEntry.objects.get(pk=added.ids[0])
    assert (listed.value, listed.added_by, listed.expires_at) == (FRAUD_PHONE, desk.analyst, None)
    retired = watchlists.watchlist_retire(actor=desk.analyst, entry=listed, reason="号码已回收，误列",
                                          now=NOW + dt.timedelta(minutes=2))
    assert (retired.retired_at, retired.expires_at, retired.retire_reason) == (
        NOW + dt.timedelta(minutes=2), NOW + dt.timedelta(minutes=2), "号码已回收，误列")
    push(partner, item("after", at=NOW + dt.timedelta(minutes=3)), now=NOW + dt.timedelta(minutes=3))
    assert Signal.objects.get(message_id="CMCC:after").score == 0
    with pytest.raises(ServiceError, match="已撤销"):
        watchlists.watchlist_retire(actor=desk.analyst, entry=listed, reason="again")
    assert audited("antifraud.watchlist_retire") == [("fz_analyst", str(listed.pk))]
    assert len(audited("antifraud.watchlist_batch")) == 1

    # Listing it again from the same source brings the entry back (one row, not two).
    again = watchlists.watchlist_add_batch(actor=desk.analyst, entries=[(0, entry("phone", FRAUD_PHONE))],
                                           now=NOW + dt.timedelta(minutes=4))
    assert (again.added, again.renewed, again.ids) == (0, 1, [listed.pk])
    assert WatchListEntry.objects.get().retired_at is None


def test_a_batch_with_bad_rows_names_each_and_writes_nothing(desk: Desk) -> None:
    rows = [
        (2, entry("phone", "17100001234")),
        (3, entry("fax", "12345")),
        (4, entry("account", "6222 0212 3456 7890 128", bank="ICBC", expires_at=NOW - dt.timedelta(days=1))),
        (5, entry("url", "", source="")),
        (6, entry("phone", "+86 171 0000 1234")),  # row 2 written otherwise
    ]
    with pytest.raises(watchlists.BatchRejected) as caught:
        watchlists.watchlist_add_batch(actor=desk.analyst, entries=rows, where="CSV", now=NOW)
    assert [(e.row, e.field) for e in caught.value.errors] == [
        (3, "kind"), (4, "expires_at"), (5, "value"), (5, "source"), (6, "value")]
    assert [e.reason for e in caught.value.errors] == [
        "名单类型须为 phone, account, url, app 之一", "失效时间已过", "不能为空", "须注明名单来源", "与第 2 行重复"]
    assert WatchListEntry.objects.count() == 0
    assert audited("antifraud.watchlist_batch") == []


def test_only_the_centre_manages_lists_and_refusals_are_audited(desk: Desk) -> None:
    with pytest.raises(PermissionDenied):
        watchlists.watchlist_add_batch(actor=desk.officer, entries=[(0, entry("phone", FRAUD_PHONE))])
    with pytest.raises(PermissionDenied):
        watchlists.ruleset_draft(actor=desk.investigator)
    assert list(AuditEntry.objects.filter(outcome="denied").values_list("actor__username", "action")
                .order_by("id")) == [("mj_officer", "fraud.lists_manage"), ("zc_investigator", "fraud.lists_manage")]
    assert login(desk.officer).get("/antifraud/lists/").status_code == 403
    assert login(desk.officer).get("/antifraud/rules/").status_code == 403


# --- the page ---------------------------------------------------------------------------------

CSV_BAD = ("kind,value,source,expires_at,note,bank\n"
           "phone,171 0000 1234,部反诈中心,2099-12-31,刷单团伙,\n"
           "fax,6222021234567890128,工商银行,,,\n"
           "电话,12,部反诈中心,,,\n"
           "url,shua-dan.example.com/task,部反诈中心,next week,,\n")


def test_a_csv_with_bad_rows_is_shown_row_by_row_and_kept_for_correction(desk: Desk) -> None:
    client = login(desk.analyst)
    page = client.post("/antifraud/lists/upload", {"text": CSV_BAD})
    assert page.status_code == 400
    html = page.content.decode()
    errors = html.split('class="striped csv-errors"')[1].split("</table>")[0]
    assert errors.count("<tr><td>") == 3
    assert "<tr><td>3</td><td>kind</td>" in errors
    assert "<tr><td>4</td><td>value</td>" in errors  # not a phone number
    assert "<tr><td>5</td><td>expires_at</td>" in errors
    assert "刷单团伙" in html.split('name="text"')[1]  # the text stays in the box
    assert WatchListEntry.objects.count() == 0

    fixed = (CSV_BAD.replace("fax,", "account,").replace("工商银行,,,", "工商银行,,,ICBC")
             .replace("电话,12,", "电话,17100005678,").replace("next week", "2099-06-30"))
    done = client.post("/antifraud/lists/upload", {"text": fixed})
    assert (done.status_code, done["Location"]) == (302, "/antifraud/lists/")
    assert sorted(WatchListEntry.objects.values_list("kind", "value", "source", "expires_at")) == [
        ("account", ACCOUNT_A, "工商银行", None),
        ("phone", "+8617100001234", "部反诈中心", dt.datetime(2100, 1, 1, tzinfo=SHANGHAI)),
        ("phone", "+8617100005678", "部反诈中心", None),
        ("url", "http://shua-dan.example.com/task", "部反诈中心", dt.datetime(2099, 7, 1, tzinfo=SHANGHAI))]
    assert len(audited("antifraud.watchlist_batch")) == 1


def test_the_page_filters_adds_and_retires(desk: Desk) -> None:
    watchlists.watchlist_add_batch(actor=desk.analyst, entries=[
        (0, entry("phone", "17100001234")), (1, entry("app", "FastTask", source="举报")),
        (2, entry("url", "old.example.com", expires_at=LATER))], now=NOW)
    client = login(desk.analyst)
    home = client.get("/antifraud/")
    assert home.status_code == 200 and 'href="/antifraud/lists/"' in home.content.decode()
    html = client.get("/antifraud/lists/?kind=app&state=live").content.decode()
    assert html.count("<tr data-entry=") == 1 and "fasttask" in html
    assert client.get("/antifraud/lists/?source=举报").content.decode().count("<tr data-entry=") == 1
    assert client.get("/antifraud/lists/?q=1710000").content.decode().count("<tr data-entry=") == 1

    added = client.post("/antifraud/lists/add", {"kind": "account", "value": "6222021234567890128", "bank": "ICBC",
                                                 "source": "部反诈中心", "expires_at": "2099-01-01T08:00",
                                                 "note": "涉诈账户"})
    assert added.status_code == 302
    account = WatchListEntry.objects.get(kind="account")
    assert (account.value, account.expires_at, account.note) == (
        ACCOUNT_A, dt.datetime(2099, 1, 1, 8, tzinfo=SHANGHAI), "涉诈账户")
    bad = client.post("/antifraud/lists/add", {"kind": "phone", "value": "12", "source": "x"}, follow=True)
    assert "号码/账户/网址/应用：" in bad.content.decode()

    phone = WatchListEntry.objects.get(kind="phone")
    assert client.post(f"/antifraud/lists/{phone.pk}/retire", {"reason": ""}).status_code == 302
    assert WatchListEntry.objects.get(pk=phone.pk).retired_at is None  # a reason is required
    client.post(f"/antifraud/lists/{phone.pk}/retire", {"reason": "误列"})
    assert WatchListEntry.objects.get(pk=phone.pk).retired_by == desk.analyst
    retired = client.get("/antifraud/lists/?state=retired").content.decode()
    assert retired.count("<tr data-entry=") == 1 and "误列" in retired
    assert client.get("/antifraud/lists/").content.decode().count("<tr data-entry=") == 3


# --- the API ----------------------------------------------------------------------------------

def bearer(user: User, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.token_create(actor=None, user=user, scopes=list(scopes), days=1).secret}"}


def test_the_api_lists_adds_a_batch_and_retires(desk: Desk, client: Client) -> None:
    auth = bearer(desk.analyst, "antifraud.lists", "read")
    bad = client.post("/api/antifraud/watchlist", data=json.dumps({"entries": [
        {"kind": "phone", "value": "17100001234", "source": "部反诈中心"},
        {"kind": "fax", "value": "6222021234567890128", "source": "部反诈中心"},
        {"kind": "url", "value": "ok.example.com", "source": "部反诈中心", "expires_at": "2020-01-01T00:00:00+08:00"},
    ]}), content_type="application/json", headers=auth)
    assert bad.status_code == 400
    body = bad.json()
    assert (body["code"], body["field"]) == ("invalid", "entries[1].kind")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(1, "entries[1].kind"), (2, "entries[2].expires_at")]
    assert WatchListEntry.objects.count() == 0

    good = client.post("/api/antifraud/watchlist", data=json.dumps({"entries": [
        {"kind": "phone", "value": "17100001234", "source": "部反诈中心", "note": "ring 7"},
        {"kind": "account", "value": "6222021234567890128", "source": "部反诈中心", "bank": "icbc"}]}),
        content_type="application/json", headers=auth)
    assert good.status_code == 201
    assert (good.json()["added"], good.json()["renewed"], len(good.json()["ids"])) == (2, 0, 2)
    listed = client.get("/api/antifraud/watchlist?kind=phone", headers=auth).json()
    assert (listed["count"], listed["items"][0]["value"], listed["items"][0]["note"]) == (1, FRAUD_PHONE, "ring 7")
    assert client.get("/api/antifraud/watchlist?state=nonsense", headers=auth).status_code == 400

    phone = listed["items"][0]["id"]
    retired = client.post(f"/api/antifraud/watchlist/{phone}/retire", data={"reason": "误列"},
                          content_type="application/json", headers=auth)
    assert (retired.status_code, retired.json()["retire_reason"]) == (200, "误列")
    again = client.post(f"/api/antifraud/watchlist/{phone}/retire", data={"reason": "误列"},
                        content_type="application/json", headers=auth)
    assert (again.status_code, again.json()["field"]) == (400, "entry")
    assert client.post("/api/antifraud/watchlist/999999/retire", data={"reason": "x"},
                       content_type="application/json", headers=auth).status_code == 404
    assert client.get("/api/antifraud/watchlist?state=live", headers=auth).json()["count"] == 1

    read_only = bearer(desk.analyst, "read")
    assert client.post("/api/antifraud/watchlist", data={"entries": []}, content_type="application/json",
                       headers=read_only).status_code == 403
    officer = bearer(desk.officer, "antifraud.lists", "read")
    assert client.get("/api/antifraud/watchlist", headers=officer).status_code == 403


# --- rule sets -------------------------------------------------------------------------------

def test_a_draft_is_edited_row_by_row_with_checks_then_published_and_the_engine_uses_it(
        desk: Desk, partner: User) -> None:
    early_warning.watchlist_add(actor=desk.analyst, kind="phone", raw=FRAUD_PHONE, source="部反诈中心")
    push(partner, item("v1"), now=NOW)
    assert FraudWarning.objects.get().rule_version == 1  # the built-in defaults

    draft = watchlists.ruleset_draft(actor=desk.analyst, note="电话名单加重")
    assert (draft.version, draft.active, draft.published_at) == (2, False, None)
    assert draft.rules["rules"] == rules.DEFAULT_RULES["rules"]
    ids = [r["id"] for r in draft.rules["rules"]]
    index, new = ids.index("list_phone"), len(ids)
    for at, bad, named in (
            (index, {"id": "list_phone", "kind": "list_hit", "list": "fax", "weight": 90}, f"rules[{index}].list"),
            (index, {"id": "list_phone", "kind": "list_hit", "list": "phone", "weight": 0}, f"rules[{index}].weight"),
            # Renamed to an id another rule has: the later of the two is named.
            (index, {"id": "night", "kind": "list_hit", "list": "phone", "weight": 90},
             f"rules[{ids.index('night')}].id"),
            (None, {"id": "x", "kind": "velocity", "per": "citizen", "count": 3, "weight": 5},
             f"rules[{new}].window_seconds"),
            (None, {"id": "x", "kind": "time_of_day", "from_hour": 6, "to_hour": 6, "weight": 5},
             f"rules[{new}].to_hour")):
        with pytest.raises(ServiceError) as caught:
            watchlists.ruleset_rule_save(actor=desk.analyst, draft=draft, index=at, rule=bad)
        assert caught.value.field == named
    assert RuleSet.objects.get(version=2).rules["rules"] == rules.DEFAULT_RULES["rules"]  # nothing kept
    watchlists.ruleset_rule_save(actor=desk.analyst, draft=draft, index=index,
                                 rule={"id": "list_phone", "kind": "list_hit", "list": "phone", "weight": 90})
    saved = AuditEntry.objects.get(action="antifraud.ruleset_rule_save")
    assert saved.details == {"index": index, "before": rules.DEFAULT_RULES["rules"][index],
                             "rule": {"id": "list_phone", "kind": "list_hit", "list": "phone", "weight": 90}}
    push(partner, item("draft", citizen=SECOND), now=NOW)
    assert FraudWarning.objects.get(citizen_key=f"id:{SECOND}").rule_version == 1  # drafts decide nothing

    watchlists.ruleset_activate(actor=desk.analyst, ruleset=draft)
    assert list(RuleSet.objects.filter(active=True).values_list("version", flat=True)) == [2]
    push(partner, item("v2", citizen=THIRD), now=NOW)
    w = FraudWarning.objects.get(citizen_key=f"id:{THIRD}")
    assert (w.rule_version, w.score, w.level) == (2, 90, "high")
    with pytest.raises(ServiceError, match="已发布"):
        watchlists.ruleset_rule_delete(actor=desk.analyst, draft=draft, index=0)

    # Falling back: a second version, then the first published one made active again.
    second = watchlists.ruleset_draft(actor=desk.analyst)
    watchlists.ruleset_levels_save(actor=desk.analyst, draft=second, high=100, medium=50, low=20)
    with pytest.raises(ServiceError) as caught:
        watchlists.ruleset_levels_save(actor=desk.analyst, draft=second, high=10, medium=50, low=20)
    assert caught.value.field == "levels"
    watchlists.ruleset_activate(actor=desk.analyst, ruleset=second)
    watchlists.ruleset_activate(actor=desk.analyst, ruleset=RuleSet.objects.get(version=2))
    assert early_warning.active_ruleset()[0] == 2
    assert [(a, v) for a, v in AuditEntry.objects.filter(action__startswith="antifraud.ruleset")
            .order_by("id").values_list("action", "object_id")] == [
        ("antifraud.ruleset_draft", "2"), ("antifraud.ruleset_rule_save", "2"), ("antifraud.ruleset_activate", "2"),
        ("antifraud.ruleset_draft", "3"), ("antifraud.ruleset_levels_save", "3"),
        ("antifraud.ruleset_activate", "3"), ("antifraud.ruleset_activate", "2")]
    with pytest.raises(IntegrityError), transaction.atomic():  # the database keeps one active version
        RuleSet.objects.filter(version=3).update(active=True)


def test_one_draft_at_a_time_and_a_draft_can_be_discarded(desk: Desk) -> None:
    draft = watchlists.ruleset_draft(actor=desk.analyst)
    with pytest.raises(ServiceError, match="已有草稿 v2"):
        watchlists.ruleset_draft(actor=desk.analyst)
    watchlists.ruleset_discard(actor=desk.analyst, draft=draft)
    assert watchlists.ruleset_draft(actor=desk.analyst).version == 2


def test_the_rule_pages(desk: Desk) -> None:
    client = login(desk.analyst)
    assert "v1" in client.get("/antifraud/rules/").content.decode()
    created = client.post("/antifraud/rules/new", {"note": "夜间加权"})
    assert (created.status_code, created["Location"]) == (302, "/antifraud/rules/2/")
    page = client.get("/antifraud/rules/2/").content.decode()
    assert page.count("<tr data-rule=") == len(rules.DEFAULT_RULES["rules"]) and "发布并生效" in page
    assert "&quot;window_seconds&quot;: 3600" in page  # the set as data
    night = [r["id"] for r in rules.DEFAULT_RULES["rules"]].index("night")
    bad = client.post(f"/antifraud/rules/2/rules/{night}", {
        f"r{night}-id": "night", f"r{night}-kind": "time_of_day", f"r{night}-weight": "10",
        f"r{night}-context": "on", f"r{night}-from_hour": "22", f"r{night}-to_hour": "25"}, follow=True)
    assert f"rules[{night}].to_hour: 须为 0 到 24 的整数" in bad.content.decode()
    client.post(f"/antifraud/rules/2/rules/{night}", {
        f"r{night}-id": "night", f"r{night}-kind": "time_of_day", f"r{night}-weight": "20",
        f"r{night}-context": "on", f"r{night}-from_hour": "22", f"r{night}-to_hour": "6", f"r{night}-list": "phone"})
    saved = RuleSet.objects.get(version=2).rules["rules"][night]
    assert saved == {"id": "night", "kind": "time_of_day", "weight": 20, "from_hour": 22, "to_hour": 6,
                     "context": True}  # the list field of another kind is not kept
    client.post("/antifraud/rules/2/rules/new", {"new-id": "big_transfer_night", "new-kind": "call_duration",
                                                 "new-weight": "5", "new-min_seconds": "1800"})
    assert RuleSet.objects.get(version=2).rules["rules"][-1]["id"] == "big_transfer_night"
    assert client.post("/antifraud/rules/2/activate").status_code == 302
    assert (early_warning.active_ruleset()[0], RuleSet.objects.get(version=2).published_by) == (2, desk.analyst)
    published = client.get("/antifraud/rules/2/").content.decode()
    assert "生效中" in published and "保存此规则" not in published
    assert client.get("/antifraud/rules/99/").status_code == 404


def test_the_list_page_and_api_take_the_same_statements_for_more_entries(desk: Desk) -> None:
    def add(n: int, start: int) -> None:
        watchlists.watchlist_add_batch(actor=desk.analyst, entries=[
            (i, entry("phone", f"1710000{start + i:04d}")) for i in range(n)], now=NOW)

    client = login(desk.analyst)
    auth = bearer(desk.analyst, "read")
    add(3, 0)
    client.get("/api/antifraud/watchlist", headers=auth)  # the token's first use records itself once
    with CaptureQueriesContext(connection) as page_few:
        assert client.get("/antifraud/lists/").status_code == 200
    with CaptureQueriesContext(connection) as api_few:
        assert client.get("/api/antifraud/watchlist", headers=auth).json()["count"] == 3
    add(30, 100)
    with CaptureQueriesContext(connection) as page_many:
        assert client.get("/antifraud/lists/").content.decode().count("<tr data-entry=") == 33
    with CaptureQueriesContext(connection) as api_many:
        assert client.get("/api/antifraud/watchlist", headers=auth).json()["count"] == 33
    assert (len(page_many), len(api_many)) == (len(page_few), len(api_few))
