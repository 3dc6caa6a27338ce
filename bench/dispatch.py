"""Benchmark: 110 dispatch — recommendation latency, the board's render time, intake over HTTP.

    .venv/bin/python bench/dispatch.py                          # 5,000 units, 500 open incidents, SQLite
    .venv/bin/python bench/dispatch.py --database postgres
    .venv/bin/python bench/dispatch.py --units 5000 --open 500 --calls 1000 --clients 4

The synthetic province's org tree (its grids and stations) is built for the first cities, and
patrol units are spread over the stations until there are `--units` of them; `--open` calls
come in through services.call_receive and are classified (the board's open incidents).

- recommendation: for every open incident, ``nearest_units`` (the indexed lookup the page and
  the API use) against ``nearest_units_naive`` (measure every available unit), same arguments,
  same run; both must give the same units. Target p99 ≤ 20 ms.
- board: the command centre page and its polled fragment rendered through Django's test client
  as a city dispatcher, with `--open` incidents open (the page shows up to 500), and its queries.
- intake: the production server (`jingwu serve --no-jobs`: gunicorn, its default number of
  synchronous worker processes unless `--workers N`) takes `--calls` calls through
  ``POST /api/calls`` from `--clients` client threads (raw sockets, one connection each, every
  answer checked: a call counts when it answered 201 with an incident id) with the telephony
  link's token; beside it, in the same run and against the same server, the same clients'
  ``GET /healthz`` round trips (a trivial endpoint: the ceiling of the HTTP stack), alternating
  with the calls in 5 rounds, and the ratio; each worker is warmed first by 8 calls per worker
  (not counted). CPU per request of the server's workers, of PostgreSQL's processes and of the
  clients (this process) is printed beside the rates. Target ≥ 200 calls/s.
  `--intake-only` skips the recommendation and board parts (a smaller world, `--units`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from measure import PeakMemory, django_on_scratch, machine, percentile  # noqa: E402  (bench/ is on sys.path)

BENCH_DB: Final = "jingwu_bench_dispatch"


def world(units: int, cities: int) -> dict[str, Any]:
    from jingwu.core import services as core_services
    from jingwu.core import tokens
    from jingwu.core.models import Unit, UnitKind
    from jingwu.dispatch.synthetic import seed_dispatch
    from jingwu.synthetic.services import province_build

    province_build(cities=cities)
    stations = Unit.objects.filter(kind=UnitKind.STATION).count()
    seed_dispatch(seed=1, per_station=math.ceil(units / stations))
    city = Unit.objects.filter(kind=UnitKind.CITY).order_by("code").first()
    assert city is not None
    command = Unit.objects.filter(parent=city, department="command_centre").first() or core_services.unit_create(
        actor=None, code=f"{city.code}D-ZH", name=f"{city.name}指挥中心", kind=UnitKind.DEPARTMENT, parent=city,
        department="command_centre")
    dispatcher = core_services.user_create(actor=None, username="bench_dispatcher", password="bench-password-1",
                                           home_unit=command)
    core_services.role_grant(actor=None, user=dispatcher, role="dispatcher", unit=command)
    gateway = core_services.user_create(actor=None, username="bench_gateway", password="bench-password-1",
                                        home_unit=city)
    core_services.role_grant(actor=None, user=gateway, role="dispatch_gateway", unit=city)
    token = tokens.token_create(actor=None, user=gateway, scopes=["dispatch.calls"], days=1).secret
    return {"city": city, "dispatcher": dispatcher, "gateway": gateway, "token": token, "stations": stations}


def open_incidents(n: int, city: Any, gateway: Any, dispatcher: Any) -> int:
    """Calls until `n` incidents are open in the city, each classified as suggested."""
    from jingwu.dispatch import selectors, services
    from jingwu.dispatch.synthetic import CallStream

    stream = CallStream(seed=1, city_codes=[city.code], run="open")
    start = datetime.now(UTC) - timedelta(minutes=25)
    calls = 0
    while selectors.open_incidents(dispatcher).count() < n:
        body = stream.call(start + timedelta(seconds=calls))
        calls += 1
        taken = services.call_receive(actor=gateway, centre=city, content=body["content"],
                                      received_at=datetime.fromisoformat(body["received_at"]),
                                      answered_at=datetime.fromisoformat(body["answered_at"]),
                                      caller_number=body["caller_number"], lat=body["lat"], lon=body["lon"],
                                      address=body["address"], external_id=body["external_id"])
        incident = taken.incident
        if not taken.repeat and incident.suggested_category:
            services.incident_classify(actor=dispatcher, incident=incident, category=incident.suggested_category,
                                       subcategory=incident.suggested_subcategory,
                                       priority=incident.suggested_priority or 3)
    return calls


def recommendation(dispatcher: Any) -> dict[str, Any]:
    from jingwu.dispatch import selectors

    ours, naive, scoped = [], [], []
    same = total = 0
    for incident in selectors.board_incidents(dispatcher):
        origin = selectors.incident_origin(incident)
        if origin is None:
            continue
        lat, lon, _approximate = origin
        grid, station = incident.grid_id, incident.station_id
        t = time.perf_counter()
        fast = selectors.nearest_units(lat=lat, lon=lon, grid_id=grid, station_id=station)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        slow = selectors.nearest_units_naive(lat=lat, lon=lon, grid_id=grid, station_id=station)
        naive.append(time.perf_counter() - t)
        t = time.perf_counter()
        selectors.recommend_units(dispatcher, incident)
        scoped.append(time.perf_counter() - t)
        total += 1
        same += [r.patrol_unit_id for r in fast] == [r.patrol_unit_id for r in slow]
    return {"ours": ours, "naive": naive, "scoped": scoped, "same": same, "total": total}


def board(dispatcher: Any, repeats: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(dispatcher)
    figures: dict[str, Any] = {}
    for name, url in (("page", "/dispatch/board/"), ("fragment", "/dispatch/board/incidents"),
                      ("positions", "/dispatch/board/positions.json")):
        client.get(url)  # warm
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        figures[name] = {"times": times, "queries": len(captured.captured_queries), "bytes": len(response.content)}
    return figures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) spent so far by the server's worker processes: what a request
    costs the server whatever else the shared machine runs meanwhile."""
    import psutil

    total = 0.0
    for child in psutil.Process(pid).children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class Connection:
    """One client's HTTP/1.1 connection, kept open while the server keeps it (gunicorn's
    synchronous workers close it after each response, so then one per request): a raw socket
    and just the parsing a check needs, so the clients, which share the server's cores, cost
    it as little CPU as they can."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.host = f"{host}:{port}"
        self.sock: socket.socket | None = None

    def request(self, method: str, path: str, body: bytes = b"", headers: bytes = b"") -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n".encode()
                + headers + b"\r\n")
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection before answering")
            data += chunk
        header, _sep, rest = data.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _c, v in (line.partition(b":") for line in lines[1:])}
        length = int(fields.get(b"content-length", b"-1"))
        while len(rest) < length or length < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        if fields.get(b"connection", b"").lower() == b"close" or length < 0:
            self.sock.close()
            self.sock = None
        return status, rest

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def database_cpu(pids: list[int]) -> float:
    """CPU seconds spent so far by the PostgreSQL server's processes (none for SQLite, which
    runs inside the workers)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def database_pids() -> list[int]:
    """The PostgreSQL server's processes (its backends and background workers), read once the
    server's workers have connected; the bench's own connection is closed again."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()
    return pids


def intake_over_http(token: str, city: Any, calls: int, clients: int, workers: int | None,
                     workdir: Path) -> dict[str, Any]:
    import psutil
    from django.db import connections

    from jingwu.dispatch.synthetic import CallStream

    connections.close_all()  # the server's workers are the only writers while it runs
    port = free_port()
    env = {**os.environ, "JINGWU_ALLOWED_HOSTS": "127.0.0.1"}
    command = [sys.executable, "-m", "jingwu", "serve", f"127.0.0.1:{port}", "--no-jobs"]
    if workers is not None:
        command += ["--workers", str(workers)]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=(workdir / "server.log").open("w"))
    probe = Connection("127.0.0.1", port)
    try:
        deadline = time.monotonic() + 300  # workers import the whole application; slow on a loaded machine
        while time.monotonic() < deadline:
            try:
                if probe.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                probe.close()
                time.sleep(0.2)
        started_workers = len(psutil.Process(server.pid).children())
        # Every worker warm (its first request pays for lazy imports), as the calls will find them.
        for _ in range(4 * started_workers):
            probe.request("GET", "/healthz")
        probe.close()
        stream = CallStream(seed=2, city_codes=[city.code], run="http")
        now = datetime.now(UTC) - timedelta(seconds=30)
        bodies = [json.dumps(stream.call(now)).encode() for _ in range(calls)]
        call_headers = f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n".encode()

        def drive(work: Sequence[bytes | None], method: str, path: str) -> tuple[float, list[float], dict[int, int]]:
            """`clients` threads, each with its connection, take the work from one queue; every
            answer is checked (a call: 201 and the new incident's id)."""
            lock = threading.Lock()
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            queue = list(work)
            failures: list[str] = []

            def client() -> None:
                connection = Connection("127.0.0.1", port)
                try:
                    while True:
                        with lock:
                            if not queue:
                                return
                            body = queue.pop()
                        t = time.perf_counter()
                        status, answer = connection.request(method, path, body or b"",
                                                            call_headers if body is not None else b"")
                        spent = time.perf_counter() - t
                        if body is not None and (status != 201 or not isinstance(
                                json.loads(answer).get("incident_id"), int)):
                            failures.append(f"{status} {answer[:200]!r}")
                            status = -status  # counted apart: not an accepted call
                        with lock:
                            latencies.append(spent)
                            statuses[status] = statuses.get(status, 0) + 1
                finally:
                    connection.close()

            threads = [threading.Thread(target=client) for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures:
                print(f"  {len(failures)} bad answers, the first: {failures[0]}", file=sys.stderr)
            return time.perf_counter() - started, latencies, statuses

        # Each worker builds its grid index and unit caches on its first call, as a long-running
        # server has done long before: warm-up calls (not counted) from a stream of their own.
        warm = CallStream(seed=3, city_codes=[city.code], run="warm")
        drive([json.dumps(warm.call(now)).encode() for _ in range(8 * started_workers)], "POST", "/api/calls")
        # The machine is shared: floor and intake alternate in rounds, so both meet the same load.
        floor_seconds = seconds = 0.0
        floor_lat: list[float] = []
        latencies: list[float] = []
        floor_status: dict[int, int] = {}
        statuses: dict[int, int] = {}
        rounds = 5
        floor_cpu = cpu = client_cpu = floor_client_cpu = db_cpu = floor_db_cpu = 0.0
        db = database_pids()
        load = [os.getloadavg()[0]]
        with PeakMemory() as memory:
            for r in range(rounds):
                before, before_client, before_db = server_cpu(server.pid), time.process_time(), database_cpu(db)
                spent, lat, status = drive([None] * (calls // rounds), "GET", "/healthz")
                middle, middle_client, middle_db = server_cpu(server.pid), time.process_time(), database_cpu(db)
                floor_db_cpu += middle_db - before_db
                floor_cpu += middle - before
                floor_client_cpu += middle_client - before_client
                floor_seconds += spent
                floor_lat += lat
                for code, n in status.items():
                    floor_status[code] = floor_status.get(code, 0) + n
                spent, lat, status = drive(bodies[r::rounds], "POST", "/api/calls")
                cpu += server_cpu(server.pid) - middle
                db_cpu += database_cpu(db) - middle_db
                client_cpu += time.process_time() - middle_client
                seconds += spent
                latencies += lat
                for code, n in status.items():
                    statuses[code] = statuses.get(code, 0) + n
                load.append(os.getloadavg()[0])
        return {"seconds": seconds, "latencies": latencies, "statuses": statuses, "floor_seconds": floor_seconds,
                "floor_latencies": floor_lat, "floor_statuses": floor_status, "peak_mb": memory.peak / 2**20,
                "cpu": cpu, "floor_cpu": floor_cpu, "client_cpu": client_cpu, "floor_client_cpu": floor_client_cpu,
                "workers": started_workers, "load": load, "db_cpu": db_cpu, "floor_db_cpu": floor_db_cpu}
    finally:
        server.send_signal(signal.SIGINT)  # gunicorn's quick stop, its workers with it
        server.wait(timeout=60)


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--open", type=int, default=500)
    parser.add_argument("--cities", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1000, help="calls sent over HTTP")
    parser.add_argument("--clients", type=int, default=8, help="client threads sending them")
    parser.add_argument("--workers", type=int, default=None,
                        help="server worker processes (jingwu serve --workers; default: its own default)")
    parser.add_argument("--intake-only", action="store_true", help="measure intake over HTTP only")
    parser.add_argument("--board-repeats", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jingwu-bench-dispatch-") as tmp:
        workdir = Path(tmp)
        django_on_scratch(workdir, database=args.database, postgres_name=BENCH_DB)
        from jingwu.dispatch.models import PatrolUnit
        from jingwu.dispatch.selectors import open_incidents as open_of

        t = time.perf_counter()
        built = world(args.units, args.cities)
        calls = open_incidents(args.open, built["city"], built["gateway"], built["dispatcher"])
        setup_seconds = time.perf_counter() - t
        units = PatrolUnit.objects.count()
        opened = open_of(built["dispatcher"]).count()
        rec = figures = None
        if not args.intake_only:
            rec = recommendation(built["dispatcher"])
            figures = board(built["dispatcher"], args.board_repeats)
        http = intake_over_http(built["token"], built["city"], args.calls, args.clients, args.workers, workdir)

    print(f"# bench/dispatch.py — {args.database}, {machine()}")
    print(f"setup: {units} patrol units at {built['stations']} stations, {opened} open incidents "
          f"(from {calls} calls) in {setup_seconds:.0f} s")
    if rec is not None and figures is not None:
        print_recommendation_and_board(rec, figures, opened)
    print()
    accepted = http["statuses"].get(201, 0)
    rate = accepted / http["seconds"]
    floor_n = sum(n for code, n in http["floor_statuses"].items() if code == 200)
    floor = floor_n / http["floor_seconds"]
    load = ", ".join(f"{x:.1f}" for x in http["load"])
    print(f"intake over HTTP ({args.clients} client threads, one connection each; jingwu serve: gunicorn, "
          f"{http['workers']} sync workers; {args.database}); 1-minute load average during the rounds: {load}")
    print(f"  POST /api/calls: {accepted} accepted calls (201 with an incident id) in {http['seconds']:.1f} s = "
          f"{rate:.0f} calls/s; latency p50 {ms(http['latencies'], 50)} ms, p99 {ms(http['latencies'], 99)} ms; "
          f"statuses {dict(sorted(http['statuses'].items()))}")
    print(f"  GET /healthz (floor, same server, same run): {floor:.0f} requests/s; "
          f"latency p50 {ms(http['floor_latencies'], 50)} ms, p99 {ms(http['floor_latencies'], 99)} ms; "
          f"statuses {dict(sorted(http['floor_statuses'].items()))}")
    sent = max(1, sum(http["statuses"].values()))
    per_call = http["cpu"] / sent * 1000
    per_floor = http["floor_cpu"] / max(1, floor_n) * 1000
    client_call = http["client_cpu"] / sent * 1000
    client_floor = http["floor_client_cpu"] / max(1, floor_n) * 1000
    print(f"  server CPU per request: POST /api/calls {per_call:.2f} ms, GET /healthz {per_floor:.2f} ms "
          f"(ratio {per_call / per_floor:.1f}); {os.cpu_count()} cores to itself would serve about "
          f"{(os.cpu_count() or 1) * 1000 / per_call:.0f} calls/s")
    print(f"  client CPU per request (the bench process, same cores): a call {client_call:.2f} ms, "
          f"a /healthz {client_floor:.2f} ms")
    if args.database == "postgres":
        print(f"  PostgreSQL server CPU per request: a call {http['db_cpu'] / sent * 1000:.2f} ms, "
              f"a /healthz {http['floor_db_cpu'] / max(1, floor_n) * 1000:.2f} ms")
    every = per_call + client_call + http["db_cpu"] / sent * 1000
    print(f"  all CPU a call costs on this machine (server + database + client): {every:.2f} ms; "
          f"{os.cpu_count()} free cores would take about {(os.cpu_count() or 1) * 1000 / every:.0f} calls/s")
    print(f"  intake / floor: {rate / floor:.2f}; peak memory of the bench and server processes "
          f"{http['peak_mb']:.0f} MiB")
    return 0


def print_recommendation_and_board(rec: dict[str, Any], figures: dict[str, Any], opened: int) -> None:
    print()
    print("recommendation, per open incident (ms)   p50     p99     mean")
    for name, values in (("nearest_units (indexed)", rec["ours"]), ("nearest_units_naive (scan)", rec["naive"]),
                         ("recommend_units (scoped, page/API)", rec["scoped"])):
        print(f"  {name:<36} {ms(values, 50):>7} {ms(values, 99):>7} {statistics.mean(values) * 1000:>7.2f}")
    print(f"  ratio naive/indexed: p50 {percentile(rec['naive'], 50) / percentile(rec['ours'], 50):.1f}×, "
          f"p99 {percentile(rec['naive'], 99) / percentile(rec['ours'], 99):.1f}×; "
          f"same answer for {rec['same']} of {rec['total']} incidents")
    print()
    print(f"board with {opened} open incidents (ms)     p50     p99   queries   bytes")
    for name, f in figures.items():
        print(f"  {name:<36} {ms(f['times'], 50):>7} {ms(f['times'], 99):>7} {f['queries']:>9} {f['bytes']:>7}")


if __name__ == "__main__":
    raise SystemExit(main())
