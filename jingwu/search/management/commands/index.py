"""`jingwu index rebuild` and `jingwu index status`: the search index (jingwu.search)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from jingwu.core.services import ServiceError
from jingwu.search import registry, selectors, services

# Below this many documents, forking workers costs more than it saves.
PARALLEL_FROM = 50_000


class Command(BaseCommand):
    help = "The search index: `rebuild` builds every document again; `status` shows documents per type and lag."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rebuild = sub.add_parser("rebuild", help="build every document again (searches see the old index until "
                                                 "each type is complete)")
        rebuild.add_argument("--type", action="append", dest="types", default=None,
                             help="only this document type (repeatable), e.g. records.entity")
        rebuild.add_argument("--workers", type=int, default=None,
                             help="processes building documents (default: 1 for small indexes, else up to 2)")
        sub.add_parser("status", help="documents per type in the index and in the database, queued changes, lag")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "rebuild":
            self._rebuild(options["types"], options["workers"], quiet=options["verbosity"] == 0)
        else:
            self._status()

    def _rebuild(self, types: list[str] | None, workers: int | None, *, quiet: bool) -> None:
        try:
            kinds = [registry.doc_type(t) for t in types] if types else registry.doc_types()
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from exc
        if workers is None:
            big = sum(k.count() for k in kinds) >= PARALLEL_FROM
            workers = min(2, os.cpu_count() or 1) if big else 1
        bars: dict[str, tqdm[Any]] = {}

        def progress(name: str, done: int, total: int) -> None:
            bar = bars.get(name)
            if bar is None:
                bar = bars[name] = tqdm(total=total, desc=name, unit=" docs", unit_scale=True, disable=quiet,
                                        leave=False)
            bar.update(done - bar.n)

        try:
            report = services.index_rebuild(doc_types=[k.name for k in kinds], progress=progress, workers=workers)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for bar in bars.values():
                bar.close()
        for name, n in report.documents.items():
            self.stdout.write(f"  {name:<24} {n:>10,} documents")
        self.stdout.write(f"Rebuilt {report.total:,} documents in {report.seconds:.1f} s "
                          f"({report.per_second:,.0f} documents/s, {workers} worker{'s' if workers > 1 else ''}).")

    def _status(self) -> None:
        status = selectors.index_status()
        out = self.stdout
        out.write(f"Index folder: {status.directory}")
        out.write(f"  {'type':<24} {'indexed':>10} {'in database':>12}")
        for t in status.types:
            flag = "" if t.indexed == t.in_database else "   (differs: changes queued, or rebuild)"
            out.write(f"  {t.name:<24} {t.indexed:>10,} {t.in_database:>12,}{flag}")
        if status.kinds:
            out.write("  by kind: " + ", ".join(f"{k} {n:,}" for k, n in sorted(status.kinds.items())))
        last = timezone.localtime(status.last_commit).strftime("%Y-%m-%d %H:%M:%S") if status.last_commit else "never"
        out.write(f"Last change written: {last}")
        out.write(f"Queued index jobs: {status.pending_jobs}; lag: {status.lag_seconds:.1f} s"
                  + ("" if status.pending_jobs else " (nothing waiting)"))
