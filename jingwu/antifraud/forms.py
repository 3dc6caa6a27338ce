"""The report form: the victim and the case in one form, the transfers in a formset.
Forms only parse what was typed; the rules are services._check's, for the page and the API alike."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from jingwu.antifraud.banks import BANKS
from jingwu.antifraud.models import FraudType
from jingwu.antifraud.services import MAX_TRANSFERS, ReportInput, TransferInput

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
_LIST_SPLIT = re.compile(r"[\n\r,，;；、]+")


def _bank_choices() -> list[tuple[str, Any]]:
    return [("", _("请选择"))] + [(code, f"{name}（{code}）") for code, name in BANKS.items()]


def _when(label: Any, required: bool = True, help_text: Any = "") -> forms.DateTimeField:
    return forms.DateTimeField(label=label, required=required, help_text=help_text, input_formats=DATETIME_FORMATS,
                               widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))


def _lines(text: str) -> list[str]:
    return [part.strip() for part in _LIST_SPLIT.split(text or "") if part.strip()]


def yuan_to_fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


class ReportForm(forms.Form):
    victim_name = forms.CharField(label=_("受害人姓名"), max_length=100)
    victim_id_number = forms.CharField(label=_("身份证号"), max_length=64, required=False)
    victim_phone = forms.CharField(label=_("联系电话"), max_length=64, required=False)
    fraud_type = forms.ChoiceField(label=_("诈骗类型"), choices=[("", _("请选择")), *FraudType.choices])
    reported_at = _when(_("报案时间"), required=False, help_text=_("不填为现在"))
    loss = forms.DecimalField(label=_("损失金额（元）"), required=False, max_digits=14, decimal_places=2,
                              min_value=Decimal(0), help_text=_("不填为各笔转账之和"))
    narrative = forms.CharField(label=_("简要案情"), required=False, max_length=5000,
                                widget=forms.Textarea(attrs={"rows": 3}))
    phones = forms.CharField(label=_("诈骗电话"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("每行一个，也可用逗号分隔"))
    urls = forms.CharField(label=_("诈骗网址"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("每行一个"))
    apps = forms.CharField(label=_("诈骗应用（App）"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("每行一个：名称或包名"))


class TransferForm(forms.Form):
    payee_bank = forms.ChoiceField(label=_("收款银行"), choices=_bank_choices)
    payee_account = forms.CharField(label=_("收款账号"), max_length=64)
    payee_name = forms.CharField(label=_("收款户名"), max_length=100, required=False)
    amount = forms.DecimalField(label=_("金额（元）"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    transferred_at = _when(_("转账时间"))
    payer_bank = forms.ChoiceField(label=_("付款银行"), choices=_bank_choices, required=False)
    payer_account = forms.CharField(label=_("付款账号"), max_length=64, required=False)


TransferFormSet = forms.formset_factory(TransferForm, extra=0, min_num=1, validate_min=True, max_num=MAX_TRANSFERS,
                                        validate_max=True)


def report_input(form: ReportForm, transfers: Any) -> ReportInput:
    """The service's input from two valid forms (blank extra rows left out)."""
    data = form.cleaned_data
    rows = [t.cleaned_data for t in transfers.forms if t.cleaned_data]
    loss = data.get("loss")
    return ReportInput(
        victim_name=data["victim_name"], victim_id_number=data["victim_id_number"],
        victim_phone=data["victim_phone"], fraud_type=data["fraud_type"], reported_at=data.get("reported_at"),
        loss_fen=None if loss is None else yuan_to_fen(loss), narrative=data["narrative"],
        phones=_lines(data["phones"]), urls=_lines(data["urls"]), apps=_lines(data["apps"]),
        transfers=[TransferInput(payee_account=row["payee_account"], payee_bank=row["payee_bank"],
                                 amount_fen=yuan_to_fen(row["amount"]), transferred_at=row["transferred_at"],
                                 payee_name=row["payee_name"], payer_account=row["payer_account"],
                                 payer_bank=row["payer_bank"]) for row in rows])


class FreezeForm(forms.Form):
    document_no = forms.CharField(label=_("冻结决定书文号"), max_length=64)


class ReturnForm(forms.Form):
    document_no = forms.CharField(label=_("返还决定书文号"), max_length=64)
    amount = forms.DecimalField(label=_("返还金额（元）"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
