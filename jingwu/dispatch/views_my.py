"""The officer's phone view (我的出警): the dispatches of the patrol units they serve on, with
one button per step — accept (en route), arrived (on scene) — and the handling result."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from jingwu.core.access import Action
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, form_action, portal_user, portal_view
from jingwu.dispatch import selectors, services, workflow
from jingwu.dispatch.forms import ResultForm, UnitEventForm
from jingwu.dispatch.models import Assignment

# The crew's own steps on this page, in order, with their labels.
MY_EVENTS = {"en_route": gettext_lazy("接受出警（出发）"), "arrive": gettext_lazy("已到达现场")}


def _my_assignment(request: HttpRequest, pk: int) -> Assignment:
    found = selectors.my_assignments(portal_user(request)).filter(pk=pk).first()
    if found is None:
        raise Http404(_("没有这个出警任务。"))
    return found


@portal_view(Action.INCIDENT_RECORD)
@require_GET
def my_dispatches(request: HttpRequest) -> HttpResponse:
    items = [{"assignment": a, "events": [(e, MY_EVENTS[e]) for e in workflow.unit_events_from(a.patrol_unit.status)
                                          if e in MY_EVENTS],
              "may_result": a.incident.status in (workflow.IncidentStatus.DISPATCHED,
                                                  workflow.IncidentStatus.ON_SCENE)}
             for a in selectors.my_assignments(portal_user(request))]
    return render(request, "dispatch/my.html", {**_shell(request), "items": items, "result_form": ResultForm()})


@portal_view(Action.INCIDENT_RECORD)
@require_POST
def my_event(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = _my_assignment(request, pk)
    form = UnitEventForm(request.POST)
    if not form.is_valid() or form.cleaned_data["event"] not in MY_EVENTS:
        messages.error(request, _("无效的操作。"))
        return redirect("dispatch:my")
    try:
        services.unit_transition(actor=portal_user(request), patrol_unit=assignment.patrol_unit,
                                 event=form.cleaned_data["event"])
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("dispatch:my")


@portal_view(Action.INCIDENT_RECORD)
@require_POST
def my_result(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = _my_assignment(request, pk)
    return form_action(
        request, ResultForm(request.POST), back=reverse("dispatch:my"), invalid=_("请选择处警结果。"),
        run=lambda data: services.incident_record_result(actor=portal_user(request), incident=assignment.incident,
                                                         result=data["result"], text=data["text"]),
        done=_("已提交处警结果：%(number)s。") % {"number": assignment.incident.number})
