"""The in-process sender of stop-payment requests: a bounded thread pool in whatever
process commits the report (the web server, a Huey consumer running the sweep, a test).

Each job takes one request under a lease (services.stop_claim: a second sender skips
it), submits it with its idempotency key — retried with exponential backoff on timeouts
and 5xx, every try logged — then polls the bank for its answer until it comes or the
poll budget runs out (the periodic sweep polls on from there). Requests for onward
accounts are scheduled by the services as their rows commit. Nothing here writes the
database but through services; each job closes its connection when done."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Final

from django.conf import settings
from django.db import connections
from django.utils import timezone

from jingwu.antifraud import bank_client, services, workflow
from jingwu.antifraud.models import StopPaymentRequest, StopState

log = logging.getLogger(__name__)

FIRST_POLL: Final = 0.1  # seconds after a bank accepts a request
MAX_POLL_GAP: Final = 2.0
POLL_BUDGET: Final = 60.0  # then the sweep polls every minute
MAX_BACKOFF: Final = 30.0

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=settings.JINGWU_STOP_SENDER_THREADS,
                                           thread_name_prefix="stop-sender")
        return _executor


def schedule(stop_ids: list[int]) -> None:
    """Work on these requests in the background (idempotent: a request already held is skipped)."""
    pool = _pool()
    for stop_id in stop_ids:
        future = pool.submit(_job, stop_id)
        with _lock:
            _pending.add(future)
        future.add_done_callback(_forget)


def _forget(future: Future[None]) -> None:
    with _lock:
        _pending.discard(future)


def wait_idle(timeout: float = 60.0) -> bool:
    """Block until no job is queued or running (jobs scheduled meanwhile included); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            running = list(_pending)
        if not running:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        wait_futures(running, timeout=left)


def backoff(attempt: int) -> float:
    """Seconds to wait after the `attempt`-th failed try: the base, doubling, capped."""
    return float(min(settings.JINGWU_STOP_BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF))


def _job(stop_id: int) -> None:
    try:
        work(stop_id)
    except Exception:  # a job must not die silently: log it; the sweep takes the request up again
        log.exception("stop-payment request %s: sender failed", stop_id)
    finally:
        connections.close_all()


def work(stop_id: int) -> None:
    """Everything one sender does for one request, in this thread."""
    stop = services.stop_claim(stop_id, now=timezone.now())
    if stop is None:
        return
    try:
        if stop.state == StopState.QUEUED:
            stop = _submit(stop)
        if stop.state in (StopState.SENT, StopState.ACKNOWLEDGED):
            _poll(stop)
    finally:
        services.stop_unclaim(stop_id)


def payload(stop: StopPaymentRequest) -> dict[str, Any]:
    """The body of a submit: fixed for the request, so a retry is byte-for-byte the same request."""
    body: dict[str, Any] = {
        "account": stop.account, "amount_fen": stop.amount_fen, "request_no": stop.idempotency_key,
        "case_ref": stop.report.number, "hop": stop.hop, "requested_at": stop.created_at.isoformat(),
    }
    if stop.parent is not None:
        body["parent"] = {"bank": stop.parent.bank, "account": stop.parent.account,
                          "reference": stop.parent.bank_reference}
    elif stop.transfer is not None:
        body["transfer"] = {"payer_account": stop.transfer.payer_account, "amount_fen": stop.transfer.amount_fen,
                            "at": stop.transfer.transferred_at.isoformat()}
    return body


def _submit(stop: StopPaymentRequest) -> StopPaymentRequest:
    body = payload(stop)
    tries = settings.JINGWU_STOP_MAX_ATTEMPTS
    for attempt in range(1, tries + 1):
        started = timezone.now()
        reply = bank_client.submit(stop.bank, body, key=stop.idempotency_key, timeout=settings.JINGWU_BANK_TIMEOUT)
        wait = backoff(attempt)
        stop = services.stop_submit_recorded(stop_id=stop.pk, reply=reply, started_at=started,
                                             final=attempt == tries, retry_in=wait)
        if stop.state != StopState.QUEUED:
            return stop
        time.sleep(wait)
    return stop


def _poll(stop: StopPaymentRequest) -> None:
    gap = FIRST_POLL
    deadline = time.monotonic() + POLL_BUDGET
    while stop.state in workflow.IN_FLIGHT and stop.state != StopState.QUEUED:
        if time.monotonic() + gap > deadline:
            services.stop_poll_later(stop.pk, at=timezone.now() + services.POLL_LATER)
            return
        time.sleep(gap)
        gap = min(gap * 2, MAX_POLL_GAP)
        started = timezone.now()
        reply = bank_client.query(stop.bank, stop.bank_reference, timeout=settings.JINGWU_BANK_TIMEOUT)
        stop = services.stop_poll_recorded(stop_id=stop.pk, reply=reply, started_at=started)

