"""警务千度, the search page: one box, results as htmx fragments, suggestions as a
datalist.  Thin: read the form, call the selectors, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from jingwu.core import selectors as core_selectors
from jingwu.core.access import Action
from jingwu.core.purpose import PurposeRequired
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, portal_user, portal_view
from jingwu.search import selectors
from jingwu.search.forms import SearchForm


def _ask_purpose(request: HttpRequest) -> HttpResponse:
    messages.info(request, _("查询前，请先说明查询事由。"))
    target = f"{reverse('core:purpose')}?{urlencode({'next': request.get_full_path()})}"
    if request.headers.get("HX-Request") == "true":  # htmx swaps fragments; send the whole page there
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@portal_view(Action.SEARCH_QUERY)
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    form = SearchForm(request.GET or None, actor=user)
    results = None
    error = ""
    status = 200
    if form.is_bound and form.is_valid() and form.cleaned_data["q"]:
        data = form.cleaned_data
        try:
            results = selectors.search(
                user, data["q"], kinds=[data["type"]] if data["type"] else [], unit=data["unit"] or "",
                date_from=data["date_from"], date_to=data["date_to"], similar=data["similar"],
                sort=data["sort"] or "relevance", page=data["page"] or 1, request=request)
        except PurposeRequired:
            return _ask_purpose(request)
        except ServiceError as exc:
            error, status = str(exc), 400
    elif form.is_bound and not form.is_valid():
        error, status = " ".join(str(e) for errors in form.errors.values() for e in errors), 400
    query = request.GET.copy()
    query.pop("page", None)
    facet_query = query.copy()
    facet_query.pop("type", None)
    context = {"form": form, "results": results, "error": error, "query": query.urlencode(),
               "facet_query": facet_query.urlencode(), "purpose": core_selectors.current_purpose(user)}
    if request.headers.get("HX-Request") == "true":
        return render(request, "search/_results.html", context, status=status)
    return render(request, "search/page.html", {**_shell(request), **context}, status=status)


@portal_view(Action.SEARCH_QUERY)
@require_GET
def suggest(request: HttpRequest) -> HttpResponse:
    """Options for the box's datalist (empty without a purpose: the page asks for one)."""
    try:
        found = selectors.suggest(portal_user(request), request.GET.get("q", "")[:200], request=request)
    except PurposeRequired:
        found = []
    return render(request, "search/_suggestions.html", {"suggestions": found})
