"""FollowTheMoney interop: our records as FtM entities and FtM entity streams as rows.

FtM (the data model of Aleph, OpenSanctions and their tools) has a home for most of our
fields: a person's ``idNumber``, a vehicle's ``registrationNumber``, a bank account's
``accountNumber``.  What it has no property for — a household number, a VIN, the ID
number of a vehicle's owner — travels in a ``jingwu`` block beside ``properties``
(FtM keeps unknown top-level keys of an entity dict as context), together with the
source and the source's own key, so an export read back gives the same rows.

An entity stream from elsewhere needs no mapping file: the schema says the kind
(Person → person, Vehicle → vehicle, UserAccount → phone, Organization and its
descendants → organization, BankAccount → account, Address → place), properties give
our fields, and the entity id is the source key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as MappingABC
from typing import Any, Final

from followthemoney import model
from followthemoney.exc import InvalidData
from followthemoney.proxy import EntityProxy
from followthemoney.schema import Schema

from jingwu.records.mapping import VOCABULARY, Kind, is_kind
from jingwu.records.readers import RawRow

__all__ = [
    "CONTEXT_KEY",
    "ID_COLUMN",
    "PROPERTIES",
    "entity_id",
    "entity_line",
    "ftm_numbered_lines_to_rows",
    "ftm_to_rows",
    "kind_of_schema",
    "party_entity",
    "party_id",
    "records_to_ftm",
]

# The entity dict key holding what FtM has no property for.
CONTEXT_KEY: Final = "jingwu"
# The column that carries the source key in rows read from FtM (Mapping.identity's key).
ID_COLUMN: Final = "id"

# Our field -> FtM property, per kind.  Sex and the organisation schema are special-cased.
PROPERTIES: Final[dict[Kind, dict[str, str]]] = {
    "person": {
        "name": "name",
        "former_name": "previousName",
        "id_number": "idNumber",
        "birth_date": "birthDate",
        "sex": "gender",
        "phone": "phone",
        "address": "address",
    },
    # 品牌型号 in Chinese registries is the brand-and-model text FtM calls "model".
    "vehicle": {"plate": "registrationNumber", "brand": "model", "registered_at": "registrationDate"},
    # A phone subscription is an account at a carrier, its username the number itself.
    "phone": {"phone": "phone", "carrier": "service"},
    "organization": {
        "name": "name",
        "uscc": "registrationNumber",
        "address": "address",
        "registered_at": "incorporationDate",
    },
    "account": {"account_number": "accountNumber", "bank": "bankName", "opened_at": "openingDate"},
    "place": {"address": "full", "name": "name", "lon": "longitude", "lat": "latitude"},
}

_SCHEMA_FOR_KIND: Final[dict[Kind, str]] = {
    "person": "Person",
    "vehicle": "Vehicle",
    "phone": "UserAccount",
    "organization": "Organization",
    "account": "BankAccount",
    "place": "Address",
}
# The first character of a USCC names the registering authority (GB 32100-2015):
# 9 market regulation (companies), 1 government establishment bodies (public bodies).
_USCC_SCHEMA: Final = {"9": "Company", "1": "PublicBody"}

# The field naming the related person whose entity the record points to, per kind.
_PARTY_REFERENCE: Final[dict[Kind, tuple[str, str]]] = {
    "vehicle": ("owner_id_number", "owner"),
    "phone": ("subscriber_id_number", "owner"),
}
_PARTY_NAME_FIELD: Final = {"owner_id_number": "owner_name", "subscriber_id_number": "subscriber_name"}

_GENDER_TO_FTM: Final = {"M": "male", "F": "female"}
# FtM's third gender value has no counterpart in our M/F field; it reads as unknown.
_GENDER_FROM_FTM: Final[dict[str, str | None]] = {"male": "M", "female": "F", "other": None}
_COUNTRY_SCHEMATA: Final = frozenset({"Person", "Organization", "Company", "PublicBody", "Address", "Vehicle"})


def entity_id(source: str, source_key: str) -> str:
    """The FtM id of a record: SHA-1 of source and key, so re-exports keep their ids."""
    return hashlib.sha1(f"jingwu\x1f{source}\x1f{source_key}".encode(), usedforsecurity=False).hexdigest()


def party_id(id_number: str) -> str:
    """The FtM id of the person behind a resident ID number, the same from every source,
    so a vehicle and a phone of one owner point at one entity."""
    return hashlib.sha1(f"jingwu-party\x1f{id_number}".encode(), usedforsecurity=False).hexdigest()


def records_to_ftm(kind: str, source_key: str, fields: MappingABC[str, str | None], *, source: str) -> dict[str, Any]:
    """One normalised record as an FtM entity dict (``proxy.to_dict()`` shape plus the
    ``jingwu`` block).  Raises ValueError for an unknown kind or a value FtM rejects."""
    if not is_kind(kind):
        raise ValueError(f"unknown kind {kind!r}")
    schema = _SCHEMA_FOR_KIND[kind]
    uscc = fields.get("uscc") if kind == "organization" else None
    if uscc:
        schema = _USCC_SCHEMA.get(uscc[0], schema)
    proxy = model.make_entity(schema)
    proxy.id = entity_id(source, source_key)
    properties = PROPERTIES[kind]
    extra: dict[str, str] = {}
    for field, value in fields.items():
        if value is None:
            continue
        prop = properties.get(field)
        if prop is None:
            if field not in VOCABULARY[kind]:
                raise ValueError(f"{field!r} is not a {kind} field")
            extra[field] = value
            continue
        ftm_value = _GENDER_TO_FTM.get(value, value) if field == "sex" else value
        proxy.add(prop, ftm_value)
        if ftm_value not in proxy.get(prop):
            raise ValueError(f"FtM rejected {field} = {value!r} for {schema}.{prop}")
    if kind == "phone" and fields.get("phone"):
        proxy.add("username", fields["phone"])
    if kind == "organization" and uscc:
        proxy.add("uscCode", uscc)
    if kind in _PARTY_REFERENCE:
        id_field, prop = _PARTY_REFERENCE[kind]
        holder = fields.get(id_field)
        if holder:
            proxy.add(prop, party_id(holder))
    if schema in _COUNTRY_SCHEMATA:
        proxy.add("country", "cn")
    entity = proxy.to_dict()
    entity[CONTEXT_KEY] = {"source": source, "kind": kind, "key": source_key, "fields": extra}
    return entity


def party_entity(id_number: str, name: str | None = None) -> dict[str, Any]:
    """The Person that a vehicle's or phone's ``owner`` points to, for exporters that want
    the graph to hang together in Aleph.  Marked as a party, so reading the stream back
    skips it: its facts are already fields of the records that point to it."""
    proxy = model.make_entity("Person")
    proxy.id = party_id(id_number)
    proxy.add("idNumber", id_number)
    proxy.add("name", name or id_number)
    proxy.add("country", "cn")
    entity = proxy.to_dict()
    entity[CONTEXT_KEY] = {"role": "party"}
    return entity


def entity_line(entity: MappingABC[str, Any]) -> str:
    """One line of an FtM entity stream (JSON, keys sorted, UTF-8 text kept readable)."""
    return json.dumps(entity, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


# --------------------------------------------------------------------------- reading


def kind_of_schema(schema: Schema) -> Kind | None:
    """Which of our kinds an FtM schema holds, or None for schemata we do not import."""
    if schema.is_a("Person"):
        return "person"
    if schema.is_a("Organization"):
        return "organization"
    if schema.is_a("Vehicle"):
        return "vehicle"
    if schema.is_a("BankAccount"):
        return "account"
    if schema.is_a("UserAccount"):
        return "phone"
    if schema.is_a("Address"):
        return "place"
    if schema.name == "LegalEntity":
        return "organization"
    return None


_IMPORTED_SCHEMATA: Final = (
    "Person, Organization (Company, PublicBody), LegalEntity, Vehicle, BankAccount, UserAccount, Address"
)


def ftm_to_rows(lines: Iterable[str | bytes]) -> Iterator[RawRow]:
    """Rows from an FtM entity stream (one JSON entity per line), numbered by line."""
    return ftm_numbered_lines_to_rows(
        (number, line.decode("utf-8", "replace") if isinstance(line, bytes) else line, None)
        for number, line in enumerate(lines, 1)
        if line.strip()
    )


def ftm_numbered_lines_to_rows(lines: Iterable[tuple[int, str, str | None]]) -> Iterator[RawRow]:
    """Rows from (line number, text, decoding problem) triples; readers.py feeds it files."""
    for number, text, problem in lines:
        row = _entity_row(number, text, problem)
        if row is not None:
            yield row


def _entity_row(number: int, text: str, problem: str | None) -> RawRow | None:
    try:
        data = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return _problem_row(number, {}, f"not valid JSON: {exc.msg} at column {exc.colno}", problem)
    if not isinstance(data, dict):
        reason = f"an FtM entity must be a JSON object, this line holds a {type(data).__name__}"
        return _problem_row(number, {}, reason, problem)
    context = data.get(CONTEXT_KEY)
    context = context if isinstance(context, dict) else {}
    if context.get("role") == "party":
        return None
    try:
        proxy = model.get_proxy(data, cleaned=False)
    except InvalidData as exc:
        return _problem_row(number, {}, f"not an FtM entity: {exc}", problem)
    except (TypeError, ValueError, AttributeError) as exc:
        return _problem_row(number, {}, f"not an FtM entity: {exc}", problem)
    kind = kind_of_schema(proxy.schema)
    fields = _entity_fields(proxy, kind, context)
    if kind is None:
        reason = f"schema {proxy.schema.name} is not a record jingwu imports ({_IMPORTED_SCHEMATA})"
        return _problem_row(number, fields, reason, problem)
    if not fields.get(ID_COLUMN):
        return _problem_row(number, fields, "the entity has no id", problem)
    return RawRow(number, fields, problem, kind)


def _problem_row(number: int, fields: dict[str, str | None], reason: str, problem: str | None) -> RawRow:
    return RawRow(number, fields, f"{problem}; {reason}" if problem else reason)


def _entity_fields(proxy: EntityProxy, kind: Kind | None, context: MappingABC[str, Any]) -> dict[str, str | None]:
    key = context.get("key")
    fields: dict[str, str | None] = {ID_COLUMN: key if isinstance(key, str) and key else proxy.id}
    if kind is None:
        return fields
    for field, prop in PROPERTIES[kind].items():
        fields[field] = _first(proxy, prop)
    if kind == "person" and fields["sex"] is not None:
        fields["sex"] = _GENDER_FROM_FTM.get(fields["sex"], fields["sex"])
    elif kind == "phone" and fields["phone"] is None:
        fields["phone"] = _first(proxy, "username")
    elif kind == "organization":
        fields["uscc"] = _first(proxy, "uscCode") or fields["uscc"]
    extra = context.get("fields")
    if isinstance(extra, dict):
        vocabulary = VOCABULARY[kind]
        for field, value in extra.items():
            if field in vocabulary and fields.get(field) is None and isinstance(value, str):
                fields[field] = value
    return fields


def _first(proxy: EntityProxy, prop: str) -> str | None:
    # An FtM property holds a list; our field holds one value, the first.
    return proxy.first(prop, quiet=True)
