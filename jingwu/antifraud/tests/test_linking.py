"""Linking 串并案 on a labelled fixture: reports and scored signals sharing an account,
phone, URL, app, device or IP form exactly the labelled networks; the network page is
scoped and audited."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from django.test import Client

from jingwu.antifraud import early_warning, linking
from jingwu.antifraud.models import FraudReport
from jingwu.antifraud.services import fraud_report_submit
from jingwu.antifraud.tests.conftest import ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, ACCOUNT_D, Desk, report_input, transfer
from jingwu.antifraud.warning_models import LinkNode, Signal
from jingwu.core.models import AuditEntry, User
from jingwu.core.tests.factories import TEST_PASSWORD, make_user

pytestmark = pytest.mark.django_db
ACCOUNT_E = "6228480402564890018"

# (label, ring, accounts, phones, urls, apps)
FIXTURE = [
    ("r1", "A", [ACCOUNT_A], ["17100001234"], [], []),
    ("r2", "A", [ACCOUNT_B], ["171-0000-1234"], [], []),  # same phone as r1, written otherwise
    ("r3", "A", [ACCOUNT_B], [], ["HTTP://Fake-Bank.example.com"], []),  # same account as r2
    ("r4", "B", [ACCOUNT_C], [], [], ["ＦａｓｔＴａｓｋ"]),
    ("r5", "B", [ACCOUNT_D], [], [], ["fasttask"]),  # same app as r4 (full-width folded, lower-cased)
    ("r6", "C", [ACCOUNT_E], [], [], []),
]


def file_fixture(desk: Desk) -> dict[str, FraudReport]:
    made = {}
    for label, _ring, accounts, phones, urls, apps in FIXTURE:
        data = report_input(*[transfer(a, "ICBC", 10_000) for a in accounts], phones=phones, urls=urls, apps=apps)
        made[label] = fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=data).report
    return made


def groups(made: dict[str, FraudReport]) -> set[frozenset[str]]:
    by_root: dict[int | None, set[str]] = defaultdict(set)
    for label, report in made.items():
        by_root[linking.network_root(report)].add(label)
    return {frozenset(v) for v in by_root.values()}


def test_reports_form_exactly_the_labelled_networks(desk: Desk) -> None:
    made = file_fixture(desk)
    labelled: dict[str, set[str]] = defaultdict(set)
    for label, ring, *_rest in FIXTURE:
        labelled[ring].add(label)
    assert groups(made) == {frozenset(v) for v in labelled.values()}
    assert [(n["reports"]) for n in linking.networks()] == [3, 2]
    root = linking.network_root(made["r1"])
    assert root is not None
    sizes = LinkNode.objects.get(pk=root).size
    assert sizes == LinkNode.objects.filter(root_id=root).count() == 3 + 2 + 1 + 1  # reports, accounts, phone, url


def test_scored_signals_join_networks_through_device_and_ip(desk: Desk) -> None:
    made = file_fixture(desk)
    partner = make_user("cmcc_gateway", [("partner", desk.tree.city_a)])
    early_warning.signal_partner_bind(actor=None, code="CMCC", user=partner)
    early_warning.watchlist_add(actor=desk.analyst, kind="url", raw="fake-bank.example.com", source="部反诈中心")
    early_warning.watchlist_add(actor=desk.analyst, kind="app", raw="FastTask", source="部反诈中心")
    now = dt.datetime.now(dt.UTC)
    base = {"occurred_at": now - dt.timedelta(minutes=5), "citizen_phone": "13812345678", "station": "370102S01"}
    items = [
        # Visits ring A's URL from a device that also installed ring B's app: the rings are one gang.
        {**base, "id": "1", "kind": "url_visit", "counterpart": "http://fake-bank.example.com/", "device": "IMEI-9"},
        {**base, "id": "2", "kind": "app_install", "counterpart": "FastTask", "device": "IMEI-9",
         "citizen_phone": "13912345678"},
        # An ordinary call scores nothing and links nothing, device or not.
        {**base, "id": "3", "kind": "call", "counterpart": "13700001111", "device": "IMEI-7", "ip": "10.0.0.7"},
    ]
    early_warning.signals_process(early_warning.signals_check(actor=partner, partner="CMCC", items=items, now=now))
    assert groups(made) == {frozenset({"r1", "r2", "r3", "r4", "r5"}), frozenset({"r6"})}
    assert not LinkNode.objects.filter(key__in=["device:IMEI-7", "ip:10.0.0.7"]).exists()


def login(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def test_network_page_shows_the_graph_and_its_reports_scoped_and_audited(desk: Desk) -> None:
    made = file_fixture(desk)
    root = linking.network_root(made["r4"])
    page = login(desk.analyst).get(f"/antifraud/networks/{root}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert made["r4"].number in html and made["r5"].number in html and made["r1"].number not in html
    assert 'id="network-data"' in html and "antifraud/network.js" in html and "<script>" not in html
    assert AuditEntry.objects.filter(action="antifraud.network_read", object_id=str(root)).count() == 1
    listing = login(desk.analyst).get("/antifraud/networks/").content.decode()
    assert f"/antifraud/networks/{root}/" in listing
    # An analyst of the other city sees no network of city A, and the refusal is audited.
    stranger = make_user("qd_analyst", [("fraud_analyst", desk.tree.city_b)])
    assert login(stranger).get(f"/antifraud/networks/{root}/").status_code == 403
    assert AuditEntry.objects.filter(actor=stranger, outcome="denied", object_type="fraud_network").count() == 1
    assert f"/antifraud/networks/{root}/" not in login(stranger).get("/antifraud/networks/").content.decode()
    # Officers do not analyse networks.
    assert login(desk.officer).get(f"/antifraud/networks/{root}/").status_code == 403


def test_everyday_apps_link_nothing(desk: Desk) -> None:
    made = {}
    for label, account, apps in (("x1", ACCOUNT_A, ["微信"]), ("x2", ACCOUNT_C, ["WeChat", "QQ"]),
                                 ("x3", ACCOUNT_D, ["ＱＱ", "FastTask"]), ("x4", ACCOUNT_E, ["fasttask"])):
        data = report_input(transfer(account, "ICBC", 10_000), phones=[], urls=[], apps=apps)
        made[label] = fraud_report_submit(actor=desk.officer, unit=desk.tree.station_a1a, data=data).report
    assert groups(made) == {frozenset({"x1"}), frozenset({"x2"}), frozenset({"x3", "x4"})}
    assert not LinkNode.objects.filter(key__in=["app:微信", "app:wechat", "app:qq"]).exists()
    # Still on the reports: the victim said so.
    assert sorted(made["x2"].identifiers.values_list("value", flat=True)) == [ACCOUNT_C, "qq", "wechat"]


def test_an_analyst_groups_a_networks_reports_into_one_case(desk: Desk) -> None:
    from jingwu.cases.models import Case, CaseIncident

    made = file_fixture(desk)
    root = linking.network_root(made["r1"])
    analyst = login(desk.analyst)
    page = analyst.get(f"/antifraud/networks/{root}/").content.decode()
    assert f'action="/antifraud/networks/{root}/group"' in page and "并为一案" in page
    answer = analyst.post(f"/antifraud/networks/{root}/group", follow=True)
    case = Case.objects.get()
    assert answer.redirect_chain[-1][0] == f"/antifraud/networks/{root}/"
    assert f"已并为一案：{case.number}（3 起报案）。" in answer.content.decode()
    assert (case.unit, case.category, case.case_type) == (desk.tree.station_a1a, "telecom_fraud", "criminal")
    assert sorted(CaseIncident.objects.values_list("number", flat=True)) == sorted(
        made[k].number for k in ("r1", "r2", "r3"))
    assert AuditEntry.objects.filter(actor=desk.analyst, action="antifraud.network_group", object_id=str(root),
                                     details__case=case.number).count() == 1
    html = answer.content.decode()
    assert html.count(f'href="/cases/{case.pk}/"') == 4 and "并为一案</button>" not in html  # banner + 3 rows
    assert analyst.get(f"/cases/{case.pk}/").status_code == 200
    # The network grows by a report sharing its phone: grouping again adds it to the same case.
    more = report_input(transfer("6228480402564890026", "ABC", 5_000), phones=["17100001234"], urls=[], apps=[])
    late = fraud_report_submit(actor=desk.other_officer, unit=desk.tree.station_a1b, data=more).report
    assert linking.network_root(late) == linking.network_root(made["r1"])
    root = linking.network_root(late)
    assert "将其余 1 起报案并入此案" in analyst.get(f"/antifraud/networks/{root}/").content.decode()
    again = analyst.post(f"/antifraud/networks/{root}/group", follow=True).content.decode()
    assert f"已并入案件 {case.number}：新增 1 起报案。" in again
    assert Case.objects.count() == 1 and CaseIncident.objects.filter(case=case).count() == 4
    # Outside the jurisdiction: refused, audited, nothing written. Officers do not analyse networks.
    stranger = make_user("qd_analyst", [("fraud_analyst", desk.tree.city_b)])
    refused = login(stranger).post(f"/antifraud/networks/{root}/group")
    assert (refused.status_code, refused["Location"]) == (302, f"/antifraud/networks/{root}/")
    assert AuditEntry.objects.filter(actor=stranger, outcome="denied", object_type="fraud_network").count() == 1
    assert login(desk.officer).post(f"/antifraud/networks/{root}/group").status_code == 403
    assert CaseIncident.objects.count() == 4


def test_signals_with_an_everyday_app_link_nothing_in_a_batch_or_alone(desk: Desk) -> None:
    partner = make_user("cmcc_gateway", [("partner", desk.tree.city_a)])
    early_warning.signal_partner_bind(actor=None, code="CMCC", user=partner)
    # Listed by mistake or on purpose: the signals score, yet 微信 must not join its users' networks.
    early_warning.watchlist_add(actor=desk.analyst, kind="app", raw="微信", source="部反诈中心")
    now = dt.datetime.now(dt.UTC)
    base = {"occurred_at": now - dt.timedelta(minutes=5), "station": "370102S01", "kind": "app_install",
            "counterpart": "微信"}
    items = [{**base, "id": "1", "citizen_phone": "13812345678", "device": "IMEI-1"},
             {**base, "id": "2", "citizen_phone": "13912345678", "device": "IMEI-2"}]
    early_warning.signals_process(early_warning.signals_check(actor=partner, partner="CMCC", items=items, now=now))
    signals = list(Signal.objects.order_by("pk"))
    assert [s.score for s in signals] == [40, 40]
    assert LinkNode.objects.count() == 0  # the batch linker
    linking.link_signal(signals[0])
    assert LinkNode.objects.count() == 0  # the single linker: the same rule
