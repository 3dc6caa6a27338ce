"""The watch-list API: the anti-fraud centre's systems (or a ministry feed relayed by them)
list, add in batches and retire entries. Needs FRAUD_LISTS_MANAGE; reads take a token scoped
"read", writes one scoped "antifraud.lists".

A batch is checked whole: any bad entry is a 400 naming every bad entry (`errors`, each with
its index, field and reason) and nothing of the batch is written."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from jingwu.antifraud import watchlists
from jingwu.antifraud.warning_models import WatchListEntry
from jingwu.core.api import ErrorOut
from jingwu.core.api_auth import BearerTokenAuth, SessionAuth
from jingwu.core.models import User

router = Router(tags=["antifraud"])
READ_AUTH = [BearerTokenAuth(scope="read"), SessionAuth()]
WRITE_AUTH = [BearerTokenAuth(scope="antifraud.lists"), SessionAuth()]


class RowErrorOut(Schema):
    row: int = Field(description="the entry's index in `entries`")
    field: str
    reason: str


class BatchErrorOut(ErrorOut):
    errors: list[RowErrorOut]


class EntryIn(Schema):
    kind: str = Field(description="phone, account, url or app")
    value: str = Field(max_length=600)
    source: str = Field(max_length=200, description="who listed it: 部反诈中心, a bank, a report number …")
    expires_at: dt.datetime | None = Field(None, description="with a time zone; never when left out")
    note: str = Field("", max_length=600)
    bank: str = Field("", max_length=16, description="the bank code, for accounts")


class BatchIn(Schema):
    entries: list[EntryIn]


class BatchOut(Schema):
    added: int
    renewed: int = Field(description="entries of the same kind, value and source listed before: expiry and note "
                                     "replaced")
    ids: list[int]


class EntryOut(Schema):
    id: int
    kind: str
    value: str
    source: str
    note: str
    added_at: dt.datetime
    expires_at: dt.datetime | None
    retired_at: dt.datetime | None
    retire_reason: str


class EntriesOut(Schema):
    count: int
    items: list[EntryOut]


class FilterIn(Schema):
    kind: str = Field("", description="phone, account, url or app; all when left out")
    state: str = Field("live", description="live, expired, retired or all")
    q: str = Field("", max_length=100, description="part of the value")
    source: str = Field("", max_length=100)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class RetireIn(Schema):
    reason: str = Field(max_length=600)


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _entry_out(e: WatchListEntry) -> EntryOut:
    return EntryOut(id=e.pk, kind=e.kind, value=e.value, source=e.source, note=e.note, added_at=e.added_at,
                    expires_at=e.expires_at, retired_at=e.retired_at, retire_reason=e.retire_reason)


@router.get("/watchlist", auth=READ_AUTH, url_name="antifraud_watchlist",
            response={200: EntriesOut, 400: ErrorOut, 403: ErrorOut},
            summary="Watch-list entries, newest first, filtered by kind, state, value and source")
def watchlist(request: HttpRequest, filters: Query[FilterIn]) -> Any:
    if filters.state not in watchlists.LIST_STATES:
        return Status(400, ErrorOut(detail=f"state: one of {', '.join(watchlists.LIST_STATES)}", field="state",
                                    code="invalid"))
    qs = watchlists.watchlist_entries(_actor(request), kind=filters.kind, state=filters.state, q=filters.q,
                                      source=filters.source)
    rows = list(qs[filters.offset:filters.offset + filters.limit])
    return Status(200, EntriesOut(count=qs.count(), items=[_entry_out(e) for e in rows]))


@router.post("/watchlist", auth=WRITE_AUTH, url_name="antifraud_watchlist_add",
             response={201: BatchOut, 400: BatchErrorOut | ErrorOut, 403: ErrorOut},
             summary="List a batch of numbers, accounts, URLs and apps (all or nothing)")
def watchlist_add(request: HttpRequest, payload: BatchIn) -> Any:
    entries = [(i, watchlists.EntryIn(kind=e.kind, value=e.value, source=e.source, expires_at=e.expires_at,
                                      note=e.note, bank=e.bank.upper())) for i, e in enumerate(payload.entries)]
    try:
        added = watchlists.watchlist_add_batch(actor=_actor(request), entries=entries)
    except watchlists.BatchRejected as exc:
        errors = [RowErrorOut(row=e.row, field=f"entries[{e.row}].{e.field}", reason=e.reason) for e in exc.errors]
        return Status(400, BatchErrorOut(detail=str(exc), field=errors[0].field, code="invalid", errors=errors))
    return Status(201, BatchOut(added=added.added, renewed=added.renewed, ids=added.ids))


@router.post("/watchlist/{entry_id}/retire", auth=WRITE_AUTH, url_name="antifraud_watchlist_retire",
             response={200: EntryOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             summary="Withdraw an entry now: it stops counting for later signals")
def watchlist_retire(request: HttpRequest, entry_id: int, payload: RetireIn) -> Any:
    actor = _actor(request)
    try:
        entry = watchlists.watchlist_entry(actor, entry_id)
    except WatchListEntry.DoesNotExist:
        return Status(404, ErrorOut(detail=f"no watch-list entry {entry_id}", code="not_found"))
    return Status(200, _entry_out(watchlists.watchlist_retire(actor=actor, entry=entry, reason=payload.reason)))
