"""A small labelled fixture: people, their records in three sources, and who is who.

hukou 户籍 is clean (valid IDs, simplified names); telecom 电信 has traditional
characters, homophones, missing IDs, every phone format and second SIMs; hotel 旅馆 has
15-digit IDs, typos and gaps.  Hard negatives: two 张伟 and two 李娜 born on the same day
with different IDs; twins at one address sharing a household phone; a father and son
of one name sharing a phone, born 1955 and 1985 (one digit apart).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jingwu.core.identifiers import make_resident_id


def id18(code: str, birth: str, seq: int) -> str:
    return make_resident_id(code, dt.date.fromisoformat(birth), seq)


def id15(full: str) -> str:
    """The legacy form of an 18-character ID born in the 1900s: no century, no check."""
    return full[:6] + full[8:17]


def broken(full: str) -> str:
    """The same ID with a wrong check character (a transcription error)."""
    return full[:17] + ("0" if full[17] != "0" else "1")


# person → (name, sex, birth, division, ID sequence, phone)
P: dict[str, tuple[str, str, str, str, int, str | None]] = {
    "p01": ("陈大文", "M", "1980-03-15", "370102", 11, "13912340001"),
    "p02": ("张伟", "M", "1985-07-20", "370202", 13, "13912340002"),
    "p03": ("张伟", "M", "1985-07-20", "370203", 15, "13912340003"),
    "p04": ("曾国强", "M", "1972-11-02", "370103", 17, "13912340004"),
    "p05": ("单丽", "F", "1990-01-09", "370104", 22, "13912340005"),
    "p06": ("王小明", "M", "1995-05-05", "370105", 31, "13912340006"),
    "p07": ("刘一鸣", "M", "2001-09-09", "370102", 41, "13912340007"),
    "p08": ("刘一凡", "M", "2001-09-09", "370102", 43, "13912340008"),
    "p09": ("欧阳娜娜", "F", "1998-12-12", "370211", 52, "13912340009"),
    "p10": ("李娜", "F", "1988-04-04", "370302", 62, None),
    "p11": ("李娜", "F", "1988-04-04", "370303", 64, "13912340011"),
    "p12": ("赵敏", "F", "1979-06-30", "370181", 72, "13912340012"),
    "p13": ("孙立", "M", "1966-02-28", "370124", 81, "13912340013"),
    "p14": ("司马光", "M", "1950-10-10", "370112", 91, "13912340014"),
    "p15": ("周杰", "M", "1979-01-18", "370113", 101, None),
    "p16": ("吴芳", "F", "1993-03-03", "370114", 112, "13912340016"),
    "p17": ("解放", "M", "1960-08-08", "370115", 121, "13912340017"),
    "p18": ("朴成浩", "M", "1983-02-14", "370116", 131, "13912340018"),
    "p19": ("区志强", "M", "1975-07-07", "370117", 141, "13912340019"),
    "p20": ("黄丽", "F", "1992-02-02", "370118", 152, "13912340020"),
    # Father and son with one name and one household phone; birth years one digit apart.
    "p21": ("王建国", "M", "1955-05-01", "370102", 161, "13912340021"),
    "p22": ("王建国", "M", "1985-05-01", "370102", 163, "13912340021"),
    "p23": ("马丽", "F", "1987-09-30", "370119", 172, "13912340023"),
    # A visitor: not registered here, no ID in either record.
    "p24": ("钱多多", "F", "1999-11-11", "110105", 182, "13912340024"),
}


def pid(person: str) -> str:
    _, _, birth, code, seq, _ = P[person]
    return id18(code, birth, seq)


def _rec(uid: str, source: str, person: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    name, sex, birth, code, _, phone = P[person]
    row: dict[str, Any] = {
        "unique_id": uid, "source": source, "name": name, "id_number": pid(person), "birth_date": birth,
        "sex": sex, "phone": phone, "address": None, "division_code": code,
    }  # fmt: skip
    row.update(fields)
    return person, row


def fixture() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(records, unique_id → person)."""
    recs = [
        # hukou: clean; no phones recorded for a few people.
        *(_rec(f"hukou:{p}", "hukou", p) for p in P if p not in {"p11", "p15", "p24"}),
        _rec("hukou:p13", "hukou", "p13", id_number=id15(pid("p13"))),  # replaces the clean p13 below
        # telecom: traditional characters, homophones, no IDs, phone formats, a second SIM.
        _rec("tel:p01", "telecom", "p01", name="陳大文", id_number=None, birth_date=None,
             phone="+86 139 1234 0001"),
        _rec("tel:p02", "telecom", "p02", name="章伟", id_number=None, phone="139-1234-0002"),
        _rec("tel:p04", "telecom", "p04", name="增国强", id_number=None, phone="0086 13912340004"),
        _rec("tel:p05", "telecom", "p05", name="單麗", phone="0086-139-1234-0005", sex="女"),
        _rec("tel:p06", "telecom", "p06", name="王晓明", id_number=None),
        _rec("tel:p07", "telecom", "p07", id_number=None, phone="13912340007"),
        _rec("tel:p08", "telecom", "p08", phone="13912340007"),  # the twins' household phone
        _rec("tel:p09", "telecom", "p09", name="歐陽娜娜", id_number=None, phone="8613912340009"),
        _rec("tel:p11", "telecom", "p11", id_number=None),
        _rec("tel:p12", "telecom", "p12", id_number=broken(pid("p12"))),
        _rec("tel:p14", "telecom", "p14", id_number=None, birth_date=None),
        _rec("tel:p15a", "telecom", "p15", id_number=None, phone="13912340150"),
        _rec("tel:p15b", "telecom", "p15", id_number=None, phone="13912340151"),
        _rec("tel:p16", "telecom", "p16", id_number=None, phone="１３９１２３４００１６", sex="女"),
        _rec("tel:p17", "telecom", "p17", name="谢放", id_number=None),
        _rec("tel:p20", "telecom", "p20", name="黄莉莉", id_number=None, phone="13912340200",
             birth_date=None, division_code=None),
        _rec("tel:p22", "telecom", "p22", id_number=None, phone="13912340022"),
        _rec("tel:p23a", "telecom", "p23", phone="139 1234 0023"),
        _rec("tel:p23b", "telecom", "p23", id_number=None, phone="13912340230"),  # a second SIM
        _rec("tel:p24", "telecom", "p24", id_number=None, birth_date=None, division_code=None),
        # hotel: 15-digit IDs, typos, gaps.
        _rec("hotel:p01", "hotel", "p01", id_number=id15(pid("p01")), phone=None),
        _rec("hotel:p02", "hotel", "p02", phone=None),
        _rec("hotel:p03", "hotel", "p03"),
        _rec("hotel:p04", "hotel", "p04", phone=None, birth_date="1972年11月2日"),
        _rec("hotel:p05", "hotel", "p05", id_number=None, birth_date="19900109"),
        _rec("hotel:p06", "hotel", "p06", name="王小朋", phone=None),
        _rec("hotel:p08", "hotel", "p08", id_number=None, phone="13912340008", division_code=None),
        _rec("hotel:p09", "hotel", "p09", phone=None),
        _rec("hotel:p11", "hotel", "p11", phone="13912340011"),
        _rec("hotel:p13", "hotel", "p13"),
        _rec("hotel:p14", "hotel", "p14", name="司 馬光", phone=None),
        _rec("hotel:p16", "hotel", "p16", name="吴 芳", birth_date="1993/3/3", phone=None),
        _rec("hotel:p18", "hotel", "p18", phone=None),
        _rec("hotel:p19", "hotel", "p19", id_number=id15(pid("p19")), phone=None),
        _rec("hotel:p21", "hotel", "p21", id_number=None, division_code=None),  # the father
        _rec("hotel:p23", "hotel", "p23", id_number=None, phone="13912340230", sex="女"),
        _rec("hotel:p24", "hotel", "p24", id_number=None, division_code=None, sex="女"),
    ]  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    truth: dict[str, str] = {}
    for person, row in recs:
        rows[row["unique_id"]] = row  # the later hukou:p13 (15-digit) replaces the earlier one
        truth[row["unique_id"]] = person
    return list(rows.values()), truth


def partition(assignment: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for uid, group in assignment.items():
        groups.setdefault(group, set()).add(uid)
    return {frozenset(g) for g in groups.values()}
