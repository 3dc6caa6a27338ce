"""`jingwu serve`: the development web server together with a job consumer (Huey, worker
threads) in the same process, so queued jobs — the search index updates among them — run
while the demo runs.  Production runs a WSGI server and `jingwu run_huey` separately."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Run the development server and an in-process job consumer (thread workers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="address:port (127.0.0.1:8000)")
        parser.add_argument("--job-workers", type=int, default=2, help="job consumer threads (default 2)")

    def handle(self, *args: Any, addrport: str, job_workers: int, **options: Any) -> None:
        from django.utils.module_loading import autodiscover_modules
        from huey.contrib.djhuey import HUEY

        autodiscover_modules("tasks")  # as `run_huey` does: the consumer must know every task
        if HUEY.immediate:
            raise CommandError("jobs are set to run immediately (JINGWU_JOBS_IMMEDIATE); nothing to consume")
        consumer = HUEY.create_consumer(workers=max(1, job_workers), worker_type="thread", periodic=True,
                                        initial_delay=0.1, backoff=1.15, max_delay=0.5, check_worker_health=True)
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        consumer.start()
        # The consumer takes the signals for itself; Ctrl-C belongs to the web server here.
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        self.stdout.write(f"Job consumer running ({job_workers} threads).")
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            consumer.stop(graceful=True)
