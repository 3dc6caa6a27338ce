"""Early warning: each rule kind and window, list expiry, one open warning per citizen,
tasks and deadlines by level, outcomes and rule statistics, the push API, scoping, audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.test import Client

from jingwu.antifraud import early_warning, rules
from jingwu.antifraud.early_warning import signals_check, signals_process
from jingwu.antifraud.models import FraudReport
from jingwu.antifraud.tests.conftest import ACCOUNT_A, ACCOUNT_B, Desk, report_input, transfer
from jingwu.antifraud.warning_models import (
    FraudWarning,
    Signal,
    SmsOutbox,
    WatchListEntry,
)
from jingwu.core import identifiers, tokens
from jingwu.core.models import AuditEntry, User, WorkItem, WorkItemStatus
from jingwu.core.services import ServiceError
from jingwu.core.tests.factories import make_user

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 5, 13, 6, 0, tzinfo=dt.UTC)  # 14:00 in Shanghai: not night
FRAUD_PHONE = "+8617100001234"
FRAUD_URL = "http://shua-dan.example.com/task"
CITIZEN = "370102198501011233"  # born 1985
ELDER = identifiers.make_resident_id("370102", dt.date(1950, 3, 1), 12)


@pytest.fixture
def partner(desk: Desk) -> User:
    user = make_user("cmcc_gateway", [("partner", desk.tree.city_a)])
    early_warning.signal_partner_bind(actor=None, code="CMCC", user=user)
    return user


@pytest.fixture
def listed(desk: Desk) -> None:
    for kind, raw in (("phone", FRAUD_PHONE), ("url", FRAUD_URL), ("account", ACCOUNT_A), ("app", "FastTask")):
        early_warning.watchlist_add(actor=desk.analyst, kind=kind, raw=raw, source="部反诈中心", bank="ICBC")


def item(sid: str, *, at: dt.datetime = NOW, kind: str = "call", counterpart: str = FRAUD_PHONE,
         citizen: str = CITIZEN, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "kind": kind, "occurred_at": at, "citizen_id_number": citizen,
            "citizen_phone": "13812345678", "citizen_name": "王秀英", "station": "370102S01",
            "counterpart": counterpart, **extra}


def push(partner: User, *items: dict[str, Any], now: dt.datetime = NOW) -> early_warning.Processed:
    return signals_process(signals_check(actor=partner, partner="CMCC", items=list(items), now=now), now=now)


def warning_of(citizen: str = CITIZEN) -> FraudWarning:
    return FraudWarning.objects.get(citizen_key=f"id:{citizen}", state="open")


def reasons(w: FraudWarning) -> list[str]:
    return sorted(r["rule"] for r in w.reasons)


# --- rule kinds -------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "counterpart", "extra", "rule", "level", "score"), [
    ("call", FRAUD_PHONE, {}, "list_phone", "medium", 40),
    ("transfer", ACCOUNT_A, {"bank": "ICBC", "amount_fen": 500_000}, "list_account", "medium", 60),
    ("app_install", "ＦａｓｔＴａｓｋ", {}, "list_app", "medium", 40),
    ("url_visit", "Shua-Dan.example.com/task", {}, "list_url", "low", 25),
])
def test_each_list_hit_scores_its_weight(desk: Desk, partner: User, listed: None, kind: str, counterpart: str,
                                         extra: dict[str, Any], rule: str, level: str, score: int) -> None:
    push(partner, item("s1", kind=kind, counterpart=counterpart, **extra))
    w = warning_of()
    assert (reasons(w), w.level, w.score) == ([rule], level, score)
    assert Signal.objects.get().hits == [{"rule": rule, "weight": score, "detail": f"{rule[5:]} listed"}]


def test_unlisted_counterpart_scores_nothing_and_opens_no_warning(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1", counterpart="+8613900001111", duration_seconds=3000))
    assert Signal.objects.get().score == 0
    assert FraudWarning.objects.count() == 0


def test_long_call_counts_only_beside_another_hit(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1", counterpart="+8613900001111", duration_seconds=700))
    assert FraudWarning.objects.count() == 0
    push(partner, item("s2", duration_seconds=700))
    assert (reasons(warning_of()), warning_of().score) == (["list_phone", "long_call"], 55)


def test_short_call_is_not_a_long_call(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1", duration_seconds=599))
    assert reasons(warning_of()) == ["list_phone"]


def test_night_is_judged_in_shanghai_time(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1", at=dt.datetime(2026, 5, 12, 17, 30, tzinfo=dt.UTC)))  # 01:30 in Shanghai
    assert reasons(warning_of()) == ["list_phone", "night"]
    push(partner, item("s2", citizen=ELDER, at=dt.datetime(2026, 5, 12, 22, 0, tzinfo=dt.UTC)))  # 06:00
    assert reasons(warning_of(ELDER)) == ["elderly", "list_phone"]


def test_age_group_from_the_id_number(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1", citizen=ELDER, duration_seconds=900))
    w = warning_of(ELDER)
    assert (reasons(w), w.score, w.level) == (["elderly", "list_phone", "long_call"], 70, "high")


def test_citizen_velocity_window(desk: Desk, partner: User, listed: None) -> None:
    visit: dict[str, Any] = {"kind": "url_visit", "counterpart": FRAUD_URL}
    push(partner, item("a", at=NOW - dt.timedelta(minutes=59), **visit), item("b", at=NOW - dt.timedelta(minutes=30),
                                                                           **visit))
    assert reasons(warning_of()) == ["list_url"]
    push(partner, item("c", at=NOW, **visit))
    assert (reasons(warning_of()), warning_of().level) == (["citizen_burst", "list_url"], "medium")


def test_citizen_velocity_forgets_what_left_the_window(desk: Desk, partner: User, listed: None) -> None:
    visit: dict[str, Any] = {"kind": "url_visit", "counterpart": FRAUD_URL}
    push(partner, item("a", at=NOW - dt.timedelta(minutes=61), **visit),
         item("b", at=NOW - dt.timedelta(minutes=30), **visit), item("c", at=NOW, **visit))
    assert reasons(warning_of()) == ["list_url"]


def test_two_citizen_velocity_rules_each_count_their_own_window(desk: Desk, partner: User, listed: None) -> None:
    # The longer window listed first: the earlier signals must be loaded for it, not only the last rule's.
    two = {**rules.DEFAULT_RULES, "rules": [
        {"id": "list_url", "kind": "list_hit", "list": "url", "weight": 25},
        {"id": "citizen_day", "kind": "velocity", "per": "citizen", "window_seconds": 86400, "count": 3,
         "weight": 30},
        {"id": "citizen_burst", "kind": "velocity", "per": "citizen", "window_seconds": 3600, "count": 3,
         "weight": 20}]}
    early_warning.ruleset_publish(actor=desk.analyst, ruleset=two)
    visit: dict[str, Any] = {"kind": "url_visit", "counterpart": FRAUD_URL}
    push(partner, item("a", at=NOW - dt.timedelta(hours=5), **visit), item("b", at=NOW - dt.timedelta(hours=3),
                                                                          **visit))
    push(partner, item("c", at=NOW, **visit))
    assert Signal.objects.get(message_id="CMCC:c").hits == [
        {"rule": "list_url", "weight": 25, "detail": "url listed"},
        {"rule": "citizen_day", "weight": 30, "detail": "3 in 86400s per citizen"}]


def test_account_velocity_counts_distinct_citizens(desk: Desk, partner: User, listed: None) -> None:
    others = [identifiers.make_resident_id("370102", dt.date(1990, 1, d), 5) for d in (1, 2, 3)]
    pay: dict[str, Any] = {"kind": "transfer", "counterpart": ACCOUNT_B, "bank": "CCB", "amount_fen": 10_000}
    push(partner, item("a", citizen=others[0], at=NOW - dt.timedelta(hours=23), **pay),
         item("a2", citizen=others[0], at=NOW - dt.timedelta(hours=22), **pay),
         item("b", citizen=others[1], at=NOW - dt.timedelta(hours=1), **pay))
    assert FraudWarning.objects.count() == 0  # two citizens so far
    push(partner, item("c", citizen=others[2], **pay))
    w = warning_of(others[2])
    assert (reasons(w), w.level, FraudWarning.objects.count()) == (["account_fan_in"], "low", 1)


def test_account_velocity_window_is_a_day(desk: Desk, partner: User, listed: None) -> None:
    others = [identifiers.make_resident_id("370102", dt.date(1990, 1, d), 5) for d in (1, 2, 3)]
    pay: dict[str, Any] = {"kind": "transfer", "counterpart": ACCOUNT_B, "bank": "CCB", "amount_fen": 10_000}
    push(partner, item("a", citizen=others[0], at=NOW - dt.timedelta(hours=25), **pay),
         item("b", citizen=others[1], at=NOW - dt.timedelta(hours=1), **pay), item("c", citizen=others[2], **pay))
    assert FraudWarning.objects.count() == 0


def test_list_expiry(desk: Desk, partner: User) -> None:
    early_warning.watchlist_add(actor=desk.analyst, kind="phone", raw=FRAUD_PHONE, source="运营商",
                                expires_at=NOW - dt.timedelta(minutes=1))
    push(partner, item("s1"))
    assert FraudWarning.objects.count() == 0
    early_warning.watchlist_add(actor=desk.analyst, kind="phone", raw=FRAUD_PHONE, source="运营商",
                                expires_at=NOW + dt.timedelta(days=30))  # renewed
    push(partner, item("s2"))
    assert reasons(warning_of()) == ["list_phone"]


def test_the_list_cache_reloads_when_the_lists_change(desk: Desk, partner: User, listed: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    push(partner, item("s1", citizen=ELDER))
    # Written behind the services' back: the process's copy is stale until told or too old.
    WatchListEntry.objects.filter(kind="phone").update(expires_at=NOW - dt.timedelta(minutes=1))
    push(partner, item("s2"))
    early_warning.watchlist_changed()
    push(partner, item("s3"))
    WatchListEntry.objects.filter(kind="phone").update(expires_at=None)
    monkeypatch.setattr(early_warning, "LIST_CACHE_SECONDS", 0.0)
    push(partner, item("s4"))
    assert list(Signal.objects.order_by("id").values_list("score", flat=True)) == [55, 40, 0, 40]


def test_a_newer_rule_set_decides_and_the_warning_keeps_its_version(desk: Desk, partner: User, listed: None) -> None:
    changed = {**rules.DEFAULT_RULES, "rules": [{"id": "list_phone", "kind": "list_hit", "list": "phone",
                                                 "weight": 90}]}
    published = early_warning.ruleset_publish(actor=desk.analyst, ruleset=changed)
    push(partner, item("s1"))
    w = warning_of()
    assert (published.version, w.rule_version, w.level, w.score) == (2, 2, "high", 90)


def test_a_broken_rule_set_is_refused(desk: Desk) -> None:
    broken = {**rules.DEFAULT_RULES, "rules": [{"id": "x", "kind": "velocity", "weight": 5}]}
    with pytest.raises(ServiceError, match=r"rules\[0\]\.per"):
        early_warning.ruleset_publish(actor=desk.analyst, ruleset=broken)
    with pytest.raises(PermissionDenied):
        early_warning.ruleset_publish(actor=desk.officer, ruleset=rules.DEFAULT_RULES)


# --- warnings, tasks, deadlines ---------------------------------------------------------

def tasks() -> list[tuple[str, str, dt.datetime | None, int | None]]:
    return [(w.kind, w.status, w.due_at, w.assignee_unit_id) for w in WorkItem.objects.order_by("id")]


def test_high_risk_is_a_dissuasion_task_due_in_thirty_minutes(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1", kind="transfer", counterpart=ACCOUNT_A, bank="ICBC",
                       at=dt.datetime(2026, 5, 12, 18, 0, tzinfo=dt.UTC)))
    w = warning_of()
    assert w.level == "high"
    assert tasks() == [("antifraud.dissuade", WorkItemStatus.OPEN, NOW + dt.timedelta(minutes=30),
                        desk.tree.station_a1a.pk)]
    assert w.due_at == NOW + dt.timedelta(minutes=30)
    assert SmsOutbox.objects.count() == 0


def test_medium_risk_is_a_96110_call_due_in_two_hours(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1"))
    assert tasks() == [("antifraud.call_96110", WorkItemStatus.OPEN, NOW + dt.timedelta(hours=2),
                        desk.tree.station_a1a.pk)]


def test_low_risk_is_an_sms_in_the_outbox(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1", kind="url_visit", counterpart=FRAUD_URL))
    assert tasks() == []
    assert list(SmsOutbox.objects.values_list("phone", "state")) == [("+8613812345678", "queued")]


def test_one_open_warning_per_citizen_repeated_signals_add_to_it(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1", kind="url_visit", counterpart=FRAUD_URL))
    push(partner, item("s2"), now=NOW + dt.timedelta(minutes=5))
    w = warning_of()
    assert (FraudWarning.objects.count(), w.signal_count, reasons(w), w.score, w.level) == (
        1, 2, ["list_phone", "list_url"], 65, "medium")
    # The SMS of the low level stays; the raise to medium added a call task.
    assert tasks() == [("antifraud.call_96110", WorkItemStatus.OPEN, NOW + dt.timedelta(minutes=125),
                        desk.tree.station_a1a.pk)]
    push(partner, item("s3", kind="transfer", counterpart=ACCOUNT_A, bank="ICBC"), now=NOW + dt.timedelta(minutes=9))
    assert [(k, s) for k, s, _d, _u in tasks()] == [("antifraud.call_96110", WorkItemStatus.CANCELLED),
                                                  ("antifraud.dissuade", WorkItemStatus.OPEN)]
    w = warning_of()
    assert (w.level, w.signal_count, reasons(w), FraudWarning.objects.count()) == (
        "high", 3, ["citizen_burst", "list_account", "list_phone", "list_url"], 1)


def test_the_database_refuses_a_second_open_warning(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1"))
    w = warning_of()
    with pytest.raises(IntegrityError), transaction.atomic():
        FraudWarning.objects.create(citizen_key=w.citizen_key, unit=w.unit, level="low", score=20, rule_version=1,
                                    opened_at=NOW, last_signal_at=NOW)


def test_a_repeated_signal_id_is_processed_once(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1"))
    again = push(partner, item("s1"))
    assert (again.signals, again.skipped, Signal.objects.count(), warning_of().signal_count) == (0, 1, 1, 1)


def test_a_batch_links_its_scored_signals_into_networks(desk: Desk, partner: User, listed: None) -> None:
    from jingwu.antifraud import linking
    from jingwu.antifraud.warning_models import LinkNode

    others = [identifiers.make_resident_id("370102", dt.date(1990, 1, d), 5) for d in (1, 2, 3, 4)]
    push(partner, item("p1", citizen=others[0], device="dev-1"), item("p2", citizen=others[1]),
         item("u1", citizen=others[2], kind="url_visit", counterpart=FRAUD_URL, device="dev-1"),
         item("a1", citizen=others[3], kind="app_install", counterpart="FastTask", ip="10.0.0.9"),
         item("q1", citizen=others[3], counterpart="+8613900001111", device="dev-1"))  # scored nothing: not linked
    # A later batch adds to the network of the app and its IP.
    push(partner, item("x1", citizen=CITIZEN, kind="app_install", counterpart="FastTask"))

    def networks() -> set[frozenset[str]]:
        by_root: dict[int, set[str]] = {}
        for node in LinkNode.objects.all():
            by_root.setdefault(node.root_id or 0, set()).add(
                node.signal.message_id if node.signal else node.key)
        return {frozenset(v) for v in by_root.values()}

    assert networks() == {
        frozenset({"CMCC:p1", "CMCC:p2", "CMCC:u1", f"phone:{FRAUD_PHONE}", "device:dev-1",
                   "url:http://shua-dan.example.com/task"}),
        frozenset({"CMCC:a1", "CMCC:x1", "app:fasttask", "ip:10.0.0.9"}),
    }
    roots = {n.root_id or 0 for n in LinkNode.objects.all()}
    assert sorted(LinkNode.objects.get(pk=r).size for r in roots) == [4, 6]
    assert all(LinkNode.objects.get(pk=r).root_id == r for r in roots)
    assert linking.network_members(min(roots)) != []


# --- outcomes ---------------------------------------------------------------------------

def test_outcomes_close_the_task_and_feed_rule_statistics(desk: Desk, partner: User, listed: None) -> None:
    second = identifiers.make_resident_id("370102", dt.date(1980, 6, 6), 7)
    push(partner, item("s1"), item("s2", citizen=second, kind="app_install", counterpart="FastTask"))
    early_warning.warning_outcome_record(actor=desk.officer, warning=warning_of(), outcome="dissuaded", note="已上门")
    early_warning.warning_outcome_record(actor=desk.officer, warning=warning_of(second), outcome="false_alarm")
    assert set(WorkItem.objects.values_list("status", flat=True)) == {WorkItemStatus.DONE}
    assert early_warning.rule_statistics() == {
        "list_phone": {"warnings": 1, "dissuaded": 1, "defrauded": 0, "false_alarm": 0},
        "list_app": {"warnings": 1, "dissuaded": 0, "defrauded": 0, "false_alarm": 1},
    }
    entry = AuditEntry.objects.filter(action="antifraud.warning_outcome").order_by("id").first()
    assert entry is not None and entry.details["outcome"] == "dissuaded" and entry.unit_code == "370102S01"
    with pytest.raises(ServiceError, match="outcome"):
        early_warning.warning_outcome_record(actor=desk.officer, warning=FraudWarning.objects.get(
            citizen_key=f"id:{CITIZEN}"), outcome="dissuaded")


def test_already_defrauded_files_a_report(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1"))
    with pytest.raises(ServiceError, match="report"):
        early_warning.warning_outcome_record(actor=desk.officer, warning=warning_of(), outcome="defrauded")
    w = early_warning.warning_outcome_record(actor=desk.officer, warning=warning_of(), outcome="defrauded",
                                             report_data=report_input(transfer(ACCOUNT_A, "ICBC", 250_000)))
    report = FraudReport.objects.get()
    assert (w.report_id, w.outcome, report.unit_id, report.loss_fen) == (report.pk, "defrauded",
                                                                        desk.tree.station_a1a.pk, 250_000)


def test_another_station_may_not_record_the_outcome(desk: Desk, partner: User, listed: None) -> None:
    push(partner, item("s1"))
    with pytest.raises(PermissionDenied):
        early_warning.warning_outcome_record(actor=desk.other_officer, warning=warning_of(), outcome="dissuaded")
    denied = AuditEntry.objects.get(outcome="denied", actor=desk.other_officer)
    assert (denied.object_type, denied.object_id) == ("fraud_warning", str(warning_of().pk))
    assert warning_of().state == "open"


def test_only_partners_push_signals(desk: Desk, listed: None) -> None:
    with pytest.raises(PermissionDenied):
        signals_check(actor=desk.officer, partner="CMCC", items=[item("s1")], now=NOW)


# --- the API ----------------------------------------------------------------------------

URL = "/api/antifraud/signals"


def post(user: User, body: dict[str, Any], *scopes: str) -> Any:
    secret = tokens.token_create(actor=None, user=user, scopes=list(scopes or ("antifraud.signals",)), days=1).secret
    return Client().post(URL, body, content_type="application/json", headers={"Authorization": f"Bearer {secret}"})


def wire(*items: dict[str, Any]) -> dict[str, Any]:
    return {"partner": "CMCC", "signals": [{**i, "occurred_at": i["occurred_at"].isoformat()} for i in items]}


def test_api_processes_a_batch_inline(desk: Desk, partner: User, listed: None) -> None:
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    response = post(partner, wire(item("s1", at=recent), item("s2", at=recent, counterpart="+8613900001111")))
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "mode": "inline", "new": 2, "warnings_opened": 1}
    again = post(partner, wire(item("s1", at=recent)))
    assert again.json() == {"accepted": 1, "mode": "inline", "new": 0, "warnings_opened": 0}


@pytest.mark.parametrize(("bad", "field", "code"), [
    ({"counterpart": "ftp://x"}, "signals[1].counterpart", "invalid"),
    ({"kind": "fax"}, "signals[1].kind", "invalid"),
    ({"citizen_id_number": "370102198501011234", "citizen_phone": ""}, "signals[1].citizen_id_number", "invalid"),
    ({"station": "NOPE"}, "signals[1].station", "invalid"),
    ({"duration_seconds": -5}, "signals[1].duration_seconds", "invalid"),
    ({"ip": "999.1.1.1"}, "signals[1].ip", "invalid"),
    ({"id": "s1"}, "signals[1].id", "invalid"),
])
def test_a_malformed_batch_is_a_400_and_nothing_is_written(desk: Desk, partner: User, listed: None,
                                                           bad: dict[str, Any], field: str, code: str) -> None:
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    response = post(partner, wire(item("s1", at=recent), {**item("s2", at=recent), **bad}))
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["field"], body["code"]) == (field, code)
    assert body["detail"].startswith(field)
    assert (Signal.objects.count(), FraudWarning.objects.count(), AuditEntry.objects.filter(
        action="antifraud.signals_process").count()) == (0, 0, 0)


def test_api_wrong_types_are_422_and_scopes_are_enforced(desk: Desk, partner: User, listed: None) -> None:
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert post(partner, {"partner": "CMCC", "signals": [{"id": "x"}]}).status_code == 422
    assert post(partner, wire(item("s1", at=recent)), "antifraud.reports").status_code == 403
    assert post(desk.officer, wire(item("s1", at=recent))).status_code == 403
    assert Signal.objects.count() == 0


def test_a_partner_pushes_only_under_its_own_code(desk: Desk, partner: User, listed: None) -> None:
    other = make_user("cucc_gateway", [("partner", desk.tree.city_a)])
    early_warning.signal_partner_bind(actor=None, code="CUCC", user=other)
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    # CUCC pushing as CMCC would make CMCC's later "s1" a duplicate: refused, audited, nothing kept.
    for code in ("CMCC", "NOPE"):
        response = post(other, {**wire(item("s1", at=recent)), "partner": code})
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), response.content
    assert Signal.objects.count() == 0
    assert sorted(AuditEntry.objects.filter(actor=other, outcome="denied", object_type="signal_partner")
                  .values_list("object_id", flat=True)) == ["CMCC", "NOPE"]
    assert post(partner, wire(item("s1", at=recent))).json()["new"] == 1
    assert post(other, {**wire(item("s1", at=recent)), "partner": "CUCC"}).json()["new"] == 1


def test_binding_a_signal_partner_code(desk: Desk, partner: User) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("signal-partner", "CMCC-SD", "cmcc_gateway", stdout=out)
    assert out.getvalue() == "signal partner CMCC-SD: cmcc_gateway may push under it\n"
    assert AuditEntry.objects.filter(action="antifraud.signal_partner", object_id="CMCC-SD").count() == 1
    with pytest.raises(CommandError, match="没有合作单位系统角色"):
        call_command("signal-partner", "CMCC-SD", desk.officer.username)
    with pytest.raises(CommandError, match="冒号"):
        call_command("signal-partner", "A:B", "cmcc_gateway")
    call_command("signal-partner", "CMCC-SD", "--none", stdout=StringIO())
    with pytest.raises(PermissionDenied):
        signals_check(actor=partner, partner="CMCC-SD", items=[item("s1")], now=NOW)


# --- the pages --------------------------------------------------------------------------

def login(user: User) -> Client:
    from jingwu.core.tests.factories import TEST_PASSWORD

    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def test_warning_page_needs_a_purpose_masks_the_id_and_records_the_outcome(desk: Desk, partner: User,
                                                                          listed: None) -> None:
    from jingwu.core import services as core_services

    push(partner, item("s1"))
    w = warning_of()
    client = login(desk.officer)
    assert client.get("/antifraud/warnings/").status_code == 200
    assert client.get(f"/antifraud/warnings/{w.pk}/").status_code == 302  # to the purpose page
    core_services.purpose_set(actor=desk.officer, text="核查预警对象，上门劝阻")
    html = client.get(f"/antifraud/warnings/{w.pk}/").content.decode()
    assert "王秀英" in html and CITIZEN not in html and "list_phone" in html
    assert AuditEntry.objects.filter(action="warning.handle", object_type="fraud_warning",
                                     object_id=str(w.pk)).count() == 1
    response = client.post(f"/antifraud/warnings/{w.pk}/", {
        "outcome": "defrauded", "note": "已转账", "fraud_type": "order_rebate", "payee_account": ACCOUNT_B,
        "payee_bank": "CCB", "amount_yuan": "1200.50"})
    assert response.status_code == 302
    w.refresh_from_db()
    assert (w.state, w.outcome, w.report.loss_fen if w.report else None) == ("closed", "defrauded", 120_050)
    # Another station's officer is told no more than about a warning that does not exist.
    outsider = login(desk.other_officer)
    theirs, unknown = outsider.get(f"/antifraud/warnings/{w.pk}/"), outsider.get(f"/antifraud/warnings/{w.pk + 999}/")
    assert (theirs.status_code, unknown.status_code) == (404, 404)


def test_figures_and_rule_statistics_on_the_list_page_are_scoped(desk: Desk, partner: User, listed: None) -> None:
    second = identifiers.make_resident_id("370102", dt.date(1980, 6, 6), 7)
    elsewhere = identifiers.make_resident_id("370102", dt.date(1981, 6, 6), 7)
    push(partner, item("s1"), item("s2", citizen=second, kind="url_visit", counterpart=FRAUD_URL),
         item("s3", citizen=elsewhere, station="370102S02"))
    early_warning.warning_outcome_record(actor=desk.officer, warning=warning_of(), outcome="dissuaded")
    mine = FraudWarning.objects.filter(unit=desk.tree.station_a1a)
    figures = early_warning.warning_figures(mine)
    assert (figures["by_level"], figures["open"], figures["prevented"]) == (
        [("低", 1), ("中", 1), ("高", 0)], 1, 1)
    html = login(desk.officer).get("/antifraud/warnings/").content.decode()
    import re

    shown = sorted(int(pk) for pk in re.findall(r'href="/antifraud/warnings/(\d+)/"', html))
    assert shown == sorted(mine.values_list("pk", flat=True)) and len(shown) == 2  # not the other station's
    assert "list_phone" in html and "规则效果" in html


def test_the_list_page_title_is_only_its_name_once_warnings_are_closed(desk: Desk, partner: User,
                                                                        listed: None) -> None:
    import re

    push(partner, item("s1"))
    early_warning.warning_outcome_record(actor=desk.officer, warning=warning_of(), outcome="dissuaded")
    html = login(desk.officer).get("/antifraud/warnings/").content.decode()
    assert re.findall(r"<title>(.*?)</title>", html, re.S) == ["预警劝阻 · 警务工作门户"]
    assert html.count('class="striped rule-stats"') == 1  # the statistics stay in the body, once


def test_the_list_shows_the_sms_as_queued_until_the_gateway_sent_it(desk: Desk, partner: User,
                                                                     listed: None, settings: Any) -> None:
    import re

    settings.JINGWU_SMS_GATEWAY_URL = ""  # no gateway: the SMS stays in the outbox
    push(partner, item("s1", kind="url_visit", counterpart=FRAUD_URL))
    assert warning_of().level == "low"

    def sms_cells() -> list[str]:
        html = login(desk.officer).get("/antifraud/warnings/").content.decode()
        assert "已发送提醒短信" not in html
        return re.findall(r'<td class="sms">(.*?)</td>', html)

    assert sms_cells() == ["待发送"]
    SmsOutbox.objects.update(state="sent", sent_at=NOW)
    assert sms_cells() == ["已发送"]


# --- one citizen, whichever identifier a partner gives -----------------------------------

PHONE = "+8613812345678"  # item()'s citizen phone


def phone_only(sid: str, **kw: Any) -> dict[str, Any]:
    return item(sid, citizen="", **kw)


def test_a_phone_warning_is_taken_over_when_a_signal_names_the_phone_with_an_id_number(
        desk: Desk, partner: User, listed: None) -> None:
    push(partner, phone_only("p1", kind="url_visit", counterpart=FRAUD_URL))
    first = FraudWarning.objects.get()
    assert (first.citizen_key, first.level, first.citizen_id_number) == (f"phone:{PHONE}", "low", "")
    push(partner, item("s2"), now=NOW + dt.timedelta(minutes=5))  # ID number and phone
    w = FraudWarning.objects.get()
    assert (w.pk, w.citizen_key, w.citizen_id_number, w.signal_count, reasons(w), w.score, w.level) == (
        first.pk, f"id:{CITIZEN}", CITIZEN, 2, ["list_phone", "list_url"], 65, "medium")
    assert tasks() == [("antifraud.call_96110", WorkItemStatus.OPEN, NOW + dt.timedelta(minutes=125),
                        desk.tree.station_a1a.pk)]
    entry = AuditEntry.objects.filter(action="antifraud.signals_process").latest("id")
    assert (entry.details["rekeyed"], entry.details["tasks"]) == (
        [str(w.pk)], [f"antifraud:warning:{w.pk}:medium"])
    # From now on the phone alone is the same citizen: it adds to the ID number's warning.
    push(partner, phone_only("p3", kind="app_install", counterpart="FastTask"), now=NOW + dt.timedelta(minutes=6))
    w = warning_of()
    assert (FraudWarning.objects.count(), w.signal_count, w.level) == (1, 3, "high")
    assert Signal.objects.get(message_id="CMCC:p3").citizen_key == f"id:{CITIZEN}"


def test_after_a_takeover_the_phones_signals_count_in_the_id_numbers_window(desk: Desk, partner: User,
                                                                           listed: None) -> None:
    visit: dict[str, Any] = {"kind": "url_visit", "counterpart": FRAUD_URL}
    push(partner, phone_only("p1", at=NOW - dt.timedelta(minutes=30), **visit),
         phone_only("p2", at=NOW - dt.timedelta(minutes=20), **visit))
    assert (reasons(FraudWarning.objects.get()), FraudWarning.objects.get().level) == (["list_url"], "low")
    push(partner, item("s3", **visit))  # the third in the hour, the first with the ID number
    w = FraudWarning.objects.get()
    assert (w.citizen_key, w.signal_count, reasons(w), w.level) == (f"id:{CITIZEN}", 3,
                                                                    ["citizen_burst", "list_url"], "medium")


def test_a_phone_alone_adds_to_the_open_warning_of_the_id_number_behind_it(desk: Desk, partner: User,
                                                                             listed: None) -> None:
    push(partner, item("s1", kind="url_visit", counterpart=FRAUD_URL))
    push(partner, phone_only("p2"))
    w = warning_of()
    assert (FraudWarning.objects.count(), w.signal_count, reasons(w), w.level) == (
        1, 2, ["list_phone", "list_url"], "medium")
    assert sorted(Signal.objects.values_list("message_id", "citizen_key")) == [
        ("CMCC:p2", f"id:{CITIZEN}"), ("CMCC:s1", f"id:{CITIZEN}")]


def test_one_batch_with_the_phone_alone_then_with_the_id_number_is_one_citizen(desk: Desk, partner: User,
                                                                                listed: None) -> None:
    push(partner, phone_only("p1", kind="url_visit", counterpart=FRAUD_URL, at=NOW - dt.timedelta(minutes=2)),
         item("s2"))
    w = warning_of()
    assert (FraudWarning.objects.count(), w.signal_count, reasons(w), w.score) == (
        1, 2, ["list_phone", "list_url"], 65)


def _records_person(id_number: str, phone: str, key: str, valid_to: dt.date | None = None) -> None:
    from jingwu.records.models import Entity, ImportBatch, Relation, Source, SourceRecord

    source, _ = Source.objects.get_or_create(key="telecom", defaults={"name": "运营商实名登记"})
    batch = ImportBatch.objects.create(source=source, label=key)
    record = SourceRecord.objects.create(source=source, source_key=key, kind="phone", payload={}, content_hash=key,
                                         batch=batch)
    person = Entity.objects.create(kind="person", key=id_number, display_name="赵桂兰")
    number, _ = Entity.objects.get_or_create(kind="phone", key=phone)
    Relation.objects.create(kind="uses_phone", subject=person, object=number, record=record, valid_to=valid_to)


def test_the_records_name_the_person_behind_a_phone(desk: Desk, partner: User, listed: None) -> None:
    _records_person(ELDER, "+8613900002222", "TEL-1")
    push(partner, phone_only("p1", citizen_phone="13900002222"))
    w = warning_of(ELDER)
    # The ID number the records give is the citizen's age too.
    assert (w.citizen_phone, reasons(w), w.score, w.level) == ("+8613900002222", ["elderly", "list_phone"], 55,
                                                               "medium")
    push(partner, item("s2", citizen=ELDER, citizen_phone="", kind="url_visit", counterpart=FRAUD_URL))
    assert (FraudWarning.objects.count(), warning_of(ELDER).signal_count) == (1, 2)


def test_the_seeds_trusted_path_keys_a_phone_as_the_partners_path_does(desk: Desk, partner: User,
                                                                         listed: None) -> None:
    _records_person(ELDER, "+8613900002222", "TEL-1")
    trusted = early_warning.signals_trusted(
        [{**phone_only("t1", citizen_phone="13900002222"), "partner": "SEED"},
         {**phone_only("t2", citizen_phone="13900004444"), "partner": "SEED"}], now=NOW)
    checked = signals_check(actor=partner, partner="CMCC", now=NOW,
                            items=[phone_only("t1", citizen_phone="13900002222"),
                                   phone_only("t2", citizen_phone="13900004444")])
    assert [(s.message_id, s.citizen_key, s.citizen_id_number, s.birth_date) for s in trusted] == [
        ("SEED:t1", f"id:{ELDER}", ELDER, dt.date(1950, 3, 1)), ("SEED:t2", "phone:+8613900004444", "", None)]
    assert [(s.citizen_key, s.citizen_id_number, s.birth_date) for s in checked] == [
        (s.citizen_key, s.citizen_id_number, s.birth_date) for s in trusted]


def test_a_phone_two_people_use_or_a_relation_that_ended_names_nobody(desk: Desk, partner: User,
                                                                      listed: None) -> None:
    _records_person(ELDER, "+8613900002222", "TEL-1")
    _records_person(CITIZEN, "+8613900002222", "TEL-2")
    _records_person(ELDER, "+8613900003333", "TEL-3", valid_to=dt.date(2020, 1, 1))
    push(partner, phone_only("p1", citizen_phone="13900002222"), phone_only("p2", citizen_phone="13900003333"))
    assert sorted(FraudWarning.objects.values_list("citizen_key", "citizen_id_number")) == [
        ("phone:+8613900002222", ""), ("phone:+8613900003333", "")]
