"""API bearer tokens: created once and shown once, stored as a SHA-256 hash,
scoped, expiring, revocable.

A token reads `jw_<prefix>_<secret>`; the prefix finds the row, the hash of the
whole token must match (tokens carry 256 bits of randomness, so a fast hash is right)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from jingwu.core import audit
from jingwu.core.models import ApiToken, User

# Scopes name the feeds and surfaces a token may use; "*" is everything the user's roles allow.
KNOWN_SCOPES = frozenset({"*", "read", "records.push", "dispatch.calls", "dispatch.positions",
                          "antifraud.signals", "antifraud.reports", "safety.parcels", "citizen.open311"})


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the full bearer value; shown once, never stored


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


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


def token_authenticate(bearer: str) -> ApiToken | None:
    """The live token this bearer value names, or None."""
    parts = bearer.split("_")
    if len(parts) < 3 or parts[0] != "jw":
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.key_hash, _digest(bearer)):
        return None
    now = timezone.now()
    if not token.is_usable(now) or not token.user.is_active:
        return None
    # Coarse last-used stamp: one write per minute at most.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_allows(token: ApiToken, scope: str) -> bool:
    return "*" in token.scopes or scope in token.scopes
