"""Analyst judgements on linkage: confirm, reject or mark unsure a pair of records, and
split an entity.  The linker obeys every live judgement on every later run.

A judgement takes effect at once where that is cheap and certain:

- **confirmed**, the records in two person entities: the entities merge (the older
  survives, the other points to it) — unless an analyst has rejected another pair across
  them: then the confirmation is recorded but the entities stay apart until every such
  rejection is judged again (the linker, too, never merges across a live rejection);
- **rejected**, both records in one person entity: the entity is split in two.  The
  engine re-clusters just that entity's records with the saved model and every live
  judgement; the part holding each record of the pair is its side, parts holding
  neither go with the larger side, and the smaller side becomes a new entity.  The one
  rejected pair keeps the two apart in later runs: existing entities never merge across
  a rejection;
- **unsure**, or records not linked yet: recorded; the next run uses it.

:func:`entity_split` is the analyst's explicit split: the chosen records become a new
entity and every pair across the two sides is recorded as rejected, so no run merges
them again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from jingwu.core import access, audit
from jingwu.core.models import User
from jingwu.core.services import ServiceError
from jingwu.records import linkage, linking, search_documents
from jingwu.records.models import (
    Entity,
    EntityKind,
    EntityRecord,
    LinkJudgement,
    ReviewPair,
    SourceRecord,
    Verdict,
)

__all__ = ["JudgementOutcome", "entity_split", "judgement_record"]

PERSON: Final = EntityKind.PERSON.value
NOTE_MAX: Final = 500


@dataclass(frozen=True)
class JudgementOutcome:
    judgement: LinkJudgement
    merged_into: Entity | None = None  # confirmed: the entity both records are now in
    split_off: Entity | None = None  # rejected: the new entity one side went to
    conflict: LinkJudgement | None = None  # confirmed, but this rejection keeps the entities apart


def _members(entity_id: int) -> list[int]:
    """Current records of a person entity."""
    return list(EntityRecord.objects.filter(entity_id=entity_id, kind=PERSON, record__superseded_by__isnull=True)
                .order_by("record_id").values_list("record_id", flat=True))


def _supersede(pairs: Collection[tuple[int, int]]) -> None:
    """Mark live judgements of these (ordered) pairs superseded."""
    if not pairs:
        return
    lefts = sorted({a for a, _ in pairs})
    rights = sorted({b for _, b in pairs})
    stale = [pk for pk, a, b in LinkJudgement.objects.filter(superseded=False, record_a_id__in=lefts,
                                                             record_b_id__in=rights)
             .values_list("pk", "record_a_id", "record_b_id") if (a, b) in pairs]
    LinkJudgement.objects.filter(pk__in=stale).update(superseded=True)


def _close_reviews(pairs: Collection[tuple[int, int]]) -> None:
    if not pairs:
        return
    lefts = sorted({a for a, _ in pairs})
    rights = sorted({b for _, b in pairs})
    done = [pk for pk, a, b in ReviewPair.objects.filter(status=ReviewPair.Status.OPEN, record_a_id__in=lefts,
                                                         record_b_id__in=rights)
            .values_list("pk", "record_a_id", "record_b_id") if (a, b) in pairs]
    ReviewPair.objects.filter(pk__in=done).update(status=ReviewPair.Status.JUDGED)


def _rejection_across(left: Iterable[int], right: Iterable[int]) -> LinkJudgement | None:
    a, b = sorted(set(left)), sorted(set(right))
    return (LinkJudgement.objects.filter(superseded=False, verdict=Verdict.REJECTED)
            .filter(Q(record_a_id__in=a, record_b_id__in=b) | Q(record_a_id__in=b, record_b_id__in=a))
            .order_by("pk").first())


def _after_move(moved: dict[int, int], entities: Iterable[int]) -> None:
    """Relations and attributes after records moved (record → previous entity)."""
    facts: dict[int, linking.Facts] = {}
    linking.sync_relations(set(moved), facts, moved=moved)
    linking.refresh_entities(set(entities), facts)
    search_documents.index_entities({*entities, *moved.values()})  # jingwu.search, after commit


def _split_off(entity: Entity, records: list[int]) -> Entity:
    """Move ``records`` of a person entity to a new one (memberships, relations, attributes)."""
    new = Entity.objects.create(kind=PERSON, unit_id=entity.unit_id)
    linking.move_memberships(dict.fromkeys(records, new.pk))
    if len(records) == 1:
        EntityRecord.objects.filter(kind=PERSON, record_id=records[0]).update(method="single", probability=None)
    _after_move(dict.fromkeys(records, entity.pk), (entity.pk, new.pk))
    new.refresh_from_db()
    return new


def _sides(entity_id: int, a: int, b: int) -> list[int]:
    """The records to split off when (a, b) is rejected inside one entity (see above)."""
    members = _members(entity_id)
    facts = linking.facts_for(members)
    wanted = {str(m) for m in members}
    judgements = [j for j in linking.live_judgements() if j.uid_a in wanted and j.uid_b in wanted]
    result = linkage.link(linking.engine_table(facts.values()), model=linking.saved_model(), judgements=judgements,
                          config=linking.default_config())
    cluster_of = {int(uid): cluster for uid, cluster in result.clusters.items()}
    side_a = [m for m in members if cluster_of.get(m) == cluster_of.get(a)]
    side_b = [m for m in members if cluster_of.get(m) == cluster_of.get(b)]
    # The larger side stays (and keeps the records that belong to neither); equal sides:
    # the one holding the oldest record stays.
    if (len(side_a), -min(side_a)) >= (len(side_b), -min(side_b)):
        return side_b
    return side_a


def judgement_record(*, actor: User, record_a: SourceRecord, record_b: SourceRecord, verdict: str,
                     note: str = "") -> JudgementOutcome:
    """Record an analyst's verdict on two records (superseding an earlier one of the pair)
    and close the pair's review; effects on entities as the module docstring says."""
    if verdict not in Verdict.values:
        raise ServiceError(_("复核结论只能是 confirmed、rejected 或 unsure。"), field="verdict")
    if record_a.pk == record_b.pk:
        raise ServiceError(_("复核需要两条不同的记录。"), field="record_b")
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise ServiceError(_("说明不能超过 %(n)s 个字。") % {"n": NOTE_MAX}, field="note")
    for record in (record_a, record_b):
        access.check(actor, access.Action.RECORDS_LINK_REVIEW, record.unit, object_type="source_record",
                     object_id=record.pk)
        if record.superseded_by_id is not None:
            raise ServiceError(_("记录 %(id)s 已被新版本取代。") % {"id": record.pk}, field="record")
    low, high = sorted((record_a.pk, record_b.pk))
    merged_into: Entity | None = None
    split_off: Entity | None = None
    conflict: LinkJudgement | None = None
    with transaction.atomic():
        _supersede({(low, high)})
        judgement = LinkJudgement.objects.create(record_a_id=low, record_b_id=high, verdict=verdict, analyst=actor,
                                                 note=note)
        _close_reviews({(low, high)})
        entity_of = linking.person_entities([low, high])
        ea, eb = entity_of.get(low), entity_of.get(high)
        if verdict == Verdict.CONFIRMED and ea is not None and eb is not None and ea != eb:
            conflict = _rejection_across(_members(ea), _members(eb))
        if conflict is None and verdict == Verdict.CONFIRMED and ea is not None and eb is not None and ea != eb:
            survivor, gone = min(ea, eb), max(ea, eb)
            moved = dict.fromkeys(_members(gone), gone)
            linking.merge_entities({gone: survivor})
            EntityRecord.objects.filter(kind=PERSON, record_id__in=(low, high)).update(method="judgement",
                                                                                     probability=1.0)
            _after_move(moved, (survivor,))
            merged_into = Entity.objects.get(pk=survivor)
        elif verdict == Verdict.REJECTED and ea is not None and ea == eb:
            entity = Entity.objects.get(pk=ea)
            split_off = _split_off(entity, _sides(ea, low, high))
        audit.record(actor=actor, action="records.link_judgement", object_type="link_judgement",
                     object_id=judgement.pk, unit_code=record_a.unit.code if record_a.unit else "",
                     details={"record_a": low, "record_b": high, "verdict": verdict,
                              "merged_into": merged_into.pk if merged_into else None,
                              "split_off": split_off.pk if split_off else None,
                              "conflict": conflict.pk if conflict else None})
    return JudgementOutcome(judgement, merged_into, split_off, conflict)


def entity_split(*, actor: User, entity: Entity, record_ids: Collection[int], note: str = "") -> Entity:
    """Move the chosen current records of a person entity to a new entity, and reject
    every pair across the two sides so no later run merges them again."""
    access.check(actor, access.Action.RECORDS_LINK_REVIEW, entity.unit, object_type="entity", object_id=entity.pk)
    if entity.kind != PERSON:
        raise ServiceError(_("只有人员实体可以拆分；其他实体按标识符归并。"), field="entity")
    if entity.merged_into_id is not None:
        raise ServiceError(_("实体 %(id)s 已并入实体 %(into)s。") % {"id": entity.pk, "into": entity.merged_into_id},
                           field="entity")
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise ServiceError(_("说明不能超过 %(n)s 个字。") % {"n": NOTE_MAX}, field="note")
    members = _members(entity.pk)
    chosen = sorted(set(record_ids))
    if not chosen:
        raise ServiceError(_("请选择要拆出的记录。"), field="records")
    strangers = sorted(set(chosen) - set(members))
    if strangers:
        raise ServiceError(_("记录 %(ids)s 不是实体 %(id)s 的现有记录。") % {
            "ids": "、".join(map(str, strangers)), "id": entity.pk}, field="records")
    rest = [m for m in members if m not in set(chosen)]
    if not rest:
        raise ServiceError(_("实体中至少要保留一条记录。"), field="records")
    parts = linkage.split_judgements([[str(r) for r in rest], [str(r) for r in chosen]])
    pairs: set[tuple[int, int]] = set()
    for j in parts:
        a, b = int(j.uid_a), int(j.uid_b)
        pairs.add((a, b) if a < b else (b, a))
    with transaction.atomic():
        _supersede(pairs)
        now = timezone.now()
        LinkJudgement.objects.bulk_create(
            [LinkJudgement(record_a_id=a, record_b_id=b, verdict=Verdict.REJECTED, analyst=actor, at=now,
                           note=note or f"split of entity {entity.pk}") for a, b in sorted(pairs)],
            batch_size=linking.CHUNK)
        _close_reviews(pairs)
        new = _split_off(entity, chosen)
        audit.record(actor=actor, action="records.entity_split", object_type="entity", object_id=entity.pk,
                     unit_code=entity.unit.code if entity.unit else "",
                     details={"records": chosen, "new_entity": new.pk, "rejected_pairs": len(pairs)})
    return new
