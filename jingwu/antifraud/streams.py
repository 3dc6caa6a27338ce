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
        stall = float(getattr(settings, "NATS_PUBLISH_TIMEOUT_SECONDS", 10))
        # Asynchronous publishes: every message goes out at once and the stream's answers come
        # back on one shared inbox (no request, inbox and timer per message).
        acks = [await js.publish_async(f"{SUBJECT}.{partition_of(s.citizen_key, count)}",
                                       json.dumps(s.as_message(), ensure_ascii=False).encode(),
                                       headers={"Nats-Msg-Id": s.message_id}, wait_stall=stall)
                for s in signals]
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
    """Consumes its partitions with durable pull consumers, one per partition. Every partition
    always has one fetch outstanding; a round takes whatever fetches have come back, commits
    it as one batch (a citizen's signals stay in order: one partition each, one round at a
    time) and then acknowledges it, while the next fetches already run. Rounds are as small as
    the traffic when it is light (a fetch returns what is there, or the first message to
    arrive) and as large as the backlog when it is heavy (fetches pile up during a commit)."""

    # An idle partition's fetch waits this long for its first message (it returns on arrival).
    LINGER_SECONDS: Final = 1.0

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
        self.rounds = 0

    def _commit(self, payloads: list[bytes]) -> int:
        close_old_connections()
        result = signals_process([SignalIn.from_message(json.loads(p)) for p in payloads])
        self.processed += result.signals
        self.skipped += result.skipped
        if self.pause_after_commit:
            time.sleep(self.pause_after_commit)
        return result.signals

    async def _pull(self, sub: Any) -> list[Any]:
        from nats.errors import TimeoutError as NatsTimeout

        try:  # what is there now: the server answers at once when anything is
            return list(await sub.fetch(self.batch, timeout=0.01))
        except (TimeoutError, NatsTimeout):  # nats raises either when idle
            pass
        try:  # nothing: wait for the first message, and take it as soon as it comes
            first = list(await sub.fetch(1, timeout=self.LINGER_SECONDS))
        except (TimeoutError, NatsTimeout):
            return []
        try:
            return first + list(await sub.fetch(self.batch - 1, timeout=0.01)) if self.batch > 1 else first
        except (TimeoutError, NatsTimeout):
            return first

    async def run(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig

        nc = await nats.connect(settings.NATS_URL)
        js = nc.jetstream()
        await ensure_stream(js)
        ack_wait = float(getattr(settings, "NATS_ACK_WAIT_SECONDS", 30))
        # AckPolicy.ALL: one acknowledgement per partition and round acknowledges the round's
        # messages up to it. A consumer made before keeps its explicit policy (the server does
        # not change it): then every message is acknowledged.
        subs = [await js.pull_subscribe(f"{SUBJECT}.{p}", durable=f"antifraud-p{p}", stream=STREAM,
                                        config=ConsumerConfig(ack_policy=AckPolicy.ALL, ack_wait=ack_wait,
                                                              max_ack_pending=4 * self.batch))
                for p in self.owned]
        ack_all = {id(sub): (await sub.consumer_info()).config.ack_policy == AckPolicy.ALL for sub in subs}
        if self.on_ready is not None:
            self.on_ready()

        loop = asyncio.get_running_loop()
        pending = {id(sub): asyncio.ensure_future(self._pull(sub)) for sub in subs}
        by_id = {id(sub): sub for sub in subs}
        idle_since = time.monotonic()
        try:
            while True:
                await asyncio.wait(pending.values(), timeout=self.LINGER_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                got: list[tuple[int, list[Any]]] = []
                for key, task in list(pending.items()):
                    if task.done():
                        got.append((key, task.result()))
                        pending[key] = asyncio.ensure_future(self._pull(by_id[key]))  # runs during the commit
                msgs = [m for _key, part in got for m in part]
                if msgs:
                    await loop.run_in_executor(self.db, self._commit, [m.data for m in msgs])
                    self.rounds += 1
                    for key, part in got:  # only after the commit: a crash before here redelivers the round
                        if not part:
                            continue
                        if ack_all[key]:
                            await part[-1].ack()
                        else:
                            for m in part:
                                await m.ack()
                    await nc.flush()
                    idle_since = time.monotonic()
                elif self.idle_exit is not None and time.monotonic() - idle_since > self.idle_exit:
                    return
        finally:
            for task in pending.values():
                task.cancel()
            await asyncio.gather(*pending.values(), return_exceptions=True)
            await nc.close()
            self.db.shutdown(wait=True)
