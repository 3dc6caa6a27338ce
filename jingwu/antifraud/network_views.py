"""Pages of linked fraud networks (串并案): the list, and one network's graph with its reports.
The graph is drawn by static/antifraud/network.js from JSON in the page (CSP: no inline script)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jingwu.antifraud import linking
from jingwu.core import access, audit
from jingwu.core.access import Action
from jingwu.core.models import User
from jingwu.core.views import _shell, portal_view


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@portal_view(Action.FRAUD_ANALYSE)
@require_GET
def networks(request: HttpRequest) -> HttpResponse:
    rows = linking.networks_visible(_user(request))
    return render(request, "antifraud/network_list.html", {**_shell(request), "networks": rows})


@portal_view(Action.FRAUD_ANALYSE)
@require_GET
def network(request: HttpRequest, root: int) -> HttpResponse:
    user = _user(request)
    graph = linking.network_graph(user, root)
    if graph is None:
        access.deny(user, Action.FRAUD_ANALYSE, None, object_type="fraud_network", object_id=root, request=request)
    audit.record(actor=user, action="antifraud.network_read", object_type="fraud_network", object_id=str(root),
                 details={"nodes": len(graph["nodes"]), "reports": len(graph["reports"])})
    data = {"nodes": graph["nodes"], "edges": graph["edges"]}
    return render(request, "antifraud/network_detail.html", {**_shell(request), "graph": graph, "data": data})



