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

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final
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


@dataclass(frozen=True)
class Facts:
    """What the engine knows about one signal when it evaluates it."""

    kind: str
    occurred_at: datetime
    listed: frozenset[str]  # list kinds the counterpart is on (live entries only)
    duration_seconds: int | None = None
    birth_date: date | None = None
    # Velocity counts including this signal, by rule id (the caller queries the windows).
    window_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    rule: str
    weight: int
    detail: str


def velocity_rules(ruleset: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in ruleset["rules"] if r["kind"] == "velocity"]


def evaluate(ruleset: dict[str, Any], facts: Facts) -> list[Hit]:
    hits = [h for rule in ruleset["rules"] if not rule.get("context") and (h := _match(rule, facts)) is not None]
    if not hits:
        return []  # most signals: the context rules need not be looked at
    return hits + [h for rule in ruleset["rules"] if rule.get("context") and (h := _match(rule, facts)) is not None]


def _match(rule: dict[str, Any], facts: Facts) -> Hit | None:
    kind = rule["kind"]
    if kind == "list_hit":
        if rule["list"] in facts.listed:
            return Hit(rule["id"], rule["weight"], f"{rule['list']} listed")
    elif kind == "velocity":
        count = facts.window_counts.get(rule["id"], 0)
        if count >= rule["count"]:
            return Hit(rule["id"], rule["weight"], f"{count} in {rule['window_seconds']}s per {rule['per']}")
    elif kind == "call_duration":
        if facts.kind in ("call", "sms") and (facts.duration_seconds or 0) >= rule["min_seconds"]:
            return Hit(rule["id"], rule["weight"], f"{facts.duration_seconds}s")
    elif kind == "time_of_day":
        hour = facts.occurred_at.astimezone(SHANGHAI).hour
        start, end = rule["from_hour"], rule["to_hour"]
        inside = start <= hour < end if start <= end else (hour >= start or hour < end)
        if inside:
            return Hit(rule["id"], rule["weight"], f"{hour:02d}h")
    elif kind == "age_group" and facts.birth_date is not None:
        age = _age(facts.birth_date, facts.occurred_at.astimezone(SHANGHAI).date())
        if rule["min_age"] <= age <= rule["max_age"]:
            return Hit(rule["id"], rule["weight"], f"age {age}")
    return None


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def window_start(rule: dict[str, Any], at: datetime) -> datetime:
    return at - timedelta(seconds=int(rule["window_seconds"]))


def level_for(ruleset: dict[str, Any], score: int) -> str:
    levels = ruleset["levels"]
    for name in ("high", "medium", "low"):
        if score >= levels[name]:
            return name
    return "none"
