"""Reads of the synthetic province."""

from __future__ import annotations

from dataclasses import dataclass

from jingwu.core import access
from jingwu.core.models import RoleAssignment
from jingwu.synthetic.models import SeedState

PARTNER_DEMO_USERNAME = "partner_demo_bank"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    unit_name: str


def demo_accounts() -> list[DemoAccount]:
    """(username, role, unit name) of the demo users, in the order of the role table."""
    order = {role: n for n, role in enumerate(access.ROLES)}
    rows = (RoleAssignment.objects.filter(active=True, user__username__startswith="demo_")
            | RoleAssignment.objects.filter(active=True, user__username=PARTNER_DEMO_USERNAME))
    accounts = [DemoAccount(ra.user.username, ra.role, ra.unit.name) for ra in rows.select_related("user", "unit")]
    return sorted(accounts, key=lambda a: (order.get(a.role, len(order)), a.username))


def seed_state() -> SeedState | None:
    """Which seed, how many cities and how many people this database holds, if any."""
    return SeedState.objects.filter(pk=1).first()
