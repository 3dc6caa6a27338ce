"""The data centre's searchable documents: one per live entity (jingwu.search).

A person's document holds every name, ID number, phone, birth date and address its
current records give (the values its attributes choose from), the identifiers of the
phones, vehicles, accounts and organisations those records also describe (so a plate
finds its owner), and the rest of each record's text (a hotel stay, a car's brand and
colour), one value per record.  ID numbers are never put in the text: a result shows
text, and ID numbers are shown masked.  Other entities hold their own attributes (a
place may have thousands of records; its attributes already say what it is).

Documents are built in bulk, a batch of entities with three queries.
:func:`index_entities` is how the linker and the analysts' services send changed
entities to the index, after their transaction commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Final

import orjson
from django.db import connection
from django.db.models import Case, JSONField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from jingwu.core.access import Action
from jingwu.records.attributes import ID_NUMBER_FIELDS, Facts, role
from jingwu.records.models import Entity, EntityKind, EntityRecord, Source
from jingwu.search import registry
from jingwu.search import services as search_services

__all__ = ["ENTITY", "build_entities", "index_entities"]

ENTITY: Final = "records.entity"
PERSON: Final = EntityKind.PERSON.value
BATCH: Final = 2000

_NAME_FIELDS: Final = ("name", "former_name")
_IDENTIFIER_FIELDS: Final = {"id_number": "resident_id", "phone": "phone", "plate": "plate", "uscc": "uscc",
                             "account_number": "account"}
# Identifiers of the other entities a person's record describes (its phone, its car …):
# the person's document carries them, so a plate finds its owner.
_RELATED: Final = (("phone", "phone", "phone"), ("vehicle", "plate", "plate"),
                   ("account", "account_number", "account"), ("organization", "uscc", "uscc"))
# Not text anyone searches for, or kept out of the text shown in results (identifiers
# are looked up exactly; ID numbers are shown masked, never in text).
_NOT_TEXT: Final = frozenset({"sex", "division_code", "household_id", "lon", "lat", "birth_date", "check_in",
                              "check_out", "phone", "owner_phone", "plate", "account_number", "uscc", "name",
                              "former_name", "address", "subscriber_name", "owner_name", "holder_name",
                              "legal_rep_name"}) | ID_NUMBER_FIELDS
_NOT_OWN_TEXT: Final = _NOT_TEXT | {"vin"}
_EPOCH: Final = dt.datetime.fromtimestamp(0, tz=dt.UTC)
# Ids spread over at most this many times their number are read as a range and picked
# in Python: Django prepares every value of an IN list one by one, which cost more than
# the rows a rebuild's consecutive ids leave out.
_RANGE_SPREAD: Final = 2


# An ID number under a field name we do not know (a source's own vocabulary): masked in text.
_ID_LIKE: Final = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[0-9Xx]|\d{15})(?![0-9A-Za-z])")


def _masked_ids(text: str) -> str:
    return _ID_LIKE.sub(lambda m: m.group()[:4] + "*" * (len(m.group()) - 8) + m.group()[-4:], text)


def _is_text(name: str) -> bool:
    return name not in _NOT_TEXT and not name.endswith("_at")


def _strings(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else str(v) for k, v in values.items()
            if v not in (None, "") and not isinstance(v, dict | list)}


@dataclass
class _Person:
    names: list[str] = field(default_factory=list)
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    births: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Reading:
    """How to read a person's record of one shape (kind and fields present)."""

    values: tuple[tuple[str, str, str], ...]  # (what, identifier kind, record field)
    text: tuple[str, ...]  # the fields that are text, in key order


# Each record's shape (kind and field names in stored order) → its reading: a tuple of
# the names is cheaper to look up than a frozenset is to build.
_READINGS: dict[tuple[str, ...], _Reading] = {}


@functools.lru_cache(maxsize=1024)
def _reading(kind: str, present: frozenset[str]) -> _Reading:
    """Asked once per shape of record, from records.attributes.role() with each field
    standing for its own name."""
    facts = Facts(0, "", 0, _EPOCH, None, kind, {name: name for name in present})
    own = role(facts, PERSON)
    out = [("name", "", own[f]) for f in _NAME_FIELDS if f in own]
    out.extend(("address", "", own[f]) for f in ("address",) if f in own)
    out.extend(("birth", "", own[f]) for f in ("birth_date",) if f in own)
    out.extend(("identifier", ident, own[f]) for f, ident in (("id_number", "resident_id"), ("phone", "phone"))
               if f in own)
    for other_kind, fname, ident in _RELATED:
        theirs = role(facts, other_kind).get(fname)
        if theirs:
            out.append(("identifier", ident, theirs))
    # Key order: PostgreSQL's jsonb keeps none, and the text must read the same everywhere.
    return _Reading(tuple(out), tuple(sorted(k for k in present if _is_text(k))))


def _people(ids: Sequence[int]) -> dict[int, _Person]:
    """What each person's current records say, read once: the person's own fields as
    attributes would choose from (every value), the identifiers of what else the records
    describe, and each record's remaining text.  Reading the records is cheaper than
    reading the attributes cache, which repeats every value with its record ids."""
    out: dict[int, _Person] = defaultdict(_Person)
    if not ids:
        return out
    sources = dict(Source.objects.values_list("pk", "name"))
    among, wanted = _among("entity_id", ids)
    rows = _raw(EntityRecord.objects.filter(among, kind=PERSON, record__superseded_by__isnull=True)
                .annotate(values=Coalesce("record__fields", "record__payload", output_field=JSONField()))
                .order_by("record_id").values_list("entity_id", "record__kind", "record__source_id", "values"))
    readings = _READINGS
    for entity_id, kind, source_id, values in rows:
        if wanted is not None and entity_id not in wanted:
            continue
        fields = _json(values)
        present = fields.values()
        if "" in present or not all(map(isinstance, present, repeat(str))):
            fields = _strings(fields)
        p = out[entity_id]
        shape = (kind, *fields)
        reading = readings.get(shape)
        if reading is None:
            if len(readings) >= 4096:
                readings.clear()
            reading = readings[shape] = _reading(kind, frozenset(fields))
        for target, ident, theirs in reading.values:
            value = fields[theirs]
            if target == "name":
                p.names.append(value)
            elif target == "address":
                p.addresses.append(value)
            elif target == "birth":
                p.births.append(value)
            else:
                p.identifiers.append((ident, value))
        if reading.text:
            text = " ".join([fields[k] for k in reading.text])
            p.text.append(f"{sources.get(source_id, '')}：{_masked_ids(text)}")
    return out


def _among(fname: str, ids: Sequence[int]) -> tuple[Q, set[int] | None]:
    """A filter for ``fname`` in ``ids`` and, when it is a range wider than the ids, the
    set the rows must still be picked from."""
    low, high = min(ids), max(ids)
    if high - low + 1 > _RANGE_SPREAD * len(ids):
        return Q(**{f"{fname}__in": ids}), None
    wanted = set(ids)
    return Q(**{f"{fname}__gte": low, f"{fname}__lte": high}), (None if len(wanted) == high - low + 1 else wanted)


def _raw(qs: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """Rows as the database driver gives them, JSON as text: Django's per-value converters
    would cost more than building the documents."""
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, str | bytes):
        return dict(value)
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:  # an integer wider than 64 bits: the standard parser takes it
        return json.loads(value)


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)  # stored in UTC


@functools.lru_cache(maxsize=4096)
def _keyed_field(kind: str, fname: str) -> str:
    """What an attribute of a keyed entity feeds: name, identifier, address, text or nothing."""
    if fname in _NAME_FIELDS:
        return "name" if kind != EntityKind.VEHICLE else ""
    if fname in _IDENTIFIER_FIELDS:
        return "identifier"
    if fname == "address":
        return "address"
    return "text" if fname not in _NOT_OWN_TEXT and not fname.endswith("_at") else ""


def _keyed(pk: int, kind: str, attributes: Mapping[str, Any], title: str, unit_path: str,
           date: dt.datetime | None) -> registry.SearchDocument:
    """A phone's, vehicle's, account's, organisation's or place's document, from its attributes."""
    names: list[str] = []
    identifiers: list[tuple[str, str]] = []
    addresses: list[str] = []
    text: list[str] = []
    for fname in sorted(attributes):  # jsonb keeps no key order
        use = _keyed_field(kind, fname)
        if not use:
            continue
        item = attributes[fname]
        others = item.get("others")
        values = [str(item["value"]), *(str(o["value"]) for o in others)] if others else [str(item["value"])]
        if use == "name":
            names.extend(values)
        elif use == "identifier":
            identifiers.extend((_IDENTIFIER_FIELDS[fname], v) for v in values)
        elif use == "address":
            addresses.extend(values)
        else:
            text.extend(values)
    return registry.SearchDocument(ENTITY, pk, kind, title, unit_path, date, (pk,), names, identifiers, addresses,
                                   [" ".join(text)] if text else [], (),
                                   [title] if kind == EntityKind.VEHICLE else [])


def _distinct(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values)) if len(values) > 1 else values


def build_entities(ids: Sequence[int]) -> list[registry.SearchDocument]:
    """Documents of the live entities among ``ids``: three queries a batch."""
    if not ids:
        return []
    among, wanted = _among("pk", ids)
    rows = _raw(Entity.objects.filter(among, merged_into__isnull=True)
                .annotate(attrs=Case(When(kind=PERSON, then=Value(None, output_field=JSONField())),
                                     default="attributes", output_field=JSONField()))
                .order_by("pk").values_list("pk", "kind", "display_name", "attrs", "unit__path", "updated_at"))
    if wanted is not None:
        rows = [row for row in rows if row[0] in wanted]
    people = _people([pk for pk, kind, *_ in rows if kind == PERSON])
    labels = dict(EntityKind.choices)
    docs = []
    # Entities changed together share one time: one datetime object for them all.
    last_stamp: Any = None
    date: dt.datetime | None = None
    for pk, kind, display_name, attributes, unit_path, updated_at in rows:
        title = display_name or f"{labels.get(kind, kind)} #{pk}"
        if updated_at != last_stamp or date is None:
            last_stamp, date = updated_at, _aware(updated_at)
        if kind != PERSON:
            docs.append(_keyed(pk, kind, _json(attributes), title, unit_path or "", date))
            continue
        p = people.get(pk) or _Person()
        docs.append(registry.SearchDocument(ENTITY, pk, kind, title, unit_path or "", date, (pk,),
                                            _distinct(p.names), _distinct(p.identifiers), _distinct(p.addresses),
                                            p.text, _distinct(p.births)))
    return docs


def _all_ids() -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(Entity.objects.filter(merged_into__isnull=True, pk__gt=last).order_by("pk")
                   .values_list("pk", flat=True)[:BATCH])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _count() -> int:
    return Entity.objects.filter(merged_into__isnull=True).count()


def _url(pk: int) -> str:
    return reverse("records:entity", kwargs={"pk": pk})


registry.register(registry.DocumentType(
    name=ENTITY, label=_("实体"), kinds=dict(EntityKind.choices), read_action=Action.PERSON_READ,
    build=build_entities, all_ids=_all_ids, count=_count, url=_url, batch_size=BATCH))


def index_entities(entity_ids: Iterable[int], *, since: dt.datetime | None = None) -> None:
    """Send these entities to the search index when the transaction commits; with
    ``since``, also every entity created or changed from then on (a link run's)."""
    ids = set(entity_ids)
    if since is not None:
        ids.update(Entity.objects.filter(Q(created_at__gte=since) | Q(updated_at__gte=since))
                   .values_list("pk", flat=True))
    search_services.index_later(ENTITY, ids)
