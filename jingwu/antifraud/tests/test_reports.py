"""Taking a report — through the service and the API: what is stored, who sends the
stop-payment requests at once and whose reports wait for the desk, malformed input refused
with the field named and nothing written, idempotency keys, scoping and the audit trail."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from jingwu.antifraud import services
from jingwu.antifraud.models import (
    FraudReport,
    ReportChannel,
    ReportIdentifier,
    StopPaymentAttempt,
    StopPaymentRequest,
    StopState,
    Transfer,
)
from jingwu.antifraud.tests.conftest import (
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    ACCOUNT_D,
    VICTIM_ID,
    Desk,
    report_input,
    transfer,
)
from jingwu.core import services as core_services
from jingwu.core import tokens
from jingwu.core.models import AuditEntry, User, WorkItem, WorkItemStatus
from jingwu.core.services import ServiceError
from jingwu.records.models import Entity

pytestmark = pytest.mark.django_db
URL = "/api/antifraud/reports"
S = StopState


def bearer(user: User, *scopes: str) -> dict[str, str]:
    secret = tokens.token_create(actor=None, user=user, scopes=list(scopes), days=1).secret
    return {"Authorization": f"Bearer {secret}"}


def stored() -> tuple[int, ...]:
    return (FraudReport.objects.count(), Transfer.objects.count(), ReportIdentifier.objects.count(),
            StopPaymentRequest.objects.count(), StopPaymentAttempt.objects.count(),
            WorkItem.objects.count(), AuditEntry.objects.filter(action="fraud.report").count())


def body(**change: Any) -> dict[str, Any]:
    at = (timezone.now() - dt.timedelta(hours=2)).isoformat()
    payload: dict[str, Any] = {
        "victim": {"name": "王秀英", "id_number": VICTIM_ID, "phone": "13812345678"},
        "fraud_type": "fake_officials", "narrative": "自称检察官，要求将资金转入“安全账户”。",
        "transfers": [{"payee_account": "6222 0212 3456 7890 128", "payee_bank": "ICBC", "amount_fen": 5_000_000,
                       "transferred_at": at, "payer_account": ACCOUNT_B, "payer_bank": "CCB"}],
        "phones": ["+63 917 123 4567"], "urls": ["https://Safe-Account.example.COM"], "apps": ["安全防护"],
    }
    payload.update(change)
    return payload


def post(client: Client, payload: dict[str, Any], auth: dict[str, str]) -> Any:
    return client.post(URL, data=json.dumps(payload, ensure_ascii=False), content_type="application/json",
                       headers=auth)


# --- the service ------------------------------------------------------------------------------

def test_an_analysts_report_is_stored_normalised_with_requests_ready_to_send(desk: Desk) -> None:
    now = dt.datetime(2026, 5, 13, 2, 0, tzinfo=dt.UTC)
    data = report_input(transfer(ACCOUNT_A, "ICBC", 30_000, transferred_at=now - dt.timedelta(hours=3)),
                        transfer("6222-0212-3456-7890-128", "ICBC", 20_000, transferred_at=now - dt.timedelta(hours=2),
                                 payee_name="李某"),
                        transfer(ACCOUNT_B, "CCB", 50_000, transferred_at=now - dt.timedelta(hours=1)),
                        phones=["+86 171-0000-1234", "17100001234"], apps=["ＦａｓｔＴａｓｋ", "fasttask"])
    report = services.fraud_report_submit(actor=desk.analyst, unit=desk.tree.station_a1a, data=data, now=now).report

    assert report.number == f"FZ20260513{report.pk:06d}"
    assert (report.unit, report.taken_by, report.channel) == (desk.tree.station_a1a, desk.analyst,
                                                              ReportChannel.OFFICER)
    assert (report.victim_name, report.victim_id_number, report.victim_phone) == ("王秀英", VICTIM_ID, "+8613812345678")
    assert (report.victim_phone_raw, report.loss_fen, report.reported_at, report.created_at) == (
        "138 1234 5678", 100_000, now, now)
    assert list(report.transfers.values_list("position", "payee_account", "amount_fen")) == [
        (1, ACCOUNT_A, 30_000), (2, ACCOUNT_A, 20_000), (3, ACCOUNT_B, 50_000)]
    assert set(report.identifiers.values_list("kind", "value", "source")) == {
        ("account", ACCOUNT_A, "transfer"), ("account", ACCOUNT_B, "transfer"),
        ("phone", "+8617100001234", "reported"),
        ("url", "http://shua-dan.example.com/task", "reported"), ("app", "fasttask", "reported")}
    stops = list(StopPaymentRequest.objects.filter(report=report).order_by("id"))
    assert [(s.bank, s.account, s.amount_fen, s.state, s.hop, s.ordered_by) for s in stops] == [
        ("ICBC", ACCOUNT_A, 50_000, S.QUEUED, 0, desk.analyst), ("CCB", ACCOUNT_B, 50_000, S.QUEUED, 0, desk.analyst)]
    assert len({s.idempotency_key for s in stops}) == 2
    entry = AuditEntry.objects.get(action="fraud.report")
    assert (entry.actor, entry.object_id, entry.unit_code, entry.details) == (
        desk.analyst, report.number, "370102S01",
        {"transfers": 3, "loss_fen": 100_000, "stop_requests": 2, "sent_at_once": True})
    assert not WorkItem.objects.exists()


def test_the_victim_is_linked_to_the_data_centre_by_id_number(desk: Desk) -> None:
    person = Entity.objects.create(kind="person", key=VICTIM_ID, display_name="王秀英")
    report = services.fraud_report_submit(actor=desk.analyst, unit=desk.tree.station_a1a, data=report_input()).report
    assert report.victim_entity_id == person.pk


@pytest.mark.parametrize("who", ["officer", "auxiliary"])
def test_a_report_by_someone_without_the_power_waits_for_the_desk(desk: Desk, who: str) -> None:
    now = timezone.now()
    actor = getattr(desk, who)
    report = services.fraud_report_submit(actor=actor, unit=desk.tree.station_a1a, data=report_input(), now=now).report

    stop = StopPaymentRequest.objects.get(report=report)
    assert (stop.state, stop.ordered_by) == (S.AWAITING_APPROVAL, None)
    item = WorkItem.objects.get(kind="antifraud.stop_approval")
    assert (item.assignee_unit, item.priority, item.due_at, item.url) == (
        desk.centre, 1, now + dt.timedelta(minutes=10), f"/antifraud/reports/{report.number}/")
    assert item.title == f"紧急止付待审批：{report.number}（1 个账户）"

    with pytest.raises(PermissionDenied):
        services.stop_payment_approve(actor=actor, report=report)

    assert services.stop_payment_approve(actor=desk.analyst, report=report) == 1
    stop.refresh_from_db()
    assert (stop.state, stop.ordered_by) == (S.QUEUED, desk.analyst)
    item.refresh_from_db()
    assert item.status == WorkItemStatus.DONE
    with pytest.raises(ServiceError, match="没有待审批的止付请求"):
        services.stop_payment_approve(actor=desk.analyst, report=report)


def test_a_city_without_an_anti_fraud_desk_sends_the_approval_to_the_reporting_unit(desk: Desk) -> None:
    core_services.role_revoke(actor=None, user=desk.analyst, role="fraud_analyst", unit=desk.centre)
    report = services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=report_input()).report
    assert WorkItem.objects.get(source_id=report.number).assignee_unit == desk.tree.station_a1a


def test_an_officer_cannot_take_a_report_for_another_station(desk: Desk) -> None:
    with pytest.raises(PermissionDenied):
        services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1b, data=report_input())
    assert FraudReport.objects.count() == 0
    assert AuditEntry.objects.filter(actor=desk.officer, action="fraud.report", outcome="denied").count() == 1


# --- malformed input -----------------------------------------------------------------------------

FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
ONE = [{"payee_account": ACCOUNT_A, "payee_bank": "ICBC", "amount_fen": 100,
        "transferred_at": "2026-05-01T10:00:00+08:00"}]


def _transfer(**change: Any) -> list[dict[str, Any]]:
    return [{**ONE[0], **change}]


@pytest.mark.parametrize(("change", "field", "detail"), [
    ({"victim": {"name": "  "}}, "victim_name", "victim_name: 请填写受害人姓名"),
    ({"victim": {"name": "王秀英", "id_number": "370102198501011234"}}, "victim_id_number",
     "victim_id_number: check character is '4', expected '3'"),
    ({"victim": {"name": "王秀英", "phone": "电话"}}, "victim_phone",
     "victim_phone: a phone number may only hold digits, spaces, dashes and a leading +"),
    ({"victim": {"name": "王秀英", "entity_id": 999999}}, "victim_entity_id",
     "victim_entity_id: 没有编号为 999999 的人员实体"),
    ({"fraud_type": "lottery"}, "fraud_type", "fraud_type: 未知的诈骗类型 'lottery'，可选：order_rebate, investment, "
     "loan, fake_service, fake_officials, credit_repair, fake_acquaintance, romance, game_trade, other"),
    ({"transfers": []}, "transfers", "transfers: 至少需要一笔转账"),
    ({"transfers": ONE * 51}, "transfers", "transfers: 一次最多登记 50 笔转账"),
    ({"transfers": _transfer(payee_bank="XYZ")}, "transfers[0].payee_bank",
     "transfers[0].payee_bank: 未知的银行代码 'XYZ'"),
    ({"transfers": ONE + _transfer(payee_account="6222-02x")}, "transfers[1].payee_account",
     "transfers[1].payee_account: a card or account number holds digits only"),
    ({"transfers": _transfer(payee_account="62220212")}, "transfers[0].payee_account",
     "transfers[0].payee_account: expected 12-19 digits, got 8"),
    ({"transfers": _transfer(amount_fen=0)}, "transfers[0].amount_fen", "transfers[0].amount_fen: 金额须大于 0"),
    ({"transfers": _transfer(amount_fen=10**13)}, "transfers[0].amount_fen",
     "transfers[0].amount_fen: 金额超出上限（100 亿元）"),
    ({"transfers": _transfer(transferred_at=FUTURE)}, "transfers[0].transferred_at",
     "transfers[0].transferred_at: 不能晚于现在"),
    ({"transfers": _transfer(transferred_at="2026-05-01T10:00:00")}, "transfers[0].transferred_at",
     "transfers[0].transferred_at: 需要带时区的日期时间"),
    ({"transfers": _transfer(payer_account="abc")}, "transfers[0].payer_account",
     "transfers[0].payer_account: a card or account number holds digits only"),
    ({"loss_fen": -1}, "loss_fen", "loss_fen: 金额不能为负"),
    ({"reported_at": FUTURE}, "reported_at", "reported_at: 不能晚于现在"),
    ({"urls": ["https://ok.example.com", "ftp://files.example.com"]}, "urls[1]",
     "urls[1]: only http and https addresses are kept, not 'ftp'"),
    ({"phones": ["1"]}, "phones[0]", "phones[0]: a phone number has 3 to 20 digits, got 1"),
    ({"apps": ["x" * 101]}, "apps[0]", "apps[0]: an app name is kept up to 100 characters"),
    ({"unit": "999999"}, "unit", "unit: no unit with code '999999'"),
])
def test_malformed_reports_are_refused_naming_the_field_and_write_nothing(desk: Desk, client: Client,
                                                                         change: dict[str, Any], field: str,
                                                                         detail: str) -> None:
    auth = bearer(desk.analyst, "antifraud.reports")
    before = stored()
    response = post(client, body(**change), auth)
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": detail, "field": field, "code": "invalid"}
    assert stored() == before


@pytest.mark.parametrize(("payload", "loc"), [
    (body(transfers=_transfer(amount_fen="一百")), ["body", "payload", "transfers", 0, "amount_fen"]),
    (body(transfers=_transfer(transferred_at="yesterday")), ["body", "payload", "transfers", 0, "transferred_at"]),
    ({k: v for k, v in body().items() if k != "victim"}, ["body", "payload", "victim"]),
])
def test_wrongly_typed_reports_are_422_naming_the_field(desk: Desk, client: Client, payload: dict[str, Any],
                                                        loc: list[Any]) -> None:
    before = stored()
    response = post(client, payload, bearer(desk.analyst, "antifraud.reports"))
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]
    assert stored() == before


def test_a_body_that_is_not_json_is_refused(desk: Desk, client: Client) -> None:
    response = client.post(URL, data=b"{\"victim\": ", content_type="application/json",
                           headers=bearer(desk.analyst, "antifraud.reports"))
    assert 400 <= response.status_code < 500
    assert FraudReport.objects.count() == 0


# --- the API ---------------------------------------------------------------------------------------

def test_a_partner_submits_a_report_and_reads_it_back(desk: Desk, client: Client) -> None:
    auth = bearer(desk.analyst, "antifraud.reports", "read")
    response = post(client, body(idempotency_key="96110-2026-0001"), auth)
    assert response.status_code == 201
    got = response.json()
    report = FraudReport.objects.get()
    assert (got["number"], got["unit"], got["fraud_type"], got["loss_fen"], got["replayed"]) == (
        report.number, "370100D-FZ", "fake_officials", 5_000_000, False)
    assert [(s["bank"], s["account"], s["amount_fen"], s["state"], s["hop"]) for s in got["stop_requests"]] == [
        ("ICBC", ACCOUNT_A, 5_000_000, "queued", 0)]
    assert report.channel == ReportChannel.API

    refused = client.get(f"{URL}/{report.number}", headers=auth)
    assert (refused.status_code, refused.json()["code"]) == (403, "purpose_required")
    core_services.purpose_set(actor=desk.analyst, text="处置电诈报案", ref_type="case", ref_id=report.number)
    read = client.get(f"{URL}/{report.number}", headers=auth)
    assert read.status_code == 200
    detail = read.json()
    assert detail["victim"] == {"name": "王秀英", "id_number": "3701**********1233", "phone": "+8613812345678",
                                "entity_id": None}
    assert [(t["payee_account"], t["payer_account"], t["amount_fen"]) for t in detail["transfers"]] == [
        (ACCOUNT_A, ACCOUNT_B, 5_000_000)]
    assert {(i["kind"], i["value"], i["valid"]) for i in detail["indicators"]} == {
        ("account", ACCOUNT_A, True), ("phone", "+639171234567", False),
        ("url", "https://safe-account.example.com/", True), ("app", "安全防护", True)}
    assert [s["state"] for s in detail["stop_requests"]] == ["queued"]
    entry = AuditEntry.objects.filter(action="person.read").latest("id")
    assert (entry.actor, entry.object_type, entry.object_id, entry.purpose.startswith("处置电诈报案")) == (
        desk.analyst, "fraud_report", report.number, True)


def test_the_submit_answer_lists_requests_in_the_order_the_report_shows_them(desk: Desk, client: Client) -> None:
    # A replay after the money was chased: each request followed by those it led to, as
    # GET /reports/{number} and the page list them (not all first hops, then all second hops).
    auth = bearer(desk.analyst, "antifraud.reports", "read")
    second = {"payee_account": ACCOUNT_C, "payee_bank": "CMB", "amount_fen": 1_000,
              "transferred_at": (timezone.now() - dt.timedelta(hours=1)).isoformat()}
    payload = body(idempotency_key="chase-order")
    payload["transfers"].append(second)
    assert post(client, payload, auth).status_code == 201
    report = FraudReport.objects.get()
    first_hop = StopPaymentRequest.objects.get(report=report, account=ACCOUNT_A)
    StopPaymentRequest.objects.create(report=report, transfer=first_hop.transfer, parent=first_hop, hop=1,
                                      bank="CCB", account=ACCOUNT_D, amount_fen=4_000_000, state=StopState.QUEUED,
                                      idempotency_key="chase-order-hop-1")
    again = post(client, payload, auth)
    assert again.status_code == 200
    order = [(s["account"], s["hop"]) for s in again.json()["stop_requests"]]
    assert order == [(ACCOUNT_A, 0), (ACCOUNT_D, 1), (ACCOUNT_C, 0)]
    core_services.purpose_set(actor=desk.analyst, text="处置电诈报案", ref_type="case", ref_id=report.number)
    read = client.get(f"{URL}/{report.number}", headers=auth).json()
    assert [(s["account"], s["hop"]) for s in read["stop_requests"]] == order


def test_an_investigator_reads_the_id_number_in_full(desk: Desk, client: Client) -> None:
    report = services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=report_input()).report
    core_services.purpose_set(actor=desk.investigator, text="侦办电诈案件", ref_type="case", ref_id="A1")
    read = client.get(f"{URL}/{report.number}", headers=bearer(desk.investigator, "read"))
    assert read.status_code == 200
    assert read.json()["victim"]["id_number"] == VICTIM_ID


def test_the_same_idempotency_key_returns_the_first_report(desk: Desk, client: Client) -> None:
    auth = bearer(desk.analyst, "antifraud.reports")
    payload = body(idempotency_key="k-1")
    first = post(client, payload, auth).json()
    before = stored()
    again = post(client, payload, auth)
    assert again.status_code == 200
    assert again.json() == {**first, "replayed": True}
    assert stored() == before

    other = post(client, {**payload, "narrative": "另一起"}, auth)
    assert (other.status_code, other.json()["field"]) == (400, "idempotency_key")
    assert stored() == before


def test_api_scoping_and_audited_refusals(desk: Desk, client: Client) -> None:
    report = services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=report_input()).report
    core_services.purpose_set(actor=desk.other_officer, text="核查报案情况", ref_type="case", ref_id="X")

    other = client.get(f"{URL}/{report.number}", headers=bearer(desk.other_officer, "read"))
    assert (other.status_code, other.json()["code"]) == (403, "forbidden")  # audited below
    denied = AuditEntry.objects.get(actor=desk.other_officer, outcome="denied")
    assert (denied.action, denied.object_type, denied.object_id) == ("fraud.report", "fraud_report", report.number)

    missing = client.get(f"{URL}/FZ20990101999999", headers=bearer(desk.officer, "read"))
    assert missing.status_code == 404

    wrong_scope = post(client, body(), bearer(desk.analyst, "records.push"))
    assert (wrong_scope.status_code, wrong_scope.json()["code"]) == (403, "scope")
    no_power = post(client, body(unit="370102S02"), bearer(desk.officer, "antifraud.reports"))
    assert no_power.status_code == 403
    assert FraudReport.objects.count() == 1
