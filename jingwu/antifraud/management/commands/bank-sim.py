"""`jingwu bank-sim --port 8100`: the bank partner simulator (jingwu/antifraud/bank_sim.py)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jingwu.antifraud import bank_sim, synthetic


class Command(BaseCommand):
    help = ("Run the bank partner simulator: every bank's stop-payment API, over real HTTP (docs/bank-api.md). "
            "Without --accounts it loads the accounts `jingwu seed` wrote for the seeded province, if any.")
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        bank_sim.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["accounts"]:  # the seeded province's mules and collectors, when there are any
            seeded = synthetic.seeded_accounts_file()
            if seeded is not None:
                options["accounts"] = str(seeded)
                self.stdout.write(f"accounts of the synthetic province: {seeded}")
        bank_sim.run(argparse.Namespace(**options), out=self.stdout)
