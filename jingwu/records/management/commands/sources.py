"""`jingwu sources list|add`: the source systems records are imported into."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jingwu.core.services import ServiceError
from jingwu.records import selectors, services


class Command(BaseCommand):
    help = "List the source systems, or add one (e.g. `jingwu sources add telecom 电信实名登记 --trust 40`)."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{list,add}")
        verbs.add_parser("list", help="key, name, trust rank, current records and batches of each source")
        add = verbs.add_parser("add", help="add a source system")
        add.add_argument("key", help="lower-case letters, digits, '_' or '-', e.g. telecom")
        add.add_argument("name", help="what people call it, e.g. 电信实名登记")
        add.add_argument("--trust", type=int, default=50,
                         help="trust rank when sources disagree: lower is more trusted (default 50)")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        if verb == "add":
            try:
                source = services.source_create(actor=None, key=options["key"], name=options["name"],
                                                trust_rank=options["trust"])
            except ServiceError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"added source {source.key} ({source.name}), trust rank {source.trust_rank}")
            return
        self.stdout.write("key\tname\ttrust\trecords\tbatches")
        for summary in selectors.source_summaries():
            self.stdout.write(f"{summary.key}\t{summary.name}\t{summary.trust_rank}\t{summary.records}\t"
                              f"{summary.batches}")
