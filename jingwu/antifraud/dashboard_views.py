"""The anti-fraud centre's dashboard (反诈态势): the figures of the actor's jurisdiction over a
period, as tables and ECharts charts (static/antifraud/dashboard.js reads the JSON block the
page carries; the CSP allows no inline script). Thin: parse the period, call the selector."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from jingwu.antifraud import selectors
from jingwu.core.access import Action
from jingwu.core.views import _shell, portal_user, portal_view

DEFAULT_DAYS = 30


class PeriodForm(forms.Form):
    until = forms.DateField(required=False, label=_("截至日期"))
    days = forms.IntegerField(required=False, min_value=1, max_value=366, label=_("天数"))


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


@portal_view(Action.FRAUD_ANALYSE)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.GET)
    today = timezone.localdate()
    until, days = today, DEFAULT_DAYS
    if form.is_valid():
        until = form.cleaned_data["until"] or today
        days = form.cleaned_data["days"] or DEFAULT_DAYS
    tz = timezone.get_current_timezone()
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    start = end - dt.timedelta(days=days)
    figures = selectors.centre_figures(portal_user(request), start=start, end=end)
    chart: dict[str, Any] = {
        "days": [r.label for r in figures.days],
        "reports": [r.reports for r in figures.days],
        "loss": [_yuan(r.loss_fen) for r in figures.days],
        "stopped": [_yuan(r.stopped_fen) for r in figures.days],
        "frozen": [_yuan(r.frozen_fen) for r in figures.days],
        "returned": [_yuan(r.returned_fen) for r in figures.days],
        "p50": [r.p50_minutes for r in figures.days],
        "p90": [r.p90_minutes for r in figures.days],
        "cities": [r.label for r in figures.cities],
        "city_loss": [_yuan(r.loss_fen) for r in figures.cities],
        "city_stopped": [_yuan(r.stopped_fen) for r in figures.cities],
        "levels": [w["label"] for w in figures.warnings_by_level],
        "outcomes": {str(label): [w["outcomes"][value] for w in figures.warnings_by_level]
                     for value, label in _outcome_labels()},
        "open": [w["open"] for w in figures.warnings_by_level],
        "labels": {"reports": str(_("报案数")), "loss": str(_("损失（元）")), "stopped": str(_("止付（元）")),
                   "frozen": str(_("冻结（元）")), "returned": str(_("返还（元）")), "open": str(_("处置中")),
                   "p50": str(_("中位数（分钟）")), "p90": str(_("P90（分钟）"))},
    }
    return render(request, "antifraud/dashboard.html", {
        **_shell(request), "figures": figures, "chart": chart, "form": form, "until": until, "days": days,
        "outcome_labels": [label for _v, label in _outcome_labels()],
    })


def _outcome_labels() -> list[tuple[str, str]]:
    from jingwu.antifraud.warning_models import WarningOutcome

    return [(o.value, str(o.label)) for o in WarningOutcome]
