"""`jingwu bank-sim --port 8100`: the bank partner simulator (jingwu/antifraud/bank_sim.py)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jingwu.antifraud import bank_sim


class Command(BaseCommand):
    help = "Run the bank partner simulator: every bank's stop-payment API, over real HTTP (docs/bank-api.md)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        bank_sim.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        bank_sim.run(argparse.Namespace(**options), out=self.stdout)
