"""Searching the small labelled province: every query class with its exact hits, filters,
facets, highlights, scoping, masking, purpose and audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from jingwu.core.models import AuditEntry, UnitKind, User
from jingwu.core.purpose import PurposeRequired
from jingwu.core.services import ServiceError
from jingwu.core.tests.factories import make_unit
from jingwu.records.models import Entity
from jingwu.records.tests.test_linking_fixture import ACCOUNT2, ID1, ID3, USCC5, Province, entity_of
from jingwu.search import selectors, services
from jingwu.search.tests.conftest import PURPOSE, user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(province: Province) -> User:
    """A province-wide officer: sees everything, ID numbers masked."""
    return user_with("prov_officer", "officer", province.tree.province)


def hits(user: User, text: str, **filters: Any) -> set[int]:
    found = selectors.search(user, text, **filters)
    assert found.total == len(found.results)  # everything fits on one page here
    return {r.entity_id for r in found.results if r.entity_id is not None}


def ids() -> dict[str, int]:
    return {"P1": entity_of("HK1"), "P2": entity_of("HK2"), "P3": entity_of("HK3"), "P4": entity_of("HK4"),
            "P5": entity_of("HK5"), "P6": entity_of("HK6"), "PHONE1": entity_of("TEL1", "phone"),
            "PHONE3": entity_of("TEL3", "phone"), "CAR1": entity_of("VH1", "vehicle"),
            "ACCOUNT2": entity_of("BK2", "account"), "ORG5": entity_of("ORG5", "organization"),
            "HOME1": entity_of("HK1", "place"), "HOTEL": entity_of("HT1", "place")}


LEGACY_ID1 = ID1[:6] + ID1[8:17]

QUERY_CLASSES = [
    # names: simplified, traditional, pinyin (joined, spaced, any case), initials
    ("陈大文", False, {"P1"}),
    ("陳大文", False, {"P1"}),
    ("chendawen", False, {"P1"}),
    ("chen da wen", False, {"P1"}),
    ("CHEN Dawen", False, {"P1"}),
    ("cdw", False, {"P1"}),
    ("李那", False, {"P5"}),  # how the telecom record writes her: one of the entity's values
    # homophones and typos only with "include similar sounding"
    ("赵民", False, set()),
    ("赵民", True, {"P6"}),  # 赵敏: same pinyin
    ("陈大闻", False, set()),
    ("陈大闻", True, {"P1"}),
    ("陈大义", True, {"P1"}),  # one character wrong in a three-character name
    ("张丽", False, set()),
    ("张丽", True, {"P3", "P4"}),  # 张伟: the given name of a two-character name wrong, the surname kept
    ("赵明", True, {"P6"}),  # 赵敏: zhao min, one pinyin letter off
    ("chendawne", True, {"P1"}),  # a typo in the pinyin
    ("chendawne", False, set()),
    # identifiers, exact, in any format; a person's document carries its phones, plates and accounts
    (ID1, False, {"P1"}),
    (LEGACY_ID1, False, {"P1"}),
    ("139 1234 0001", False, {"P1", "PHONE1"}),
    ("+86-139-1234-0001", False, {"P1", "PHONE1"}),
    ("鲁a 12345", False, {"P1", "CAR1"}),
    (USCC5, False, {"P5", "ORG5"}),
    (ACCOUNT2, False, {"P2", "ACCOUNT2"}),
    # address fragments and free text (hotel stays are the people's record text)
    ("泉城路", False, {"P1", "P2", "P4", "HOME1", "HOTEL"}),
    ("泉城宾馆", False, {"P1", "P4", "HOTEL"}),
    ("中国联通", False, {"P3", "PHONE3"}),
    ("陈大文 泉城宾馆", False, {"P1"}),
    ("泉城宾馆 302", False, {"P4"}),
    # field syntax
    ("姓名:张伟 出生:1985", False, {"P3", "P4"}),
    ("姓名:张伟 出生:1985-07-20", False, {"P3", "P4"}),
    ("姓名:张伟 出生:1986", False, set()),
    ("姓名:张伟 地址:经四路", False, {"P4"}),
    ("地址:泉城宾馆", False, set()),  # a hotel's name is no one's address
    ("类型:地点 泉城路", False, {"HOME1", "HOTEL"}),
    (f"身份证:{ID3}", False, {"P3"}),
]


def test_every_query_class_finds_exactly_its_entities(officer: User) -> None:
    e = ids()
    name_of = {v: k for k, v in e.items()}
    # One province for all the classes (linking it is the slow part); every mismatch is reported.
    wrong = {(text, similar): sorted(name_of.get(i, str(i)) for i in got)
             for text, similar, expected in QUERY_CLASSES
             if (got := hits(officer, text, similar=similar)) != {e[k] for k in expected}}
    assert wrong == {}


def test_the_best_match_comes_first_and_results_link_to_profiles(officer: User) -> None:
    found = selectors.search(officer, "陈大文")
    (first,) = found.results
    assert (first.entity_id, first.type, first.type_label, first.title) == (entity_of("HK1"), "person", "人员",
                                                                             "陈大文")
    assert first.url == f"/records/entities/{entity_of('HK1')}/"
    assert first.unit == "泉城路第一警务区"
    assert first.score is not None and first.score > 0
    assert first.documents == [f"records.entity:{entity_of('HK1')}"]
    name = next(h for h in first.highlights if h.field == "name")
    assert (name.text, name.marks, name.parts) == ("陈大文", ((0, 3),), [("陈大文", True)])


def test_highlights_mark_what_matched_in_names_addresses_and_record_text(officer: User) -> None:
    found = selectors.search(officer, "泉城宾馆")
    by_id = {r.entity_id: r for r in found.results}
    p4 = by_id[entity_of("HK4")]
    assert [(h.field, h.label, h.text, h.marks) for h in p4.highlights] == [
        ("body", "记录", "旅馆业:泉城宾馆 山东省济南市历下区泉城路99号 302", ((4, 8),))]
    hotel = by_id[entity_of("HT1", "place")]
    assert [(h.field, h.text, h.marks) for h in hotel.highlights] == [("name", "泉城宾馆", ((0, 4),))]


def test_identifier_hits_show_the_identifier_masked_unless_the_role_needs_it(province: Province) -> None:
    officer = user_with("officer_a1", "officer", province.tree.county_a1)
    investigator = user_with("investigator_a1", "investigator", province.tree.county_a1)
    masked = ID1[:4] + "*" * 10 + ID1[-4:]
    for user, shown in ((officer, masked), (investigator, ID1)):
        (result,) = selectors.search(user, ID1).results
        assert [(h.field, h.label, h.text, h.marks) for h in result.highlights] == [
            ("resident_id", "身份证号", shown, ((0, 18),))]
    (_phone, person_hit) = sorted(selectors.search(officer, "13912340001").results, key=lambda r: r.type)
    assert [(h.field, h.text) for h in person_hit.highlights] == [("phone", "13912340001")]


def test_facets_count_matches_by_type_without_the_type_filter(officer: User) -> None:
    found = selectors.search(officer, "泉城路")
    assert [(f.type, f.label, f.count) for f in found.facets] == [("person", "人员", 3), ("place", "地点", 2)]
    only_places = selectors.search(officer, "泉城路", kinds=["place"])
    assert only_places.total == 2 and {r.type for r in only_places.results} == {"place"}
    assert [(f.type, f.count) for f in only_places.facets] == [("person", 3), ("place", 2)]


def test_unit_and_date_filters(officer: User, province: Province) -> None:
    e = ids()
    assert hits(officer, "张伟", unit="370103") == {e["P4"]}
    assert hits(officer, "张伟", unit="370102") == {e["P3"]}
    today = timezone.localdate()
    assert hits(officer, "张伟", date_from=today, date_to=today) == {e["P3"], e["P4"]}
    assert hits(officer, "张伟", date_to=today - dt.timedelta(days=1)) == set()
    assert hits(officer, "张伟", date_from=today + dt.timedelta(days=1)) == set()


def test_sort_by_date_puts_the_most_recently_changed_first(officer: User) -> None:
    e = ids()
    Entity.objects.filter(pk=e["P4"]).update(updated_at=timezone.now() - dt.timedelta(days=400))
    services.index_update(doc_type="records.entity", ids=[e["P4"]])
    by_date = selectors.search(officer, "张伟", sort="date")
    assert [r.entity_id for r in by_date.results] == [e["P3"], e["P4"]]
    assert [r.score for r in by_date.results] == [None, None]
    last_year = timezone.localdate() - dt.timedelta(days=300)
    assert hits(officer, "张伟", date_to=last_year) == {e["P4"]}


def test_paging(officer: User) -> None:
    first = selectors.search(officer, "泉城路", page_size=2)
    second = selectors.search(officer, "泉城路", page_size=2, page=2)
    third = selectors.search(officer, "泉城路", page_size=2, page=3)
    assert (first.total, first.pages) == (5, 3)
    assert [len(p.results) for p in (first, second, third)] == [2, 2, 1]
    seen = [r.entity_id or 0 for p in (first, second, third) for r in p.results]
    assert sorted(seen) == sorted({ids()[k] for k in ("P1", "P2", "P4", "HOME1", "HOTEL")})


def test_an_officer_of_one_county_never_sees_or_counts_another_countys_records(province: Province) -> None:
    a2 = user_with("officer_a2", "officer", province.tree.county_a2)  # 市中区: 张伟 p4 lives here
    e = ids()
    found = selectors.search(a2, "张伟")
    assert ([r.entity_id for r in found.results], found.total) == ([e["P4"]], 1)
    assert [(f.type, f.count) for f in found.facets] == [("person", 1)]
    for text in ("陈大文", ID1, "139 1234 0001", "鲁A12345", "泉城宾馆 陈大文"):
        nothing = selectors.search(a2, text)
        assert (nothing.total, nothing.facets, nothing.results) == (0, [], [])
    # 泉城路: p4 stayed at the hotel there; the other four are in 历下区
    assert hits(a2, "泉城路") == {e["P4"]}
    assert [(f.type, f.count) for f in selectors.search(a2, "泉城路").facets] == [("person", 1)]
    assert [(s.text, s.count) for s in selectors.suggest(a2, "张")] == [("张伟", 1)]
    assert [(s.text, s.count) for s in selectors.suggest(a2, "陈")] == []
    station = user_with("officer_a1a", "officer", province.tree.station_a1a)
    assert hits(station, "张伟") == {e["P3"]}
    other_station = user_with("officer_a1b", "officer", province.tree.station_a1b)
    assert selectors.search(other_station, "张伟").total == 0
    assert selectors.search(other_station, "陈大文").total == 0


def test_an_entity_without_a_unit_shows_only_to_province_wide_roles(province: Province, officer: User) -> None:
    p1 = entity_of("HK1")
    Entity.objects.filter(pk=p1).update(unit=None)
    services.index_update(doc_type="records.entity", ids=[p1])
    county = user_with("officer_a1", "officer", province.tree.county_a1)
    assert selectors.search(county, "陈大文").total == 0
    assert hits(officer, "陈大文") == {p1}


def test_a_province_wide_role_never_sees_or_counts_another_provinces_records(province: Province,
                                                                             officer: User) -> None:
    # The officer's scope admits every document until one lies in another tree; the filter a
    # scope needs is decided afresh for each commit of the index.
    p1, p2 = entity_of("HK1"), entity_of("HK2")
    assert hits(officer, "陈大文") == {p1}
    other = make_unit("320000", "江苏省公安厅", UnitKind.PROVINCE, division_code="320000")
    Entity.objects.filter(pk=p1).update(unit=other)
    services.index_update(doc_type="records.entity", ids=[p1])
    found = selectors.search(officer, "陈大文")
    assert (found.total, found.facets, found.results) == (0, [], [])
    paged = selectors.search(officer, "泉城路", page_size=2)  # total and facets from the aggregation
    assert (paged.total, [(f.type, f.count) for f in paged.facets]) == (4, [("person", 2), ("place", 2)])
    assert p2 in hits(officer, "泉城路")
    jiangsu = user_with("js_officer", "officer", other)
    assert hits(jiangsu, "陈大文") == {p1}
    assert hits(jiangsu, "泉城路") == {p1}
    Entity.objects.filter(pk=p1).update(unit=province.tree.county_a1)
    services.index_update(doc_type="records.entity", ids=[p1])
    assert hits(officer, "陈大文") == {p1}
    assert selectors.search(jiangsu, "陈大文").total == 0


def test_suggestions_complete_names_and_plates_from_characters_or_pinyin(officer: User) -> None:
    assert [(s.text, s.count) for s in selectors.suggest(officer, "张")] == [("张伟", 2)]
    assert [(s.text, s.count) for s in selectors.suggest(officer, "陳大")] == [("陈大文", 1)]
    assert [s.text for s in selectors.suggest(officer, "chend")] == ["陈大文"]
    assert [s.text for s in selectors.suggest(officer, "鲁a1")] == ["鲁A12345"]
    assert [s.text for s in selectors.suggest(officer, "泉城")] == ["泉城宾馆"]
    assert selectors.suggest(officer, "") == []


def test_a_role_without_person_read_finds_no_people(province: Province) -> None:
    dispatcher = user_with("dispatcher", "dispatcher", province.tree.province)  # search.query, no person.read
    assert selectors.search(dispatcher, "陈大文").total == 0
    auxiliary = user_with("aux", "auxiliary", province.tree.province)  # person.read, no search.query
    with pytest.raises(PermissionDenied):
        selectors.search(auxiliary, "陈大文")
    denied = AuditEntry.objects.filter(actor_username="aux", action="search.query").get()
    assert denied.outcome == "denied"


def test_a_purpose_is_required_and_every_search_is_audited_with_its_text(province: Province) -> None:
    silent = user_with("no_purpose", "officer", province.tree.province, purpose=False)
    with pytest.raises(PurposeRequired):
        selectors.search(silent, "陈大文")
    with pytest.raises(PurposeRequired):
        selectors.suggest(silent, "陈")
    assert list(AuditEntry.objects.filter(actor_username="no_purpose").values_list("action", "outcome")) == [
        ("purpose.missing", "denied"), ("purpose.missing", "denied")]
    officer = user_with("audited", "officer", province.tree.county_a1)
    selectors.search(officer, "陳大文", similar=True, kinds=["person"])
    selectors.suggest(officer, "陈")
    search_entry, suggest_entry = AuditEntry.objects.filter(actor_username="audited",
                                                            action__startswith="search.").order_by("pk")
    assert (search_entry.action, search_entry.outcome, search_entry.object_type) == ("search.query", "allowed",
                                                                                     "search")
    assert search_entry.purpose.startswith(PURPOSE)
    p1 = entity_of("HK1")
    assert search_entry.details == {"q": "陳大文", "kinds": ["person"], "unit": "", "similar": True,
                                    "sort": "relevance", "date_from": None, "date_to": None, "page": 1,
                                    "total": 1, "results": [f"records.entity:{p1}"]}
    assert (suggest_entry.action, suggest_entry.details) == ("search.suggest", {"q": "陈", "suggestions": 1})
    assert suggest_entry.purpose.startswith(PURPOSE)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"text": ""}, "q"),
    ({"text": "身份证:123"}, "q"),
    ({"text": "张伟", "kinds": ["airplane"]}, "type"),
    ({"text": "张伟", "unit": "999999"}, "unit"),
    ({"text": "张伟", "sort": "name"}, "sort"),
    ({"text": "张伟", "page": 0}, "page"),
    ({"text": "张伟", "page_size": 101}, "page_size"),
    ({"text": "张伟", "date_from": dt.date(2026, 2, 1), "date_to": dt.date(2026, 1, 1)}, "date_from"),
])
def test_bad_input_is_refused_naming_the_field(officer: User, kwargs: dict[str, Any], field: str) -> None:
    text = kwargs.pop("text")
    with pytest.raises(ServiceError) as caught:
        selectors.search(officer, text, **kwargs)
    assert caught.value.field == field
    assert not AuditEntry.objects.filter(actor_username=officer.username, action="search.query").exists()
