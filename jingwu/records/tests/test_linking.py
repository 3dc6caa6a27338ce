"""The link service: the labelled fixture's exact partition, stable ids, incremental runs,
merges, keyed entities, relations with provenance, attributes, audit and access."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError

from jingwu.core.models import AuditEntry
from jingwu.core.services import ServiceError
from jingwu.core.tests.factories import make_user
from jingwu.records import linking
from jingwu.records.models import Entity, EntityRecord, LinkJudgement, LinkRun, Relation, ReviewPair, SourceRecord
from jingwu.records.rows import content_hash
from jingwu.records.tests.test_linking_fixture import (
    ACCOUNT2,
    ID1,
    ID3,
    PLATE1,
    UNCERTAIN,
    USCC5,
    Province,
    build_province,
    entity_of,
    linked_province,
    person_partition,
    truth_partition,
)

pytestmark = pytest.mark.django_db


def test_a_full_run_finds_exactly_the_labelled_people_and_queues_the_uncertain_pair() -> None:
    p = build_province()
    run = linking.link_run(actor=None, mode="full")
    assert (run.mode, run.finished_at is not None, "error" in run.stats) == ("full", True, False)
    truth = truth_partition(p.truth)
    assert person_partition() == truth
    assert len(truth) == 9  # p8's son stays apart from his father
    pairs = list(ReviewPair.objects.filter(status="open"))
    assert [(r.record_a_id, r.record_b_id) for r in pairs] == [(p.rid(UNCERTAIN[0]), p.rid(UNCERTAIN[1]))]
    pair = pairs[0]
    assert 0.5 <= pair.probability < 0.95
    assert (pair.unit, pair.run_id, pair.explanation["reason"]) == (p.tree.grid_a1a, run.pk, "uncertain")
    assert pair.explanation["levels"]["phone_e164"] == "same"
    methods = dict(EntityRecord.objects.filter(kind="person").values_list("record__source_key", "method"))
    assert {k: methods[k] for k in ("HK1", "HT1", "VH1", "TEL1", "HK8", "TEL9", "TEL7", "HT7")} == {
        "HK1": "rule", "HT1": "rule", "VH1": "rule", "TEL1": "model", "HK8": "single", "TEL9": "single",
        "TEL7": "model", "HT7": "model"}
    # The 15-digit hotel ID met its owner as the same validated ID.
    assert EntityRecord.objects.get(record__source_key="HT1", kind="person").probability == 1.0


def test_person_entities_show_the_chosen_values_their_id_and_the_unit_of_the_most_trusted_record() -> None:
    p = linked_province()
    e1 = Entity.objects.get(pk=entity_of("HK1"))
    assert (e1.kind, e1.key, e1.display_name, e1.unit) == ("person", ID1, "陈大文", p.tree.grid_a1a)
    assert e1.attributes["name"] == {"value": "陈大文", "records": sorted([p.rid("HK1"), p.rid("HT1"), p.rid("VH1")]),
                                     "others": [{"value": "陳大文", "records": [p.rid("TEL1")]}]}
    assert e1.attributes["id_number"]["value"] == ID1
    assert e1.attributes["phone"] == {"value": "+8613912340001",
                                      "records": sorted([p.rid("HK1"), p.rid("TEL1"), p.rid("VH1")]), "others": []}
    visitor = Entity.objects.get(pk=entity_of("TEL7"))
    # No registration: the telecom record (trust 30) outranks the hotel (60) for the unit.
    assert (visitor.key, visitor.unit) == ("", p.tree.county_a2)


def test_phones_vehicles_accounts_organisations_and_places_are_keyed_by_identifier() -> None:
    p = linked_province()
    phone = Entity.objects.get(kind="phone", key="+8613912340001")
    assert phone.display_name == "13912340001"
    assert set(EntityRecord.objects.filter(entity=phone).values_list("record__source_key", "kind", "method")) == {
        ("HK1", "phone", "key"), ("TEL1", "phone", "key"), ("VH1", "phone", "key")}
    assert phone.attributes["carrier"] == {"value": "中国移动", "records": [p.rid("TEL1")], "others": []}
    vehicle = Entity.objects.get(kind="vehicle", key=PLATE1)
    assert (vehicle.display_name, vehicle.attributes["brand"]["value"]) == (PLATE1, "大众")
    assert Entity.objects.get(kind="account", key=ACCOUNT2).display_name == f"齐鲁银行 {ACCOUNT2}"
    assert Entity.objects.get(kind="organization", key=USCC5).display_name == "青岛海风贸易有限公司"
    home = Entity.objects.get(kind="place", key="370102|山东省济南市历下区泉城路1号")
    assert EntityRecord.objects.filter(entity=home).count() == 2  # the couple's household records
    hotel = Entity.objects.get(kind="place", key="|山东省济南市历下区泉城路99号")
    assert hotel.display_name == "泉城宾馆"
    assert Entity.objects.filter(kind="place").count() == 8  # 6 addresses, 2 hotels
    assert sorted(Entity.objects.exclude(kind="person").values_list("kind", flat=True).distinct()) == [
        "account", "organization", "phone", "place", "vehicle"]


def _memberships() -> set[tuple[int, str, int]]:
    return set(EntityRecord.objects.values_list("record_id", "kind", "entity_id"))


def _relations(entity_id: int) -> set[tuple[str, str, str, str, dt.date | None, dt.date | None]]:
    return {(r.kind, r.object.kind, r.object.key or r.object.display_name, r.record.source_key, r.valid_from,
             r.valid_to) for r in Relation.objects.filter(subject_id=entity_id).select_related("object", "record")}


def test_relations_carry_their_record_and_validity() -> None:
    linked_province()
    p1, p2 = entity_of("HK1"), entity_of("HK2")
    assert _relations(p1) == {
        ("uses_phone", "phone", "+8613912340001", "HK1", None, None),
        ("uses_phone", "phone", "+8613912340001", "TEL1", dt.date(2015, 4, 1), None),
        ("uses_phone", "phone", "+8613912340001", "VH1", None, None),
        ("owns_vehicle", "vehicle", PLATE1, "VH1", dt.date(2016, 5, 20), None),
        ("registered_at", "place", "370102|山东省济南市历下区泉城路1号", "HK1", None, None),
        ("stayed_at", "place", "|山东省济南市历下区泉城路99号", "HT1", dt.date(2025, 11, 24), dt.date(2025, 11, 26)),
    }
    assert _relations(p2) == {
        ("uses_phone", "phone", "+8613912340002", "HK2", None, None),
        ("holds_account", "account", ACCOUNT2, "BK2", dt.date(2012, 3, 3), None),
        ("registered_at", "place", "370102|山东省济南市历下区泉城路1号", "HK2", None, None),
        ("household", "person", ID1, "HK2", None, None),
        ("relative", "person", ID1, "HK2", None, None),
    }
    household = Relation.objects.get(kind="household", subject_id=p2)
    assert household.details == {"household_id": "H1", "relation": "配偶", "head_record": household.record_id - 1}
    stay = Relation.objects.get(kind="stayed_at", subject_id=p1)
    assert stay.details == {"hotel": "泉城宾馆", "room": "301"}
    assert ("legal_rep", "organization", USCC5, "ORG5", dt.date(2020, 2, 2), None) in _relations(entity_of("HK5"))


def test_a_second_full_run_keeps_every_id_and_writes_nothing() -> None:
    p = linked_province()
    before = _memberships()
    relations = set(Relation.objects.values_list("pk", "kind", "subject_id", "object_id", "record_id"))
    attributes = dict(Entity.objects.values_list("pk", "attributes"))
    run = linking.link_run(actor=None, mode="full")
    assert _memberships() == before
    assert set(Relation.objects.values_list("pk", "kind", "subject_id", "object_id", "record_id")) == relations
    assert dict(Entity.objects.values_list("pk", "attributes")) == attributes
    s = run.stats
    assert (s["entities_created"], s["entities_merged"], s["memberships_created"], s["memberships_updated"],
            s["keyed_entities_created"], s["entities_refreshed"], s["relations"]) == (
        0, 0, 0, 0, 0, 0, {"created": 0, "deleted": 0, "updated": 0})
    assert (s["review_pairs_new"], s["review_pairs_kept"]) == (0, 1)
    assert person_partition() == truth_partition({k: v for k, v in p.truth.items()})


def _new_batch(p: Province) -> None:
    a1 = p.tree.grid_a1a
    # p2's SIM without an ID; p3 at a hotel; a newborn registered in p1's household.
    p.add("telecom", "TEL2", "p2", {"phone": "13912340002", "subscriber_name": "王芳", "birth_date": "1982-06-01",
                                    "carrier": "中国移动", "activated_at": "2020-01-01"}, a1)
    p.add("hotel", "HT3", "p3", {"name": "张伟", "id_number": ID3, "hotel": "泉城宾馆",
                                 "hotel_address": "山东省济南市历下区泉城路99号", "room": "303",
                                 "check_in": "2025-12-01T21:00", "check_out": "2025-12-02"}, a1)
    p.add("hukou", "HK10", "p10", {"name": "陈小宝", "id_number": "370102202501010018", "sex": "男",
                                   "birth_date": "2025-01-01", "address": "山东省济南市历下区泉城路1号",
                                   "division_code": "370102001", "household_id": "H1", "relation_to_head": "子"}, a1)


def test_an_incremental_run_links_only_the_new_batch_into_the_right_entities() -> None:
    p = linked_province()
    before = _memberships()
    _new_batch(p)
    run = linking.link_run(actor=None)
    assert run.mode == "incremental"
    assert (run.stats["records_read"], run.stats["person_mentions"], run.stats["entities_created"]) == (3, 3, 1)
    assert person_partition() == truth_partition(p.truth)
    # Nothing that was linked moved.
    after = _memberships()
    assert before <= after
    assert entity_of("TEL2") == entity_of("HK2") and entity_of("HT3") == entity_of("HK3")
    baby = entity_of("HK10")
    assert set(Relation.objects.filter(subject_id=baby, kind__in=("household", "relative")).values_list(
        "kind", "object_id")) == {("household", entity_of("HK1")), ("relative", entity_of("HK1"))}
    e2 = Entity.objects.get(pk=entity_of("HK2"))
    assert e2.attributes["phone"]["records"] == sorted([p.rid("HK2"), p.rid("TEL2")])
    # And a full run afterwards agrees with the incremental one.
    linking.link_run(actor=None, mode="full")
    assert _memberships() == after


def test_a_new_version_of_a_record_stays_with_its_entity_and_updates_the_attributes() -> None:
    p = linked_province()
    e6 = entity_of("HK6")
    old = p.records["HK6"]
    payload = {**old.payload, "address": "山东省济南市历下区文化路66号"}
    new = SourceRecord.objects.create(source=old.source, source_key="HK6-v2", kind="person", payload=payload,
                                      content_hash=content_hash(payload), batch=old.batch, unit=old.unit)
    SourceRecord.objects.filter(pk=old.pk).update(superseded_by=new)
    linking.link_run(actor=None)
    assert entity_of("HK6-v2") == e6
    entity = Entity.objects.get(pk=e6)
    assert entity.attributes["address"] == {"value": "山东省济南市历下区文化路66号", "records": [new.pk], "others": []}
    # The old version's membership stays as history; its relations are the new version's now.
    assert EntityRecord.objects.filter(record=old, kind="person", entity_id=e6).exists()
    assert not Relation.objects.filter(record=old).exists()
    assert Relation.objects.get(record=new, kind="registered_at").object.key == "370102|山东省济南市历下区文化路66号"
    linking.link_run(actor=None, mode="full")
    assert entity_of("HK6-v2") == e6


def test_entities_joined_by_a_later_run_keep_the_oldest_id() -> None:
    p = build_province()
    # Strict thresholds first: records linked only by the model stay apart.
    linking.link_run(actor=None, mode="full", config=linking.default_config(accept=0.9999999999999999))
    first = {key: entity_of(key) for key in p.truth}
    assert first["TEL7"] != first["HT7"] and first["TEL1"] != first["HK1"]
    stays = Relation.objects.get(kind="stayed_at", subject_id=first["HT7"]).pk
    run = linking.link_run(actor=None, mode="full")
    assert person_partition() == truth_partition(p.truth)
    for person in set(p.truth.values()):
        keys = [k for k, who in p.truth.items() if who == person]
        oldest = min(first[k] for k in keys)
        assert {entity_of(k) for k in keys} == {oldest}
        for gone in {first[k] for k in keys} - {oldest}:
            assert Entity.objects.get(pk=gone).merged_into_id == oldest
    assert run.stats["entities_merged"] == len(set(first.values())) - len(set(p.truth.values())) == 4
    assert Relation.objects.get(pk=stays).subject_id == min(first["TEL7"], first["HT7"])


def test_one_audit_entry_per_run_and_only_data_stewards_may_start_one() -> None:
    p = build_province()
    officer = make_user("officer", [("officer", p.tree.station_a1a)])
    steward = make_user("steward", [("data_steward", p.tree.province)])
    with pytest.raises(PermissionDenied):
        linking.link_run(actor=officer)
    denied = AuditEntry.objects.order_by("-pk").first()
    assert denied is not None and (denied.action, denied.outcome) == ("records.import", "denied")
    before = AuditEntry.objects.count()
    run = linking.link_run(actor=steward)
    entries = list(AuditEntry.objects.filter(pk__gt=denied.pk))
    assert len(entries) == AuditEntry.objects.count() - before == 1
    assert (entries[0].action, entries[0].object_type, entries[0].object_id, entries[0].actor_username) == (
        "records.link", "link_run", str(run.pk), "steward")
    assert (entries[0].details["entities_created"], entries[0].details["keyed_entities_created"]) == (
        Entity.objects.filter(kind="person").count(), Entity.objects.exclude(kind="person").count())


def test_an_incremental_run_needs_a_saved_model() -> None:
    build_province()
    with pytest.raises(ServiceError, match="run a full link first"):
        linking.link_run(actor=None, mode="incremental")
    assert not LinkRun.objects.exists()  # refused before it started


def test_the_model_and_prepared_records_of_the_previous_run_are_replaced() -> None:
    build_province()
    first = linking.link_run(actor=None, mode="full")
    directory = Path(settings.VAR_DIR) / "linkage"
    assert (directory / first.stats["model_file"]).exists() and (directory / first.stats["prepared_file"]).exists()
    second = linking.link_run(actor=None, mode="full")
    assert not (directory / first.stats["model_file"]).exists()
    assert not (directory / first.stats["prepared_file"]).exists()
    assert (directory / second.stats["model_file"]).exists()


def test_the_command_prints_a_summary_and_refuses_bad_thresholds() -> None:
    build_province()
    out = io.StringIO()
    call_command("link", "--full", stdout=out, verbosity=0)
    text = out.getvalue()
    assert text.startswith(f"Link run {LinkRun.objects.get().pk} (full) in ")
    assert "records read                19   person mentions 19" in text
    assert "person entities              9   new 9, merged away 0, records moved 0" in text
    assert "review queue                 1 new, 0 still open, 0 no longer needed" in text
    with pytest.raises(CommandError, match="review_low <= accept"):
        call_command("link", "--accept", "0.4", "--review-low", "0.6", stdout=io.StringIO(), verbosity=0)
    out = io.StringIO()
    call_command("link", stdout=out, verbosity=0)
    assert "(incremental)" in out.getvalue() and "records read                 0" in out.getvalue()


def test_the_synthetic_province_links_exactly_as_its_ground_truth_says(tmp_path: Path) -> None:
    from jingwu.synthetic.ground_truth import read_people
    from jingwu.synthetic.services import synthetic_seed

    report = synthetic_seed(people=300, cities=1, seed=11, ground_truth_directory=tmp_path)
    linking.link_run(actor=None, mode="full")
    people = list(read_people(report.people.ground_truth))
    owner = {(r.source, r.key): person.person for person in people for r in person.records}
    key_of = {pk: (source, key) for pk, source, key in SourceRecord.objects.values_list("pk", "source__key",
                                                                                       "source_key")}
    assert len(key_of) == len(owner) > 900
    truth: dict[int, set[tuple[str, str]]] = {}
    for key, person in owner.items():
        truth.setdefault(person, set()).add(key)
    found: dict[int, set[tuple[str, str]]] = {}
    for rid, entity in EntityRecord.objects.filter(kind="person").values_list("record_id", "entity_id"):
        found.setdefault(entity, set()).add(key_of[rid])
    assert {frozenset(g) for g in found.values()} == {frozenset(g) for g in truth.values()}
    # Every registered member but the head points to the head of the household.
    members = sum(1 for person in people if person.relation != "户主")
    assert Relation.objects.filter(kind="household").count() == members
    heads = {person.household_id: person.person for person in people if person.relation == "户主"}
    entity_of_person = {owner[next(iter(g))]: e for e, g in found.items()}
    household = {(s, o) for s, o in Relation.objects.filter(kind="household").values_list("subject_id", "object_id")}
    assert household == {(entity_of_person[p.person], entity_of_person[heads[p.household_id]])
                         for p in people if p.relation != "户主"}


def test_a_run_that_overlaps_an_analysts_judgement_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                   settings: Any) -> None:
    settings.VAR_DIR = tmp_path  # its own folder: another test run sharing var/ may be saving files there
    p = build_province()
    steward = make_user("steward", [("data_steward", p.tree.province)])
    save_files = linking._save_files

    def judged_meanwhile(*args: Any, **kwargs: Any) -> Any:
        LinkJudgement.objects.create(record_a=p.records["HK8"], record_b=p.records["TEL9"], verdict="rejected",
                                     analyst=steward)
        return save_files(*args, **kwargs)

    monkeypatch.setattr(linking, "_save_files", judged_meanwhile)
    directory = Path(settings.VAR_DIR) / "linkage"
    files = set(directory.iterdir()) if directory.exists() else set()
    with pytest.raises(ServiceError, match="judgement was recorded during the run"):
        linking.link_run(actor=None, mode="full")
    run = LinkRun.objects.get()
    assert run.stats["error"] == "ServiceError: an analyst judgement was recorded during the run; run it again"
    assert not Entity.objects.exists() and not EntityRecord.objects.exists()
    # The model and prepared records it saved went with it (the run lock's file stays, unlocked).
    assert {f for f in directory.iterdir() if f.suffix != ".lock"} == files


def test_a_pair_no_longer_uncertain_leaves_the_queue() -> None:
    p = linked_province()
    pair = ReviewPair.objects.get(status="open")
    # Looser thresholds: the father and his son's SIM now link outright.
    run = linking.link_run(actor=None, mode="full", config=linking.default_config(accept=0.7, review_low=0.5))
    assert entity_of(UNCERTAIN[0]) == entity_of(UNCERTAIN[1])
    assert ReviewPair.objects.get(pk=pair.pk).status == "obsolete"
    assert (run.stats["review_pairs_obsolete"], ReviewPair.objects.filter(status="open").count()) == (1, 0)
    assert EntityRecord.objects.get(record=p.records["TEL9"], kind="person").method == "model"
