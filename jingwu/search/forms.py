"""The search page's controls, read from the query string."""

from __future__ import annotations

from functools import reduce
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jingwu.core import access
from jingwu.core.models import Unit, UnitKind, User
from jingwu.search import registry
from jingwu.search.query import MAX_LENGTH

# Units offered in the filter: down to counties (stations are many; type a code in the API).
_FILTER_KINDS = (UnitKind.PROVINCE, UnitKind.CITY, UnitKind.COUNTY)


class SearchForm(forms.Form):
    q = forms.CharField(label=_("查询"), max_length=MAX_LENGTH, required=False, strip=True,
                        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off",
                                                      "list": "search-suggestions", "autofocus": True}))
    similar = forms.BooleanField(label=_("包括读音相近的姓名"), required=False)
    type = forms.ChoiceField(label=_("类型"), required=False)
    unit = forms.ChoiceField(label=_("单位"), required=False)
    date_from = forms.DateField(label=_("更新日期自"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("至"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(label=_("排序"), required=False,
                             choices=[("relevance", _("相关度")), ("date", _("更新时间"))])
    page = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type_field = self.fields["type"]
        assert isinstance(type_field, forms.ChoiceField)
        type_field.choices = [("", str(_("全部类型"))),
                              *((k, str(label)) for k, label in registry.kind_labels().items())]
        roots = access.jurisdictions(actor, access.Action.SEARCH_QUERY)
        units: list[tuple[str, str]] = [("", str(_("本人辖区")))]
        if roots:
            within = reduce(lambda a, b: a | b, (Q(path__startswith=r) for r in roots))
            units.extend((u.code, f"{'　' * max(0, u.depth - 1)}{u.name}") for u in
                         Unit.objects.filter(within, kind__in=_FILTER_KINDS).only("code", "name", "depth")
                         .order_by("path"))
        unit_field = self.fields["unit"]
        assert isinstance(unit_field, forms.ChoiceField)
        unit_field.choices = units
