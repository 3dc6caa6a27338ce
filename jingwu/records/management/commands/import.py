"""`jingwu import --source NAME [--mapping FILE] [--kind KIND] FILE...`: read files into a source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from tqdm import tqdm

from jingwu.core.models import User
from jingwu.core.services import ServiceError
from jingwu.records import selectors, services
from jingwu.records.mapping import KINDS, MappingError, load_mapping
from jingwu.records.models import ImportBatch


class Command(BaseCommand):
    help = ("Import CSV (any common encoding), XLSX/XLS/ODS, JSON Lines or FollowTheMoney files into a source. "
            "Bad rows go to quarantine (see `jingwu quarantine`); each file's report balances: "
            "read = imported + unchanged + quarantined. Importing the same file again changes nothing, and "
            "resumes its batch if that was interrupted.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", type=Path)
        parser.add_argument("--source", required=True, help="the source system's key (see `jingwu sources list`)")
        parser.add_argument("--mapping", type=Path, help="a TOML mapping file (docs/data-formats.md §3)")
        parser.add_argument("--kind", choices=KINDS,
                            help="what the rows are, when there is no mapping file (not needed for FtM)")
        parser.add_argument("--format", help="csv, tsv, xlsx, jsonl or ftm (default: from the file)")
        parser.add_argument("--encoding", help="the text encoding (default: detected)")
        parser.add_argument("--sheet", help="the spreadsheet sheet, by name or 0-based number (default: the first)")
        parser.add_argument("--label", default="", help="what to call the batch (default: the file name)")
        parser.add_argument("--user", help="act as this user (checked for the import role; default: the console)")
        parser.add_argument("--show", type=int, default=10, help="quarantine reasons printed per file (default 10)")
        parser.add_argument("--language", choices=[code for code, _name in settings.LANGUAGES],
                            default=settings.LANGUAGE_CODE,
                            help=f"the language of the quarantine reasons (default {settings.LANGUAGE_CODE})")

    def handle(self, *args: Any, files: list[Path], source: str, mapping: Path | None, kind: str | None,
               format: str | None, encoding: str | None, sheet: str | None, label: str, user: str | None,
               show: int, language: str, **options: Any) -> None:
        actor = _user(user) if user else None
        try:
            loaded = load_mapping(mapping) if mapping is not None else None
        except (MappingError, OSError) as exc:
            raise CommandError(f"mapping {mapping}: {exc}") from exc
        chosen_sheet: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
        quiet = options["verbosity"] == 0
        for path in files:
            try:
                job = services.import_start(actor=actor, source_key=source, path=path, mapping=loaded, kind=kind,
                                            label=label, format=format, encoding=encoding, sheet=chosen_sheet)
            except ServiceError as exc:
                raise CommandError(f"{path}: {exc}") from exc
            bar = tqdm(total=job.batch.rows_expected or None, unit=" rows", unit_scale=True, desc=path.name,
                       disable=quiet, leave=False)

            def progress(done: int, total: int, bar: tqdm[Any] = bar) -> None:
                if bar.total != total:
                    bar.total = total
                bar.update(done - bar.n)

            try:
                batch = services.import_run(job, actor=actor, progress=progress)
            except services.BatchNotRunning as exc:
                raise CommandError(f"{path}: batch #{job.batch.pk} was marked interrupted while this import ran "
                                   "(no progress for too long); import the same file again to resume it") from exc
            except Exception as exc:
                raise CommandError(f"{path}: the import failed and batch #{job.batch.pk} is marked failed: "
                                   f"{type(exc).__name__}: {exc}") from exc
            finally:
                bar.close()
            with translation.override(language):
                self._report(path, batch, show, resumed=job.resumed)

    def _report(self, path: Path, batch: ImportBatch, show: int, *, resumed: bool) -> None:
        details = ", ".join(part for part in (batch.source.key, batch.file_format, batch.encoding) if part)
        again = " resumed" if resumed else ""
        self.stdout.write(f"{path}: batch #{batch.pk}{again} ({details}): read {batch.rows_read:,} = imported "
                          f"{batch.rows_imported:,} + unchanged {batch.rows_unchanged:,} + quarantined "
                          f"{batch.rows_quarantined:,}")
        if not batch.rows_quarantined or show <= 0:
            return
        issues, _more = selectors.batch_issues(batch, limit=show, text=True)
        rows_shown = {issue["row"] for issue in issues}
        for issue in issues:
            self.stdout.write(f"  {issue['text']}")
        if batch.rows_quarantined > len(rows_shown):
            self.stdout.write(f"  … {batch.rows_quarantined - len(rows_shown):,} more quarantined rows: "
                              f"jingwu quarantine list --batch {batch.pk}")


def _user(username: str) -> User:
    found = User.objects.filter(username=username).first()
    if found is None:
        raise CommandError(f"no user {username!r}")
    return found
