"""The relationship graph: one ring per request, expanded node by node, a cap and pages per
ring, every expansion audited with the purpose, neighbours outside the jurisdiction never
returned (an anonymous node holds their place)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from jingwu.core.models import AuditEntry, User
from jingwu.records.models import Relation
from jingwu.records.tests.profile_support import PURPOSE, reader
from jingwu.records.tests.test_linking_fixture import ACCOUNT2, Province, entity_of, linked_province

pytestmark = pytest.mark.django_db


@pytest.fixture
def p() -> Province:
    return linked_province()


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _graph(c: Client, entity: int | str, **params: Any) -> dict[str, Any]:
    response = c.get(f"/api/records/entities/{entity}/graph", params)
    assert response.status_code == 200, response.content
    data: dict[str, Any] = response.json()
    return data


def _nodes(data: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    return [(n["id"], n["name"], n["kind"], n["visible"]) for n in data["nodes"]]


def _links(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(link["source"], link["target"], link["label"]) for link in data["links"]]


def test_expanding_a_neighbour_adds_its_ring_and_each_expansion_is_audited(p: Province) -> None:
    officer = reader("wang", "officer", p.tree.station_a1a)
    c = _client(officer)
    e1, wife = str(entity_of("HK1")), str(entity_of("HK2"))
    home, hotel = str(entity_of("HK1", "place")), str(entity_of("HT1", "place"))
    first = _graph(c, e1)
    assert _nodes(first) == [(e1, "陈大文", "person", True), (wife, "王芳", "person", True),
                             (str(entity_of("VH1", "vehicle")), "鲁A12345", "vehicle", True),
                             (home, "山东省济南市历下区泉城路1号", "place", True), (hotel, "泉城宾馆", "place", True),
                             (str(entity_of("TEL1", "phone")), "13912340001", "phone", True)]
    # The wife's node, clicked: her ring, in which 陈大文 and their home are known already.
    ring = _graph(c, wife)
    account, phone = str(entity_of("BK2", "account")), str(entity_of("HK2", "phone"))
    assert (ring["centre"], ring["total"], ring["count"], ring["has_more"]) == (int(wife), 5, 5, False)
    assert _nodes(ring) == [(wife, "王芳", "person", True), (account, f"齐鲁银行 {ACCOUNT2}", "account", True),
                            (e1, "陈大文", "person", True), (home, "山东省济南市历下区泉城路1号", "place", True),
                            (phone, "13912340002", "phone", True)]
    assert _links(ring) == [(wife, account, "持有账户"), (wife, e1, "同户成员、亲属"), (wife, home, "户籍登记地"),
                            (wife, phone, "使用电话")]
    new = {n[0] for n in _nodes(ring)} - {n[0] for n in _nodes(first)}
    assert new == {account, phone}
    reads = list(AuditEntry.objects.filter(action="person.read").order_by("pk").values_list(
        "object_id", "purpose", "outcome", "details"))
    assert reads == [(e1, PURPOSE, "allowed", {"kind": "person", "view": "graph", "page": 0}),
                     (wife, PURPOSE, "allowed", {"kind": "person", "view": "graph", "page": 0})]


def test_each_ring_has_a_cap_and_pages(p: Province) -> None:
    officer = reader("wang", "officer", p.tree.station_a1a)
    c = _client(officer)
    wife = entity_of("HK2")
    pages = [_graph(c, wife, page=n, cap=2) for n in range(3)]
    assert [(g["page"], g["cap"], g["count"], g["total"], g["has_more"]) for g in pages] == [
        (0, 2, 2, 5, True), (1, 2, 2, 5, True), (2, 2, 1, 5, False)]
    # Ordered by kind; the two relations to 陈大文 fall on two pages, one link on each.
    assert [_links(g) for g in pages] == [
        [(str(wife), str(entity_of("BK2", "account")), "持有账户"), (str(wife), str(entity_of("HK1")), "同户成员")],
        [(str(wife), str(entity_of("HK2", "place")), "户籍登记地"), (str(wife), str(entity_of("HK1")), "亲属")],
        [(str(wife), str(entity_of("HK2", "phone")), "使用电话")]]
    assert all(g["nodes"][0] == {"id": str(wife), "name": "王芳", "kind": "person", "category": "person",
                                 "visible": True, "centre": True} for g in pages)
    assert AuditEntry.objects.filter(action="person.read", object_id=str(wife)).count() == 3


def test_a_neighbour_outside_the_jurisdiction_is_never_returned(p: Province) -> None:
    officer = reader("wang", "officer", p.tree.station_a1a)
    c = _client(officer)
    hotel, e1, p4 = entity_of("HT1", "place"), entity_of("HK1"), entity_of("HK4")  # 张伟 p4 is county A2's
    stay = Relation.objects.get(kind="stayed_at", subject_id=p4, object_id=hotel)
    ring = _graph(c, hotel)
    assert _nodes(ring) == [(str(hotel), "泉城宾馆", "place", True), (str(e1), "陈大文", "person", True),
                            (f"x{stay.pk}", "辖区外", "person", False)]
    assert _links(ring) == [(str(e1), str(hotel), "住宿"), (f"x{stay.pk}", str(hotel), "住宿")]
    text = json.dumps(ring, ensure_ascii=False)
    assert "张伟" not in text and f'"{p4}"' not in text
    # Asking for that entity's ring directly is refused, and the refusal audited.
    response = c.get(f"/api/records/entities/{p4}/graph")
    assert (response.status_code, response.json()) == (403, {"detail": "person.read not permitted",
                                                             "code": "forbidden"})
    assert list(AuditEntry.objects.filter(action="person.read").order_by("pk").values_list(
        "object_id", "outcome")) == [(str(hotel), "allowed"), (str(p4), "denied")]
    # An anonymous node is no entity id at all.
    assert c.get(f"/api/records/entities/x{stay.pk}/graph").status_code == 422
    # Seen from county A2, 张伟 is theirs and the A1 hotel is the one withheld.
    there = _client(reader("li", "officer", p.tree.county_a2))
    theirs = _graph(there, p4)
    assert [n for n in _nodes(theirs) if n[2] == "place" and not n[3]] == [(f"x{stay.pk}", "辖区外", "place", False)]
    assert "泉城宾馆" not in json.dumps(theirs["nodes"], ensure_ascii=False)


def test_the_page_carries_the_graph_texts_and_a_keyboard_list(p: Province) -> None:
    officer = reader("wang", "officer", p.tree.station_a1a)
    html = _client(officer).get(f"/records/entities/{entity_of('HK1')}/").content.decode()
    assert '<ul id="graph-nodes" class="graph-nodes" aria-label="关系图中的实体"></ul>' in html
    texts = json.loads(html.split('<script id="graph-text" type="application/json">')[1].split("</script>")[0])
    assert (texts["expand"], texts["more"], texts["restricted"]) == ("展开关系", "加载更多", "辖区外，不可展开")
    assert texts["kinds"] == {"person": "人员", "organization": "单位", "vehicle": "车辆", "phone": "电话",
                              "account": "账户", "place": "地点"}
    assert ' style="' not in html and "<style" not in html  # the CSP allows no inline styles
