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

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

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


# Each kind's parameters: name → (smallest, largest) for integers, or the allowed words.
PARAMS: Final[dict[str, dict[str, tuple[int, int] | tuple[str, ...]]]] = {
    "list_hit": {"list": ("phone", "account", "url", "app")},
    "velocity": {"per": ("citizen", "account"), "window_seconds": (60, 30 * 86400), "count": (1, 1000)},
    "call_duration": {"min_seconds": (1, 86400)},
    "time_of_day": {"from_hour": (0, 23), "to_hour": (0, 24)},
    "age_group": {"min_age": (0, 150), "max_age": (0, 200)},
}
MAX_WEIGHT: Final = 1000
MAX_RULES: Final = 100
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")


def validate(ruleset: dict[str, Any]) -> None:
    """Refuse a rule set the engine could misread; the message names the rule and field
    ("rules[3].window_seconds: …")."""
    levels = ruleset.get("levels")
    if not isinstance(levels, dict) or not all(_is_int(levels.get(k)) for k in ("high", "medium", "low")):
        raise RuleSetError("levels: " + _("高、中、低三个阈值须为整数"))
    if not levels["high"] > levels["medium"] > levels["low"] > 0:
        raise RuleSetError("levels: " + _("阈值须满足 高 > 中 > 低 > 0"))
    items = ruleset.get("rules")
    if not isinstance(items, list) or not items:
        raise RuleSetError("rules: " + _("至少需要一条规则"))
    if len(items) > MAX_RULES:
        raise RuleSetError("rules: " + _("最多 %(n)s 条规则") % {"n": MAX_RULES})
    seen: set[str] = set()
    for i, rule in enumerate(items):
        where = f"rules[{i}]"
        if not isinstance(rule, dict) or rule.get("kind") not in KINDS:
            raise RuleSetError(f"{where}.kind: " + _("须为 %(kinds)s 之一") % {"kinds": ", ".join(sorted(KINDS))})
        if not isinstance(rule.get("id"), str) or not ID_PATTERN.fullmatch(rule["id"]):
            raise RuleSetError(f"{where}.id: " + _("须为 1 到 40 个字母、数字、下划线或连字符"))
        if rule["id"] in seen:
            raise RuleSetError(f"{where}.id: " + _("规则编号 %(id)s 重复") % {"id": rule["id"]})
        seen.add(rule["id"])
        if not _is_int(rule.get("weight")) or not 0 < rule["weight"] <= MAX_WEIGHT:
            raise RuleSetError(f"{where}.weight: " + _("须为 1 到 %(n)s 的整数") % {"n": MAX_WEIGHT})
        if not isinstance(rule.get("context", False), bool):
            raise RuleSetError(f"{where}.context: " + _("须为 true 或 false"))
        for name, allowed in PARAMS[rule["kind"]].items():
            value = rule.get(name)
            if name not in rule:
                raise RuleSetError(f"{where}.{name}: " + _("%(kind)s 规则必须填写") % {"kind": rule["kind"]})
            if isinstance(allowed[0], str):
                if value not in allowed:
                    raise RuleSetError(f"{where}.{name}: " + _("须为 %(v)s 之一") % {"v": ", ".join(map(str, allowed))})
            elif not isinstance(value, int) or isinstance(value, bool) or not allowed[0] <= value <= int(allowed[1]):
                raise RuleSetError(f"{where}.{name}: " + _("须为 %(lo)s 到 %(hi)s 的整数") % {
                    "lo": allowed[0], "hi": allowed[1]})
        if rule["kind"] == "time_of_day" and rule["from_hour"] == rule["to_hour"]:
            raise RuleSetError(f"{where}.to_hour: " + _("结束时刻不能等于开始时刻"))
        if rule["kind"] == "age_group" and rule["min_age"] > rule["max_age"]:
            raise RuleSetError(f"{where}.max_age: " + _("最大年龄不能小于最小年龄"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
