"""Case pages: the list, accepting a report, a case with its timeline and the actions the
workflow offers the user, documents, and supervision. Thin: parse, authorise through
core.access (inside the services and selectors), call, render."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingwu.cases import categories, documents, selectors, services
from jingwu.cases.forms import (
    AcceptForm,
    EvidenceForm,
    MeasureEndForm,
    MeasureForm,
    PartyForm,
    ReceiptCodeForm,
    ReportPeriodForm,
    ReviewDecideForm,
    ReviewRequestForm,
    TaskDoneForm,
    TaskForm,
    TransitionForm,
)
from jingwu.cases.models import Case, CaseDocument, CaseTask, CoerciveMeasure, LegalReview, PartyRole
from jingwu.cases.workflow import MEASURES, WORKFLOWS, CaseType, DeclineReason, Document, PublicStatus, Subject
from jingwu.core import access
from jingwu.core import selectors as core_selectors
from jingwu.core.access import Action
from jingwu.core.models import Unit, User
from jingwu.core.purpose import PurposeRequired
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, form_action, portal_user, portal_view

PAGE_SIZE = 50
COUNT_CAP = 10_000  # the list counts up to here; beyond, "10000+" (a full count of a million rows is slow)


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: the pages beyond the cap are not offered."""

    @cached_property
    def count(self) -> int:
        rows: Any = self.object_list
        return int(rows[:COUNT_CAP + 1].count()) if hasattr(rows, "count") else len(rows)

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP
MAX_ID = 2**63 - 1


_user = portal_user


def _case_or_404(user: User, pk: int, request: HttpRequest | None = None) -> Case:
    if not 0 < pk <= MAX_ID:
        raise Http404
    try:
        if request is not None:
            return selectors.case_get(user, pk, request=request)
        return selectors.cases_visible(user).select_related("unit", "owner").get(pk=pk)
    except Case.DoesNotExist:
        raise Http404(_("没有这个案件，或不在您的管辖范围内。")) from None


def _back_url(case: Case, anchor: str = "") -> str:
    return reverse("cases:detail", args=[case.pk]) + (f"#{anchor}" if anchor else "")


def _back(case: Case, anchor: str = "") -> HttpResponse:
    return redirect(_back_url(case, anchor))


def _ask_purpose(request: HttpRequest, case: Case) -> HttpResponse:
    messages.info(request, _("查看或使用当事人信息前，请先说明查询事由。"))
    query = urlencode({"next": reverse("cases:detail", args=[case.pk])})
    return redirect(f"{reverse('core:purpose')}?{query}")


def _refused(request: HttpRequest, exc: ServiceError | PermissionDenied) -> None:
    if isinstance(exc, PermissionDenied):
        messages.error(request, _("您无权进行此操作。"))
    else:
        messages.error(request, str(exc))


# --------------------------------------------------------------------------- list and accept

@portal_view(Action.CASE_READ)
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    case_type = request.GET.get("type", "")
    state = request.GET.get("state", "")
    q = request.GET.get("q", "")[:64]
    cases = selectors.case_list(user, case_type=case_type if case_type in WORKFLOWS else "",
                                state=state[:24], q=q)
    page = CappedPaginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"case": c, "state": WORKFLOWS[c.case_type].states[c.state].label if c.state in
             WORKFLOWS[c.case_type].states else c.state, "category": categories.label(c.category),
             "type": CaseType(c.case_type).label} for c in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    labels: dict[str, str] = {}
    for wf in WORKFLOWS.values():
        for s in wf.states.values():
            labels.setdefault(s.key, str(s.label))
    states = sorted(labels.items())
    return render(request, "cases/list.html", {
        **_shell(request), "page": page, "rows": rows, "count_cap": COUNT_CAP, "query": query.urlencode(),
        "types": CaseType.choices,
        "states": states, "selected": {"type": case_type, "state": state, "q": q},
        "may_accept": access.can(user, Action.CASE_RECORD),
    })


def _receipt_page(request: HttpRequest, acceptance: services.Acceptance, *, status: int = 200) -> HttpResponse:
    response = render(request, "cases/receipt.html", {
        **_shell(request), "case": acceptance.case, "receipt_html": acceptance.receipt_html,
        "code": acceptance.lookup_code, "code_form": ReceiptCodeForm(),
    }, status=status)
    response["Cache-Control"] = "no-store"  # it shows the lookup code
    return response


@portal_view(Action.CASE_RECORD)
@never_cache
@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = AcceptForm(request.POST or None, initial={"reported_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")})
    unit = user.home_unit
    status = 200
    if request.method == "POST":
        if form.is_valid() and unit is not None:
            data = form.cleaned_data
            parties = []
            if data["reporter_name"] or data["reporter_entity"]:
                parties.append(services.PartyIn(PartyRole.REPORTER, data["reporter_entity"],
                                                data["reporter_name"], data["reporter_phone"]))
            try:
                acceptance = services.case_accept(
                    actor=user, unit=unit, case_type=data["case_type"], category=data["category"],
                    summary=data["summary"], reported_at=data["reported_at"], parties=parties)
            except ServiceError as exc:
                name = exc.field.split(".")[-1] if exc.field.startswith("parties") else exc.field
                name = {"entity_id": "reporter_entity", "name": "reporter_name", "phone": "reporter_phone"}.get(
                    name, name)
                form.add_error(name if name in form.fields else None, str(exc))
            else:
                messages.success(request, _("已受案：%(number)s。请将受案回执交给报案人。") % {
                    "number": acceptance.case.number})
                return _receipt_page(request, acceptance)
        elif unit is None:
            form.add_error(None, _("您的账号没有所属单位，不能受案。"))
        status = 400
    return render(request, "cases/new.html", {**_shell(request), "form": form, "unit": unit}, status=status)


# --------------------------------------------------------------------------- one case

@portal_view(Action.CASE_READ)
@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk, request)
    wf = WORKFLOWS[case.case_type]
    parties = None
    purpose = core_selectors.current_purpose(user)
    if purpose is not None and access.can(user, Action.PERSON_READ, case.unit):
        try:
            parties = selectors.case_parties(user, case, request=request)
        except (PurposeRequired, PermissionDenied):
            parties = None
    options = selectors.transitions_for(user, case)
    work = selectors.case_work(case)
    suspects = selectors.case_party_ids(case, PartyRole.SUSPECT)
    review_subjects = [(s, Subject(s).label) for s in
                       {CaseType.CRIMINAL: [Subject.FILING, Subject.MEASURE],
                        CaseType.ADMINISTRATIVE: [Subject.PENALTY]}.get(CaseType(case.case_type), [])]
    return render(request, "cases/detail.html", {
        **_shell(request), "case": case, "state": wf.states[case.state], "type": CaseType(case.case_type).label,
        "category": categories.label(case.category), "public": PublicStatus(wf.states[case.state].public).label,
        "clocks": selectors.case_clocks(case), "timeline": _timeline(selectors.case_timeline(case), wf),
        "options": options, "work": work, "parties": parties, "purpose": purpose,
        "may_read_parties": access.can(user, Action.PERSON_READ, case.unit),
        "suspects": suspects, "reasons": DeclineReason.choices, "review_subjects": review_subjects,
        "measures": [(k, m.label) for k, m in MEASURES.items()] if case.case_type == CaseType.CRIMINAL else [],
        "may_record": access.can(user, Action.CASE_RECORD, case.unit),
        "may_investigate": access.can(user, Action.CASE_INVESTIGATE, case.unit),
        "may_review": access.can(user, Action.CASE_LEGAL_REVIEW, case.unit),
        "may_approve": access.can(user, Action.CASE_APPROVE, case.unit),
        "may_decide": access.can(user, Action.CASE_DECIDE, case.unit),
        "evidence_form": EvidenceForm(), "task_form": TaskForm(), "party_form": PartyForm(),
        "decline_reason": DeclineReason(case.decline_reason).label if case.decline_reason else "",
        "user_id": user.pk,
    })


def _timeline(events: list[Any], wf: Any) -> list[dict[str, Any]]:
    rows = []
    for e in events:
        if e.kind == "transition":
            t = wf.transitions.get(e.transition)
            what = str(t.label) if t else e.transition
        else:
            what = e.get_kind_display()
        target = wf.states.get(e.to_state)
        rows.append({"event": e, "what": what, "to": target.label if target and e.kind == "transition" else "",
                     "details": e.details})
    return rows


@portal_view(Action.CASE_READ)
@require_POST
def case_transition(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("提交的内容无效。"))
        return _back(case)
    data = form.cleaned_data
    penalty = None
    if data["penalty_kind"]:
        penalty = services.PenaltyIn(kind=data["penalty_kind"], party_id=data["penalty_party"] or 0,
                                     fine_yuan=data["fine_yuan"] or 0, detention_days=data["detention_days"] or 0)
    try:
        event = services.case_transition(actor=user, case=case, transition=data["transition"], note=data["note"],
                                         reason=data["reason"], penalty=penalty,
                                         review_subject=data["review_subject"])
    except PurposeRequired:
        return _ask_purpose(request, case)
    except (ServiceError, PermissionDenied) as exc:
        _refused(request, exc)
    else:
        label = WORKFLOWS[case.case_type].transitions[event.transition].label
        messages.success(request, _("已办理：%(what)s。") % {"what": label})
    return _back(case)


@portal_view(Action.CASE_READ)
@require_POST
def review_request(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk)
    return form_action(
        request, ReviewRequestForm(request.POST), back=_back_url(case, "reviews"), done=_("已提请法制审核。"),
        run=lambda data: services.legal_review_request(actor=user, case=case, subject=data["subject"],
                                                       proposal=data["proposal"], measure=data["measure"]))


@portal_view(Action.CASE_LEGAL_REVIEW)
@require_POST
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if not 0 < pk <= MAX_ID:
        raise Http404
    try:
        review = selectors.review_get(user, pk)
    except LegalReview.DoesNotExist:
        raise Http404 from None
    case = _case_or_404(user, review.case_id)
    return form_action(
        request, ReviewDecideForm(request.POST), back=_back_url(case, "reviews"), done=_("审核意见已记录。"),
        run=lambda data: services.legal_review_decide(actor=user, review=review, approve=data["outcome"] == "approve",
                                                      opinion=data["opinion"]))


@portal_view(Action.CASE_READ)
@require_POST
def task_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk)
    form = TaskForm(request.POST)
    if form.is_valid():
        assignee = selectors.case_worker(case, form.cleaned_data["assignee"])
        if assignee is None:
            messages.error(request, _("没有这个用户：%(name)s。") % {"name": form.cleaned_data["assignee"]})
            return _back(case, "tasks")
        try:
            services.task_assign(actor=user, case=case, title=form.cleaned_data["title"], assignee=assignee,
                                 due_at=form.cleaned_data["due_at"])
        except (ServiceError, PermissionDenied) as exc:
            _refused(request, exc)
        else:
            messages.success(request, _("任务已派给 %(user)s。") % {"user": assignee})
    else:
        messages.error(request, _("请填写任务内容和承办人。"))
    return _back(case, "tasks")


@portal_view(Action.CASE_READ)
@require_POST
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if not 0 < pk <= MAX_ID:
        raise Http404
    try:
        task = selectors.task_get(user, pk)
    except CaseTask.DoesNotExist:
        raise Http404 from None
    case = _case_or_404(user, task.case_id)
    form = TaskDoneForm(request.POST)
    try:
        services.task_complete(actor=user, task=task, result=form.data.get("result", "")[:2000])
    except (ServiceError, PermissionDenied) as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("任务已完成。"))
    return _back(case, "tasks")


@portal_view(Action.CASE_READ)
@require_POST
def evidence_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk)
    return form_action(
        request, EvidenceForm(request.POST), back=_back_url(case, "evidence"),
        invalid=_("请选择证据种类并填写描述。"), done=_("证据已登记。"),
        run=lambda data: services.evidence_add(actor=user, case=case, kind=data["kind"],
                                               description=data["description"]))


@portal_view(Action.CASE_READ)
@require_POST
def party_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk)
    return form_action(
        request, PartyForm(request.POST), back=_back_url(case, "parties"),
        invalid=_("请选择身份并填写姓名或实体编号。"), done=_("当事人已添加。"),
        run=lambda data: services.party_add(actor=user, case=case, party=services.PartyIn(
            data["role"], data["entity"], data["name"], data["phone"])))


@portal_view(Action.CASE_READ)
@require_POST
def measure_take(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk)
    return form_action(
        request, MeasureForm(request.POST), back=_back_url(case, "measures"), done=_("强制措施已登记。"),
        run=lambda data: services.measure_take(actor=user, case=case, kind=data["kind"], party_id=data["party"],
                                               note=data["note"]))


def _measure(user: User, pk: int) -> tuple[CoerciveMeasure, Case]:
    if not 0 < pk <= MAX_ID:
        raise Http404
    try:
        measure = selectors.measure_get(user, pk)
    except CoerciveMeasure.DoesNotExist:
        raise Http404 from None
    return measure, _case_or_404(user, measure.case_id)


@portal_view(Action.CASE_READ)
@require_POST
def measure_extend(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    measure, case = _measure(user, pk)
    try:
        services.measure_extend(actor=user, measure=measure, note=request.POST.get("note", "")[:2000])
    except (ServiceError, PermissionDenied) as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("期限已延长。"))
    return _back(case, "measures")


@portal_view(Action.CASE_READ)
@require_POST
def measure_end(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    measure, case = _measure(user, pk)
    return form_action(
        request, MeasureEndForm(request.POST), back=_back_url(case, "measures"),
        invalid=_("请填写解除或变更的理由。"), done=_("强制措施已解除。"),
        run=lambda data: services.measure_end(actor=user, measure=measure, reason=data["reason"]))


@portal_view(Action.CASE_READ)
@require_POST
def owner_assign(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk)
    name = request.POST.get("owner", "").strip()[:150]
    owner = selectors.case_worker(case, name)
    if owner is None:
        messages.error(request, _("没有这个用户：%(name)s。") % {"name": name})
        return _back(case)
    try:
        services.case_assign_owner(actor=user, case=case, owner=owner)
    except (ServiceError, PermissionDenied) as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("主办民警：%(user)s") % {"user": owner})
    return _back(case)


# --------------------------------------------------------------------------- documents

@portal_view(Action.CASE_READ)
@never_cache
@require_POST
def receipt_reissue(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = _case_or_404(user, pk)
    try:
        acceptance = services.receipt_reissue(actor=user, case=case)
    except PermissionDenied as exc:
        _refused(request, exc)
        return _back(case)
    messages.success(request, _("已重新生成受案回执，原查询码作废。"))
    return _receipt_page(request, acceptance)


def _pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@portal_view(Action.CASE_READ)
@never_cache
@require_POST
def receipt_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The receipt with its code, printed: the code comes with the request (it is not kept)."""
    user = _user(request)
    case = _case_or_404(user, pk)
    form = ReceiptCodeForm(request.POST)
    code = form.data.get("code", "")
    try:
        body = services.receipt_with_code(actor=user, case=case, code=code)
    except (ServiceError, PermissionDenied) as exc:
        _refused(request, exc)
        return _back(case)
    response = _pdf_response(documents.to_pdf(body, str(Document.RECEIPT.label)), f"{case.number}-receipt.pdf")
    response["Cache-Control"] = "no-store"
    return response


def _document(user: User, pk: int, request: HttpRequest) -> CaseDocument:
    if not 0 < pk <= MAX_ID:
        raise Http404
    try:
        doc = selectors.document_get(user, pk)
    except CaseDocument.DoesNotExist:
        raise Http404 from None
    from jingwu.core import audit

    audit.record(actor=user, action="case.document_read", object_type="case_document", object_id=doc.number,
                 unit_code=doc.case.unit.code, request=request)
    return doc


@portal_view(Action.CASE_READ)
@require_GET
def document_html(request: HttpRequest, pk: int) -> HttpResponse:
    doc = _document(_user(request), pk, request)
    return render(request, "cases/document.html", {"doc": doc, "title": Document(doc.kind).label})


@portal_view(Action.CASE_READ)
@require_GET
def document_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    doc = _document(_user(request), pk, request)
    return _pdf_response(documents.to_pdf(doc.body_html, str(Document(doc.kind).label)), f"{doc.number}.pdf")


# --------------------------------------------------------------------------- supervision

def _supervised_unit(request: HttpRequest, user: User, code: str) -> Unit | None:
    if not code:
        return None
    try:
        unit = selectors.unit_for(user, code, Action.SUPERVISION_READ, request=request)
    except PermissionDenied:
        unit = None
    if unit is None:
        raise Http404(_("没有这个单位，或不在您的督察范围内。"))
    return unit


ANOMALY_LABELS = {
    selectors.Anomaly.OVERDUE: _("超期未办"),
    selectors.Anomaly.INVESTIGATION_OVERDUE: _("侦而不结"),
    selectors.Anomaly.FILED_IDLE: _("立而不侦"),
    selectors.Anomaly.CRIMINAL_NO_CASE: _("有案不立"),
    selectors.Anomaly.INCIDENT_NO_OUTCOME: _("警情无结果"),
    selectors.Anomaly.ERRORS: _("执法过错"),
}


@portal_view(Action.SUPERVISION_READ)
@require_GET
def supervision(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    unit = _supervised_unit(request, user, request.GET.get("unit", ""))
    kind = request.GET.get("kind", "")
    overview = selectors.supervision_overview(user, unit=unit, request=request)
    items: list[dict[str, Any]] = []
    if kind in selectors.ANOMALIES and overview.totals.get(kind) is not None:
        items = selectors.anomaly_items(user, kind, unit=overview.unit)
    else:
        kind = ""
    anomalies = [(k, _anomaly_label(k)) for k in selectors.ANOMALIES]
    return render(request, "cases/supervision.html", {
        **_shell(request), "overview": overview, "anomalies": anomalies, "kind": kind,
        "kind_label": _anomaly_label(kind) if kind else "", "items": items,
        "rows": [{"unit": r.unit, "counts": [r.counts.get(k) for k, _l in anomalies]} for r in overview.rows],
        "totals": [(k, label, overview.totals.get(k)) for k, label in anomalies],
        "parent": overview.unit.parent if overview.unit is not None and overview.unit.parent is not None
        and access.can(user, Action.SUPERVISION_READ, overview.unit.parent) else None,
        "item_limit": selectors.ITEM_LIMIT,
    })


def _anomaly_label(kind: str) -> str:
    return str(ANOMALY_LABELS.get(kind, kind))


@portal_view(Action.SUPERVISION_READ)
@require_GET
def closed_loop(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    unit = _supervised_unit(request, user, request.GET.get("unit", ""))
    today = timezone.localdate()
    form = ReportPeriodForm(request.GET or None, initial={"start": today.replace(day=1), "end": today})
    if form.is_bound and form.is_valid() and form.cleaned_data["start"] <= form.cleaned_data["end"]:
        start_day, end_day = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        start_day, end_day = today.replace(day=1), today
    start = timezone.make_aware(dt.datetime.combine(start_day, dt.time(0)))
    end = timezone.make_aware(dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time(0)))
    report = selectors.closed_loop_report(user, start=start, end=end, unit=unit, request=request)
    rows = []
    for row in report.cases:
        wf = WORKFLOWS[row.case_type]
        rows.append({"type": CaseType(row.case_type).label, "row": row,
                     "ended": [(wf.states[s].label, n) for s, n in sorted(row.ended.items())]})
    return render(request, "cases/closed_loop.html", {
        **_shell(request), "form": form, "report": report, "rows": rows, "start_day": start_day,
        "end_day": end_day, "unit": unit,
    })
