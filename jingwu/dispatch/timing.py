"""Timing of 110 work: the intervals we measure, their targets, and percentiles.

Intervals (seconds), each from the columns of one incident or call:
  answer          call rang → answered (per call)            NENA-STA-020.1: 15 s for 90%
  classification  first answer → classified
  processing      first answer → first unit dispatched        NFPA 1225: 60 s for 90%
  arrival         first dispatch → first unit on scene        per area (county/city code), configurable
  clearance       first unit on scene → last unit cleared

Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the
value at rank ceil(p/100 · n) — always one of the measured values, so a fixture gives
exact expected figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from django.conf import settings

INTERVALS: Final = ("answer", "classification", "processing", "arrival", "clearance")
PERCENTILES: Final = (50, 90, 95)


def nearest_rank(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    return sorted_values[max(1, math.ceil(p / 100 * len(sorted_values))) - 1]


def arrival_targets() -> dict[str, float]:
    """JINGWU_DISPATCH_ARRIVAL_SECONDS as a dict: "default=900,370102=480" → {"default": 900, "370102": 480}."""
    targets: dict[str, float] = {}
    for part in settings.JINGWU_DISPATCH_ARRIVAL_SECONDS.split(","):
        if not part.strip():
            continue
        key, _sep, value = part.partition("=")
        targets[key.strip()] = float(value)
    targets.setdefault("default", 900.0)
    return targets


def arrival_target(county_code: str, city_code: str) -> float:
    targets = arrival_targets()
    return targets.get(county_code) or targets.get(city_code) or targets["default"]


def target_of(interval: str) -> tuple[float | None, float | None]:
    """(seconds, share) of the interval's fixed target; arrival's seconds depend on the area."""
    if interval == "answer":
        return settings.JINGWU_DISPATCH_ANSWER_SECONDS, settings.JINGWU_DISPATCH_ANSWER_SHARE
    if interval == "processing":
        return settings.JINGWU_DISPATCH_PROCESSING_SECONDS, settings.JINGWU_DISPATCH_PROCESSING_SHARE
    if interval == "arrival":
        return None, settings.JINGWU_DISPATCH_ARRIVAL_SHARE
    return None, None


@dataclass(frozen=True)
class Sample:
    seconds: float
    target: float | None  # this sample's target in seconds, when the interval has one


@dataclass(frozen=True)
class IntervalStats:
    interval: str
    group: str  # a priority ("1".."4", "-" unclassified), an area code, or "all"
    count: int
    p50: float
    p90: float
    p95: float
    max: float
    target_seconds: float | None  # the same for every sample of the group, else None
    target_share: float | None
    share_within: float | None  # share of samples at or under their target
    meets_target: bool | None


def summarise(interval: str, group: str, samples: Sequence[Sample]) -> IntervalStats:
    values = sorted(s.seconds for s in samples)
    _seconds, share = target_of(interval)
    targets = {s.target for s in samples}
    within: float | None = None
    meets: bool | None = None
    if share is not None and None not in targets:
        within = sum(1 for s in samples if s.target is not None and s.seconds <= s.target) / len(samples)
        meets = within >= share
    return IntervalStats(
        interval=interval, group=group, count=len(values), p50=nearest_rank(values, 50),
        p90=nearest_rank(values, 90), p95=nearest_rank(values, 95), max=values[-1],
        target_seconds=next(iter(targets)) if len(targets) == 1 else None, target_share=share,
        share_within=within, meets_target=meets)
