"""阳光警务: the reporter's progress lookup and reconsideration request, on the public site.

No sign-in, no cookies: the pages carry no CSRF token (a request is worthless without the
case number and its lookup code, which only the reporter holds), so the answer to a wrong
code and to an unknown number is the same bytes. Client address: REMOTE_ADDR (a proxy in
front must set it to the real client)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from jingwu.cases import services
from jingwu.cases.forms import LookupForm, ReconsiderationForm
from jingwu.cases.workflow import DeclineReason, PublicStatus
from jingwu.core.services import ServiceError


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _answer(request: HttpRequest, outcome: str) -> HttpResponse:
    """The page for everything but a match: a fresh form and one fixed message per outcome."""
    status = {"throttled": 429, "invalid": 400}.get(outcome, 200)
    return render(request, "cases/public/lookup.html", {"form": LookupForm(), "outcome": outcome}, status=status)


@login_not_required
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def lookup(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _answer(request, "")
    form = LookupForm(request.POST)
    if not form.is_valid():
        return _answer(request, "invalid")
    result = services.public_lookup(number=form.cleaned_data["number"], code=form.cleaned_data["code"],
                                    client=_client(request))
    if result.outcome != "found":
        return _answer(request, result.outcome)
    return _found(request, result, form.cleaned_data["code"])


def _found(request: HttpRequest, result: services.LookupResult, code: str, *, message: str = "",
           status: int = 200) -> HttpResponse:
    reconsider = ReconsiderationForm(initial={"number": result.number, "code": code}) if result.may_reconsider \
        else None
    return render(request, "cases/public/status.html", {
        "result": result, "status_label": PublicStatus(result.public_status).label,
        "reason_label": DeclineReason(result.decline_reason).label if result.decline_reason else "",
        "reconsider": reconsider, "message": message,
        "reconsideration_days": settings.JINGWU_CASE_RECONSIDERATION_DAYS,
    }, status=status)


@login_not_required
@csrf_exempt
@never_cache
@require_http_methods(["POST"])
def reconsideration(request: HttpRequest) -> HttpResponse:
    form = ReconsiderationForm(request.POST)
    if not form.is_valid():
        return _answer(request, "invalid")
    data = form.cleaned_data
    try:
        outcome = services.public_reconsideration_request(number=data["number"], code=data["code"],
                                                          reason=data["reason"], client=_client(request))
    except ServiceError:
        return _answer(request, "invalid")
    if outcome in ("no_match", "throttled"):
        return _answer(request, outcome)
    result = services.public_lookup(number=data["number"], code=data["code"], client=_client(request))
    if result.outcome != "found":
        return _answer(request, result.outcome)
    return _found(request, result, data["code"], message=outcome)
