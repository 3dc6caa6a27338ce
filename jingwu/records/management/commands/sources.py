"""`jingwu sources list|add|partner`: the source systems records are imported into, and the
partner system bound to a source (its API token may push that source's feed)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jingwu.core.models import User
from jingwu.core.services import ServiceError
from jingwu.records import selectors, services


class Command(BaseCommand):
    help = ("List the source systems, add one (e.g. `jingwu sources add telecom 电信实名登记 --trust 40`), "
            "or bind one to the partner system that pushes it (`jingwu sources partner bank partner_bank`).")

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{list,add,partner}")
        verbs.add_parser("list", help="key, name, trust rank, current records and batches of each source")
        add = verbs.add_parser("add", help="add a source system")
        add.add_argument("key", help="lower-case letters, digits, '_' or '-', e.g. telecom")
        add.add_argument("name", help="what people call it, e.g. 电信实名登记")
        add.add_argument("--trust", type=int, default=50,
                         help="trust rank when sources disagree: lower is more trusted (default 50)")
        partner = verbs.add_parser("partner", help="bind a source to a partner user (who may then push it)")
        partner.add_argument("key", help="the source's key")
        partner.add_argument("username", nargs="?", help="the partner's user name (omit with --none)")
        partner.add_argument("--none", action="store_true", help="unbind: no partner may push this source")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        if verb == "partner":
            self._partner(options["key"], options["username"], unbind=options["none"])
            return
        if verb == "add":
            try:
                source = services.source_create(actor=None, key=options["key"], name=options["name"],
                                                trust_rank=options["trust"])
            except ServiceError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"added source {source.key} ({source.name}), trust rank {source.trust_rank}")
            return
        self.stdout.write("key\tname\ttrust\trecords\tbatches\tpartner")
        for summary in selectors.source_summaries():
            self.stdout.write(f"{summary.key}\t{summary.name}\t{summary.trust_rank}\t{summary.records}\t"
                              f"{summary.batches}\t{summary.partner or '-'}")

    def _partner(self, key: str, username: str | None, *, unbind: bool) -> None:
        if unbind == (username is not None):
            raise CommandError("name the partner's user, or give --none to unbind")
        source = selectors.sources().filter(key=key).first()
        if source is None:
            raise CommandError(f"no source {key!r}")
        partner = None
        if username is not None:
            partner = User.objects.filter(username=username).first()
            if partner is None:
                raise CommandError(f"no user {username!r}")
        try:
            services.source_partner_set(actor=None, source=source, partner=partner)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if partner is None:
            self.stdout.write(f"source {source.key}: no partner may push it")
        else:
            self.stdout.write(f"source {source.key}: partner {partner.username} may push it")
