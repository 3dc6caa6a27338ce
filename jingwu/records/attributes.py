"""What a source record says about each entity it describes, and which value an entity shows.

A record describes at most one entity of each kind: a vehicle-registry record the
vehicle, its owner (a person) and the owner's phone; a telecom record the phone and its
subscriber.  :func:`role` gives the fields of one such description in the entity's own
vocabulary (the subscriber's ``subscriber_name`` becomes the person's ``name``).

**The value-choice rule.**  For each field of an entity, the candidate values are the
normalised values its current member records give, grouped by equal value.  Each group
is represented by its best record: the one from the most trusted source (lowest
``Source.trust_rank``) and, among those, the most recently received.  Groups are ordered
by

1. validity: a value that failed validation (kept as written) ranks after every valid one;
2. the best record's source trust, most trusted first;
3. the best record's ``received_at``, most recent first;
4. the number of records giving the value, most first;
5. the value itself, so equal standing still gives one answer.

The first group is the value shown; the others stay, in the same order, so a page can
show every value and where each came from::

    {"name": {"value": "陈大文", "records": [12, 40], "others": [{"value": "陳大文", "records": [77]}]}}
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jingwu.core.identifiers import validate_phone
from jingwu.records.mapping import Mapping as FieldMapping
from jingwu.records.mapping import MappingError
from jingwu.records.readers import RawRow
from jingwu.records.rows import GoodRow, normalize_row

__all__ = [
    "ENTITY_FIELDS",
    "ID_NUMBER_FIELDS",
    "Facts",
    "choose_attributes",
    "entity_key",
    "facts_from_row",
    "role",
]

# The fields an entity of each kind shows, in display order.
ENTITY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "person": ("name", "former_name", "id_number", "birth_date", "sex", "phone", "address", "division_code",
               "household_id"),
    "phone": ("phone", "carrier", "activated_at"),
    "vehicle": ("plate", "vin", "vehicle_type", "brand", "color", "registered_at"),
    "organization": ("name", "uscc", "address", "industry", "registered_at"),
    "account": ("account_number", "bank", "branch", "opened_at"),
    "place": ("address", "division_code", "name", "place_type", "lon", "lat"),
}

# Fields (of records and of entities) that hold a resident ID number: masked on display.
ID_NUMBER_FIELDS: Final = frozenset({"id_number", "owner_id_number", "subscriber_id_number", "holder_id_number",
                                     "legal_rep_id_number"})

# record kind → entity kind → {entity field: record field}.  A description exists when
# the record has a value for at least one of the entity's *identifying* fields below.
_ROLES: Final[dict[str, dict[str, dict[str, str]]]] = {
    "person": {
        "person": {"name": "name", "former_name": "former_name", "id_number": "id_number",
                   "birth_date": "birth_date", "sex": "sex", "phone": "phone", "address": "address",
                   "division_code": "division_code", "household_id": "household_id"},
        "phone": {"phone": "phone"},
        # A hotel check-in describes the hotel; anything else the person's own address.
        "place": {"address": "address", "division_code": "division_code"},
    },
    "phone": {
        "phone": {"phone": "phone", "carrier": "carrier", "activated_at": "activated_at"},
        "person": {"name": "subscriber_name", "id_number": "subscriber_id_number", "birth_date": "birth_date",
                   "phone": "phone"},
    },
    "vehicle": {
        "vehicle": {"plate": "plate", "vin": "vin", "vehicle_type": "vehicle_type", "brand": "brand",
                    "color": "color", "registered_at": "registered_at"},
        "person": {"name": "owner_name", "id_number": "owner_id_number", "phone": "owner_phone"},
        "phone": {"phone": "owner_phone"},
    },
    "account": {
        "account": {"account_number": "account_number", "bank": "bank", "branch": "branch",
                    "opened_at": "opened_at"},
        "person": {"name": "holder_name", "id_number": "holder_id_number", "phone": "phone"},
        "phone": {"phone": "phone"},
    },
    "organization": {
        "organization": {"name": "name", "uscc": "uscc", "address": "address", "industry": "industry",
                         "registered_at": "registered_at"},
        "person": {"name": "legal_rep_name", "id_number": "legal_rep_id_number"},
    },
    "place": {
        "place": {"address": "address", "division_code": "division_code", "name": "name",
                  "place_type": "place_type", "lon": "lon", "lat": "lat"},
    },
}
_HOTEL_PLACE: Final = {"address": "hotel_address", "name": "hotel"}

_IDENTIFYING: Final[dict[str, tuple[str, ...]]] = {
    "person": ("name", "id_number"),
    "phone": ("phone",),
    "vehicle": ("plate",),
    "account": ("account_number",),
    "organization": ("uscc", "name"),
    "place": ("address",),
}

# Fields source systems send beside our import vocabulary (docs/data-formats.md §4) that
# linkage and relations use: record kind → {field: type}.
_EXTRAS: Final[dict[str, dict[str, str]]] = {
    "person": {"hotel": "text", "hotel_address": "text", "room": "text", "check_in": "date", "check_out": "date"},
    "phone": {"birth_date": "date"},
    "vehicle": {"owner_phone": "phone", "vehicle_type": "text"},
    "account": {"phone": "phone", "branch": "text"},
    "organization": {"industry": "text"},
}


@dataclass(slots=True)
class Facts:
    """One source record, normalised: what linkage, relations and attributes read."""

    id: int
    source: str  # Source.key
    trust_rank: int
    received_at: dt.datetime
    unit_id: int | None
    kind: str
    fields: dict[str, str]  # present values only
    # Fields present but failing validation; their text is kept in `fields` as written.
    invalid: frozenset[str] = field(default_factory=frozenset)


def _cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _collapse(text: str) -> str | None:
    return " ".join(text.split()) or None


def _date(text: str) -> str | None:
    """An ISO date, also from a date-time ("2025-11-24T22:52"); None otherwise."""
    s = unicodedata.normalize("NFKC", text.strip())[:10]
    try:
        return dt.date.fromisoformat(s).isoformat() if len(s) == 10 else None
    except ValueError:
        return None


_phone_cache: dict[str, str | None] = {}


def _phone(text: str) -> str | None:
    hit = _phone_cache.get(text, "")
    if hit != "":
        return hit
    result = validate_phone(text)
    value = result.normalized if result.valid else None
    if len(_phone_cache) < 500_000:
        _phone_cache[text] = value
    return value


def _normalise(kind: str, cells: dict[str, str | None], key: str) -> tuple[dict[str, str], frozenset[str]]:
    """Our vocabulary's fields through records.rows.normalize_row; a field that fails keeps
    its text and is named in the second value, so one bad value loses nothing else."""
    try:
        FieldMapping.identity(kind)
    except MappingError:
        return {k: v for k, raw in cells.items() if raw and (v := _collapse(raw))}, frozenset()
    row = dict(cells)
    row["id"] = key or "-"
    result = normalize_row(RawRow(0, row, None, kind))
    failed: set[str] = set()
    if not isinstance(result, GoodRow):
        failed = {issue.field for issue in result.issues if issue.field and issue.code != "missing_required"}
        retry = {k: v for k, v in row.items() if k not in failed}
        result = normalize_row(RawRow(0, retry, None, kind))
    if isinstance(result, GoodRow):
        out = {k: v for k, v in result.fields.items() if v is not None}
    else:  # a required field is missing: keep what the record says, tidied
        out = {k: v for k, raw in cells.items() if raw and k in FieldMapping.identity(kind).columns
               and (v := _collapse(raw))}
    for name in failed:
        raw = cells.get(name)
        if raw and (text := _collapse(raw)):
            out[name] = text
    return out, frozenset(name for name in failed if name in out)


def facts_from_row(*, record_id: int, source: str, trust_rank: int, received_at: dt.datetime, unit_id: int | None,
                   kind: str, source_key: str, fields: Mapping[str, Any] | None,
                   payload: Mapping[str, Any] | None) -> Facts:
    """Facts of a stored record: its normalised ``fields`` when the importer stored them,
    else its ``payload`` normalised here; the extra fields always come from the payload."""
    payload = payload or {}
    if fields is not None:
        values = {k: s for k, v in fields.items() if (s := _cell(v))}
        invalid: frozenset[str] = frozenset()
    else:
        values, invalid = _normalise(kind, {k: _cell(v) for k, v in payload.items()}, source_key)
    for name, kind_of_value in _EXTRAS.get(kind, {}).items():
        if name in values:
            continue
        raw = _cell(payload.get(name))
        if not raw:
            continue
        value = _phone(raw) if kind_of_value == "phone" else _date(raw) if kind_of_value == "date" else _collapse(raw)
        if value:
            values[name] = value
    return Facts(record_id, source, trust_rank, received_at, unit_id, kind, values, invalid)


def role(facts: Facts, entity_kind: str) -> dict[str, str]:
    """The fields of ``facts`` that describe its entity of ``entity_kind``, named as that
    entity's fields; empty when the record describes no such entity."""
    mapping = _ROLES.get(facts.kind, {}).get(entity_kind)
    if mapping is None:
        return {}
    if entity_kind == "place" and facts.kind == "person" and "hotel_address" in facts.fields:
        mapping = _HOTEL_PLACE
    values = facts.fields
    out = {ours: values[theirs] for ours, theirs in mapping.items() if theirs in values}
    if not any(name in out for name in _IDENTIFYING[entity_kind]):
        return {}
    return out


def _address_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def entity_key(entity_kind: str, described: Mapping[str, str], invalid: Iterable[str] = ()) -> str | None:
    """The identifier that keys a non-person entity (None when the record gives none
    valid): E.164 phone, plate, USCC (else the name), account number, and for a place the
    county code and the address without spaces."""
    bad = set(invalid)
    if entity_kind == "phone":
        value = described.get("phone")
        return value if value and value.startswith("+") else None
    if entity_kind in ("vehicle", "account"):
        name = "plate" if entity_kind == "vehicle" else "account_number"
        value = described.get(name)
        return value if value and name not in bad else None
    if entity_kind == "organization":
        uscc = described.get("uscc")
        if uscc and "uscc" not in bad:
            return uscc
        org_name = described.get("name")
        return f"name:{_address_key(org_name)}"[:200] if org_name else None
    if entity_kind == "place":
        address = described.get("address")
        if not address:
            return None
        division = described.get("division_code", "")
        county = division[:6] if division.isdigit() and "division_code" not in bad else ""
        return f"{county}|{_address_key(address)}"[:200]
    raise ValueError(f"{entity_kind} entities are not keyed")


def _standing(member: Facts) -> tuple[int, float, int]:
    # Smaller is better: most trusted, then most recent, then the older record.
    return (member.trust_rank, -member.received_at.timestamp(), member.id)


def choose_attributes(entity_kind: str, members: Iterable[Facts]) -> dict[str, dict[str, Any]]:
    """The attributes of an entity from its current member records, by the rule above."""
    ordered = sorted(members, key=_standing)
    groups: dict[str, dict[str, list[Facts]]] = {}
    for member in ordered:
        described = role(member, entity_kind)
        for name, value in described.items():
            groups.setdefault(name, {}).setdefault(value, []).append(member)
    out: dict[str, dict[str, Any]] = {}
    for name in ENTITY_FIELDS[entity_kind]:
        by_value = groups.get(name)
        if not by_value:
            continue
        ranked = []
        for value, records in by_value.items():
            best = records[0]  # members are in standing order
            valid = not any(name in _invalid_as_entity_field(r, entity_kind) for r in records)
            ranked.append(((0 if valid else 1, best.trust_rank, -best.received_at.timestamp(), -len(records), value),
                           value, sorted(r.id for r in records)))
        ranked.sort(key=lambda item: item[0])
        (_, value, ids), *rest = ranked
        out[name] = {"value": value, "records": ids, "others": [{"value": v, "records": r} for _, v, r in rest]}
    return out


def _invalid_as_entity_field(facts: Facts, entity_kind: str) -> set[str]:
    """The record's invalid fields under the names the entity uses."""
    if not facts.invalid:
        return set()
    mapping = _ROLES.get(facts.kind, {}).get(entity_kind, {})
    return {ours for ours, theirs in mapping.items() if theirs in facts.invalid}
