"""The profile's timeline: the events the data centre contributes, exactly; paging; scoping;
one audit entry per view; and other modules plugging in through jingwu.core.timeline."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from jingwu.core import timeline
from jingwu.core.models import AuditEntry, User
from jingwu.records import entities, review
from jingwu.records.entities import mask_id_number
from jingwu.records.models import Entity, EntityRecord, LinkRun, Relation, SourceRecord
from jingwu.records.tests.profile_support import HK1_V2_RECEIVED, PURPOSE, RECEIVED, profile_province, reader
from jingwu.records.tests.test_linking_fixture import ID1, UNCERTAIN, Province, entity_of, linked_province

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _local(at: dt.datetime) -> dt.datetime:
    """As the API gives it: in Shanghai, to the millisecond."""
    return at.astimezone(SHANGHAI).replace(microsecond=at.microsecond // 1000 * 1000)


def _at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def _rows(events: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    assert all(e["at"].endswith("+08:00") for e in events)
    return [(dt.datetime.fromisoformat(e["at"]), e["all_day"], e["kind"], e["label"], e["summary"], e["link"],
             e["source"]) for e in events]


def _linked_at(record: int) -> dt.datetime:
    return EntityRecord.objects.get(record_id=record, kind="person").linked_at


@pytest.fixture
def province() -> tuple[Province, SourceRecord]:
    return profile_province()


def test_the_timeline_of_a_person_newest_first_with_provenance(province: tuple[Province, SourceRecord]) -> None:
    p, hk1 = province
    e1 = entity_of("HK1")
    officer = reader("wang", "officer", p.tree.station_a1a)
    data = _client(officer).get(f"/api/records/entities/{e1}").json()
    full, incremental = LinkRun.objects.order_by("pk")
    hotel, vehicle, phone = entity_of("HT1", "place"), entity_of("VH1", "vehicle"), entity_of("TEL1", "phone")
    r = p.rid
    page = f"/records/entities/{e1}/"
    first_run = _local(_linked_at(r("HK1")))
    assert _linked_at(r("TEL1")) == _linked_at(r("HK1")) == _linked_at(r("HT1")) == _linked_at(r("VH1"))
    assert Entity.objects.get(pk=e1).created_at == _linked_at(r("HK1"))
    by_full, by_incremental = f"关联运行 #{full.pk}（全量）", f"关联运行 #{incremental.pk}（增量）"
    assert _rows(data["timeline"]) == [
        (_local(_linked_at(hk1.pk)), False, "records.linkage", "关联记录", "户籍记录 HK1：身份证号一致",
         f"{page}#record-{hk1.pk}", by_incremental),
        # One run linked four records at one moment: newest record first, then the entity's creation.
        (first_run, False, "records.linkage", "关联记录", "车管记录 VH1：身份证号一致", f"{page}#record-{r('VH1')}",
         by_full),
        (first_run, False, "records.linkage", "关联记录", "旅馆业记录 HT1：身份证号一致", f"{page}#record-{r('HT1')}",
         by_full),
        (first_run, False, "records.linkage", "关联记录", "电信实名记录 TEL1：概率模型 1.000",
         f"{page}#record-{r('TEL1')}", by_full),
        (first_run, False, "records.linkage", "关联记录", "户籍记录 HK1：身份证号一致", f"{page}#record-{r('HK1')}",
         by_full),
        (first_run, False, "records.linkage", "建立实体", f"实体 #{e1} 建立", "", ""),
        (_at(2026, 1, 5, 16), False, "records.received", "接收记录", "户籍记录 HK1",
         f"{page}#record-{hk1.pk}", f"户籍 #{hk1.pk}"),
        (_at(2025, 11, 27, 10, 15), False, "records.received", "接收记录",
         "旅馆业记录 HT1；首次见于此来源（共 1 条）", f"{page}#record-{r('HT1')}", f"旅馆业 #{r('HT1')}"),
        # The check-in and check-out the hotel record gives are the stay's start and end.
        (_at(2025, 11, 26), True, "records.relations", "住宿结束", "→ 泉城宾馆（301）", f"/records/entities/{hotel}/",
         f"旅馆业 #{r('HT1')}"),
        (_at(2025, 11, 24), True, "records.relations", "住宿开始", "→ 泉城宾馆（301）", f"/records/entities/{hotel}/",
         f"旅馆业 #{r('HT1')}"),
        (_at(2025, 3, 1, 8), False, "records.received", "接收记录",
         "车管记录 VH1；首次见于此来源（共 1 条）", f"{page}#record-{r('VH1')}", f"车管 #{r('VH1')}"),
        (_at(2025, 2, 4, 0, 30), False, "records.received", "接收记录",
         "电信实名记录 TEL1；首次见于此来源（共 1 条）", f"{page}#record-{r('TEL1')}", f"电信实名 #{r('TEL1')}"),
        (_at(2024, 6, 1, 10), False, "records.received", "接收记录",
         f"户籍记录 HK1；首次见于此来源（共 2 条）；已被新版本 #{hk1.pk} 取代", f"{page}#record-{r('HK1')}",
         f"户籍 #{r('HK1')}"),
        (_at(2016, 5, 20), True, "records.relations", "拥有车辆开始", "→ 鲁A12345", f"/records/entities/{vehicle}/",
         f"车管 #{r('VH1')}"),
        (_at(2015, 4, 1), True, "records.relations", "使用电话开始", "→ 13912340001", f"/records/entities/{phone}/",
         f"电信实名 #{r('TEL1')}"),
        (_at(1980, 3, 15), True, "records.dates", "出生", "出生日期 1980-03-15（3 条记录一致）",
         f"{page}#record-{hk1.pk}", f"户籍 #{hk1.pk}、电信实名 #{r('TEL1')}、户籍 #{r('HK1')}"),
    ]
    assert data["timeline_has_more"] is False
    assert RECEIVED["HK1"] < RECEIVED["TEL1"] < HK1_V2_RECEIVED


def test_dates_a_record_gives_that_no_relation_carries(province: tuple[Province, SourceRecord]) -> None:
    p, _hk1 = province
    officer = reader("wang", "officer", p.tree.station_a1a)
    c = _client(officer)
    # A phone's activation is the subscriber's use of it (a relation); the vehicle's registration
    # is its owner's ownership; the bank account's opening its holder's.
    for key, kind in (("TEL1", "phone"), ("VH1", "vehicle"), ("BK2", "account")):
        events = c.get(f"/api/records/entities/{entity_of(key, kind)}").json()["timeline"]
        assert [e["kind"] for e in events if e["kind"] in ("records.dates", "records.relations")] == [
            "records.relations"], key
    # Where no stay carries a check-in (a hotel without an address makes no place), the
    # record's own dates stand in the timeline.
    assert Relation.objects.filter(record_id=p.rid("HT6"), kind="stayed_at").delete()[0] == 1
    e6 = entity_of("HK6")
    events = c.get(f"/api/records/entities/{e6}").json()["timeline"]
    dated = [(dt.datetime.fromisoformat(e["at"]), e["label"], e["summary"], e["source"]) for e in events
             if e["kind"] == "records.dates"]
    assert dated == [
        (_at(2025, 8, 9), "退房", "退房日期 2025-08-09 · 八大关酒店 · 101", f"旅馆业 #{p.rid('HT6')}"),
        (_at(2025, 8, 8), "入住", "入住时间 2025-08-08 · 八大关酒店 · 101", f"旅馆业 #{p.rid('HT6')}"),
        (_at(1979, 6, 30), "出生", "出生日期 1979-06-30（2 条记录一致）",
         f"旅馆业 #{p.rid('HT6')}、户籍 #{p.rid('HK6')}"),
    ]


def test_neighbours_outside_the_jurisdiction_are_neither_named_nor_linked(
        province: tuple[Province, SourceRecord]) -> None:
    p, _hk1 = province
    officer = reader("wang", "officer", p.tree.station_a1a)
    hotel = entity_of("HT1", "place")
    p4 = entity_of("HK4")  # 张伟 of county A2 stayed at the hotel in A1
    response = _client(officer).get(f"/api/records/entities/{hotel}")
    events = response.json()["timeline"]
    stays = [(e["label"], e["summary"], e["link"]) for e in events if e["kind"] == "records.relations"]
    assert stays == [("住宿结束", "← 陈大文（泉城宾馆 · 301）", f"/records/entities/{entity_of('HK1')}/"),
                     ("住宿开始", "← 陈大文（泉城宾馆 · 301）", f"/records/entities/{entity_of('HK1')}/"),
                     ("住宿结束", "← 辖区外（泉城宾馆 · 302）", ""), ("住宿开始", "← 辖区外（泉城宾馆 · 302）", "")]
    # The check-in record is the hotel's (A1) and names its guest; 张伟's entity is not the
    # officer's to see: no event names or links it, no relation gives its id.
    assert "张伟" not in json.dumps(events, ensure_ascii=False)
    assert f"/records/entities/{p4}/" not in response.content.decode()
    relation = next(r for r in response.json()["relations"] if r["other_name"] == "辖区外")
    assert (relation["other_id"], relation["other_visible"]) == (None, False)
    html = _client(officer).get(f"/records/entities/{hotel}/").content.decode()
    assert f"/records/entities/{p4}/" not in html
    # From county A2 it is the hotel that is withheld.
    there = reader("li", "officer", p.tree.county_a2)
    assert _client(there).get(f"/api/records/entities/{hotel}").status_code == 403  # the hotel is A1's
    events = _client(there).get(f"/api/records/entities/{p4}").json()["timeline"]
    assert [(e["label"], e["summary"], e["link"]) for e in events if e["kind"] == "records.relations"] == [
        ("住宿结束", "→ 辖区外（泉城宾馆 · 302）", ""), ("住宿开始", "→ 辖区外（泉城宾馆 · 302）", "")]


def test_one_view_is_one_audit_entry_with_its_purpose(province: tuple[Province, SourceRecord]) -> None:
    p, _hk1 = province
    officer = reader("wang", "officer", p.tree.station_a1a)
    c = _client(officer)
    e1 = entity_of("HK1")
    before = AuditEntry.objects.count()
    assert c.get(f"/records/entities/{e1}/").status_code == 200
    assert c.get(f"/api/records/entities/{e1}").status_code == 200
    assert c.get(f"/api/records/entities/{e1}/timeline?offset=5&limit=5").status_code == 200
    assert c.get(f"/records/entities/{e1}/timeline?offset=5", HTTP_HX_REQUEST="true").status_code == 200
    entries = list(AuditEntry.objects.filter(pk__gt=0).order_by("pk")[before:].values_list(
        "action", "object_type", "object_id", "purpose", "outcome", "details"))
    assert entries == [
        ("person.read", "entity", str(e1), PURPOSE, "allowed", {"kind": "person", "view": "profile"}),
        ("person.read", "entity", str(e1), PURPOSE, "allowed", {"kind": "person", "view": "profile"}),
        ("person.read", "entity", str(e1), PURPOSE, "allowed", {"kind": "person", "view": "timeline", "offset": 5}),
        ("person.read", "entity", str(e1), PURPOSE, "allowed", {"kind": "person", "view": "timeline", "offset": 5}),
    ]


def test_a_further_page_needs_a_purpose_and_the_jurisdiction(province: tuple[Province, SourceRecord]) -> None:
    p, _hk1 = province
    e1 = entity_of("HK1")
    nobody = reader("wu", "officer", p.tree.station_a1a, purpose=False)
    response = _client(nobody).get(f"/records/entities/{e1}/timeline?offset=20", HTTP_HX_REQUEST="true")
    assert (response.status_code, response["HX-Redirect"]) == (204, f"/purpose?next=%2Frecords%2Fentities%2F{e1}%2F")
    plain = _client(nobody).get(f"/records/entities/{e1}/timeline?offset=20")
    assert (plain.status_code, plain["Location"]) == (302, f"/purpose?next=%2Frecords%2Fentities%2F{e1}%2F")
    outsider = reader("li", "officer", p.tree.county_a2)
    assert _client(outsider).get(f"/records/entities/{e1}/timeline").status_code == 403
    assert _client(outsider).get(f"/api/records/entities/{e1}/timeline").json() == {
        "detail": "person.read not permitted", "code": "forbidden"}
    assert list(AuditEntry.objects.filter(action="person.read").values_list("actor_username", "outcome")) == [
        ("li", "denied"), ("li", "denied")]
    officer = reader("wang", "officer", p.tree.station_a1a)
    assert _client(officer).get(f"/records/entities/{e1}/timeline?offset=x").status_code == 400
    assert _client(officer).get("/api/records/entities/999999/timeline").json() == {
        "detail": "no entity 999999", "code": "not_found"}


def test_pages_of_the_timeline_add_up_to_the_whole(province: tuple[Province, SourceRecord]) -> None:
    p, _hk1 = province
    officer = reader("wang", "officer", p.tree.station_a1a)
    c = _client(officer)
    e1 = entity_of("HK1")
    whole = c.get(f"/api/records/entities/{e1}/timeline?limit=100").json()
    assert (len(whole["events"]), whole["has_more"], whole["next_offset"]) == (16, False, 16)
    pages = [c.get(f"/api/records/entities/{e1}/timeline?offset={o}&limit=5").json() for o in (0, 5, 10, 15)]
    assert [(q["offset"], q["limit"], len(q["events"]), q["has_more"], q["next_offset"]) for q in pages] == [
        (0, 5, 5, True, 5), (5, 5, 5, True, 10), (10, 5, 5, True, 15), (15, 5, 1, False, 16)]
    assert [e for q in pages for e in q["events"]] == whole["events"]
    past = c.get(f"/api/records/entities/{e1}/timeline?offset=99").json()
    assert (past["events"], past["has_more"]) == ([], False)
    # Out-of-range numbers are brought within bounds, never a server error.
    odd = c.get(f"/api/records/entities/{e1}/timeline?offset=-3&limit={2**70}").json()
    assert (odd["offset"], odd["limit"], len(odd["events"])) == (0, timeline.PAGE_MAX, 16)


@pytest.fixture
def extra_events() -> Iterator[list[tuple[Any, ...]]]:
    """A contributor of another module: 30 hourly events about whoever asks, recording its calls."""
    calls: list[tuple[Any, ...]] = []
    base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    def contribute(actor: User, entity_ids: Sequence[int], limit: int) -> list[timeline.Event]:
        calls.append((actor.username, list(entity_ids), limit))
        return [timeline.Event(base - dt.timedelta(hours=i), "cases.test", "测试事件", f"事件 {i}",
                               source="测试模块") for i in range(min(limit, 30))]

    timeline.register("cases.test", contribute)
    yield calls
    timeline.unregister("cases.test")


def test_another_module_plugs_in_and_the_page_shows_more(province: tuple[Province, SourceRecord],
                                                         extra_events: list[tuple[Any, ...]]) -> None:
    p, _hk1 = province
    officer = reader("wang", "officer", p.tree.station_a1a)
    c = _client(officer)
    e1 = entity_of("HK1")
    html = c.get(f"/records/entities/{e1}/").content.decode()
    assert extra_events == [("wang", [e1], 21)]
    shown = re.findall(r'<li class="timeline-event timeline-([a-z]+)">\s*<time datetime="([^"]+)">([^<]+)</time>',
                       html)
    # Newest first: the other module's 2030 events (midnight UTC is 08:00 in Shanghai), 20 to a page.
    assert shown == [("casestest", (dt.datetime(2030, 1, 1, tzinfo=dt.UTC) - dt.timedelta(hours=i))
                      .astimezone(SHANGHAI).isoformat(), f"2030-01-01 {8 - i:02d}:00") for i in range(9)] + [
        ("casestest", (dt.datetime(2030, 1, 1, tzinfo=dt.UTC) - dt.timedelta(hours=i)).astimezone(SHANGHAI)
         .isoformat(), f"2029-12-31 {32 - i:02d}:00") for i in range(9, 20)]
    more = f'/records/entities/{e1}/timeline?offset=20'
    assert f'<a href="{more}" hx-get="{more}" hx-target="#timeline-events" hx-swap="beforeend"' in html
    summary = r'<span class="event-summary">(?:<a href="[^"]*">)?([^<]+)'
    fragment = c.get(more, HTTP_HX_REQUEST="true").content.decode()
    items = re.findall(summary, fragment)
    assert items[:10] == [f"事件 {i}" for i in range(20, 30)]
    assert len(items) == 20 and items[10] == "户籍记录 HK1：身份证号一致"
    after = f'/records/entities/{e1}/timeline?offset=40'
    assert f'<p id="timeline-more" hx-swap-oob="true"><a href="{after}" hx-get="{after}"' in fragment
    assert "<html" not in fragment
    last = c.get(after, HTTP_HX_REQUEST="true").content.decode()
    assert len(re.findall(summary, last)) == 6
    assert '<p id="timeline-more" hx-swap-oob="true"></p>' in last  # nothing older: the button goes
    # Without JavaScript the same link is a page of its own.
    page = c.get(more).content.decode()
    assert "<html" in page and page.count('class="timeline-event') == 20 and f'href="{after}"' in page
    # A merged id is still asked about: the other module may hold references to it.
    gone = Entity.objects.create(kind="person", unit=p.tree.grid_a1a, merged_into_id=e1)
    extra_events.clear()
    c.get(f"/api/records/entities/{e1}")
    assert extra_events == [("wang", [e1, gone.pk], 21)]


def test_a_contributor_must_give_aware_times_and_a_name_of_its_own() -> None:
    def naive(actor: User, entity_ids: Sequence[int], limit: int) -> list[timeline.Event]:
        return [timeline.Event(dt.datetime(2030, 1, 1), "cases.naive", "x", "y")]

    timeline.register("cases.naive", naive)
    try:
        with pytest.raises(ValueError, match=r"'cases\.naive' gave a naive time for cases\.naive"):
            timeline.events(User(username="x"), [1])
        with pytest.raises(ValueError, match=r"'records\.received' is registered already"):
            timeline.register("records.received", naive)
    finally:
        timeline.unregister("cases.naive")
    assert list(timeline.contributors()) == ["records.dates", "records.linkage", "records.received",
                                             "records.relations"]


def test_judgements_merges_and_splits_are_history() -> None:
    p = linked_province()
    steward = reader("zhao", "data_steward", p.tree.county_a1)
    a, b = p.records[UNCERTAIN[0]], p.records[UNCERTAIN[1]]
    merged_away = max(entity_of(UNCERTAIN[0]), entity_of(UNCERTAIN[1]))
    outcome = review.judgement_record(actor=steward, record_a=a, record_b=b, verdict="confirmed", note="父子共用号码")
    assert outcome.merged_into is not None
    survivor = outcome.merged_into.pk
    page = entities.entity_timeline(steward, survivor, limit=100)
    at = outcome.judgement.at
    history = [(e.at, e.label, e.summary, e.source) for e in page.events if e.kind == "records.linkage"]
    run_at = _linked_at(p.rid("HK3"))  # when the full run linked everyone and made their entities
    assert set(Entity.objects.filter(pk__in=(survivor, merged_away)).values_list("created_at", flat=True)) == {
        run_at}
    merged_at = Entity.objects.get(pk=merged_away).updated_at
    assert merged_at > at
    pair = sorted((a.pk, b.pk))
    links = [f"{m.record.source.name}记录 {m.record.source_key}：人工确认" for m in EntityRecord.objects.filter(
        entity_id=survivor).select_related("record__source").order_by("-pk")]
    assert sorted(links) == ["户籍记录 HK8：人工确认", "电信实名记录 TEL9：人工确认"]
    assert history == [
        (merged_at, "合并实体", f"实体 #{merged_away} 并入本实体", ""),
        (at, "复核结论", f"记录 #{pair[0]} 与 #{pair[1]}：确认同一人（说明：父子共用号码）", "复核人 zhao"),
        (run_at, "关联记录", links[0], "人工复核"),
        (run_at, "关联记录", links[1], "人工复核"),
        (run_at, "建立实体", f"实体 #{survivor} 建立", ""),
        (run_at, "建立实体", f"实体 #{merged_away} 建立", ""),
    ]
    # The analyst splits 陈大文's hotel record off: one action, three pairs rejected.
    e1 = entity_of("HK1")
    new = review.entity_split(actor=steward, entity=Entity.objects.get(pk=e1), record_ids=[p.rid("HT1")],
                              note="住宿登记不是本人")
    split = [(e.label, e.summary, e.source) for e in entities.entity_timeline(steward, e1, limit=100).events
             if e.label == "拆分实体"]
    assert split == [("拆分实体", "3 对记录：确认非同一人（说明：住宿登记不是本人）", "复核人 zhao")]
    events = entities.entity_timeline(steward, new.pk, limit=100).events
    # The judgements come first, then the new entity, then the record moved into it.
    assert [(e.label, e.summary, e.source) for e in events if e.kind == "records.linkage"] == [
        ("关联记录", "旅馆业记录 HT1：单独成实体", "人工复核"),
        ("建立实体", f"实体 #{new.pk} 建立", ""),
        ("拆分实体", "3 对记录：确认非同一人（说明：住宿登记不是本人）", "复核人 zhao"),
    ]
    assert [(e.label, e.summary) for e in events if e.kind == "records.relations"] == [
        ("住宿结束", "→ 泉城宾馆（301）"), ("住宿开始", "→ 泉城宾馆（301）")]


def test_the_timeline_speaks_english_when_chosen(province: tuple[Province, SourceRecord]) -> None:
    p, _hk1 = province
    c = _client(reader("wang", "officer", p.tree.station_a1a))
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override(settings.LANGUAGE_CODE):  # the request leaves English active: put Chinese back
        html = c.get(f"/records/entities/{entity_of('HK1')}/").content.decode()
    assert '<h2 id="timeline-title">Timeline</h2>' in html
    labels = re.findall(r'<span class="badge event-label">([^<]+)</span>', html)
    assert labels == ["Record linked"] * 5 + ["Entity created"] + ["Record received"] * 2 + [
        "Ended: stayed at", "Began: stayed at", "Record received", "Record received", "Record received",
        "Began: owns vehicle", "Began: uses phone", "Born"]
    # Source systems' names are data, not translated.
    assert "户籍 record HK1; first seen in this source (2 records in all); replaced by the newer version" in html


def test_a_source_key_that_is_an_id_number_is_masked_unless_the_role_needs_it(
        province: tuple[Province, SourceRecord]) -> None:
    p, hk1 = province
    e1 = entity_of("HK1")
    # A household file without an "id" column is keyed by the ID number (records/mapping.py).
    SourceRecord.objects.filter(pk=hk1.pk).update(source_key=ID1)
    SourceRecord.objects.filter(pk=p.rid("HK1")).update(source_key=f"{ID1}|v1")
    masked = mask_id_number(ID1)
    officer = _client(reader("wang", "officer", p.tree.station_a1a))
    html = officer.get(f"/records/entities/{e1}/").content.decode()
    data = officer.get(f"/api/records/entities/{e1}").json()
    for text in (html, json.dumps(data, ensure_ascii=False)):
        assert ID1 not in text
    assert f"户籍记录 {masked}；首次见于此来源" not in html  # the older version is the first
    assert f"户籍记录 {masked}|v1；首次见于此来源（共 2 条）" in html
    assert {r["source_key"] for r in data["records"] if r["source"] == "hukou"} == {masked, f"{masked}|v1"}
    assert [e["summary"] for e in data["timeline"][:1]] == [f"户籍记录 {masked}：身份证号一致"]
    steward = _client(reader("zhao", "data_steward", p.tree.county_a1))
    data = steward.get(f"/api/records/entities/{e1}").json()
    assert [e["summary"] for e in data["timeline"][:1]] == [f"户籍记录 {ID1}：身份证号一致"]
    assert {r["source_key"] for r in data["records"] if r["source"] == "hukou"} == {ID1, f"{ID1}|v1"}
