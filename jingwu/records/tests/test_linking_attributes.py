"""The value-choice rule of records/attributes.py, and what each kind of record says
about the entities it describes."""

from __future__ import annotations

import datetime as dt

from jingwu.records.attributes import Facts, choose_attributes, entity_key, facts_from_row, role

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def fact(rid: int, rank: int, days: int, **fields: str) -> Facts:
    """A person record (a description of a person needs a name or an ID number)."""
    return Facts(rid, f"s{rank}", rank, T0 + dt.timedelta(days=days), None, "person", {"name": "王芳", **fields})


def test_the_most_trusted_source_wins_over_a_more_recent_one() -> None:
    attributes = choose_attributes("person", [
        fact(1, 60, 30, name="陳大文"),  # hotel, newest
        fact(2, 10, 0, name="陈大文"),  # household registration, oldest
    ])
    assert attributes["name"] == {"value": "陈大文", "records": [2], "others": [{"value": "陳大文", "records": [1]}]}


def test_recency_decides_between_equally_trusted_sources() -> None:
    attributes = choose_attributes("person", [
        fact(1, 30, 1, address="旧地址"), fact(2, 30, 9, address="新地址"), fact(3, 30, 5, address="旧地址")])
    assert attributes["address"] == {"value": "新地址", "records": [2],
                                     "others": [{"value": "旧地址", "records": [1, 3]}]}


def test_more_records_decide_when_trust_and_time_are_equal_then_the_value_itself() -> None:
    a = choose_attributes("person", [fact(1, 30, 0, phone="+8613900000002"), fact(2, 30, 0, phone="+8613900000001"),
                                     fact(3, 30, 0, phone="+8613900000002")])
    assert a["phone"]["value"] == "+8613900000002"
    b = choose_attributes("person", [fact(1, 30, 0, phone="+8613900000002"), fact(2, 30, 0, phone="+8613900000001")])
    assert b["phone"] == {"value": "+8613900000001", "records": [2],
                          "others": [{"value": "+8613900000002", "records": [1]}]}


def test_a_value_that_failed_validation_ranks_after_every_valid_one() -> None:
    bad = Facts(1, "hukou", 10, T0, None, "person", {"id_number": "37010219800315001X"}, frozenset({"id_number"}))
    good = fact(2, 60, 0, id_number="370102198003150011")
    assert choose_attributes("person", [bad, good])["id_number"]["value"] == "370102198003150011"


def test_a_record_without_a_name_or_id_describes_no_person() -> None:
    nameless = Facts(1, "hukou", 10, T0, None, "person", {"address": "泉城路1号"})
    assert role(nameless, "person") == {}
    assert choose_attributes("person", [nameless, fact(2, 60, 0, address="文化路6号")])["address"] == {
        "value": "文化路6号", "records": [2], "others": []}


def test_roles_name_each_entity_fields_in_its_own_vocabulary() -> None:
    vehicle = facts_from_row(record_id=5, source="vehicle", trust_rank=20, received_at=T0, unit_id=None,
                             kind="vehicle", source_key="VH", fields=None,
                             payload={"plate": "鲁A 12345", "owner_name": "陈大文",
                                      "owner_id_number": "370102198003150011", "owner_phone": "139-1234-0001",
                                      "registered_at": "2016-05-20"})
    assert role(vehicle, "person") == {"name": "陈大文", "id_number": "370102198003150011", "phone": "+8613912340001"}
    assert role(vehicle, "vehicle") == {"plate": "鲁A12345", "registered_at": "2016-05-20"}
    assert role(vehicle, "phone") == {"phone": "+8613912340001"}
    assert role(vehicle, "account") == {}
    hotel = facts_from_row(record_id=6, source="hotel", trust_rank=60, received_at=T0, unit_id=None, kind="person",
                           source_key="HT", fields=None,
                           payload={"name": "孙立", "hotel": "泉城宾馆", "hotel_address": "济南市泉城路99号",
                                    "check_in": "2025-11-24T22:52", "check_out": "2025-11-26"})
    assert role(hotel, "place") == {"address": "济南市泉城路99号", "name": "泉城宾馆"}
    assert (hotel.fields["check_in"], hotel.fields["check_out"]) == ("2025-11-24", "2025-11-26")


def test_a_bad_value_keeps_its_text_and_spoils_nothing_else() -> None:
    facts = facts_from_row(record_id=7, source="telecom", trust_rank=30, received_at=T0, unit_id=None, kind="phone",
                           source_key="TEL", fields=None,
                           payload={"phone": "13912340001", "subscriber_name": "陈大文",
                                    "subscriber_id_number": "370102198003150019"})
    assert facts.fields == {"phone": "+8613912340001", "subscriber_name": "陈大文",
                            "subscriber_id_number": "370102198003150019"}
    assert facts.invalid == frozenset({"subscriber_id_number"})


def test_imported_fields_are_used_as_stored() -> None:
    facts = facts_from_row(record_id=8, source="import", trust_rank=50, received_at=T0, unit_id=None, kind="person",
                           source_key="X", fields={"name": "王芳", "phone": "+8613912340002"},
                           payload={"姓名": "王芳", "电话": "13912340002"})
    assert (facts.fields, facts.invalid) == ({"name": "王芳", "phone": "+8613912340002"}, frozenset())


def test_entity_keys() -> None:
    assert entity_key("phone", {"phone": "+8613912340001"}) == "+8613912340001"
    assert entity_key("phone", {"phone": "12345"}) is None  # failed validation: no key
    spaced = {"address": "济南市 泉城路 1 号", "division_code": "370102001"}
    assert entity_key("place", spaced) == "370102|济南市泉城路1号"
    assert entity_key("place", {"address": "泉城路1号"}) == "|泉城路1号"
    assert entity_key("organization", {"name": "某 公司"}) == "name:某公司"
    assert entity_key("account", {"account_number": "6222"}, invalid={"account_number"}) is None
