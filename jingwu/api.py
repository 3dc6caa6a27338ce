"""The HTTP API: django-ninja, OpenAPI at /api/docs and /api/openapi.json.
Each app contributes a router; authentication is a session or a bearer token.
Refusals and bad input answer with a structured JSON error, never a 500 page."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from jingwu.antifraud.api import router as antifraud_router
from jingwu.cases.api import router as cases_router
from jingwu.core import access
from jingwu.core.api import router as core_router
from jingwu.core.api_auth import BearerTokenAuth, ScopeDenied, SessionAuth
from jingwu.core.purpose import PurposeRequired
from jingwu.core.services import ServiceError
from jingwu.dispatch.api import router as dispatch_router
from jingwu.records.api import router as records_import_router
from jingwu.records.api_entities import router as records_entities_router
from jingwu.search.api import router as search_router

api = NinjaAPI(
    title="jingwu API",
    version="1",
    auth=[BearerTokenAuth(), SessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api.add_router("/", core_router)
api.add_router("/records", records_import_router)
api.add_router("/records", records_entities_router)
api.add_router("/", dispatch_router)
api.add_router("/cases", cases_router)
api.add_router("/antifraud", antifraud_router)
api.add_router("/", search_router)


@api.exception_handler(PermissionDenied)
def permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    access.audit_refusal(exc)  # owed if it was raised inside a transaction that has since rolled back
    if isinstance(exc, PurposeRequired):
        code = "purpose_required"
    elif isinstance(exc, ScopeDenied):
        code = "scope"
    else:
        code = "forbidden"
    return api.create_response(request, {"detail": str(exc) or "forbidden", "code": code}, status=403)


@api.exception_handler(ServiceError)
def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc), "field": exc.field, "code": "invalid"}, status=400)
