"""Pages of the import: upload a file and watch it go in, read a batch's report, correct
and retry quarantined rows. Thin: parse, call a selector or a service, render.

Who sees which batches is selectors.batches' rule: the batches of users within one's
RECORDS_IMPORT jurisdiction (and those of the console, for a province-wide steward)."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingwu.core.access import Action
from jingwu.core.models import User
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, portal_user, portal_view
from jingwu.records import selectors, services
from jingwu.records.forms_import import ImportUploadForm
from jingwu.records.mapping import MappingError, load_mapping
from jingwu.records.models import EntityKind, ImportBatch, QuarantinedRow, QuarantineStatus

BATCH_PAGE_SIZE = 25
QUARANTINE_PAGE_SIZE = 20
# Where a service's refusal belongs on the upload form.
_FORM_FIELD = {"source": "source", "kind": "kind", "mapping": "mapping_file", "file": "file"}


def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@portal_view(Action.RECORDS_IMPORT)
@require_http_methods(["GET", "POST"])
def imports(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    services.import_batches_reap()  # a batch whose process died shows as interrupted, not running
    form = ImportUploadForm(request.POST or None, request.FILES or None, sources=selectors.sources())
    status = 200
    if request.method == "POST":
        if form.is_valid():
            batch = _start_import(user, form)
            if batch is not None:
                return redirect("records:import_detail", pk=batch.pk)
        status = 400
    page = Paginator(selectors.batches(user), BATCH_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "records/import_list.html", {
        **_shell(request), "form": form, "page": page, "batches": page.object_list,
    }, status=status)


def _start_import(user: User, form: ImportUploadForm) -> ImportBatch | None:
    data = form.cleaned_data
    mapping = None
    if data["mapping_file"] is not None:
        mapping_upload = data["mapping_file"]
        mapping_path = services.upload_store(mapping_upload.name, mapping_upload.chunks())
        try:
            mapping = load_mapping(mapping_path)
        except MappingError as exc:
            form.add_error("mapping_file", str(exc))
            return None
        finally:
            services.upload_discard(mapping_path)  # read once; the batch keeps the mapping itself
    upload = data["file"]
    path = services.upload_store(upload.name, upload.chunks())
    try:
        job = services.import_start(actor=user, source_key=data["source"], path=path, mapping=mapping,
                                    kind=data["kind"] or None, label=data["label"], file_name=upload.name,
                                    upload=True)
    except ServiceError as exc:
        services.upload_discard(path)
        form.add_error(_FORM_FIELD.get(exc.field), str(exc))
        return None
    except BaseException:
        services.upload_discard(path)
        raise
    # Tests and `make test` run jobs at once; the demo server imports in a thread and the
    # report page shows the progress.
    services.import_launch(job, actor=user, background=not settings.HUEY.get("immediate", False))
    return job.batch


def _batch_or_404(user: User, pk: int) -> ImportBatch:
    try:
        return selectors.batches(user).get(pk=pk)
    except ImportBatch.DoesNotExist:
        raise Http404(_("没有这个导入批次。")) from None


def _progress(batch: ImportBatch) -> dict[str, Any]:
    total = max(batch.rows_expected or 0, batch.rows_read, 1)
    return {"batch": batch, "progress_max": total, "percent": min(100, round(100 * batch.rows_read / total))}


def _kind_label(kind: str) -> str:
    return str(EntityKind(kind).label) if kind in EntityKind.values else kind


@portal_view(Action.RECORDS_IMPORT)
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    services.import_batches_reap()
    try:
        batch = selectors.batch_report_read(user, pk, request=request)
    except ImportBatch.DoesNotExist:
        raise Http404(_("没有这个导入批次。")) from None
    show = request.GET.get("show", QuarantineStatus.OPEN)
    status = None if show == "all" else QuarantineStatus.OPEN
    rows = selectors.quarantined_rows(user, batch=batch.pk, status=status)
    page = Paginator(rows, QUARANTINE_PAGE_SIZE).get_page(request.GET.get("page"))
    shown = "all" if status is None else "open"
    return render(request, "records/import_detail.html", {
        **_shell(request), **_progress(batch), "kind_label": _kind_label(batch.kind), "page": page, "show": shown,
        "query": f"show={shown}", "rows": [_row_context(row) for row in page.object_list],
    })


@portal_view(Action.RECORDS_IMPORT)
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress box alone, which the report page polls while the import runs."""
    services.import_batches_reap()
    batch = _batch_or_404(portal_user(request), pk)
    response = render(request, "records/import_progress.html", _progress(batch))
    if batch.status != "running" and _htmx(request):
        response["HX-Refresh"] = "true"  # done: the whole page, with the quarantined rows
    return response


def _row_context(row: QuarantinedRow, *, errors: dict[str, list[str]] | None = None,
                 general: list[str] | None = None, cells: dict[str, str] | None = None) -> dict[str, Any]:
    """A quarantined row for its template: cells in file order, each with its issues."""
    by_column: dict[str, list[str]] = {}
    issues = []
    for issue in row.issues:
        text = selectors.issue_text(issue, row.row_number)
        issues.append({"code": issue.get("code", ""), "text": text})
        by_column.setdefault(issue.get("column") or "", []).append(text)
    shown = []
    for column, value in services.ordered_cells(row):
        shown.append({"column": column, "value": (cells or {}).get(column, value or ""),
                      "issues": by_column.get(column, []), "errors": (errors or {}).get(column, [])})
    return {"row": row, "issues": issues, "cells": shown, "row_issues": by_column.get("", []),
            "errors": general or []}


def _row_or_404(user: User, pk: int) -> QuarantinedRow:
    found = selectors.quarantined_rows(user, status=None).filter(pk=pk).first()
    if found is None:
        raise Http404(_("没有这个隔离行。"))
    return found


def _row_answer(request: HttpRequest, row: QuarantinedRow, context: dict[str, Any], *, message: str,
                failed: bool) -> HttpResponse:
    if _htmx(request):  # htmx swaps the row in place (it swaps 2xx answers only)
        return render(request, "records/quarantine_row.html", {"item": context})
    if failed:
        messages.error(request, message)
    else:
        messages.success(request, message)
    return redirect("records:import_detail", pk=row.batch_id)


@portal_view(Action.RECORDS_IMPORT)
@require_POST
def quarantine_retry(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    row = _row_or_404(user, pk)
    corrected = dict(zip(request.POST.getlist("column"), request.POST.getlist("value"), strict=False))
    try:
        fixed = services.quarantine_retry(actor=user, row=row, corrected=corrected)
    except services.RetryRejected as exc:
        errors: dict[str, list[str]] = {}
        general = []
        texts = []
        for issue in exc.issues:
            text = selectors.issue_text(dataclasses.asdict(issue), row.row_number)
            texts.append(text)
            if issue.column:
                errors.setdefault(issue.column, []).append(text)
            else:
                general.append(text)
        context = _row_context(row, errors=errors, general=general, cells=corrected)
        return _row_answer(request, row, context, message=_("第 %(row)s 行仍未通过校验：%(reason)s") % {
            "row": row.row_number, "reason": _("；").join(texts)}, failed=True)
    except ServiceError as exc:
        context = _row_context(row, general=[str(exc)], cells=corrected)
        return _row_answer(request, row, context, message=str(exc), failed=True)
    return _row_answer(request, fixed, _row_context(fixed),
                       message=_("第 %(row)s 行已修正并导入。") % {"row": fixed.row_number}, failed=False)


@portal_view(Action.RECORDS_IMPORT)
@require_POST
def quarantine_discard(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    row = _row_or_404(user, pk)
    try:
        done = services.quarantine_discard(actor=user, row=row, reason=request.POST.get("reason", ""))
    except ServiceError as exc:
        return _row_answer(request, row, _row_context(row, general=[str(exc)]), message=str(exc), failed=True)
    return _row_answer(request, done, _row_context(done),
                       message=_("第 %(row)s 行已放弃。") % {"row": done.row_number}, failed=False)
