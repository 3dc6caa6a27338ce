"""`jingwu dispatch seed-units`: patrol units for the synthetic province's stations."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jingwu.core.services import ServiceError
from jingwu.dispatch.synthetic import seed_dispatch


class Command(BaseCommand):
    help = "110 dispatch at the console. seed-units: deterministic patrol units for every station."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{seed-units}")
        seed = verbs.add_parser("seed-units", help="patrol units with crews and positions for each station "
                                                   "(run `jingwu seed` first); existing call signs are kept")
        seed.add_argument("--per-station", type=int, default=2, help="units per station (default 2)")
        seed.add_argument("--seed", type=int, default=2017, help="random seed (default 2017)")
        seed.add_argument("--city", action="append", default=[], metavar="CODE",
                          help="only this city's stations (repeatable; default all stations)")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        try:
            report = seed_dispatch(seed=options["seed"], per_station=options["per_station"],
                                   city_codes=options["city"] or None)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if report.stations == 0:
            raise CommandError("no stations: build the organisation tree with `jingwu seed` first")
        self.stdout.write(f"Patrol units: {report.created} created, {report.existing} already there, "
                          f"for {report.stations} stations.")
