"""The HTTP API: django-ninja, OpenAPI at /api/docs and /api/openapi.json.
Each app contributes a router; authentication is a session or a bearer token."""

from __future__ import annotations

from ninja import NinjaAPI

from jingwu.core.api import router as core_router
from jingwu.core.api_auth import BearerTokenAuth, SessionAuth

api = NinjaAPI(
    title="jingwu API",
    version="1",
    auth=[BearerTokenAuth(), SessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api.add_router("/", core_router)
