"""`jingwu export --format ftm [--source S] [--out FILE]`: current source records as a
FollowTheMoney entity stream, for Aleph and the other FtM tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jingwu.core.models import User
from jingwu.records import selectors
from jingwu.records.mapping import KINDS


class Command(BaseCommand):
    help = ("Write the current version of every source record as FollowTheMoney entities, one JSON line each "
            "(docs/data-formats.md §7). `jingwu import` reads the file back without a mapping.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=["ftm"], help="ftm: a FollowTheMoney entity stream")
        parser.add_argument("--source", help="only this source's records")
        parser.add_argument("--kind", choices=KINDS, help="only records of this kind")
        parser.add_argument("--out", type=Path, help="the file to write (default: standard output)")
        parser.add_argument("--parties", action="store_true",
                            help="also write the Person each vehicle's or phone's owner points at")
        parser.add_argument("--user", help="export what this user may see (default: the console, everything)")

    def handle(self, *args: Any, source: str | None, kind: str | None, out: Path | None, parties: bool,
               user: str | None, **options: Any) -> None:
        actor = None
        if user:
            actor = User.objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"no user {user!r}")
        if source and not selectors.sources().filter(key=source).exists():
            known = ", ".join(selectors.sources().values_list("key", flat=True)) or "none yet"
            raise CommandError(f"unknown source {source!r}; known sources: {known}")
        if out is None:
            report = selectors.export_ftm(actor=actor, out=self.stdout, source=source, kind=kind, parties=parties)
        else:
            with out.open("w", encoding="utf-8", newline="\n") as handle:
                report = selectors.export_ftm(actor=actor, out=handle, source=source, kind=kind, parties=parties)
        kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(report.by_kind.items())) or "none"
        skipped = f"; {report.skipped:,} records skipped (they no longer normalise)" if report.skipped else ""
        self.stderr.write(f"exported {report.entities:,} entities ({kinds}), {report.parties:,} parties"
                          f"{skipped}")
