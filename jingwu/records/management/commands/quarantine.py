"""`jingwu quarantine list|retry|discard`: rows an import could not take, and what became of them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation

from jingwu.core.models import User
from jingwu.core.services import ServiceError
from jingwu.records import selectors, services
from jingwu.records.models import QuarantinedRow, QuarantineStatus

STATUSES = [*QuarantineStatus.values, "all"]


class Command(BaseCommand):
    help = ("List quarantined rows, retry one with corrected cells (by column, as in the file), or discard it. "
            "A retry imports the corrected row with its batch's mapping.")

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{list,retry,discard}")
        listing = verbs.add_parser("list", help="quarantined rows with their reasons and cells")
        listing.add_argument("--batch", type=int, help="only this batch's rows")
        listing.add_argument("--status", choices=STATUSES, default=QuarantineStatus.OPEN,
                             help="open (default), fixed, discarded or all")
        listing.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
        listing.add_argument("--language", choices=[code for code, _name in settings.LANGUAGES],
                             default=settings.LANGUAGE_CODE,
                             help=f"the language of the reasons (default {settings.LANGUAGE_CODE})")
        retry = verbs.add_parser("retry", help="correct cells and import the row again")
        retry.add_argument("row", type=int, metavar="ID", help="the quarantined row's id (from `list`)")
        retry.add_argument("--set", action="append", default=[], dest="cells", metavar="COLUMN=VALUE",
                           help="a corrected cell, by the file's column name; repeatable")
        retry.add_argument("--user", help="act as this user (default: the console)")
        discard = verbs.add_parser("discard", help="give up on the row (it is kept, marked discarded)")
        discard.add_argument("row", type=int, metavar="ID")
        discard.add_argument("--reason", default="", help="why, for the record")
        discard.add_argument("--user", help="act as this user (default: the console)")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        getattr(self, f"_{verb}")(**options)

    def _list(self, *, batch: int | None, status: str, limit: int, language: str, **_: Any) -> None:
        with translation.override(language):
            self._list_rows(batch=batch, status=status, limit=limit)

    def _list_rows(self, *, batch: int | None, status: str, limit: int) -> None:
        rows = selectors.quarantined_rows(None, batch=batch, status=None if status == "all" else status)
        total = rows.count()
        self.stdout.write("id\tbatch\trow\tstatus\treasons")
        joiner = translation.gettext("；")
        for row in rows[:limit]:
            reasons = joiner.join(selectors.issue_text(issue, row.row_number) for issue in row.issues)
            self.stdout.write(f"{row.pk}\t{row.batch_id}\t{row.row_number}\t{row.status}\t{reasons}")
            cells = dict(services.ordered_cells(row))
            self.stdout.write(f"\tcells: {json.dumps(cells, ensure_ascii=False)}")
        if total > limit:
            self.stdout.write(f"… {total - limit:,} more (use --limit)")

    def _retry(self, *, row: int, cells: list[str], user: str | None, **_: Any) -> None:
        corrected: dict[str, str] = {}
        for item in cells:
            column, sep, value = item.partition("=")
            if not sep or not column:
                raise CommandError(f"--set {item!r}: write COLUMN=VALUE")
            corrected[column] = value
        found = _row(row)
        try:
            fixed = services.quarantine_retry(actor=_user(user), row=found, corrected=corrected)
        except services.RetryRejected as exc:
            texts = (selectors.issue_text(dataclasses.asdict(i), found.row_number) for i in exc.issues)
            raise CommandError("still not importable:\n  " + "\n  ".join(texts)) from exc
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"row {fixed.row_number} of batch {fixed.batch_id} fixed: source record {fixed.record_id}")

    def _discard(self, *, row: int, reason: str, user: str | None, **_: Any) -> None:
        try:
            done = services.quarantine_discard(actor=_user(user), row=_row(row), reason=reason)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"row {done.row_number} of batch {done.batch_id} discarded")


def _row(pk: int) -> QuarantinedRow:
    found = selectors.quarantined_rows(None, status=None).filter(pk=pk).first()
    if found is None:
        raise CommandError(f"no quarantined row {pk}")
    return found


def _user(username: str | None) -> User | None:
    if username is None:
        return None
    found = User.objects.filter(username=username).first()
    if found is None:
        raise CommandError(f"no user {username!r}")
    return found
