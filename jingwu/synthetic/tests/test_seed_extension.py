"""Extending a seeded database gives exactly what a fresh seed of the new size gives: the
same source keys, the same content hashes, the same ground-truth file, byte for byte; and a
seeded record exported and imported again is unchanged."""

from __future__ import annotations

import gzip
import hashlib
import json
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from jingwu.records.models import ImportBatch, Source, SourceRecord
from jingwu.synthetic import ground_truth, services
from jingwu.synthetic.models import SeedState
from jingwu.synthetic.people import SOURCES

pytestmark = pytest.mark.django_db


def stored() -> dict[tuple[str, str], str]:
    return {(source, key): digest for source, key, digest in
            SourceRecord.objects.values_list("source__key", "source_key", "content_hash")}


def forget_people() -> None:
    """A database without synthetic people (units, users and sources stay)."""
    SourceRecord.objects.all().delete()
    ImportBatch.objects.all().delete()
    SeedState.objects.all().delete()


def seed(people: int, directory: Path) -> services.PeopleStoreResult:
    return services.synthetic_seed(people=people, cities=1, seed=11, ground_truth_directory=directory).people


def fresh(people: int, directory: Path) -> tuple[dict[tuple[str, str], str], bytes]:
    forget_people()
    result = seed(people, directory)
    return stored(), result.ground_truth.read_bytes()


@pytest.mark.parametrize(("steps", "chunk_blocks"), [
    ((300, 400), 10),  # inside one block (1,000 people) and one chunk
    ((300, 1250, 2000), 1),  # across blocks and chunks (of 1,000 people here)
    ((999, 1000, 1001), 1),  # up to a chunk's end, then one past it
])
def test_extending_equals_a_fresh_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: tuple[int, ...],
                                       chunk_blocks: int) -> None:
    monkeypatch.setattr(services, "CHUNK_BLOCKS", chunk_blocks)
    extended = tmp_path / "extended"
    before: dict[tuple[str, str], str] = {}
    for people in steps:
        result = seed(people, extended)
        now = stored()
        # Exactly the new people's records were added; none before them changed.
        assert {k: v for k, v in now.items() if k in before} == before
        batches = ImportBatch.objects.filter(label__endswith=f"people {result.people_before}–{people - 1}")
        assert sum(b.rows_imported for b in batches) == len(now) - len(before)
        assert not result.ground_truth_rebuilt
        before = now
    extended_file = (extended / "ground_truth-seed11-c1.jsonl.gz").read_bytes()

    records, truth = fresh(steps[-1], tmp_path / "fresh")

    assert before == records
    assert extended_file == truth
    numbers = [p.person for p in ground_truth.read_people(extended / "ground_truth-seed11-c1.jsonl.gz")]
    assert numbers == list(range(steps[-1]))


def test_a_lost_ground_truth_is_rebuilt_the_same(tmp_path: Path) -> None:
    seed(300, tmp_path / "a")
    (tmp_path / "a" / "ground_truth-seed11-c1.jsonl.gz").unlink()
    result = seed(400, tmp_path / "a")
    assert result.ground_truth_rebuilt
    records, truth = stored(), result.ground_truth.read_bytes()
    assert (records, truth) == fresh(400, tmp_path / "b")


def test_seeding_the_same_number_again_leaves_the_file_alone(tmp_path: Path) -> None:
    first = seed(300, tmp_path)
    content = first.ground_truth.read_bytes()
    manifest = ground_truth.read_manifest(first.ground_truth)
    again = seed(300, tmp_path)
    assert (again.people_before, again.people_after, again.ground_truth.read_bytes()) == (300, 300, content)
    assert ground_truth.read_manifest(first.ground_truth) == manifest
    assert len(gzip.decompress(content).splitlines()) == 300


def test_seeded_records_exported_and_imported_again_are_unchanged(tmp_path: Path) -> None:
    seed(300, tmp_path)
    before = stored()
    for source in SOURCES:
        path = tmp_path / f"{source}.ftm"
        call_command("export", "--format", "ftm", "--source", source, "--out", str(path), stderr=StringIO())
        count = sum(1 for key in before if key[0] == source)
        out = StringIO()

        call_command("import", "--source", source, str(path), stdout=out)

        batch = ImportBatch.objects.latest("pk")
        assert (batch.rows_read, batch.rows_imported, batch.rows_unchanged, batch.rows_quarantined) == (
            count, 0, count, 0), (source, out.getvalue())
    assert stored() == before
    assert not SourceRecord.objects.filter(superseded_by__isnull=False).exists()


def test_records_seeded_before_are_hashed_again_by_the_migration(tmp_path: Path) -> None:
    from importlib import import_module

    migration = import_module("jingwu.records.migrations.0005_seeded_records_hash_normalised_fields")
    editor: Any = SimpleNamespace(connection=connection)
    seed(300, tmp_path)
    now = stored()
    migration.backwards(apps, editor)  # as an older seed hashed them: over the payload
    old = stored()
    assert old == {(source, key): hashlib.sha256(json.dumps(
        payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
        for source, key, payload in SourceRecord.objects.values_list("source__key", "source_key", "payload")}
    # 户籍 says 男/女 where the fields say M/F: every one of its hashes changes.
    assert all(old[key] != now[key] for key in now if key[0] == "hukou")

    migration.forwards(apps, editor)

    assert stored() == now


def test_the_demo_bank_may_push_the_bank_feed(tmp_path: Path) -> None:
    seed(0, tmp_path)
    bound = dict(Source.objects.filter(partner__isnull=False).values_list("key", "partner__username"))
    assert bound == {"bank": "partner_demo_bank"}
