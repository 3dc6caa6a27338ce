"""Reads of the data centre's intake: sources, import batches, quarantined rows, and the
FollowTheMoney export of current source records.

Who sees which batch: holders of RECORDS_IMPORT see the batches created by users whose
home unit lies within their jurisdiction for it. Batches created by nobody (the console)
or by users without a home unit are seen only by holders whose jurisdiction is a whole
tree (a root unit, such as the province's data steward) — the rule the audit log uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Any, Final, Protocol

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext

from jingwu.core import access, audit
from jingwu.core.access import Action
from jingwu.core.models import User
from jingwu.records import ftm, reasons
from jingwu.records.mapping import FIELD_TYPES, VOCABULARY, Mapping
from jingwu.records.models import EntityKind, ImportBatch, QuarantinedRow, QuarantineStatus, Source, SourceRecord
from jingwu.records.readers import RawRow
from jingwu.records.rows import GoodRow, normalize_row

__all__ = [
    "ExportReport",
    "SourceSummary",
    "batch_issues",
    "batch_report_read",
    "batches",
    "export_ftm",
    "issue_text",
    "quarantined_rows",
    "source_summaries",
    "sources",
]

_EXPORT_CHUNK: Final = 2000


class TextSink(Protocol):
    """Where an export writes: a text file, or a management command's stdout."""

    def write(self, text: str, /) -> object: ...


def sources() -> QuerySet[Source]:
    return Source.objects.order_by("key")


@dataclass(frozen=True)
class SourceSummary:
    key: str
    name: str
    trust_rank: int
    records: int  # current versions
    batches: int
    partner: str | None = None  # the user name of the partner system bound to it


def source_summaries() -> list[SourceSummary]:
    records = dict(SourceRecord.objects.filter(superseded_by__isnull=True).values("source")
                   .annotate(n=Count("id")).values_list("source", "n"))
    batches = dict(ImportBatch.objects.values("source").annotate(n=Count("id")).values_list("source", "n"))
    return [SourceSummary(s.key, s.name, s.trust_rank, records.get(s.pk, 0), batches.get(s.pk, 0),
                          s.partner.username if s.partner is not None else None)
            for s in sources().select_related("partner")]


def _batch_filter(actor: User) -> Q | None:
    roots = access.jurisdictions(actor, Action.RECORDS_IMPORT)
    if not roots:
        return None
    within = reduce(lambda a, b: a | b, (Q(created_by__home_unit__path__startswith=root) for root in roots))
    if any(root.count("/") == 1 for root in roots):
        within |= Q(created_by__isnull=True) | Q(created_by__home_unit__isnull=True)
    return within


def batches(actor: User) -> QuerySet[ImportBatch]:
    """The import batches the actor may see, newest first."""
    within = _batch_filter(actor)
    queryset = ImportBatch.objects.select_related("source", "created_by").order_by("-started_at", "-pk")
    return queryset.none() if within is None else queryset.filter(within)


def batch_report_read(actor: User, pk: int, *, request: Any = None) -> ImportBatch:
    """One batch for its report page. Its quarantined rows hold personal data as the
    source sent it, so opening the report is recorded. Raises ImportBatch.DoesNotExist
    when the batch is not visible to the actor."""
    batch = batches(actor).get(pk=pk)
    audit.record(actor=actor, action="records.batch_read", object_type="import_batch", object_id=batch.pk,
                 request=request, details={"quarantined": batch.rows_quarantined})
    return batch


def quarantined_rows(actor: User | None, *, batch: int | None = None,
                     status: str | None = QuarantineStatus.OPEN) -> QuerySet[QuarantinedRow]:
    """Quarantined rows of the batches the actor sees (all for the console), in file order."""
    queryset = (QuarantinedRow.objects.select_related("batch__source", "resolved_by")
                .order_by("batch_id", "row_number", "pk"))
    if actor is not None:
        queryset = queryset.filter(batch__in=batches(actor).values("pk"))
    if batch is not None:
        queryset = queryset.filter(batch_id=batch)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def batch_issues(batch: ImportBatch, *, limit: int, text: bool = False) -> tuple[list[dict[str, Any]], bool]:
    """The issues of a batch's quarantined rows, one entry per reason, in file order:
    ({row, field, column, code, message, reason, params}, ...) — message in English as stored; with ``text``
    also the sentence in the active language — and whether the list was cut at ``limit`` rows."""
    rows = list(batch.quarantined.order_by("row_number", "pk").values_list("row_number", "issues")[:limit + 1])
    issues = [{"row": number, "field": issue.get("field", ""), "column": issue.get("column", ""),
               "code": issue.get("code", ""), "message": issue.get("message", ""),
               "reason": issue.get("reason") or "", "params": issue.get("params") or {},
               **({"text": issue_text(issue, number)} if text else {})}
              for number, row_issues in rows[:limit] for issue in row_issues]
    return issues, len(rows) > limit


# --------------------------------------------------------------------------- reasons, in the viewer's language


def _field_scopes(field: str) -> list[str]:
    """The field types a field may have (by name, in any kind), then the row: where a stored
    issue's sentence may come from."""
    types = {VOCABULARY[kind][field] for kind in VOCABULARY if field in VOCABULARY[kind]}
    return [t for t in FIELD_TYPES if t in types] + ["row"]


def _param_text(name: str, value: Any) -> Any:
    # Kinds are words the viewer reads ("车辆"), not codes.
    if name in ("kind", "expected") and value in EntityKind.values:
        return str(EntityKind(value).label)
    return value


def _reason_text(reason: str, params: Any) -> str | None:
    if reason == reasons.MALFORMED_ROW:
        parts = [_reason_text(part.get("reason", ""), part.get("params")) for part in params.get("problems") or []]
        if not parts or None in parts:
            return None
        return gettext("；").join(p or "" for p in parts)
    known = reasons.REASONS.get(reason)
    if known is None or not isinstance(params, dict):
        return None
    try:
        return gettext(known.msgid) % {name: _param_text(name, value) for name, value in params.items()}
    except (KeyError, TypeError, ValueError):
        return None


def issue_text(issue: dict[str, Any], row_number: int) -> str:
    """A quarantine issue as a sentence in the active language: its place, then its reason.
    Issues stored before reasons were kept are read from their English sentence; one that
    cannot be read is shown as stored."""
    message = str(issue.get("message") or "")
    reason, params = issue.get("reason") or "", issue.get("params")
    if not reason:
        found = reasons.explain_stored(issue, row_number, _field_scopes(str(issue.get("field") or "")))
        if found is None:
            return message
        reason, params = found
    text = _reason_text(reason, params)
    if text is None:
        return message
    column, field = str(issue.get("column") or ""), str(issue.get("field") or "")
    if column and message.startswith(reasons.where(row_number, column, field) + ": "):
        if field:
            return gettext("第 %(row)s 行，%(column)s 列（%(field)s）：%(reason)s") % {
                "row": row_number, "column": column, "field": field, "reason": text}
        return gettext("第 %(row)s 行，%(column)s 列：%(reason)s") % {"row": row_number, "column": column,
                                                                   "reason": text}
    return gettext("第 %(row)s 行：%(reason)s") % {"row": row_number, "reason": text}


# --------------------------------------------------------------------------- export


@dataclass
class ExportReport:
    entities: int = 0
    parties: int = 0
    skipped: int = 0  # stored records that no longer normalise (or FtM refuses)
    by_kind: dict[str, int] = field(default_factory=dict)


def _record_fields(kind: str, source_key: str, fields: dict[str, Any] | None,
                   payload: dict[str, Any]) -> dict[str, str | None] | None:
    """The normalised fields of a stored record. Records loaded in bulk in our vocabulary
    (the synthetic province) carry only a payload: it is normalised here."""
    if fields is not None:
        return fields
    cells = {str(name): (value if value is None or isinstance(value, str) else str(value))
             for name, value in payload.items()}
    cells[ftm.ID_COLUMN] = source_key
    result = normalize_row(RawRow(0, cells), Mapping.identity(kind))
    return result.fields if isinstance(result, GoodRow) else None


def export_ftm(*, actor: User | None, out: TextSink, source: str | None = None, kind: str | None = None,
               parties: bool = False) -> ExportReport:
    """Write the current version of every source record (of one source, of one kind) to
    ``out`` as a FollowTheMoney entity stream, streamed in chunks. With ``parties`` the
    Person each vehicle's or phone's owner points at is written too (once per ID number).
    A user sees the records of units within their RECORDS_IMPORT jurisdiction; the export
    is audited with its counts."""
    queryset = SourceRecord.objects.filter(superseded_by__isnull=True)
    if actor is not None:
        access.check(actor, Action.RECORDS_IMPORT, object_type="records_export", object_id=source or "")
        queryset = access.scope(actor, Action.RECORDS_IMPORT, queryset)
    if source:
        queryset = queryset.filter(source__key=source)
    if kind:
        queryset = queryset.filter(kind=kind)
    rows = queryset.order_by("pk").values_list("source__key", "source_key", "kind", "fields", "payload")
    report = ExportReport()
    seen_parties: set[str] = set()
    by_kind: dict[str, int] = {}
    for source_key, key, record_kind, fields, payload in rows.iterator(chunk_size=_EXPORT_CHUNK):
        values = _record_fields(record_kind, key, fields, payload)
        if values is None:
            report.skipped += 1
            continue
        try:
            entity = ftm.records_to_ftm(record_kind, key, values, source=source_key)
        except ValueError:
            report.skipped += 1
            continue
        if parties:
            for id_field, name_field in (("owner_id_number", "owner_name"), ("subscriber_id_number",
                                                                              "subscriber_name")):
                holder = values.get(id_field)
                if holder and holder not in seen_parties:
                    seen_parties.add(holder)
                    out.write(ftm.entity_line(ftm.party_entity(holder, values.get(name_field))))
                    report.parties += 1
        out.write(ftm.entity_line(entity))
        report.entities += 1
        by_kind[record_kind] = by_kind.get(record_kind, 0) + 1
    report.by_kind = by_kind
    audit.record(actor=actor, action="records.export", object_type="records_export", object_id=source or "",
                 details={"format": "ftm", "source": source or "", "kind": kind or "", "entities": report.entities,
                          "parties": report.parties, "skipped": report.skipped})
    return report
