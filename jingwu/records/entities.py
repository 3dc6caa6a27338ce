"""Reads of entities: the profile (with the first page of its timeline, see
jingwu.core.timeline and records/timeline.py), further timeline pages, its graph
neighbourhood and the review queue.

Every read of an entity goes through :func:`jingwu.core.purpose.person_read`: the actor
must hold ``person.read`` over the entity's unit, a purpose must be stated, and the read
is audited with it.  That holds for phones, vehicles, accounts, organisations and places
too, not only people: their pages name the people they are linked to.  Entities linked
to it outside the actor's jurisdiction are shown with neither their name nor their id.  ID numbers are
masked (``3701**********1234``) unless the actor's role needs them in full.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from jingwu.core import access, purpose, timeline
from jingwu.core.models import Unit, User
from jingwu.records.attributes import ENTITY_FIELDS, ID_NUMBER_FIELDS, Facts, facts_from_row, role
from jingwu.records.models import (
    Entity,
    EntityKind,
    EntityRecord,
    LinkJudgement,
    Relation,
    RelationKind,
    ReviewPair,
    SourceRecord,
    Verdict,
)

__all__ = [
    "FIELD_LABELS",
    "TIMELINE_PAGE",
    "EntityProfile",
    "Graph",
    "ReviewItem",
    "entity_get",
    "entity_neighbours",
    "entity_resolve",
    "entity_timeline",
    "key_shown",
    "mask_id_number",
    "review_items",
    "review_queue",
    "split_candidates",
]

PERSON: Final = EntityKind.PERSON.value
RELATIONS_SHOWN: Final = 200  # per direction on the profile; the graph pages through the rest
RECORDS_SHOWN: Final = 200
GRAPH_CAP_MAX: Final = 200
GRAPH_PAGE_MAX: Final = 1_000_000  # keeps OFFSET within what every database takes
TIMELINE_PAGE: Final = 20
ALIASES_MAX: Final = 1_000  # ids merged into an entity that its timeline asks other modules about
MERGE_DEPTH: Final = 4  # merged into an entity that was merged in turn …

FIELD_LABELS: Final[dict[str, Any]] = {
    "name": _("名称/姓名"), "former_name": _("曾用名"), "id_number": _("身份证号"), "birth_date": _("出生日期"),
    "sex": _("性别"), "phone": _("电话"), "address": _("地址"), "division_code": _("行政区划代码"),
    "household_id": _("户号"), "relation_to_head": _("与户主关系"), "carrier": _("运营商"),
    "activated_at": _("入网日期"), "plate": _("号牌号码"), "vin": _("车辆识别代号"), "vehicle_type": _("车辆类型"),
    "brand": _("品牌"), "color": _("车身颜色"), "registered_at": _("登记日期"), "uscc": _("统一社会信用代码"),
    "industry": _("行业"), "account_number": _("账号"), "bank": _("开户行"), "branch": _("开户网点"),
    "opened_at": _("开户日期"), "place_type": _("场所类型"), "lon": _("经度"), "lat": _("纬度"),
    "owner_id_number": _("所有人身份证号"), "owner_name": _("所有人"), "owner_phone": _("所有人电话"),
    "subscriber_id_number": _("机主身份证号"), "subscriber_name": _("机主姓名"),
    "holder_id_number": _("开户人身份证号"), "holder_name": _("开户人"),
    "legal_rep_id_number": _("法定代表人身份证号"), "legal_rep_name": _("法定代表人"),
    "hotel": _("旅馆"), "hotel_address": _("旅馆地址"), "room": _("房间"), "check_in": _("入住时间"),
    "check_out": _("退房日期"),
}
SEX_LABELS: Final[dict[str, Any]] = {"M": _("男"), "F": _("女")}
_PHONE_FIELDS: Final = frozenset({"phone", "owner_phone"})


def mask_id_number(value: str) -> str:
    """The first four and last four characters of an ID number, the rest starred."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


# An 18- or 15-character resident ID standing alone in text.
_ID_SHAPED: Final = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[0-9Xx]|\d{15})(?![0-9A-Za-z])")


def key_shown(source_key: str, masked: bool) -> str:
    """A source record's key as shown: a source keyed by ID number (the default for person
    files without an ``id`` column) would otherwise show it in full."""
    return _ID_SHAPED.sub(lambda m: mask_id_number(m.group()), source_key) if masked else source_key


def _shown(name: str, value: str, masked: bool) -> str:
    if name in ID_NUMBER_FIELDS and masked:
        return mask_id_number(value)
    if name == "sex":
        return str(SEX_LABELS.get(value, value))
    if name in _PHONE_FIELDS and value.startswith("+86"):
        return value[3:]  # mainland numbers as people write them
    return value


# --------------------------------------------------------------------------- access


def read_roots(actor: User) -> list[str]:
    """Unit paths under which the actor may read people's data."""
    return access.jurisdictions(actor, access.Action.PERSON_READ)


def within(unit: Unit | None, roots: Sequence[str]) -> bool:
    """Whether an entity of ``unit`` lies in the jurisdiction ``roots``.  An entity without
    a unit belongs to no county: only a province-wide role sees it."""
    if unit is None:
        return any(root.count("/") == 1 for root in roots)
    return any(unit.path.startswith(root) for root in roots)


def _read(actor: User, entity: Entity, details: dict[str, Any]) -> None:
    if entity.unit is None and not within(None, read_roots(actor)):
        access.deny(actor, access.Action.PERSON_READ, None, object_type="entity", object_id=entity.pk)
    purpose.person_read(actor, object_type="entity", object_id=entity.pk, unit=entity.unit,
                        details={"kind": entity.kind, **details})


def entity_resolve(entity_id: int) -> int | None:
    """The live entity an id now stands for (merged entities point to their survivor);
    None when there is no such entity.  Ids only, so no audit."""
    if not 0 < entity_id < 2**63:  # no such id in any database (SQLite would overflow)
        return None
    seen: set[int] = set()
    current = entity_id
    while current not in seen:
        seen.add(current)
        row = Entity.objects.filter(pk=current).values_list("pk", "merged_into_id").first()
        if row is None:
            return None
        if row[1] is None:
            return current
        current = row[1]
    return None


# --------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class SourceRef:
    record_id: int
    source: str


@dataclass(frozen=True)
class ValueRow:
    value: str
    sources: list[SourceRef]


@dataclass(frozen=True)
class AttributeRow:
    field: str
    label: str
    value: str
    sources: list[SourceRef]
    others: list[ValueRow]


@dataclass(frozen=True)
class FieldRow:
    field: str
    label: str
    value: str


@dataclass(frozen=True)
class RecordRow:
    id: int
    source: str
    source_name: str
    source_key: str
    kind: str
    received_at: dt.datetime
    unit_name: str
    method: str
    method_label: str
    probability: float | None
    linked_at: dt.datetime
    current: bool
    replaced_by: int | None
    fields: list[FieldRow]
    payload: dict[str, Any] | None  # as received; only when ID numbers are not masked


@dataclass(frozen=True)
class RelationRow:
    id: int
    kind: str
    label: str
    direction: str  # "out": this entity is the subject; "in": the object
    other_id: int | None  # None when the other entity is outside the actor's jurisdiction
    other_kind: str
    other_name: str
    other_visible: bool
    record_id: int
    source_name: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    details: dict[str, Any]


@dataclass
class EntityProfile:
    id: int
    kind: str
    kind_label: str
    display_name: str
    key: str
    unit_name: str
    masked: bool
    attributes: list[AttributeRow]
    records: list[RecordRow]
    records_total: int  # memberships of the entity's kind, current and replaced
    relations: list[RelationRow]
    relations_total: int
    timeline: timeline.Page | None  # None when not asked for
    updated_at: dt.datetime
    purpose: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _facts(record: SourceRecord) -> Facts:
    return facts_from_row(record_id=record.pk, source=record.source.key, trust_rank=record.source.trust_rank,
                          received_at=record.received_at, unit_id=record.unit_id, kind=record.kind,
                          source_key=record.source_key, fields=record.fields, payload=record.payload)


def _record_fields(facts: Facts, masked: bool) -> list[FieldRow]:
    return [FieldRow(name, str(FIELD_LABELS.get(name, name)), _shown(name, value, masked))
            for name, value in facts.fields.items()]


def _relation_rows(relations: QuerySet[Relation], direction: str, roots: Sequence[str]) -> list[RelationRow]:
    rows = []
    labels = dict(RelationKind.choices)
    for rel in relations:
        other = rel.object if direction == "out" else rel.subject
        visible = within(other.unit, roots)
        rows.append(RelationRow(
            id=rel.pk, kind=rel.kind, label=str(labels.get(rel.kind, rel.kind)), direction=direction,
            other_id=other.pk if visible else None, other_kind=other.kind,
            other_name=(other.display_name or str(other.pk)) if visible else str(_("辖区外")),
            other_visible=visible, record_id=rel.record_id, source_name=rel.record.source.name,
            valid_from=rel.valid_from, valid_to=rel.valid_to,
            details={k: v for k, v in rel.details.items() if k != "head_record"}))
    return rows


def _aliases(entity_id: int) -> list[int]:
    """The entity's id, then the ids merged into it, also through entities merged in turn
    (to ``MERGE_DEPTH`` steps, in one query)."""
    chain = Q(merged_into_id=entity_id)
    step = "merged_into"
    for _depth in range(1, MERGE_DEPTH):
        step += "__merged_into"
        chain |= Q(**{step: entity_id})
    return [entity_id, *Entity.objects.filter(chain).order_by("pk").values_list("pk", flat=True)[:ALIASES_MAX]]


def entity_get(actor: User, entity_id: int, *, with_timeline: bool = True) -> EntityProfile:
    """An entity's profile: attributes with their sources and other values, member
    records (with older versions), relations both ways, and the first page of its
    timeline.  One audited read.  Raises Entity.DoesNotExist, PermissionDenied, or
    PurposeRequired when no purpose is stated."""
    entity = Entity.objects.select_related("unit").get(pk=entity_id)
    _read(actor, entity, {"view": "profile"})
    masked = access.masks_id_numbers(actor, entity.unit)
    roots = read_roots(actor)

    # A hotel's place may hold thousands of check-ins: the most recent records are shown.
    membership_qs = EntityRecord.objects.filter(entity=entity)
    memberships = list(membership_qs.select_related("record__source", "record__unit")
                       .order_by("-record__received_at", "-record_id")[:RECORDS_SHOWN])
    records_total = len(memberships) if len(memberships) < RECORDS_SHOWN else membership_qs.count()
    memberships.reverse()
    member_ids = [m.record_id for m in memberships]
    older = list(SourceRecord.objects.filter(superseded_by_id__in=member_ids).exclude(pk__in=member_ids)
                 .select_related("source", "unit")) if member_ids else []
    methods = dict(EntityRecord.Method.choices)
    by_kind = [m for m in memberships if m.kind == entity.kind]
    records: list[RecordRow] = []
    facts: dict[int, Facts] = {}
    for m in by_kind:
        r = m.record
        f = facts[r.pk] = _facts(r)
        records.append(RecordRow(
            id=r.pk, source=r.source.key, source_name=r.source.name, source_key=key_shown(r.source_key, masked),
            kind=r.kind,
            received_at=r.received_at, unit_name=r.unit.name if r.unit else "", method=m.method,
            method_label=str(methods.get(m.method, m.method)), probability=m.probability, linked_at=m.linked_at,
            current=r.superseded_by_id is None, replaced_by=r.superseded_by_id,
            fields=_record_fields(f, masked), payload=None if masked else r.payload))
    for r in older:
        records.append(RecordRow(
            id=r.pk, source=r.source.key, source_name=r.source.name, source_key=key_shown(r.source_key, masked),
            kind=r.kind,
            received_at=r.received_at, unit_name=r.unit.name if r.unit else "", method="", method_label="",
            probability=None, linked_at=r.received_at, current=False, replaced_by=r.superseded_by_id,
            fields=_record_fields(_facts(r), masked), payload=None if masked else r.payload))
    source_of = {r.id: r.source_name for r in records}

    attributes = []
    for name in ENTITY_FIELDS.get(entity.kind, ()):
        item = entity.attributes.get(name)
        if not item:
            continue
        attributes.append(AttributeRow(
            field=name, label=str(FIELD_LABELS.get(name, name)), value=_shown(name, str(item["value"]), masked),
            sources=[SourceRef(r, source_of.get(r, "")) for r in item["records"]],
            others=[ValueRow(_shown(name, str(o["value"]), masked), [SourceRef(r, source_of.get(r, ""))
                                                                     for r in o["records"]])
                    for o in item.get("others", [])]))

    out_qs = (Relation.objects.filter(subject=entity).select_related("object__unit", "record__source")
              .order_by("kind", "valid_from", "pk"))
    in_qs = (Relation.objects.filter(object=entity).select_related("subject__unit", "record__source")
             .order_by("kind", "valid_from", "pk"))
    relations = _relation_rows(out_qs[:RELATIONS_SHOWN], "out", roots) + _relation_rows(
        in_qs[:RELATIONS_SHOWN], "in", roots)
    total = len(relations)
    if total >= RELATIONS_SHOWN:
        total = out_qs.count() + in_qs.count()

    events = timeline.events(actor, _aliases(entity.pk), limit=TIMELINE_PAGE) if with_timeline else None

    key = entity.key
    if entity.kind == PERSON and key and masked:
        key = mask_id_number(key)
    return EntityProfile(
        id=entity.pk, kind=entity.kind, kind_label=str(EntityKind(entity.kind).label),
        display_name=entity.display_name, key=key, unit_name=entity.unit.name if entity.unit else "",
        masked=masked, attributes=attributes, records=records, records_total=records_total, relations=relations,
        relations_total=total, timeline=events, updated_at=entity.updated_at)


def entity_timeline(actor: User, entity_id: int, *, offset: int = 0, limit: int = TIMELINE_PAGE) -> timeline.Page:
    """A further page of the entity's timeline: a read of its own, audited with the purpose."""
    entity = Entity.objects.select_related("unit").get(pk=entity_id)
    _read(actor, entity, {"view": "timeline", "offset": offset})
    return timeline.events(actor, _aliases(entity.pk), offset=offset, limit=limit)


# --------------------------------------------------------------------------- the graph


@dataclass
class Graph:
    """One ring around an entity, a page at a time, for ECharts.  A neighbour outside the
    actor's jurisdiction is never returned: its place holds an anonymous node ("x" and the
    relation's id) with no name and no entity id."""

    centre: int
    nodes: list[dict[str, Any]]
    links: list[dict[str, Any]]
    page: int
    cap: int
    count: int  # relations on this page
    total: int  # relations of the centre, both directions
    has_more: bool


def entity_neighbours(actor: User, entity_id: int, *, page: int = 0, cap: int = 50) -> Graph:
    """The entity's relations (both directions) ordered by kind, ``cap`` per page, as
    nodes and links; several relations to one neighbour make one link."""
    page, cap = min(max(page, 0), GRAPH_PAGE_MAX), min(max(cap, 1), GRAPH_CAP_MAX)
    entity = Entity.objects.select_related("unit").get(pk=entity_id)
    _read(actor, entity, {"view": "graph", "page": page})
    roots = read_roots(actor)
    qs = (Relation.objects.filter(Q(subject=entity) | Q(object=entity))
          .select_related("subject__unit", "object__unit").order_by("kind", "pk"))
    rows = list(qs[page * cap: page * cap + cap + 1])
    has_more = len(rows) > cap
    rows = rows[:cap]
    total = qs.count() if has_more or page else len(rows)
    labels = dict(RelationKind.choices)

    def node(e: Entity, rel: Relation | None = None) -> dict[str, Any]:
        if rel is None or within(e.unit, roots):
            return {"id": str(e.pk), "name": e.display_name or str(e.pk), "kind": e.kind, "category": e.kind,
                    "visible": True, "centre": rel is None}
        return {"id": f"x{rel.pk}", "name": str(_("辖区外")), "kind": e.kind, "category": e.kind, "visible": False,
                "centre": False}

    centre = str(entity.pk)
    nodes: dict[int, dict[str, Any]] = {entity.pk: node(entity)}
    links: dict[tuple[str, str], dict[str, Any]] = {}
    for rel in rows:
        outgoing = rel.subject_id == entity.pk
        other = rel.object if outgoing else rel.subject
        other_id = nodes.setdefault(other.pk, node(other, rel))["id"]
        key = (centre, other_id) if outgoing else (other_id, centre)
        link = links.setdefault(key, {"source": key[0], "target": key[1], "kinds": [], "label": ""})
        if rel.kind not in link["kinds"]:
            link["kinds"].append(rel.kind)
            link["label"] = "、".join(str(labels.get(k, k)) for k in link["kinds"])
    return Graph(entity.pk, list(nodes.values()), list(links.values()), page, cap, len(rows), total, has_more)


# --------------------------------------------------------------------------- review queue


def review_queue(actor: User, *, unsure: bool = False) -> QuerySet[ReviewPair]:
    """Open review pairs within the actor's RECORDS_LINK_REVIEW jurisdiction, most probable
    first; ``unsure`` lists instead the pairs an analyst already marked unsure.  Reading
    the queue reads people's data: it needs a purpose and is audited."""
    purpose.person_read(actor, object_type="review_queue", object_id="unsure" if unsure else "open", unit=None,
                        action=access.Action.RECORDS_LINK_REVIEW)
    judged_unsure = LinkJudgement.objects.filter(superseded=False, verdict=Verdict.UNSURE,
                                                 record_a_id=OuterRef("record_a_id"),
                                                 record_b_id=OuterRef("record_b_id"))
    qs = access.scope(actor, access.Action.RECORDS_LINK_REVIEW,
                      ReviewPair.objects.filter(status=ReviewPair.Status.OPEN))
    qs = qs.filter(Exists(judged_unsure)) if unsure else qs.exclude(Exists(judged_unsure))
    return qs.select_related("record_a__source", "record_b__source", "record_a__unit", "record_b__unit",
                             "unit").order_by("-probability", "pk")


@dataclass(frozen=True)
class AlignedRow:
    field: str
    label: str
    a: str
    b: str
    status: str  # "same", "differ", "missing"


@dataclass(frozen=True)
class ReviewItem:
    pair: ReviewPair
    key_a: str  # the records' source keys, ID numbers masked as the role needs
    key_b: str
    rows: list[AlignedRow]
    entity_a: int | None
    entity_b: int | None
    reason: str
    reason_label: str
    levels: dict[str, str]


_REVIEW_FIELDS: Final = ("name", "id_number", "birth_date", "sex", "phone", "address", "division_code")
# Why a pair is queued, and the model's comparison levels (records.linkage's labels), for people.
REASON_LABELS: Final[dict[str, Any]] = {
    "uncertain": _("把握不足"), "unsure": _("曾标为无法确定"), "blocked:different_id": _("身份证号不同"),
}
COMPARISON_LABELS: Final[dict[str, Any]] = {
    "id_number": _("身份证号"), "name": _("姓名"), "birth_date": _("出生日期"), "phone_e164": _("电话"),
    "sex": _("性别"), "division_code": _("行政区划"),
}
LEVEL_LABELS: Final[dict[str, Any]] = {
    "same": _("一致"), "different": _("不同"), "missing": _("缺失"), "same pinyin": _("拼音相同"),
    "one character differs": _("差一个字"), "one character differs, same initials": _("差一个字，首字母相同"),
    "similar pinyin": _("拼音相近"), "one digit differs": _("差一位数字"), "same county": _("同一区县"),
    "same city": _("同一城市"),
}


def _aligned(fa: Mapping[str, str], fb: Mapping[str, str], masked: bool) -> list[AlignedRow]:
    rows = []
    for name in _REVIEW_FIELDS:
        a, b = fa.get(name), fb.get(name)
        status = "missing" if not a or not b else "same" if a == b else "differ"
        rows.append(AlignedRow(name, str(FIELD_LABELS.get(name, name)), _shown(name, a, masked) if a else "",
                               _shown(name, b, masked) if b else "", status))
    return rows


def review_items(actor: User, pairs: Sequence[ReviewPair]) -> list[ReviewItem]:
    """The pairs of one queue page, each record's person fields side by side."""
    ids = [r for p in pairs for r in (p.record_a_id, p.record_b_id)]
    entity_of = dict(EntityRecord.objects.filter(kind=PERSON, record_id__in=ids)
                     .values_list("record_id", "entity_id")) if ids else {}
    items = []
    for p in pairs:
        masked = access.masks_id_numbers(actor, p.unit)
        fa, fb = role(_facts(p.record_a), PERSON), role(_facts(p.record_b), PERSON)
        explanation = p.explanation or {}
        reason = str(explanation.get("reason", ""))
        levels = {str(COMPARISON_LABELS.get(k, k)): str(LEVEL_LABELS.get(v, v))
                  for k, v in dict(explanation.get("levels", {})).items()}
        items.append(ReviewItem(p, key_shown(p.record_a.source_key, masked), key_shown(p.record_b.source_key, masked),
                                _aligned(fa, fb, masked), entity_of.get(p.record_a_id),
                                entity_of.get(p.record_b_id), reason, str(REASON_LABELS.get(reason, reason)), levels))
    return items


def split_candidates(profile: EntityProfile) -> list[RecordRow]:
    """The current member records an analyst may split off (from a profile already read)."""
    return [r for r in profile.records if r.current and r.method]
