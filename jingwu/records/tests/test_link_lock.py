"""One `jingwu link` at a time: a second run refuses while another process holds the lock
(PostgreSQL: an advisory lock; SQLite: flock on a file in the var directory), and the lock
is free again after a run, after a failed run, and after its holder is killed."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from jingwu.core.services import ServiceError
from jingwu.records import linking
from jingwu.records.models import LinkRun
from jingwu.records.tests.test_linking_fixture import build_province, person_partition, truth_partition

pytestmark = pytest.mark.django_db

MESSAGE = "另一个关联运行（jingwu link）正在进行；请等它结束后再试。"

# Another process's view of the lock: "hold" takes it and waits to be killed, "probe"
# says whether it could take it.
_SQLITE = """
import fcntl, sys, time
f = open(sys.argv[2], "a")
if sys.argv[1] == "hold":
    fcntl.flock(f, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(300)
try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("busy")
"""
_POSTGRES = """
import json, sys, time
import psycopg
c = psycopg.connect(**json.loads(sys.argv[2]), autocommit=True)
key = int(sys.argv[3])
if sys.argv[1] == "hold":
    c.execute("SELECT pg_advisory_lock(%s)", (key,))
    print("held", flush=True)
    time.sleep(300)
print("free" if c.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0] else "busy")
"""


def _other_process(action: str) -> subprocess.Popen[str]:
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        params = {"dbname": s["NAME"], "user": s["USER"], "password": s["PASSWORD"], "host": s["HOST"],
                  "port": s["PORT"]}  # fmt: skip
        argv = ["-c", _POSTGRES, action, json.dumps({k: v for k, v in params.items() if v})]
        argv.append(str(linking.LINK_LOCK_KEY))
    else:
        argv = ["-c", _SQLITE, action, str(linking._lock_file())]
    return subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, text=True)


def probe() -> str:
    proc = _other_process("probe")
    out, _ = proc.communicate(timeout=60)
    return out.strip()


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock, as a run in progress would."""
    proc = _other_process("hold")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_run_refuses_while_another_holds_the_lock(holder: subprocess.Popen[str]) -> None:
    p = build_province()
    with pytest.raises(ServiceError) as refused:
        linking.link_run(actor=None, mode="full")
    assert (str(refused.value), refused.value.field) == (MESSAGE, "run")
    with pytest.raises(CommandError) as command:
        call_command("link", "--full", stdout=io.StringIO(), verbosity=0)
    assert str(command.value) == MESSAGE
    # Refused before anything was written.
    assert (LinkRun.objects.count(), person_partition()) == (0, set())

    # The holder dies without unlocking (a crash): the server or kernel frees the lock.
    holder.kill()
    holder.wait()
    assert probe() == "free"
    run = linking.link_run(actor=None, mode="full")
    assert "error" not in run.stats
    assert person_partition() == truth_partition(p.truth)


def test_the_lock_is_held_during_a_run_and_released_after_it() -> None:
    build_province()
    assert probe() == "free"
    seen: dict[str, str] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "link" and stage not in seen:
            seen[stage] = probe()

    run = linking.link_run(actor=None, mode="full", progress=progress)
    assert seen == {"link": "busy"}
    assert "error" not in run.stats
    assert probe() == "free"


def test_the_lock_is_released_after_a_failed_run() -> None:
    build_province()
    with pytest.raises(ServiceError, match="over max_pairs=1"):
        linking.link_run(actor=None, mode="full", config=linking.default_config(max_pairs=1))
    assert "max_pairs" in LinkRun.objects.get().stats["error"]
    assert probe() == "free"
    assert "error" not in linking.link_run(actor=None, mode="full").stats
