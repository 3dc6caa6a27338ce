"""`jingwu dispatch simulate`: replay a live call stream and unit position pings against a
running server, through its HTTP API, as the 110 telephony link and the vehicle terminals do."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import urllib3

from jingwu.dispatch.services import MAX_PINGS
from jingwu.dispatch.synthetic import CallStream


@dataclass
class SimulationReport:
    calls: Counter[int] = field(default_factory=Counter)  # HTTP status → count
    pings: Counter[int] = field(default_factory=Counter)
    call_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # first few error bodies

    @property
    def calls_sent(self) -> int:
        return sum(self.calls.values())


class ApiClient:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = urllib3.PoolManager(maxsize=8, retries=False, timeout=timeout)
        self.token = token

    def ready(self, wait: float = 60.0) -> None:
        """Wait for the server's health check to answer (a server just started warms up first)."""
        response = self.http.request("GET", f"{self.url}/healthz", timeout=wait)
        if response.status != 200:
            raise ValueError(f"{self.url}/healthz answered {response.status}")

    def post(self, path: str, body: object, token: str | None = None) -> tuple[int, bytes]:
        response = self.http.request("POST", f"{self.url}{path}", body=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token or self.token}",
                                              "Content-Type": "application/json"})
        return response.status, response.data


def simulate(*, url: str, token: str, rate: float, minutes: float, positions_token: str | None = None,
             ping_every: float = 10.0, seed: int = 2017, city_codes: list[str] | None = None,
             run: str = "", progress: Callable[[SimulationReport], None] | None = None) -> SimulationReport:
    """Send `rate` calls a minute for `minutes`, spaced as a Poisson stream, and every `ping_every`
    seconds the positions of every unit. Times are the real clock: the server sees a live centre."""
    if rate <= 0 or minutes <= 0:
        raise ValueError("rate and minutes must be positive")
    stream = CallStream(seed=seed, city_codes=city_codes, run=run or str(int(time.time())))
    client = ApiClient(url, token)
    client.ready()
    report = SimulationReport()
    start = time.monotonic()
    end = start + minutes * 60
    next_call = start + stream.rng.expovariate(rate / 60)
    next_ping = start
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_ping:
            pings = stream.pings(datetime.now(UTC))
            for i in range(0, len(pings), MAX_PINGS):
                status, body = client.post("/api/patrol-units/positions", {"pings": pings[i:i + MAX_PINGS]},
                                           positions_token)
                report.pings[status] += 1
                if status >= 400 and len(report.errors) < 5:
                    report.errors.append(f"positions {status}: {body[:300].decode(errors='replace')}")
            next_ping += ping_every
        if now >= next_call:
            sent = time.monotonic()
            status, body = client.post("/api/calls", stream.call(datetime.now(UTC)))
            report.call_seconds.append(time.monotonic() - sent)
            report.calls[status] += 1
            if status >= 400 and len(report.errors) < 5:
                report.errors.append(f"call {status}: {body[:300].decode(errors='replace')}")
            next_call += stream.rng.expovariate(rate / 60)
            if progress is not None:
                progress(report)
        time.sleep(max(0.0, min(next_call, next_ping, end) - time.monotonic()))
    return report
