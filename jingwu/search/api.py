"""The search API: the same selectors as the page (purpose required, scoped, audited,
ID numbers masked by role).  Mounted at /api/search and /api/suggest."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from jingwu.core.models import User
from jingwu.search import selectors

router = Router(tags=["search"])


class ErrorOut(Schema):
    detail: str
    code: str
    field: str | None = None


class HighlightOut(Schema):
    field: str = Field(description="name, address, body (a source record's text) or the identifier kind typed")
    label: str
    text: str
    marks: list[tuple[int, int]] = Field(description="Character ranges of `text` that matched, end exclusive")


class ResultOut(Schema):
    entity_id: int | None = Field(description="The real-world entity; its profile is at `url`")
    doc_type: str
    id: int
    type: str = Field(description="person, vehicle, phone, account, organization, place …")
    type_label: str
    title: str
    url: str
    unit: str
    date: dt.datetime | None
    score: float | None = Field(description="Relevance; null when sorted by date")
    highlights: list[HighlightOut]


class FacetOut(Schema):
    type: str
    label: str
    count: int


class SearchOut(Schema):
    query: str
    total: int = Field(description="Matching documents you may see (never counts others)")
    page: int
    page_size: int
    facets: list[FacetOut] = Field(description="Matches per type, without the type filter")
    results: list[ResultOut]


class SuggestionOut(Schema):
    text: str
    count: int


class SuggestOut(Schema):
    query: str
    suggestions: list[SuggestionOut]


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@router.get("/search", response={200: SearchOut, 400: ErrorOut, 403: ErrorOut}, url_name="search",
            summary="Search everything you may see (needs a stated purpose; audited with the query)")
def search(request: HttpRequest,
           q: str = Query(..., max_length=200, description="Names, ID numbers, phones, plates, accounts, addresses "
                                                           "or text; field syntax 姓名:张伟 出生:1985"),
           type: Annotated[list[str] | None, Query(description="Only these types (repeatable)")] = None,
           unit: str = Query("", max_length=32, description="A unit code: only what falls under it"),
           date_from: dt.date | None = None, date_to: dt.date | None = None,
           similar: bool = Query(False, description="Names also by sound and with one character wrong"),
           sort: Literal["relevance", "date"] = "relevance",
           page: int = Query(1, ge=1, le=selectors.PAGE_MAX),
           page_size: int = Query(selectors.PAGE_SIZE, ge=1, le=selectors.PAGE_SIZE_MAX)) -> Any:
    return selectors.search(_actor(request), q, kinds=type or [], unit=unit, date_from=date_from, date_to=date_to,
                            similar=similar, sort=sort, page=page, page_size=page_size, request=request)


@router.get("/suggest", response={200: SuggestOut, 403: ErrorOut}, url_name="suggest",
            summary="Completions for the search box (needs a stated purpose; audited)")
def suggest(request: HttpRequest, q: str = Query(..., max_length=200),
            limit: int = Query(8, ge=1, le=selectors.SUGGEST_MAX)) -> Any:
    return {"query": q, "suggestions": selectors.suggest(_actor(request), q, limit=limit, request=request)}
