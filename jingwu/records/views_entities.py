"""Pages of entities and linkage review: the entity profile with its timeline, splitting
an entity, and the review queue.  Thin: parse, call a selector or a service, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingwu.core import access
from jingwu.core import selectors as core_selectors
from jingwu.core.access import Action
from jingwu.core.models import User
from jingwu.core.purpose import PurposeRequired
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, portal_user, portal_view
from jingwu.records import entities, review
from jingwu.records.models import Entity, EntityKind, ReviewPair, Verdict

REVIEW_PAGE_SIZE = 10


def _ask_purpose(request: HttpRequest, back: str = "") -> HttpResponse:
    """Reading people's data needs a stated purpose: ask for one, then come back."""
    messages.info(request, _("查看人员和实体信息前，请先说明查询事由。"))
    url = f"{reverse('core:purpose')}?{urlencode({'next': back or request.get_full_path()})}"
    if request.headers.get("HX-Request") == "true":  # a fragment: the whole page goes to the purpose form
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _live_or_404(pk: int) -> int:
    live = entities.entity_resolve(pk)
    if live is None:
        raise Http404(_("没有这个实体。"))
    return live


@portal_view(Action.PERSON_READ)
@require_GET
def entity_profile(request: HttpRequest, pk: int) -> HttpResponse:
    live = _live_or_404(pk)
    if live != pk:  # merged: the survivor's page, before anything is read
        messages.info(request, _("实体 %(old)s 已并入实体 %(new)s。") % {"old": pk, "new": live})
        return redirect("records:entity", pk=live)
    user = portal_user(request)
    try:
        profile = entities.entity_get(user, pk)
    except PurposeRequired:
        return _ask_purpose(request)
    return render(request, "records/entity.html", {
        **_shell(request), "profile": profile, "purpose": core_selectors.current_purpose(user),
        "graph_text": _graph_text(), "timeline": profile.timeline,
        "may_split": profile.kind == "person" and len(entities.split_candidates(profile)) > 1
        and _may_review(user),
    })


@portal_view(Action.PERSON_READ)
@require_GET
def entity_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """A further page of the timeline: the list items and the next "more" button for htmx,
    or a page of its own without JavaScript."""
    live = _live_or_404(pk)
    if live != pk:
        return redirect("records:entity_timeline", pk=live)
    try:
        offset = int(request.GET.get("offset", "0"))
    except ValueError:
        return HttpResponseBadRequest(_("无效的偏移量。"))
    user = portal_user(request)
    try:
        page = entities.entity_timeline(user, pk, offset=offset)
    except PurposeRequired:
        return _ask_purpose(request, reverse("records:entity", kwargs={"pk": pk}))
    context = {"timeline": page, "entity_id": pk}
    if request.headers.get("HX-Request") == "true":
        return render(request, "records/_timeline_page.html", context)
    return render(request, "records/entity_timeline.html", {
        **_shell(request), **context, "purpose": core_selectors.current_purpose(user)})


def _graph_text() -> dict[str, object]:
    """What graph.js says, translated here (a static file cannot use gettext)."""
    return {
        "kinds": {kind: str(label) for kind, label in EntityKind.choices},
        "status": _("已显示 {shown} / {total} 条关系。单击节点或在下方列表中选择“展开”，逐层加载它的关系。"),
        "expanded": _("已展开 {name}：显示 {shown} / {total} 条关系，新增 {added} 个节点。"),
        "error": _("关系图加载失败（{status}）。"),
        "expand": _("展开关系"),
        "more": _("加载更多"),
        "count": _("{shown} / {total} 条关系"),
        "restricted": _("辖区外，不可展开"),
        "centre": _("本实体"),
    }


def _may_review(user: User) -> bool:
    return access.can(user, Action.RECORDS_LINK_REVIEW)


@portal_view(Action.RECORDS_LINK_REVIEW)
@require_http_methods(["GET", "POST"])
def entity_split(request: HttpRequest, pk: int) -> HttpResponse:
    live = _live_or_404(pk)
    if live != pk:
        return redirect("records:entity_split", pk=live)
    user = portal_user(request)
    try:
        profile = entities.entity_get(user, pk, with_timeline=False)
    except PurposeRequired:
        return _ask_purpose(request)
    candidates = entities.split_candidates(profile)
    error = ""
    if request.method == "POST":
        try:
            chosen = [int(v) for v in request.POST.getlist("records")]
        except ValueError:
            return HttpResponseBadRequest(_("无效的记录编号。"))
        entity = get_object_or_404(Entity.objects.select_related("unit"), pk=pk)
        try:
            new = review.entity_split(actor=user, entity=entity, record_ids=chosen, note=request.POST.get("note", ""))
        except ServiceError as exc:
            error = str(exc)
        else:
            messages.success(request, _("已拆分：%(n)s 条记录移入新实体 %(id)s。") % {"n": len(chosen), "id": new.pk})
            return redirect("records:entity", pk=new.pk)
    return render(request, "records/entity_split.html", {
        **_shell(request), "profile": profile, "candidates": candidates, "error": error,
        "chosen": {int(v) for v in request.POST.getlist("records") if v.isdigit()},
    }, status=400 if error else 200)


@portal_view(Action.RECORDS_LINK_REVIEW)
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    unsure = request.GET.get("unsure") == "1"
    try:
        pairs = entities.review_queue(user, unsure=unsure)
    except PurposeRequired:
        return _ask_purpose(request)
    page = Paginator(pairs, REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    query = "unsure=1" if unsure else ""
    return render(request, "records/review.html", {
        **_shell(request), "page": page, "items": entities.review_items(user, list(page.object_list)),
        "unsure": unsure, "query": query, "verdicts": Verdict.choices,
        "purpose": core_selectors.current_purpose(user), "back": request.get_full_path(),
    })


@portal_view(Action.RECORDS_LINK_REVIEW)
@require_POST
def review_judge(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    if pk >= 2**63:  # beyond any id (SQLite would overflow)
        raise Http404
    pair = get_object_or_404(ReviewPair.objects.select_related("record_a__unit", "record_b__unit"), pk=pk)
    verdict = request.POST.get("verdict", "")
    if verdict not in Verdict.values:
        return HttpResponseBadRequest(_("无效的复核结论。"))
    try:
        outcome = review.judgement_record(actor=user, record_a=pair.record_a, record_b=pair.record_b,
                                          verdict=verdict, note=request.POST.get("note", ""))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        text = _("已记录：记录 %(a)s 与 %(b)s，%(verdict)s。") % {
            "a": pair.record_a_id, "b": pair.record_b_id, "verdict": Verdict(verdict).label}
        if outcome.merged_into is not None:
            text += " " + _("两个实体已合并为实体 %(id)s。") % {"id": outcome.merged_into.pk}
        if outcome.split_off is not None:
            text += " " + _("实体已拆分，新实体 %(id)s。") % {"id": outcome.split_off.pk}
        if outcome.conflict is not None:
            text += " " + _("两个实体之间另有“不是同一人”的结论（记录 %(a)s 与 %(b)s），暂不合并。") % {
                "a": outcome.conflict.record_a_id, "b": outcome.conflict.record_b_id}
        messages.success(request, text)
    back = request.POST.get("back", "")
    return redirect(back if back.startswith("/records/review/") else "records:review_queue")
