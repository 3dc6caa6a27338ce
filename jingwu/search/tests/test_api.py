"""The search API: its schema, answers for the page and for scripts, refusals as JSON, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jingwu.core import tokens
from jingwu.core.models import AuditEntry, User
from jingwu.records.tests.test_linking_fixture import ID1, Province, entity_of
from jingwu.search.tests.conftest import user_with

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_schema_describes_search_and_suggest(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    search = schema["paths"]["/api/search"]["get"]
    assert [p["name"] for p in search["parameters"]] == ["q", "type", "unit", "date_from", "date_to", "similar",
                                                         "sort", "page", "page_size"]
    assert sorted(search["responses"]) == ["200", "400", "403"]
    components = schema["components"]["schemas"]
    assert sorted(components["SearchOut"]["properties"]) == ["facets", "page", "page_size", "query", "results",
                                                            "total"]
    assert sorted(components["ResultOut"]["properties"]) == ["date", "doc_type", "entity_id", "highlights", "id",
                                                            "score", "title", "type", "type_label", "unit", "url"]
    assert sorted(components["HighlightOut"]["properties"]) == ["field", "label", "marks", "text"]
    assert sorted(components["FacetOut"]["properties"]) == ["count", "label", "type"]
    assert "/api/suggest" in schema["paths"]


def test_search_answers_with_total_facets_and_results(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.county_a1)
    response = _client(officer).get("/api/search", {"q": "陳大文"})
    assert response.status_code == 200
    p1 = entity_of("HK1")
    body = response.json()
    score = body["results"][0].pop("score")
    date = body["results"][0].pop("date")
    assert isinstance(score, float) and score > 0 and date.startswith("20")
    assert body == {
        "query": "陳大文", "total": 1, "page": 1, "page_size": 20,
        "facets": [{"type": "person", "label": "人员", "count": 1}],
        "results": [{"entity_id": p1, "doc_type": "records.entity", "id": p1, "type": "person", "type_label": "人员",
                     "title": "陈大文", "url": f"/records/entities/{p1}/", "unit": "泉城路第一警务区",
                     "highlights": [{"field": "name", "label": "姓名/名称", "text": "陈大文", "marks": [[0, 3]]}]}]}


def test_filters_paging_and_masked_identifiers_through_the_api(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    client = _client(officer)
    places = client.get("/api/search", {"q": "泉城路", "type": "place", "page_size": "1", "page": "2"}).json()
    assert (places["total"], len(places["results"]), places["page"]) == (2, 1, 2)
    assert places["results"][0]["type"] == "place"
    assert {f["type"]: f["count"] for f in places["facets"]} == {"person": 3, "place": 2}
    by_id = client.get("/api/search", {"q": ID1}).json()
    assert by_id["results"][0]["highlights"] == [
        {"field": "resident_id", "label": "身份证号", "text": ID1[:4] + "*" * 10 + ID1[-4:], "marks": [[0, 18]]}]
    assert ID1 not in str(by_id["results"])  # the query echoes what was typed; results are masked
    dated = client.get("/api/search", {"q": "张伟", "sort": "date"}).json()
    assert [r["score"] for r in dated["results"]] == [None, None]


def test_suggest(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    response = _client(officer).get("/api/suggest", {"q": "张"})
    assert response.json() == {"query": "张", "suggestions": [{"text": "张伟", "count": 2}]}


def test_a_token_with_read_scope_searches_too(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    secret = tokens.token_create(actor=None, user=officer, scopes=["read"], days=1).secret
    response = Client().get("/api/search", {"q": "陈大文"}, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert (response.status_code, response.json()["total"]) == (200, 1)


@pytest.mark.parametrize(("params", "status", "body"), [
    ({"q": "身份证:123"}, 400, {"detail": "身份证号“123”无效。", "field": "q", "code": "invalid"}),
    ({"q": "  "}, 400, {"detail": "请输入要查询的姓名、证件号码、电话、车牌、账号、地址或其他内容。", "field": "q",
                        "code": "invalid"}),
    ({"q": "张伟", "type": "airplane"}, 400, None),
    ({"q": "张伟", "unit": "999999"}, 400, {"detail": "没有编码为 999999 的单位。", "field": "unit",
                                          "code": "invalid"}),
    ({"q": "张伟", "page": 0}, 422, None),
    ({"q": "张伟", "page_size": 1000}, 422, None),
    ({"q": "张伟", "sort": "name"}, 422, None),
    ({"q": "张伟", "date_from": "yesterday"}, 422, None),
    ({}, 422, None),
])
def test_bad_input_is_a_4xx_with_a_json_body(province: Province, params: dict[str, Any], status: int,
                                             body: dict[str, Any] | None) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    response = _client(officer).get("/api/search", params)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    if body is not None:
        assert response.json() == body


def test_without_a_purpose_the_api_says_so(province: Province) -> None:
    silent = user_with("silent", "officer", province.tree.province, purpose=False)
    client = _client(silent)
    for url in ("/api/search", "/api/suggest"):
        response = client.get(url, {"q": "陈大文"})
        assert (response.status_code, response.json()["code"]) == (403, "purpose_required")
    assert not AuditEntry.objects.filter(actor_username="silent", action__startswith="search.").exists()


def test_unauthenticated_is_401(client: Client) -> None:
    assert client.get("/api/search", {"q": "陈大文"}).status_code == 401


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(min_size=1, max_size=210), similar=st.booleans())
def test_any_query_text_is_answered_never_a_server_error(province: Province, q: str, similar: bool) -> None:
    officer = User.objects.filter(username="fuzz").first() or user_with("fuzz", "officer", province.tree.province)
    response = _client(officer).get("/api/search", {"q": q, "similar": str(similar).lower()})
    assert response.status_code in (200, 400, 422), response.content
