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
import json
import logging
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from django.conf import settings
from django.db import close_old_connections

from jingwu.antifraud.early_warning import SignalIn, signals_process

STREAM: Final = "ANTIFRAUD_SIGNALS"
SUBJECT: Final = "antifraud.signals"
log = logging.getLogger(__name__)


def partitions() -> int:
    return int(getattr(settings, "NATS_PARTITIONS", 8))


def partition_of(citizen_key: str, count: int | None = None) -> int:
    return zlib.crc32(citizen_key.encode()) % (count or partitions())


def owned_partitions(index: int, workers: int, count: int | None = None) -> list[int]:
    """Worker `index` of `workers` owns every partition p with p % workers == index."""
    if workers < 1 or not 0 <= index < workers:
        raise ValueError(f"worker index {index} is outside 0..{workers - 1}")
    return [p for p in range(count or partitions()) if p % workers == index]


async def ensure_stream(js: Any) -> None:
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    config = StreamConfig(name=STREAM, subjects=[f"{SUBJECT}.*"],
                          duplicate_window=float(getattr(settings, "NATS_DUPLICATE_WINDOW_SECONDS", 600)))
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(config)


async def _publish(signals: Sequence[SignalIn]) -> int:
    import nats

    nc = await nats.connect(settings.NATS_URL)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        count = partitions()
        acks = [js.publish(f"{SUBJECT}.{partition_of(s.citizen_key, count)}",
                           json.dumps(s.as_message(), ensure_ascii=False).encode(),
                           headers={"Nats-Msg-Id": s.message_id}) for s in signals]
        results = await asyncio.gather(*acks)
        return sum(1 for r in results if not r.duplicate)
    finally:
        await nc.close()


def signals_publish(signals: Sequence[SignalIn]) -> int:
    """Publish a checked batch; returns how many were new to the stream."""
    return asyncio.run(_publish(signals))


class Worker:
    """Consumes its partitions with durable pull consumers, one per partition."""

    def __init__(self, owned: Sequence[int], *, batch: int = 200, pause_after_commit: float = 0.0,
                 idle_exit: float | None = None) -> None:
        self.owned = list(owned)
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
                                                              max_ack_pending=10 * self.batch))
                for p in self.owned]
        loop = asyncio.get_running_loop()
        idle_since = time.monotonic()
        try:
            while True:
                busy = False
                for sub in subs:
                    try:
                        msgs = await sub.fetch(self.batch, timeout=0.2)
                    except (TimeoutError, NatsTimeout):  # nats raises either when idle
                        continue
                    if not msgs:
                        continue
                    busy = True
                    await loop.run_in_executor(self.db, self._commit, [json.loads(m.data) for m in msgs])
                    for m in msgs:  # only after the commit: a crash before here redelivers the batch
                        await m.ack()
                if busy:
                    idle_since = time.monotonic()
                elif self.idle_exit is not None and time.monotonic() - idle_since > self.idle_exit:
                    return
        finally:
            await nc.close()
            self.db.shutdown(wait=True)
