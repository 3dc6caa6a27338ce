"""Pages of early warning: the warnings of one's stations, and one warning where the
officer reads who is at risk and why (a stated purpose, audited) and records the outcome.
"Already defrauded" takes the loss in a short form and files the victim's report at once."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from jingwu.antifraud import early_warning, selectors
from jingwu.antifraud.banks import BANKS
from jingwu.antifraud.models import FraudType
from jingwu.antifraud.services import ReportInput, TransferInput
from jingwu.antifraud.warning_models import FraudWarning, WarningOutcome, WarningState
from jingwu.core import access, purpose
from jingwu.core.access import Action
from jingwu.core.purpose import PurposeRequired
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, portal_user, portal_view


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(label=gettext_lazy("处置结果"), choices=WarningOutcome.choices)
    note = forms.CharField(label=gettext_lazy("说明"), max_length=500, required=False)
    # Only for "already defrauded": the one transfer that is known now (more can be added to the report later).
    fraud_type = forms.ChoiceField(label=gettext_lazy("诈骗类型"), choices=FraudType.choices, required=False)
    payee_account = forms.CharField(label=gettext_lazy("收款账户"), max_length=64, required=False)
    payee_bank = forms.ChoiceField(label=gettext_lazy("收款银行"), required=False,
                                   choices=[("", "—")] + [(code, code) for code in BANKS])
    amount_yuan = forms.DecimalField(label=gettext_lazy("转账金额（元）"), max_digits=14, decimal_places=2,
                                     required=False, min_value=0)


@portal_view(Action.WARNING_HANDLE)
@require_http_methods(["GET"])
def warnings(request: HttpRequest) -> HttpResponse:
    qs = selectors.warnings_visible(portal_user(request))
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    # The list names nobody: level, reasons, station and deadline are enough to triage.
    return render(request, "antifraud/warning_list.html", {
        **_shell(request), "page": page, "warnings": page.object_list,
        "figures": early_warning.warning_figures(qs),
        "rule_stats": sorted(early_warning.rule_statistics(qs.filter(state=WarningState.CLOSED)).items())})


@portal_view(Action.WARNING_HANDLE)
@require_http_methods(["GET", "POST"])
def warning(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    try:
        item = selectors.warning_get(user, pk)
    except FraudWarning.DoesNotExist:
        raise Http404(_("没有这个预警，或不在您的管辖范围内。")) from None
    try:
        purpose.person_read(user, object_type="fraud_warning", object_id=item.pk, unit=item.unit,
                            action=Action.WARNING_HANDLE)
    except PurposeRequired:
        messages.info(request, _("查看预警对象信息前，请先说明查询事由。"))
        return redirect(f"{reverse('core:purpose')}?{urlencode({'next': request.get_full_path()})}")
    form = OutcomeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        report = None
        if data["outcome"] == WarningOutcome.DEFRAUDED and data["payee_account"] and data["amount_yuan"]:
            report = ReportInput(
                victim_name=item.citizen_name or _("（未留姓名）"), victim_id_number=item.citizen_id_number,
                victim_phone=item.citizen_phone, fraud_type=data["fraud_type"] or FraudType.OTHER,
                narrative=data["note"], transfers=[TransferInput(
                    payee_account=data["payee_account"], payee_bank=data["payee_bank"],
                    amount_fen=int(data["amount_yuan"] * 100), transferred_at=timezone.now())])
        try:
            early_warning.warning_outcome_record(actor=user, warning=item, outcome=data["outcome"],
                                                 note=data["note"], report_data=report)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("处置结果已记录。"))
            return redirect("antifraud:warning", pk=item.pk)
    masked = access.masks_id_numbers(user, item.unit)
    from jingwu.records.entities import mask_id_number

    shown_id = mask_id_number(item.citizen_id_number) if masked and item.citizen_id_number else item.citizen_id_number
    return render(request, "antifraud/warning_detail.html", {
        **_shell(request), "warning": item, "form": form, "shown_id": shown_id,
        "open": item.state == WarningState.OPEN, "signals": item.signals.order_by("occurred_at", "id")[:50]})
