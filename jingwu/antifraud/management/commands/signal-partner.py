"""`jingwu signal-partner CODE USERNAME | CODE --none`: bind an early-warning partner code
to the partner user whose API tokens may push signals under it (as `jingwu sources partner`
binds a records source)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jingwu.antifraud import early_warning
from jingwu.core.models import User
from jingwu.core.services import ServiceError


class Command(BaseCommand):
    help = "Bind a signal partner code to the partner user who may push under it (`--none` unbinds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="the partner code of the batches, e.g. CMCC-SD")
        parser.add_argument("username", nargs="?", help="the partner's user name (omit with --none)")
        parser.add_argument("--none", action="store_true", help="unbind: nobody may push under this code")

    def handle(self, *args: Any, code: str, username: str | None, none: bool, **options: Any) -> None:
        if none == (username is not None):
            raise CommandError("name the partner's user, or give --none to unbind")
        user = None
        if username is not None:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"no user {username!r}")
        try:
            early_warning.signal_partner_bind(actor=None, code=code, user=user)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if user is None:
            self.stdout.write(f"signal partner {code}: nobody may push under it")
        else:
            self.stdout.write(f"signal partner {code}: {user.username} may push under it")
