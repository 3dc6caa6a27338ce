"""Pages of the anti-fraud centre: the reports of one's jurisdiction, taking a report, and a
report with the live status of its stop-payment requests (htmx polls the status box while
any request waits on a bank). Thin: parse, call a selector or a service, render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingwu.antifraud import selectors, services, workflow
from jingwu.antifraud.banks import bank_name
from jingwu.antifraud.forms import FreezeForm, ReportForm, ReturnForm, TransferFormSet, report_input, yuan_to_fen
from jingwu.antifraud.models import FraudReport, StopPaymentRequest, StopState
from jingwu.core import access
from jingwu.core import selectors as core_selectors
from jingwu.core.access import Action
from jingwu.core.models import Unit, User
from jingwu.core.purpose import PurposeRequired
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, portal_user, portal_view

PAGE_SIZE = 25
TRANSFER_PREFIX = "transfers"
_REPORT_FIELDS = {"victim_name", "victim_id_number", "victim_phone", "fraud_type", "reported_at", "narrative"}
_FORM_FIELD = {"loss_fen": "loss", "phones": "phones", "urls": "urls", "apps": "apps", "amount_fen": "amount"}


def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@portal_view(Action.FRAUD_REPORT)
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.reports(portal_user(request)), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "antifraud/report_list.html", {**_shell(request), "page": page,
                                                          "reports": page.object_list})


def _taking_unit(user: User) -> Unit | None:
    """The unit a report taken by `user` belongs to: their own unit, else the first where they may take one."""
    if user.home_unit is not None and access.can(user, Action.FRAUD_REPORT, user.home_unit):
        return user.home_unit
    return next((unit for role, unit in access._assignments(user)
                 if role in access.ROLES and Action.FRAUD_REPORT in access.ROLES[role].actions), None)


def _place_error(exc: ServiceError, form: ReportForm, transfers: Any) -> None:
    """Show a service's refusal at the field it names ("transfers[1].payee_account")."""
    name = exc.field
    message = str(exc).split(": ", 1)[-1]
    if name.startswith(f"{TRANSFER_PREFIX}["):
        index_text, _sep, field = name[len(TRANSFER_PREFIX) + 1:].partition("].")
        field = _FORM_FIELD.get(field, field)
        if index_text.isdigit():
            rows = [t for t in transfers.forms if t.cleaned_data]
            index = int(index_text)
            if index < len(rows) and field in rows[index].fields:
                rows[index].add_error(field, message)
                return
    base = name.split("[", 1)[0]
    field = _FORM_FIELD.get(base, base)
    if field in _REPORT_FIELDS or field in form.fields:
        form.add_error(field, message)
    else:
        form.add_error(None, str(exc))


@portal_view(Action.FRAUD_REPORT)
@require_http_methods(["GET", "POST"])
def report_new(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    unit = _taking_unit(user)
    if request.method == "POST":
        data = request.POST.copy()
        form = ReportForm(data)
        if "add_transfer" in data:  # one more transfer row, keeping what was typed
            total = int(data.get(f"{TRANSFER_PREFIX}-TOTAL_FORMS", "1") or 1)
            data[f"{TRANSFER_PREFIX}-TOTAL_FORMS"] = str(min(total + 1, services.MAX_TRANSFERS))
            transfers = TransferFormSet(data, prefix=TRANSFER_PREFIX)
            return render(request, "antifraud/report_form.html", {
                **_shell(request), "form": ReportForm(data), "transfers": transfers, "unit": unit})
        transfers = TransferFormSet(data, prefix=TRANSFER_PREFIX)
        if form.is_valid() and transfers.is_valid() and unit is not None:
            try:
                submitted = services.fraud_report_submit(actor=user, unit=unit, data=report_input(form, transfers))
            except ServiceError as exc:
                _place_error(exc, form, transfers)
            else:
                report = submitted.report
                if report.stop_requests.filter(state=StopState.AWAITING_APPROVAL).exists():
                    messages.success(request, _("报案 %(number)s 已登记，止付请求已提交反诈中心审批。") % {
                        "number": report.number})
                else:
                    messages.success(request, _("报案 %(number)s 已登记，止付请求正在发往银行。") % {
                        "number": report.number})
                return redirect("antifraud:report", number=report.number)
        return render(request, "antifraud/report_form.html", {
            **_shell(request), "form": form, "transfers": transfers, "unit": unit}, status=400)
    return render(request, "antifraud/report_form.html", {
        **_shell(request), "form": ReportForm(), "transfers": TransferFormSet(prefix=TRANSFER_PREFIX), "unit": unit})


def _ask_purpose(request: HttpRequest) -> HttpResponse:
    messages.info(request, _("查看报案中的受害人信息前，请先说明查询事由。"))
    return redirect(f"{reverse('core:purpose')}?{urlencode({'next': request.get_full_path()})}")


@portal_view(Action.FRAUD_REPORT)
@require_GET
def report_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = portal_user(request)
    try:
        view = selectors.report_read(user, number, request=request)
    except FraudReport.DoesNotExist:
        raise Http404(_("没有这个报案。")) from None
    except PurposeRequired:
        return _ask_purpose(request)
    report = view.report
    return render(request, "antifraud/report_detail.html", {
        **_shell(request), "view": view, "report": report, "transfers": list(report.transfers.all()),
        "indicators": list(report.identifiers.all()), "purpose": core_selectors.current_purpose(user),
        **_stops_context(user, report),
    })


# --- the stop-payment box -----------------------------------------------------------------------

@dataclass
class StopRow:
    stop: StopPaymentRequest
    bank_name: str
    decisions: list[str]
    submits: int
    queries: int
    attempts: list[Any]


def _stops_context(user: User, report: FraudReport, error: str = "") -> dict[str, Any]:
    now = timezone.now()
    may_decide = access.can(user, Action.FRAUD_STOP_PAYMENT, report.unit)
    rows = []
    for stop in selectors.stops_of(report):
        attempts = list(stop.attempt_log.all())
        decisions = [e for e in workflow.DECISIONS if e != "approve" and workflow.allowed(stop, e, now)]
        rows.append(StopRow(stop, bank_name(stop.bank), decisions if may_decide else [],
                            sum(1 for a in attempts if a.operation == "submit"),
                            sum(1 for a in attempts if a.operation == "query"), attempts))
    stops = [row.stop for row in rows]
    held = [s for s in stops if s.state in selectors.HELD]
    return {
        "report": report, "rows": rows, "may_decide": may_decide, "error": error,
        "polling": any(s.state in workflow.IN_FLIGHT for s in stops),
        "waiting": sum(1 for s in stops if s.state == StopState.AWAITING_APPROVAL),
        "stopped_fen": sum(s.amount_stopped_fen for s in held),
        "frozen_fen": sum(s.amount_frozen_fen for s in stops if s.state in (StopState.FROZEN, StopState.RETURNED)),
        "returned_fen": sum(s.amount_returned_fen for s in stops if s.state == StopState.RETURNED),
        "first_seconds": (report.first_stop_sent_at - report.created_at).total_seconds()
        if report.first_stop_sent_at else None,
    }


def _report_or_404(user: User, number: str, request: HttpRequest) -> FraudReport:
    try:
        return selectors.report_get(user, number, request=request)
    except FraudReport.DoesNotExist:
        raise Http404(_("没有这个报案。")) from None


@portal_view(Action.FRAUD_REPORT)
@require_GET
def report_stops(request: HttpRequest, number: str) -> HttpResponse:
    """The stop-payment box alone, which the report page polls."""
    user = portal_user(request)
    report = _report_or_404(user, number, request)
    report.refresh_from_db(fields=["first_stop_sent_at"])
    return render(request, "antifraud/_stops.html", _stops_context(user, report))


def _answer(request: HttpRequest, user: User, report: FraudReport, *, error: str = "", done: str = "") -> HttpResponse:
    if _htmx(request):  # htmx swaps the box in place (it swaps 2xx answers only)
        report.refresh_from_db(fields=["first_stop_sent_at"])
        return render(request, "antifraud/_stops.html", _stops_context(user, report, error=error))
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    return redirect("antifraud:report", number=report.number)


@portal_view(Action.FRAUD_STOP_PAYMENT)
@require_POST
def report_approve(request: HttpRequest, number: str) -> HttpResponse:
    user = portal_user(request)
    report = _report_or_404(user, number, request)
    try:
        count = services.stop_payment_approve(actor=user, report=report)
    except ServiceError as exc:
        return _answer(request, user, report, error=str(exc))
    return _answer(request, user, report, done=_("已批准，%(n)s 个止付请求正在发往银行。") % {"n": count})


@portal_view(Action.FRAUD_STOP_PAYMENT)
@require_POST
def stop_decide(request: HttpRequest, pk: int, event: str) -> HttpResponse:
    user = portal_user(request)
    try:
        stop = selectors.stop_get(user, pk)
    except StopPaymentRequest.DoesNotExist:
        raise Http404(_("没有这个止付请求。")) from None
    report = stop.report
    try:
        if event == "renew":
            services.stop_payment_renew(actor=user, stop=stop)
        elif event == "release":
            services.stop_payment_release(actor=user, stop=stop)
        elif event == "resend":
            services.stop_payment_resend(actor=user, stop=stop)
        elif event == "freeze":
            freeze = FreezeForm(request.POST)
            if not freeze.is_valid():
                raise ServiceError(_("请填写冻结决定书文号。"), field="document_no")
            services.stop_payment_freeze(actor=user, stop=stop, document_no=freeze.cleaned_data["document_no"])
        elif event == "return":
            back = ReturnForm(request.POST)
            if not back.is_valid():
                raise ServiceError(_("请填写返还金额和返还决定书文号。"), field="amount_fen")
            services.stop_payment_return(actor=user, stop=stop, amount_fen=yuan_to_fen(back.cleaned_data["amount"]),
                                         document_no=back.cleaned_data["document_no"])
        else:
            raise Http404(_("没有这个操作。"))
    except ServiceError as exc:
        return _answer(request, user, report, error=str(exc))
    return _answer(request, user, report, done=_("%(event)s：%(bank)s %(account)s") % {
        "event": workflow.event_label(event), "bank": bank_name(stop.bank), "account": stop.account})
