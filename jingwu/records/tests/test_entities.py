"""Entity reads: the profile page and API, the graph, scoping, audit and masking."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from jingwu.core import audit, services
from jingwu.core.models import AuditEntry, User
from jingwu.core.tests.factories import make_user
from jingwu.records.entities import mask_id_number
from jingwu.records.models import Entity, EntityRecord, ReviewPair
from jingwu.records.tests.test_linking_fixture import ID1, Province, entity_of, linked_province

pytestmark = pytest.mark.django_db

PURPOSE = "核查盗窃案嫌疑人 [case:A2026-0001]"


@pytest.fixture
def p() -> Province:
    return linked_province()


def _user(name: str, role: str, unit: Any, *, purpose: bool = True) -> User:
    user = make_user(name, [(role, unit)])
    if purpose:
        services.purpose_set(actor=user, text="核查盗窃案嫌疑人", ref_type="case", ref_id="A2026-0001")
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _reads() -> list[tuple[str, str, str, str, str]]:
    return list(AuditEntry.objects.filter(action="person.read").order_by("pk").values_list(
        "actor_username", "object_type", "object_id", "outcome", "purpose"))


def test_the_profile_shows_values_with_their_sources_relations_records_and_history(p: Province) -> None:
    officer = _user("wang", "officer", p.tree.station_a1a)
    e1 = entity_of("HK1")
    response = _client(officer).get(f"/records/entities/{e1}/")
    assert response.status_code == 200
    html = response.content.decode()
    masked = mask_id_number(ID1)
    assert masked == ID1[:4] + "*" * 10 + ID1[-4:]
    assert ID1 not in html and masked in html
    row = re.search(r'<tr class="attribute attribute-name">.*?</tr>', html, re.S)
    assert row is not None
    assert re.findall(r'<a href="#record-(\d+)" class="source-ref">', row.group()) == [
        str(p.rid(k)) for k in sorted(["HK1", "HT1", "VH1"], key=p.rid)] + [str(p.rid("TEL1"))]
    assert '<td class="value">陈大文</td>' in row.group() and "陳大文" in row.group()
    for key in ("HK1", "HT1", "TEL1", "VH1"):
        assert f'id="record-{p.rid(key)}"' in html
    assert "拥有车辆 →" in html and "鲁A12345" in html and "住宿 →" in html and "2025-11-24 — 2025-11-26" in html
    assert "← 同户成员" in html and "王芳" in html  # his wife's household relation, seen from his side
    assert f'data-graph-url="/api/records/entities/{e1}/graph"' in html
    # No inline script: only files, and the graph's texts as a JSON data block.
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="/static/vendor/htmx.min.js" defer>',
                       '<script id="graph-text" type="application/json">',
                       '<script src="/static/vendor/echarts.min.js" defer>',
                       '<script src="/static/records/graph.js" defer>']
    assert _reads() == [("wang", "entity", str(e1), "allowed", PURPOSE)]


def test_without_a_purpose_the_page_asks_for_one_and_reads_nothing(p: Province) -> None:
    officer = _user("wang", "officer", p.tree.station_a1a, purpose=False)
    e1 = entity_of("HK1")
    response = _client(officer).get(f"/records/entities/{e1}/")
    assert (response.status_code, response["Location"]) == (302, f"/purpose?next=%2Frecords%2Fentities%2F{e1}%2F")
    assert _reads() == []
    last = AuditEntry.objects.order_by("-pk").first()
    assert last is not None and (last.action, last.outcome, last.actor_username) == ("purpose.missing", "denied",
                                                                                       "wang")


def test_an_officer_of_another_county_is_refused_and_the_refusal_is_audited(p: Province) -> None:
    outsider = _user("li", "officer", p.tree.county_a2)
    e1 = entity_of("HK1")
    response = _client(outsider).get(f"/records/entities/{e1}/")
    assert response.status_code == 403
    assert _reads() == [("li", "entity", str(e1), "denied", "")]
    denied = AuditEntry.objects.get(action="person.read")
    assert denied.unit_code == p.tree.grid_a1a.code
    api = _client(outsider).get(f"/api/records/entities/{e1}")
    assert (api.status_code, api.json()) == (403, {"detail": "person.read not permitted", "code": "forbidden"})
    # Their own county's 张伟 is theirs to read.
    assert _client(outsider).get(f"/records/entities/{entity_of('HK4')}/").status_code == 200


@pytest.mark.parametrize(("role", "unit", "full"), [
    ("officer", "station_a1a", False), ("investigator", "city_a_cid", True), ("data_steward", "county_a1", True)])
def test_id_numbers_are_masked_unless_the_role_needs_them(p: Province, role: str, unit: str, full: bool) -> None:
    user = _user("u", role, getattr(p.tree, unit))
    data = _client(user).get(f"/api/records/entities/{entity_of('HK1')}").json()
    ids = {a["value"] for a in data["attributes"] if a["field"] == "id_number"}
    assert ids == {ID1 if full else mask_id_number(ID1)}
    assert data["key"] == (ID1 if full else mask_id_number(ID1))
    hukou = next(r for r in data["records"] if r["id"] == p.rid("HK1"))
    assert {f["value"] for f in hukou["fields"] if f["field"] == "id_number"} == {ids.pop()}
    assert (hukou["payload"] is not None) == full


def test_a_merged_entity_sends_you_to_the_entity_it_was_merged_into(p: Province) -> None:
    officer = _user("wang", "officer", p.tree.station_a1a)
    survivor = entity_of("HK1")
    gone = Entity.objects.create(kind="person", unit=p.tree.grid_a1a, merged_into_id=survivor)
    response = _client(officer).get(f"/records/entities/{gone.pk}/")
    assert (response.status_code, response["Location"]) == (302, f"/records/entities/{survivor}/")
    assert _reads() == []
    assert _client(officer).get(f"/api/records/entities/{gone.pk}").json()["id"] == survivor
    assert _client(officer).get("/records/entities/999999/").status_code == 404
    assert _client(officer).get("/api/records/entities/999999").json() == {"detail": "no entity 999999",
                                                                         "code": "not_found"}


def test_linked_entities_outside_the_jurisdiction_are_shown_without_their_name(p: Province) -> None:
    officer = _user("wang", "officer", p.tree.station_a1a)
    e6 = entity_of("HK6")  # 赵敏 lives in A1; she stayed at a hotel in Qingdao (city B)
    data = _client(officer).get(f"/api/records/entities/{e6}").json()
    stay = next(r for r in data["relations"] if r["kind"] == "stayed_at")
    assert (stay["other_name"], stay["other_visible"]) == ("辖区外", False)
    graph = _client(officer).get(f"/api/records/entities/{e6}/graph").json()
    hotel = next(n for n in graph["nodes"] if n["kind"] == "place" and not n["visible"])
    assert hotel["name"] == "辖区外"
    html = _client(officer).get(f"/records/entities/{e6}/").content.decode()
    assert '<span class="restricted">辖区外</span>' in html
    hotel_id = next(r["other_id"] for r in data["relations"] if r["kind"] == "stayed_at")
    assert f"/records/entities/{hotel_id}/" not in html


def test_the_graph_is_one_ring_a_page_at_a_time(p: Province) -> None:
    officer = _user("wang", "officer", p.tree.station_a1a)
    e1, c = entity_of("HK1"), _client(officer)
    whole = c.get(f"/api/records/entities/{e1}/graph").json()
    # p1: 3 uses_phone (one phone), vehicle, registration, stay; his wife's household and relative relations.
    assert (whole["total"], whole["has_more"], len(whole["nodes"]), len(whole["links"])) == (8, False, 6, 5)
    phone_link = next(link for link in whole["links"] if link["kinds"] == ["uses_phone"])
    assert phone_link["label"] == "使用电话"
    wife = next(link for link in whole["links"] if link["target"] == str(e1))
    assert (wife["kinds"], wife["label"]) == (["household", "relative"], "同户成员、亲属")
    first = c.get(f"/api/records/entities/{e1}/graph?page=0&cap=3").json()
    second = c.get(f"/api/records/entities/{e1}/graph?page=2&cap=3").json()
    assert (first["total"], first["count"], first["has_more"], first["page"], first["cap"]) == (8, 3, True, 0, 3)
    # Ordered by kind: the last page holds two of the three uses_phone relations, one link.
    assert (second["count"], second["has_more"], [link["kinds"] for link in second["links"]]) == (
        2, False, [["uses_phone"]])
    assert [link["kinds"] for link in first["links"]] == [["household"], ["owns_vehicle"], ["registered_at"]]
    assert [r[2] for r in _reads()] == [str(e1)] * 3


def test_the_profile_api_costs_a_fixed_number_of_queries(p: Province, django_assert_num_queries: Any) -> None:
    officer = _user("wang", "officer", p.tree.station_a1a)
    c = _client(officer)
    e1 = entity_of("HK1")
    # session, user, roles, resolve, entity, purpose, the audit entry,
    # memberships, older versions, relations out, relations in; the timeline (test_profile_queries.py):
    # merged ids, then per contributor: dates 2, linkage 4, received 2, relations 2
    with django_assert_num_queries(21 + audit.statements_per_entry()):
        response = c.get(f"/api/records/entities/{e1}")
    assert response.status_code == 200
    assert len(response.json()["records"]) == 4


def test_the_review_queue_shows_only_pairs_within_the_stewards_jurisdiction(p: Province) -> None:
    here = _user("zhao", "data_steward", p.tree.county_a1)
    there = _user("qian", "data_steward", p.tree.county_a2)
    pair = ReviewPair.objects.get(status="open")
    assert f'id="pair-{pair.pk}"' in _client(here).get("/records/review/").content.decode()
    html = _client(there).get("/records/review/").content.decode()
    assert "没有待复核的记录对" in html and f'id="pair-{pair.pk}"' not in html
    officer = _user("wang", "officer", p.tree.station_a1a)
    assert _client(officer).get("/records/review/").status_code == 403
    reads = list(AuditEntry.objects.filter(action="records.link_review").values_list("actor_username", "outcome",
                                                                                       "object_type"))
    assert reads == [("zhao", "allowed", "review_queue"), ("qian", "allowed", "review_queue"),
                     ("wang", "denied", "page")]
    assert EntityRecord.objects.filter(kind="person").count() == 19


def test_the_api_answers_any_input_without_a_server_error(p: Province) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    steward = _user("zhao", "data_steward", p.tree.county_a1)
    c = _client(steward)
    e1 = entity_of("HK1")
    ints = st.integers(min_value=-(2**70), max_value=2**70)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(page=ints, cap=ints)
    def graph(page: int, cap: int) -> None:
        response = c.get(f"/api/records/entities/{e1}/graph", {"page": page, "cap": cap})
        assert response.status_code == 200
        assert 1 <= response.json()["cap"] <= 200

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=st.dictionaries(st.sampled_from(["record_a", "record_b", "verdict", "note"]),
                                st.one_of(ints, st.text(max_size=20), st.none(), st.booleans())))
    def judgement(body: dict[str, Any]) -> None:
        response = c.post("/api/records/judgements", body, content_type="application/json")
        assert response.status_code in (201, 400, 403, 404, 422)
        assert "detail" in response.json() or response.status_code == 201

    graph()
    judgement()
    huge = 2**70
    assert post_status(c, {"record_a": huge, "record_b": e1, "verdict": "confirmed"}) == 422
    assert c.get(f"/api/records/entities/{huge}").status_code == 404
    assert c.get(f"/api/records/entities/{huge}/graph").status_code == 404
    assert c.get(f"/records/entities/{huge}/").status_code == 404


def post_status(c: Client, body: dict[str, Any]) -> int:
    return c.post("/api/records/judgements", body, content_type="application/json").status_code
