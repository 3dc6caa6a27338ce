"""A small labelled province for the linking, entity and review tests, built through the
ORM: source systems, records with the noise real sources have, and who is who.

People (county of their household registration):

- p1 陈大文 (A1): household head; telecom writes 陳大文 without an ID, the hotel the
  legacy 15-digit ID, the vehicle registry his plate and phone.
- p2 王芳 (A1): p1's wife, same household; a bank account.
- p3 张伟 and p4 张伟: one name, one birthday, two IDs (A1 and A2): never one person.
- p5 李娜 (city B): telecom writes the homophone 李那 and no ID; she represents a company.
- p6 赵敏 (A1): a hotel check-in without an ID, with her phone and birth date.
- p7 孙立: a visitor with no registration: a telecom record and a hotel check-in, no IDs.
- p8 周杰 (A1) and p9 周晓明, his son, not registered here: the son's SIM card (no ID)
  carries the father's number as its contact.  One phone but another name and birth
  date: the linker cannot be sure, so HK8–TEL9 waits in the review queue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from jingwu.core.identifiers import make_resident_id, make_uscc
from jingwu.core.models import Unit, UnitKind
from jingwu.core.tests.factories import Tree, make_tree, make_unit
from jingwu.records.models import EntityRecord, ImportBatch, Source, SourceRecord
from jingwu.records.rows import content_hash

SOURCES = {"hukou": ("户籍", 10), "vehicle": ("车管", 20), "org": ("市场监管", 20), "telecom": ("电信实名", 30),
           "bank": ("银行", 40), "hotel": ("旅馆业", 60)}
KIND = {"hukou": "person", "vehicle": "vehicle", "org": "organization", "telecom": "phone", "bank": "account",
        "hotel": "person"}

ID1 = make_resident_id("370102", dt.date(1980, 3, 15), 11)
ID2 = make_resident_id("370102", dt.date(1982, 6, 1), 22)
ID3 = make_resident_id("370102", dt.date(1985, 7, 20), 13)
ID4 = make_resident_id("370103", dt.date(1985, 7, 20), 15)
ID5 = make_resident_id("370202", dt.date(1990, 1, 9), 24)
ID6 = make_resident_id("370102", dt.date(1979, 6, 30), 72)
ID8 = make_resident_id("370102", dt.date(1979, 1, 18), 101)
UNCERTAIN = ("HK8", "TEL9")
USCC5 = make_uscc("91370202MA3C4BXK8")
ACCOUNT2 = "6222021234567890128"
PLATE1 = "鲁A12345"


@dataclass
class Province:
    tree: Tree
    county_b1: Unit
    grid_b1: Unit
    sources: dict[str, Source]
    # source key → person
    truth: dict[str, str] = field(default_factory=dict)
    records: dict[str, SourceRecord] = field(default_factory=dict)

    def add(self, source: str, key: str, person: str | None, payload: dict[str, Any], unit: Unit,
            received_at: dt.datetime | None = None) -> SourceRecord:
        batch = ImportBatch.objects.filter(source=self.sources[source]).first() or ImportBatch.objects.create(
            source=self.sources[source], label="test")
        record = SourceRecord.objects.create(
            source=self.sources[source], source_key=key, kind=KIND[source], payload=payload,
            content_hash=content_hash(payload), batch=batch, unit=unit, received_at=received_at or timezone.now())
        self.records[key] = record
        if person is not None:
            self.truth[key] = person
        return record

    def rid(self, key: str) -> int:
        return self.records[key].pk


def build_province() -> Province:
    tree = make_tree()
    county_b1 = make_unit("370202", "市南区公安分局", UnitKind.COUNTY, tree.city_b, division_code="370202")
    station_b1 = make_unit("370202S01", "八大关派出所", UnitKind.STATION, county_b1)
    grid_b1 = make_unit("370202S01G01", "八大关第一警务区", UnitKind.GRID, station_b1)
    sources = {key: Source.objects.create(key=key, name=name, trust_rank=rank)
               for key, (name, rank) in SOURCES.items()}
    p = Province(tree, county_b1, grid_b1, sources)
    a1, a2 = tree.grid_a1a, tree.county_a2
    addr1 = "山东省济南市历下区泉城路1号"
    p.add("hukou", "HK1", "p1", {"name": "陈大文", "id_number": ID1, "sex": "男", "birth_date": "1980-03-15",
                                 "phone": "13912340001", "address": addr1, "division_code": "370102001",
                                 "household_id": "H1", "relation_to_head": "户主"}, a1)
    p.add("hukou", "HK2", "p2", {"name": "王芳", "id_number": ID2, "sex": "女", "birth_date": "1982-06-01",
                                 "phone": "13912340002", "address": addr1, "division_code": "370102001",
                                 "household_id": "H1", "relation_to_head": "配偶"}, a1)
    p.add("hukou", "HK3", "p3", {"name": "张伟", "id_number": ID3, "sex": "男", "birth_date": "1985-07-20",
                                 "phone": "13912340003", "address": "山东省济南市历下区解放路3号",
                                 "division_code": "370102002", "household_id": "H3", "relation_to_head": "户主"}, a1)
    p.add("hukou", "HK4", "p4", {"name": "张伟", "id_number": ID4, "sex": "男", "birth_date": "1985-07-20",
                                 "phone": "13912340004", "address": "山东省济南市市中区经四路4号",
                                 "division_code": "370103001", "household_id": "H4", "relation_to_head": "户主"}, a2)
    p.add("hukou", "HK5", "p5", {"name": "李娜", "id_number": ID5, "sex": "女", "birth_date": "1990-01-09",
                                 "phone": "13912340005", "address": "山东省青岛市市南区香港中路5号",
                                 "division_code": "370202001", "household_id": "H5", "relation_to_head": "户主"},
          grid_b1)
    p.add("hukou", "HK6", "p6", {"name": "赵敏", "id_number": ID6, "sex": "女", "birth_date": "1979-06-30",
                                 "phone": "13912340006", "address": "山东省济南市历下区文化路6号",
                                 "division_code": "370102001", "household_id": "H6", "relation_to_head": "户主"}, a1)
    p.add("hukou", "HK8", "p8", {"name": "周杰", "id_number": ID8, "sex": "男", "birth_date": "1979-01-18",
                                 "phone": "13912340008", "address": "山东省济南市历下区文化路8号",
                                 "division_code": "370102001", "household_id": "H8", "relation_to_head": "户主"}, a1)
    p.add("telecom", "TEL1", "p1", {"phone": "+86 139 1234 0001", "subscriber_name": "陳大文",
                                    "birth_date": "1980-03-15", "carrier": "中国移动",
                                    "activated_at": "2015-04-01"}, a1)
    p.add("telecom", "TEL3", "p3", {"phone": "13912340003", "subscriber_name": "张伟", "subscriber_id_number": ID3,
                                    "carrier": "中国联通", "activated_at": "2018-09-10"}, a1)
    p.add("telecom", "TEL5", "p5", {"phone": "139-1234-0005", "subscriber_name": "李那", "birth_date": "1990-01-09",
                                    "carrier": "中国电信", "activated_at": "2019-01-01"}, grid_b1)
    p.add("telecom", "TEL7", "p7", {"phone": "13912340007", "subscriber_name": "孙立", "birth_date": "1966-02-28",
                                    "carrier": "中国移动", "activated_at": "2010-05-05"}, a2)
    p.add("telecom", "TEL9", "p9", {"phone": "13912340008", "subscriber_name": "周晓明", "birth_date": "2005-05-05",
                                    "carrier": "中国移动", "activated_at": "2021-07-07"}, a1)
    p.add("hotel", "HT1", "p1", {"name": "陈大文", "id_number": ID1[:6] + ID1[8:17], "hotel": "泉城宾馆",
                                 "hotel_address": "山东省济南市历下区泉城路99号", "room": "301",
                                 "check_in": "2025-11-24T22:52", "check_out": "2025-11-26"}, a1)
    p.add("hotel", "HT4", "p4", {"name": "张伟", "id_number": ID4, "hotel": "泉城宾馆",
                                 "hotel_address": "山东省济南市历下区泉城路99号", "room": "302",
                                 "check_in": "2025-10-01T20:00", "check_out": "2025-10-03"}, a1)
    p.add("hotel", "HT6", "p6", {"name": "赵敏", "birth_date": "1979-06-30", "phone": "13912340006",
                                 "hotel": "八大关酒店", "hotel_address": "山东省青岛市市南区八大关1号", "room": "101",
                                 "check_in": "2025-08-08T15:00", "check_out": "2025-08-09"}, grid_b1)
    p.add("hotel", "HT7", "p7", {"name": "孙立", "birth_date": "1966-02-28", "phone": "13912340007",
                                 "hotel": "八大关酒店", "hotel_address": "山东省青岛市市南区八大关1号", "room": "102",
                                 "check_in": "2025-08-08T16:00", "check_out": "2025-08-10"}, grid_b1)
    p.add("vehicle", "VH1", "p1", {"plate": PLATE1, "owner_name": "陈大文", "owner_id_number": ID1,
                                   "owner_phone": "13912340001", "brand": "大众", "color": "白",
                                   "registered_at": "2016-05-20", "vehicle_type": "小型普通客车"}, a1)
    p.add("bank", "BK2", "p2", {"account_number": ACCOUNT2, "bank": "齐鲁银行", "branch": "济南分行",
                                "holder_name": "王芳", "holder_id_number": ID2, "opened_at": "2012-03-03"}, a1)
    p.add("org", "ORG5", "p5", {"name": "青岛海风贸易有限公司", "uscc": USCC5, "legal_rep_name": "李娜",
                                "legal_rep_id_number": ID5, "address": "山东省青岛市市南区香港中路8号",
                                "registered_at": "2020-02-02", "industry": "批发"}, grid_b1)
    return p


def person_partition(record_keys: dict[int, str] | None = None) -> set[frozenset[str]]:
    """The person entities as sets of source keys."""
    key_of = record_keys or dict(SourceRecord.objects.values_list("pk", "source_key"))
    groups: dict[int, set[str]] = {}
    for rid, entity in EntityRecord.objects.filter(kind="person", record__superseded_by=None).values_list(
            "record_id", "entity_id"):
        groups.setdefault(entity, set()).add(key_of[rid])
    return {frozenset(g) for g in groups.values()}


def truth_partition(truth: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for key, person in truth.items():
        groups.setdefault(person, set()).add(key)
    return {frozenset(g) for g in groups.values()}


def entity_of(key: str, kind: str = "person") -> int:
    return EntityRecord.objects.get(record__source_key=key, record__superseded_by=None, kind=kind).entity_id


def linked_province() -> Province:
    """The province, linked once in full."""
    from jingwu.records import linking

    p = build_province()
    linking.link_run(actor=None, mode="full")
    return p
