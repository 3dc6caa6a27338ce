"""Signals through a real NATS JetStream: partitioning, deduplication by message id, and
a worker killed with SIGKILL mid-batch that loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection
from django.test import Client

from jingwu.antifraud import early_warning, streams
from jingwu.antifraud.tests.conftest import ACCOUNT_A, Desk
from jingwu.antifraud.tests.nats_server import _free_port, running_nats
from jingwu.antifraud.warning_models import FraudWarning, Signal
from jingwu.core import identifiers, tokens
from jingwu.core.models import User, WorkItem, WorkItemStatus
from jingwu.core.tests.factories import make_user

FRAUD_PHONE = "+8617100001234"
CITIZENS = 20
PER_CITIZEN = 10


@pytest.fixture
def nats_url(tmp_path: Path, settings: Any) -> Iterator[str]:
    with running_nats(tmp_path / "jetstream") as url:
        settings.NATS_URL = url
        asyncio.run(_drop_stream(url))
        yield url


async def _drop_stream(url: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url)
    with contextlib.suppress(NotFoundError):
        await nc.jetstream().delete_stream(streams.STREAM)
    await nc.close()


def _database_url() -> str:
    """The test database, as the workers must reach it: the run's DATABASE_URL with the test name."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(conf["NAME"]), parts.query, ""))


def _worker(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": _database_url(), "NATS_URL": url, "NATS_ACK_WAIT_SECONDS": "2",
           "DJANGO_SETTINGS_MODULE": "jingwu.settings"}
    return subprocess.Popen([sys.executable, "-m", "jingwu", "worker", "antifraud", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _batch(partner: User) -> list[early_warning.SignalIn]:
    """Each citizen: a listed number (medium), then ordinary calls, then a listed account (high)."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    items: list[dict[str, Any]] = []
    for c in range(CITIZENS):
        citizen = identifiers.make_resident_id("370102", dt.date(1980, 1, 1) + dt.timedelta(days=c), 9)
        for n in range(PER_CITIZEN):
            at = start + dt.timedelta(minutes=n)
            if n == 0:
                other = {"kind": "call", "counterpart": FRAUD_PHONE}
            elif n == PER_CITIZEN - 1:
                other = {"kind": "transfer", "counterpart": ACCOUNT_A, "bank": "ICBC"}
            else:
                other = {"kind": "call", "counterpart": f"+86139{c:04d}{n:04d}"}
            items.append({"id": f"{c}-{n}", "occurred_at": at, "citizen_id_number": citizen,
                          "station": "370102S01", **other})
    return early_warning.signals_check(actor=partner, partner="CMCC", items=items)


def _wait(predicate: Any, seconds: float, worker: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited: {worker.communicate()[1]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _setup(desk: Desk) -> User:
    partner = make_user("cmcc_gateway", [("partner", desk.tree.city_a)])
    early_warning.signal_partner_bind(actor=None, code="CMCC", user=partner)
    early_warning.watchlist_add(actor=desk.analyst, kind="phone", raw=FRAUD_PHONE, source="部反诈中心")
    early_warning.watchlist_add(actor=desk.analyst, kind="account", raw=ACCOUNT_A, source="部反诈中心", bank="ICBC")
    return partner


def test_partitions_split_between_workers() -> None:
    assert streams.owned_partitions(0, 2, 8) == [0, 2, 4, 6]
    assert streams.owned_partitions(1, 2, 8) == [1, 3, 5, 7]
    assert streams.partition_of("id:370102198501011233", 8) == streams.partition_of("id:370102198501011233", 8)
    with pytest.raises(ValueError, match="outside"):
        streams.owned_partitions(2, 2, 8)


@pytest.mark.django_db(transaction=True)
def test_publishing_the_same_ids_again_adds_nothing_to_the_stream(desk: Desk, nats_url: str) -> None:
    checked = _batch(_setup(desk))
    assert streams.signals_publish(checked) == CITIZENS * PER_CITIZEN
    assert streams.signals_publish(checked[:5]) == 0
    assert Signal.objects.count() == 0  # queued, not processed by the API


@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(desk: Desk, nats_url: str) -> None:
    total = CITIZENS * PER_CITIZEN
    streams.signals_publish(_batch(_setup(desk)))

    slow = _worker(nats_url, "--batch", "10", "--pause-after-commit", "0.5")
    try:
        _wait(lambda: Signal.objects.count() >= 30, 60, slow)
        seen = Signal.objects.count()
        _wait(lambda: Signal.objects.count() > seen, 10, slow)  # a batch just committed, not yet acknowledged
    finally:
        os.kill(slow.pid, signal.SIGKILL)
        slow.wait(timeout=10)
    at_kill = Signal.objects.count()
    assert 30 <= at_kill < total

    restarted = [_worker(nats_url, "--index", str(i), "--workers", "2", "--idle-exit", "5") for i in (0, 1)]
    outputs = [w.communicate(timeout=120) for w in restarted]
    assert [w.returncode for w in restarted] == [0, 0], "\n".join(err for _out, err in outputs)
    counts = [tuple(int(x) for x in out.strip().splitlines()[-1].split()[1::2]) for out, _err in outputs]
    processed, skipped = sum(c[0] for c in counts), sum(c[1] for c in counts)

    assert processed == total - at_kill  # the rest, each once
    assert skipped >= 1  # the killed batch came back and was recognised
    assert (Signal.objects.count(), len(set(Signal.objects.values_list("message_id", flat=True)))) == (total, total)
    assert FraudWarning.objects.count() == CITIZENS
    for w in FraudWarning.objects.all():
        assert (w.level, w.signal_count) == ("high", 2)
        assert w.signal_count == Signal.objects.filter(citizen_key=w.citizen_key, score__gt=0).count()
    tasks = sorted(WorkItem.objects.values_list("kind", "status"))
    assert tasks == sorted([("antifraud.call_96110", WorkItemStatus.CANCELLED)] * CITIZENS
                           + [("antifraud.dissuade", WorkItemStatus.OPEN)] * CITIZENS)


@pytest.mark.django_db(transaction=True)
def test_the_stream_keeps_signals_for_the_retention_age(desk: Desk, nats_url: str, settings: Any) -> None:
    streams.signals_publish(_batch(_setup(desk))[:1])
    assert asyncio.run(_max_age(nats_url)) == 168 * 3600
    settings.NATS_MAX_AGE_HOURS = 24  # a changed setting reaches the existing stream
    asyncio.run(_ensure(nats_url))
    assert asyncio.run(_max_age(nats_url)) == 24 * 3600


async def _ensure(url: str) -> None:
    import nats

    nc = await nats.connect(url)
    await streams.ensure_stream(nc.jetstream())
    await nc.close()


async def _max_age(url: str) -> float:
    import nats

    nc = await nats.connect(url)
    info = await nc.jetstream().stream_info(streams.STREAM)
    await nc.close()
    return float(info.config.max_age or 0)


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_stream_is_a_503_soon_and_nothing_is_written(desk: Desk, settings: Any) -> None:
    settings.NATS_URL = f"nats://127.0.0.1:{_free_port()}"  # nothing listens there
    partner = _setup(desk)
    secret = tokens.token_create(actor=None, user=partner, scopes=["antifraud.signals"], days=1).secret
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    body = {"partner": "CMCC", "signals": [{"id": "s1", "kind": "call", "occurred_at": at,
                                            "citizen_phone": "13812345678", "station": "370102S01",
                                            "counterpart": FRAUD_PHONE}]}
    started = time.monotonic()
    response = Client().post("/api/antifraud/signals", body, content_type="application/json",
                             headers={"Authorization": f"Bearer {secret}"})
    waited = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert response.json() == {"detail": "信号队列暂时不可用，请稍后重新推送整个批次", "field": "",
                               "code": "stream_unavailable"}
    assert waited < 10  # the connect timeout (2 s), not the old 30 s wait
    assert (Signal.objects.count(), FraudWarning.objects.count()) == (0, 0)
