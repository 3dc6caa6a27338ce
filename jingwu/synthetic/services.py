"""Writes of the synthetic province: the organisation tree, demo users, source systems
and the people's source records.

`synthetic_seed()` does all of it and is idempotent: units, users and sources that
exist are kept, and people are numbered, so asking for more people than the database
holds adds only the missing ones. Source records are written in bulk — one
transaction per chunk of people, `executemany` on SQLite and `COPY … FROM STDIN` on
PostgreSQL — while worker processes generate the next chunks.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, Protocol

from django.db import connection, transaction
from django.utils import timezone

from jingwu.core import access, audit
from jingwu.core import services as core_services
from jingwu.core.models import Unit, UnitKind, User
from jingwu.core.services import ServiceError
from jingwu.records import services as records_services
from jingwu.records.models import ImportBatch, Source, SourceRecord
from jingwu.synthetic.ground_truth import GroundTruthWriter, ground_truth_path
from jingwu.synthetic.models import SeedState
from jingwu.synthetic.people import BLOCK_SIZE, GENERATOR_VERSION, SOURCES, Registry, households_to_wire
from jingwu.synthetic.province import (
    PROVINCE_CODE,
    ProvinceLayout,
    province_layout,
    unit_plan,
)
from jingwu.synthetic.rendering import (
    RECORD_COLUMNS,
    BlockTask,
    ChunkRenderer,
    RenderedChunk,
    RowForm,
    StoreTargets,
    worker_init,
    worker_render,
)
from jingwu.synthetic.selectors import PARTNER_DEMO_USERNAME, DemoAccount

DEMO_PASSWORD = "jingwu-demo-2026"
# The source the demo partner (a bank) may push to.
PARTNER_DEMO_SOURCE = "bank"
# Where each role's demo user works: a station, a department of the first city, or the province.
DEMO_PLACES: dict[str, str] = {
    "officer": "station", "auxiliary": "station", "station_chief": "station",
    "investigator": "criminal_investigation", "legal_reviewer": "legal",
    "dispatcher": "command_centre", "commander": "command_centre",
    "fraud_analyst": "anti_fraud", "inspector": "inspection",
    "data_steward": "province", "administrator": "province",
}
# People per chunk: one transaction, one gzip member of ground truth, one unit of work
# for a worker process.
CHUNK_BLOCKS = 10
# Below this many people to generate, worker processes cost more than they save.
PARALLEL_THRESHOLD = 50_000

# Called with (people just finished, people this run generates in all).
Progress = Callable[[int, int], None]


# --- the organisation tree ----------------------------------------------------------------

@dataclass(frozen=True)
class ProvinceBuild:
    layout: ProvinceLayout
    units_created: int
    units_total: int


def province_build(*, cities: int) -> ProvinceBuild:
    """Create every unit of the first `cities` cities that does not exist yet (through
    core.services.unit_create, so each is audited)."""
    layout = province_layout(cities)
    existing = {u.code: u for u in Unit.objects.filter(path__startswith=f"{PROVINCE_CODE}/")}
    created = total = 0
    for spec in unit_plan(layout):
        total += 1
        if spec.code in existing:
            continue
        parent = existing[spec.parent_code] if spec.parent_code else None
        existing[spec.code] = core_services.unit_create(
            actor=None, code=spec.code, name=spec.name, kind=spec.kind, parent=parent,
            division_code=spec.division_code, department=spec.department, geometry=spec.geometry)
        created += 1
    return ProvinceBuild(layout=layout, units_created=created, units_total=total)


# --- demo users ------------------------------------------------------------------------------

def _demo_unit(layout: ProvinceLayout, place: str) -> Unit:
    if place == "province":
        return Unit.objects.get(code=PROVINCE_CODE)
    if place == "station":
        return Unit.objects.get(code=layout.townships[0].station_code)
    return Unit.objects.get(parent__code=layout.cities[0].code, kind=UnitKind.DEPARTMENT, department=place)


def demo_totp_key(seed: int) -> str:
    """The demo administrator's TOTP secret (20 bytes, hex): derived from the seed so a
    rebuilt demo keeps working with an authenticator enrolled before."""
    return hashlib.sha256(f"jingwu-demo-totp/{seed}".encode()).hexdigest()[:40]


def demo_users_ensure(*, layout: ProvinceLayout, seed: int) -> tuple[list[DemoAccount], str]:
    """One demo user per role (and a partner bank), all with DEMO_PASSWORD; returns the
    accounts and the otpauth URI of the administrator's TOTP device."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    wanted = [(f"demo_{role}", role, DEMO_PLACES.get(role, "province")) for role in access.ROLES if role != "partner"]
    wanted.append((PARTNER_DEMO_USERNAME, "partner", "province"))
    accounts = []
    for username, role, place in wanted:
        unit = _demo_unit(layout, place)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = core_services.user_create(actor=None, username=username, password=DEMO_PASSWORD,
                                             display_name=f"{access.ROLES[role].label}（演示）", home_unit=unit)
        if not user.role_assignments.filter(role=role, unit=unit, active=True).exists():
            core_services.role_grant(actor=None, user=user, role=role, unit=unit)
        accounts.append(DemoAccount(username, role, unit.name))
    admin = User.objects.get(username="demo_administrator")
    device, _created = TOTPDevice.objects.get_or_create(
        user=admin, name="demo", defaults={"key": demo_totp_key(seed), "confirmed": True})
    return accounts, device.config_url


# --- source systems --------------------------------------------------------------------------

def sources_ensure() -> dict[str, Source]:
    """The source systems the synthetic people are recorded in."""
    out = {}
    for key, (name, trust_rank) in SOURCES.items():
        out[key], _created = Source.objects.get_or_create(key=key, defaults={"name": name, "trust_rank": trust_rank})
    return out


def partner_feed_ensure(source: Source) -> None:
    """The demo partner bank pushes the bank source's feed (unless another partner does)."""
    if source.partner_id is None:
        partner = User.objects.get(username=PARTNER_DEMO_USERNAME)
        records_services.source_partner_set(actor=None, source=source, partner=partner)


# --- people ------------------------------------------------------------------------------------

class _RecordWriter(Protocol):
    form: RowForm

    def received_at(self) -> str: ...

    def write(self, chunk: RenderedChunk) -> None: ...

    def close(self) -> None: ...


_TABLE = SourceRecord._meta.db_table


class _SqliteWriter:
    form: RowForm = "rows"
    # A bigger page cache keeps the indexes being appended to in memory (default: 2 MB).
    _CACHE_KIB = 256 * 1024

    def __init__(self) -> None:
        connection.ensure_connection()
        self._raw: Any = connection.connection
        self._old_cache = self._raw.execute("PRAGMA cache_size").fetchone()[0]
        self._raw.execute(f"PRAGMA cache_size = -{self._CACHE_KIB}")
        placeholders = ", ".join("?" for _ in RECORD_COLUMNS)
        # Table and column names are constants of this module, not input.
        self._sql = f'INSERT INTO "{_TABLE}" ({", ".join(RECORD_COLUMNS)}) VALUES ({placeholders})'  # noqa: S608

    def received_at(self) -> str:
        return str(connection.ops.adapt_datetimefield_value(timezone.now()))

    def write(self, chunk: RenderedChunk) -> None:
        self._raw.cursor().executemany(self._sql, chunk.rows)

    def close(self) -> None:
        self._raw.execute(f"PRAGMA cache_size = {int(self._old_cache)}")


class _PostgresWriter:
    form: RowForm = "copy"

    def __init__(self) -> None:
        self._sql = f'COPY "{_TABLE}" ({", ".join(RECORD_COLUMNS)}) FROM STDIN'

    def received_at(self) -> str:
        return timezone.now().isoformat()

    def write(self, chunk: RenderedChunk) -> None:
        with connection.cursor() as cursor:
            # The chunk and its progress mark commit together; waiting for the WAL flush
            # of each chunk buys nothing a re-run would not redo.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            raw = cursor.connection  # the psycopg connection under Django's wrapper
            with raw.cursor() as pg_cursor, pg_cursor.copy(self._sql) as copy:
                copy.write(chunk.copy_data)

    def close(self) -> None:
        pass


def _record_writer() -> _RecordWriter:
    if connection.vendor == "sqlite":
        return _SqliteWriter()
    if connection.vendor == "postgresql":
        return _PostgresWriter()
    raise ServiceError(f"seeding people needs SQLite or PostgreSQL, not {connection.vendor}")


@dataclass
class PeopleStoreResult:
    people_before: int
    people_after: int
    ground_truth: Path
    records: Counter[str] = field(default_factory=Counter)
    ground_truth_rebuilt: bool = False
    workers: int = 0


def _seed_state(seed: int, cities: int) -> SeedState:
    state = SeedState.objects.filter(pk=1).first()
    if state is None:
        return SeedState.objects.create(pk=1, seed=seed, cities=cities, generator_version=GENERATOR_VERSION)
    if (state.seed, state.cities, state.generator_version) != (seed, cities, GENERATOR_VERSION):
        if state.people:
            raise ServiceError(
                f"this database holds {state.people} synthetic people of seed {state.seed} "
                f"({state.cities} cities, generator v{state.generator_version}); seed {seed} with {cities} cities "
                f"would mix two populations — use a fresh database", field="seed")
        state.seed, state.cities, state.generator_version = seed, cities, GENERATOR_VERSION
        state.save(update_fields=["seed", "cities", "generator_version"])
    return state


def _chunk_tasks(registry: Registry, *, ground_truth_from: int, store_from: int,
                 stop: int) -> Iterator[list[BlockTask]]:
    """Blocks [ground_truth_from, stop) in chunks; the registry runs here, in order."""
    first_block = ground_truth_from // BLOCK_SIZE
    last_block = (stop + BLOCK_SIZE - 1) // BLOCK_SIZE
    registry.skip_to(first_block)
    for chunk_start in range(first_block, last_block, CHUNK_BLOCKS):
        tasks = []
        for block in range(chunk_start, min(chunk_start + CHUNK_BLOCKS, last_block)):
            tasks.append(BlockTask(block=block, households=households_to_wire(registry.block(block)),
                                   ground_truth_from=ground_truth_from, store_from=store_from,
                                   stop=min(stop, (block + 1) * BLOCK_SIZE)))
        yield tasks


def _rendered(task_chunks: Iterator[list[BlockTask]], *, seed: int, cities: int, targets: StoreTargets,
              workers: int) -> Iterator[RenderedChunk]:
    """Rendered chunks in order; with workers, rendered ahead in other processes (a
    bounded number in flight, so memory stays flat however slow the database is)."""
    if workers == 0:
        renderer = ChunkRenderer(seed, cities, targets)
        for tasks in task_chunks:
            yield renderer.render(tasks)
        return
    # spawn, not fork: the parent holds a database connection and may run threads.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=worker_init, initargs=(seed, cities, targets)) as pool:
        pending: deque[AsyncResult[RenderedChunk]] = deque()
        for tasks in task_chunks:
            pending.append(pool.apply_async(worker_render, (tasks,)))
            while len(pending) > 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def people_generate(*, seed: int, cities: int, people: int, workers: int,
                    form: RowForm = "rows") -> Iterator[RenderedChunk]:
    """People 0 … people-1 rendered to rows and ground truth but not stored: the same
    pipeline as people_store without the database, to show what storing costs."""
    layout = province_layout(cities)
    targets = StoreTargets(source_ids={k: n for n, k in enumerate(SOURCES, 1)},
                           batch_ids={k: n for n, k in enumerate(SOURCES, 1)},
                           grid_unit_ids=tuple(range(1, len(layout.grids) + 1)), received_at="", form=form)
    chunks = _chunk_tasks(Registry(seed, cities, layout), ground_truth_from=0, store_from=0, stop=people)
    return _rendered(chunks, seed=seed, cities=cities, targets=targets, workers=workers)


def people_store(*, seed: int, cities: int, people: int, workers: int | None = None,
                 ground_truth_directory: Path | None = None, progress: Progress | None = None) -> PeopleStoreResult:
    """Make the database hold people 0 … people-1 of the seed, and the ground-truth file
    describe them. Needs the province's units (province_build) first."""
    state = _seed_state(seed, cities)
    start = state.people
    layout = province_layout(cities)
    path = ground_truth_path(seed, cities, ground_truth_directory)
    result = PeopleStoreResult(people_before=start, people_after=max(start, people), ground_truth=path)
    writer_gt = GroundTruthWriter(path, seed=seed, cities=cities, resume_from=start, extend_to=max(start, people),
                                  chunk_size=CHUNK_BLOCKS * BLOCK_SIZE)
    result.ground_truth_rebuilt = writer_gt.rebuilt
    stop = max(start, people)
    if writer_gt.start >= stop:
        writer_gt.close()
        return result

    grid_units = dict(Unit.objects.filter(kind=UnitKind.GRID, path__startswith=f"{PROVINCE_CODE}/")
                      .values_list("code", "pk"))
    missing = [g.code for g in layout.grids if g.code not in grid_units]
    if missing:
        raise ServiceError(f"{len(missing)} grid units are missing (first {missing[0]}): build the province first")
    sources = sources_ensure()
    record_writer = _record_writer()
    batches: dict[str, ImportBatch] = {}
    if stop > start:
        for key, source in sources.items():
            batches[key] = ImportBatch.objects.create(
                source=source, label=f"synthetic seed {seed} ({cities} cities): people {start}–{stop - 1}")
    targets = StoreTargets(
        source_ids={k: s.pk for k, s in sources.items()},
        batch_ids={k: b.pk for k, b in batches.items()},
        grid_unit_ids=tuple(grid_units[g.code] for g in layout.grids),
        received_at=record_writer.received_at(),
        form=record_writer.form,
    )
    to_generate = stop - writer_gt.start
    if workers is None:
        workers = 0 if to_generate < PARALLEL_THRESHOLD else min(2, os.cpu_count() or 1)
    result.workers = workers

    registry = Registry(seed, cities, layout)
    chunks = _chunk_tasks(registry, ground_truth_from=writer_gt.start, store_from=start, stop=stop)
    done = writer_gt.start
    try:
        for chunk in _rendered(chunks, seed=seed, cities=cities, targets=targets, workers=workers):
            if chunk.stored_people:
                with transaction.atomic():
                    record_writer.write(chunk)
                    SeedState.objects.filter(pk=1).update(people=chunk.stop, updated_at=timezone.now())
                result.records.update(chunk.counts)
            writer_gt.append(chunk.ground_truth, chunk.stop)
            if progress is not None:
                progress(chunk.stop - done, to_generate)
            done = chunk.stop
    finally:
        record_writer.close()
        writer_gt.close()

    now = timezone.now()
    with transaction.atomic():
        for key, batch in batches.items():
            batch.rows_read = batch.rows_imported = result.records[key]
            batch.finished_at = now
            batch.save(update_fields=["rows_read", "rows_imported", "finished_at"])
        audit.record(actor=None, action="synthetic.people_store", object_type="seed", object_id=seed,
                     details={"cities": cities, "people_from": start, "people_to": stop,
                              "records": dict(result.records), "ground_truth": str(path)})
    return result


# --- everything ----------------------------------------------------------------------------

@dataclass
class SeedReport:
    seed: int
    cities: int
    province: ProvinceBuild
    demo_accounts: list[DemoAccount]
    totp_uri: str
    people: PeopleStoreResult
    seconds: float


def synthetic_seed(*, people: int, cities: int, seed: int, workers: int | None = None,
                   ground_truth_directory: Path | None = None, progress: Progress | None = None) -> SeedReport:
    """Build (or extend) the synthetic province: units, demo users, sources, people."""
    started = time.monotonic()
    if people < 0:
        raise ServiceError("people must not be negative", field="people")
    province = province_build(cities=cities)
    accounts, totp_uri = demo_users_ensure(layout=province.layout, seed=seed)
    partner_feed_ensure(sources_ensure()[PARTNER_DEMO_SOURCE])
    stored = people_store(seed=seed, cities=cities, people=people, workers=workers,
                          ground_truth_directory=ground_truth_directory, progress=progress)
    return SeedReport(seed=seed, cities=cities, province=province, demo_accounts=accounts, totp_uri=totp_uri,
                      people=stored, seconds=time.monotonic() - started)
