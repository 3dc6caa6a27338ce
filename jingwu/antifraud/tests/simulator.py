"""The bank simulator as the tests use it: `jingwu bank-sim` started as a real subprocess on
a free port, and a small client for its control endpoints (/_sim/…)."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any


class BankSim:
    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def reset(self, **config: Any) -> None:
        self._call("POST", "/_sim/reset", config)

    def configure(self, **config: Any) -> None:
        self._call("POST", "/_sim/config", config)

    def accounts(self, *items: dict[str, Any]) -> None:
        self._call("POST", "/_sim/accounts", {"accounts": list(items)})

    def outage(self, **settings: Any) -> None:
        self._call("POST", "/_sim/outage", settings)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("GET", "/_sim/stats")
        return stats


@contextlib.contextmanager
def running_simulator(*args: str) -> Iterator[BankSim]:
    """`jingwu bank-sim --port 0 …` in a subprocess, until the block ends."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "jingwu.settings"}
    process = subprocess.Popen([sys.executable, "-m", "jingwu", "bank-sim", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        watch = selectors.DefaultSelector()
        watch.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 90
        line = ""
        while "listening on" not in line:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bank simulator did not start: {line!r}")
            if watch.select(timeout=1):
                line = process.stdout.readline()
        yield BankSim(line.strip().rsplit(" ", 1)[-1])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
