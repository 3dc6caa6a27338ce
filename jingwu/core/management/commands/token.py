"""`jingwu token create|list|revoke`: bearer tokens for scripts and partner systems."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jingwu.core import tokens
from jingwu.core.models import User


class Command(BaseCommand):
    help = "Create (shown once), list or revoke API bearer tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{create,list,revoke}")
        create = verbs.add_parser("create", help="issue a token; the secret is printed once on stdout")
        create.add_argument("--user", required=True, help="username the token acts as")
        create.add_argument("--scope", action="append", required=True, dest="scopes",
                            help=f"repeatable; one of: {', '.join(sorted(tokens.KNOWN_SCOPES))}")
        create.add_argument("--days", type=int, required=True, help="lifetime in days (1-366)")
        create.add_argument("--name", default="", help="what the token is for")
        listing = verbs.add_parser("list", help="tokens with prefix, scopes, expiry, revocation, last use")
        listing.add_argument("--user", help="only this user's tokens")
        revoke = verbs.add_parser("revoke", help="revoke a token by its id or prefix")
        revoke.add_argument("token", metavar="ID_OR_PREFIX")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        getattr(self, f"_{verb}")(**options)

    def _create(self, *, user: str, scopes: list[str], days: int, name: str, **_: Any) -> None:
        try:
            issued = tokens.token_create(actor=None, user=_user(user), scopes=scopes, days=days, name=name)
        except tokens.TokenError as exc:
            raise CommandError(str(exc)) from exc
        # The secret alone on stdout so `TOKEN=$(jingwu token create …)` works; the rest on stderr.
        self.stdout.write(issued.secret)
        t = issued.token
        self.stderr.write(f"token id {t.pk}, prefix {t.prefix}, user {t.user.username}, scopes "
                          f"{','.join(t.scopes)}, expires {_when(t.expires_at)}; the secret is not shown again")

    def _list(self, *, user: str | None, **_: Any) -> None:
        rows = tokens.token_list(user=_user(user) if user else None)
        self.stdout.write("id\tprefix\tuser\tname\tscopes\texpires\trevoked\tlast used")
        for t in rows:
            self.stdout.write("\t".join([str(t.pk), t.prefix, t.user.username, t.name or "-", ",".join(t.scopes),
                                         _when(t.expires_at), _when(t.revoked_at), _when(t.last_used_at)]))

    def _revoke(self, *, token: str, **_: Any) -> None:
        try:
            found = tokens.token_find(token)
        except tokens.TokenError as exc:
            raise CommandError(str(exc)) from exc
        if found.revoked_at is not None:
            self.stdout.write(f"token {found.pk} ({found.prefix}) was already revoked at {_when(found.revoked_at)}")
            return
        tokens.token_revoke(actor=None, token=found)
        self.stdout.write(f"revoked token {found.pk} ({found.prefix}) of {found.user.username}")


def _user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    return user


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"
