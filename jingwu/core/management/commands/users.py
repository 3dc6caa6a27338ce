"""`jingwu users grant|revoke|list`: roles held at units."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jingwu.core import access, services
from jingwu.core.models import RoleAssignment, Unit, User


class Command(BaseCommand):
    help = "Grant or revoke a role at a unit, or list who holds which roles where."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{grant,revoke,list}")
        for verb, text in (("grant", "give a user a role at a unit"), ("revoke", "take a role at a unit away")):
            sub = verbs.add_parser(verb, help=text)
            sub.add_argument("--user", required=True)
            sub.add_argument("--role", required=True, help=f"one of: {', '.join(access.ROLES)}")
            sub.add_argument("--unit", required=True, help="unit code, e.g. 370102")
        listing = verbs.add_parser("list", help="role assignments (active ones unless --all)")
        listing.add_argument("--user")
        listing.add_argument("--unit", help="unit code: assignments at exactly this unit")
        listing.add_argument("--all", action="store_true", dest="include_revoked", help="include revoked assignments")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        getattr(self, f"_{verb}")(**options)

    def _grant(self, *, user: str, role: str, unit: str, **_: Any) -> None:
        who, where = _user(user), _unit(unit)
        try:
            services.role_grant(actor=None, user=who, role=role, unit=where)
        except services.ServiceError as exc:
            if exc.field == "role":
                raise CommandError(f"unknown role {role!r}; known roles: {', '.join(access.ROLES)}") from exc
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"granted {role} at {where.code} ({where.name}) to {who.username}")

    def _revoke(self, *, user: str, role: str, unit: str, **_: Any) -> None:
        who, where = _user(user), _unit(unit)
        # Revoking what is not held would still write an audit entry; say so instead.
        if not RoleAssignment.objects.filter(user=who, role=role, unit=where, active=True).exists():
            raise CommandError(f"{who.username} holds no active role {role!r} at {where.code}")
        services.role_revoke(actor=None, user=who, role=role, unit=where)
        self.stdout.write(f"revoked {role} at {where.code} ({where.name}) from {who.username}")

    def _list(self, *, user: str | None, unit: str | None, include_revoked: bool, **_: Any) -> None:
        rows = RoleAssignment.objects.select_related("user", "unit").order_by("user__username", "unit__path", "role")
        if user:
            rows = rows.filter(user=_user(user))
        if unit:
            rows = rows.filter(unit=_unit(unit))
        if not include_revoked:
            rows = rows.filter(active=True)
        self.stdout.write("user\trole\tunit\tunit name\tactive")
        for ra in rows:
            self.stdout.write("\t".join([ra.user.username, ra.role, ra.unit.code, ra.unit.name,
                                         "yes" if ra.active else "no"]))


def _user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    return user


def _unit(code: str) -> Unit:
    unit = Unit.objects.filter(code=code).first()
    if unit is None:
        raise CommandError(f"no unit with code {code!r}")
    return unit
