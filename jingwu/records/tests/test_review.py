"""Analyst judgements and splits, held by every later run; the review page and the
judgements API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from jingwu.core import services
from jingwu.core.models import AuditEntry, User
from jingwu.core.services import ServiceError
from jingwu.core.tests.factories import make_user
from jingwu.records import linking, review
from jingwu.records.entities import review_queue
from jingwu.records.models import Entity, EntityRecord, LinkJudgement, Relation, ReviewPair
from jingwu.records.tests.test_linking_fixture import (
    UNCERTAIN,
    Province,
    entity_of,
    linked_province,
    person_partition,
    truth_partition,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def p() -> Province:
    return linked_province()


@pytest.fixture
def steward(p: Province) -> User:
    user = make_user("zhao", [("data_steward", p.tree.county_a1)])
    services.purpose_set(actor=user, text="关联数据质量复核")
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _judge(p: Province, actor: User, a: str, b: str, verdict: str) -> review.JudgementOutcome:
    return review.judgement_record(actor=actor, record_a=p.records[a], record_b=p.records[b], verdict=verdict)


def _relink_both_ways(p: Province) -> None:
    """An incremental run (with a new record to link) and a full run."""
    p.add("telecom", "TEL6", "p6", {"phone": "13912340006", "subscriber_name": "赵敏", "birth_date": "1979-06-30",
                                    "carrier": "中国移动", "activated_at": "2020-01-01"}, p.tree.grid_a1a)
    assert linking.link_run(actor=None).mode == "incremental"
    assert entity_of("TEL6") == entity_of("HK6")
    linking.link_run(actor=None, mode="full")


def test_the_review_page_lines_the_pair_up_and_a_confirmation_merges_it(p: Province, steward: User) -> None:
    pair = ReviewPair.objects.get(status="open")
    c = _client(steward)
    html = c.get("/records/review/").content.decode()
    card = html[html.index(f'id="pair-{pair.pk}"'):]
    card = card[:card.index("</article>")]
    rows = {label: status for status, label in re.findall(r'<tr class="agree-(\w+)"><th scope="row">([^<]+)</th>',
                                                          card)}
    assert rows == {"名称/姓名": "differ", "身份证号": "missing", "出生日期": "differ", "性别": "missing",
                    "电话": "same", "地址": "missing", "行政区划代码": "missing"}
    assert [v for v in re.findall(r'name="verdict" value="(\w+)"', card)] == ["confirmed", "rejected", "unsure"]
    assert 'name="csrfmiddlewaretoken"' in card
    assert '<span class="badge reason reason-uncertain">把握不足</span>' in card
    assert "<div><dt>电话</dt><dd>一致</dd></div>" in card and "<div><dt>姓名</dt><dd>不同</dd></div>" in card
    father, son = entity_of(UNCERTAIN[0]), entity_of(UNCERTAIN[1])
    response = c.post(f"/records/review/{pair.pk}/judge", {"verdict": "confirmed", "back": "/records/review/"})
    assert (response.status_code, response["Location"]) == (302, "/records/review/")
    survivor = min(father, son)
    assert entity_of("HK8") == entity_of("TEL9") == survivor
    assert Entity.objects.get(pk=max(father, son)).merged_into_id == survivor
    assert ReviewPair.objects.get(pk=pair.pk).status == "judged"
    assert set(EntityRecord.objects.filter(record__source_key__in=UNCERTAIN, kind="person").values_list(
        "method", "probability")) == {("judgement", 1.0)}
    assert "没有待复核的记录对" in c.get("/records/review/").content.decode()
    assert c.post(f"/records/review/{2**70}/judge", {"verdict": "confirmed"}).status_code == 404
    entry = AuditEntry.objects.get(action="records.link_judgement")
    assert entry.details == {"record_a": pair.record_a_id, "record_b": pair.record_b_id, "verdict": "confirmed",
                             "merged_into": survivor, "split_off": None, "conflict": None}
    # Every later run keeps the confirmed pair together.
    _relink_both_ways(p)
    assert entity_of("HK8") == entity_of("TEL9") == survivor


def test_a_rejected_pair_is_never_merged_whatever_the_thresholds(p: Province, steward: User) -> None:
    outcome = _judge(p, steward, "TEL9", "HK8", "rejected")
    assert (outcome.merged_into, outcome.split_off) == (None, None)
    judgement = outcome.judgement
    assert (judgement.record_a_id, judgement.record_b_id) == tuple(sorted((p.rid("HK8"), p.rid("TEL9"))))
    assert ReviewPair.objects.get(record_a_id=judgement.record_a_id).status == "judged"
    run = linking.link_run(actor=None, mode="full", config=linking.default_config(accept=0.5, review_low=0.1))
    assert entity_of("HK8") != entity_of("TEL9")
    assert run.stats["review_pairs_new"] == 0  # nor is it asked again
    assert person_partition() == truth_partition(p.truth)


def test_rejecting_a_pair_inside_one_entity_splits_off_the_smaller_side(p: Province, steward: User) -> None:
    e1 = entity_of("HK1")
    outcome = _judge(p, steward, "HK1", "TEL1", "rejected")
    assert outcome.split_off is not None and outcome.merged_into is None
    assert entity_of("TEL1") == outcome.split_off.pk and entity_of("HK1") == entity_of("HT1") == entity_of("VH1") == e1
    assert EntityRecord.objects.get(record=p.records["TEL1"], kind="person").method == "single"
    # Attributes and relations follow the records.
    assert Entity.objects.get(pk=e1).attributes["name"]["others"] == []
    assert outcome.split_off.display_name == "陳大文" and outcome.split_off.unit == p.tree.grid_a1a
    assert Relation.objects.get(record=p.records["TEL1"], kind="uses_phone").subject_id == outcome.split_off.pk
    _relink_both_ways(p)
    assert (entity_of("HK1"), entity_of("TEL1")) == (e1, outcome.split_off.pk)


def test_a_split_records_rejections_across_the_sides_and_holds_even_against_a_shared_id(
        p: Province, steward: User) -> None:
    e1 = entity_of("HK1")
    c = _client(steward)
    page = c.get(f"/records/entities/{e1}/split").content.decode()
    assert page.count('type="checkbox" name="records"') == 4
    empty = c.post(f"/records/entities/{e1}/split", {"note": "x"})
    assert empty.status_code == 400 and "请选择要拆出的记录。" in empty.content.decode()
    response = c.post(f"/records/entities/{e1}/split", {"records": [p.rid("HT1")], "note": "酒店登记冒用"})
    new = entity_of("HT1")
    assert (response.status_code, response["Location"]) == (302, f"/records/entities/{new}/")
    assert new != e1
    rejected = set(LinkJudgement.objects.filter(superseded=False, verdict="rejected").values_list(
        "record_a_id", "record_b_id", "note"))
    assert rejected == {(*sorted((p.rid(k), p.rid("HT1"))), "酒店登记冒用") for k in ("HK1", "TEL1", "VH1")}
    entry = AuditEntry.objects.get(action="records.entity_split")
    assert entry.details == {"records": [p.rid("HT1")], "new_entity": new, "rejected_pairs": 3}
    # HT1 carries HK1's ID number (15-digit form): only the judgements keep it out.
    _relink_both_ways(p)
    assert (entity_of("HK1"), entity_of("HT1")) == (e1, new)
    assert Entity.objects.get(pk=e1).key == Entity.objects.get(pk=new).key != ""


def test_a_split_must_leave_records_on_both_sides(p: Province, steward: User) -> None:
    e1 = Entity.objects.get(pk=entity_of("HK1"))
    members = [p.rid(k) for k in ("HK1", "HT1", "TEL1", "VH1")]
    with pytest.raises(ServiceError, match="实体中至少要保留一条记录"):
        review.entity_split(actor=steward, entity=e1, record_ids=members)
    with pytest.raises(ServiceError) as stranger:
        review.entity_split(actor=steward, entity=e1, record_ids=[p.rid("HK2")])
    assert str(stranger.value) == f"记录 {p.rid('HK2')} 不是实体 {e1.pk} 的现有记录。"
    with pytest.raises(ServiceError, match="请选择要拆出的记录"):
        review.entity_split(actor=steward, entity=e1, record_ids=[])
    phone = Entity.objects.get(kind="phone", key="+8613912340001")
    with pytest.raises(ServiceError, match="只有人员实体可以拆分"):
        review.entity_split(actor=steward, entity=phone, record_ids=[p.rid("HK1")])


def test_a_confirmation_across_a_rejection_waits_until_every_such_rejection_is_judged_again(
        p: Province, steward: User) -> None:
    e1 = Entity.objects.get(pk=entity_of("HK1"))
    new = review.entity_split(actor=steward, entity=e1, record_ids=[p.rid("HT1")])
    first = _judge(p, steward, "HK1", "HT1", "confirmed")
    assert (first.merged_into, first.conflict is not None) == (None, True)
    assert {first.conflict.record_a_id, first.conflict.record_b_id} & {p.rid("TEL1"), p.rid("VH1")}  # type: ignore[union-attr]
    assert entity_of("HT1") == new.pk
    assert _judge(p, steward, "TEL1", "HT1", "confirmed").merged_into is None
    last = _judge(p, steward, "VH1", "HT1", "confirmed")
    assert (last.merged_into, last.conflict) == (e1, None)
    assert entity_of("HT1") == entity_of("HK1") == e1.pk
    assert Entity.objects.get(pk=new.pk).merged_into_id == e1.pk
    assert LinkJudgement.objects.filter(superseded=True).count() == 3
    assert set(LinkJudgement.objects.filter(superseded=False).values_list("verdict", flat=True)) == {"confirmed"}
    _relink_both_ways(p)
    assert entity_of("HT1") == e1.pk


def test_unsure_pairs_wait_in_their_own_list(p: Province, steward: User) -> None:
    pair = ReviewPair.objects.get(status="open")
    _judge(p, steward, "HK8", "TEL9", "unsure")
    assert ReviewPair.objects.get(pk=pair.pk).status == "judged"
    linking.link_run(actor=None, mode="full")
    requeued = ReviewPair.objects.get(status="open")
    assert requeued.pk != pair.pk and requeued.explanation["reason"] == "unsure"
    assert list(review_queue(steward)) == []
    assert list(review_queue(steward, unsure=True)) == [requeued]
    assert entity_of("HK8") != entity_of("TEL9")


def test_a_steward_of_another_county_may_not_judge(p: Province) -> None:
    other = make_user("qian", [("data_steward", p.tree.county_a2)])
    with pytest.raises(PermissionDenied, match=r"records\.link_review not permitted"):
        _judge(p, other, "HK8", "TEL9", "confirmed")
    denied = AuditEntry.objects.get(action="records.link_review")
    assert (denied.outcome, denied.object_type, denied.object_id) == ("denied", "source_record",
                                                                      str(p.rid("HK8")))
    assert not LinkJudgement.objects.exists()


def test_the_judgements_api(p: Province, steward: User) -> None:
    c = _client(steward)
    a, b = p.rid("HK8"), p.rid("TEL9")

    def post(body: dict[str, Any]) -> Any:
        return c.post("/api/records/judgements", body, content_type="application/json")

    response = post({"record_a": b, "record_b": a, "verdict": "rejected", "note": "父子"})
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("record_a", "record_b", "verdict", "merged_into", "split_off")} == {
        "record_a": a, "record_b": b, "verdict": "rejected", "merged_into": None, "split_off": None}
    assert LinkJudgement.objects.get(pk=body["id"]).note == "父子"
    same = post({"record_a": a, "record_b": a, "verdict": "confirmed"})
    assert (same.status_code, same.json()) == (400, {"detail": "复核需要两条不同的记录。", "field": "record_b",
                                                     "code": "invalid"})
    missing = post({"record_a": a, "record_b": 999999, "verdict": "confirmed"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "no record 999999", "code": "not_found"})
    assert post({"record_a": a, "record_b": b, "verdict": "maybe"}).status_code == 422
    assert post({"record_a": a, "record_b": b, "verdict": "unsure", "note": "x" * 501}).status_code == 422
    officer = make_user("wang", [("officer", p.tree.station_a1a)])
    refused = _client(officer).post("/api/records/judgements", {"record_a": a, "record_b": b, "verdict": "confirmed"},
                                    content_type="application/json")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert LinkJudgement.objects.filter(superseded=False).count() == 1
