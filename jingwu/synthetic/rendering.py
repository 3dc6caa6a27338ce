"""Generated people → database rows and ground-truth lines.

This runs in the worker processes of a seed run, so it imports no Django: it is given
the database ids it needs (sources, batches, grid units) and the form the writer wants
(parameter tuples for SQLite's executemany, COPY text for PostgreSQL).

A record's content hash is the one `jingwu import` computes, rows.content_hash over the
normalised fields, so a seeded record exported and imported again is unchanged. The
fields come from :func:`seeded_fields`, which knows the generator writes clean values
and only puts them in canonical form (full validation costs twice the generation);
every CHECK_EVERY-th record is normalised by rows.normalize_row as well, and a
difference stops the run.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from jingwu.core.identifiers import compute_id_check_char
from jingwu.records.mapping import VOCABULARY, FieldType, Mapping
from jingwu.records.readers import RawRow
from jingwu.records.rows import GoodRow, content_hash, normalize_row
from jingwu.synthetic.people import SOURCE_KINDS, PeopleGenerator, Person, WireHouseholds, households_from_wire
from jingwu.synthetic.province import ProvinceLayout, province_layout

RowForm = Literal["rows", "copy", "none"]
# The columns a writer fills, in this order.
RECORD_COLUMNS: Final = ("source_id", "source_key", "kind", "payload", "content_hash", "batch_id", "unit_id",
                         "received_at")
# Level 1: the file is written once per run and read as a stream; speed beats size.
GROUND_TRUTH_GZIP_LEVEL: Final = 1

_CANONICAL_JSON: Final = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
# A JSON string literal, non-ASCII kept (the C encoder json.dumps itself uses).
_quote: Final = json.encoder.encode_basestring


def canonical_json(payload: dict[str, Any]) -> str:
    return _CANONICAL_JSON.encode(payload)


# --- normalised fields -------------------------------------------------------------------

# One record in this many is also normalised the slow, authoritative way.
CHECK_EVERY: Final = 101
_SEX: Final = {"男": "M", "女": "F"}


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _resident_id(text: str) -> str:
    if len(text) == 15:  # the generator's legacy IDs: born in the 1900s
        body = text[:6] + "19" + text[6:]
        return body + compute_id_check_char(body)
    return text


def _phone(text: str) -> str:
    digits = "".join(ch for ch in text if ch.isdigit())
    return "+" + digits if len(digits) == 13 else "+86" + digits


_CANONICAL_FORM: Final[dict[FieldType, Any]] = {
    "text": _collapse, "name": _collapse, "sex": _SEX.__getitem__, "resident_id": _resident_id, "phone": _phone,
}
# Per kind: field name -> how its value is put in canonical form (None: as it is).
_FORMS: Final[dict[str, dict[str, Any]]] = {
    kind: {name: _CANONICAL_FORM.get(field_type) for name, field_type in vocabulary.items()}
    for kind, vocabulary in VOCABULARY.items()
}
_NOT_OURS: Final = object()


def seeded_fields(kind: str, payload: dict[str, Any]) -> dict[str, str]:
    """The normalised fields of a generated record: what rows.normalize_row makes of it
    (with the identity mapping), for the values the generator writes."""
    forms = _FORMS[kind]
    fields: dict[str, str] = {}
    for name, value in payload.items():
        form = forms.get(name, _NOT_OURS)
        if form is _NOT_OURS or value is None:
            continue
        fields[name] = form(value) if form is not None else value
    if kind == "person" and "sex" not in fields and "id_number" in fields:
        fields["sex"] = "M" if int(fields["id_number"][16]) % 2 else "F"
    return fields


class SeededFieldsDiffer(RuntimeError):
    """seeded_fields and rows.normalize_row disagree: the generator or the import changed."""


def check_seeded_fields(source: str, key: str, kind: str, payload: dict[str, Any], fields: dict[str, str]) -> None:
    cells = {name: value if value is None or isinstance(value, str) else str(value) for name, value in payload.items()}
    cells["id"] = key
    result = normalize_row(RawRow(0, cells), Mapping.identity(kind))
    expected = ({name: value for name, value in result.fields.items() if value is not None}
                if isinstance(result, GoodRow) else result.issues)
    if expected != fields:
        raise SeededFieldsDiffer(f"{source} record {key}: the import normalises it to {expected!r}, "
                                 f"the seed to {fields!r}")


@dataclass(frozen=True)
class StoreTargets:
    """What a row needs from the database, resolved once per run."""

    source_ids: dict[str, int]
    batch_ids: dict[str, int]
    grid_unit_ids: tuple[int, ...]  # by ProvinceLayout.grids index
    received_at: str  # already in the database's text form
    form: RowForm


@dataclass(frozen=True, slots=True)
class BlockTask:
    """One block to render: people [ground_truth_from, stop) go to the ground truth,
    people [store_from, stop) also to the database."""

    block: int
    households: WireHouseholds  # people.households_to_wire of the registry's block
    ground_truth_from: int
    store_from: int
    stop: int


@dataclass(slots=True)
class RenderedChunk:
    first_block: int
    stop: int  # people below this number are done once the chunk is written
    stored_people: int = 0
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    copy_data: bytes = b""
    ground_truth: bytes = b""  # one gzip member
    counts: Counter[str] = field(default_factory=Counter)


def ground_truth_record(person: Person, layout: ProvinceLayout) -> dict[str, Any]:
    """The true attributes of a person and the source records that are theirs (tuples
    become JSON arrays)."""
    town = layout.townships[person.township]
    return {
        "person": person.number,
        "name": person.name,
        "sex": person.sex,
        "birth_date": person.birth_iso,
        "id_number": person.id_number,
        "household_id": person.household_id,
        "relation": person.relation,
        "address": person.address,
        "division_code": town.code,
        "county_code": town.county_code,
        "city_code": town.city_code,
        "grid": layout.grids[person.grid].code,
        "location": person.location,
        "phones": person.phones,
        "plates": person.plates,
        "accounts": person.accounts,
        "organisations": person.organisations,
        "records": [(r.source, r.key, r.noise) for r in person.records],
    }


def _json_strings(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ",".join([_quote(v) for v in values]) + "]"


def ground_truth_line(person: Person, layout: ProvinceLayout) -> str:
    """ground_truth_record as one JSON line, written out directly: encoding the dict was
    a tenth of the generation time. Every string goes through the JSON string encoder."""
    town = layout.townships[person.township]
    records = ",".join([f"[{_quote(r.source)},{_quote(r.key)},{_json_strings(r.noise)}]" for r in person.records])
    return (
        f'{{"person":{person.number},"name":{_quote(person.name)},"sex":{_quote(person.sex)},'
        f'"birth_date":{_quote(person.birth_iso)},"id_number":{_quote(person.id_number)},'
        f'"household_id":{_quote(person.household_id)},"relation":{_quote(person.relation)},'
        f'"address":{_quote(person.address)},"division_code":{_quote(town.code)},'
        f'"county_code":{_quote(town.county_code)},"city_code":{_quote(town.city_code)},'
        f'"grid":{_quote(layout.grids[person.grid].code)},'
        f'"location":[{person.location[0]!r},{person.location[1]!r}],'
        f'"phones":{_json_strings(person.phones)},"plates":{_json_strings(person.plates)},'
        f'"accounts":{_json_strings(person.accounts)},"organisations":{_json_strings(person.organisations)},'
        f'"records":[{records}]}}'
    )


def _source_and_key(row: tuple[Any, ...]) -> tuple[int, str]:
    return row[0], row[1]


def _copy_escape(text: str) -> str:
    # COPY text format: backslash starts an escape; JSON output never holds raw tabs or newlines.
    return text.replace("\\", "\\\\") if "\\" in text else text


class ChunkRenderer:
    def __init__(self, seed: int, cities: int, targets: StoreTargets) -> None:
        self.layout = province_layout(cities)
        self.generator = PeopleGenerator(seed, cities, self.layout)
        self.targets = targets
        # (source id, kind, batch id) per source key, looked up once per record.
        self._source_columns = {key: (targets.source_ids[key], SOURCE_KINDS[key], targets.batch_ids.get(key, 0))
                                for key in targets.source_ids}

    def render(self, tasks: list[BlockTask]) -> RenderedChunk:
        targets = self.targets
        chunk = RenderedChunk(first_block=tasks[0].block, stop=tasks[-1].stop)
        lines: list[str] = []
        rows: list[tuple[Any, ...]] = []
        encode, units, received = _CANONICAL_JSON.encode, targets.grid_unit_ids, targets.received_at
        stored = 0
        for task in tasks:
            people = self.generator.block(task.block, households_from_wire(task.households))
            for person in people:
                if person.number < task.ground_truth_from or person.number >= task.stop:
                    continue
                lines.append(ground_truth_line(person, self.layout))
                if person.number < task.store_from or targets.form == "none":
                    continue
                chunk.stored_people += 1
                for record in person.records:
                    source_id, kind, batch_id = self._source_columns[record.source]
                    fields = seeded_fields(kind, record.payload)
                    if stored % CHECK_EVERY == 0:
                        check_seeded_fields(record.source, record.key, kind, record.payload, fields)
                    stored += 1
                    rows.append((source_id, record.key, kind, encode(record.payload), content_hash(fields),
                                 batch_id, units[record.grid], received))
                    chunk.counts[record.source] += 1
        # Key order, not person order: neighbouring rows (and database ids) then say
        # nothing about who is who, and each index is appended to rather than split.
        rows.sort(key=_source_and_key)
        if targets.form == "rows":
            chunk.rows = rows
        elif rows:
            chunk.copy_data = "".join(
                "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n" % (  # noqa: UP031 - the fastest way here
                    r[0], r[1], r[2], _copy_escape(r[3]), r[4], r[5], r[6], r[7]) for r in rows).encode("utf-8")
        if lines:
            lines.append("")
            chunk.ground_truth = gzip.compress("\n".join(lines).encode("utf-8"), compresslevel=GROUND_TRUTH_GZIP_LEVEL,
                                               mtime=0)
        return chunk


# --- worker-process entry points (multiprocessing needs module-level functions) ----------

_worker: ChunkRenderer | None = None


def worker_init(seed: int, cities: int, targets: StoreTargets) -> None:
    global _worker
    _worker = ChunkRenderer(seed, cities, targets)


def worker_render(tasks: list[BlockTask]) -> RenderedChunk:
    assert _worker is not None, "worker_init did not run"
    return _worker.render(tasks)
