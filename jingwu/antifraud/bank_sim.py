"""The bank partner simulator: a real HTTP service speaking docs/bank-api.md for every bank
code at /banks/<code>/v1/…, so the adapter, the tests and the demo exercise the same path a
real bank's API would take (configured by JINGWU_BANK_URLS instead).

Run it with `jingwu bank-sim --port 8100` (or `python -m jingwu.antifraud.bank_sim`). It
holds accounts with balances and the onward transfers their money took. Accounts loaded
(--accounts, or POST /_sim/accounts) behave exactly as given; any other account number is
generated on first use from --seed, deterministically: about 45% still hold the money,
30% part of it, 25% none, and money that left went to one or two accounts at other banks,
which are generated in turn until --max-depth hops. Latency, processing delay, outages
(503 answers, or replies stalled past the client's timeout after the work was done) and
idempotency keys behave as a bank's would. Control endpoints live under /_sim/.

Django-free on purpose: a separate process with the standard library's WSGI server."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from socketserver import ThreadingMixIn
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from jingwu.antifraud.banks import BANK_CODES
from jingwu.core.identifiers import luhn_check_digit

STOP_HOURS: Final = 48
Json = dict[str, Any]
Answer = tuple[int, Json]


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="milliseconds") if at else None


@dataclass
class Onward:
    bank: str
    account: str
    amount_fen: int  # still traceable from this transfer
    at: datetime


@dataclass
class Account:
    bank: str
    number: str
    balance_fen: int
    onward: list[Onward] = field(default_factory=list)
    closed: bool = False


@dataclass
class Stop:
    reference: str
    bank: str
    account: str
    amount_fen: int
    key: str
    digest: str
    received_at: datetime
    received_clock: float
    request: Json
    status: str = "received"
    resolved: bool = False
    stopped_fen: int = 0
    onward: list[Json] = field(default_factory=list)
    stopped_at: datetime | None = None
    expires_at: datetime | None = None
    renewed: bool = False
    frozen_fen: int = 0
    returned_fen: int = 0
    released_at: datetime | None = None

    def as_json(self) -> Json:
        return {
            "reference": self.reference, "bank": self.bank, "account": self.account,
            "amount_fen": self.amount_fen, "status": self.status, "received_at": _iso(self.received_at),
            "stopped_fen": self.stopped_fen, "onward": self.onward, "stopped_at": _iso(self.stopped_at),
            "expires_at": _iso(self.expires_at), "renewed": self.renewed, "frozen_fen": self.frozen_fen,
            "returned_fen": self.returned_fen, "released_at": _iso(self.released_at),
        }


@dataclass
class Config:
    seed: int = 1
    latency_ms: float = 20.0
    jitter_ms: float = 0.0
    processing_ms: float = 200.0
    unknown_accounts: str = "generate"  # or "reject": 404 for accounts not loaded
    max_depth: int = 3

    def update(self, values: Json) -> None:
        for name in ("latency_ms", "jitter_ms", "processing_ms"):
            if name in values:
                setattr(self, name, max(0.0, float(values[name])))
        if "seed" in values:
            self.seed = int(values["seed"])
        if "max_depth" in values:
            self.max_depth = max(0, int(values["max_depth"]))
        if values.get("unknown_accounts") in ("generate", "reject"):
            self.unknown_accounts = values["unknown_accounts"]


@dataclass
class Outage:
    mode: str  # "503" or "timeout"
    remaining: int | None  # requests still affected, or None for a time window
    until: float | None
    bank: str | None
    stall_seconds: float

    def applies(self, bank: str) -> bool:
        if self.bank and self.bank != bank:
            return False
        if self.until is not None and time.monotonic() >= self.until:
            return False
        return self.remaining is None or self.remaining > 0


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Simulator:
    """Every bank's accounts and stops, behind one lock (a handful of requests a second)."""

    def __init__(self, config: Config, accounts: list[Json] | None = None) -> None:
        self._initial = Config(**vars(config))
        self._initial_accounts = list(accounts or [])
        self.lock = threading.RLock()
        self.reset({})

    def reset(self, values: Json) -> None:
        with self.lock:
            self.config = Config(**vars(self._initial))
            self.config.update(values)
            self.accounts: dict[tuple[str, str], Account] = {}
            self.depth: dict[tuple[str, str], int] = {}
            self.stops: dict[str, Stop] = {}
            self.keys: dict[tuple[str, str], Stop] = {}
            self.replies: dict[tuple[str, str], tuple[str, Answer]] = {}
            self.outage: Outage | None = None
            self.stats: Counter[str] = Counter()
            self.per_account: Counter[str] = Counter()
            self.load_accounts(self._initial_accounts)

    # --- accounts ------------------------------------------------------------------

    def load_accounts(self, items: list[Json]) -> int:
        with self.lock:
            for item in items:
                bank, number = str(item["bank"]), str(item["account"])
                onward = [Onward(str(o["bank"]), str(o["account"]), int(o["amount_fen"]), _now())
                          for o in item.get("onward", [])]
                self.accounts[(bank, number)] = Account(bank, number, int(item.get("balance_fen", 0)), onward,
                                                        bool(item.get("closed", False)))
            return len(items)

    def _generated(self, bank: str, number: str, amount_fen: int) -> Account:
        depth = self.depth.get((bank, number), 0)
        rng = random.Random(f"{self.config.seed}|{bank}|{number}")
        roll = rng.random()
        if depth >= self.config.max_depth or roll < 0.45:
            balance = amount_fen
        elif roll < 0.75:
            balance = int(amount_fen * rng.uniform(0.2, 0.7))
        else:
            balance = 0
        account = Account(bank, number, balance)
        rest = amount_fen - balance
        parts = 1 if rest < 200 or rng.random() < 0.6 else 2
        for i in range(parts if rest > 0 else 0):
            share = rest if i == parts - 1 else rest // 2
            rest -= share
            next_bank = rng.choice([b for b in BANK_CODES if b != bank])
            stem = "62" + "".join(str(rng.randrange(10)) for _ in range(rng.choice((13, 16))))
            next_number = stem + luhn_check_digit(stem)
            self.depth[(next_bank, next_number)] = depth + 1
            minutes = rng.randrange(2, 90)
            account.onward.append(Onward(next_bank, next_number, share, _now() - timedelta(minutes=minutes)))
        return account

    def _account(self, bank: str, number: str, amount_fen: int) -> Account | None:
        found = self.accounts.get((bank, number))
        if found is None:
            if self.config.unknown_accounts == "reject" and (bank, number) not in self.depth:
                return None
            found = self.accounts[(bank, number)] = self._generated(bank, number, amount_fen)
        return found

    # --- stops ---------------------------------------------------------------------

    def submit(self, bank: str, key: str, body: Json) -> Answer:
        account = body.get("account")
        amount = body.get("amount_fen")
        if not key:
            raise BadRequest("the Idempotency-Key header is required", 400, "idempotency_key_missing")
        if not isinstance(account, str) or not account:
            raise BadRequest("account: a non-empty string is required")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise BadRequest("amount_fen: a positive integer is required")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            self.stats["submits"] += 1
            earlier = self.keys.get((bank, key))
            if earlier is not None:
                if earlier.digest != digest:
                    raise BadRequest("this Idempotency-Key was used with another request", 409,
                                     "idempotency_conflict")
                self.stats["replays"] += 1
                self._advance(earlier)
                return 200, {**earlier.as_json(), "replayed": True}
            if self._account(bank, account, amount) is None or self.accounts[(bank, account)].closed:
                raise BadRequest(f"no open account {account} at {bank}", 404, "account_not_found")
            now = _now()
            stop = Stop(reference=f"{bank}-{uuid.uuid4().hex[:16]}", bank=bank, account=account, amount_fen=amount,
                        key=key, digest=digest, received_at=now, received_clock=time.monotonic(), request=body)
            self.stops[stop.reference] = stop
            self.keys[(bank, key)] = stop
            self.stats["stops"] += 1
            self.per_account[f"{bank}:{account}"] += 1
            self._advance(stop)
            return 202, stop.as_json()

    def _advance(self, stop: Stop) -> None:
        """Processing takes `processing_ms`: received, then processing, then the answer."""
        if stop.resolved:
            return
        elapsed_ms = (time.monotonic() - stop.received_clock) * 1000
        if elapsed_ms < self.config.processing_ms:
            stop.status = "processing" if elapsed_ms >= self.config.processing_ms / 2 else "received"
            return
        account = self.accounts[(stop.bank, stop.account)]
        stopped = min(stop.amount_fen, account.balance_fen)
        account.balance_fen -= stopped
        remaining = stop.amount_fen - stopped
        for hop in account.onward:
            if remaining <= 0:
                break
            take = min(remaining, hop.amount_fen)
            if take <= 0:
                continue
            hop.amount_fen -= take
            remaining -= take
            self.depth.setdefault((hop.bank, hop.account), self.depth.get((stop.bank, stop.account), 0) + 1)
            stop.onward.append({"bank": hop.bank, "account": hop.account, "amount_fen": take, "at": _iso(hop.at)})
        now = _now()
        stop.resolved = True
        stop.stopped_fen = stopped
        stop.stopped_at = now
        stop.expires_at = now + timedelta(hours=STOP_HOURS)
        stop.status = "stopped" if stopped > 0 or not stop.onward else "moved_onward"

    def get(self, bank: str, reference: str) -> Answer:
        with self.lock:
            self.stats["queries"] += 1
            stop = self.stops.get(reference)
            if stop is None or stop.bank != bank:
                raise BadRequest(f"no stop {reference} at {bank}", 404, "stop_not_found")
            self._advance(stop)
            return 200, stop.as_json()

    def act(self, bank: str, reference: str, operation: str, key: str, body: Json) -> Answer:
        with self.lock:
            self.stats[operation] += 1
            if key and (bank, key) in self.replies:
                seen_reference, answer = self.replies[(bank, key)]
                if seen_reference == reference:
                    return answer
            stop = self.stops.get(reference)
            if stop is None or stop.bank != bank:
                raise BadRequest(f"no stop {reference} at {bank}", 404, "stop_not_found")
            self._advance(stop)
            answer = self._act(stop, operation, body)
            if key:
                self.replies[(bank, key)] = (reference, answer)
            return answer

    def _act(self, stop: Stop, operation: str, body: Json) -> Answer:
        now = _now()
        account = self.accounts[(stop.bank, stop.account)]
        if operation == "renew":
            if stop.status != "stopped":
                return 409, {"error": "not_stopped", "message": f"the stop is {stop.status}"}
            if stop.renewed:
                return 409, {"error": "already_renewed", "message": "a stop may be renewed once"}
            if stop.expires_at is not None and now >= stop.expires_at:
                return 409, {"error": "expired", "message": "the stop has expired"}
            stop.renewed = True
            stop.expires_at = (stop.expires_at or now) + timedelta(hours=STOP_HOURS)
        elif operation == "release":
            if stop.status not in ("stopped", "frozen"):
                return 409, {"error": "not_stopped", "message": f"the stop is {stop.status}"}
            account.balance_fen += stop.frozen_fen if stop.status == "frozen" else stop.stopped_fen
            stop.status, stop.released_at = "released", now
        elif operation == "freeze":
            if stop.status != "stopped" or stop.stopped_fen <= 0:
                return 409, {"error": "nothing_to_freeze", "message": "only stopped money can be frozen"}
            stop.status, stop.frozen_fen = "frozen", stop.stopped_fen
        elif operation == "return":
            amount = body.get("amount_fen", stop.frozen_fen)
            if stop.status != "frozen":
                return 409, {"error": "not_frozen", "message": "only frozen money can be returned"}
            if not isinstance(amount, int) or amount <= 0 or amount > stop.frozen_fen:
                raise BadRequest(f"amount_fen: 1 to {stop.frozen_fen} fen can be returned")
            stop.status, stop.returned_fen = "returned", amount
        else:
            raise BadRequest(f"no operation {operation!r}", 404, "not_found")
        return 200, stop.as_json()

    # --- control -------------------------------------------------------------------------

    def set_outage(self, values: Json) -> Json:
        with self.lock:
            mode = str(values.get("mode", "503"))
            if mode == "none":
                self.outage = None
                return {"outage": None}
            if mode not in ("503", "timeout"):
                raise BadRequest("mode: 503, timeout or none")
            seconds = values.get("seconds")
            self.outage = Outage(mode=mode, remaining=values.get("requests"),
                                 until=time.monotonic() + float(seconds) if seconds is not None else None,
                                 bank=values.get("bank"), stall_seconds=float(values.get("stall_seconds", 5)))
            return {"outage": {"mode": mode, "requests": self.outage.remaining, "seconds": seconds}}

    def take_outage(self, bank: str) -> Outage | None:
        with self.lock:
            outage = self.outage
            if outage is None or not outage.applies(bank):
                return None
            if outage.remaining is not None:
                outage.remaining -= 1
            self.stats[f"outage_{outage.mode}"] += 1
            return outage

    def statistics(self) -> Json:
        with self.lock:
            return {**self.stats, "per_account": dict(self.per_account),
                    "balances": {f"{b}:{n}": a.balance_fen for (b, n), a in self.accounts.items()}}


# --- HTTP ----------------------------------------------------------------------------------

def _route(sim: Simulator, method: str, parts: list[str], headers: dict[str, str], body: Json) -> Answer:
    if parts[:1] == ["_sim"]:
        what = parts[1] if len(parts) > 1 else ""
        if (method, what) == ("GET", "health"):
            return 200, {"ok": True}
        if (method, what) == ("GET", "stats"):
            return 200, sim.statistics()
        if (method, what) == ("POST", "reset"):
            sim.reset(body)
            return 200, {"ok": True}
        if (method, what) == ("POST", "config"):
            with sim.lock:
                sim.config.update(body)
                return 200, vars(sim.config)
        if (method, what) == ("POST", "accounts"):
            return 200, {"loaded": sim.load_accounts(list(body.get("accounts", [])))}
        if (method, what) == ("POST", "outage"):
            return 200, sim.set_outage(body)
        raise BadRequest("no such control endpoint", 404, "not_found")
    if len(parts) < 4 or parts[0] != "banks" or parts[2:4] != ["v1", "stops"]:
        raise BadRequest("no such endpoint", 404, "not_found")
    bank = parts[1]
    if bank not in BANK_CODES:
        raise BadRequest(f"no bank {bank}", 404, "bank_not_found")
    key = headers.get("idempotency-key", "")
    if method == "POST" and len(parts) == 4:
        return sim.submit(bank, key, body)
    if method == "GET" and len(parts) == 5:
        return sim.get(bank, parts[4])
    if method == "POST" and len(parts) == 6:
        return sim.act(bank, parts[4], parts[5], key, body)
    raise BadRequest("no such endpoint", 404, "not_found")


def make_app(sim: Simulator) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        bank_call = parts[:1] == ["banks"] and len(parts) > 1
        outage = sim.take_outage(parts[1]) if bank_call else None
        if outage is not None and outage.mode == "503":
            status, answer = 503, {"error": "unavailable", "message": "the bank's system is down"}
        else:
            if bank_call:
                pause = sim.config.latency_ms + random.uniform(0, sim.config.jitter_ms)
                time.sleep(pause / 1000)
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length) if length else b""
                body = json.loads(raw) if raw else {}
                if not isinstance(body, dict):
                    raise BadRequest("the body must be a JSON object")
                status, answer = _route(sim, method, parts, headers, body)
            except BadRequest as exc:
                status, answer = exc.status, {"error": exc.code, "message": str(exc)}
            except ValueError as exc:
                status, answer = 400, {"error": "bad_request", "message": str(exc)[:200]}
            if outage is not None:  # the work is done, but the reply comes too late
                time.sleep(outage.stall_seconds)
        payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        start_response(f"{status} {_REASONS.get(status, 'Status')}",
                       [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(payload)))])
        return [payload]

    return app


_REASONS: Final = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 409: "Conflict",
                   503: "Service Unavailable"}


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a stalled reply closes its end; that is expected here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(host: str, port: int, config: Config, accounts: list[Json] | None = None) -> _Server:
    sim = Simulator(config, accounts)
    return make_server(host, port, make_app(sim), server_class=_Server, handler_class=_QuietHandler)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port (printed)")
    parser.add_argument("--seed", type=int, default=1, help="generates the accounts not loaded")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every bank call")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="up to this much more, at random")
    parser.add_argument("--processing-ms", type=float, default=200.0, help="from a stop's receipt to its answer")
    parser.add_argument("--unknown-accounts", choices=("generate", "reject"), default="generate")
    parser.add_argument("--max-depth", type=int, default=3, help="hops of onward transfers generated")
    parser.add_argument("--accounts", default="", help="a JSON file: [{bank, account, balance_fen, onward: [...]}]")


def run(options: argparse.Namespace, out: Any = sys.stdout) -> None:
    accounts: list[Json] = []
    if options.accounts:
        with open(options.accounts, encoding="utf-8") as handle:
            accounts = json.load(handle)
    config = Config(seed=options.seed, latency_ms=options.latency_ms, jitter_ms=options.jitter_ms,
                    processing_ms=options.processing_ms, unknown_accounts=options.unknown_accounts,
                    max_depth=options.max_depth)
    server = serve(options.host, options.port, config, accounts)
    port = server.server_address[1]
    print(f"bank simulator listening on http://{options.host}:{port}", file=out, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bank-sim", description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
