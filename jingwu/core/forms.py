"""Forms of the portal shell: they parse and label input; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from jingwu.core.models import AccessPurpose, AuditOutcome, WorkItemStatus


class AccessibleForm(forms.Form):
    """Marks fields that failed validation with aria-invalid and points them at their error text."""

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["aria-invalid"] = "true"
                described = [f"{self[name].auto_id}-error"]
                if self.fields[name].help_text:
                    described.append(f"{self[name].auto_id}-help")
                widget.attrs["aria-describedby"] = " ".join(described)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs.setdefault("aria-describedby", f"{self[name].auto_id}-help")


class LoginForm(AccessibleForm):
    username = forms.CharField(label=_("用户名"), max_length=150, widget=forms.TextInput(attrs={
        "autocomplete": "username", "autocapitalize": "none", "spellcheck": "false", "autofocus": True}))
    password = forms.CharField(label=_("密码"), max_length=4096, strip=False, widget=forms.PasswordInput(attrs={
        "autocomplete": "current-password"}))


class TokenForm(AccessibleForm):
    token = forms.RegexField(
        label=_("6 位动态验证码"), regex=r"^\s*\d{6}\s*$", strip=True,
        error_messages={"invalid": _("请输入 6 位数字验证码。")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code",
                                      "maxlength": "6", "pattern": "[0-9]{6}", "autofocus": True}))


def _hours_choices() -> list[tuple[int, str]]:
    hours = sorted({1, 2, 4, settings.JINGWU_PURPOSE_HOURS})
    return [(h, ngettext_lazy("%(n)d 小时", "%(n)d 小时", h) % {"n": h}) for h in hours]


class PurposeForm(AccessibleForm):
    text = forms.CharField(
        label=_("查询事由"), max_length=300,
        help_text=_("说明为何需要查询人员信息，例如“核查盗窃案嫌疑人身份”。"),
        widget=forms.Textarea(attrs={"rows": 2}))
    ref_type = forms.ChoiceField(label=_("关联类型"), choices=AccessPurpose.RefType.choices, required=False)
    ref_id = forms.CharField(label=_("关联编号"), max_length=64, required=False,
                             widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}))
    hours = forms.TypedChoiceField(label=_("有效时长"), coerce=int, choices=_hours_choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["hours"].initial = settings.JINGWU_PURPOSE_HOURS


class WorkItemStatusForm(forms.Form):
    status = forms.ChoiceField(choices=[(WorkItemStatus.IN_PROGRESS.value, WorkItemStatus.IN_PROGRESS.label),
                                        (WorkItemStatus.DONE.value, WorkItemStatus.DONE.label)])


class AuditFilterForm(AccessibleForm):
    actor = forms.CharField(label=_("操作人账号"), max_length=150, required=False,
                            widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}))
    action = forms.CharField(label=_("操作"), max_length=64, required=False,
                             help_text=_("前缀匹配，例如 auth. 或 person.read"),
                             widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}))
    outcome = forms.ChoiceField(label=_("结果"), required=False,
                                choices=[("", _("全部")), *AuditOutcome.choices])
