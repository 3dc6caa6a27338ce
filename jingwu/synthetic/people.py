"""Deterministic synthetic people: households, residents and what source systems hold
about them.

People are numbered 0, 1, 2 …; person i depends only on (seed, cities, i), never on
how a run is cut into chunks or where it resumed. Two stages make that possible:

1. The *registry* (like the household-registration office) draws households — where
   they live, who belongs, sex and birth date — and issues resident IDs. Issuing needs
   to know which sequence numbers are taken for an (address code, birth date), so it
   runs strictly in person order and keeps that set; it is cheap.
2. *Generation* draws everything else — names, addresses, phones, vehicles, accounts,
   organisations, hotel stays — and each source system's record of it, noise included.
   It needs nothing from other blocks, so blocks can be generated in parallel.

Both stages work in blocks of BLOCK_SIZE people with one `random.Random` per block
seeded from (seed, cities, block); a household never spans two blocks.

Noise lives only in the non-household-registration sources (whose trust is lower):
traditional characters, one-character typos, legacy 15-digit IDs, missing IDs and
phone formatting. Every record names its noise, so the ground truth says what is real.
Ethnicity and religion are never generated (out of scope, on purpose).
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from typing import Any, Final, NamedTuple

from jingwu.core.identifiers import make_resident_id
from jingwu.synthetic import names
from jingwu.synthetic.numbering import (
    BANK_BINS,
    MOBILE_PREFIXES,
    BankCards,
    OrganisationCodes,
    PhoneNumbers,
    Plates,
)
from jingwu.synthetic.province import (
    PLATE_PROVINCE,
    PROVINCE_NAME,
    ProvinceLayout,
    Township,
    id_address_code,
    plate_letter_for,
    stable_hash,
)

GENERATOR_VERSION: Final = 1
BLOCK_SIZE: Final = 1000
# Ages and record dates are relative to this day, not to the clock, so a seed gives the
# same people every year.
REFERENCE_DATE: Final = date(2026, 1, 1)
_LAST_YEAR: Final = REFERENCE_DATE.year - 1
_EPOCH_ORDINAL: Final = REFERENCE_DATE.toordinal()

# Source systems: key → (name, trust rank; lower is more trusted), as records.Source rows.
SOURCES: Final[dict[str, tuple[str, int]]] = {
    "hukou": ("户籍 household registration", 10),
    "vehicle": ("车管 vehicle registry", 20),
    "telecom": ("电信实名 subscriber registry", 30),
    "bank": ("银行客户 bank customer records", 40),
    "org": ("市场监管 enterprise registry", 20),
    "hotel": ("旅馆业 hotel check-ins", 60),
}
SOURCE_KINDS: Final = {"hukou": "person", "vehicle": "vehicle", "telecom": "phone", "bank": "account",
                       "org": "organization", "hotel": "person"}
SOURCE_KEY_PREFIX: Final = {"hukou": "HK", "vehicle": "VH", "telecom": "TEL", "bank": "BK", "org": "ORG",
                            "hotel": "HT"}

SEX_LABEL: Final = {"M": "男", "F": "女"}


# --- stage 1: the registry --------------------------------------------------------------

class Member(NamedTuple):
    number: int
    relation: str  # 户主 配偶 子 女 父亲 母亲
    sex: str  # "M" or "F"
    birth: date
    id_number: str


class Household(NamedTuple):
    township: int  # index into ProvinceLayout.townships
    grid: int  # index into ProvinceLayout.grids
    members: tuple[Member, ...]


# Households travel to worker processes as plain tuples: named tuples and dates pickle
# ten times slower, which showed in a million-person run.
WireHouseholds = tuple[tuple[int, int, tuple[tuple[int, str, str, int, str], ...]], ...]


def households_to_wire(households: list[Household]) -> WireHouseholds:
    return tuple((h.township, h.grid, tuple((m.number, m.relation, m.sex, m.birth.toordinal(), m.id_number)
                                            for m in h.members)) for h in households)


def households_from_wire(wire: WireHouseholds) -> list[Household]:
    fromordinal = date.fromordinal
    return [Household(township, grid, tuple(Member(n, relation, sex, fromordinal(day), id_number)
                                            for n, relation, sex, day, id_number in members))
            for township, grid, members in wire]


def _block_rng(seed: int, cities: int, stage: str, block: int) -> random.Random:
    # A string seed is hashed with SHA-512 by random.seed: stable across processes.
    return random.Random(f"jingwu-synthetic/v{GENERATOR_VERSION}/{seed}/{cities}/{stage}/{block}")


def _adult_age(rng: random.Random, low: int, high: int) -> int:
    return low + int((high - low + 1) * rng.random())


def _household_shape(rng: random.Random) -> list[tuple[str, str, int]]:
    """(relation, sex, age) of each member; the head first."""
    kind = rng.random()
    head_male = rng.random() < 0.72
    head_sex, other_sex = ("M", "F") if head_male else ("F", "M")

    def children(mother_age: int, count: int) -> list[tuple[str, str, int]]:
        out = []
        for _ in range(count):
            age = mother_age - _adult_age(rng, 22, 38)
            if age < 0:
                continue
            sex = "M" if rng.random() < 0.515 else "F"
            out.append(("子" if sex == "M" else "女", sex, age))
        return out

    if kind < 0.14:  # one person
        return [("户主", "M" if rng.random() < 0.48 else "F", _adult_age(rng, 18, 92))]
    head_age = _adult_age(rng, 22, 88) if kind < 0.34 else _adult_age(rng, 26, 58)
    if kind < 0.94:
        spouse_age = max(20, head_age + int(rng.random() * 9) - (5 if head_male else 3))
        members = [("户主", head_sex, head_age), ("配偶", other_sex, spouse_age)]
        mother_age = spouse_age if head_male else head_age
    else:  # single parent
        members = [("户主", head_sex, head_age)]
        mother_age = head_age if not head_male else head_age - 2
    if kind < 0.34:  # couple
        return members
    if kind < 0.62:
        return members + children(mother_age, 1)
    if kind < 0.77:
        return members + children(mother_age, 2)
    if kind < 0.80:
        return members + children(mother_age, 3)
    if kind < 0.94:  # three generations: the head's parents live with them
        members += children(mother_age, 1 if rng.random() < 0.6 else 2)
        father_age = head_age + _adult_age(rng, 22, 34)
        mother = ("母亲", "F", min(father_age - int(rng.random() * 5), 99))
        if father_age <= 95 and rng.random() < 0.7:
            members.append(("父亲", "M", father_age))
            if rng.random() < 0.8:
                members.append(mother)
        else:
            members.append(mother)
        return members
    return members + children(mother_age, 1)


class Registry:
    """Issues households and resident IDs block by block, in order."""

    def __init__(self, seed: int, cities: int, layout: ProvinceLayout) -> None:
        self.seed, self.cities, self.layout = seed, cities, layout
        self.next_block = 0
        self._taken: set[int] = set()
        # Street-office (urban) townships hold more people than rural towns.
        weights = [1.6 if t.urban else 1.0 for t in layout.townships]
        self._township_cum = tuple(accumulate(weights))

    def block(self, block: int) -> list[Household]:
        if block != self.next_block:
            raise ValueError(f"the registry issues blocks in order: expected {self.next_block}, got {block}")
        self.next_block += 1
        rng = _block_rng(self.seed, self.cities, "registry", block)
        townships = self.layout.townships
        total_weight = self._township_cum[-1]
        households: list[Household] = []
        number = block * BLOCK_SIZE
        end = number + BLOCK_SIZE
        while number < end:
            town = townships[bisect.bisect_right(self._township_cum, rng.random() * total_weight)]
            grid = town.grids[int(rng.random() * len(town.grids))].index
            members: list[Member] = []
            for relation, sex, age in _household_shape(rng):
                if number >= end:
                    break  # a household never spans two blocks
                birth = date(_LAST_YEAR - age, 1, 1) + timedelta(days=int(rng.random() * 365))
                members.append(Member(number, relation, sex, birth, self._issue_id(rng, town, sex, birth)))
                number += 1
            households.append(Household(town.index, grid, tuple(members)))
        return households

    def skip_to(self, block: int) -> None:
        """Replay the registry up to `block` (its taken IDs are needed to go on)."""
        while self.next_block < block:
            self.block(self.next_block)

    def _issue_id(self, rng: random.Random, town: Township, sex: str, birth: date) -> str:
        address = id_address_code(town.county_code, birth.year)
        key_base = (int(address) * 100_000_000 + birth.year * 10_000 + birth.month * 100 + birth.day) * 1000
        k = int(rng.random() * 499)
        for _ in range(499):
            sequence = 2 * k + (1 if sex == "M" else 2)  # odd for men, even for women
            if key_base + sequence not in self._taken:
                self._taken.add(key_base + sequence)
                return make_resident_id(address, birth, sequence)
            k = (k + 1) % 499
        raise RuntimeError(f"all sequence numbers of {address} {birth} are taken")


# --- stage 2: people and their records --------------------------------------------------

@dataclass(slots=True)
class RecordDraft:
    source: str
    payload: dict[str, Any]
    grid: int  # the unit the record is scoped to
    noise: tuple[str, ...] = ()
    key: str = ""


@dataclass(slots=True)
class Person:
    number: int
    name: str
    sex: str
    birth: date
    birth_day: int  # day number (date.toordinal) of the birth date
    birth_iso: str
    id_number: str
    household_id: str
    relation: str
    township: int
    grid: int
    address: str
    location: tuple[float, float]
    phones: list[str] = field(default_factory=list)  # national numbers, the person's own lines
    plates: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)  # USCCs where legal representative
    records: list[RecordDraft] = field(default_factory=list)


_ROAD_STEMS: Final = ("建设", "文化", "人民", "解放", "和平", "胜利", "新华", "幸福", "光明", "青年", "工业", "民生",
                      "朝阳", "东风", "北园", "南山", "花园", "科技", "泰山", "黄河", "振兴", "长江", "育才", "永安")
_ROAD_SUFFIXES: Final = ("路", "街", "大街", "东路", "西路", "南路", "北路")
_VILLAGE_SUFFIXES: Final = ("家庄", "庄", "家村", "屯", "营", "店", "集", "官庄", "家洼", "寨")
_HOTEL_SUFFIXES: Final = ("宾馆", "商务酒店", "快捷酒店", "大酒店", "旅馆", "假日酒店")
_BRANDS: Final = ("大众", "丰田", "本田", "日产", "别克", "比亚迪", "吉利", "长安", "哈弗", "奥迪", "宝马", "奔驰",
                  "五菱", "现代", "福特", "奇瑞")
_NEW_ENERGY_BRANDS: Final = ("比亚迪", "特斯拉", "理想", "蔚来", "小鹏", "问界", "五菱", "吉利")
_COLOURS: Final = ("白", "黑", "银", "灰", "红", "蓝", "棕")
_TRADE_CHARS: Final = "华鑫恒泰瑞丰盛达宏远新创博源金诚信利通顺安康正德辉明海润天宇嘉和永兴隆祥汇聚鼎"
_INDUSTRIES: Final = ("商贸", "科技", "建筑工程", "餐饮管理", "物流", "机械制造", "农业发展", "文化传媒",
                      "信息技术", "房地产开发", "食品", "汽车服务", "装饰工程", "医药")


def _township_roads(town: Township) -> tuple[str, ...]:
    return tuple(_ROAD_STEMS[stable_hash(f"road/{town.code}/{k}") % len(_ROAD_STEMS)]
                 + _ROAD_SUFFIXES[stable_hash(f"roadsuffix/{town.code}/{k}") % len(_ROAD_SUFFIXES)]
                 for k in range(5))


def _township_villages(town: Township) -> tuple[str, ...]:
    return tuple(names.SURNAMES[stable_hash(f"village/{town.code}/{k}") % 40]
                 + _VILLAGE_SUFFIXES[stable_hash(f"villagesuffix/{town.code}/{k}") % len(_VILLAGE_SUFFIXES)] + "村"
                 for k in range(8))


@dataclass(frozen=True, slots=True)
class Hotel:
    name: str
    address: str
    grid: int


def _format_phone(rng: random.Random, national: str) -> tuple[str, bool]:
    """A phone as a clerk might have typed it; True when not the plain 11 digits."""
    r = rng.random()
    if r < 0.70:
        return national, False
    a, b, c = national[:3], national[3:7], national[7:]
    if r < 0.80:
        return f"{a} {b} {c}", True
    if r < 0.88:
        return f"{a}-{b}-{c}", True
    if r < 0.95:
        return f"+86 {a} {b} {c}", True
    return f"+86{national}", True


# Record dates are handled as day numbers with their ISO text looked up: building date
# objects and formatting them was a noticeable share of generation time.
_FIRST_DAY: Final = date(1900, 1, 1).toordinal()
_END_DAY: Final = REFERENCE_DATE.toordinal()
_ISO_DAYS: Final = tuple(date.fromordinal(d).isoformat() for d in range(_FIRST_DAY, _END_DAY + 366))


def _iso_day(day: int) -> str:
    return _ISO_DAYS[day - _FIRST_DAY]


def _day_between(rng: random.Random, start: int, end: int = _END_DAY) -> str:
    """A day in [start, end) as ISO text (start itself when the range is empty)."""
    if end <= start:
        return _iso_day(start)
    return _ISO_DAYS[start - _FIRST_DAY + int(rng.random() * (end - start))]


_DAY_1995: Final = date(1995, 1, 1).toordinal()
_DAY_2000: Final = date(2000, 1, 1).toordinal()
_DAY_2003: Final = date(2003, 1, 1).toordinal()
# Unified social credit codes with "MA" organisation codes are issued since October 2015.
_DAY_USCC: Final = date(2015, 10, 1).toordinal()


def _years_after(person: Person, years: int, floor: int) -> int:
    """The day number `years` after the person's birth, but not before the day `floor`."""
    return max(floor, person.birth_day + years * 365 + years // 4)


class PeopleGenerator:
    """Stage 2 for one (seed, cities): turns a block of registry households into people."""

    def __init__(self, seed: int, cities: int, layout: ProvinceLayout) -> None:
        self.seed, self.cities, self.layout = seed, cities, layout
        self.phones = PhoneNumbers(seed)
        self.plates = Plates(seed)
        self.cards = BankCards(seed)
        self.org_codes = OrganisationCodes(seed)
        self._roads = [_township_roads(t) for t in layout.townships]
        self._villages = [_township_villages(t) for t in layout.townships]
        self._county_of = [layout.county_by_code[t.county_code] for t in layout.townships]
        self._city_of = [layout.city_by_code[t.city_code] for t in layout.townships]
        self._prefixes = {city.code: city.name for city in layout.cities}
        self.hotels = self._build_hotels()

    def _build_hotels(self) -> tuple[Hotel, ...]:
        hotels = []
        for county in self.layout.counties:
            for k in range(3):
                town = county.townships[stable_hash(f"hotel/{county.code}/{k}") % len(county.townships)]
                grid = town.grids[stable_hash(f"hotelgrid/{county.code}/{k}") % len(town.grids)]
                suffix = _HOTEL_SUFFIXES[stable_hash(f"hotelname/{county.code}/{k}") % len(_HOTEL_SUFFIXES)]
                road = _township_roads(town)[k % 5]
                city = self.layout.city_by_code[county.city_code]
                hotels.append(Hotel(name=f"{town.short_name}{suffix}",
                                    address=f"{PROVINCE_NAME}{city.name}{county.name}{town.name}{road}"
                                            f"{1 + stable_hash(f'hotelno/{county.code}/{k}') % 200}号",
                                    grid=grid.index))
        return tuple(hotels)

    # -- one block ------------------------------------------------------------------

    def block(self, block: int, households: list[Household]) -> list[Person]:
        """All people of a block, with their records and source keys."""
        rng = _block_rng(self.seed, self.cities, "people", block)
        people: list[Person] = []
        for k, household in enumerate(households):
            people.extend(self._household(rng, block, k, household))
        self._assign_keys(rng, block, people)
        return people

    def _household(self, rng: random.Random, block: int, k: int, household: Household) -> list[Person]:
        town = self.layout.townships[household.township]
        county, city = self._county_of[household.township], self._city_of[household.township]
        grid_box = self.layout.grids[household.grid].bbox
        if town.urban:
            detail = (f"{self._roads[town.index][int(rng.random() * 5)]}{1 + int(rng.random() * 300)}号"
                      f"{1 + int(rng.random() * 20)}号楼{1 + int(rng.random() * 4)}单元"
                      f"{1 + int(rng.random() * 18)}{1 + int(rng.random() * 4):02d}室")
        else:
            detail = f"{self._villages[town.index][int(rng.random() * 8)]}{1 + int(rng.random() * 400)}号"
        address = f"{PROVINCE_NAME}{city.name}{county.name}{town.name}{detail}"
        lon = round(grid_box[0] + (grid_box[2] - grid_box[0]) * rng.random(), 6)
        lat = round(grid_box[1] + (grid_box[3] - grid_box[1]) * rng.random(), 6)
        household_id = f"{town.code}{block:06d}{k:03d}"

        # Surnames: the head's line, a spouse's own, children after the father.
        head = household.members[0]
        head_surname = names.surname_draw(rng)
        spouse_surname = names.surname_draw(rng)
        father_surname = head_surname if head.sex == "M" or len(household.members) == 1 else spouse_surname
        if not any(m.relation == "配偶" for m in household.members):
            father_surname = head_surname
        people = []
        for member in household.members:
            if member.relation in ("户主", "父亲"):
                surname = head_surname
            elif member.relation in ("子", "女"):
                surname = father_surname if rng.random() < 0.92 else (
                    head_surname if head.sex == "F" else spouse_surname)
            else:  # 配偶, 母亲
                surname = spouse_surname if member.relation == "配偶" else names.surname_draw(rng)
            name = surname + names.given_name_draw(rng, member.sex, member.birth.year)
            birth_day = member.birth.toordinal()
            people.append(Person(number=member.number, name=name, sex=member.sex, birth=member.birth,
                                 birth_day=birth_day, birth_iso=_iso_day(birth_day),
                                 id_number=member.id_number, household_id=household_id, relation=member.relation,
                                 township=household.township, grid=household.grid, address=address,
                                 location=(lon, lat)))
        for person in people:
            self._phones(rng, person)
        household_phone = people[0].phones[0] if people[0].phones else ""
        for person in people:
            self._hukou(person, household_phone)
            self._telecom(rng, person)
            self._vehicles(rng, person, county.code, city.code)
            self._accounts(rng, person, city.name)
            self._organisation(rng, person, county.code, city.name)
            self._hotel_stays(rng, person)
        return people

    # -- attributes -------------------------------------------------------------------

    @staticmethod
    def _age(person: Person) -> int:
        return _LAST_YEAR - person.birth.year

    def _phones(self, rng: random.Random, person: Person) -> None:
        age = self._age(person)
        p_line = 0.0 if age < 12 else 0.6 if age < 18 else 0.97 if age <= 70 else 0.8
        if rng.random() < p_line:
            lines = 2 if 18 <= age <= 60 and rng.random() < 0.1 else 1
            person.phones = [self.phones.number(person.number, slot) for slot in range(lines)]

    def _identity(self, rng: random.Random, person: Person, *, id_missing: float,
                  legacy_id: float) -> tuple[str, str | None, list[str]]:
        """(name, ID number or None, noise) as a lower-trust source holds them."""
        noise = []
        name = person.name
        r = rng.random()
        if r < 0.02:
            traditional = names.to_traditional(name)
            if traditional != name:
                name = traditional
                noise.append("traditional_name")
        elif r < 0.03:
            name = names.name_with_typo(rng, name)
            if name != person.name:
                noise.append("name_typo")
        id_number: str | None = person.id_number
        r = rng.random()
        if r < legacy_id:
            if person.birth.year < 2000:  # 15-digit IDs were issued only to people born in the 1900s
                id_number = person.id_number[:6] + person.id_number[8:17]
                noise.append("legacy_id15")
        elif r < legacy_id + id_missing:
            id_number = None
            noise.append("id_missing")
        return name, id_number, noise

    def _hukou(self, person: Person, household_phone: str) -> None:
        payload = {"name": person.name, "id_number": person.id_number, "sex": SEX_LABEL[person.sex],
                   "birth_date": person.birth_iso, "address": person.address,
                   "division_code": self.layout.townships[person.township].code,
                   "household_id": person.household_id, "relation_to_head": person.relation}
        # A child without a phone of its own is registered with the household's number.
        phone = person.phones[0] if person.phones else household_phone
        if phone:
            payload["phone"] = phone
        person.records.append(RecordDraft("hukou", payload, person.grid))

    def _telecom(self, rng: random.Random, person: Person) -> None:
        for national in person.phones:
            name, id_number, noise = self._identity(rng, person, id_missing=0.04, legacy_id=0.01)
            phone, reformatted = _format_phone(rng, national)
            if reformatted:
                noise.append("phone_format")
            activated = _day_between(rng, _years_after(person, 12, _DAY_2003))
            payload: dict[str, Any] = {"phone": phone, "subscriber_name": name,
                                       "carrier": MOBILE_PREFIXES[national[:3]],
                                       "activated_at": activated}
            if id_number is None:
                payload["birth_date"] = person.birth_iso
            else:
                payload["subscriber_id_number"] = id_number
            person.records.append(RecordDraft("telecom", payload, person.grid, tuple(noise)))

    def _owner_phone(self, rng: random.Random, person: Person, noise: list[str]) -> str | None:
        if not person.phones:
            return None
        phone, reformatted = _format_phone(rng, person.phones[0])
        if reformatted:
            noise.append("phone_format")
        return phone

    def _vehicles(self, rng: random.Random, person: Person, county_code: str, city_code: str) -> None:
        age = self._age(person)
        if not 18 <= age <= 78 or rng.random() >= 0.37:
            return
        count = 2 if rng.random() < 0.1 else 1
        for slot in range(count):
            new_energy = rng.random() < 0.15
            serial = self.plates.new_energy(person.number) if new_energy and slot == 0 else None
            if serial is None:
                new_energy = False
                serial = self.plates.ordinary(person.number, slot)
            plate = f"{PLATE_PROVINCE}{plate_letter_for(county_code, city_code, rng.random())}{serial}"
            name, id_number, noise = self._identity(rng, person, id_missing=0.0, legacy_id=0.01)
            phone = self._owner_phone(rng, person, noise)
            brands = _NEW_ENERGY_BRANDS if new_energy else _BRANDS
            payload: dict[str, Any] = {
                "plate": plate, "owner_name": name, "owner_id_number": id_number,
                "vehicle_type": "小型新能源汽车" if new_energy else ("小型普通客车" if rng.random() < 0.8
                                                                    else "轻型普通货车"),
                "brand": brands[int(rng.random() * len(brands))],
                "color": _COLOURS[int(rng.random() * len(_COLOURS))],
                "registered_at": _day_between(rng, _years_after(person, 18, _DAY_2000)),
            }
            if phone:
                payload["owner_phone"] = phone
            person.plates.append(plate)
            person.records.append(RecordDraft("vehicle", payload, person.grid, tuple(noise)))

    def _accounts(self, rng: random.Random, person: Person, city_name: str) -> None:
        age = self._age(person)
        if age < 16 or rng.random() >= 0.8:
            return
        count = 2 if rng.random() < 0.1 else 1
        for slot in range(count):
            bank, bin_prefix = BANK_BINS[int(rng.random() * len(BANK_BINS))]
            number = self.cards.number(bin_prefix, person.number, slot)
            name, id_number, noise = self._identity(rng, person, id_missing=0.0, legacy_id=0.02)
            payload: dict[str, Any] = {
                "bank": bank, "branch": f"{city_name}分行", "account_number": number, "holder_name": name,
                "holder_id_number": id_number,
                "opened_at": _day_between(rng, _years_after(person, 16, _DAY_1995)),
            }
            phone = self._owner_phone(rng, person, noise)
            if phone:
                payload["phone"] = phone
            person.accounts.append(number)
            person.records.append(RecordDraft("bank", payload, person.grid, tuple(noise)))

    def _organisation(self, rng: random.Random, person: Person, county_code: str, city_name: str) -> None:
        age = self._age(person)
        if not 25 <= age <= 70 or rng.random() >= 0.075:
            return
        from jingwu.core.identifiers import make_uscc

        uscc = make_uscc("91" + county_code + self.org_codes.code(person.number))
        trade = _TRADE_CHARS[int(rng.random() * len(_TRADE_CHARS))] + _TRADE_CHARS[
            int(rng.random() * len(_TRADE_CHARS))]
        industry = _INDUSTRIES[int(rng.random() * len(_INDUSTRIES))]
        name, id_number, noise = self._identity(rng, person, id_missing=0.0, legacy_id=0.0)
        town = self.layout.townships[person.township]
        grid = town.grids[int(rng.random() * len(town.grids))]
        payload: dict[str, Any] = {
            "name": f"{city_name.removesuffix('市')}{trade}{industry}有限公司", "uscc": uscc,
            "legal_rep_name": name, "legal_rep_id_number": id_number,
            "address": f"{person.address.split(town.name)[0]}{town.name}"
                       f"{self._roads[town.index][int(rng.random() * 5)]}{1 + int(rng.random() * 500)}号",
            "registered_at": _day_between(rng, _years_after(person, 22, _DAY_USCC)),
            "industry": industry,
        }
        person.organisations.append(uscc)
        person.records.append(RecordDraft("org", payload, grid.index, tuple(noise)))

    def _hotel_stays(self, rng: random.Random, person: Person) -> None:
        age = self._age(person)
        if not 18 <= age <= 75 or rng.random() >= 0.14:
            return
        for _ in range(1 if rng.random() < 0.6 else 2):
            hotel = self.hotels[int(rng.random() * len(self.hotels))]
            name, id_number, noise = self._identity(rng, person, id_missing=0.03, legacy_id=0.0)
            day = _END_DAY - 1 - int(rng.random() * 365)
            nights = 1 + int(rng.random() * 4)
            payload: dict[str, Any] = {
                "hotel": hotel.name, "hotel_address": hotel.address, "name": name,
                "room": f"{1 + int(rng.random() * 12)}{1 + int(rng.random() * 30):02d}",
                "check_in": f"{_iso_day(day)}T{14 + int(rng.random() * 9):02d}:{int(rng.random() * 60):02d}",
                "check_out": _iso_day(day + nights),
            }
            if id_number is None:
                payload["birth_date"] = person.birth_iso
                phone = self._owner_phone(rng, person, noise)
                if phone:
                    payload["phone"] = phone
            else:
                payload["id_number"] = id_number
            person.records.append(RecordDraft("hotel", payload, hotel.grid, tuple(noise)))

    # -- keys -----------------------------------------------------------------------

    @staticmethod
    def _assign_keys(rng: random.Random, block: int, people: list[Person]) -> None:
        """Source keys: per source a number inside the block, shuffled so that key
        order (and insertion order) says nothing about which person a record is."""
        by_source: dict[str, list[RecordDraft]] = {s: [] for s in SOURCES}
        for person in people:
            for record in person.records:
                by_source[record.source].append(record)
        for source, drafts in by_source.items():
            positions = list(range(len(drafts)))
            rng.shuffle(positions)
            prefix = f"{SOURCE_KEY_PREFIX[source]}{block:06d}"
            for draft, pos in zip(drafts, positions, strict=True):
                draft.key = f"{prefix}{pos:05d}"
