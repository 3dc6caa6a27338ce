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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Protocol
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
