"""The pages: the menu entry, the list scoped to one's jurisdiction, the report form (its
errors at the field, nothing written), the report page behind a stated purpose, the
polled stop-payment box, and decisions refused to those without the power."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from jingwu.antifraud import services
from jingwu.antifraud.models import FraudReport, StopPaymentRequest, StopState, Transfer
from jingwu.antifraud.tests.conftest import ACCOUNT_A, ACCOUNT_B, VICTIM_ID, Desk, report_input
from jingwu.core import services as core_services
from jingwu.core.models import AuditEntry, User
from jingwu.core.tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db
S = StopState


def signed_in(client: Client, user: User) -> Client:
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def form_data(**change: str) -> dict[str, str]:
    data = {
        "victim_name": "王秀英", "victim_id_number": VICTIM_ID, "victim_phone": "13812345678",
        "fraud_type": "investment", "reported_at": "", "loss": "", "narrative": "虚假投资平台",
        "phones": "17100001234\n+63 917 123 4567", "urls": "", "apps": "金牛理财",
        "transfers-TOTAL_FORMS": "2", "transfers-INITIAL_FORMS": "0", "transfers-MIN_NUM_FORMS": "1",
        "transfers-MAX_NUM_FORMS": "50",
        "transfers-0-payee_bank": "ICBC", "transfers-0-payee_account": ACCOUNT_A, "transfers-0-payee_name": "",
        "transfers-0-amount": "1234.56", "transfers-0-transferred_at": "2026-05-01T10:30",
        "transfers-0-payer_bank": "", "transfers-0-payer_account": "",
        "transfers-1-payee_bank": "CCB", "transfers-1-payee_account": ACCOUNT_B, "transfers-1-payee_name": "张某",
        "transfers-1-amount": "20000", "transfers-1-transferred_at": "2026-05-01T11:00",
        "transfers-1-payer_bank": "", "transfers-1-payer_account": "",
        "submit": "1",
    }
    data.update(change)
    return data


def field_error(html: str, field: str) -> str | None:
    found = re.search(rf'<small id="id_{field}-error" class="field-error">([^<]*)</small>', html)
    return found.group(1) if found else None


def no_inline_code(html: str) -> None:
    """The Content-Security-Policy allows no inline script or style: none may be written."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_the_menu_shows_reports_to_those_who_take_them(desk: Desk, client: Client) -> None:
    page = signed_in(client, desk.officer).get("/").content.decode()
    assert '<a href="/antifraud/">反诈报案</a>' in page
    steward = core_services.user_create(actor=None, username="ds", password=TEST_PASSWORD,
                                        home_unit=desk.tree.province)
    core_services.role_grant(actor=None, user=steward, role="data_steward", unit=desk.tree.province)
    other = Client()
    assert "反诈报案" not in signed_in(other, steward).get("/").content.decode()
    assert other.get("/antifraud/").status_code == 403


def test_an_officer_files_a_report_through_the_form(desk: Desk, client: Client) -> None:
    signed_in(client, desk.officer)
    blank = client.get("/antifraud/reports/new")
    assert blank.status_code == 200
    html = blank.content.decode()
    no_inline_code(html)
    assert "受理单位：泉城路派出所" in html

    response = client.post("/antifraud/reports/new", form_data())
    report = FraudReport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/antifraud/reports/{report.number}/"
    assert (report.unit, report.fraud_type, report.loss_fen) == (desk.tree.station_a1a, "investment", 2_123_456)
    assert list(Transfer.objects.values_list("payee_account", "amount_fen")) == [(ACCOUNT_A, 123_456),
                                                                                 (ACCOUNT_B, 2_000_000)]
    assert list(report.identifiers.filter(kind="phone").values_list("value", "valid")) == [
        ("+8617100001234", True), ("+639171234567", False)]
    assert set(StopPaymentRequest.objects.values_list("state", flat=True)) == {S.AWAITING_APPROVAL}


def test_a_bad_account_is_shown_at_its_field_and_nothing_is_written(desk: Desk, client: Client) -> None:
    signed_in(client, desk.officer)
    response = client.post("/antifraud/reports/new", form_data(**{"transfers-1-payee_account": "6217 0000 100"}))
    assert response.status_code == 400
    assert field_error(response.content.decode(), "transfers-1-payee_account") == "expected 12-19 digits, got 11"
    assert FraudReport.objects.count() == 0
    assert Transfer.objects.count() == 0
    assert StopPaymentRequest.objects.count() == 0


def test_the_service_error_lands_on_the_transfer_row_it_names(desk: Desk, client: Client) -> None:
    signed_in(client, desk.officer)
    response = client.post("/antifraud/reports/new", form_data(**{"transfers-1-payee_account": "6217-00x"}))
    assert response.status_code == 400
    html = response.content.decode()
    assert field_error(html, "transfers-1-payee_account") == "a card or account number holds digits only"
    assert field_error(html, "transfers-0-payee_account") is None
    assert FraudReport.objects.count() == 0


def test_adding_a_transfer_row_keeps_what_was_typed(desk: Desk, client: Client) -> None:
    signed_in(client, desk.officer)
    response = client.post("/antifraud/reports/new", {**form_data(), "add_transfer": "1", "submit": ""})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="transfers-TOTAL_FORMS" value="3"' in html
    assert "第 3 笔转账" in html
    assert f'value="{ACCOUNT_B}"' in html
    assert FraudReport.objects.count() == 0


def test_the_report_page_needs_a_purpose_and_records_the_read(desk: Desk, client: Client) -> None:
    report = services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=report_input()).report
    signed_in(client, desk.officer)
    url = f"/antifraud/reports/{report.number}/"

    asked = client.get(url)
    assert asked.status_code == 302
    assert asked["Location"] == f"/purpose?next=%2Fantifraud%2Freports%2F{report.number}%2F"

    core_services.purpose_set(actor=desk.officer, text="受理电诈报案", ref_type="case", ref_id=report.number)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    no_inline_code(html)
    assert "3701**********1233" in html and VICTIM_ID not in html
    assert "待审批" in html and "报案人无止付决定权，已提交反诈中心审批。" in html
    assert "hx-trigger" not in html  # nothing waits on a bank: no polling
    read = AuditEntry.objects.filter(action="person.read", object_id=report.number)
    assert read.count() == 1 and read.get().purpose.startswith("受理电诈报案")


def test_the_stop_box_polls_while_a_bank_owes_an_answer(desk: Desk, client: Client) -> None:
    report = services.fraud_report_submit(actor=desk.analyst, unit=desk.tree.station_a1a, data=report_input()).report
    signed_in(client, desk.analyst)
    box = client.get(f"/antifraud/reports/{report.number}/stops", headers={"HX-Request": "true"}).content.decode()
    assert f'hx-get="/antifraud/reports/{report.number}/stops" hx-trigger="every 1s"' in box
    assert "正在与银行交互……" in box
    assert not AuditEntry.objects.filter(action="person.read").exists()  # the box names no victim

    StopPaymentRequest.objects.filter(report=report).update(state=S.STOPPED, amount_stopped_fen=100_000)
    done = client.get(f"/antifraud/reports/{report.number}/stops").content.decode()
    assert "hx-trigger" not in done
    assert "全部止付请求已有结果。" in done
    assert "已止付 ¥1,000.00" in done


def test_the_list_is_scoped_to_ones_jurisdiction(desk: Desk, client: Client,
                                                 django_assert_max_num_queries: Any) -> None:
    mine = services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=report_input()).report
    theirs = services.fraud_report_submit(actor=desk.other_officer, unit=desk.tree.station_a1b,
                                          data=report_input()).report
    for _ in range(5):
        services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=report_input())

    signed_in(client, desk.officer)
    with django_assert_max_num_queries(12):
        html = client.get("/antifraud/").content.decode()
    assert mine.number in html and theirs.number not in html
    assert "共 6 起" in html

    other = Client()
    signed_in(other, desk.analyst)  # the city's centre sees both stations
    html = other.get("/antifraud/").content.decode()
    assert mine.number in html and theirs.number in html

    outside = signed_in(Client(), desk.other_officer).get(f"/antifraud/reports/{mine.number}/")
    assert outside.status_code == 403
    assert AuditEntry.objects.filter(actor=desk.other_officer, outcome="denied", object_id=mine.number).exists()


def test_decisions_are_refused_to_those_without_the_power(desk: Desk, client: Client) -> None:
    report = services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=report_input()).report
    stop = StopPaymentRequest.objects.get(report=report)
    signed_in(client, desk.officer)
    assert client.post(f"/antifraud/reports/{report.number}/approve").status_code == 403
    assert client.post(f"/antifraud/stops/{stop.pk}/release").status_code == 403
    stop.refresh_from_db()
    assert stop.state == S.AWAITING_APPROVAL

    analyst = signed_in(Client(), desk.analyst)
    answer = analyst.post(f"/antifraud/reports/{report.number}/approve", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert '<section id="stops"' in answer.content.decode()
    stop.refresh_from_db()
    assert stop.state == S.QUEUED
    wrong = analyst.post(f"/antifraud/stops/{stop.pk}/renew", headers={"HX-Request": "true"}).content.decode()
    assert "当前状态“待发送”下不能续止。" in wrong


def test_the_pages_speak_english_when_asked(desk: Desk, client: Client) -> None:
    report = services.fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=report_input()).report
    signed_in(client, desk.officer)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    try:
        html = client.get("/antifraud/").content.decode()
        box = client.get(f"/antifraud/reports/{report.number}/stops").content.decode()
    finally:  # the middleware leaves the language active in this thread: later tests speak Chinese
        translation.activate(settings.LANGUAGE_CODE)
    assert "<h1>Fraud reports</h1>" in html
    assert '<a href="/antifraud/" aria-current="page">Fraud reports</a>' in html  # the menu entry too
    assert "Fake order-brushing rebates" in html
    assert "Awaiting approval" in box
    assert "1 request awaits approval." in box


def test_every_english_string_is_translated() -> None:
    po = (Path(services.__file__).parent / "locale/en/LC_MESSAGES/django.po").read_text(encoding="utf-8")
    entries = po.split("\n\n")[1:]
    assert len(entries) > 150
    empty = [e for e in entries if re.search(r'^msgstr(\[\d\])? ""$', e, re.M) and not e.endswith('"\n"')]
    assert empty == []
