from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from jingwu.core import access, request_context

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives every request an id (kept from X-Request-ID when well-formed) and binds
    it with the client address for the audit log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        client = request.META.get("REMOTE_ADDR", "") or ""
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_context.bind(request_context.RequestContext(request_id, client))
        try:
            response = self.get_response(request)
        finally:
            request_context.unbind(token)
        response["X-Request-ID"] = request_id
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # A refusal raised inside a view's transaction is audited now that it has rolled back.
        access.audit_refusal(exception)


class CookieLocaleMiddleware(LocaleMiddleware):
    """Simplified Chinese unless the user chose otherwise with the language switch.

    Django's own middleware follows the browser's Accept-Language; a police portal
    speaks the service's language by default, so only the switch's cookie counts."""

    def process_request(self, request: HttpRequest) -> None:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        supported = {code for code, _name in settings.LANGUAGES}
        language = chosen if chosen in supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
