"""Forms of the dispatcher's pages: they parse and label input; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from jingwu.core.forms import AccessibleForm
from jingwu.dispatch import classifier, diversion
from jingwu.dispatch.models import DiversionStatus, IncidentResult
from jingwu.dispatch.workflow import UNIT_EVENTS


class IntakeForm(AccessibleForm):
    caller_number = forms.CharField(label=_("来电号码"), max_length=64, required=False,
                                    widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}))
    address = forms.CharField(label=_("报警地址"), max_length=255, required=False)
    lat = forms.FloatField(label=_("纬度"), required=False, min_value=-90, max_value=90)
    lon = forms.FloatField(label=_("经度"), required=False, min_value=-180, max_value=180)
    content = forms.CharField(label=_("报警内容"), max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}))


class ClassifyForm(AccessibleForm):
    kind = forms.ChoiceField(label=_("警情类别"), choices=classifier.subcategory_choices)
    priority = forms.TypedChoiceField(label=_("警情等级"), coerce=int, choices=classifier.Priority.choices)

    def category_and_subcategory(self) -> tuple[str, str]:
        category, _sep, subcategory = self.cleaned_data["kind"].partition(":")
        return category, subcategory


class ResultForm(AccessibleForm):
    result = forms.ChoiceField(label=_("处警结果"), choices=[
        (value, label) for value, label in IncidentResult.choices if value != IncidentResult.TRANSFERRED])
    text = forms.CharField(label=_("处警情况"), max_length=1000, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("移交和转案件时必填。"))


class DivertForm(AccessibleForm):
    agency = forms.ChoiceField(label=_("分流单位"), choices=diversion.agency_choices)
    note = forms.CharField(label=_("转办说明"), max_length=500, required=False)


class FeedbackForm(AccessibleForm):
    status = forms.ChoiceField(label=_("对方反馈"), choices=[
        (s.value, s.label) for s in (DiversionStatus.ACCEPTED, DiversionStatus.DONE, DiversionStatus.REFUSED)])
    feedback = forms.CharField(label=_("反馈内容"), max_length=1000, required=False)
    agency_reference = forms.CharField(label=_("对方工单号"), max_length=64, required=False)


class UnitEventForm(forms.Form):
    event = forms.ChoiceField(choices=[(e, e) for e in UNIT_EVENTS])
