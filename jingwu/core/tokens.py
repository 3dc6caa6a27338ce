"""API bearer tokens: created once and shown once, stored as a SHA-256 hash,
scoped, expiring, revocable.

A token reads `jw_<prefix>_<secret>`; the prefix finds the row, the hash of the
whole token must match (tokens carry 256 bits of randomness, so a fast hash is right)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from jingwu.core import audit
from jingwu.core.models import ApiToken, User

# Scopes name the feeds and surfaces a token may use; "*" is everything the user's roles allow.
KNOWN_SCOPES = frozenset({"*", "read", "records.push", "dispatch.calls", "dispatch.positions",
                          "antifraud.signals", "antifraud.reports", "antifraud.lists", "safety.parcels",
                          "citizen.open311"})


_PREFIX = re.compile(r"[0-9a-f]{8}")


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the full bearer value; shown once, never stored


def _digest(value: str) -> str:
    # UTF-8, not ASCII: a forged bearer with a known prefix and non-ASCII bytes must
    # fail to match, not raise (it arrives from the header as a latin-1 string).
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def token_create(*, actor: User | None, user: User, scopes: list[str], days: int, name: str = "") -> IssuedToken:
    unknown = sorted(set(scopes) - KNOWN_SCOPES)
    if unknown:
        raise TokenError(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_SCOPES))}")
    if not scopes:
        raise TokenError("at least one scope is required")
    if not 1 <= days <= 366:
        raise TokenError("days must be between 1 and 366")
    prefix = secrets.token_hex(4)
    secret = f"jw_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=prefix, key_hash=_digest(secret),
                                        scopes=sorted(set(scopes)),
                                        expires_at=timezone.now() + timedelta(days=days))
        audit.record(actor=actor, action="token.create", object_type="api_token", object_id=token.pk,
                     details={"user": user.username, "scopes": token.scopes, "days": days})
    return IssuedToken(token, secret)


def token_revoke(*, actor: User | None, token: ApiToken) -> None:
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit.record(actor=actor, action="token.revoke", object_type="api_token", object_id=token.pk)


def bearer_prefix(bearer: str) -> str:
    """The prefix a `jw_<prefix>_<secret>` value names ("" when it is not one); safe to log."""
    parts = bearer.split("_", 2)
    if len(parts) < 3 or parts[0] != "jw" or not _PREFIX.fullmatch(parts[1]):
        return ""
    return parts[1]


def token_authenticate(bearer: str) -> ApiToken | None:
    """The live token this bearer value names, or None."""
    prefix = bearer_prefix(bearer)
    if not prefix:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.key_hash, _digest(bearer)):
        return None
    now = timezone.now()
    if not token.is_usable(now) or not token.user.is_active:
        return None
    # Coarse last-used stamp: one write per minute at most.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_list(*, user: User | None = None) -> QuerySet[ApiToken]:
    """Tokens (all, or one user's), newest first; rows carry only the hash, never the secret."""
    qs = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    return qs.filter(user=user) if user is not None else qs


def token_find(id_or_prefix: str) -> ApiToken:
    """The token a command line names by its prefix (or `jw_<prefix>`) or its numeric id."""
    value = id_or_prefix.strip()
    if value.startswith("jw_"):
        value = value.split("_")[1]
    where = Q(prefix=value)
    if value.isdigit():
        where |= Q(pk=int(value))
    found = list(ApiToken.objects.select_related("user").filter(where)[:2])
    if not found:
        raise TokenError(f"no token with id or prefix {id_or_prefix!r}")
    if len(found) > 1:
        raise TokenError(f"{id_or_prefix!r} is both a token id and another token's prefix; use jw_<prefix>")
    return found[0]


def token_allows(token: ApiToken, scope: str) -> bool:
    return "*" in token.scopes or scope in token.scopes
