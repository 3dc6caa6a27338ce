"""The bank adapter: one HTTP try at a bank's stop-payment API (docs/bank-api.md).

It never retries by itself — the sender decides, and logs every try — and it never
raises for what a bank or the network does: a `BankReply` says what happened and whether
trying again could help (timeouts, refused connections, 5xx and 429 can; other 4xx cannot)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

import urllib3

from jingwu.antifraud.banks import bank_base_url

# One pool for the process, thread-safe; urllib3's own retries are off: ours are logged.
_POOL: Final = urllib3.PoolManager(num_pools=32, maxsize=16, retries=False)
USER_AGENT: Final = "jingwu-antifraud/1"


@dataclass(frozen=True)
class BankReply:
    status: int | None  # HTTP status, None when no answer came
    body: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429

    def reason(self) -> str:
        """A short line for the page and the attempts log."""
        if self.error:
            return self.error
        if self.ok:
            return ""
        code = self.body.get("error") or ""
        message = self.body.get("message") or ""
        return f"HTTP {self.status} {code} {message}".strip()[:300]


def call(bank: str, method: str, path: str, *, timeout: float, body: dict[str, Any] | None = None,
         idempotency_key: str = "") -> BankReply:
    url = f"{bank_base_url(bank)}{path}"
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    payload = None
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    started = time.perf_counter()
    try:
        response = _POOL.request(method, url, body=payload, headers=headers,
                                 timeout=urllib3.Timeout(connect=min(timeout, 2.0), read=timeout))
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of the timeout error, so first
        return BankReply(None, latency_ms=_ms(started), error=_network_error(exc))
    except urllib3.exceptions.TimeoutError:
        return BankReply(None, latency_ms=_ms(started), error=f"timeout after {timeout:g} s")
    except urllib3.exceptions.HTTPError as exc:
        return BankReply(None, latency_ms=_ms(started), error=_network_error(exc))
    latency = _ms(started)
    try:
        parsed = json.loads(response.data or b"{}")
    except ValueError:
        parsed = {"error": "not_json", "message": response.data[:120].decode("utf-8", "replace")}
    if not isinstance(parsed, dict):
        parsed = {"error": "not_an_object"}
    return BankReply(response.status, parsed, latency)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _network_error(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    return text[:300]


# --- the API's operations --------------------------------------------------------------

def submit(bank: str, body: dict[str, Any], *, key: str, timeout: float) -> BankReply:
    return call(bank, "POST", "/v1/stops", body=body, idempotency_key=key, timeout=timeout)


def query(bank: str, reference: str, *, timeout: float) -> BankReply:
    return call(bank, "GET", f"/v1/stops/{reference}", timeout=timeout)


def act(bank: str, reference: str, operation: str, body: dict[str, Any], *, key: str, timeout: float) -> BankReply:
    """renew, release, freeze or return an existing stop."""
    return call(bank, "POST", f"/v1/stops/{reference}/{operation}", body=body, idempotency_key=key,
                timeout=timeout)
