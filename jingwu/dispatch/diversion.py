"""分流: which agency receives which calls, as one table.

A *transfer* hands the call over: the agency handles it, the incident waits for its
feedback (done → closed, refused → back to the dispatcher). A *notice* tells a partner
agency while the police still attend (a fire goes to 119 and a patrol keeps order).
Rules are looked up by (category, subcategory) first, then (category, "*").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _

from jingwu.dispatch.classifier import Category


class DiversionKind(models.TextChoices):
    TRANSFER = "transfer", _("转办")
    NOTICE = "notice", _("联动通报")


@dataclass(frozen=True)
class Agency:
    key: str
    name: object  # a lazy translation


AGENCIES: Final[dict[str, Agency]] = {a.key: a for a in (
    Agency("12345", _("12345政务服务便民热线")),
    Agency("12315", _("12315市场监管投诉热线")),
    Agency("12333", _("12333人社服务热线")),
    Agency("119", _("119消防救援")),
    Agency("120", _("120急救中心")),
)}


@dataclass(frozen=True)
class DiversionRule:
    key: str
    category: str
    subcategory: str  # "*" for every subcategory of the category
    agency: str
    kind: str


_C = Category
_T, _N = DiversionKind.TRANSFER, DiversionKind.NOTICE

RULES: Final[tuple[DiversionRule, ...]] = (
    DiversionRule("consumer_to_12315", _C.NON_POLICE, "consumer", "12315", _T),
    DiversionRule("labour_to_12333", _C.NON_POLICE, "labour", "12333", _T),
    DiversionRule("non_police_to_12345", _C.NON_POLICE, "*", "12345", _T),
    DiversionRule("fire_to_119", _C.FIRE, "*", "119", _N),
    DiversionRule("medical_to_120", _C.ASSISTANCE, "medical", "120", _N),
    DiversionRule("suicide_to_120", _C.ASSISTANCE, "suicide", "120", _N),
    DiversionRule("drowning_to_119", _C.ASSISTANCE, "drowning", "119", _N),
    DiversionRule("trapped_to_119", _C.ASSISTANCE, "trapped", "119", _N),
    DiversionRule("traffic_injury_to_120", _C.TRAFFIC, "accident_injury", "120", _N),
)

assert all(rule.agency in AGENCIES for rule in RULES), "a rule names an unknown agency"


def rule_for(category: str, subcategory: str) -> DiversionRule | None:
    """The rule for a classified call, the specific one before the category's catch-all."""
    for wanted in (subcategory, "*"):
        for rule in RULES:
            if rule.category == category and rule.subcategory == wanted:
                return rule
    return None


def agency_choices() -> list[tuple[str, str]]:
    return [(a.key, str(a.name)) for a in AGENCIES.values()]
