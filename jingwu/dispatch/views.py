"""The dispatcher's pages: take a call, and work an incident (classify, pick a recommended unit
and dispatch it in one action, follow the units, divert, record the result). Thin: parse,
call a service or selector, render; every write answers with a redirect back to the
incident (a refused write as a message). The live board builds on the same selectors."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingwu.core import access
from jingwu.core.access import Action
from jingwu.core.models import User
from jingwu.core.purpose import PurposeRequired
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, form_action, portal_user, portal_view
from jingwu.dispatch import classifier, diversion, selectors, services, workflow
from jingwu.dispatch.forms import ClassifyForm, DivertForm, FeedbackForm, IntakeForm, ResultForm, UnitEventForm
from jingwu.dispatch.models import Call, CallChannel, Diversion, DiversionStatus, Incident, PatrolUnit

INCIDENT_PAGE_SIZE = 50
UNIT_EVENT_LABELS = {
    "en_route": gettext_lazy("出发"), "arrive": gettext_lazy("到场"), "clear": gettext_lazy("处置完毕"),
    "recall": gettext_lazy("撤回"), "available": gettext_lazy("恢复可派"), "out_of_service": gettext_lazy("暂停执勤"),
}


def _incident_or_404(user: User, pk: int) -> Incident:
    try:
        return selectors.incident_get(user, pk)
    except Incident.DoesNotExist:
        raise Http404(_("没有这个警情。")) from None


def _call_or_404(user: User, incident: Incident, pk: int) -> Call:
    try:
        return selectors.incident_call(user, pk, incident=incident)
    except Call.DoesNotExist:
        raise Http404(_("没有这个来电记录。")) from None


def _back_url(pk: int) -> str:
    return reverse("dispatch:incident", args=[pk])


def _back(pk: int) -> HttpResponse:
    return redirect(_back_url(pk))


# --- intake ------------------------------------------------------------------------------------------

@portal_view(Action.INCIDENT_RECORD)
@require_http_methods(["GET", "POST"])
def intake(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    centre = selectors.home_centre(user)
    form = IntakeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            if centre is None:
                form.add_error(None, _("你的账号不属于任何市的110指挥中心，不能在此接警。"))
            else:
                data = form.cleaned_data
                try:
                    taken = services.call_receive(
                        actor=user, centre=centre, channel=CallChannel.DISPATCHER, content=data["content"],
                        caller_number=data["caller_number"], address=data["address"], lat=data["lat"],
                        lon=data["lon"])
                except ServiceError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, str(exc))
                else:
                    if taken.repeat:
                        messages.info(request, _("重复报警：已并入警情 %(number)s。")
                                      % {"number": taken.incident.number})
                    return _back(taken.incident.pk)
        status = 400
    open_ones = selectors.open_incidents(user).annotate(call_count=Count("calls")).order_by("-received_at", "-pk")
    page = Paginator(open_ones, INCIDENT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "dispatch/intake.html", {
        **_shell(request), "form": form, "centre": centre, "page": page, "incidents": page.object_list,
        "counts": [(workflow.IncidentStatus(s).label, n) for s, n in selectors.status_counts(user).items()],
        "awaiting_case": selectors.awaiting_case_count(user),
    }, status=status)


# --- one incident --------------------------------------------------------------------------------------

def _detail(request: HttpRequest, incident: Incident, revealed: dict[int, str] | None = None) -> HttpResponse:
    user = portal_user(request)
    revealed = revealed or {}
    calls = [{"call": c, "number": revealed.get(c.pk) or selectors.mask_number(c.caller_number),
              "revealed": c.pk in revealed} for c in selectors.incident_calls(incident)]
    assignments = list(selectors.incident_assignments(incident))
    may_dispatch = access.can(user, Action.INCIDENT_DISPATCH, incident.unit)
    working = incident.status in (workflow.IncidentStatus.CLASSIFIED, workflow.IncidentStatus.DISPATCHED,
                                  workflow.IncidentStatus.ON_SCENE)
    recommendations = selectors.recommend_units(user, incident) if may_dispatch and working else []
    suggested = incident.category or incident.suggested_category
    kind = f"{suggested}:{incident.subcategory or incident.suggested_subcategory}" if suggested else None
    classify_form = ClassifyForm(initial={"kind": kind, "priority": incident.priority or incident.suggested_priority})
    return render(request, "dispatch/incident.html", {
        **_shell(request), "incident": incident, "calls": calls, "assignments": [
            {"assignment": a, "events": [(e, UNIT_EVENT_LABELS[e]) for e in workflow.unit_events_from(
                a.patrol_unit.status)] if a.ended_at is None else []} for a in assignments],
        "diversions": [(d, diversion.AGENCIES[d.agency].name if d.agency in diversion.AGENCIES else d.agency,
                        d.status in (DiversionStatus.SENT, DiversionStatus.ACCEPTED))
                       for d in selectors.incident_diversions(incident)],
        "recommendations": recommendations, "may_dispatch": may_dispatch, "working": working,
        "terminal": incident.status in workflow.INCIDENT_TERMINAL,
        "category_label": classifier.subcategory_label(incident.category, incident.subcategory),
        "suggested_label": classifier.subcategory_label(incident.suggested_category,
                                                        incident.suggested_subcategory),
        "classify_form": classify_form, "result_form": ResultForm(), "divert_form": DivertForm(),
        "feedback_form": FeedbackForm(), "several_calls": len(calls) > 1,
    })


@portal_view(Action.INCIDENT_RECORD)
@require_GET
def incident(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _incident_or_404(portal_user(request), pk))


@portal_view(Action.INCIDENT_RECORD)
@require_POST
def incident_classify(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    form = ClassifyForm(request.POST)

    def classify(data: dict[str, Any]) -> Incident:
        category, subcategory = form.category_and_subcategory()
        return services.incident_classify(actor=user, incident=found, category=category, subcategory=subcategory,
                                          priority=data["priority"])

    return form_action(request, form, back=_back_url(pk), run=classify, invalid=_("请选择警情类别和等级。"))


@portal_view(Action.INCIDENT_DISPATCH)
@require_POST
def incident_dispatch(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    unit = selectors.patrol_units(user).filter(pk=request.POST.get("patrol_unit") or 0).first() \
        if (request.POST.get("patrol_unit") or "").isdigit() else None
    if unit is None:
        messages.error(request, _("没有这个巡逻组。"))
        return _back(pk)
    try:
        services.unit_dispatch(actor=user, incident=found, patrol_unit=unit)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("已派出 %(unit)s。") % {"unit": unit.call_sign})
    return _back(pk)


@portal_view(Action.INCIDENT_RECORD)
@require_POST
def unit_event(request: HttpRequest, pk: int, unit_pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    try:
        unit = selectors.incident_patrol_unit(user, found, unit_pk)
    except PatrolUnit.DoesNotExist:
        messages.error(request, _("无效的操作。"))
        return _back(pk)
    return form_action(request, UnitEventForm(request.POST), back=_back_url(pk), invalid=_("无效的操作。"),
                       run=lambda data: services.unit_transition(actor=user, patrol_unit=unit, event=data["event"]))


@portal_view(Action.INCIDENT_RECORD)
@require_POST
def incident_result(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    return form_action(request, ResultForm(request.POST), back=_back_url(pk), invalid=_("请选择处警结果。"),
                       run=lambda data: services.incident_record_result(actor=user, incident=found,
                                                                        result=data["result"], text=data["text"]))


@portal_view(Action.INCIDENT_DISPATCH)
@require_POST
def incident_divert(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    return form_action(request, DivertForm(request.POST), back=_back_url(pk), invalid=_("请选择分流单位。"),
                       run=lambda data: services.incident_divert(actor=user, incident=found, agency=data["agency"],
                                                                 note=data["note"]))


@portal_view(Action.INCIDENT_DISPATCH)
@require_POST
def diversion_feedback(request: HttpRequest, pk: int, diversion_pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    try:
        selectors.incident_diversion(found, diversion_pk)
    except Diversion.DoesNotExist:
        raise Http404(_("没有这条分流记录。")) from None
    return form_action(request, FeedbackForm(request.POST), back=_back_url(pk), invalid=_("无效的反馈。"),
                       run=lambda data: services.diversion_feedback(actor=user, diversion_id=diversion_pk, **data))


@portal_view(Action.INCIDENT_DISPATCH)
@require_POST
def call_split(request: HttpRequest, pk: int, call_pk: int) -> HttpResponse:
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    call = _call_or_404(user, found, call_pk)
    try:
        new = services.call_split(actor=user, call_id=call.pk)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return _back(pk)
    messages.success(request, _("已拆分为新警情 %(number)s。") % {"number": new.number})
    return _back(new.pk)


@portal_view(Action.INCIDENT_RECORD)
@require_POST
def caller_number(request: HttpRequest, pk: int, call_pk: int) -> HttpResponse:
    """Show one caller's full number: a read of personal data under the stated purpose (audited)."""
    user = portal_user(request)
    found = _incident_or_404(user, pk)
    call = _call_or_404(user, found, call_pk)
    try:
        number = selectors.caller_number_read(user, call, request=request)
    except PurposeRequired:
        messages.info(request, _("查看来电号码属于查询个人信息，请先填写查询事由。"))
        back = reverse("dispatch:incident", kwargs={"pk": pk})
        return redirect(f"{reverse('core:purpose')}?{urlencode({'next': back})}")
    return _detail(request, found, revealed={call.pk: number})

