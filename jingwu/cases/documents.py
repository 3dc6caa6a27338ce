"""Case documents 法律文书: Django templates (cases/documents/<kind>.html) rendered to an
HTML body, kept as issued, and printed to PDF with WeasyPrint in a CJK serif font
(Noto Serif CJK SC, Debian's fonts-noto-cjk)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from jingwu.cases import categories
from jingwu.cases.workflow import CaseType, DeclineReason, Document

if TYPE_CHECKING:
    from jingwu.cases.models import Case, CaseEvent
    from jingwu.core.models import User

# Document number suffixes: receipt R, decline notice D, filing decision F, penalty decision P.
CODES: dict[str, str] = {Document.RECEIPT: "R", Document.DECLINE_NOTICE: "D", Document.FILING_DECISION: "F",
         Document.PENALTY_DECISION: "P"}

STYLESHEET = "cases/document.css"


def _date(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return f"{local.year}年{local.month}月{local.day}日"


def context_for(case: Case, kind: str, *, number: str, issued_at: dt.datetime, actor: User | None,
                event: CaseEvent | None, extra: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {
        "doc_number": number,
        "title": Document(kind).label,
        "case": case,
        "case_type": CaseType(case.case_type).label,
        "category": categories.label(case.category),
        "unit_name": case.unit.name,
        "issued_on": _date(issued_at),
        "accepted_on": _date(case.accepted_at),
        "accepted_at": timezone.localtime(case.accepted_at).strftime("%Y-%m-%d %H:%M"),
        "issuer": str(actor) if actor is not None else "",
        "lookup_path": reverse("cases_public:lookup"),
        "reconsideration_days": settings.JINGWU_CASE_RECONSIDERATION_DAYS,
        "overturned": bool(event is not None and event.transition == "overturn_decline"),
    }
    if kind == Document.DECLINE_NOTICE and case.decline_reason:
        context["reason"] = DeclineReason(case.decline_reason).label
    if kind == Document.PENALTY_DECISION:
        context["penalty"] = case.penalty or {}
        context["party_name"] = extra.get("party_name", "")
    return context


def render_body(kind: str, context: dict[str, Any]) -> str:
    """The document's body in the portal's default language (documents are official text)."""
    with translation.override(settings.LANGUAGE_CODE):
        return render_to_string(f"cases/documents/{kind}.html", context)


def to_pdf(body_html: str, title: str) -> bytes:
    """The body printed on A4 with the document stylesheet."""
    import weasyprint  # a heavy import, needed only when a PDF is asked for

    page = render_to_string("cases/documents/print.html", {"body": body_html, "title": title})
    path = finders.find(STYLESHEET)
    stylesheets = [weasyprint.CSS(filename=str(path))] if path else []
    pdf: bytes = weasyprint.HTML(string=page).write_pdf(stylesheets=stylesheets)
    return pdf
