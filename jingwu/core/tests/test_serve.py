"""`jingwu serve`: gunicorn with worker processes and a job consumer in a process of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import urllib3
from django.core.management import CommandError, call_command


def test_serve_refuses_when_jobs_run_immediately(settings: object) -> None:
    from huey.contrib.djhuey import HUEY

    assert HUEY.immediate  # the test settings (JINGWU_JOBS_IMMEDIATE=1)
    with pytest.raises(CommandError, match="nothing to consume"):
        call_command("serve", "127.0.0.1:0")


@pytest.mark.parametrize("addrport", ["127.0.0.1:http", "127.0.0.1:70000"])
def test_serve_refuses_a_bad_address(addrport: str) -> None:
    with pytest.raises(CommandError, match="is not an address:port"):
        call_command("serve", addrport, "--no-jobs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_workers_and_a_consumer_and_ctrl_c_stops_them_all(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "JINGWU_VAR_DIR": str(tmp_path), "JINGWU_JOBS_IMMEDIATE": "0",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}"}
    server = subprocess.Popen([sys.executable, "-m", "jingwu", "serve", f"127.0.0.1:{port}", "--workers", "2",
                               "--job-workers", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        http = urllib3.PoolManager(retries=False)
        answer = None
        deadline = time.monotonic() + 120  # a loaded machine imports slowly
        while answer is None and time.monotonic() < deadline:
            try:
                # A long timeout: a request given up on would stay queued and be cut off by the stop.
                answer = http.request("GET", f"http://127.0.0.1:{port}/healthz", timeout=60)
            except urllib3.exceptions.HTTPError:
                time.sleep(0.3)
        assert answer is not None and answer.status == 200
        assert answer.json() == {"status": "ok", "database": "sqlite"}
        children = psutil.Process(server.pid).children()
        commands = sorted("run_huey" if "run_huey" in c.cmdline() else "serve" for c in children)
        assert commands == ["run_huey", "serve", "serve"]  # the consumer and two gunicorn workers
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
        output = server.stdout.read().decode() if server.stdout else ""
        assert f"jingwu on http://127.0.0.1:{port}/ — gunicorn, 2 worker processes (synchronous); " \
               "job consumer, threads: 1." in output
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
