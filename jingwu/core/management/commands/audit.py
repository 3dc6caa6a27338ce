"""`jingwu audit verify` checks the hash chain; `jingwu audit tail [-n N]` prints the latest entries."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jingwu.core import audit
from jingwu.core.models import AuditEntry


class Command(BaseCommand):
    help = "Verify the audit log's hash chain, or print its latest entries."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{verify,tail}")
        verbs.add_parser("verify", help="walk the whole chain; exit 1 naming the first bad entry")
        tail = verbs.add_parser("tail", help="print the latest entries, oldest first")
        tail.add_argument("-n", type=int, default=20, help="how many entries (default 20)")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        if verb == "verify":
            result = audit.verify()
            if not result.ok:
                raise CommandError(f"audit chain broken at entry {result.bad_entry_id}: {result.reason}",
                                   returncode=1)
            self.stdout.write(f"audit chain intact: {result.checked} entries")
        else:
            if options["n"] < 1:
                raise CommandError("-n must be at least 1")
            for entry in audit.tail(options["n"]):
                self.stdout.write(_line(entry))


def _line(e: AuditEntry) -> str:
    at = timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S")
    obj = ":".join(part for part in (e.object_type, e.object_id) if part) or "-"
    cells = [str(e.pk), at, e.outcome, e.action, e.actor_username or "-", e.unit_code or "-", obj,
             f"purpose={e.purpose!r}" if e.purpose else "", f"req={e.request_id}" if e.request_id else "",
             f"from={e.client_addr}" if e.client_addr else "",
             json.dumps(e.details, ensure_ascii=False, sort_keys=True) if e.details else ""]
    return "  ".join(c for c in cells if c)
