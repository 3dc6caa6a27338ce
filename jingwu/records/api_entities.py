"""The entities API: an entity's profile, its timeline and its graph neighbourhood (the
same selectors as the pages: purpose-audited, scoped, ID numbers masked by role) and
analysts' judgements on pairs of records."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from jingwu.core.models import User
from jingwu.core.timeline import Event as TimelineEvent
from jingwu.records import entities, review
from jingwu.records.models import SourceRecord

router = Router(tags=["records: entities"])
MAX_ID = 2**63 - 1  # a database id is a signed 64-bit integer


class ErrorOut(Schema):
    detail: str
    code: str


class SourceRefOut(Schema):
    record_id: int
    source: str


class ValueOut(Schema):
    value: str
    sources: list[SourceRefOut]


class AttributeOut(Schema):
    field: str
    label: str
    value: str = Field(description="The value shown, chosen by records/attributes.py's rule")
    sources: list[SourceRefOut]
    others: list[ValueOut]


class FieldOut(Schema):
    field: str
    label: str
    value: str


class RecordOut(Schema):
    id: int
    source: str
    source_name: str
    source_key: str
    kind: str
    received_at: dt.datetime
    unit_name: str
    method: str = Field(description="How the record joined the entity: key, rule, model, judgement, single; "
                                    "empty for an older version")
    probability: float | None
    linked_at: dt.datetime
    current: bool
    replaced_by: int | None
    fields: list[FieldOut]
    payload: dict[str, Any] | None = Field(description="As received; null when ID numbers are masked for you")


class RelationOut(Schema):
    id: int
    kind: str
    label: str
    direction: Literal["out", "in"]
    other_id: int | None = Field(description="Null when the other entity is outside your jurisdiction")
    other_kind: str
    other_name: str
    other_visible: bool = Field(description="False: the other entity is outside your jurisdiction, name and id "
                                            "withheld")
    record_id: int
    source_name: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    details: dict[str, Any]


class TimelineEventOut(Schema):
    at: dt.datetime = Field(description="When, in Asia/Shanghai; midnight when only the date is known")
    all_day: bool = Field(description="Only the date is known")
    kind: str = Field(description="<app>.<what>: records.received, records.dates, records.relations, "
                                  "records.linkage, and what later modules add")
    label: str
    summary: str
    link: str = Field(description="A portal page about the event; empty when none may be shown")
    source: str = Field(description="Where the event comes from: source system and record, link run, analyst")

    @staticmethod
    def resolve_at(obj: TimelineEvent) -> dt.datetime:
        return obj.local


class TimelineOut(Schema):
    events: list[TimelineEventOut]
    offset: int
    limit: int
    has_more: bool
    next_offset: int


class EntityOut(Schema):
    id: int = Field(description="The live entity: a merged id answers with the entity it was merged into")
    kind: str
    kind_label: str
    display_name: str
    key: str
    unit_name: str
    masked: bool
    attributes: list[AttributeOut]
    records: list[RecordOut]
    records_total: int = Field(description="Records of the entity; at most 200, the most recent, are listed")
    relations: list[RelationOut]
    relations_total: int
    timeline: list[TimelineEventOut] = Field(description="The newest events; more from /timeline?offset=")
    timeline_has_more: bool
    updated_at: dt.datetime

    @staticmethod
    def resolve_timeline(obj: entities.EntityProfile) -> list[TimelineEvent]:
        return obj.timeline.events if obj.timeline is not None else []

    @staticmethod
    def resolve_timeline_has_more(obj: entities.EntityProfile) -> bool:
        return obj.timeline is not None and obj.timeline.has_more


class GraphNodeOut(Schema):
    id: str
    name: str
    kind: str
    category: str
    visible: bool
    centre: bool


class GraphLinkOut(Schema):
    source: str
    target: str
    kinds: list[str]
    label: str


class GraphOut(Schema):
    centre: int
    nodes: list[GraphNodeOut]
    links: list[GraphLinkOut]
    page: int
    cap: int
    count: int = Field(description="Relations on this page")
    total: int = Field(description="Relations of the centre, both directions")
    has_more: bool


class JudgementIn(Schema):
    record_a: int = Field(ge=1, le=MAX_ID)
    record_b: int = Field(ge=1, le=MAX_ID)
    verdict: Literal["confirmed", "rejected", "unsure"]
    note: str = Field("", max_length=500)


class JudgementOut(Schema):
    id: int
    record_a: int
    record_b: int
    verdict: str
    at: dt.datetime
    merged_into: int | None = Field(description="Confirmed across two entities: the entity both are now in")
    split_off: int | None = Field(description="Rejected inside one entity: the new entity one side went to")
    conflict: int | None = Field(description="Confirmed, but this live rejection across the two entities keeps "
                                             "them apart until it is judged again")


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _not_found(what: str, pk: int) -> Status[dict[str, str]]:
    return Status(404, {"detail": f"no {what} {pk}", "code": "not_found"})


@router.get("/entities/{entity_id}", response={200: EntityOut, 404: ErrorOut, 403: ErrorOut},
            url_name="entity_detail", summary="An entity's profile (needs a stated purpose; audited)")
def entity_detail(request: HttpRequest, entity_id: int) -> Any:
    live = entities.entity_resolve(entity_id)
    if live is None:
        return _not_found("entity", entity_id)
    return Status(200, entities.entity_get(_actor(request), live))


@router.get("/entities/{entity_id}/timeline", response={200: TimelineOut, 404: ErrorOut, 403: ErrorOut},
            url_name="entity_timeline", summary="A page of an entity's timeline, newest first (audited)")
def entity_timeline(request: HttpRequest, entity_id: int, offset: int = 0,
                    limit: int = entities.TIMELINE_PAGE) -> Any:
    live = entities.entity_resolve(entity_id)
    if live is None:
        return _not_found("entity", entity_id)
    return Status(200, entities.entity_timeline(_actor(request), live, offset=offset, limit=limit))


@router.get("/entities/{entity_id}/graph", response={200: GraphOut, 404: ErrorOut, 403: ErrorOut},
            url_name="entity_graph", summary="One ring of an entity's relations, paged (audited)")
def entity_graph(request: HttpRequest, entity_id: int, page: int = 0, cap: int = 50) -> Any:
    live = entities.entity_resolve(entity_id)
    if live is None:
        return _not_found("entity", entity_id)
    return Status(200, entities.entity_neighbours(_actor(request), live, page=page, cap=cap))


@router.post("/judgements", response={201: JudgementOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             url_name="judgement_create", summary="Confirm, reject or mark unsure a pair of records")
def judgement_create(request: HttpRequest, payload: JudgementIn) -> Any:
    records = SourceRecord.objects.select_related("unit").in_bulk([payload.record_a, payload.record_b])
    for pk in (payload.record_a, payload.record_b):
        if pk not in records:
            return _not_found("record", pk)
    outcome = review.judgement_record(actor=_actor(request), record_a=records[payload.record_a],
                                      record_b=records[payload.record_b], verdict=payload.verdict, note=payload.note)
    j = outcome.judgement
    return Status(201, JudgementOut(id=j.pk, record_a=j.record_a_id, record_b=j.record_b_id, verdict=j.verdict, at=j.at,
                             merged_into=outcome.merged_into.pk if outcome.merged_into else None,
                             split_off=outcome.split_off.pk if outcome.split_off else None,
                             conflict=outcome.conflict.pk if outcome.conflict else None))

