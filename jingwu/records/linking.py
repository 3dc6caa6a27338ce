"""`jingwu link`: source records → entities, with provenance, relations and a review queue.

**People** are linked by the linkage engine (:mod:`jingwu.records.linkage`, Splink on
DuckDB, or on Spark: ``engine="spark"``).  Each current source record contributes at most one *person mention*: a person
record (household registration, hotel check-in, an imported person) the person itself, a
telecom record its subscriber, a vehicle record its owner, an account its holder, an
organisation its legal representative (see :func:`attributes.role`).

- A *full* run scores every pair the blocking rules bring together, with a model trained
  on the data, then reconciles the clusters with the entities that exist: an existing
  entity is never split by a run (only an analyst splits, through rejected judgements),
  it can only grow or merge.
- An *incremental* run scores only records in no entity yet against the existing
  entities and each other, with the model saved by the last full run.

Analyst judgements are passed to the engine every time: a rejected pair is never merged,
a confirmed pair always is, an unsure pair waits in the review queue.

**Entity ids are stable.**  Each existing entity belongs to the cluster holding most of
its current records (a new version of a record counts for the entity of the version it
replaced).  A cluster holding several existing entities keeps the oldest one (lowest id);
the others point to it with ``merged_into`` and their memberships and relations move to
it.  A cluster holding none becomes a new entity.

**Other entities** are keyed by their normalised identifier, no model needed: a phone by
E.164, a vehicle by plate, an organisation by USCC, an account by number, a place by
county code and address (memberships with method "key").

**Relations** come from each record, with the record as provenance and validity dates
where the record has them: uses_phone (telecom: from activation), owns_vehicle (from
registration), holds_account (from opening), legal_rep (from registration),
registered_at / lives_at (the person's address), stayed_at (check-in to check-out),
household and relative (each member of a registered household to its head).

Writes are in bulk, in one transaction, with one audit entry per run.  One run at a time:
a second refuses while the first holds the lock (:func:`link_lock`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Field, Max, Model, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy

from jingwu.core import access, audit
from jingwu.core.identifiers import validate_resident_id
from jingwu.core.models import Unit, User
from jingwu.core.services import ServiceError
from jingwu.records import linkage, search_documents
from jingwu.records.attributes import Facts, choose_attributes, entity_key, facts_from_row, role
from jingwu.records.models import (
    Entity,
    EntityKind,
    EntityRecord,
    LinkJudgement,
    LinkRun,
    Relation,
    RelationKind,
    ReviewPair,
    Source,
    SourceRecord,
)

__all__ = [
    "KEYED_KINDS",
    "RUN_IN_PROGRESS",
    "Mode",
    "Progress",
    "default_config",
    "engine_table",
    "facts_for",
    "link_lock",
    "link_run",
    "live_judgements",
    "merge_entities",
    "move_memberships",
    "person_entities",
    "refresh_entities",
    "saved_model",
    "sync_relations",
]

# Called with (stage, done, total); total is 0 while unknown.
Progress = Callable[[str, int, int], None]
Mode = Literal["auto", "full", "incremental"]

PERSON: Final = EntityKind.PERSON.value
KEYED_KINDS: Final = ("phone", "vehicle", "organization", "account", "place")
PERSON_PERSON: Final = (RelationKind.HOUSEHOLD_MEMBER.value, RelationKind.RELATIVE.value)
HEAD_OF_HOUSEHOLD: Final = "户主"
# Relations to the head that are kinship, as household registers write them.
KIN: Final = frozenset({"配偶", "夫", "妻", "子", "女", "儿子", "女儿", "长子", "次子", "长女", "次女", "父亲",
                        "母亲", "父母", "孙子", "孙女", "外孙子", "外孙女", "兄", "弟", "姐", "妹", "兄弟姐妹",
                        "祖父", "祖母", "外祖父", "外祖母", "儿媳", "女婿", "公公", "婆婆", "岳父", "岳母"})
CHUNK: Final = 2000  # rows per bulk statement and ids per IN (...) list
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _update(objects: Sequence[Model], fields: Sequence[str]) -> None:
    """UPDATE each object's ``fields`` by primary key in one executemany: Django's
    bulk_update builds a CASE per field and row, seconds for thousands of rows."""
    if not objects:
        return
    model = type(objects[0])
    opts = model._meta
    columns = [f for name in fields if isinstance(f := opts.get_field(name), Field)]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.attname)} = %s" for f in columns)  # attname is the column for these models
    sql = f"UPDATE {quote(opts.db_table)} SET {sets} WHERE id = %s"  # noqa: S608 - names from the model
    rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] + [obj.pk] for obj in objects]
    with connection.cursor() as cursor:
        for chunk in _chunks(rows):
            cursor.executemany(sql, chunk)


_DEFAULTS: Final = linkage.LinkageConfig()


def default_config(**overrides: Any) -> linkage.LinkageConfig:
    """Thresholds from settings (JINGWU_LINK_ACCEPT, JINGWU_LINK_REVIEW_LOW) and the engine
    from the environment (JINGWU_LINK_ENGINE: duckdb or spark; JINGWU_SPARK_MASTER for a
    Spark cluster, else local mode) unless given."""
    values: dict[str, Any] = {
        "accept": getattr(settings, "JINGWU_LINK_ACCEPT", _DEFAULTS.accept),
        "review_low": getattr(settings, "JINGWU_LINK_REVIEW_LOW", _DEFAULTS.review_low),
        "engine": getattr(settings, "JINGWU_LINK_ENGINE", None) or os.environ.get("JINGWU_LINK_ENGINE")
        or _DEFAULTS.engine,
        "spark_master": os.environ.get("JINGWU_SPARK_MASTER") or None,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return linkage.LinkageConfig(**values)
    except ValueError as exc:
        raise ServiceError(str(exc), field="engine" if "engine" in str(exc) else "accept") from exc


# --------------------------------------------------------------------------- reading records

_FACT_COLUMNS: Final = ("id", "source_id", "kind", "source_key", "fields", "payload", "received_at", "unit_id")


def _sources() -> dict[int, tuple[str, int]]:
    return {pk: (key, rank) for pk, key, rank in Source.objects.values_list("pk", "key", "trust_rank")}


def _facts(rows: Iterable[tuple[Any, ...]], sources: Mapping[int, tuple[str, int]], out: dict[int, Facts],
           progress: Progress | None = None, total: int = 0) -> None:
    for n, (pk, source_id, kind, key, fields, payload, received_at, unit_id) in enumerate(rows, 1):
        source, rank = sources[source_id]
        out[pk] = facts_from_row(record_id=pk, source=source, trust_rank=rank, received_at=received_at,
                                 unit_id=unit_id, kind=kind, source_key=key, fields=fields, payload=payload)
        if progress is not None and n % 5000 == 0:
            progress("read", n, total)


def _current() -> QuerySet[SourceRecord]:
    return SourceRecord.objects.filter(superseded_by__isnull=True)


def facts_for(record_ids: Collection[int], into: dict[int, Facts] | None = None) -> dict[int, Facts]:
    """Facts of the given records (those already in ``into`` are not read again)."""
    out = into if into is not None else {}
    wanted = sorted(set(record_ids) - out.keys())
    if not wanted:
        return out
    sources = _sources()
    for chunk in _chunks(wanted):
        _facts(SourceRecord.objects.filter(pk__in=chunk).values_list(*_FACT_COLUMNS), sources, out)
    return out


def person_entities(record_ids: Collection[int] | None = None) -> dict[int, int]:
    """record → its person entity (all current records when ``record_ids`` is None)."""
    qs = EntityRecord.objects.filter(kind=PERSON)
    if record_ids is None:
        return dict(qs.filter(record__superseded_by__isnull=True).values_list("record_id", "entity_id"))
    out: dict[int, int] = {}
    for chunk in _chunks(sorted(set(record_ids))):
        out.update(qs.filter(record_id__in=chunk).values_list("record_id", "entity_id"))
    return out


def live_judgements() -> list[linkage.Judgement]:
    return [linkage.Judgement(str(a), str(b), verdict)  # type: ignore[arg-type]
            for a, b, verdict in LinkJudgement.objects.filter(superseded=False)
            .values_list("record_a_id", "record_b_id", "verdict").order_by("pk")]


def engine_table(facts: Iterable[Facts]) -> pa.Table:
    """The person mentions as the engine's input columns."""
    names = [c for c in linkage.INPUT_COLUMNS if c not in ("unique_id", "source")]
    columns: dict[str, list[str | None]] = {c: [] for c in linkage.INPUT_COLUMNS}
    for f in facts:
        described = role(f, PERSON)
        if not described:
            continue
        columns["unique_id"].append(str(f.id))
        columns["source"].append(f.source)
        for name in names:
            columns[name].append(described.get(name))
    return pa.table({c: pa.array(v, type=pa.string()) for c, v in columns.items()})


# --------------------------------------------------------------------------- model and prepared records


def _linkage_dir() -> Path:
    path = Path(settings.VAR_DIR) / "linkage"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _latest_run_with_model() -> LinkRun | None:
    for run in LinkRun.objects.filter(finished_at__isnull=False).order_by("-pk")[:20]:
        if run.stats.get("model_file") and not run.stats.get("error"):
            return run
    return None


def saved_model() -> linkage.LinkageModel | None:
    """The model of the latest run that saved one, if its file is still there."""
    run = _latest_run_with_model()
    if run is None:
        return None
    path = _linkage_dir() / run.stats["model_file"]
    return linkage.LinkageModel.load(path) if path.exists() else None


def _saved_prepared() -> pa.Table | None:
    run = _latest_run_with_model()
    name = run.stats.get("prepared_file") if run is not None else None
    if not name or run is None or run.stats.get("prepare_version") != linkage.PREPARE_VERSION:
        return None
    path = _linkage_dir() / name
    return pq.read_table(path) if path.exists() else None


# --------------------------------------------------------------------------- clusters → entities


def _reconcile(clusters: Mapping[str, str], prior: Mapping[int, int], id_of: Mapping[str, str | None],
               judgements: Sequence[linkage.Judgement]) -> dict[str, str]:
    """A full run's clusters joined with the existing entities, which stay whole: only a
    rejected judgement (an analyst's split) detaches a member."""
    members: dict[str, list[str]] = defaultdict(list)
    for uid, cluster in clusters.items():
        members[cluster].append(uid)
    edges = [(group[0], other, 1.0) for group in members.values() for other in group[1:]]
    seeds = {str(rid): str(entity) for rid, entity in prior.items() if str(rid) in clusters}
    comps = linkage.constrained_components(list(clusters), edges, accept=1.0, id_of=id_of,
                                           judgements=judgements, seeds=seeds)
    return comps.cluster_of


def _assign(clusters: Mapping[int, str], prior: Mapping[int, int], hints: Mapping[int, int]
            ) -> tuple[dict[str, int | None], dict[int, int]]:
    """Each cluster's entity (None: a new one) and the entities merged away (→ survivor).

    An existing entity belongs to the cluster holding most of its records (ties: the one
    holding its oldest record); a cluster holding several keeps the oldest entity."""
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    oldest: dict[int, tuple[int, str]] = {}
    for rid, cluster in clusters.items():
        entity = prior.get(rid) or hints.get(rid)
        if entity is None:
            continue
        votes[entity][cluster] += 1
        if entity not in oldest or rid < oldest[entity][0]:
            oldest[entity] = (rid, cluster)
    owned: dict[str, list[int]] = defaultdict(list)
    for entity, counter in votes.items():
        top = max(counter.values())
        tied = [c for c, n in counter.items() if n == top]
        owned[tied[0] if len(tied) == 1 else oldest[entity][1] if oldest[entity][1] in tied else min(tied)].append(
            entity)
    label_entity: dict[str, int | None] = dict.fromkeys(set(clusters.values()))
    merged: dict[int, int] = {}
    for cluster, entities in owned.items():
        survivor = min(entities)
        label_entity[cluster] = survivor
        merged.update((e, survivor) for e in entities if e != survivor)
    return label_entity, merged


_METHOD_RANK: Final = {"judgement": 3, "rule": 2, "model": 1}


def _methods(cluster_of: Mapping[int, str], pairs: pa.Table | None, judgements: Sequence[linkage.Judgement],
             accept: float) -> dict[int, tuple[str, float | None]]:
    """How each record is linked to its cluster: the strongest direct evidence it has with
    another member (a confirmed judgement, the same validated ID, the model at or above
    the acceptance threshold), or "single" when alone."""
    best: dict[int, tuple[str, float | None]] = {}

    def offer(rid: int, method: str, probability: float | None) -> None:
        current = best.get(rid)
        if (current is None or _METHOD_RANK[method] > _METHOD_RANK[current[0]]
                or (method == current[0] and (probability or 0.0) > (current[1] or 0.0))):
            best[rid] = (method, probability)

    for j in judgements:
        if j.verdict != "confirmed":
            continue
        a, b = int(j.uid_a), int(j.uid_b)
        if a in cluster_of and cluster_of.get(a) == cluster_of.get(b):
            offer(a, "judgement", 1.0)
            offer(b, "judgement", 1.0)
    if pairs is not None and pairs.num_rows:
        strong = pairs.filter(pc.greater_equal(pairs.column("probability"), accept))
        for left, right, probability, rule in zip(strong.column("unique_id_l").to_pylist(),
                                                  strong.column("unique_id_r").to_pylist(),
                                                  strong.column("probability").to_pylist(),
                                                  strong.column("rule").to_pylist(), strict=True):
            a, b = int(left), int(right)
            if cluster_of.get(a) != cluster_of.get(b) or a not in cluster_of:
                continue
            method = "rule" if rule == "same_id" else "model"
            offer(a, method, float(probability))
            offer(b, method, float(probability))
    sizes = Counter(cluster_of.values())
    for rid, cluster in cluster_of.items():
        if sizes[cluster] == 1:
            best[rid] = ("single", None)
    return best


def _predecessor_entities(record_ids: Collection[int], prior: Mapping[int, int]) -> dict[int, int]:
    """For current records in no person entity: the entity of the version they replaced."""
    successor = dict(SourceRecord.objects.filter(superseded_by__isnull=False)
                     .values_list("pk", "superseded_by_id"))
    if not successor:
        return {}
    predecessors: dict[int, list[int]] = defaultdict(list)
    for old, new in successor.items():
        predecessors[new].append(old)
    old_entities = person_entities(successor.keys())
    out: dict[int, int] = {}
    for rid in record_ids:
        if rid in prior or rid not in predecessors:
            continue
        stack = list(predecessors[rid])
        while stack:
            old = stack.pop()
            if old in old_entities:
                out[rid] = old_entities[old]
                break
            stack.extend(predecessors.get(old, ()))
    return out


# --------------------------------------------------------------------------- writes


def _live(entity_ids: Iterable[int]) -> dict[int, int]:
    """entity → the entity it was finally merged into (itself when live)."""
    ids = set(entity_ids)
    merged = dict(Entity.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into_id")) if ids else {}
    out = {}
    for e in ids:
        seen = e
        while seen in merged:
            seen = merged[seen]
        out[e] = seen
    return out


def _new_entities(kind: str, members: Sequence[Sequence[Facts]], now: dt.datetime,
                  keys: Sequence[str] | None = None) -> list[int]:
    """Create entities, each described by its member records from the start."""
    made = []
    for i, records in enumerate(members):
        entity = Entity(kind=kind, key=keys[i] if keys else "", created_at=now, updated_at=now)
        if records:
            _describe(entity, records)
        made.append(entity)
    return [e.pk for e in Entity.objects.bulk_create(made, batch_size=CHUNK)]


def _insert(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """INSERT rows of ready database values in one executemany (no model instances: a
    first run writes hundreds of thousands of memberships and relations)."""
    quote = connection.ops.quote_name
    target = f"{quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)})"
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {target} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        sql = f"INSERT INTO {target} VALUES ({', '.join('%s' for _ in columns)})"  # noqa: S608 - model names
        for chunk in _chunks(list(rows)):
            cursor.executemany(sql, chunk)
            count += len(chunk)
    return count


def _db_time(value: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def move_memberships(moves: Mapping[int, int], *, kind: str = PERSON, method: str | None = None,
                     now: dt.datetime | None = None) -> None:
    """Put records (record → entity) into entities of ``kind``, updating memberships."""
    now = now or timezone.now()
    by_target: dict[int, list[int]] = defaultdict(list)
    for rid, entity in moves.items():
        by_target[entity].append(rid)
    for entity, rids in by_target.items():
        for chunk in _chunks(sorted(rids)):
            changes: dict[str, Any] = {"entity_id": entity, "linked_at": now}
            if method is not None:
                changes["method"] = method
                changes["probability"] = 1.0 if method == "judgement" else None
            EntityRecord.objects.filter(kind=kind, record_id__in=chunk).update(**changes)


def merge_entities(merged: Mapping[int, int], now: dt.datetime | None = None) -> None:
    """Entities merged away point to their survivor; memberships (also of superseded
    records, the history) and relations follow."""
    now = now or timezone.now()
    by_survivor: dict[int, list[int]] = defaultdict(list)
    for old, survivor in merged.items():
        by_survivor[survivor].append(old)
    for survivor, gone in by_survivor.items():
        for chunk in _chunks(sorted(gone)):
            Entity.objects.filter(pk__in=chunk).update(merged_into_id=survivor, updated_at=now)
            EntityRecord.objects.filter(entity_id__in=chunk).update(entity_id=survivor)
            Relation.objects.filter(subject_id__in=chunk).update(subject_id=survivor)
            Relation.objects.filter(object_id__in=chunk).update(object_id=survivor)
        # A household relation between two records of one merged person is no relation.
        Relation.objects.filter(subject_id=survivor, object_id=survivor).delete()


def _display_name(kind: str, attributes: Mapping[str, Mapping[str, Any]]) -> str:
    def value(name: str) -> str:
        item = attributes.get(name)
        return str(item["value"]) if item else ""

    if kind == "phone":
        phone = value("phone")
        return phone[3:] if phone.startswith("+86") else phone
    if kind == "vehicle":
        return value("plate")
    if kind == "account":
        return " ".join(v for v in (value("bank"), value("account_number")) if v)
    if kind == "place":
        return value("name") or value("address")
    return value("name")


def _describe(entity: Entity, records: Sequence[Facts]) -> bool:
    """Set an entity's attributes, display name, key (a person's: the validated ID number
    shown) and unit (the most trusted record's) from its records; True when any changed."""
    attributes = choose_attributes(entity.kind, records)
    best = min(records, key=lambda f: (f.trust_rank, -f.received_at.timestamp(), f.id))
    name = _display_name(entity.kind, attributes)[:200]
    key = entity.key
    if entity.kind == PERSON:
        id_number = attributes.get("id_number")
        key = id_number["value"] if id_number and validate_resident_id(id_number["value"]).valid else ""
    new = (attributes, name, key, best.unit_id)
    if (entity.attributes, entity.display_name, entity.key, entity.unit_id) == new:
        return False
    entity.attributes, entity.display_name, entity.key, entity.unit_id = new
    return True


def refresh_entities(entity_ids: Collection[int], facts: dict[int, Facts] | None = None,
                     now: dt.datetime | None = None) -> int:
    """Recompute the attributes, display name, key and unit of entities from their current
    member records (attributes.py's rule); returns how many changed."""
    now = now or timezone.now()
    facts = facts if facts is not None else {}
    changed = 0
    for chunk in _chunks(sorted(set(entity_ids))):
        entities = {e.pk: e for e in Entity.objects.filter(pk__in=chunk, merged_into__isnull=True)}
        members: dict[int, list[int]] = defaultdict(list)
        for entity_id, record_id in (EntityRecord.objects.filter(entity_id__in=entities,
                                                                 record__superseded_by__isnull=True)
                                     .values_list("entity_id", "record_id")):
            members[entity_id].append(record_id)
        facts_for([r for rs in members.values() for r in rs], facts)
        dirty = []
        for pk, entity in entities.items():
            records = [facts[r] for r in members.get(pk, ())]
            if records and _describe(entity, records):
                entity.updated_at = now
                dirty.append(entity)
        if dirty:
            _update(dirty, ["attributes", "display_name", "key", "unit", "updated_at"])
            changed += len(dirty)
    return changed


# --------------------------------------------------------------------------- relations

RelationKey = tuple[str, int, int, int]  # kind, subject, object, record


@dataclass(frozen=True, slots=True)
class _RelationValue:
    valid_from: dt.date | None
    valid_to: dt.date | None
    details: dict[str, Any]


def _day(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _household_heads(household_ids: Collection[str]) -> dict[str, tuple[int, bool]]:
    """household → (its head's current record, whether it is marked 户主), found among the
    current person records of the household (else its oldest member record)."""
    found: dict[str, tuple[int, bool]] = {}
    ids = sorted(household_ids)
    for chunk in _chunks(ids, 500):
        rows = (_current().filter(kind=PERSON)
                .filter(Q(payload__household_id__in=chunk) | Q(fields__household_id__in=chunk))
                .annotate(hh=Coalesce(KT("fields__household_id"), KT("payload__household_id")),
                          rel=Coalesce(KT("fields__relation_to_head"), KT("payload__relation_to_head")))
                .values_list("pk", "hh", "rel"))
        for pk, household, relation in rows:
            _offer_head(found, household, pk, relation == HEAD_OF_HOUSEHOLD)
    return found


def _offer_head(found: dict[str, tuple[int, bool]], household: str, rid: int, is_head: bool) -> None:
    current = found.get(household)
    if current is None or (is_head, -rid) > (current[1], -current[0]):
        found[household] = (rid, is_head)


def _desired_relations(records: Iterable[Facts], entity_of: Mapping[tuple[int, str], int],
                       heads: Mapping[str, tuple[int, bool]]) -> dict[RelationKey, _RelationValue]:
    out: dict[RelationKey, _RelationValue] = {}
    for f in records:
        person = entity_of.get((f.id, PERSON))
        if person is None:
            continue
        values = f.fields

        def add(kind: str, other: int | None, valid_from: dt.date | None = None, valid_to: dt.date | None = None,
                details: dict[str, Any] | None = None, *, rid: int = f.id, subject: int = person) -> None:
            if other is not None and other != subject:
                out[(kind, subject, other, rid)] = _RelationValue(valid_from, valid_to, details or {})

        phone = entity_of.get((f.id, "phone"))
        add(RelationKind.USES_PHONE, phone, _day(values.get("activated_at")) if f.kind == "phone" else None)
        add(RelationKind.OWNS_VEHICLE, entity_of.get((f.id, "vehicle")), _day(values.get("registered_at")))
        add(RelationKind.HOLDS_ACCOUNT, entity_of.get((f.id, "account")), _day(values.get("opened_at")))
        add(RelationKind.LEGAL_REPRESENTATIVE, entity_of.get((f.id, "organization")),
            _day(values.get("registered_at")))
        place = entity_of.get((f.id, "place"))
        if place is not None:
            if "hotel_address" in values:
                stay: dict[str, Any] = {k: values[k] for k in ("hotel", "room") if k in values}
                add(RelationKind.STAYED_AT, place, _day(values.get("check_in")), _day(values.get("check_out")),
                    stay)
            elif "household_id" in values:
                add(RelationKind.REGISTERED_AT, place)
            else:
                add(RelationKind.LIVES_AT, place)
        household = values.get("household_id")
        head = heads.get(household) if household else None
        if household and head is not None and head[0] != f.id:
            relation = values.get("relation_to_head", "")
            details: dict[str, Any] = {"household_id": household, "relation": relation, "head_record": head[0]}
            head_entity = entity_of.get((head[0], PERSON))
            add(RelationKind.HOUSEHOLD_MEMBER, head_entity, details=details)
            if relation in KIN:
                add(RelationKind.RELATIVE, head_entity, details=details)
    return out


def sync_relations(record_ids: Collection[int], facts: dict[int, Facts], *,
                   moved: Mapping[int, int] | None = None,
                   heads: Mapping[str, tuple[int, bool]] | None = None) -> dict[str, int]:
    """Make the relations drawn from ``record_ids`` what their facts and current entities
    say (created, updated, deleted).  ``moved`` (record → its previous person entity)
    also brings in the household relations that point at a moved head of household."""
    records = set(record_ids)
    if moved:
        heads_moved = {rid: old for rid, old in moved.items()
                       if rid in facts and facts[rid].fields.get("relation_to_head") == HEAD_OF_HOUSEHOLD}
        for old in set(heads_moved.values()):
            for rid, details in Relation.objects.filter(object_id=old, kind__in=PERSON_PERSON).values_list(
                    "record_id", "details"):
                if details.get("head_record") in heads_moved:
                    records.add(rid)
    facts_for(records, facts)
    facts_of = [facts[r] for r in sorted(records) if r in facts]
    households = {f.fields["household_id"] for f in facts_of if "household_id" in f.fields}
    if heads is None:
        heads = _household_heads(households) if households else {}
    wanted_records = set(records) | {heads[h][0] for h in households if h in heads}
    entity_of: dict[tuple[int, str], int] = {}
    for chunk in _chunks(sorted(wanted_records)):
        for rid, kind, entity in EntityRecord.objects.filter(record_id__in=chunk).values_list(
                "record_id", "kind", "entity_id"):
            entity_of[(rid, kind)] = entity
    desired = _desired_relations(facts_of, entity_of, heads)

    existing: dict[RelationKey, tuple[int, _RelationValue]] = {}
    for chunk in _chunks(sorted(records)):
        for pk, kind, subject, obj, rid, valid_from, valid_to, details in Relation.objects.filter(
                record_id__in=chunk).values_list("pk", "kind", "subject_id", "object_id", "record_id", "valid_from",
                                                 "valid_to", "details"):
            existing[(kind, subject, obj, rid)] = (pk, _RelationValue(valid_from, valid_to, details))
    stale = [pk for key, (pk, _) in existing.items() if key not in desired]
    for chunk in _chunks(stale):
        Relation.objects.filter(pk__in=chunk).delete()
    details = Relation._meta.get_field("details")
    assert isinstance(details, Field)
    day = connection.ops.adapt_datefield_value
    create = [(k, s, o, r, day(v.valid_from), day(v.valid_to), details.get_db_prep_save(v.details, connection))
              for (k, s, o, r), v in desired.items() if (k, s, o, r) not in existing]
    _insert(Relation, ("kind", "subject_id", "object_id", "record_id", "valid_from", "valid_to", "details"), create)
    update = []
    for key, value in desired.items():
        if key in existing and existing[key][1] != value:
            update.append(Relation(pk=existing[key][0], valid_from=value.valid_from, valid_to=value.valid_to,
                                   details=value.details))
    if update:
        _update(update, ["valid_from", "valid_to", "details"])
    return {"created": len(create), "deleted": len(stale), "updated": len(update)}


# --------------------------------------------------------------------------- the run


def _unit_paths() -> tuple[dict[int, str], dict[str, int]]:
    paths = dict(Unit.objects.values_list("pk", "path"))
    return paths, {p: pk for pk, p in paths.items()}


def _common_unit(a: int | None, b: int | None, paths: Mapping[int, str], by_path: Mapping[str, int]) -> int | None:
    """The lowest unit above both (a pair is judged by someone whose jurisdiction holds both)."""
    if a is None or b is None:
        return a if b is None else b
    pa_, pb = paths[a].split("/"), paths[b].split("/")
    common = []
    for x, y in zip(pa_, pb, strict=False):
        if x != y or not x:
            break
        common.append(x)
    return by_path.get("/".join(common) + "/") if common else None


def _write_review_pairs(run: LinkRun, queue: Sequence[linkage.ReviewPair], unit_of: Mapping[int, int | None],
                        *, full: bool) -> dict[str, int]:
    paths, by_path = _unit_paths()
    wanted: dict[tuple[int, int], linkage.ReviewPair] = {}
    for pair in queue:
        a, b = sorted((int(pair.uid_a), int(pair.uid_b)))
        wanted[(a, b)] = pair
    open_pairs = {(a, b): pk for pk, a, b in ReviewPair.objects.filter(status=ReviewPair.Status.OPEN)
                  .values_list("pk", "record_a_id", "record_b_id")}
    judged = set(LinkJudgement.objects.filter(superseded=False, verdict__in=("confirmed", "rejected"))
                 .values_list("record_a_id", "record_b_id"))
    in_pairs = {r for key in open_pairs for r in key}
    entity_of = person_entities(in_pairs)
    current: set[int] = set()
    for chunk in _chunks(sorted(in_pairs)):
        current.update(_current().filter(pk__in=chunk).values_list("pk", flat=True))
    obsolete = []
    for key, pk in open_pairs.items():
        if key in wanted:
            continue
        a, b = key
        settled = (key in judged or a not in current or b not in current
                   or (entity_of.get(a) is not None and entity_of.get(a) == entity_of.get(b)))
        if full or settled:
            obsolete.append(pk)
    for chunk in _chunks(obsolete):
        ReviewPair.objects.filter(pk__in=chunk).update(status=ReviewPair.Status.OBSOLETE)

    missing_units = {r for key in wanted for r in key if r not in unit_of}
    units = dict(unit_of)
    for chunk in _chunks(sorted(missing_units)):
        units.update(SourceRecord.objects.filter(pk__in=chunk).values_list("pk", "unit_id"))
    create, update = [], []
    for (a, b), pair in wanted.items():
        explanation = {"reason": pair.reason, "model_probability": pair.model_probability, "levels": pair.explanation}
        probability = pair.probability if pair.probability is not None else 0.0
        if (a, b) in open_pairs:
            update.append(ReviewPair(pk=open_pairs[(a, b)], probability=probability, explanation=explanation,
                                     run=run))
        else:
            create.append(ReviewPair(record_a_id=a, record_b_id=b, probability=probability, explanation=explanation,
                                     run=run, unit_id=_common_unit(units.get(a), units.get(b), paths, by_path)))
    ReviewPair.objects.bulk_create(create, batch_size=CHUNK)
    if update:
        _update(update, ["probability", "explanation", "run"])
    return {"review_pairs_new": len(create), "review_pairs_kept": len(update), "review_pairs_obsolete": len(obsolete)}


def _write_people(clusters: Mapping[int, str], prior: Mapping[int, int], hints: Mapping[int, int],
                  methods: Mapping[int, tuple[str, float | None]], facts: dict[int, Facts], *, full: bool,
                  now: dt.datetime) -> tuple[dict[int, int], dict[int, int], set[int], dict[str, int]]:
    """Person memberships for the clustered records.  Returns (record → entity, record →
    previous entity for records that moved, entities to describe again, counts)."""
    label_entity, merged = _assign(clusters, prior, hints)
    new_labels = sorted(label for label, entity in label_entity.items() if entity is None)
    wanted = set(new_labels)
    members: dict[str, list[int]] = defaultdict(list)
    for rid, label in clusters.items():
        if label in wanted:
            members[label].append(rid)
    facts_for([r for rs in members.values() for r in rs], facts)
    fresh = _new_entities(PERSON, [[facts[r] for r in members[label]] for label in new_labels], now)
    for label, pk in zip(new_labels, fresh, strict=True):
        label_entity[label] = pk
    merge_entities(merged, now)
    target: dict[int, int] = {}
    for rid, label in clusters.items():
        entity = label_entity[label]
        assert entity is not None
        target[rid] = entity

    existing = {}
    for chunk in _chunks(sorted(clusters)):
        for pk, rid, entity, method, probability in EntityRecord.objects.filter(
                kind=PERSON, record_id__in=chunk).values_list("pk", "record_id", "entity_id", "method",
                                                              "probability"):
            existing[rid] = (pk, merged.get(entity, entity), method, probability)
    create: list[tuple[int, int, str, str, float | None, Any]] = []
    update = []
    moved: dict[int, int] = {}
    touched: set[int] = set(merged.values())
    linked_at = _db_time(now)
    for rid, entity in target.items():
        method, probability = methods.get(rid, ("model", None))
        row = existing.get(rid)
        if row is None:
            create.append((entity, rid, PERSON, method, probability, linked_at))
            touched.add(entity)
            continue
        pk, old_entity, old_method, old_probability = row
        if old_entity != entity:
            moved[rid] = old_entity
            touched.update((old_entity, entity))
        elif rid not in methods or not full:
            continue  # unchanged membership keeps its method from the run that made it
        if (old_entity, old_method, old_probability) != (entity, method, probability):
            update.append(EntityRecord(pk=pk, entity_id=entity, method=method, probability=probability,
                                       linked_at=now))
    # Records moved by a merge moved with their entity (already re-pointed above).
    moved.update({rid: prior[rid] for rid in clusters if prior.get(rid) in merged})
    _insert(EntityRecord, _MEMBERSHIP_COLUMNS, create)
    if update:
        _update(update, ["entity", "method", "probability", "linked_at"])
    counts = {"entities_created": len(new_labels), "entities_merged": len(merged),
              "memberships_created": len(create), "memberships_updated": len(update)}
    return target, moved, touched - set(fresh), counts


_MEMBERSHIP_COLUMNS: Final = ("entity_id", "record_id", "kind", "method", "probability", "linked_at")


def _write_keyed(facts: Mapping[int, Facts], now: dt.datetime) -> tuple[set[int], dict[str, int]]:
    """Non-person entities keyed by identifier, and the records' memberships in them.
    Returns the existing entities to describe again, and counts."""
    wanted: dict[tuple[int, str], str] = {}
    for f in facts.values():
        for kind in KEYED_KINDS:
            described = role(f, kind)
            if described:
                key = entity_key(kind, described, f.invalid)
                if key:
                    wanted[(f.id, kind)] = key
    by_kind: dict[str, set[str]] = defaultdict(set)
    holders: dict[tuple[str, str], list[Facts]] = defaultdict(list)
    for (rid, kind), key in wanted.items():
        by_kind[kind].add(key)
        holders[(kind, key)].append(facts[rid])
    fresh: set[int] = set()
    entity_of_key: dict[tuple[str, str], int] = {}
    created = 0
    for kind, keys in by_kind.items():
        for chunk in _chunks(sorted(keys)):
            for pk, key in (Entity.objects.filter(kind=kind, key__in=chunk, merged_into__isnull=True)
                            .order_by("pk").values_list("pk", "key")):
                entity_of_key.setdefault((kind, key), pk)
        missing = sorted(k for k in keys if (kind, k) not in entity_of_key)
        made = _new_entities(kind, [holders[(kind, key)] for key in missing], now, missing)
        fresh.update(made)
        for key, pk in zip(missing, made, strict=True):
            entity_of_key[(kind, key)] = pk
        created += len(missing)
    existing: dict[tuple[int, str], tuple[int, int]] = {}
    rids = sorted({rid for rid, _ in wanted})
    for id_chunk in _chunks(rids):
        rows = EntityRecord.objects.filter(record_id__in=id_chunk, kind__in=KEYED_KINDS)
        for pk, rid, kind, entity in rows.values_list("pk", "record_id", "kind", "entity_id"):
            existing[(rid, kind)] = (pk, entity)
    create: list[tuple[int, int, str, str, None, Any]] = []
    update = []
    touched: set[int] = set()
    linked_at = _db_time(now)
    for (rid, kind), key in wanted.items():
        entity = entity_of_key[(kind, key)]
        row = existing.get((rid, kind))
        if row is None:
            create.append((entity, rid, kind, "key", None, linked_at))
            touched.add(entity)
        elif row[1] != entity:
            update.append(EntityRecord(pk=row[0], entity_id=entity, linked_at=now))
            touched.update((entity, row[1]))
    _insert(EntityRecord, _MEMBERSHIP_COLUMNS, create)
    if update:
        _update(update, ["entity", "linked_at"])
    return touched - fresh, {"keyed_entities_created": created, "keyed_memberships_created": len(create)}


@dataclass
class _Linked:
    """What the engine said, in record ids."""

    clusters: dict[int, str]
    methods: dict[int, tuple[str, float | None]]
    queue: list[linkage.ReviewPair]
    prepared: pa.Table | None
    model: linkage.LinkageModel | None
    engine_stats: dict[str, Any]


def _link_full(facts: Mapping[int, Facts], prior: Mapping[int, int], judgements: Sequence[linkage.Judgement],
               config: linkage.LinkageConfig) -> _Linked:
    table = engine_table(facts.values())
    if table.num_rows == 0:
        return _Linked({}, {}, [], None, None, {})
    result = linkage.link(table, judgements=judgements, config=config)
    clusters = result.clusters
    if prior:
        id_of = dict(zip(result.records.column("unique_id").to_pylist(),  # type: ignore[union-attr]
                         result.records.column("id18").to_pylist(), strict=True))  # type: ignore[union-attr]
        clusters = _reconcile(clusters, prior, id_of, judgements)
    by_record = {int(uid): cluster for uid, cluster in clusters.items()}
    methods = _methods(by_record, result.pairs, judgements, config.accept)
    return _Linked(by_record, methods, result.review_pairs, result.records, result.model, result.stats)


def _link_incremental(new_facts: Mapping[int, Facts], prior: Mapping[int, int],
                      judgements: Sequence[linkage.Judgement], config: linkage.LinkageConfig,
                      model: linkage.LinkageModel) -> _Linked:
    fresh = engine_table(new_facts.values())
    if fresh.num_rows == 0:
        return _Linked({}, {}, [], None, model, {})
    if not prior:  # nothing linked yet to compare with: the new records among themselves
        result = linkage.link(fresh, model=model, judgements=judgements, config=config)
        by_record = {int(uid): cluster for uid, cluster in result.clusters.items()}
        return _Linked(by_record, _methods(by_record, result.pairs, judgements, config.accept), result.review_pairs,
                       result.records, model, result.stats)
    members = pa.array([str(r) for r in prior], type=pa.string())
    cached = _saved_prepared()
    parts = []
    if cached is not None:
        parts.append(cached.filter(pc.is_in(cached.column("unique_id"), value_set=members))
                     .select(list(linkage.PREPARED_COLUMNS)))
    have = set(parts[0].column("unique_id").to_pylist()) if parts else set()
    missing = [r for r in prior if str(r) not in have]
    if missing:
        parts.append(linkage.prepare(engine_table(facts_for(missing).values())).select(
            list(linkage.PREPARED_COLUMNS)))
    existing = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    existing = existing.append_column("cluster_id", pa.array(
        [str(prior[int(u)]) for u in existing.column("unique_id").to_pylist()], type=pa.string()))
    result = linkage.link_incremental(existing, fresh, model=model, judgements=judgements, config=config)
    by_record = {int(uid): cluster for uid, cluster in result.clusters.items()}
    methods = _methods(by_record, result.pairs, judgements, config.accept)
    prepared = pa.concat_tables([existing.select(list(linkage.PREPARED_COLUMNS)),
                                 result.records.select(list(linkage.PREPARED_COLUMNS))])  # type: ignore[union-attr]
    return _Linked(by_record, methods, result.review_pairs, prepared, model, result.stats)


def _save_files(linked: _Linked, previous: LinkRun | None, *, trained: bool) -> dict[str, Any]:
    """Model and prepared records, under names only this run's stats know (a database
    rebuilt in the same var directory can never pick up another database's files)."""
    if linked.model is None:
        return {}
    directory = _linkage_dir()
    token = uuid.uuid4().hex[:12]
    stats: dict[str, Any] = {}
    if not trained and previous is not None and previous.stats.get("model_file"):
        stats["model_file"] = previous.stats["model_file"]
    else:
        stats["model_file"] = f"model-{token}.json"
        linked.model.save(directory / stats["model_file"])
    if linked.prepared is not None:
        stats["prepared_file"] = f"prepared-{token}.parquet"
        stats["prepare_version"] = linkage.PREPARE_VERSION
        pq.write_table(linked.prepared, directory / stats["prepared_file"])
    elif previous is not None and previous.stats.get("prepared_file"):
        stats["prepared_file"] = previous.stats["prepared_file"]
        stats["prepare_version"] = previous.stats.get("prepare_version")
    return stats


def _remove_files(stats: Mapping[str, Any], keep: Mapping[str, Any]) -> None:
    directory = _linkage_dir()
    for name in ("model_file", "prepared_file"):
        value = stats.get(name)
        if value and value != keep.get(name):
            (directory / value).unlink(missing_ok=True)


def _last_judgement() -> int:
    """Every judgement and split adds a judgement row: the newest id says whether any came."""
    return LinkJudgement.objects.aggregate(last=Max("pk"))["last"] or 0


class _Stages:
    """Progress reports and the seconds each stage took (kept in the run's stats)."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self._name = ""
        self._since = time.perf_counter()

    def __call__(self, name: str, done: int = 0, total: int = 0) -> None:
        if name != self._name:
            now = time.perf_counter()
            if self._name:
                self.seconds[self._name] = round(self.seconds.get(self._name, 0.0) + now - self._since, 3)
            self._name, self._since = name, now
        if self.progress is not None:
            self.progress(name, done, total)

    def finish(self) -> dict[str, float]:
        self("done")
        return self.seconds


# Any bigint of our own: the advisory lock that one link run holds on PostgreSQL.
LINK_LOCK_KEY: Final = 0x6A696E67776C6E6B  # "jingwlnk"


RUN_IN_PROGRESS: Final = gettext_lazy("另一个关联运行（jingwu link）正在进行；请等它结束后再试。")


def _lock_file() -> Path:
    """One lock file per database (the var directory can serve several)."""
    name = str(connection.settings_dict["NAME"])
    return _linkage_dir() / f"link-{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"


@contextmanager
def link_lock() -> Iterator[None]:
    """Held for a whole link run: a second run refuses while one is under way, rather than
    both writing entities.  PostgreSQL: a session advisory lock; SQLite: flock on a file in
    the var directory.  Either is released by the server or the kernel when the holder
    dies, so a crashed run never leaves a stale lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LINK_LOCK_KEY])
            held = bool(cursor.fetchone()[0])
        if not held:
            raise ServiceError(str(RUN_IN_PROGRESS), field="run")
        try:
            yield
        finally:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [LINK_LOCK_KEY])
            except DatabaseError:
                pass  # the connection is gone, and the lock with it
        return
    with _lock_file().open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServiceError(str(RUN_IN_PROGRESS), field="run") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def link_run(*, actor: User | None, mode: Mode = "auto", config: linkage.LinkageConfig | None = None,
             progress: Progress | None = None) -> LinkRun:
    """Link current source records into entities (see the module docstring).

    ``mode="auto"`` links incrementally when a model is saved and people are linked
    already, else in full.  One run at a time (:func:`link_lock`)."""
    if actor is not None:
        access.check(actor, access.Action.RECORDS_IMPORT, object_type="link_run")
    if mode not in ("auto", "full", "incremental"):
        raise ServiceError(f"unknown mode {mode!r}", field="mode")
    config = config or default_config()
    with link_lock():
        return _link_run(actor, mode, config, progress)


def _link_run(actor: User | None, mode: Mode, config: linkage.LinkageConfig, progress: Progress | None) -> LinkRun:
    started = time.perf_counter()
    stage = _Stages(progress)
    previous = _latest_run_with_model()
    model = saved_model()
    if mode == "incremental" and model is None:
        raise ServiceError("no saved model yet: run a full link first", field="mode")
    has_people = EntityRecord.objects.filter(kind=PERSON).exists()
    full = mode == "full" or (mode == "auto" and (model is None or not has_people))
    run = LinkRun.objects.create(mode=LinkRun.Mode.FULL if full else LinkRun.Mode.INCREMENTAL, started_by=actor)
    stats: dict[str, Any] = {"accept": config.accept, "review_low": config.review_low, "backend": config.engine}
    files: dict[str, Any] = {}
    try:
        stage("read")
        facts: dict[int, Facts] = {}
        prior = person_entities()
        live = _live(set(prior.values()))
        prior = {rid: live[e] for rid, e in prior.items()}
        if full:
            total = _current().count()
            _facts(_current().values_list(*_FACT_COLUMNS).iterator(chunk_size=5000), _sources(), facts, stage, total)
            scope = sorted(facts)
        else:
            scope = sorted(_current().filter(memberships__isnull=True).values_list("pk", flat=True))
            facts_for(scope, facts)
        stats["records_read"] = len(facts)
        judgements = live_judgements()
        last_judgement = _last_judgement()
        stage("link")
        scope_facts = {rid: facts[rid] for rid in scope}
        if full:
            linked = _link_full(scope_facts, prior, judgements, config)
        else:
            assert model is not None
            linked = _link_incremental(scope_facts, prior, judgements, config, model)
        stats["engine"] = {k: v for k, v in linked.engine_stats.items() if isinstance(v, int | float | str)}
        stats["person_mentions"] = sum(1 for r in linked.clusters if r in scope_facts)
        hints = _predecessor_entities(linked.clusters, prior) if prior else {}
        files = _save_files(linked, previous, trained=full)
        stage("people")
        now = timezone.now()
        with transaction.atomic():
            if _last_judgement() != last_judgement:
                # An analyst judged or split meanwhile: writing this run's clusters could undo it.
                raise ServiceError("an analyst judgement was recorded during the run; run it again")
            _target, moved, touched, counts = _write_people(linked.clusters, prior, hints, linked.methods, facts,
                                                            full=full, now=now)
            stats.update(counts)
            stage("keyed")
            keyed_touched, keyed_counts = _write_keyed(scope_facts, now)
            stats.update(keyed_counts)
            stage("relations")
            # A replaced version's relations are the new version's to give now.
            Relation.objects.filter(record__superseded_by__isnull=False).delete()
            if full:
                heads: dict[str, tuple[int, bool]] = {}
                for f in facts.values():
                    household = f.fields.get("household_id")
                    if household and f.kind == PERSON:
                        _offer_head(heads, household, f.id, f.fields.get("relation_to_head") == HEAD_OF_HOUSEHOLD)
                stats["relations"] = sync_relations(scope, facts, heads=heads)
            else:
                stats["relations"] = sync_relations(set(scope) | set(moved), facts, moved=moved)
            stage("attributes")
            if full:  # everything described again: a full run also heals what changed outside runs
                touched = set(Entity.objects.filter(merged_into__isnull=True, created_at__lt=now)
                              .values_list("pk", flat=True))
            stats["entities_refreshed"] = refresh_entities(touched | keyed_touched, facts, now)
            search_documents.index_entities(touched | keyed_touched, since=now)  # jingwu.search, after commit
            stage("review")
            unit_of = {rid: f.unit_id for rid, f in facts.items()}
            stats.update(_write_review_pairs(run, linked.queue, unit_of, full=full))
            stats.update(files)
            stats["records_moved"] = len(moved)
            stats["person_entities"] = Entity.objects.filter(kind=PERSON, merged_into__isnull=True).count()
            stats["stage_seconds"] = stage.finish()
            stats["seconds"] = round(time.perf_counter() - started, 2)
            run.stats = stats
            run.finished_at = timezone.now()
            run.save(update_fields=["stats", "finished_at"])
            audit.record(actor=actor, action="records.link", object_type="link_run", object_id=run.pk,
                         details={k: v for k, v in stats.items() if k not in ("engine", "relations", "stage_seconds")})
    except Exception as exc:
        if files:
            _remove_files(files, previous.stats if previous is not None else {})
        run.stats = {**stats, "error": f"{type(exc).__name__}: {exc}"[:1000]}
        run.finished_at = timezone.now()
        run.save(update_fields=["stats", "finished_at"])
        if isinstance(exc, linkage.LinkageError):
            raise ServiceError(str(exc)) from exc
        raise
    if previous is not None:
        _remove_files(previous.stats, files)
    return run
