"""The import page's upload form: it parses and labels input; the rules live in services."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from jingwu.core.forms import AccessibleForm
from jingwu.records.models import EntityKind, Source


class ImportUploadForm(AccessibleForm):
    source = forms.ChoiceField(label=_("数据来源"))
    kind = forms.ChoiceField(label=_("记录类型"), required=False,
                             help_text=_("没有映射文件时必选；FollowTheMoney 文件不必选择。"))
    file = forms.FileField(label=_("数据文件"),
                           help_text=_("CSV（UTF-8、GBK、GB18030 均可）、XLSX、JSON Lines 或 FollowTheMoney 实体流。"))
    mapping_file = forms.FileField(label=_("映射文件（TOML）"), required=False,
                                   help_text=_("说明各列对应哪个字段；不提供时按常用列名识别。"))
    label = forms.CharField(label=_("批次名称"), required=False, max_length=200,
                            help_text=_("不填则使用文件名。"))

    def __init__(self, *args: Any, sources: Iterable[Source], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        source, kind = self.fields["source"], self.fields["kind"]
        assert isinstance(source, forms.ChoiceField) and isinstance(kind, forms.ChoiceField)
        source.choices = [(s.key, s.name) for s in sources]
        kind.choices = [("", _("由映射文件或实体判断")), *EntityKind.choices]
