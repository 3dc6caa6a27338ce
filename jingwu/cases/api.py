"""The cases API: accept, list, read, move a case along its workflow, legal reviews, tasks,
evidence, measures, documents and supervision figures. The same services and selectors as
the pages; refusals are 403, bad input 400 naming the field, unknown ids 404."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from jingwu.cases import categories, documents, selectors, services
from jingwu.cases.models import Case, CaseDocument, CaseTask, LegalReview
from jingwu.cases.workflow import WORKFLOWS, Document
from jingwu.core.access import Action
from jingwu.core.api import ErrorOut
from jingwu.core.models import User

router = Router(tags=["cases"])
M = TypeVar("M")
MAX_ID = 2**63 - 1
PAGE_SIZE = 50


class PartyInSchema(Schema):
    role: Literal["reporter", "victim", "suspect", "witness", "party"]
    entity_id: int | None = Field(None, ge=1, le=MAX_ID)
    name: str = Field("", max_length=100)
    phone: str = Field("", max_length=32)


class AcceptIn(Schema):
    unit_code: str = Field(description="The handling unit; you need case.record there")
    case_type: Literal["criminal", "administrative", "dispute"]
    category: str = Field(description="A category key of jingwu/cases/categories.py for the case type")
    summary: str = Field(max_length=2000)
    reported_at: dt.datetime
    origin: Literal["station", "online"] = "station"
    parties: list[PartyInSchema] = Field(default_factory=list, max_length=50)


class DeadlineOut(Schema):
    clock: str
    label: str
    started_at: dt.datetime
    due_at: dt.datetime
    stopped_at: dt.datetime | None
    overdue: bool
    extensions: int


class TransitionOut(Schema):
    key: str
    label: str
    action: str
    blockers: list[str]


class CaseOut(Schema):
    id: int
    number: str
    case_type: str
    state: str
    state_label: str
    public_status: str
    category: str
    category_label: str
    summary: str
    unit_code: str
    unit_name: str
    owner: str | None
    origin: str
    reported_at: dt.datetime
    accepted_at: dt.datetime
    terminal: bool
    outcome: str
    decline_reason: str
    incidents: list[str] = Field(description="app:incident id:incident number")


class CaseDetailOut(CaseOut):
    deadlines: list[DeadlineOut]
    transitions: list[TransitionOut] = Field(description="The workflow's next steps your roles allow here")


class AcceptOut(Schema):
    case: CaseOut
    lookup_code: str = Field(description="The reporter's lookup code: returned once, only its hash is kept")
    receipt_document_id: int | None


class CasePageOut(Schema):
    count: int
    page: int
    pages: int
    items: list[CaseOut]


class TransitionIn(Schema):
    transition: str = Field(max_length=32)
    note: str = Field("", max_length=2000)
    reason: str = Field("", description="A decline reason key, for decline")
    review_subject: str = Field("", description="transfer or withdraw, for submit_review")
    penalty_kind: Literal["", "warning", "fine", "detention", "fine_detention"] = ""
    penalty_party_id: int = Field(0, ge=0, le=MAX_ID)
    fine_yuan: int = Field(0, ge=0, le=10**7)
    detention_days: int = Field(0, ge=0, le=100)


class EventOut(Schema):
    id: int
    at: dt.datetime
    kind: str
    transition: str
    from_state: str
    to_state: str
    decision: bool
    actor: str | None
    note: str


class ReviewIn(Schema):
    subject: Literal["filing", "measure", "penalty"]
    proposal: str = Field("", max_length=2000)
    measure: str = Field("", description="The measure proposed, for subject measure")


class ReviewDecisionIn(Schema):
    approve: bool
    opinion: str = Field("", max_length=2000)


class ReviewOut(Schema):
    id: int
    case_id: int
    subject: str
    outcome: str
    requested_by: str | None
    reviewer: str | None
    opinion: str


class TaskIn(Schema):
    title: str = Field(max_length=200)
    assignee: str = Field(description="username")
    due_at: dt.datetime | None = None


class TaskOut(Schema):
    id: int
    case_id: int
    title: str
    assignee: str
    status: str
    due_at: dt.datetime | None


class TaskDoneIn(Schema):
    result: str = Field("", max_length=2000)


class OwnerIn(Schema):
    username: str = Field(max_length=150)


class EvidenceIn(Schema):
    kind: str
    description: str = Field(max_length=2000)
    collected_at: dt.datetime | None = None


class IdOut(Schema):
    id: int


class DocumentOut(Schema):
    id: int
    kind: str
    number: str
    issued_at: dt.datetime
    sha256: str


class SupervisionRowOut(Schema):
    unit_code: str = Field(description="Empty: the unit itself")
    unit_name: str
    counts: dict[str, int | None]


class SupervisionOut(Schema):
    unit_code: str
    rows: list[SupervisionRowOut]
    totals: dict[str, int | None] = Field(description="null: not available (no incident feed registered)")


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _not_found(what: str, pk: int | str) -> Status[dict[str, str]]:
    return Status(404, {"detail": f"no {what} {pk}", "code": "not_found"})


def _case(request: HttpRequest, case_id: int) -> Case | None:
    if not 0 < case_id <= MAX_ID:
        return None
    return selectors.cases_visible(_actor(request)).select_related("unit", "owner").filter(pk=case_id).first()


def _one(get: Callable[[User, int], M], request: HttpRequest, pk: int, missing: type[Exception]) -> M | None:
    """One object of a case the actor may see, through its scoped selector; None otherwise."""
    if not 0 < pk <= MAX_ID:
        return None
    try:
        return get(_actor(request), pk)
    except missing:
        return None


def _case_out(case: Case) -> dict[str, Any]:
    wf = WORKFLOWS[case.case_type]
    state = wf.states[case.state]
    return {"id": case.pk, "number": case.number, "case_type": case.case_type, "state": case.state,
            "state_label": str(state.label), "public_status": state.public, "category": case.category,
            "category_label": categories.label(case.category), "summary": case.summary,
            "unit_code": case.unit.code, "unit_name": case.unit.name,
            "owner": case.owner.get_username() if case.owner else None, "origin": case.origin,
            "reported_at": case.reported_at, "accepted_at": case.accepted_at, "terminal": case.terminal,
            "outcome": case.outcome, "decline_reason": case.decline_reason,
            "incidents": [f"{i.app}:{i.incident_id}:{i.number}" for i in case.incidents.all()]}


@router.get("/", response=CasePageOut, url_name="cases_list", summary="Cases you may see, newest first")
def case_list(request: HttpRequest, page: int = 1, state: str = "", case_type: str = "", q: str = "") -> Any:
    cases = selectors.case_list(_actor(request), state=state[:24], case_type=case_type[:16], q=q[:64])
    paged = Paginator(cases.prefetch_related("incidents"), PAGE_SIZE).get_page(page)
    return {"count": paged.paginator.count, "page": paged.number, "pages": paged.paginator.num_pages,
            "items": [_case_out(c) for c in paged.object_list]}


@router.post("/", response={201: AcceptOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut}, url_name="cases_accept",
             summary="Accept a report taken at a station or online")
def case_accept(request: HttpRequest, payload: AcceptIn) -> Any:
    unit = selectors.unit_for(_actor(request), payload.unit_code, Action.CASE_RECORD, request=request)
    if unit is None:
        return _not_found("unit", payload.unit_code)
    acceptance = services.case_accept(
        actor=_actor(request), unit=unit, case_type=payload.case_type, category=payload.category,
        summary=payload.summary, reported_at=payload.reported_at, origin=payload.origin,
        parties=[services.PartyIn(p.role, p.entity_id, p.name, p.phone) for p in payload.parties])
    assert acceptance.lookup_code is not None
    return Status(201, {"case": _case_out(acceptance.case), "lookup_code": acceptance.lookup_code,
                        "receipt_document_id": acceptance.receipt.pk if acceptance.receipt else None})


@router.get("/{case_id}", response={200: CaseDetailOut, 404: ErrorOut}, url_name="case_detail",
            summary="A case with its deadlines and the transitions open to you (audited)")
def case_detail(request: HttpRequest, case_id: int) -> Any:
    if _case(request, case_id) is None:
        return _not_found("case", case_id)
    actor = _actor(request)
    case = selectors.case_get(actor, case_id, request=request)
    out = _case_out(case)
    out["deadlines"] = [{"clock": c.deadline.clock, "label": c.label, "started_at": c.deadline.started_at,
                         "due_at": c.deadline.due_at, "stopped_at": c.deadline.stopped_at, "overdue": c.overdue,
                         "extensions": c.deadline.extensions} for c in selectors.case_clocks(case)]
    out["transitions"] = [{"key": o.transition.key, "label": str(o.transition.label), "action": o.transition.action,
                           "blockers": o.blockers} for o in selectors.transitions_for(actor, case)]
    return Status(200, out)


@router.get("/{case_id}/timeline", response={200: list[EventOut], 404: ErrorOut}, url_name="case_timeline",
            summary="A case's timeline")
def case_timeline(request: HttpRequest, case_id: int) -> Any:
    case = _case(request, case_id)
    if case is None:
        return _not_found("case", case_id)
    return Status(200, [{"id": e.pk, "at": e.at, "kind": e.kind, "transition": e.transition,
                         "from_state": e.from_state, "to_state": e.to_state, "decision": e.decision,
                         "actor": e.actor.get_username() if e.actor else None, "note": e.note}
                        for e in selectors.case_timeline(case)])


@router.post("/{case_id}/transitions", response={200: EventOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             url_name="case_transition", summary="Take a workflow transition")
def case_transition(request: HttpRequest, case_id: int, payload: TransitionIn) -> Any:
    case = _case(request, case_id)
    if case is None:
        return _not_found("case", case_id)
    penalty = None
    if payload.penalty_kind:
        penalty = services.PenaltyIn(kind=payload.penalty_kind, party_id=payload.penalty_party_id,
                                     fine_yuan=payload.fine_yuan, detention_days=payload.detention_days)
    e = services.case_transition(actor=_actor(request), case=case, transition=payload.transition, note=payload.note,
                                 reason=payload.reason, penalty=penalty, review_subject=payload.review_subject)
    return Status(200, {"id": e.pk, "at": e.at, "kind": e.kind, "transition": e.transition,
                        "from_state": e.from_state, "to_state": e.to_state, "decision": e.decision,
                        "actor": e.actor.get_username() if e.actor else None, "note": e.note})


def _review_out(r: LegalReview) -> dict[str, Any]:
    return {"id": r.pk, "case_id": r.case_id, "subject": r.subject, "outcome": r.outcome,
            "requested_by": r.requested_by.get_username() if r.requested_by else None,
            "reviewer": r.reviewer.get_username() if r.reviewer else None, "opinion": r.opinion}


@router.post("/{case_id}/reviews", response={201: ReviewOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             url_name="case_review_request", summary="Ask for a legal review")
def review_request(request: HttpRequest, case_id: int, payload: ReviewIn) -> Any:
    case = _case(request, case_id)
    if case is None:
        return _not_found("case", case_id)
    review = services.legal_review_request(actor=_actor(request), case=case, subject=payload.subject,
                                           proposal=payload.proposal, measure=payload.measure)
    return Status(201, _review_out(review))


@router.get("/reviews/pending", response=list[ReviewOut], url_name="reviews_pending",
            summary="Legal reviews waiting in your jurisdiction")
def reviews_pending(request: HttpRequest) -> Any:
    return [_review_out(r) for r in selectors.reviews_pending_for(_actor(request)).select_related("reviewer")[:200]]


@router.post("/reviews/{review_id}/decision", response={200: ReviewOut, 400: ErrorOut, 403: ErrorOut,
                                                        404: ErrorOut},
             url_name="review_decide", summary="Approve or return a legal review")
def review_decide(request: HttpRequest, review_id: int, payload: ReviewDecisionIn) -> Any:
    review = _one(selectors.review_get, request, review_id, LegalReview.DoesNotExist)
    if review is None:
        return _not_found("review", review_id)
    review = services.legal_review_decide(actor=_actor(request), review=review, approve=payload.approve,
                                          opinion=payload.opinion)
    return Status(200, _review_out(review))


@router.post("/{case_id}/tasks", response={201: TaskOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             url_name="case_task_assign", summary="Assign an investigation task (lands in the assignee's inbox)")
def task_assign(request: HttpRequest, case_id: int, payload: TaskIn) -> Any:
    case = _case(request, case_id)
    if case is None:
        return _not_found("case", case_id)
    assignee = selectors.case_worker(case, payload.assignee)
    if assignee is None:
        return _not_found("user", payload.assignee)
    task = services.task_assign(actor=_actor(request), case=case, title=payload.title, assignee=assignee,
                                due_at=payload.due_at)
    return Status(201, {"id": task.pk, "case_id": case.pk, "title": task.title, "assignee": assignee.get_username(),
                        "status": task.status, "due_at": task.due_at})


@router.post("/tasks/{task_id}/done", response={200: TaskOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             url_name="case_task_done", summary="Complete a task")
def task_done(request: HttpRequest, task_id: int, payload: TaskDoneIn) -> Any:
    task = _one(selectors.task_get, request, task_id, CaseTask.DoesNotExist)
    if task is None:
        return _not_found("task", task_id)
    task = services.task_complete(actor=_actor(request), task=task, result=payload.result)
    return Status(200, {"id": task.pk, "case_id": task.case_id, "title": task.title,
                        "assignee": task.assignee.get_username(), "status": task.status, "due_at": task.due_at})


@router.post("/{case_id}/owner", response={200: CaseOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             url_name="case_owner", summary="Name the officer in charge (it lands in their inbox)")
def owner_assign(request: HttpRequest, case_id: int, payload: OwnerIn) -> Any:
    case = _case(request, case_id)
    if case is None:
        return _not_found("case", case_id)
    owner = selectors.case_worker(case, payload.username)
    if owner is None:
        return _not_found("user", payload.username)
    return Status(200, _case_out(services.case_assign_owner(actor=_actor(request), case=case, owner=owner)))


@router.post("/{case_id}/evidence", response={201: IdOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             url_name="case_evidence_add", summary="Record an evidence item")
def evidence_add(request: HttpRequest, case_id: int, payload: EvidenceIn) -> Any:
    case = _case(request, case_id)
    if case is None:
        return _not_found("case", case_id)
    item = services.evidence_add(actor=_actor(request), case=case, kind=payload.kind,
                                 description=payload.description, collected_at=payload.collected_at)
    return Status(201, {"id": item.pk})


@router.get("/{case_id}/documents", response={200: list[DocumentOut], 404: ErrorOut}, url_name="case_documents",
            summary="Documents issued for a case")
def case_documents(request: HttpRequest, case_id: int) -> Any:
    case = _case(request, case_id)
    if case is None:
        return _not_found("case", case_id)
    return Status(200, [{"id": d.pk, "kind": d.kind, "number": d.number, "issued_at": d.issued_at,
                         "sha256": d.sha256} for d in selectors.case_work(case).documents])


@router.get("/documents/{document_id}/pdf", response={200: None, 404: ErrorOut}, url_name="case_document_pdf",
            summary="A document as PDF (a receipt without its lookup code)")
def document_pdf(request: HttpRequest, document_id: int) -> Any:
    doc = _one(selectors.document_get, request, document_id, CaseDocument.DoesNotExist)
    if doc is None:
        return _not_found("document", document_id)
    from jingwu.core import audit

    audit.record(actor=_actor(request), action="case.document_read", object_type="case_document",
                 object_id=doc.number, unit_code=doc.case.unit.code, request=request)
    response = HttpResponse(documents.to_pdf(doc.body_html, str(Document(doc.kind).label)),
                            content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{doc.number}.pdf"'
    return response


@router.get("/supervision/overview", response={200: SupervisionOut, 404: ErrorOut, 403: ErrorOut},
            url_name="supervision_overview", summary="Supervision counts by unit (督察)")
def supervision_overview(request: HttpRequest, unit: str = "") -> Any:
    actor = _actor(request)
    chosen = None
    if unit:
        chosen = selectors.unit_for(actor, unit, Action.SUPERVISION_READ, request=request)
        if chosen is None:
            return _not_found("unit", unit)
    overview = selectors.supervision_overview(actor, unit=chosen, request=request)
    return Status(200, {"unit_code": overview.unit.code if overview.unit else "",
                        "rows": [{"unit_code": r.unit.code if r.unit else "",
                                  "unit_name": r.unit.name if r.unit else "", "counts": r.counts}
                                 for r in overview.rows],
                        "totals": overview.totals})
