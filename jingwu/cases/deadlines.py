"""Deadline policies: how long each clock of workflow.py runs, when to warn, how it may be
lengthened. Defaults follow DOMAIN.md (and the law where DOMAIN.md is silent: the 15 days
to pay a fine, the 3 days of criminal detention before an arrest request); entries marked
local are this platform's own supervision thresholds. Every entry can be overridden with
settings.JINGWU_CASE_DEADLINES (the environment variable of that name holds JSON), e.g.

    {"criminal.filing_review": {"days": 5, "warn_hours": 48},
     "administrative.handling": {"days": 30, "extensions": [{"days": 30}]}}

Counting: a period in days or months ends at the end of its last day in Asia/Shanghai
(the day the clock starts is not counted); a period in hours is exact.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise


@dataclass(frozen=True)
class Period:
    days: int = 0
    months: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, value: dict[str, Any], where: str) -> Period:
        unknown = set(value) - {"days", "months", "hours"}
        if unknown or not value:
            raise ImproperlyConfigured(f"JINGWU_CASE_DEADLINES {where}: a period is days, months or hours, "
                                       f"got {value!r}")
        try:
            period = cls(**{k: int(v) for k, v in value.items()})
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"JINGWU_CASE_DEADLINES {where}: {exc}") from exc
        if min(period.days, period.months, period.hours) < 0:
            raise ImproperlyConfigured(f"JINGWU_CASE_DEADLINES {where}: a period cannot be negative")
        return period

    def end(self, start: dt.datetime) -> dt.datetime:
        """When a period starting at `start` runs out."""
        if self.hours and not (self.days or self.months):
            return start + dt.timedelta(hours=self.hours)
        day = timezone.localtime(start).date()
        if self.months:
            day = _add_months(day, self.months)
        day += dt.timedelta(days=self.days)
        # The end of that day: midnight at the start of the next one, local time.
        following = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0))
        return timezone.make_aware(following) + dt.timedelta(hours=self.hours)

    def extend(self, due: dt.datetime) -> dt.datetime:
        """A deadline `due` (the end of its last day) lengthened by this period."""
        if self.hours and not (self.days or self.months):
            return due + dt.timedelta(hours=self.hours)
        # `due` is midnight after the last day: count from that last day.
        return self.end(due - dt.timedelta(microseconds=1))


def _add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class ClockPolicy:
    key: str
    label: _StrPromise | str
    period: Period
    warn_hours: int
    # Counted from the case's acceptance rather than from entering the state.
    from_acceptance: bool = False
    # Longer periods a transition may switch to (workflow clock_change "verify"/"complex"),
    # counted from the same start.
    tracks: tuple[tuple[str, Period], ...] = ()
    # Extensions, in order, each added to the current deadline (clock_change "extend").
    extensions: tuple[Period, ...] = ()
    basis: str = "domain"  # domain / law / local

    def track(self, name: str) -> Period:
        for key, period in self.tracks:
            if key == name:
                return period
        raise KeyError(f"clock {self.key} has no {name} track")


DEFAULT_POLICIES: dict[str, ClockPolicy] = {p.key: p for p in (
    ClockPolicy("criminal.filing_review", _("立案审查期限"), Period(days=3), warn_hours=24, from_acceptance=True,
                tracks=(("verify", Period(days=7)), ("complex", Period(days=30)))),
    ClockPolicy("criminal.decline_notice", _("不予立案告知期限"), Period(days=3), warn_hours=24),
    ClockPolicy("criminal.reconsideration", _("复议决定期限"), Period(days=30), warn_hours=72, basis="law"),
    ClockPolicy("criminal.investigation", _("侦查办结期限（督察阈值）"), Period(months=6), warn_hours=14 * 24,
                basis="local"),
    ClockPolicy("administrative.handling", _("行政案件办案期限"), Period(days=30), warn_hours=72,
                from_acceptance=True, extensions=(Period(days=30),)),
    ClockPolicy("administrative.fast_track", _("快办期限"), Period(days=3), warn_hours=24, basis="local"),
    ClockPolicy("administrative.execution", _("罚款缴纳期限"), Period(days=15), warn_hours=72, basis="law"),
    ClockPolicy("dispute.mediation", _("纠纷调处期限"), Period(days=30), warn_hours=72, basis="local"),
    ClockPolicy("custody.detention", _("刑事拘留提请批捕期限"), Period(days=3), warn_hours=24, basis="law",
                extensions=(Period(days=4), Period(days=23))),
    ClockPolicy("custody.arrest", _("逮捕后侦查羁押期限"), Period(months=2), warn_hours=7 * 24,
                extensions=(Period(months=1), Period(months=2), Period(months=2))),
    ClockPolicy("custody.bail", _("取保候审期限"), Period(months=12), warn_hours=15 * 24, basis="law"),
    ClockPolicy("custody.surveillance", _("监视居住期限"), Period(months=6), warn_hours=15 * 24, basis="law"),
)}


def _override(base: ClockPolicy, raw: dict[str, Any]) -> ClockPolicy:
    where = base.key
    period_keys = {"days", "months", "hours"} & set(raw)
    changes: dict[str, Any] = {}
    if period_keys:
        changes["period"] = Period.parse({k: raw[k] for k in period_keys}, where)
    if "warn_hours" in raw:
        changes["warn_hours"] = int(raw["warn_hours"])
    if "extensions" in raw:
        changes["extensions"] = tuple(Period.parse(p, f"{where}.extensions") for p in raw["extensions"])
    if "tracks" in raw:
        changes["tracks"] = tuple((name, Period.parse(p, f"{where}.tracks.{name}"))
                                  for name, p in raw["tracks"].items())
    unknown = set(raw) - period_keys - {"warn_hours", "extensions", "tracks"}
    if unknown:
        raise ImproperlyConfigured(f"JINGWU_CASE_DEADLINES {where}: unknown keys {sorted(unknown)}")
    return replace(base, **changes)


def policies() -> dict[str, ClockPolicy]:
    """The policies in force: the defaults with the settings' overrides."""
    overrides: dict[str, Any] = getattr(settings, "JINGWU_CASE_DEADLINES", {}) or {}
    unknown = set(overrides) - set(DEFAULT_POLICIES)
    if unknown:
        raise ImproperlyConfigured(f"JINGWU_CASE_DEADLINES: unknown clocks {sorted(unknown)}")
    return {key: _override(policy, overrides[key]) if key in overrides else policy
            for key, policy in DEFAULT_POLICIES.items()}


def policy(clock: str) -> ClockPolicy:
    return policies()[clock]


def warn_at(due: dt.datetime, clock: str) -> dt.datetime:
    return due - dt.timedelta(hours=policy(clock).warn_hours)
