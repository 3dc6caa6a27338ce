"""The search page: the box, htmx fragments, suggestions, the menu entry, purpose first,
and the profile a result links to (audited, like the search)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from jingwu.core.models import AuditEntry, User
from jingwu.core.tests.factories import make_user
from jingwu.records.tests.test_linking_fixture import Province, entity_of
from jingwu.search.tests.conftest import PURPOSE, user_with

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_menu_offers_search_to_roles_that_may_search(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.county_a1)
    html = _client(officer).get("/").content.decode()
    assert '<a href="/search/">警务千度</a>' in html
    inspector = make_user("inspector", [("inspector", province.tree.province)])  # no search.query
    html = _client(inspector).get("/").content.decode()
    assert "/search/" not in html
    assert _client(inspector).get("/search/").status_code == 403


def test_the_page_searches_shows_facets_highlights_and_links_to_profiles(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    response = _client(officer).get("/search/", {"q": "泉城路"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "共 5 条结果" in html
    assert re.findall(r'class="facet facet-(\w+)"[^>]*>[^<]+<span class="facet-count">(\d+)</span>', html) == [
        ("person", "3"), ("place", "2")]
    p1 = entity_of("HK1")
    assert f'<a href="/records/entities/{p1}/">陈大文</a>' in html
    assert "山东省济南市历下区<mark>泉城路</mark>1号" in html
    assert html.count('<li class="search-result') == 5


def test_htmx_gets_only_the_results_fragment(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    response = _client(officer).get("/search/", {"q": "陈大文", "type": "person"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and "共 1 条结果" in html
    assert re.search(r'class="facet facet-person" aria-current="true">人员', html)  # the chosen type
    assert re.search(r'hx-push-url="true">全部</a>', html)  # "all" is a link, not current


def test_similar_sounding_names_only_when_asked(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    client = _client(officer)
    assert "没有找到您有权查看的匹配结果" in client.get("/search/", {"q": "赵民"}).content.decode()
    assert "赵敏" in client.get("/search/", {"q": "赵民", "similar": "on"}).content.decode()


def test_bad_input_is_shown_on_the_page(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    response = _client(officer).get("/search/", {"q": "电话:123"})
    assert response.status_code == 400
    assert '<p class="alert" role="alert">手机号“123”无效。</p>' in response.content.decode()
    response = _client(officer).get("/search/", {"q": "张伟", "date_from": "not-a-date"})
    assert response.status_code == 400


def test_without_a_purpose_the_page_asks_for_one_then_comes_back(province: Province) -> None:
    silent = user_with("silent", "officer", province.tree.province, purpose=False)
    client = _client(silent)
    response = client.get("/search/", {"q": "陈大文"})
    assert response.status_code == 302
    assert response["Location"] == "/purpose?next=%2Fsearch%2F%3Fq%3D%25E9%2599%2588%25E5%25A4%25A7%25E6%2596%2587"
    htmx = client.get("/search/", {"q": "陈大文"}, HTTP_HX_REQUEST="true")
    assert (htmx.status_code, htmx["HX-Redirect"]) == (204, response["Location"])
    assert client.get("/search/").status_code == 200  # the empty box needs no purpose
    assert client.get("/search/suggest", {"q": "陈"}).content.decode().strip() == ""


def test_suggestions_fill_the_datalist(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    html = _client(officer).get("/search/suggest", {"q": "张"}).content.decode()
    assert html.strip() == '<option value="张伟">张伟 · 2</option>'


def test_search_then_profile_both_audited_with_the_purpose(province: Province,
                                                           django_assert_max_num_queries: Any) -> None:
    officer = user_with("officer", "officer", province.tree.county_a1)
    client = _client(officer)
    html = client.get("/search/", {"q": "陳大文"}).content.decode()
    url = re.search(r'<h2 class="result-title"><a href="([^"]+)">', html)
    assert url is not None
    assert client.get(url.group(1)).status_code == 200
    p1 = entity_of("HK1")
    entries = list(AuditEntry.objects.filter(actor_username="officer", action__in=["search.query", "person.read"])
                   .order_by("pk").values_list("action", "object_type", "object_id", "outcome"))
    assert entries == [("search.query", "search", "", "allowed"), ("person.read", "entity", str(p1), "allowed")]
    search, profile = AuditEntry.objects.filter(actor_username="officer",
                                                action__in=["search.query", "person.read"]).order_by("pk")
    assert search.details["q"] == "陳大文" and search.details["results"] == [f"records.entity:{p1}"]
    assert search.purpose.startswith(PURPOSE) and profile.purpose.startswith(PURPOSE)


def test_the_results_page_costs_a_bounded_number_of_queries(province: Province,
                                                            django_assert_max_num_queries: Any) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    client = _client(officer)
    client.get("/search/", {"q": "泉城路"})
    # session, user, roles, purpose (page), purpose (search), units for names, audit (3), units for the filter
    with django_assert_max_num_queries(14):
        client.get("/search/", {"q": "泉城路"})
    with django_assert_max_num_queries(14):
        client.get("/search/", {"q": "泉城路 山东"})
