"""Signals through NATS JetStream (when NATS_URL is set).

The API publishes each checked signal to `antifraud.signals.<partition>`, the partition a
hash of the citizen, with the signal's id as Nats-Msg-Id (the stream drops a republished
id within its duplicate window). `jingwu worker antifraud` owns a fixed share of the
partitions, so one citizen's signals are evaluated by one process, in order, and the
velocity windows see them all. A worker commits a fetched batch through the same handler
the in-process path uses (early_warning.signals_process), then acknowledges it; a worker
killed between the two has its batch redelivered, and the signals' unique message ids skip what
was already committed: no signal lost, none counted twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from django.conf import settings
from django.db import close_old_connections

from jingwu.antifraud.early_warning import SignalIn, signals_process

STREAM: Final = "ANTIFRAUD_SIGNALS"
SUBJECT: Final = "antifraud.signals"
log = logging.getLogger(__name__)


class StreamUnavailable(Exception):
    """NATS could not take the batch (unreachable, or no answer in time)."""


def partitions() -> int:
    return int(getattr(settings, "NATS_PARTITIONS", 8))


def partition_of(citizen_key: str, count: int | None = None) -> int:
    return zlib.crc32(citizen_key.encode()) % (count or partitions())


def owned_partitions(index: int, workers: int, count: int | None = None) -> list[int]:
    """Worker `index` of `workers` owns every partition p with p % workers == index."""
    if workers < 1 or not 0 <= index < workers:
        raise ValueError(f"worker index {index} is outside 0..{workers - 1}")
    return [p for p in range(count or partitions()) if p % workers == index]


def max_age_seconds() -> float:
    # Retention: consumed or not, signals older than this leave the stream (it must not grow forever).
    return float(getattr(settings, "NATS_MAX_AGE_HOURS", 168)) * 3600


async def ensure_stream(js: Any) -> None:
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    config = StreamConfig(name=STREAM, subjects=[f"{SUBJECT}.*"],
                          duplicate_window=float(getattr(settings, "NATS_DUPLICATE_WINDOW_SECONDS", 600)),
                          max_age=max_age_seconds())
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(config)
        return
    if info.config.max_age != config.max_age:  # a stream made before retention was set, or a new setting
        await js.update_stream(config)


class _Publisher:
    """One NATS connection per process, on its own event-loop thread: the API's request
    threads hand it a batch, it publishes every message at once and waits for the acks
    together (no connect and stream look-up per request)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.nc: Any = None
        self.js: Any = None
        self.url = ""

    def _loop(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
                threading.Thread(target=self.loop.run_forever, name="nats-publisher", daemon=True).start()
            return self.loop

    async def _connected(self, url: str) -> Any:
        import nats

        if self.nc is None or self.url != url or not self.nc.is_connected:
            if self.nc is not None:
                with contextlib.suppress(Exception):
                    await self.nc.close()
            # A short connect: an unreachable server must fail the request soon, not after
            # the client's rounds of reconnect attempts.
            self.nc = await asyncio.wait_for(
                nats.connect(url, error_cb=_quiet, max_reconnect_attempts=10, reconnect_time_wait=0.5),
                timeout=connect_timeout())
            self.js = self.nc.jetstream()
            self.url = url
            await ensure_stream(self.js)
        return self.js

    async def _publish(self, url: str, signals: Sequence[SignalIn]) -> int:
        js = await self._connected(url)
        count = partitions()
        acks = [js.publish(f"{SUBJECT}.{partition_of(s.citizen_key, count)}",
                           json.dumps(s.as_message(), ensure_ascii=False).encode(),
                           headers={"Nats-Msg-Id": s.message_id}) for s in signals]
        results = await asyncio.gather(*acks)
        return sum(1 for r in results if not r.duplicate)

    def publish(self, signals: Sequence[SignalIn]) -> int:
        from nats.errors import Error as NatsError

        future = asyncio.run_coroutine_threadsafe(self._publish(settings.NATS_URL, signals), self._loop())
        try:
            return future.result(timeout=float(getattr(settings, "NATS_PUBLISH_TIMEOUT_SECONDS", 10)))
        except (OSError, NatsError, TimeoutError) as exc:  # TimeoutError: asyncio's and the future's
            future.cancel()
            raise StreamUnavailable(f"{type(exc).__name__}: {exc}") from exc


def connect_timeout() -> float:
    return float(getattr(settings, "NATS_CONNECT_TIMEOUT_SECONDS", 2))


async def _quiet(exc: Exception) -> None:
    # A lost server is retried, then the next publish connects afresh; say so quietly.
    log.info("NATS publisher connection: %s", exc)


_publisher = _Publisher()


def signals_publish(signals: Sequence[SignalIn]) -> int:
    """Publish a checked batch; returns how many were new to the stream."""
    return _publisher.publish(signals)


class Worker:
    """Consumes its partitions with durable pull consumers, one per partition. Each round
    fetches from all of them at once and commits what came as one batch (a citizen's
    signals stay in order: one partition each), then acknowledges every message."""

    def __init__(self, owned: Sequence[int], *, batch: int = 500, pause_after_commit: float = 0.0,
                 idle_exit: float | None = None, on_ready: Callable[[], None] | None = None) -> None:
        self.owned = list(owned)
        self.on_ready = on_ready  # called once subscribed
        self.batch = batch
        self.pause_after_commit = pause_after_commit  # widens the commit→ack gap (exactness tests)
        self.idle_exit = idle_exit
        self.db = ThreadPoolExecutor(max_workers=1)  # the ORM is synchronous: one thread, one connection
        self.processed = 0
        self.skipped = 0  # redelivered after a commit whose acknowledgement was lost

    def _commit(self, payloads: list[dict[str, Any]]) -> int:
        close_old_connections()
        result = signals_process([SignalIn.from_message(p) for p in payloads])
        self.processed += result.signals
        self.skipped += result.skipped
        if self.pause_after_commit:
            time.sleep(self.pause_after_commit)
        return result.signals

    async def run(self) -> None:
        import nats
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig

        nc = await nats.connect(settings.NATS_URL)
        js = nc.jetstream()
        await ensure_stream(js)
        ack_wait = float(getattr(settings, "NATS_ACK_WAIT_SECONDS", 30))
        subs = [await js.pull_subscribe(f"{SUBJECT}.{p}", durable=f"antifraud-p{p}", stream=STREAM,
                                        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait,
                                                              max_ack_pending=4 * self.batch))
                for p in self.owned]
        if self.on_ready is not None:
            self.on_ready()

        async def fetch(sub: Any) -> list[Any]:
            try:
                return list(await sub.fetch(self.batch, timeout=0.05))
            except (TimeoutError, NatsTimeout):  # nats raises either when idle
                return []

        loop = asyncio.get_running_loop()
        idle_since = time.monotonic()
        try:
            while True:
                msgs = [m for got in await asyncio.gather(*[fetch(sub) for sub in subs]) for m in got]
                if msgs:
                    await loop.run_in_executor(self.db, self._commit, [json.loads(m.data) for m in msgs])
                    for m in msgs:  # only after the commit: a crash before here redelivers the batch
                        await m.ack()
                    await nc.flush()
                    idle_since = time.monotonic()
                elif self.idle_exit is not None and time.monotonic() - idle_since > self.idle_exit:
                    return
        finally:
            await nc.close()
            self.db.shutdown(wait=True)
