"""`jingwu serve`: the web application under gunicorn (a pre-forking WSGI server: several worker
processes, so requests use every core) together with a job consumer (`jingwu run_huey`, worker
threads) in a process of its own, so queued jobs — the search index updates among them — run
while the demo runs. Ctrl-C (or SIGTERM) stops both."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from gunicorn.app.base import BaseApplication


def default_workers() -> int:
    """Two worker processes per core: one can run while the other waits on the database."""
    return 2 * (os.cpu_count() or 1)


class JingwuServer(BaseApplication):
    """gunicorn configured from our options rather than its own command line. The application is
    loaded in each worker after the fork (no preloading), so no database connection or thread
    of the master process is shared with a worker."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        assert self.cfg is not None
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from jingwu.wsgi import application

        return application

    def init(self, parser: Any, opts: Any, args: Any) -> None:  # the command line is ours, not gunicorn's
        return None


def _bind(addrport: str) -> str:
    host, sep, port = addrport.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", addrport
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CommandError(f"{addrport!r} is not an address:port (127.0.0.1:8000)")
    return f"{host or '127.0.0.1'}:{port}"


class Command(BaseCommand):
    help = "Run the web application under gunicorn (worker processes) and a job consumer (thread workers)."
    requires_system_checks = []  # the workers load the application; checks run there on import

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="address:port (127.0.0.1:8000)")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("JINGWU_WEB_WORKERS", 0) or 0)
                            or default_workers(),
                            help="web worker processes (default JINGWU_WEB_WORKERS, else two per core)")
        parser.add_argument("--threads", type=int, default=1,
                            help="threads per web worker (default 1: synchronous workers)")
        parser.add_argument("--timeout", type=int, default=120,
                            help="seconds a request may run before its worker is restarted (default 120)")
        parser.add_argument("--job-workers", type=int, default=2, help="job consumer threads (default 2)")
        parser.add_argument("--no-jobs", action="store_true",
                            help="start no job consumer (one runs elsewhere, or jobs run immediately)")
        parser.add_argument("--access-log", action="store_true", help="print a line per request")

    def handle(self, *args: Any, addrport: str, workers: int, threads: int, timeout: int, job_workers: int,
               no_jobs: bool, access_log: bool, **options: Any) -> None:
        from django.db import connections
        from huey.contrib.djhuey import HUEY

        bind = _bind(addrport)
        if workers < 1 or threads < 1:
            raise CommandError("--workers and --threads must be at least 1")
        if not no_jobs and HUEY.immediate:
            raise CommandError("jobs are set to run immediately (JINGWU_JOBS_IMMEDIATE); nothing to consume "
                               "(pass --no-jobs to serve without a consumer)")
        server = JingwuServer({
            "bind": bind, "workers": workers, "threads": threads, "timeout": timeout, "graceful_timeout": 10,
            "accesslog": "-" if access_log else None, "errorlog": "-", "loglevel": "warning",
            "proc_name": "jingwu", "worker_tmp_dir": "/dev/shm" if os.access("/dev/shm", os.W_OK) else None,  # noqa: S108
        })
        connections.close_all()  # nothing open crosses the fork
        # A pid, not a Popen: gunicorn's workers are forks of this process, and a Popen copied into
        # each of them would complain on their exit about a child that is not theirs.
        consumer = None if no_jobs else os.posix_spawn(sys.executable, [
            sys.executable, "-m", "jingwu", "run_huey", "--workers", str(max(1, job_workers)), "--worker-type",
            "thread", "--delay", "0.1", "--backoff", "1.15", "--max-delay", "0.5", "--quiet"], os.environ)
        master = os.getpid()
        worker_kind = "synchronous" if threads == 1 else f"threads each: {threads}"
        self.stdout.write(f"jingwu on http://{bind}/ — gunicorn, {workers} worker processes ({worker_kind})"
                          + ("" if consumer is None else f"; job consumer, threads: {job_workers}") + ".")
        self.stdout.flush()
        try:
            server.run()
        finally:
            # gunicorn's workers leave through SystemExit too: only the master stops the consumer.
            if consumer is not None and os.getpid() == master:
                _stop(consumer)


def _stop(pid: int, grace: float = 15.0) -> None:
    """SIGINT (the consumer's graceful stop: running jobs finish), then SIGKILL after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # gunicorn's arbiter reaps every child it sees end
            return
        if done:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
