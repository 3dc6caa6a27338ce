"""`jingwu seed`: build or extend the deterministic synthetic province."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from jingwu.antifraud import synthetic as antifraud_synthetic
from jingwu.cases import synthetic as cases_synthetic
from jingwu.core.services import ServiceError
from jingwu.dispatch.synthetic import seed_demo
from jingwu.synthetic import services
from jingwu.synthetic.province import city_codes


class Command(BaseCommand):
    help = ("Build the synthetic province: the org tree of the first C cities, demo users for every role, "
            "and N people with their source records; writes the ground truth. Same seed → same data; "
            "re-running adds only missing people.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--people", type=int, default=20_000, help="people in total (default 20000)")
        parser.add_argument("--cities", type=int, default=3,
                            help=f"the first C cities in code order, 1..{len(city_codes())} (default 3)")
        parser.add_argument("--seed", type=int, default=2017, help="random seed (default 2017)")
        parser.add_argument("--workers", type=int, default=None,
                            help="generator processes (default: 0 for small runs, else up to 2)")

    def handle(self, *args: Any, people: int, cities: int, seed: int, workers: int | None, **options: Any) -> None:
        if not 1 <= cities <= len(city_codes()):
            raise CommandError(f"--cities must be 1..{len(city_codes())}")
        bar = tqdm(total=None, unit=" people", unit_scale=True, disable=options["verbosity"] == 0,
                   desc="people", leave=False)

        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.reset(total=total)
            bar.update(done)

        try:
            report = services.synthetic_seed(people=people, cities=cities, seed=seed, workers=workers,
                                             progress=progress)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self._summary(report)
        self.stdout.write(seed_demo(seed=seed))  # 110 dispatch: patrol units and months of incidents
        self.stdout.write(cases_synthetic.summary_line(cases_synthetic.cases_seed(seed=seed)))
        self.stdout.write(antifraud_synthetic.summary_line(antifraud_synthetic.fraud_seed(seed=seed)))

    def _summary(self, report: services.SeedReport) -> None:
        out = self.stdout
        layout, province = report.province.layout, report.province
        tree = (f"{len(layout.cities)} cities, {len(layout.counties)} counties/districts, "
                f"{len(layout.townships)} stations, {len(layout.grids)} grids")
        if province.units_created == 0:
            out.write(f"Province 370000 exists with {province.units_total} units ({tree}) — reused.")
        else:
            out.write(f"Province 370000: created {province.units_created} of {province.units_total} units ({tree}).")
        out.write(f"Demo accounts (password {services.DEMO_PASSWORD}):")
        for account in report.demo_accounts:
            out.write(f"  {account.username:<22} {account.role:<15} {account.unit_name}")
        out.write(f"demo_administrator needs TOTP; enrol this in an authenticator app:\n  {report.totp_uri}")
        stored = report.people
        if stored.people_after == stored.people_before:
            out.write(f"People: the database already holds {stored.people_before:,} people of seed {report.seed} "
                      f"({report.cities} cities) — nothing to add.")
        else:
            counts = ", ".join(f"{k} {v:,}" for k, v in sorted(stored.records.items()))
            out.write(f"People: added {stored.people_after - stored.people_before:,} "
                      f"(now {stored.people_after:,}) of seed {report.seed}; records: {counts}.")
        rebuilt = " (rebuilt: the file did not match the database)" if stored.ground_truth_rebuilt else ""
        out.write(f"Ground truth: {stored.ground_truth}{rebuilt}")
        out.write(f"Done in {report.seconds:.1f} s.")
