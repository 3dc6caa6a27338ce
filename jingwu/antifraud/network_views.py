"""Pages of linked fraud networks (串并案): the list, one network's graph with its reports,
and grouping a network's reports into one case. The graph is drawn by
static/antifraud/network.js from JSON in the page (CSP: no inline script)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from jingwu.antifraud import linking, services
from jingwu.cases import selectors as case_selectors
from jingwu.core import access, audit
from jingwu.core.access import Action
from jingwu.core.views import _shell, form_action, portal_user, portal_view


@portal_view(Action.FRAUD_ANALYSE)
@require_GET
def networks(request: HttpRequest) -> HttpResponse:
    rows = linking.networks_visible(portal_user(request))
    return render(request, "antifraud/network_list.html", {**_shell(request), "networks": rows})


@portal_view(Action.FRAUD_ANALYSE)
@require_GET
def network(request: HttpRequest, root: int) -> HttpResponse:
    user = portal_user(request)
    graph = linking.network_graph(user, root)
    if graph is None:
        access.deny(user, Action.FRAUD_ANALYSE, None, object_type="fraud_network", object_id=root, request=request)
    audit.record(actor=user, action="antifraud.network_read", object_type="fraud_network", object_id=str(root),
                 details={"nodes": len(graph["nodes"]), "reports": len(graph["reports"])})
    data = {"nodes": graph["nodes"], "edges": graph["edges"]}
    cases = case_selectors.case_outcomes_for_incidents(services.CASE_APP, [r.pk for r in graph["reports"]])
    rows = [(r, cases.get(str(r.pk))) for r in graph["reports"]]
    case_numbers = sorted({c["case_number"]: c["case_id"] for c in cases.values()}.items())
    return render(request, "antifraud/network_detail.html", {
        **_shell(request), "graph": graph, "data": data, "rows": rows, "cases": case_numbers,
        "ungrouped": sum(1 for _r, c in rows if c is None),
        "may_group": access.can(user, Action.CASE_RECORD),
    })


class GroupForm(forms.Form):
    pass  # the network is in the URL; the form carries the CSRF token only


@portal_view(Action.FRAUD_ANALYSE)
@require_POST
def network_group(request: HttpRequest, root: int) -> HttpResponse:
    user = portal_user(request)

    def done(grouped: Any) -> str:
        if grouped.created:
            return _("已并为一案：%(case)s（%(n)s 起报案）。") % {"case": grouped.case.number, "n": len(grouped.added)}
        return _("已并入案件 %(case)s：新增 %(n)s 起报案。") % {"case": grouped.case.number, "n": len(grouped.added)}

    return form_action(request, GroupForm(request.POST), back=reverse("antifraud:network", args=[root]),
                       run=lambda _data: services.network_group(actor=user, root=root), done=done)



