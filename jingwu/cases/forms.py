"""Forms of the case pages: they parse and label input; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from jingwu.cases import categories
from jingwu.cases.models import EvidenceKind, PartyRole
from jingwu.cases.workflow import MEASURES, CaseType, DeclineReason, Subject
from jingwu.core.forms import AccessibleForm


class AcceptForm(AccessibleForm):
    case_type = forms.ChoiceField(label=_("案件类别"), choices=CaseType.choices)
    category = forms.ChoiceField(label=_("案由"), choices=categories.all_choices)
    summary = forms.CharField(label=_("简要案情"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))
    reported_at = forms.DateTimeField(label=_("报案时间"), widget=forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    reporter_name = forms.CharField(label=_("报案人姓名"), max_length=100, required=False)
    reporter_phone = forms.CharField(label=_("报案人电话"), max_length=32, required=False)
    reporter_entity = forms.IntegerField(label=_("报案人实体编号"), min_value=1, max_value=2**63 - 1, required=False,
                                         help_text=_("报案人已在数据中心有档案时填写。"))


class TransitionForm(forms.Form):
    transition = forms.CharField(max_length=32)
    note = forms.CharField(max_length=2000, required=False)
    reason = forms.ChoiceField(choices=[("", ""), *DeclineReason.choices], required=False)
    review_subject = forms.ChoiceField(choices=[("", ""), (Subject.TRANSFER.value, Subject.TRANSFER.label),
                                                (Subject.WITHDRAW.value, Subject.WITHDRAW.label)], required=False)
    penalty_kind = forms.ChoiceField(required=False, choices=[
        ("", ""), ("warning", _("警告")), ("fine", _("罚款")), ("detention", _("行政拘留")),
        ("fine_detention", _("罚款并处行政拘留"))])
    penalty_party = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    fine_yuan = forms.IntegerField(required=False, min_value=0, max_value=10**7)
    detention_days = forms.IntegerField(required=False, min_value=0, max_value=100)


class ReviewRequestForm(forms.Form):
    subject = forms.ChoiceField(choices=[(Subject.FILING.value, Subject.FILING.label),
                                         (Subject.MEASURE.value, Subject.MEASURE.label),
                                         (Subject.PENALTY.value, Subject.PENALTY.label)])
    measure = forms.ChoiceField(choices=[("", ""), *[(k, m.label) for k, m in MEASURES.items()]], required=False)
    proposal = forms.CharField(max_length=2000, required=False)


class ReviewDecideForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("approve", _("审核通过")), ("return", _("退回"))])
    opinion = forms.CharField(max_length=2000, required=False)


class TaskForm(AccessibleForm):
    title = forms.CharField(label=_("任务内容"), max_length=200)
    assignee = forms.CharField(label=_("承办人用户名"), max_length=150)
    due_at = forms.DateTimeField(label=_("完成期限"), required=False,
                                 widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))


class TaskDoneForm(forms.Form):
    result = forms.CharField(max_length=2000, required=False)


class EvidenceForm(AccessibleForm):
    kind = forms.ChoiceField(label=_("证据种类"), choices=EvidenceKind.choices)
    description = forms.CharField(label=_("证据描述"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class PartyForm(AccessibleForm):
    role = forms.ChoiceField(label=_("身份"), choices=PartyRole.choices)
    name = forms.CharField(label=_("姓名"), max_length=100, required=False)
    phone = forms.CharField(label=_("电话"), max_length=32, required=False)
    entity = forms.IntegerField(label=_("实体编号"), min_value=1, max_value=2**63 - 1, required=False)


class MeasureForm(forms.Form):
    kind = forms.ChoiceField(choices=[(k, m.label) for k, m in MEASURES.items()])
    party = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    note = forms.CharField(max_length=2000, required=False)


class MeasureEndForm(forms.Form):
    reason = forms.CharField(max_length=200)


class ReceiptCodeForm(forms.Form):
    code = forms.CharField(max_length=32)


class LookupForm(forms.Form):
    number = forms.CharField(label=_("案件编号"), max_length=64)
    code = forms.CharField(label=_("查询码"), max_length=32,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Public page: no autofocus or per-request attributes, so every answer is the same bytes.
        self.fields["number"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})


class ReconsiderationForm(LookupForm):
    reason = forms.CharField(label=_("复议理由"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))


class ReportPeriodForm(forms.Form):
    start = forms.DateField(label=_("开始日期"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = forms.DateField(label=_("结束日期"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
