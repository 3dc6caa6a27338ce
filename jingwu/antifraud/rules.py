"""Early-warning rules written as data, and the one function that evaluates them.

A rule set is {"version", "levels": {"high": n, "medium": n, "low": n}, "rules": [...]}; each
rule has an "id", a "kind" and a "weight". Kinds:
  list_hit       the signal's counterpart is on a live watch list of `list` ("phone", …)
  velocity       at least `count` signals with a hit in `window_seconds`, `per` "citizen"
                 (the citizen's own signals) or "account" (distinct citizens paying one account)
  call_duration  a call or SMS of at least `min_seconds`
  time_of_day    occurred between `from_hour` and `to_hour` (Asia/Shanghai, to exclusive)
  age_group      the citizen's age (from the ID number) within [`min_age`, `max_age`]
Rules marked "context": true only count when another rule of the signal hit: being old or
calling at night is no risk by itself. A warning's score sums each rule once, at its weight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
KINDS: Final = frozenset({"list_hit", "velocity", "call_duration", "time_of_day", "age_group"})

DEFAULT_RULES: Final[dict[str, Any]] = {
    "version": 1,
    "levels": {"high": 70, "medium": 40, "low": 20},
    "rules": [
        {"id": "list_account", "kind": "list_hit", "list": "account", "weight": 60},
        {"id": "list_phone", "kind": "list_hit", "list": "phone", "weight": 40},
        {"id": "list_app", "kind": "list_hit", "list": "app", "weight": 40},
        {"id": "list_url", "kind": "list_hit", "list": "url", "weight": 25},
        {"id": "citizen_burst", "kind": "velocity", "per": "citizen", "window_seconds": 3600, "count": 3,
         "weight": 20},
        {"id": "account_fan_in", "kind": "velocity", "per": "account", "window_seconds": 86400, "count": 3,
         "weight": 30},
        {"id": "long_call", "kind": "call_duration", "min_seconds": 600, "weight": 15, "context": True},
        {"id": "night", "kind": "time_of_day", "from_hour": 0, "to_hour": 6, "weight": 10, "context": True},
        {"id": "elderly", "kind": "age_group", "min_age": 60, "max_age": 200, "weight": 15, "context": True},
    ],
}


class RuleSetError(ValueError):
    pass


def validate(ruleset: dict[str, Any]) -> None:
    """Refuse a rule set the engine could misread; the message names the rule and field."""
    levels = ruleset.get("levels")
    if not isinstance(levels, dict) or not all(isinstance(levels.get(k), int) for k in ("high", "medium", "low")):
        raise RuleSetError("levels: high, medium and low must be integers")
    if not levels["high"] > levels["medium"] > levels["low"] > 0:
        raise RuleSetError("levels: high > medium > low > 0")
    seen: set[str] = set()
    for i, rule in enumerate(ruleset.get("rules") or []):
        where = f"rules[{i}]"
        if not isinstance(rule, dict) or rule.get("kind") not in KINDS:
            raise RuleSetError(f"{where}.kind: one of {sorted(KINDS)}")
        if not isinstance(rule.get("id"), str) or not rule["id"] or rule["id"] in seen:
            raise RuleSetError(f"{where}.id: a unique name is required")
        seen.add(rule["id"])
        if not isinstance(rule.get("weight"), int) or rule["weight"] <= 0:
            raise RuleSetError(f"{where}.weight: a positive integer")
        needed = {"list_hit": ("list",), "velocity": ("per", "window_seconds", "count"),
                  "call_duration": ("min_seconds",), "time_of_day": ("from_hour", "to_hour"),
                  "age_group": ("min_age", "max_age")}[rule["kind"]]
        for name in needed:
            if name not in rule:
                raise RuleSetError(f"{where}.{name}: required for {rule['kind']}")


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    weight: int
    detail: str


class Event(Protocol):
    """What the engine reads of one signal (early_warning.SignalIn)."""

    kind: str
    occurred_at: datetime
    duration_seconds: int | None
    birth_date: date | None
    account: str


class Windows(Protocol):
    """The velocity windows the caller keeps: counts including this event."""

    def scored_ever(self, event: Any) -> int: ...

    def citizen_count(self, event: Any, seconds: int, listed: bool) -> int: ...

    def account_count(self, event: Any, seconds: int) -> int: ...


Matcher = Callable[[Any, str, Windows], "Hit | None"]


class Compiled:
    """A rule set turned once into one closure per rule (the engine's hot path reads no
    dicts per signal), with what lets most signals be judged without running any: when
    every scoring rule is a list hit or a velocity window, a signal whose counterpart is
    not listed, that pays no account and whose citizen has too few scored signals hits nothing."""

    __slots__ = ("account_seconds", "citizen_seconds", "context", "levels", "min_citizen_count", "quick",
                 "rules", "scoring", "version")

    def __init__(self, ruleset: dict[str, Any]) -> None:
        self.version = int(ruleset.get("version") or 0)
        self.rules = ruleset
        levels = ruleset["levels"]
        self.levels = ((levels["high"], "high"), (levels["medium"], "medium"), (levels["low"], "low"))
        self.scoring: list[Matcher] = []
        self.context: list[Matcher] = []
        self.citizen_seconds = 0  # the longest window per citizen: every rule must see its own
        self.account_seconds = 0
        counts = []
        for rule in ruleset["rules"]:
            (self.context if rule.get("context") else self.scoring).append(_matcher(rule))
            if rule["kind"] == "velocity":
                seconds = int(rule["window_seconds"])
                if rule["per"] == "citizen":
                    self.citizen_seconds = max(self.citizen_seconds, seconds)
                    counts.append(int(rule["count"]))
                else:
                    self.account_seconds = max(self.account_seconds, seconds)
        self.min_citizen_count = min(counts) if counts else 1 << 30
        self.quick = all(r["kind"] in ("list_hit", "velocity") for r in ruleset["rules"] if not r.get("context"))

    def evaluate(self, event: Any, listed: str, windows: Windows) -> list[Hit]:
        """`listed`: the list kind the counterpart is live on, else ""."""
        if (self.quick and not listed and not event.account
                and windows.scored_ever(event) < self.min_citizen_count):
            return []
        hits = [h for m in self.scoring if (h := m(event, listed, windows)) is not None]
        if not hits:
            return []  # most signals: the context rules need not be looked at
        hits += [h for m in self.context if (h := m(event, listed, windows)) is not None]
        return hits

    def level(self, score: int) -> str:
        for threshold, name in self.levels:
            if score >= threshold:
                return name
        return "none"


def _matcher(rule: dict[str, Any]) -> Matcher:
    rid, weight, kind = str(rule["id"]), int(rule["weight"]), rule["kind"]
    if kind == "list_hit":
        name = rule["list"]
        hit = Hit(rid, weight, f"{name} listed")
        return lambda e, listed, w: hit if listed == name else None
    if kind == "velocity":
        seconds, count, per = int(rule["window_seconds"]), int(rule["count"]), rule["per"]
        if per == "citizen":
            def citizen(e: Any, listed: str, w: Windows) -> Hit | None:
                n = w.citizen_count(e, seconds, bool(listed))
                return Hit(rid, weight, f"{n} in {seconds}s per citizen") if n >= count else None
            return citizen

        def account(e: Any, listed: str, w: Windows) -> Hit | None:
            if not e.account:
                return None
            n = w.account_count(e, seconds)
            return Hit(rid, weight, f"{n} in {seconds}s per account") if n >= count else None
        return account
    if kind == "call_duration":
        least = rule["min_seconds"]

        def duration(e: Any, listed: str, w: Windows) -> Hit | None:
            if e.kind in ("call", "sms") and (e.duration_seconds or 0) >= least:
                return Hit(rid, weight, f"{e.duration_seconds}s")
            return None
        return duration
    if kind == "time_of_day":
        start, end = rule["from_hour"], rule["to_hour"]

        def time_of_day(e: Any, listed: str, w: Windows) -> Hit | None:
            hour = e.occurred_at.astimezone(SHANGHAI).hour
            inside = start <= hour < end if start <= end else (hour >= start or hour < end)
            return Hit(rid, weight, f"{hour:02d}h") if inside else None
        return time_of_day
    low, high = rule["min_age"], rule["max_age"]

    def age_group(e: Any, listed: str, w: Windows) -> Hit | None:
        if e.birth_date is None:
            return None
        age = _age(e.birth_date, e.occurred_at.astimezone(SHANGHAI).date())
        return Hit(rid, weight, f"age {age}") if low <= age <= high else None
    return age_group


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
