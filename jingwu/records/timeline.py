"""What the data centre contributes to an entity's timeline (see jingwu.core.timeline).

- ``records.received``: each member record as it arrived, the first from each source
  marked as such, older versions marked replaced;
- ``records.dates``: dates the records give about the entity itself (birth, a phone's
  activation, a vehicle's or company's registration, an account's opening, a hotel
  check-in and check-out), one event per date and field with every record giving it —
  unless a relation drawn from the same record already carries that date;
- ``records.relations``: relations beginning (``valid_from``) and ending (``valid_to``);
- ``records.linkage``: the entity created, records linked (by which link run, how),
  entities merged into it, and analysts' judgements on its records (a split is one
  judgement of many pairs).

Called inside the profile's one audited read: nothing here writes an audit entry.
Other entities outside the actor's jurisdiction are neither named nor linked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

from django.db.models import Count, Max, Min, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from jingwu.core import access
from jingwu.core.models import User
from jingwu.core.timeline import Event, contributor, day
from jingwu.records.attributes import facts_from_row, role
from jingwu.records.entities import FIELD_LABELS, key_shown, read_roots, within
from jingwu.records.models import (
    Entity,
    EntityRecord,
    LinkJudgement,
    LinkRun,
    Relation,
    RelationKind,
    Verdict,
)

# Records read for their dates: the most recently received.  Only people hold more than a
# few records of their own kind with dates, and their stays are relations (paged fully).
DATE_RECORDS: Final = 200

# Dated fields of each entity kind (as the entity's own fields), and a person record's stay.
_DATE_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "person": ("birth_date",), "phone": ("activated_at",), "vehicle": ("registered_at",),
    "organization": ("registered_at",), "account": ("opened_at",), "place": (),
}
_STAY_FIELDS: Final = ("check_in", "check_out")
# What happened on such a date, by entity kind and field.
_DATE_EVENTS: Final[dict[tuple[str, str], Any]] = {
    ("person", "birth_date"): gettext_lazy("出生"), ("phone", "activated_at"): gettext_lazy("电话入网"),
    ("vehicle", "registered_at"): gettext_lazy("车辆登记"), ("organization", "registered_at"): gettext_lazy("单位登记"),
    ("account", "opened_at"): gettext_lazy("账户开户"), ("person", "check_in"): gettext_lazy("入住"),
    ("person", "check_out"): gettext_lazy("退房"),
}
# The record field a relation's valid_from / valid_to was taken from (records/linking.py).
_RELATION_DATES: Final[dict[str, tuple[str | None, str | None]]] = {
    RelationKind.USES_PHONE: ("activated_at", None), RelationKind.OWNS_VEHICLE: ("registered_at", None),
    RelationKind.HOLDS_ACCOUNT: ("opened_at", None), RelationKind.LEGAL_REPRESENTATIVE: ("registered_at", None),
    RelationKind.STAYED_AT: ("check_in", "check_out"),
}
_STARTED: Final = gettext_lazy("%(relation)s开始")
_ENDED: Final = gettext_lazy("%(relation)s结束")


def _profile(entity_id: int) -> str:
    return reverse("records:entity", kwargs={"pk": entity_id})


def _record_ref(source_name: str, record_id: int) -> str:
    return f"{source_name} #{record_id}"


@contributor("records.received")
def received(actor: User, entity_ids: Sequence[int], limit: int) -> list[Event]:
    members = EntityRecord.objects.filter(entity_id__in=entity_ids)
    first_of_source = (EntityRecord.objects.filter(entity_id__in=entity_ids,
                                                   record__source_id=OuterRef("record__source_id"))
                       .order_by("record__received_at", "record_id").values("record_id")[:1])
    firsts = {row["first"]: row["n"] for row in members.values("record__source_id")
              .annotate(n=Count("pk"), first=Subquery(first_of_source)).order_by()}
    rows = (members.select_related("record__source", "record__unit")
            .order_by("-record__received_at", "-record_id")[:limit])
    events = []
    for m in rows:
        r = m.record
        key = key_shown(r.source_key, access.masks_id_numbers(actor, r.unit))
        summary = _("%(source)s记录 %(key)s") % {"source": r.source.name, "key": key}
        if r.pk in firsts:
            summary += _("；首次见于此来源（共 %(n)s 条）") % {"n": firsts[r.pk]}
        if r.superseded_by_id is not None:
            summary += _("；已被新版本 #%(id)s 取代") % {"id": r.superseded_by_id}
        events.append(Event(r.received_at, "records.received", _("接收记录"), summary,
                            f"{_profile(entity_ids[0])}#record-{r.pk}", _record_ref(r.source.name, r.pk)))
    return events


@contributor("records.dates")
def dates(actor: User, entity_ids: Sequence[int], limit: int) -> list[Event]:
    dated_kinds = [kind for kind, names in _DATE_FIELDS.items() if names]  # a hotel's place reads nothing
    memberships = list(EntityRecord.objects.filter(entity_id__in=entity_ids, kind__in=dated_kinds)
                       .select_related("record__source").order_by("-record__received_at", "-record_id")
                       [:DATE_RECORDS])
    if not memberships:
        return []
    ids = [m.record_id for m in memberships]
    carried: set[tuple[int, str, dt.date]] = set()  # (record, field, date) a relation shows already
    for kind, rid, start, end in (Relation.objects.filter(record_id__in=ids)
                                  .filter(Q(subject_id__in=entity_ids) | Q(object_id__in=entity_ids))
                                  .values_list("kind", "record_id", "valid_from", "valid_to")):
        start_field, end_field = _RELATION_DATES.get(kind, (None, None))
        if start_field and start:
            carried.add((rid, start_field, start))
        if end_field and end:
            carried.add((rid, end_field, end))
    found: dict[tuple[str, str, dt.date], list[Any]] = {}  # (kind, field, date) → [(record, facts)]
    for m in memberships:
        r = m.record
        facts = facts_from_row(record_id=r.pk, source=r.source.key, trust_rank=r.source.trust_rank,
                               received_at=r.received_at, unit_id=r.unit_id, kind=r.kind,
                               source_key=r.source_key, fields=r.fields, payload=r.payload)
        described = role(facts, m.kind)
        given = {name: described[name] for name in _DATE_FIELDS.get(m.kind, ()) if name in described}
        if m.kind == "person" and r.kind == "person":
            given.update({name: facts.fields[name] for name in _STAY_FIELDS if name in facts.fields})
        for name, text in given.items():
            try:
                when = dt.date.fromisoformat(text[:10])
            except ValueError:
                continue  # kept as written, not a date: the record shows it
            if (r.pk, name, when) not in carried:
                found.setdefault((m.kind, name, when), []).append((r, facts))
    events = []
    for (kind, name, when), givers in found.items():
        givers.sort(key=lambda g: (-g[0].received_at.timestamp(), -g[0].pk))
        summary = f"{FIELD_LABELS.get(name, name)} {when.isoformat()}"
        if name in _STAY_FIELDS:
            stay = givers[0][1].fields
            summary += "".join(f" · {stay[k]}" for k in ("hotel", "room") if k in stay)
        if len(givers) > 1:
            summary += _("（%(n)s 条记录一致）") % {"n": len(givers)}
        label = _DATE_EVENTS.get((kind, name), FIELD_LABELS.get(name, name))
        events.append(Event(day(when), "records.dates", str(label), summary,
                            f"{_profile(entity_ids[0])}#record-{givers[0][0].pk}",
                            "、".join(_record_ref(r.source.name, r.pk) for r, _f in givers), all_day=True))
    events.sort(key=lambda e: (-e.at.timestamp(), e.label, e.summary))
    return events[:limit]


@contributor("records.relations")
def relations(actor: User, entity_ids: Sequence[int], limit: int) -> list[Event]:
    roots = read_roots(actor)
    labels = dict(RelationKind.choices)
    base = (Relation.objects.filter(Q(subject_id__in=entity_ids) | Q(object_id__in=entity_ids))
            .select_related("subject__unit", "object__unit", "record__source"))
    starts = list(base.filter(valid_from__isnull=False).order_by("-valid_from", "-pk")[:limit])
    ends = list(base.filter(valid_to__isnull=False).order_by("-valid_to", "-pk")[:limit])
    ours = set(entity_ids)
    out: list[tuple[dt.date, int, int, Event]] = []
    for rows, begins in ((starts, True), (ends, False)):
        for rel in rows:
            outgoing = rel.subject_id in ours
            other = rel.object if outgoing else rel.subject
            visible = within(other.unit, roots)
            name = (other.display_name or f"#{other.pk}") if visible else _("辖区外")
            summary = f"{'→' if outgoing else '←'} {name}"
            extra = [str(rel.details[k]) for k in ("hotel", "room")  # in this order: jsonb keeps none
                     if rel.details.get(k) and str(rel.details[k]) != name]
            if extra:
                summary += f"（{' · '.join(extra)}）"
            label = (_STARTED if begins else _ENDED) % {"relation": labels.get(rel.kind, rel.kind)}
            when = rel.valid_from if begins else rel.valid_to
            assert when is not None
            event = Event(day(when), "records.relations", str(label), summary, _profile(other.pk) if visible else "",
                          _record_ref(rel.record.source.name, rel.record_id), all_day=True)
            out.append((when, rel.pk, 0 if begins else 1, event))
    out.sort(key=lambda item: (item[0], item[1], item[2]), reverse=True)
    return [item[3] for item in out[:limit]]


@contributor("records.linkage")
def linkage(actor: User, entity_ids: Sequence[int], limit: int) -> list[Event]:
    live = entity_ids[0]
    # Equal times keep this order, newest first: judgements, links, merges, creations.
    events = _judgements(entity_ids, limit) + _links(actor, entity_ids, limit)
    created = []
    for pk, created_at, updated_at, merged_into in (Entity.objects.filter(pk__in=entity_ids).order_by("pk")
                                                    .values_list("pk", "created_at", "updated_at", "merged_into_id")):
        created.append(Event(created_at, "records.linkage", _("建立实体"), _("实体 #%(id)s 建立") % {"id": pk}))
        if merged_into is not None:
            what = (_("实体 #%(id)s 并入本实体") if merged_into == live
                    else _("实体 #%(id)s 并入实体 #%(into)s，后者又并入本实体"))
            events.append(Event(updated_at, "records.linkage", _("合并实体"), what % {"id": pk, "into": merged_into}))
    events.extend(created)
    events.sort(key=lambda e: -e.at.timestamp())  # stable: equal times keep the order above
    return events[:limit]


def _judgements(entity_ids: Sequence[int], limit: int) -> list[Event]:
    """Analysts' judgements on the entity's records; one split (many pairs judged at once) is one event."""
    member_records = EntityRecord.objects.filter(entity_id__in=entity_ids).values("record_id")
    verdicts = dict(Verdict.choices)
    events = []
    for j in (LinkJudgement.objects.filter(Q(record_a_id__in=member_records) | Q(record_b_id__in=member_records))
              .values("at", "analyst_id", "verdict", "note")
              .annotate(n=Count("pk"), live_n=Count("pk", filter=Q(superseded=False)), a=Min("record_a_id"),
                        b=Max("record_b_id"), who_name=Max("analyst__display_name"),
                        who_username=Max("analyst__username"))
              .order_by("-at", "-a")[:limit]):
        verdict = str(verdicts.get(j["verdict"], j["verdict"]))
        if j["n"] == 1:
            summary = _("记录 #%(a)s 与 #%(b)s：%(verdict)s") % {"a": j["a"], "b": j["b"], "verdict": verdict}
            label = _("复核结论")
        else:
            summary = _("%(n)s 对记录：%(verdict)s") % {"n": j["n"], "verdict": verdict}
            label = _("拆分实体") if j["verdict"] == Verdict.REJECTED else _("复核结论")
        if j["note"]:
            summary += _("（说明：%(note)s）") % {"note": j["note"]}
        if j["live_n"] < j["n"]:
            summary += _("；已被后来的结论取代") if j["live_n"] == 0 else _("；其中 %(k)s 对已被后来的结论取代") % {
                "k": j["n"] - j["live_n"]}
        events.append(Event(j["at"], "records.linkage", label, summary, "",
                            _("复核人 %(who)s") % {"who": j["who_name"] or j["who_username"]}))
    return events


def _links(actor: User, entity_ids: Sequence[int], limit: int) -> list[Event]:
    """Records joining the entity: how, and by which link run (else by an analyst)."""
    run_of = (LinkRun.objects.filter(started_at__lte=OuterRef("linked_at")).order_by("-started_at", "-pk")
              .values("pk")[:1])
    memberships = list(EntityRecord.objects.filter(entity_id__in=entity_ids)
                       .select_related("record__source", "record__unit")
                       .annotate(run=Subquery(run_of)).order_by("-linked_at", "-pk")[:limit])
    runs = LinkRun.objects.in_bulk({m.run for m in memberships if m.run is not None})
    methods = dict(EntityRecord.Method.choices)
    modes = dict(LinkRun.Mode.choices)
    events = []
    for m in memberships:
        how = str(methods.get(m.method, m.method))
        if m.method == EntityRecord.Method.MODEL and m.probability is not None:
            how += f" {m.probability:.3f}"
        run = runs.get(m.run)
        if (run is not None and m.method != EntityRecord.Method.JUDGEMENT and run.finished_at is not None
                and m.linked_at <= run.finished_at):
            source = _("关联运行 #%(id)s（%(mode)s）") % {"id": run.pk, "mode": modes.get(run.mode, run.mode)}
        else:
            source = _("人工复核")
        events.append(Event(m.linked_at, "records.linkage", _("关联记录"),
                            _("%(source)s记录 %(key)s：%(how)s") % {
                                "source": m.record.source.name, "how": how,
                                "key": key_shown(m.record.source_key, access.masks_id_numbers(actor, m.record.unit))},
                            f"{_profile(entity_ids[0])}#record-{m.record_id}", source))
    return events
