"""`jingwu link`: link source records into entities (records/linking.py)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from jingwu.core.services import ServiceError
from jingwu.records import linkage, linking

STAGES = ("read", "link", "people", "keyed", "relations", "attributes", "review")


class Command(BaseCommand):
    help = ("Link source records into entities: people with the linkage model (Splink on DuckDB, or on Spark "
            "with --engine spark), phones, vehicles, organisations, accounts and places by identifier, with "
            "relations and a review queue. Incremental when a model is saved and people are linked already, "
            "unless --full. One run at a time: a second refuses while one is under way.")

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--full", action="store_true", help="retrain and rescore every pair")
        mode.add_argument("--incremental", action="store_true", help="only records in no entity yet")
        parser.add_argument("--accept", type=float, default=None,
                            help="link pairs at or above this probability (default 0.95)")
        parser.add_argument("--review-low", type=float, default=None,
                            help="queue pairs from this probability up to --accept for review (default 0.5)")
        parser.add_argument("--engine", choices=linkage.ENGINES, default=None,
                            help="where the model runs: duckdb (one machine) or spark (pyspark, local mode or "
                                 "JINGWU_SPARK_MASTER; needs Java 17+); default JINGWU_LINK_ENGINE, else duckdb")

    def handle(self, *args: Any, full: bool, incremental: bool, accept: float | None, review_low: float | None,
               engine: str | None, **options: Any) -> None:
        mode: linking.Mode = "full" if full else "incremental" if incremental else "auto"
        quiet = options["verbosity"] == 0
        bar = tqdm(total=len(STAGES), disable=quiet, desc="link", leave=False, unit=" stages")
        seen: list[str] = []

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in seen:
                seen.append(stage)
                bar.set_description(stage)
                if stage in STAGES[1:]:
                    bar.update(1)
            if stage == "read" and total:
                bar.set_postfix_str(f"{done:,}/{total:,} records")

        # Splink logs every level EM could not train on small data; the summary says what matters.
        logging.getLogger("splink").setLevel(logging.ERROR)
        logging.getLogger("py4j").setLevel(logging.ERROR)
        try:
            config = linking.default_config(accept=accept, review_low=review_low, engine=engine)
            run = linking.link_run(actor=None, mode=mode, config=config, progress=progress)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        s = run.stats
        engine_stats = s.get("engine", {})
        out = self.stdout
        out.write(f"Link run {run.pk} ({run.mode}) in {s['seconds']:.1f} s.")
        out.write(f"  records read        {s['records_read']:>10,}   person mentions {s['person_mentions']:,}")
        out.write(f"  person entities     {s['person_entities']:>10,}   new {s['entities_created']:,}, "
                  f"merged away {s['entities_merged']:,}, records moved {s['records_moved']:,}")
        out.write(f"  other entities new  {s['keyed_entities_created']:>10,}   "
                  f"memberships new {s['memberships_created'] + s['keyed_memberships_created']:,}")
        rel = s["relations"]
        out.write(f"  relations           {rel['created']:>10,} created, {rel['updated']:,} updated, "
                  f"{rel['deleted']:,} removed")
        out.write(f"  review queue        {s['review_pairs_new']:>10,} new, {s['review_pairs_kept']:,} still open, "
                  f"{s['review_pairs_obsolete']:,} no longer needed")
        if engine_stats:
            label = f"engine ({s.get('backend', 'duckdb')})"
            out.write(f"  {label:<20}{engine_stats.get('pairs_scored', 0):>10,} pairs scored; "
                      f"thresholds accept {s['accept']}, review from {s['review_low']}")
        out.write("  seconds by stage    " + ", ".join(f"{k} {v:.1f}" for k, v in s.get("stage_seconds", {}).items()))
