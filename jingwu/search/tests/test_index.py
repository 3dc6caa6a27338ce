"""Keeping the index in step with the database: changes flow from the linker and the
analysts' services after commit; a rebuild gives the same results; status and lag; the
one writer; readers see every commit."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
import tantivy
from django.core.management import call_command
from huey.contrib.djhuey import HUEY

from jingwu.core.models import AuditEntry, User
from jingwu.records import linking, review
from jingwu.records.models import Entity, SourceRecord
from jingwu.records.search_documents import ENTITY, build_entities, index_entities
from jingwu.records.tests.test_linking_fixture import ID1, UNCERTAIN, Province, entity_of
from jingwu.search import selectors, services
from jingwu.search.backend import INDEX_FOLDER, SchemaMismatch, TantivyBackend, get_backend
from jingwu.search.registry import SearchDocument
from jingwu.search.tests.conftest import user_with

pytestmark = pytest.mark.django_db

PROBES = ["陈大文", "陳大文", "周杰", "周晓明", "钱多多", "13912349999", "13912340008", "泉城路", "张伟", "中国移动"]


def snapshot(user: User) -> dict[str, Any]:
    """What the probes find: totals, facets and each result's entity, title and highlights."""
    out = {}
    for text in PROBES:
        found = selectors.search(user, text, similar=True)
        out[text] = (found.total, [(f.type, f.count) for f in found.facets],
                     sorted((r.entity_id, r.title, r.type, [(h.field, h.text, h.marks) for h in r.highlights])
                            for r in found.results))
    return out


def test_linker_and_analyst_changes_reach_the_index_after_commit_and_match_a_rebuild(
        province: Province, django_capture_on_commit_callbacks: Any) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    steward = user_with("steward", "data_steward", province.tree.province)
    assert selectors.search(officer, "钱多多").total == 0
    # A new telecom record, linked incrementally: a new person and a new phone.
    province.add("telecom", "TEL10", "p10", {"phone": "13912349999", "subscriber_name": "錢多多",
                                             "birth_date": "1999-09-09", "carrier": "中国电信"},
                 province.tree.grid_a1a)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        linking.link_run(actor=None, mode="incremental")
    assert len(callbacks) == 1
    assert [(r.title, r.type) for r in selectors.search(officer, "钱多多").results] == [("錢多多", "person")]
    assert sorted(r.type for r in selectors.search(officer, "139 1234 9999").results) == ["person", "phone"]
    # An analyst confirms the uncertain pair: the son's entity merges into the father's.
    father, son = entity_of(UNCERTAIN[0]), entity_of(UNCERTAIN[1])
    records = {r.source_key: r for r in SourceRecord.objects.filter(source_key__in=UNCERTAIN)}
    with django_capture_on_commit_callbacks(execute=True):
        review.judgement_record(actor=steward, record_a=records["HK8"], record_b=records["TEL9"],
                                verdict="confirmed")
    survivor = min(father, son)
    assert [r.entity_id for r in selectors.search(officer, "周晓明").results] == [survivor]
    assert {r.entity_id for r in selectors.search(officer, "周杰").results} == {survivor}
    # An analyst splits the telecom record off 陈大文: a new entity 陳大文 appears.
    p1 = Entity.objects.get(pk=entity_of("HK1"))
    with django_capture_on_commit_callbacks(execute=True):
        new = review.entity_split(actor=steward, entity=p1, record_ids=[province.rid("TEL1")])
    assert sorted((r.entity_id, r.title) for r in selectors.search(officer, "陈大文").results) == [
        (p1.pk, "陈大文"), (new.pk, "陳大文")]

    incremental = snapshot(officer)
    services.index_rebuild()
    assert snapshot(officer) == incremental
    assert incremental["周晓明"][0] == 1 and incremental["钱多多"][0] == 1


def test_nothing_reaches_the_index_when_the_transaction_rolls_back(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    e1 = entity_of("HK1")
    Entity.objects.filter(pk=e1).update(display_name="改名")
    index_entities([e1])  # inside the test's transaction, which never commits
    assert [r.title for r in selectors.search(officer, "陈大文").results] == ["陈大文"]


def test_removed_entities_leave_the_index(province: Province) -> None:
    officer = user_with("officer", "officer", province.tree.province)
    e1 = entity_of("HK1")
    survivor = entity_of("HK2")
    Entity.objects.filter(pk=e1).update(merged_into_id=survivor)  # as a merge leaves it
    assert services.index_update(doc_type=ENTITY, ids=[e1]) == 0
    assert selectors.search(officer, "陈大文").total == 0


def test_status_reports_documents_per_type_queued_changes_and_lag(province: Province, monkeypatch: Any,
                                                                  django_capture_on_commit_callbacks: Any) -> None:
    status = selectors.index_status()
    total = Entity.objects.filter(merged_into__isnull=True).count()
    assert [(t.name, t.indexed, t.in_database) for t in status.types] == [(ENTITY, total, total)]
    assert (status.pending_jobs, status.lag_seconds) == (0, 0.0)
    assert status.kinds == {"person": 9, "phone": 8, "place": 8, "vehicle": 1, "account": 1, "organization": 1}
    # Jobs queued but not run (the consumer is not running): status shows them and their wait.
    monkeypatch.setattr(HUEY, "immediate_use_memory", False)  # keep the in-memory queue when switching
    monkeypatch.setattr(HUEY, "immediate", False)
    with django_capture_on_commit_callbacks(execute=True):
        index_entities([entity_of("HK1"), entity_of("HK2")])
    waiting = selectors.index_status()
    assert waiting.pending_jobs == 1 and waiting.lag_seconds >= 0.0
    assert [(t.indexed, t.in_database) for t in waiting.types] == [(total, total)]
    out = io.StringIO()
    call_command("index", "status", stdout=out)
    assert "Queued index jobs: 1" in out.getvalue()
    job = HUEY.dequeue()
    monkeypatch.setattr(HUEY, "immediate", True)  # run it here, in the test's transaction
    HUEY.execute(job)
    assert selectors.index_status().pending_jobs == 0


def test_the_index_command_rebuilds_with_a_report_and_shows_status(province: Province) -> None:
    out = io.StringIO()
    call_command("index", "rebuild", "--workers", "1", stdout=out, verbosity=0)
    total = Entity.objects.filter(merged_into__isnull=True).count()
    lines = out.getvalue().splitlines()
    assert lines[0] == f"  {'records.entity':<24} {total:>10,} documents"
    assert lines[1].startswith(f"Rebuilt {total:,} documents in ") and lines[1].endswith("1 worker).")
    entry = AuditEntry.objects.filter(action="search.index_rebuild").order_by("-pk").first()
    assert entry is not None and entry.details["documents"] == {ENTITY: total}
    status = io.StringIO()
    call_command("index", "status", stdout=status)
    text = status.getvalue()
    assert f"  {'records.entity':<24} {total:>10,} {total:>12,}\n" in text
    assert "Queued index jobs: 0; lag: 0.0 s (nothing waiting)" in text
    with pytest.raises(Exception, match="no search document type 'nope'"):
        call_command("index", "rebuild", "--type", "nope", stdout=io.StringIO())


def test_documents_are_built_with_a_fixed_number_of_queries(province: Province,
                                                           django_assert_num_queries: Any) -> None:
    few = [entity_of("HK1")]
    many = list(Entity.objects.filter(merged_into__isnull=True).values_list("pk", flat=True))
    with django_assert_num_queries(3):
        assert len(build_entities(few)) == 1
    with django_assert_num_queries(3):
        docs = build_entities(many)
    assert len(docs) == len(many)
    p1 = next(d for d in docs if d.id == entity_of("HK1"))
    assert sorted(p1.names) == ["陈大文", "陳大文"]
    assert not any(ident in text for text in p1.text for _kind, ident in p1.identifiers
                   if _kind == "resident_id")  # ID numbers never in the text a result shows
    # Not even under a field name of a source's own: ID-like numbers in record text are masked.
    hotel = SourceRecord.objects.get(pk=province.rid("HT1"))
    SourceRecord.objects.filter(pk=hotel.pk).update(payload={**hotel.payload, "证件号码": ID1, "房卡": "1234"})
    (p1,) = build_entities([entity_of("HK1")])
    stay = next(t for t in p1.text if t.startswith("旅馆业"))
    assert ID1 not in stay and f"{ID1[:4]}**********{ID1[-4:]}" in stay and "1234" in stay


def test_documents_are_the_same_whichever_ids_come_together(province: Province) -> None:
    """Close ids are read as a range and picked, scattered ones as a list: the same documents."""
    live = list(Entity.objects.filter(merged_into__isnull=True).order_by("pk").values_list("pk", flat=True))
    one_by_one = {pk: build_entities([pk])[0] for pk in live}
    assert {d.id: d for d in build_entities(live)} == one_by_one  # a range
    gappy = live[:3] + live[4:8]  # a range with a hole: the hole is not built
    assert [d.id for d in build_entities(gappy)] == gappy
    assert build_entities(gappy) == [one_by_one[pk] for pk in gappy]
    scattered = [live[0], live[-1]]  # spread wider than twice their number: a list
    assert build_entities(scattered) == [one_by_one[pk] for pk in scattered]
    # An entity merged away has no document, read in a range or in a list.
    Entity.objects.filter(pk=live[2]).update(merged_into=live[0])
    assert [d.id for d in build_entities(live[:4])] == [live[0], live[1], live[3]]
    assert [d.id for d in build_entities([live[2], live[-1]])] == [live[-1]]


def _doc(pk: int, name: str) -> SearchDocument:
    return SearchDocument(doc_type="test.thing", id=pk, kind="person", title=name, unit_path="370000/",
                          names=[name])


def test_one_writer_at_a_time_and_readers_see_every_commit(tmp_path: Path) -> None:
    writer_a = TantivyBackend(tmp_path / "idx")
    writer_b = TantivyBackend(tmp_path / "idx")  # as another process would open it
    reader = TantivyBackend(tmp_path / "idx")
    assert reader.count() == {}
    errors: list[BaseException] = []

    def write(backend: TantivyBackend, start: int) -> None:
        try:
            backend.index([_doc(start + i, f"名{start + i}") for i in range(50)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(b, s)) for b, s in ((writer_a, 0), (writer_b, 1000),
                                                                         (writer_a, 2000), (writer_b, 3000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert reader.count() == {"test.thing": 200}
    writer_b.index([_doc(1, "改名")])  # the same key again: replaced, not added
    assert reader.count() == {"test.thing": 200}
    writer_a.delete(["test.thing:2", "test.thing:3"])
    assert reader.count() == {"test.thing": 198}


def test_the_configured_folder_is_this_tests_own(index_folder: Path) -> None:
    assert get_backend().directory == index_folder



def test_an_index_with_another_schema_is_refused_until_rebuilt(province: Province, settings: Any,
                                                               tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    (stale / INDEX_FOLDER).mkdir(parents=True)
    old = tantivy.SchemaBuilder()
    old.add_text_field("title", stored=True)
    tantivy.Index(old.build(), path=str(stale / INDEX_FOLDER))
    with pytest.raises(SchemaMismatch, match="jingwu index rebuild"):
        TantivyBackend(stale).count()
    settings.JINGWU_SEARCH_DIR = stale
    officer = user_with("officer", "officer", province.tree.province)
    report = services.index_rebuild()
    assert report.total == Entity.objects.filter(merged_into__isnull=True).count()
    assert selectors.search(officer, "陈大文").total == 1
