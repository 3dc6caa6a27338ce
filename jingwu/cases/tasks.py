"""Scheduled jobs of the cases app (Huey): thin, they call services."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from jingwu.cases import services


@db_periodic_task(crontab(minute="*/15"))
def scan_case_deadlines() -> dict[str, int]:
    """Warnings before deadlines and alerts after them (idempotent: re-runs add nothing)."""
    report = services.deadlines_scan()
    return {"warned": report.warned, "overdue": report.overdue}


@db_periodic_task(crontab(minute="7", hour="3"))
def purge_lookup_counters() -> int:
    return services.lookup_throttle_purge()
