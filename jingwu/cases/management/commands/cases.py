"""`jingwu cases scan-deadlines [--now ISO]`: the deadline scan the periodic job runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jingwu.cases import services


class Command(BaseCommand):
    help = "Case handling jobs: scan-deadlines warns before deadlines and raises overdue alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{scan-deadlines}")
        scan = verbs.add_parser("scan-deadlines", help="warn and alert once per deadline (safe to re-run)")
        scan.add_argument("--now", default="", help="scan as of this time (ISO 8601, with or without zone)")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        now = None
        if options["now"]:
            try:
                now = dt.datetime.fromisoformat(options["now"])
            except ValueError as exc:
                raise CommandError(f"--now: not an ISO 8601 time: {options['now']!r}") from exc
            if timezone.is_naive(now):
                now = timezone.make_aware(now)
        report = services.deadlines_scan(now=now)
        at = timezone.localtime(report.at).strftime("%Y-%m-%d %H:%M:%S")
        self.stdout.write(f"deadline scan at {at}: {report.warned} warned, {report.overdue} overdue")
