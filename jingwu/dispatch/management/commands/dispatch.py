"""`jingwu dispatch`: patrol units and past incidents for the synthetic province, and a live
call stream replayed against a running server."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jingwu.core.services import ServiceError
from jingwu.dispatch.simulate import SimulationReport, simulate
from jingwu.dispatch.synthetic import seed_dispatch, seed_history


class Command(BaseCommand):
    help = ("110 dispatch at the console. seed-units: deterministic patrol units for every station; "
            "seed-history: months of past incidents; simulate: a live call stream against a server.")

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{seed-units,seed-history,simulate}")
        seed = verbs.add_parser("seed-units", help="patrol units with crews and positions for each station "
                                                   "(run `jingwu seed` first); existing call signs are kept")
        seed.add_argument("--per-station", type=int, default=2, help="units per station (default 2)")
        seed.add_argument("--seed", type=int, default=2017, help="random seed (default 2017)")
        seed.add_argument("--city", action="append", default=[], metavar="CODE",
                          help="only this city's stations (repeatable; default all stations)")
        history = verbs.add_parser("seed-history", help="past incidents with a daily rhythm, clustered in towns "
                                                        "(after seed-units); the same seed twice adds nothing")
        history.add_argument("--incidents", type=int, default=3000, help="incidents in total (default 3000)")
        history.add_argument("--days", type=int, default=90, help="over this many days before today (default 90)")
        history.add_argument("--seed", type=int, default=2017, help="random seed (default 2017)")
        history.add_argument("--city", action="append", default=[], metavar="CODE",
                             help="only this city's stations (repeatable; default all)")
        sim = verbs.add_parser("simulate", help="send calls and unit pings to a running server's HTTP API")
        sim.add_argument("--rate", type=float, required=True, help="calls per minute")
        sim.add_argument("--minutes", type=float, required=True, help="how long to run")
        sim.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
        sim.add_argument("--token", required=True, help="bearer token with scope dispatch.calls "
                                                        "(and dispatch.positions unless --positions-token)")
        sim.add_argument("--positions-token", default=None, help="token with scope dispatch.positions")
        sim.add_argument("--ping-every", type=float, default=10.0, help="seconds between position rounds")
        sim.add_argument("--seed", type=int, default=2017, help="random seed (default 2017)")
        sim.add_argument("--city", action="append", default=[], metavar="CODE",
                         help="only this city's towns and units (repeatable; default all)")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        try:
            if verb == "seed-units":
                self._units(**options)
            elif verb == "seed-history":
                self._history(**options)
            else:
                self._simulate(**options)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc

    def _units(self, **options: Any) -> None:
        report = seed_dispatch(seed=options["seed"], per_station=options["per_station"],
                               city_codes=options["city"] or None)
        if report.stations == 0:
            raise CommandError("no stations: build the organisation tree with `jingwu seed` first")
        self.stdout.write(f"Patrol units: {report.created} created, {report.existing} already there, "
                          f"for {report.stations} stations.")

    def _history(self, **options: Any) -> None:
        report = seed_history(seed=options["seed"], incidents=options["incidents"], days=options["days"],
                              city_codes=options["city"] or None)
        if report.existing:
            self.stdout.write(f"{report.existing} past incidents of seed {options['seed']} already there.")
        else:
            self.stdout.write(f"Added {report.incidents} past incidents ({report.calls} calls, "
                              f"{report.assignments} dispatches, {report.diversions} diversions).")

    def _simulate(self, **options: Any) -> None:
        def progress(report: SimulationReport) -> None:
            if options["verbosity"] > 1:
                self.stdout.write(f"calls {report.calls_sent}: {dict(report.calls)}")

        try:
            report = simulate(url=options["url"], token=options["token"], rate=options["rate"],
                              minutes=options["minutes"], positions_token=options["positions_token"],
                              ping_every=options["ping_every"], seed=options["seed"],
                              city_codes=options["city"] or None, progress=progress)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        seconds = sorted(report.call_seconds)
        median = f"{seconds[len(seconds) // 2] * 1000:.0f} ms" if seconds else "—"
        self.stdout.write(f"Calls sent {report.calls_sent} (by status {dict(sorted(report.calls.items()))}), "
                          f"median answer {median}; position rounds {sum(report.pings.values())} "
                          f"(by status {dict(sorted(report.pings.items()))}).")
        for error in report.errors:
            self.stderr.write(error)
        if any(status >= 400 for status in report.calls) or any(status >= 400 for status in report.pings):
            raise CommandError("some requests were refused (see above)")
