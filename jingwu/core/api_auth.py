"""API authentication: bearer tokens for scripts and partners, the session for the browser."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth

from jingwu.core import audit, tokens


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = tokens.token_authenticate(token)
        if api_token is None:
            # The prefix (never the secret) says which token a client keeps using after revocation.
            audit.record(actor=None, action="api.auth", outcome="denied", object_type="api_token",
                         object_id=tokens.bearer_prefix(token),
                         details={"reason": "invalid, expired or revoked token", "path": request.path})
            return None
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
