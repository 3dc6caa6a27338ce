"""Pushed batches: a partner system sends up to 10,000 records at a time and reads back
the report. Thin: the schema checks the shape, services.import_records does the rest.

Who may push: a data steward (RECORDS_IMPORT) to any source, a partner system
(RECORDS_PUSH) only to the sources bound to it (Source.partner). Reading a batch back
is for stewards: a partner gets its report in the answer to the push, and again by
pushing the same batch under the same idempotency key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema, Status

from jingwu.core import access
from jingwu.core.access import Action
from jingwu.core.api import ErrorOut
from jingwu.core.api_auth import BearerTokenAuth, SessionAuth
from jingwu.core.models import User
from jingwu.records import selectors, services
from jingwu.records.mapping import Kind
from jingwu.records.models import ImportBatch

router = Router(tags=["records: imports"])

# A partner's feed token carries this scope; the user behind it must also hold RECORDS_PUSH
# (for the source) or RECORDS_IMPORT.
PUSH_AUTH = [BearerTokenAuth(scope="records.push"), SessionAuth()]
# Issues of at most this many quarantined rows are listed in a report (a pushed batch has
# at most MAX_API_RECORDS rows, so its report is always whole).
REPORT_ROWS = services.MAX_API_RECORDS

Cell = str | int | float | bool | None


class BatchIn(Schema):
    source: str = Field(min_length=1, max_length=32, description="the source system's key, e.g. `telecom`")
    kind: Kind
    idempotency_key: str = Field(min_length=1, max_length=services.MAX_IDEMPOTENCY_KEY,
                                 description="your id for this batch: the same key again returns the first report")
    label: str = Field("", max_length=200)
    mapping: dict[str, Any] | None = Field(
        None, description="a mapping document (the TOML mapping file's shape, as JSON); "
                          "without one, columns named as our fields or their usual Chinese names are read")
    records: list[dict[str, Cell]] = Field(min_length=1, max_length=services.MAX_API_RECORDS,
                                           description="one object per record: column -> value")


class IssueOut(Schema):
    row: int = Field(description="1 for the first record of the batch (for files: the row in the file)")
    field: str
    column: str
    code: str
    message: str = Field(description="the reason in English, as the validator wrote it (for logs)")
    reason: str = Field("", description="the reason's key, e.g. resident_id.check_char_mismatch")
    params: dict[str, Any] = Field(default_factory=dict, description="the values the reason names")
    text: str = Field("", description="place and reason as a sentence in the request's language")


class BatchOut(Schema):
    id: int
    source: str
    kind: str
    label: str
    status: str
    format: str
    expected: int | None
    read: int
    imported: int
    unchanged: int
    quarantined: int
    balances: bool = Field(description="read = imported + unchanged + quarantined")
    started_at: datetime
    finished_at: datetime | None
    replayed: bool = Field(False, description="true when this idempotency key was seen before: nothing was written")
    issues: list[IssueOut]
    issues_truncated: bool


def _report(batch: ImportBatch, *, replayed: bool = False) -> BatchOut:
    issues, truncated = selectors.batch_issues(batch, limit=REPORT_ROWS, text=True)
    return BatchOut(
        id=batch.pk, source=batch.source.key, kind=batch.kind, label=batch.label, status=batch.status,
        format=batch.file_format, expected=batch.rows_expected, read=batch.rows_read,
        imported=batch.rows_imported, unchanged=batch.rows_unchanged, quarantined=batch.rows_quarantined,
        balances=batch.balances, started_at=batch.started_at, finished_at=batch.finished_at, replayed=replayed,
        issues=[IssueOut(**issue) for issue in issues], issues_truncated=truncated)


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@router.post("/batches", auth=PUSH_AUTH, response={200: BatchOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut},
             summary="Push a batch of records (at most 10,000); answers with the import report")
def batch_push(request: HttpRequest, payload: BatchIn) -> Any:
    """Each record is checked like a row of a file: good ones are imported (or found
    unchanged), bad ones are quarantined and listed in `issues`. A batch that cannot be
    imported at all (unknown source, a mapping that does not fit) is refused with 400
    and nothing is written. The same idempotency key with the same records answers with
    the first report (`replayed`); with other records, 409 `idempotency_conflict`."""
    actor = _actor(request)
    if not access.can(actor, Action.RECORDS_PUSH):
        access.check(actor, Action.RECORDS_IMPORT, object_type="import_batch", request=request)
    try:
        batch, replayed = services.import_records(
            actor=actor, source_key=payload.source, kind=payload.kind, idempotency_key=payload.idempotency_key,
            records=payload.records, mapping=payload.mapping, label=payload.label)
    except services.IdempotencyConflict as exc:
        return Status(409, ErrorOut(detail=str(exc), field=exc.field, code=exc.code))
    return _report(batch, replayed=replayed)


@router.get("/batches/{batch_id}", auth=PUSH_AUTH, response={200: BatchOut, 403: ErrorOut},
            summary="An import batch's report and progress")
def batch_get(request: HttpRequest, batch_id: int) -> BatchOut:
    actor = _actor(request)
    access.check(actor, Action.RECORDS_IMPORT, object_type="import_batch", object_id=batch_id, request=request)
    try:
        batch = selectors.batch_report_read(actor, batch_id, request=request)
    except ImportBatch.DoesNotExist:
        raise Http404("no such batch") from None
    return _report(batch)
