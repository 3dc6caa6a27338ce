"""API authentication: bearer tokens for scripts and partners, the session for the browser."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth

from jingwu.core import audit, tokens

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ScopeDenied(PermissionDenied):
    """A valid token used outside its scopes."""


class BearerTokenAuth(HttpBearer):
    """A bearer token, which must also carry the scope the endpoint names.

    Without a named scope, reading needs "read" and writing needs "*": an endpoint
    that forgets to declare its scope is closed to narrowly scoped partner tokens."""

    def __init__(self, scope: str | None = None) -> None:
        super().__init__()
        self.scope = scope

    def required_scope(self, request: HttpRequest) -> str:
        if self.scope is not None:
            return self.scope
        return "read" if request.method in SAFE_METHODS else "*"

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = tokens.token_authenticate(token)
        if api_token is None:
            # The prefix (never the secret) says which token a client keeps using after revocation.
            audit.record(actor=None, action="api.auth", outcome="denied", object_type="api_token",
                         object_id=tokens.bearer_prefix(token),
                         details={"reason": "invalid, expired or revoked token", "path": request.path})
            return None
        needed = self.required_scope(request)
        if not tokens.token_allows(api_token, needed):
            audit.record(actor=api_token.user, action="api.scope", outcome="denied", object_type="api_token",
                         object_id=api_token.prefix,
                         details={"needed": needed, "scopes": api_token.scopes, "path": request.path})
            raise ScopeDenied(f"this token's scopes {api_token.scopes} do not include {needed!r}")
        request.user = api_token.user
        request.api_token = api_token  # type: ignore[attr-defined]
        return api_token.user


class SessionAuth(NinjaSessionAuth):
    """The browser's session; a user who must pass a second factor must have passed it."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is None:
            return None
        from jingwu.core import access

        if access.needs_second_factor(user) and not user.is_verified():
            return None
        return user


def require_scope(request: HttpRequest, scope: str) -> bool:
    """Session users carry their roles' powers; a token also needs the scope."""
    api_token = getattr(request, "api_token", None)
    return api_token is None or tokens.token_allows(api_token, scope)
