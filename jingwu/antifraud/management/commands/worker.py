"""`jingwu worker antifraud`: consume early-warning signals from NATS JetStream."""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jingwu.antifraud import streams


class Command(BaseCommand):
    help = "Run a stream worker. Only `antifraud` exists: early-warning signals from NATS JetStream."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("queue", choices=["antifraud"])
        parser.add_argument("--index", type=int, default=0, help="this worker's number, from 0")
        parser.add_argument("--workers", type=int, default=1, help="how many workers share the partitions")
        parser.add_argument("--batch", type=int, default=500, help="messages fetched per partition per round")
        parser.add_argument("--idle-exit", type=float, default=None, help="stop after this many idle seconds")
        parser.add_argument("--pause-after-commit", type=float, default=0.0,
                            help="sleep between commit and acknowledgement (exactness tests)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not settings.NATS_URL:
            raise CommandError("NATS_URL is not set: without it signals are processed in-process by the API")
        try:
            owned = streams.owned_partitions(opts["index"], opts["workers"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"antifraud worker {opts['index']}/{opts['workers']}: partitions {owned}")
        self.stdout.flush()
        worker = streams.Worker(owned, batch=opts["batch"], pause_after_commit=opts["pause_after_commit"],
                                idle_exit=opts["idle_exit"], on_ready=self._ready)
        asyncio.run(worker.run())
        self.stdout.write(f"processed {worker.processed} skipped {worker.skipped}")

    def _ready(self) -> None:
        self.stdout.write("subscribed")
        self.stdout.flush()
