"""What every benchmark does the same way: peak memory of a process tree, a fresh
PostgreSQL database to run against, Django set up on a scratch database, nearest-rank
percentiles, and a one-line description of the machine."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import threading
from pathlib import Path


class PeakMemory:
    """The highest resident memory of this process and its children together, sampled in a
    thread (workers started by the measured code count; ru_maxrss would miss them)."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.peak = 0

    def _sample(self) -> int:
        import psutil

        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a worker may end between listing and reading
                total += child.memory_info().rss
        return total

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._sample())

    def __enter__(self) -> PeakMemory:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def postgres_database_url(name: str) -> str:
    """A fresh, empty database called `name` on the test server (DATABASE_URL's, else the
    embedded one); its URL."""
    import psycopg

    from jingwu.testing.postgres import server_url

    server = server_url()
    base, _sep, _db = server.rpartition("/")
    with psycopg.connect(server.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def machine() -> str:
    """Cores, CPU model, memory, Python and kernel: what RESULTS.md quotes beside a figure."""
    import psutil

    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q`th percentile (q in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def django_on_scratch(workdir: Path, *, database: str = "sqlite", postgres_name: str = "jingwu_bench",
                      test_environment: bool = False) -> str:
    """Django on an empty, migrated database: an SQLite file in `workdir`, or a fresh PostgreSQL
    database `postgres_name`; `workdir` is the var folder. Returns the database URL."""
    url = (postgres_database_url(postgres_name) if database == "postgres"
           else f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ["DATABASE_URL"] = url
    os.environ["JINGWU_VAR_DIR"] = str(workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "jingwu.settings"
    import django

    django.setup()
    from django.core.management import call_command

    if test_environment:  # the test client's in-memory mail and template hooks
        from django.test.utils import setup_test_environment

        setup_test_environment()
    call_command("migrate", verbosity=0)
    return url
