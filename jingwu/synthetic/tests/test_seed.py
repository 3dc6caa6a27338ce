"""Seeding a database: units, demo users, sources, people, ground truth, idempotence."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from jingwu.core import access
from jingwu.core.models import AuditEntry, Unit, User
from jingwu.core.services import ServiceError
from jingwu.records.mapping import Mapping
from jingwu.records.models import ImportBatch, Source, SourceRecord
from jingwu.records.readers import RawRow
from jingwu.records.rows import GoodRow, content_hash, normalize_row
from jingwu.synthetic import ground_truth, selectors, services
from jingwu.synthetic.people import BLOCK_SIZE, SOURCES, Registry, households_to_wire
from jingwu.synthetic.province import province_layout
from jingwu.synthetic.rendering import BlockTask, ChunkRenderer, StoreTargets

pytestmark = pytest.mark.django_db


def stored() -> dict[tuple[str, str], str]:
    """(source key, source) → content hash of every stored record."""
    return {(source, key): digest for source, key, digest in
            SourceRecord.objects.values_list("source__key", "source_key", "content_hash")}


def expected(seed: int, cities: int, people: int) -> dict[tuple[str, str], str]:
    """The same, computed without a database."""
    layout = province_layout(cities)
    targets = StoreTargets(source_ids={k: n for n, k in enumerate(SOURCES)}, batch_ids=dict.fromkeys(SOURCES, 0),
                           grid_unit_ids=tuple(range(len(layout.grids))), received_at="", form="rows")
    names = dict(enumerate(SOURCES))
    renderer, registry = ChunkRenderer(seed, cities, targets), Registry(seed, cities, layout)
    out = {}
    for block in range((people + BLOCK_SIZE - 1) // BLOCK_SIZE):
        households = households_to_wire(registry.block(block))
        chunk = renderer.render([BlockTask(block, households, 0, 0, min(people, (block + 1) * BLOCK_SIZE))])
        out.update({(names[row[0]], row[1]): row[4] for row in chunk.rows})
    return out


def test_seed_stores_people_their_records_and_the_ground_truth(tmp_path: Path) -> None:
    report = services.synthetic_seed(people=300, cities=1, seed=11, ground_truth_directory=tmp_path)
    assert report.people.people_before == 0 and report.people.people_after == 300
    assert {s.key: s.trust_rank for s in Source.objects.all()} == {k: rank for k, (_n, rank) in SOURCES.items()}

    records = stored()
    assert records == expected(11, 1, 300)
    assert SourceRecord.objects.filter(source__key="hukou").count() == 300
    assert sum(report.people.records.values()) == len(records)
    for record in SourceRecord.objects.select_related("unit")[:400]:
        # Hashed as `jingwu import` hashes a row: over the fields it normalises to.
        cells: dict[str, str | None] = {name: str(value) for name, value in record.payload.items()}
        cells["id"] = record.source_key
        normalised = normalize_row(RawRow(0, cells), Mapping.identity(record.kind))
        assert isinstance(normalised, GoodRow)
        assert record.content_hash == content_hash(normalised.fields)
        assert record.unit is not None
        assert record.unit.kind == "grid" and record.unit.path.startswith("370000/370100/")
        assert record.superseded_by_id is None
    hukou = SourceRecord.objects.filter(source__key="hukou").select_related("unit").first()
    assert hukou is not None and hukou.kind == "person" and hukou.unit is not None
    assert hukou.unit.code.startswith(hukou.payload["division_code"])
    for batch in ImportBatch.objects.all():
        assert batch.finished_at is not None
        assert batch.rows_imported == report.people.records[batch.source.key]

    # The ground truth names every stored record exactly once, with its owner.
    path = report.people.ground_truth
    assert path == tmp_path / "ground_truth-seed11-c1.jsonl.gz"
    people = list(ground_truth.read_people(path))
    assert [p.person for p in people] == list(range(300))
    owners = ground_truth.record_owners(path)
    assert set(owners) == set(records)
    first = people[0]
    row = SourceRecord.objects.get(source__key="hukou", source_key=first.records[0].key)
    assert (row.payload["name"], row.payload["id_number"]) == (first.name, first.id_number)
    assert sum(len(m) for m in ground_truth.households(path).values()) == 300
    assert AuditEntry.objects.filter(action="synthetic.people_store").count() == 1


def test_seed_is_idempotent_and_adds_only_missing_people(tmp_path: Path) -> None:
    services.synthetic_seed(people=300, cities=1, seed=11, ground_truth_directory=tmp_path)
    units, users = Unit.objects.count(), User.objects.count()
    again = services.synthetic_seed(people=300, cities=1, seed=11, ground_truth_directory=tmp_path)
    assert again.province.units_created == 0 and again.people.people_after == 300
    assert (Unit.objects.count(), User.objects.count()) == (units, users)
    assert SourceRecord.objects.filter(source__key="hukou").count() == 300

    more = services.synthetic_seed(people=1250, cities=1, seed=11, ground_truth_directory=tmp_path)
    assert (more.people.people_before, more.people.people_after) == (300, 1250)
    assert not more.people.ground_truth_rebuilt
    # Person i is the same whether stored in one run or in two.
    assert stored() == expected(11, 1, 1250)
    path = more.people.ground_truth
    assert [p.person for p in ground_truth.read_people(path)] == list(range(1250))
    assert set(ground_truth.record_owners(path)) == set(stored())
    assert selectors.seed_state().people == 1250  # type: ignore[union-attr]

    # A ground-truth file that does not match the database is rebuilt, not trusted.
    path.write_bytes(b"")
    rebuilt = services.synthetic_seed(people=1250, cities=1, seed=11, ground_truth_directory=tmp_path)
    assert rebuilt.people.ground_truth_rebuilt
    assert len(list(ground_truth.read_people(path))) == 1250

    with pytest.raises(ServiceError, match="mix two populations"):
        services.synthetic_seed(people=10, cities=1, seed=12, ground_truth_directory=tmp_path)


def test_worker_processes_store_the_same_people(tmp_path: Path) -> None:
    services.province_build(cities=1)
    result = services.people_store(seed=11, cities=1, people=2500, workers=1, ground_truth_directory=tmp_path)
    assert result.workers == 1
    assert stored() == expected(11, 1, 2500)


def test_demo_users_hold_every_role_at_sensible_units(tmp_path: Path) -> None:
    services.synthetic_seed(people=0, cities=1, seed=11, ground_truth_directory=tmp_path)
    accounts = selectors.demo_accounts()
    roles = [a.role for a in accounts]
    assert roles == [r for r in access.ROLES if r != "partner"] + ["partner"]
    places = {a.username: a.unit_name for a in accounts}
    assert places["demo_officer"] == places["demo_station_chief"] == "解放路派出所"
    assert places["demo_investigator"] == "济南市公安局刑侦支队"
    assert places["demo_legal_reviewer"] == "济南市公安局法制支队"
    assert places["demo_dispatcher"] == places["demo_commander"] == "济南市公安局指挥中心"
    assert places["demo_fraud_analyst"] == "济南市公安局反诈中心"
    assert places["demo_inspector"] == "济南市公安局督察支队"
    assert places["demo_administrator"] == places["demo_data_steward"] == places["partner_demo_bank"] == "山东省公安厅"

    officer = authenticate(username="demo_officer", password=services.DEMO_PASSWORD)
    assert isinstance(officer, User) and officer.home_unit is not None
    assert officer.home_unit.code == "370102001"
    assert access.can(officer, access.Action.PERSON_READ, Unit.objects.get(code="370102001G01"))
    assert not access.can(officer, access.Action.PERSON_READ, Unit.objects.get(code="370103"))
    investigator = User.objects.get(username="demo_investigator")
    assert access.can(investigator, access.Action.CASE_DECIDE, Unit.objects.get(code="370102001"))

    admin = User.objects.get(username="demo_administrator")
    assert access.needs_second_factor(admin)
    device = TOTPDevice.objects.get(user=admin)
    assert device.confirmed and device.key == services.demo_totp_key(11)
    assert device.config_url.startswith("otpauth://totp/jingwu%3Ademo_administrator?secret=")


def test_seed_command_prints_a_summary(tmp_path: Path, settings: object) -> None:
    settings.VAR_DIR = tmp_path  # type: ignore[attr-defined]
    out = io.StringIO()
    call_command("seed", people=150, cities=1, seed=5, verbosity=0, stdout=out)
    text = out.getvalue()
    assert "Province 370000: created" in text
    assert "demo_officer" in text and "jingwu-demo-2026" in text and "otpauth://totp/" in text
    assert "People: added 150 (now 150) of seed 5" in text
    assert str(tmp_path / "synthetic" / "ground_truth-seed5-c1.jsonl.gz") in text

    out = io.StringIO()
    call_command("seed", people=150, cities=1, seed=5, verbosity=0, stdout=out)
    assert "exists with" in out.getvalue() and "reused" in out.getvalue()
    assert "already holds 150 people of seed 5" in out.getvalue()

    with pytest.raises(CommandError, match="cities must be"):
        call_command("seed", cities=0, verbosity=0, stdout=io.StringIO())
