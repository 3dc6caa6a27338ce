"""Every write of the cases app. Each is one transaction with one audit entry (work items
in core's inbox are written through core.services).

Entry points other apps call:

- `case_accept_from_incident(...)`: dispatch hands over an incident; idempotent per incident.
- `case_accept(...)`: a report taken at a station or online.
- `case_group_incidents(...)`: 并案, several incidents of another app as one case.
- `case_transition(...)`: the only way a case moves (workflow.py is its table).
- `deadlines_scan(...)`: the periodic job (tasks.py) and `jingwu cases scan-deadlines`.
- `case_numbers_reserve(...)` and `lookup_hash_for_seed(...)`: for bulk seeding, which may
  write cases with `Case.objects.bulk_create` as long as it also writes one Deadline per
  running clock (deadlines.policy().period.end(start)) the way `_clock_start` does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from jingwu.cases import categories, deadlines, documents, incidents
from jingwu.cases.models import (
    Case,
    CaseDocument,
    CaseEvent,
    CaseIncident,
    CaseNumberSequence,
    CaseParty,
    CaseTask,
    CoerciveMeasure,
    Deadline,
    EnforcementError,
    ErrorRole,
    EventKind,
    EvidenceItem,
    EvidenceKind,
    LegalReview,
    LookupThrottle,
    Origin,
    PartyRole,
    Reconsideration,
    ReconsiderationStatus,
    ReviewOutcome,
    TaskStatus,
)
from jingwu.cases.workflow import (
    MEASURE_STATES,
    MEASURES,
    REVIEW_REQUESTS,
    WORKFLOWS,
    WORKING_STATES,
    CaseType,
    DeclineReason,
    Document,
    Subject,
    Transition,
    workflow,
)
from jingwu.core import access, audit, identifiers
from jingwu.core import services as core_services
from jingwu.core.access import Action
from jingwu.core.models import RoleAssignment, Unit, User, WorkItemPriority
from jingwu.core.purpose import person_read
from jingwu.core.services import ServiceError
from jingwu.records.models import Entity

APP = "cases"


# --------------------------------------------------------------------------- input shapes

@dataclass(frozen=True)
class PartyIn:
    """A person named in a report: a records entity where known, else the name (and phone) as given."""

    role: str
    entity_id: int | None = None
    name: str = ""
    phone: str = ""


@dataclass(frozen=True)
class PenaltyIn:
    """An administrative penalty: a warning, a fine, detention, or fine and detention."""

    kind: str  # warning / fine / detention / fine_detention
    party_id: int  # the CaseParty (a suspect) it is imposed on
    fine_yuan: int = 0
    detention_days: int = 0


@dataclass(frozen=True)
class Acceptance:
    case: Case
    # The reporter's lookup code, shown once (on the receipt); None when the incident had
    # been accepted before and the existing case is returned.
    lookup_code: str | None
    created: bool
    receipt: CaseDocument | None = None
    receipt_html: str = ""  # the receipt with the code, for printing now; never stored


# --------------------------------------------------------------------------- numbers and codes

def _number_prefix(case_type: str, unit: Unit, year: int) -> str:
    return f"{workflow(case_type).letter}{unit.code}{year}"


def case_numbers_reserve(*, case_type: str, unit: Unit, year: int, count: int) -> list[str]:
    """`count` consecutive case numbers for the unit and year ("A370102S012026000001"), reserved
    for good: a seeder that writes cases in bulk takes its numbers from here."""
    if case_type not in WORKFLOWS:
        raise ServiceError(f"unknown case type {case_type!r}", field="case_type")
    if count < 1:
        raise ServiceError("count must be at least 1", field="count")
    prefix = _number_prefix(case_type, unit, year)
    with transaction.atomic():
        seq = CaseNumberSequence.objects.select_for_update().filter(prefix=prefix).first()
        if seq is None:
            try:
                with transaction.atomic():
                    seq = CaseNumberSequence.objects.create(prefix=prefix, last=0)
            except IntegrityError:  # created by a concurrent writer
                seq = CaseNumberSequence.objects.select_for_update().get(prefix=prefix)
        first = seq.last + 1
        seq.last += count
        seq.save(update_fields=["last"])
    return [f"{prefix}{n:06d}" for n in range(first, first + count)]


LOOKUP_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed from paper
LOOKUP_LENGTH = 8


def lookup_code_new() -> str:
    raw = "".join(secrets.choice(LOOKUP_ALPHABET) for _i in range(LOOKUP_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def lookup_code_normalize(raw: str) -> str:
    """Upper case, separators and spaces dropped, and the look-alikes mapped (O→0 is not in
    the alphabet, so O and 0 both mean nothing: they are kept and simply fail)."""
    return "".join(ch for ch in identifiers.clean_input(raw or "").upper() if ch.isalnum())


def lookup_hash(code: str) -> str:
    return make_password(lookup_code_normalize(code))


def lookup_hash_for_seed(code: str) -> str:
    """One hash for many seeded cases (hashing is slow on purpose): seeded cases may share it."""
    return lookup_hash(code)


@cache
def _dummy_hash(hasher_key: str) -> str:
    # Checked against when the number is unknown, so the answer takes as long as a real check.
    return make_password(secrets.token_hex(8))


def _lookup_matches(stored: str, code: str) -> bool:
    normalized = lookup_code_normalize(code)
    if stored:
        return check_password(normalized, stored)
    check_password(normalized, _dummy_hash(settings.PASSWORD_HASHERS[0]))
    return False


# --------------------------------------------------------------------------- helpers

def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _case_url(case_id: int) -> str:
    return reverse("cases:detail", args=[case_id])


def _audit(actor: User | None, action: str, case: Case, **details: Any) -> None:
    audit.record(actor=actor, action=action, object_type="case", object_id=case.number,
                 unit_code=case.unit.code, details=details)


def _event(case: Case, actor: User | None, kind: str, *, at: dt.datetime, **fields: Any) -> CaseEvent:
    return CaseEvent.objects.create(case=case, actor=actor, kind=kind, at=at, **fields)


def _locked(case: Case) -> Case:
    """The case row locked for this transaction, with its unit."""
    return Case.objects.select_for_update().select_related("unit").get(pk=case.pk)


def _check_text(value: str, field_name: str, *, required: bool = True, limit: int = 2000) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ServiceError(_("请填写%(field)s。") % {"field": _FIELD_LABELS.get(field_name, field_name)},
                           field=field_name)
    if len(value) > limit:
        raise ServiceError(_("%(field)s不能超过 %(n)s 个字。") % {
            "field": _FIELD_LABELS.get(field_name, field_name), "n": limit}, field=field_name)
    return value


_FIELD_LABELS = {"summary": gettext_lazy("简要案情"), "reason": gettext_lazy("理由"),
                 "title": gettext_lazy("任务内容"), "description": gettext_lazy("证据描述"),
                 "note": gettext_lazy("说明"), "opinion": gettext_lazy("审核意见")}


def _nearest_unit_with(case_unit: Unit, action: str) -> Unit:
    """The closest unit at or above the case's unit where someone holds a sworn role with
    `action` (the legal department, the station chief): that unit's shared inbox gets the item."""
    roles = [key for key, role in access.ROLES.items() if action in role.actions and role.sworn]
    best: Unit | None = None
    for ra in RoleAssignment.objects.filter(active=True, role__in=roles).select_related("unit"):
        root = ra.unit.jurisdiction_path
        if case_unit.path.startswith(root) and (best is None or len(root) > len(best.jurisdiction_path)):
            best = ra.unit
    return best or case_unit


# --------------------------------------------------------------------------- deadlines

def _clock_start(case: Case, clock: str, now: dt.datetime, *, measure: CoerciveMeasure | None = None) -> Deadline:
    policy = deadlines.policy(clock)
    start = case.accepted_at if policy.from_acceptance else now
    period = policy.period
    if clock == "criminal.filing_review" and case.review_track != "standard":
        period = policy.track(case.review_track)
    due = period.end(start)
    return Deadline.objects.create(case=case, unit_id=case.unit_id, clock=clock, measure=measure, started_at=start,
                                   due_at=due, warn_at=due - dt.timedelta(hours=policy.warn_hours))


def _deadlines_stop(actor: User | None, running: Sequence[Deadline] | Any, now: dt.datetime) -> None:
    ids = [d.pk for d in running]
    if not ids:
        return
    Deadline.objects.filter(pk__in=ids).update(stopped_at=now)
    core_services.workitems_close(actor=actor, source_app=APP, source_type="deadline",
                                  source_ids=[str(i) for i in ids])


def _deadline_move(actor: User | None, deadline: Deadline, due: dt.datetime, now: dt.datetime) -> None:
    """A lengthened clock: new due time, and its warnings may go out again."""
    policy = deadlines.policy(deadline.clock)
    deadline.due_at = due
    deadline.warn_at = due - dt.timedelta(hours=policy.warn_hours)
    if due > now:
        deadline.overdue_at = None
        if deadline.warn_at > now:
            deadline.warned_at = None
    deadline.save(update_fields=["due_at", "warn_at", "overdue_at", "warned_at", "extensions"])
    core_services.workitems_close(actor=actor, source_app=APP, source_type="deadline",
                                  source_ids=[str(deadline.pk)])


def _running(case: Case, *, clock: str | None = None, state_clocks: bool = True) -> list[Deadline]:
    qs = Deadline.objects.filter(case=case, stopped_at__isnull=True)
    if clock is not None:
        qs = qs.filter(clock=clock)
    if state_clocks:
        qs = qs.filter(measure__isnull=True)
    return list(qs)


# --------------------------------------------------------------------------- acceptance

def _clean_party(index: int, party: PartyIn) -> tuple[str, Entity | None, str, str]:
    where = f"parties[{index}]"
    if party.role not in PartyRole.values:
        raise ServiceError(_("未知的当事人身份：%(role)s。") % {"role": party.role}, field=f"{where}.role")
    entity = None
    if party.entity_id is not None:
        entity = Entity.objects.filter(pk=party.entity_id).first() if 0 < party.entity_id < 2**63 else None
        if entity is None:
            raise ServiceError(_("没有编号为 %(id)s 的实体。") % {"id": party.entity_id}, field=f"{where}.entity_id")
    name = (party.name or "").strip()
    if len(name) > 100:
        raise ServiceError(_("姓名不能超过 100 个字。"), field=f"{where}.name")
    if entity is None and not name:
        raise ServiceError(_("当事人需要关联实体或填写姓名。"), field=f"{where}.name")
    phone = ""
    if party.phone.strip():
        checked = identifiers.validate_phone(party.phone)
        if checked.valid:
            phone = checked.normalized
        else:
            digits = identifiers.clean_input(party.phone).replace(" ", "")
            if not (digits.isdigit() and 7 <= len(digits) <= 20):
                raise ServiceError(_("电话号码格式不正确：%(phone)s。") % {"phone": party.phone},
                                   field=f"{where}.phone")
            phone = digits
    return party.role, entity, name, phone


def _accept(*, actor: User, unit: Unit, case_type: str, category: str, summary: str, reported_at: dt.datetime,
            origin: str, parties: Sequence[PartyIn], owner: User | None, extra_categories: Sequence[str],
            incident: tuple[str, str, str] | None, now: dt.datetime) -> Acceptance:
    if case_type not in WORKFLOWS:
        raise ServiceError(_("未知的案件类型：%(type)s。") % {"type": case_type}, field="case_type")
    access.check(actor, Action.CASE_RECORD, unit, object_type="case", object_id="new")
    if category not in categories.CATEGORIES[case_type]:
        raise ServiceError(_("案由 %(category)s 不属于%(type)s。") % {
            "category": category, "type": CaseType(case_type).label}, field="category")
    for extra in extra_categories:
        if extra not in categories.CATEGORIES[case_type]:
            raise ServiceError(_("案由 %(category)s 不属于%(type)s。") % {
                "category": extra, "type": CaseType(case_type).label}, field="categories")
    summary = _check_text(summary, "summary")
    if timezone.is_naive(reported_at):
        raise ServiceError(_("报案时间需要带时区。"), field="reported_at")
    if reported_at > now + dt.timedelta(minutes=5):
        raise ServiceError(_("报案时间不能晚于现在。"), field="reported_at")
    cleaned = [_clean_party(i, p) for i, p in enumerate(parties)]
    if owner is not None and not access.can(owner, Action.CASE_INVESTIGATE, unit):
        raise ServiceError(_("%(user)s 不能承办本单位的案件。") % {"user": owner}, field="owner")
    wf = workflow(case_type)
    code = lookup_code_new()
    with transaction.atomic():
        number = case_numbers_reserve(case_type=case_type, unit=unit, year=timezone.localtime(now).year, count=1)[0]
        case = Case.objects.create(
            number=number, case_type=case_type, state=wf.initial, category=category,
            categories=[category, *[c for c in extra_categories if c != category]], summary=summary, unit=unit,
            owner=owner, origin=origin, reported_at=reported_at, accepted_at=now, accepted_by=actor,
            state_entered_at=now, lookup_hash=lookup_hash(code), created_at=now)
        case.unit = unit
        if incident is not None:
            CaseIncident.objects.create(case=case, app=incident[0], incident_id=incident[1], number=incident[2],
                                        linked_at=now)
        CaseParty.objects.bulk_create([CaseParty(case=case, role=role, entity=entity, name=name, phone=phone,
                                                 added_at=now, added_by=actor)
                                       for role, entity, name, phone in cleaned])
        _event(case, actor, EventKind.ACCEPTED, at=now, to_state=wf.initial,
               details={"origin": origin, "incident": incident[2] if incident else ""})
        clock = wf.states[wf.initial].clock
        if clock:
            _clock_start(case, clock, now)
        receipt, receipt_html = _issue(actor, case, Document.RECEIPT, now, lookup_code=code)
        if owner is not None:
            _owner_item(actor, case, owner, now)
        _audit(actor, "case.accept", case, case_type=case_type, category=category, origin=origin,
               incident=f"{incident[0]}:{incident[1]}" if incident else "", parties=len(cleaned))
    return Acceptance(case=case, lookup_code=code, created=True, receipt=receipt, receipt_html=receipt_html)


@access.refusals_audited
def case_accept(*, actor: User, unit: Unit, case_type: str, category: str, summary: str,
                reported_at: dt.datetime, origin: str = Origin.STATION, parties: Sequence[PartyIn] = (),
                owner: User | None = None, extra_categories: Sequence[str] = (),
                now: dt.datetime | None = None) -> Acceptance:
    """Accept a report taken at a station (or online): a new case with its number, its first
    clock running, and a receipt carrying the reporter's lookup code (returned once)."""
    if origin not in (Origin.STATION, Origin.ONLINE):
        raise ServiceError(_("未知的来源：%(origin)s。") % {"origin": origin}, field="origin")
    return _accept(actor=actor, unit=unit, case_type=case_type, category=category, summary=summary,
                   reported_at=reported_at, origin=origin, parties=parties, owner=owner,
                   extra_categories=extra_categories, incident=None, now=_now(now))


@access.refusals_audited
def case_accept_from_incident(*, actor: User, incident_app: str, incident_id: str | int, incident_number: str,
                              unit: Unit, case_type: str, category: str, summary: str, reported_at: dt.datetime,
                              reporter: PartyIn | None = None, parties: Sequence[PartyIn] = (),
                              owner: User | None = None, now: dt.datetime | None = None,
                              notify: bool = True) -> Acceptance:
    """The case side of dispatch's hand-off: the incident (app, id, number) becomes a case
    handled by `unit`. Idempotent: an incident already accepted returns its case
    (created=False, no new lookup code). `reporter` is added as a party with role reporter.
    A new case is reported to the incident app's feed (`IncidentFeed.on_case_accepted`) in
    the same transaction, unless `notify` is False (the app's own intake is calling)."""
    incident_app = (incident_app or "").strip()
    ref = str(incident_id).strip()
    number = (incident_number or "").strip()
    if not incident_app or len(incident_app) > 32:
        raise ServiceError(_("请注明警情来自哪个系统。"), field="incident_app")
    if not ref or len(ref) > 64:
        raise ServiceError(_("警情编号无效。"), field="incident_id")
    if not number or len(number) > 64:
        raise ServiceError(_("警情号无效。"), field="incident_number")
    existing = (CaseIncident.objects.filter(app=incident_app, incident_id=ref)
                .select_related("case__unit").first())
    if existing is not None:
        access.check(actor, Action.CASE_READ, existing.case.unit, object_type="case",
                     object_id=existing.case.number)
        return Acceptance(case=existing.case, lookup_code=None, created=False)
    everyone = [*([] if reporter is None else [PartyIn(PartyRole.REPORTER, reporter.entity_id, reporter.name,
                                                        reporter.phone)]), *parties]
    try:
        with transaction.atomic():
            acceptance = _accept(actor=actor, unit=unit, case_type=case_type, category=category, summary=summary,
                                 reported_at=reported_at, origin=Origin.INCIDENT, parties=everyone, owner=owner,
                                 extra_categories=(), incident=(incident_app, ref, number), now=_now(now))
            feed = incidents.feed_for(incident_app)
            if notify and feed is not None and feed.on_case_accepted is not None:
                feed.on_case_accepted(actor, ref, acceptance.case.number)
            return acceptance
    except IntegrityError:  # the same incident handed over twice at once: the first one won
        linked = CaseIncident.objects.select_related("case__unit").get(app=incident_app, incident_id=ref)
        return Acceptance(case=linked.case, lookup_code=None, created=False)


@dataclass(frozen=True)
class Grouped:
    case: Case
    created: bool
    added: list[str]  # numbers of the incidents linked by this call


@access.refusals_audited
def case_group_incidents(*, actor: User, unit: Unit, incident_app: str, incidents: Sequence[tuple[str, str]],
                         category: str, summary: str, reported_at: dt.datetime,
                         now: dt.datetime | None = None) -> Grouped:
    """并案: incidents another app keeps, given as (id, number) — the reports of one fraud
    network, say — handled as one criminal case. When none of them feeds a case yet, a new
    case of `unit` takes them all (accepted as `case_accept_from_incident` would, its filing
    review clock running); when some already feed one case, that case takes the rest (the
    network grew); incidents already split over two cases are refused. Needs CASE_RECORD
    over the case's unit. One transaction; audited as "case.group" (and "case.accept" when
    the case is new)."""
    incident_app = (incident_app or "").strip()
    if not incident_app or len(incident_app) > 32:
        raise ServiceError(_("请注明警情来自哪个系统。"), field="incident_app")
    refs: dict[str, str] = {}
    for i, (ref, number) in enumerate(incidents):
        ref, number = str(ref).strip(), (number or "").strip()
        if not ref or len(ref) > 64 or not number or len(number) > 64:
            raise ServiceError(_("第 %(n)s 项警情的编号无效。") % {"n": i + 1}, field=f"incidents[{i}]")
        refs[ref] = number
    if len(refs) < 2:
        raise ServiceError(_("并案至少需要两起警情。"), field="incidents")
    now = _now(now)
    with transaction.atomic():
        linked = list(CaseIncident.objects.filter(app=incident_app, incident_id__in=refs)
                      .select_related("case__unit").order_by("case_id"))
        cases = {link.case_id: link.case for link in linked}
        if len(cases) > 1:
            raise ServiceError(_("这些警情已分属 %(cases)s，不能再并为一案。") % {
                "cases": "、".join(sorted(c.number for c in cases.values()))}, field="incidents")
        created = not cases
        if created:
            first = next(iter(refs))
            case = _accept(actor=actor, unit=unit, case_type=CaseType.CRIMINAL, category=category, summary=summary,
                           reported_at=reported_at, origin=Origin.INCIDENT, parties=(), owner=None,
                           extra_categories=(), incident=(incident_app, first, refs[first]), now=now).case
            before = set()
            rest = [ref for ref in refs if ref != first]
        else:
            case = _locked(next(iter(cases.values())))
            access.check(actor, Action.CASE_RECORD, case.unit, object_type="case", object_id=case.number)
            before = {link.incident_id for link in linked}
            rest = [ref for ref in refs if ref not in before]
        CaseIncident.objects.bulk_create([CaseIncident(case=case, app=incident_app, incident_id=ref,
                                                       number=refs[ref], linked_at=now) for ref in rest])
        added = sorted(refs[ref] for ref in refs if ref not in before)
        if added:
            _event(case, actor, EventKind.NOTE, at=now, note=_("并案：%(numbers)s") % {"numbers": "、".join(added)},
                   details={"grouped": added, "app": incident_app})
        _audit(actor, "case.group", case, app=incident_app, added=added, created=created)
    return Grouped(case=case, created=created, added=added)


def _owner_item(actor: User | None, case: Case, owner: User, now: dt.datetime) -> None:
    core_services.workitem_create(
        actor=actor, title=_("承办案件 %(number)s") % {"number": case.number}, kind="cases.case",
        assignee_user=owner, source_app=APP, source_type="case", source_id=str(case.pk), url=_case_url(case.pk),
        dedupe_key=f"cases:owner:{case.pk}:{owner.pk}")


@access.refusals_audited
def case_assign_owner(*, actor: User, case: Case, owner: User, now: dt.datetime | None = None) -> Case:
    """The officer in charge 主办民警; it lands in their inbox."""
    now = _now(now)
    access.check(actor, Action.CASE_INVESTIGATE, case.unit, object_type="case", object_id=case.number)
    if not access.can(owner, Action.CASE_INVESTIGATE, case.unit):
        raise ServiceError(_("%(user)s 不能承办本单位的案件。") % {"user": owner}, field="owner")
    with transaction.atomic():
        case = _locked(case)
        case.owner = owner
        case.save(update_fields=["owner"])
        _event(case, actor, EventKind.NOTE, at=now, details={"owner": owner.get_username()},
               note=_("主办民警：%(user)s") % {"user": owner})
        _owner_item(actor, case, owner, now)
        _audit(actor, "case.assign", case, owner=owner.get_username())
    return case


# --------------------------------------------------------------------------- transitions

def _latest_decision(case: Case, transitions: Sequence[str]) -> CaseEvent | None:
    return (CaseEvent.objects.filter(case=case, kind=EventKind.TRANSITION, transition__in=transitions)
            .order_by("-at", "-pk").first())


def _deciders(event: CaseEvent) -> list[tuple[int, str]]:
    """(user id, role) of everyone who took part in a decision."""
    people: list[tuple[int, str]] = []
    if event.actor_id is not None:
        people.append((event.actor_id, ErrorRole.DECIDER))
    reviewer = event.details.get("legal_reviewer_id")
    if reviewer:
        people.append((int(reviewer), ErrorRole.LEGAL_REVIEWER))
    return people


def _guard(name: str, case: Case, actor: User | None, now: dt.datetime) -> str:
    """Why guard `name` refuses (empty when it allows)."""
    if name == "track_standard":
        return "" if case.review_track == "standard" else _("立案审查期限已延长过。")
    if name == "track_not_complex":
        return "" if case.review_track != "complex" else _("已按重大疑难复杂案件延长。")
    if name == "not_extended":
        running = _running(case, clock="administrative.handling")
        if running and running[0].extensions >= len(deadlines.policy(running[0].clock).extensions):
            return _("办案期限已延长过，不能再延长。")
        return ""
    if name == "reconsideration_window":
        notified = _latest_decision(case, ["notify_decline"])
        decline = _latest_decision(case, ["decline"])
        if decline is not None and Reconsideration.objects.filter(case=case, decision_event=decline).exists():
            return _("该决定已经复议过。")
        days = settings.JINGWU_CASE_RECONSIDERATION_DAYS
        if notified is None or now > notified.at + dt.timedelta(days=days):
            return _("已超过收到通知后 %(days)s 日的复议申请期限。") % {"days": days}
        return ""
    if name == "not_original_decider":
        pending = Reconsideration.objects.filter(case=case, status=ReconsiderationStatus.PENDING).first()
        event = pending.decision_event if pending is not None else None
        if actor is not None and event is not None and actor.pk in {uid for uid, _r in _deciders(event)}:
            return _("参与原决定的人员不能决定复议。")
        return ""
    raise KeyError(name)  # pragma: no cover - the table names only the guards above


def _approved_review(case: Case, subject: str, actor: User | None) -> tuple[LegalReview | None, str]:
    review = (LegalReview.objects.filter(case=case, subject=subject, outcome=ReviewOutcome.APPROVED,
                                         used_by__isnull=True).select_related("reviewer")
              .order_by("-decided_at", "-pk").first())
    if review is None:
        return None, _("需要先经法制审核（%(subject)s）。") % {"subject": Subject(subject).label}
    if actor is not None and review.reviewer_id == actor.pk:
        return None, _("法制审核人不能同时作出该决定。")
    return review, ""


def transition_blockers(case: Case, transition: Transition, actor: User | None,
                        now: dt.datetime | None = None) -> list[str]:
    """Why `transition` cannot be taken now, apart from who may take it: the state, the
    guards and the legal review. Empty when nothing stands in the way."""
    now = _now(now)
    if case.state not in transition.sources:
        return [_("案件当前状态不能进行此操作。")]
    reasons = [r for r in (_guard(g, case, actor, now) for g in transition.guards) if r]
    if transition.legal_review:
        _review, why = _approved_review(case, transition.legal_review, actor)
        if why:
            reasons.append(why)
    return reasons


def _clean_penalty(case: Case, penalty: PenaltyIn | None) -> tuple[dict[str, Any], CaseParty]:
    if penalty is None:
        raise ServiceError(_("请填写处罚内容。"), field="penalty")
    kinds = {"warning": _("警告"), "fine": _("罚款"), "detention": _("行政拘留"),
             "fine_detention": _("罚款并处行政拘留")}
    if penalty.kind not in kinds:
        raise ServiceError(_("未知的处罚种类：%(kind)s。") % {"kind": penalty.kind}, field="penalty.kind")
    fine = penalty.fine_yuan if penalty.kind in ("fine", "fine_detention") else 0
    days = penalty.detention_days if penalty.kind in ("detention", "fine_detention") else 0
    if penalty.kind in ("fine", "fine_detention") and not 1 <= fine <= settings.JINGWU_CASE_MAX_FINE:
        raise ServiceError(_("罚款金额应在 1 至 %(max)s 元之间。") % {"max": settings.JINGWU_CASE_MAX_FINE},
                           field="penalty.fine_yuan")
    if penalty.kind in ("detention", "fine_detention") and not 1 <= days <= 20:
        raise ServiceError(_("行政拘留应在 1 至 20 日之间。"), field="penalty.detention_days")
    party = CaseParty.objects.filter(pk=penalty.party_id, case=case, role=PartyRole.SUSPECT).first()
    if party is None:
        raise ServiceError(_("被处罚人必须是本案的违法行为人。"), field="penalty.party_id")
    return {"kind": penalty.kind, "label": str(kinds[penalty.kind]), "fine_yuan": fine, "detention_days": days,
            "party_id": party.pk}, party


@access.refusals_audited
def case_transition(*, actor: User | None, case: Case, transition: str, note: str = "", reason: str = "",
                    penalty: PenaltyIn | None = None, review_subject: str = "", via: str = "station",
                    now: dt.datetime | None = None) -> CaseEvent:
    """Move a case along its workflow. Refusals: PermissionDenied (the actor may not take the
    transition at this case's unit; audited) or ServiceError naming the field and reason
    (wrong state, a guard, a missing legal review, bad input). `actor` is None only for the
    reporter's own request from the public lookup (via="public")."""
    now = _now(now)
    wf = workflow(case.case_type)
    t = wf.transitions.get(transition)
    if t is None:
        raise ServiceError(_("%(type)s没有“%(key)s”这一操作。") % {"type": CaseType(case.case_type).label,
                                                                "key": transition}, field="transition")
    if actor is None:
        if not (t.public and via == "public"):
            raise PermissionDenied(f"{t.action} needs a signed-in user")
    else:
        access.check(actor, t.action, case.unit, object_type="case", object_id=case.number)
    # Input first: nothing is written when it is wrong.
    extra: dict[str, Any] = {}
    if "reason" in t.needs and reason not in DeclineReason.values:
        raise ServiceError(_("请选择不予立案的理由类别。"), field="reason")
    if "review_subject" in t.needs and review_subject not in t.review_subjects:
        raise ServiceError(_("请选择提请审核的事项。"), field="review_subject")
    note = _check_text(note, "note", required=t.key == "request_reconsideration")
    penalty_fields: dict[str, Any] | None = None
    if "penalty" in t.needs:
        blockers = transition_blockers(case, t, actor, now)
        if blockers:  # before reading the person the decision would name
            raise ServiceError(" ".join(blockers), field="transition")
        penalty_fields, party = _clean_penalty(case, penalty)
        assert actor is not None
        # The decision names the person: reading them needs a stated purpose (and is audited).
        person_read(actor, object_type="case_party", object_id=party.pk, unit=case.unit,
                    details={"case": case.number, "for": "penalty_decision"})
        extra["party_name"] = party.name or (party.entity.display_name if party.entity_id else "")  # type: ignore[union-attr]

    with transaction.atomic():
        case = _locked(case)
        blockers = transition_blockers(case, t, actor, now)
        if blockers:
            raise ServiceError(" ".join(blockers), field="transition")
        review = None
        if t.legal_review:
            review, _why = _approved_review(case, t.legal_review, actor)
        from_state = case.state
        state_before = wf.states[from_state]
        state_after = wf.states[t.target]
        details: dict[str, Any] = {"via": via}
        if review is not None:
            details.update(legal_review_id=review.pk, legal_reviewer_id=review.reviewer_id)
        if reason:
            details["reason"] = reason
        if penalty_fields:
            details["penalty"] = penalty_fields
        if review_subject:
            details["review_subject"] = review_subject
        event = _event(case, actor, EventKind.TRANSITION, at=now, transition=t.key, from_state=from_state,
                       to_state=t.target, decision=t.decision, note=note, details=details)
        if review is not None:
            review.used_by = event
            review.save(update_fields=["used_by"])
            _approval_done(actor, review)

        # The case itself.
        changed = ["state", "state_entered_at"]
        case.state = t.target
        if t.target != from_state:
            case.state_entered_at = now
        if t.target == "filed":
            case.filed_at = case.activity_at = now
            changed += ["filed_at", "activity_at"]
        if t.investigative and case.filed_at is not None:
            case.activity_at = now
            changed.append("activity_at")
        if t.key == "decline":
            case.decline_reason = reason
            changed.append("decline_reason")
        if t.key == "overturn_decline":
            case.decline_reason = ""
            changed.append("decline_reason")
        if penalty_fields:
            case.penalty = penalty_fields
            changed.append("penalty")
        if t.outcome:
            case.outcome = t.outcome
        if state_after.terminal != case.terminal:
            if case.terminal:  # reopened (a reconsideration): the outcome is in question again
                case.outcome = ""
            case.terminal = state_after.terminal
            if case.terminal and case.ended_at is None:
                case.ended_at = now
        changed += ["outcome", "terminal", "ended_at"]
        if t.clock_change in ("verify", "complex"):
            case.review_track = t.clock_change
            changed.append("review_track")
        case.save(update_fields=sorted(set(changed)))

        _clocks_after(actor, case, t, state_before.clock, state_after.clock, state_after.terminal, now)
        _side_effects(actor, case, t, event, note=note, via=via, review_subject=review_subject, now=now)
        if t.document:
            _issue(actor, case, t.document, now, event=event, extra=extra)
        _audit(actor, f"case.{t.key}", case, from_state=from_state, to_state=t.target, via=via,
               legal_review=review.pk if review else None)
    return event


def _clocks_after(actor: User | None, case: Case, t: Transition, before: str | None, after: str | None,
                  terminal: bool, now: dt.datetime) -> None:
    if t.clock_change and after:
        for d in _running(case, clock=after):
            policy = deadlines.policy(d.clock)
            if t.clock_change == "extend":
                d.extensions += 1
                due = policy.extensions[d.extensions - 1].extend(d.due_at)
            else:
                due = policy.track(t.clock_change).end(d.started_at)
            _deadline_move(actor, d, due, now)
    if before != after:
        if before:
            _deadlines_stop(actor, _running(case, clock=before), now)
        if after:
            _clock_start(case, after, now)
    if terminal:
        _deadlines_stop(actor, _running(case, state_clocks=False), now)
        CoerciveMeasure.objects.filter(case=case, ended_at__isnull=True).update(ended_at=now,
                                                                               end_reason=str(t.label))


def _side_effects(actor: User | None, case: Case, t: Transition, event: CaseEvent, *, note: str, via: str,
                  review_subject: str, now: dt.datetime) -> None:
    if t.key == "request_reconsideration":
        decision = _latest_decision(case, ["decline"])
        Reconsideration.objects.create(case=case, requested_at=now, via=via, reason=note, requested_by=actor,
                                       decision_event=decision)
        core_services.workitem_create(
            actor=actor, title=_("复议申请：%(number)s") % {"number": case.number}, kind="cases.reconsideration",
            assignee_unit=_nearest_unit_with(case.unit, Action.CASE_APPROVE), priority=WorkItemPriority.HIGH,
            source_app=APP, source_type="case", source_id=str(case.pk), url=_case_url(case.pk),
            dedupe_key=f"cases:reconsideration:{event.pk}")
    elif t.key in ("uphold_decline", "overturn_decline"):
        pending = Reconsideration.objects.filter(case=case, status=ReconsiderationStatus.PENDING).first()
        if pending is not None:
            pending.status = (ReconsiderationStatus.OVERTURNED if t.overturns else ReconsiderationStatus.UPHELD)
            pending.decided_at, pending.decided_by = now, actor
            pending.save(update_fields=["status", "decided_at", "decided_by"])
            core_services.workitems_close(actor=actor, source_app=APP, source_type="case",
                                          source_ids=[str(case.pk)], kinds=["cases.reconsideration"])
            if t.overturns and pending.decision_event is not None:
                _errors_record(case, pending.decision_event, event, note or str(t.label), now)
    elif t.key == "submit_review":
        _review_open(actor, case, review_subject, note, {}, now)
    elif t.key == "return_investigation":
        returned = LegalReview.objects.filter(case=case, outcome=ReviewOutcome.PENDING,
                                              subject__in=[Subject.TRANSFER, Subject.WITHDRAW])
        ids = [str(r.pk) for r in returned]
        returned.update(outcome=ReviewOutcome.RETURNED, reviewer=actor, decided_at=now, opinion=note)
        core_services.workitems_close(actor=actor, source_app=APP, source_type="legal_review", source_ids=ids)


def _errors_record(case: Case, decision: CaseEvent, overturned_by: CaseEvent, reason: str,
                   now: dt.datetime) -> None:
    EnforcementError.objects.bulk_create(
        [EnforcementError(case=case, unit_id=case.unit_id, decision_event=decision, overturned_by=overturned_by,
                          person_id=uid, role=role, created_at=now, reason=reason)
         for uid, role in _deciders(decision)], ignore_conflicts=True)


# --------------------------------------------------------------------------- legal review

def _review_open(actor: User | None, case: Case, subject: str, proposal: str, details: dict[str, Any],
                 now: dt.datetime) -> LegalReview:
    unit = _nearest_unit_with(case.unit, Action.CASE_LEGAL_REVIEW)
    review = LegalReview.objects.create(case=case, subject=subject, proposal=proposal, details=details,
                                        requested_by=actor, requested_at=now, review_unit=unit)
    _event(case, actor, EventKind.REVIEW, at=now, note=proposal,
           details={"review": review.pk, "subject": subject, "requested": True, **details})
    due = now + dt.timedelta(hours=settings.JINGWU_CASE_LEGAL_REVIEW_HOURS)
    core_services.workitem_create(
        actor=actor, title=_("法制审核：%(number)s %(subject)s") % {"number": case.number,
                                                                "subject": Subject(subject).label},
        kind="cases.legal_review", assignee_unit=unit, priority=WorkItemPriority.HIGH, due_at=due,
        source_app=APP, source_type="legal_review", source_id=str(review.pk), url=_case_url(case.pk),
        dedupe_key=f"cases:legal_review:{review.pk}")
    return review


def _approval_item(actor: User | None, case: Case, review: LegalReview, now: dt.datetime) -> None:
    """The decision an approved review allows, in the inbox of whoever takes it: the chief's
    unit for approvals (审批), the officer in charge for what a sworn officer decides alone."""
    if review.subject == Subject.MEASURE:
        kind = review.details.get("measure", "")
        action = MEASURES[kind].action if kind in MEASURES else Action.CASE_APPROVE
    elif review.subject == Subject.PENALTY and case.state == "fast_track":
        action = Action.CASE_DECIDE
    else:
        action = Action.CASE_APPROVE
    owner = case.owner if case.owner_id is not None and action == Action.CASE_DECIDE else None
    what = review.measure_label if review.subject == Subject.MEASURE else str(Subject(review.subject).label)
    core_services.workitem_create(
        actor=actor, title=_("待决定：%(number)s %(what)s（法制审核已通过）") % {"number": case.number, "what": what},
        kind="cases.approval", assignee_user=owner,
        assignee_unit=None if owner is not None else _nearest_unit_with(case.unit, action),
        priority=WorkItemPriority.HIGH, source_app=APP, source_type="approval", source_id=str(review.pk),
        url=_case_url(case.pk), dedupe_key=f"cases:approval:{review.pk}")


def _approval_done(actor: User | None, review: LegalReview) -> None:
    core_services.workitems_close(actor=actor, source_app=APP, source_type="approval", source_ids=[str(review.pk)])


@access.refusals_audited
def legal_review_request(*, actor: User, case: Case, subject: str, proposal: str = "",
                         measure: str = "", now: dt.datetime | None = None) -> LegalReview:
    """Ask the legal department to review a proposed decision (filing/decline, a coercive
    measure, a penalty). It lands in the nearest legal unit's shared inbox."""
    now = _now(now)
    access.check(actor, Action.CASE_INVESTIGATE, case.unit, object_type="case", object_id=case.number)
    allowed = REVIEW_REQUESTS.get(case.case_type, {})
    if subject not in allowed:
        raise ServiceError(_("%(type)s不需要这项法制审核。") % {"type": CaseType(case.case_type).label},
                           field="subject")
    details: dict[str, Any] = {}
    if subject == Subject.MEASURE:
        if measure not in MEASURES:
            raise ServiceError(_("请选择拟采取的强制措施。"), field="measure")
        details["measure"] = measure
    proposal = _check_text(proposal, "note", required=False)
    with transaction.atomic():
        case = _locked(case)
        if case.state not in allowed[subject]:
            raise ServiceError(_("案件当前状态不能提请这项审核。"), field="subject")
        if LegalReview.objects.filter(case=case, subject=subject, outcome=ReviewOutcome.PENDING).exists():
            raise ServiceError(_("这项审核已在等待中。"), field="subject")
        review = _review_open(actor, case, subject, proposal, details, now)
        _audit(actor, "case.legal_review_request", case, review=review.pk, subject=subject)
    return review


@access.refusals_audited
def legal_review_decide(*, actor: User, review: LegalReview, approve: bool, opinion: str = "",
                        now: dt.datetime | None = None) -> LegalReview:
    """The legal reviewer's word. The one who asked for the review may not give it."""
    now = _now(now)
    case = review.case
    access.check(actor, Action.CASE_LEGAL_REVIEW, case.unit, object_type="legal_review", object_id=review.pk)
    opinion = _check_text(opinion, "opinion", required=not approve)
    with transaction.atomic():
        case = _locked(case)
        review = LegalReview.objects.select_for_update().get(pk=review.pk)
        if review.outcome != ReviewOutcome.PENDING:
            raise ServiceError(_("这项审核已有结论。"), field="review")
        if review.requested_by_id == actor.pk:
            raise ServiceError(_("提请人不能审核自己提请的事项。"), field="review")
        review.outcome = ReviewOutcome.APPROVED if approve else ReviewOutcome.RETURNED
        review.reviewer, review.decided_at, review.opinion = actor, now, opinion
        review.save(update_fields=["outcome", "reviewer", "decided_at", "opinion"])
        _event(case, actor, EventKind.REVIEW, at=now, note=opinion,
               details={"review": review.pk, "subject": review.subject, "outcome": review.outcome})
        core_services.workitems_close(actor=actor, source_app=APP, source_type="legal_review",
                                      source_ids=[str(review.pk)])
        if approve:
            _approval_item(actor, case, review, now)
        _audit(actor, "case.legal_review", case, review=review.pk, subject=review.subject, outcome=review.outcome)
    return review


# --------------------------------------------------------------------------- coercive measures

@access.refusals_audited
def measure_take(*, actor: User, case: Case, kind: str, party_id: int | None = None, note: str = "",
                 now: dt.datetime | None = None) -> CoerciveMeasure:
    """A coercive measure, after an approved legal review proposing it; custody measures
    start their clock (deadlines.py custody.*)."""
    now = _now(now)
    measure = MEASURES.get(kind)
    if measure is None:
        raise ServiceError(_("未知的强制措施：%(kind)s。") % {"kind": kind}, field="kind")
    access.check(actor, measure.action, case.unit, object_type="case", object_id=case.number)
    if case.case_type != CaseType.CRIMINAL:
        raise ServiceError(_("只有刑事案件可以采取强制措施。"), field="kind")
    party = None
    if party_id is not None:
        party = CaseParty.objects.filter(pk=party_id, case=case, role=PartyRole.SUSPECT).first()
        if party is None:
            raise ServiceError(_("强制措施只能对本案嫌疑人采取。"), field="party_id")
    note = _check_text(note, "note", required=False)
    with transaction.atomic():
        case = _locked(case)
        if case.state not in MEASURE_STATES:
            raise ServiceError(_("案件当前状态不能采取强制措施。"), field="kind")
        review = (LegalReview.objects.filter(case=case, subject=Subject.MEASURE, outcome=ReviewOutcome.APPROVED,
                                             used_by__isnull=True, details__measure=kind)
                  .order_by("-decided_at").first())
        if review is None:
            raise ServiceError(_("需要先经法制审核（%(subject)s）。") % {"subject": measure.label}, field="kind")
        if review.reviewer_id == actor.pk:
            raise ServiceError(_("法制审核人不能同时作出该决定。"), field="kind")
        taken = CoerciveMeasure.objects.create(case=case, kind=kind, party=party, decided_by=actor, started_at=now,
                                               review=review)
        event = _event(case, actor, EventKind.MEASURE, at=now, decision=True, note=note,
                       details={"measure": taken.pk, "kind": kind, "legal_review_id": review.pk,
                                "legal_reviewer_id": review.reviewer_id})
        review.used_by = event
        review.save(update_fields=["used_by"])
        _approval_done(actor, review)
        if measure.clock:
            _clock_start(case, measure.clock, now, measure=taken)
        Case.objects.filter(pk=case.pk).update(activity_at=now)
        _audit(actor, "case.measure", case, measure=taken.pk, kind=kind)
    return taken


@access.refusals_audited
def measure_extend(*, actor: User, measure: CoerciveMeasure, note: str = "",
                   now: dt.datetime | None = None) -> Deadline:
    """The next statutory extension of a custody clock (approved by the chief or above)."""
    now = _now(now)
    case = measure.case
    access.check(actor, Action.CASE_APPROVE, case.unit, object_type="case", object_id=case.number)
    with transaction.atomic():
        case = _locked(case)
        deadline = Deadline.objects.select_for_update().filter(measure=measure, stopped_at__isnull=True).first()
        if deadline is None or measure.ended_at is not None:
            raise ServiceError(_("这项措施没有正在计算的期限。"), field="measure")
        policy = deadlines.policy(deadline.clock)
        if deadline.extensions >= len(policy.extensions):
            raise ServiceError(_("已用尽法定的延长次数。"), field="measure")
        deadline.extensions += 1
        _deadline_move(actor, deadline, policy.extensions[deadline.extensions - 1].extend(deadline.due_at), now)
        CoerciveMeasure.objects.filter(pk=measure.pk).update(extensions=F("extensions") + 1)
        _event(case, actor, EventKind.MEASURE, at=now, decision=True, note=note,
               details={"measure": measure.pk, "extended": deadline.extensions,
                        "due_at": deadline.due_at.isoformat()})
        _audit(actor, "case.measure_extend", case, measure=measure.pk, extension=deadline.extensions)
    return deadline


@access.refusals_audited
def measure_end(*, actor: User, measure: CoerciveMeasure, reason: str, now: dt.datetime | None = None) -> None:
    now = _now(now)
    case = measure.case
    access.check(actor, Action.CASE_DECIDE, case.unit, object_type="case", object_id=case.number)
    reason = _check_text(reason, "reason", limit=200)
    with transaction.atomic():
        case = _locked(case)
        if CoerciveMeasure.objects.filter(pk=measure.pk, ended_at__isnull=True).update(
                ended_at=now, end_reason=reason) != 1:
            raise ServiceError(_("这项措施已经结束。"), field="measure")
        _deadlines_stop(actor, list(Deadline.objects.filter(measure=measure, stopped_at__isnull=True)), now)
        _event(case, actor, EventKind.MEASURE, at=now, note=reason, details={"measure": measure.pk, "ended": True})
        _audit(actor, "case.measure_end", case, measure=measure.pk)


# --------------------------------------------------------------------------- tasks, evidence, parties

def _working(case: Case) -> None:
    if case.state not in WORKING_STATES[case.case_type]:
        raise ServiceError(_("案件当前状态不能再添加办案记录。"), field="case")


@access.refusals_audited
def task_assign(*, actor: User, case: Case, title: str, assignee: User, due_at: dt.datetime | None = None,
                now: dt.datetime | None = None) -> CaseTask:
    """An investigation task in the assignee's inbox."""
    now = _now(now)
    access.check(actor, Action.CASE_INVESTIGATE, case.unit, object_type="case", object_id=case.number)
    title = _check_text(title, "title", limit=200)
    if not access.can(assignee, Action.CASE_RECORD, case.unit):
        raise ServiceError(_("%(user)s 不能办理本单位的案件。") % {"user": assignee}, field="assignee")
    if due_at is not None and due_at <= now:
        raise ServiceError(_("任务期限应晚于现在。"), field="due_at")
    with transaction.atomic():
        case = _locked(case)
        _working(case)
        task = CaseTask.objects.create(case=case, title=title, assignee=assignee, due_at=due_at, created_by=actor,
                                       created_at=now)
        _event(case, actor, EventKind.TASK, at=now, note=title,
               details={"task": task.pk, "assignee": assignee.get_username()})
        core_services.workitem_create(
            actor=actor, title=f"{case.number} {title}", kind="cases.task", assignee_user=assignee, due_at=due_at,
            source_app=APP, source_type="task", source_id=str(task.pk), url=_case_url(case.pk),
            dedupe_key=f"cases:task:{task.pk}")
        _audit(actor, "case.task_assign", case, task=task.pk, assignee=assignee.get_username())
    return task


@access.refusals_audited
def task_complete(*, actor: User, task: CaseTask, result: str = "", now: dt.datetime | None = None) -> CaseTask:
    """Done by its assignee (or whoever may investigate the case); an investigative act."""
    now = _now(now)
    case = task.case
    if task.assignee_id != actor.pk:
        access.check(actor, Action.CASE_INVESTIGATE, case.unit, object_type="case_task", object_id=task.pk)
    else:
        access.check(actor, Action.CASE_RECORD, case.unit, object_type="case_task", object_id=task.pk)
    result = _check_text(result, "note", required=False)
    with transaction.atomic():
        case = _locked(case)
        if CaseTask.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(
                status=TaskStatus.DONE, done_at=now, result=result) != 1:
            raise ServiceError(_("该任务已经结束。"), field="task")
        if case.filed_at is not None:
            Case.objects.filter(pk=case.pk).update(activity_at=now)
        _event(case, actor, EventKind.TASK, at=now, note=result, details={"task": task.pk, "done": True})
        core_services.workitems_close(actor=actor, source_app=APP, source_type="task", source_ids=[str(task.pk)])
        _audit(actor, "case.task_complete", case, task=task.pk)
    task.refresh_from_db()
    return task


@access.refusals_audited
def evidence_add(*, actor: User, case: Case, kind: str, description: str,
                 collected_at: dt.datetime | None = None, now: dt.datetime | None = None) -> EvidenceItem:
    now = _now(now)
    access.check(actor, Action.CASE_RECORD, case.unit, object_type="case", object_id=case.number)
    if kind not in EvidenceKind.values:
        raise ServiceError(_("未知的证据种类：%(kind)s。") % {"kind": kind}, field="kind")
    description = _check_text(description, "description")
    collected_at = collected_at or now
    if collected_at > now + dt.timedelta(minutes=5):
        raise ServiceError(_("收集时间不能晚于现在。"), field="collected_at")
    with transaction.atomic():
        case = _locked(case)
        _working(case)
        item = EvidenceItem.objects.create(case=case, kind=kind, description=description,
                                           collected_at=collected_at, collected_by=actor)
        if case.filed_at is not None:
            Case.objects.filter(pk=case.pk).update(activity_at=now)
        _event(case, actor, EventKind.EVIDENCE, at=now, note=description, details={"evidence": item.pk,
                                                                                   "kind": kind})
        _audit(actor, "case.evidence_add", case, evidence=item.pk, kind=kind)
    return item


@access.refusals_audited
def party_add(*, actor: User, case: Case, party: PartyIn, now: dt.datetime | None = None) -> CaseParty:
    now = _now(now)
    access.check(actor, Action.CASE_RECORD, case.unit, object_type="case", object_id=case.number)
    role, entity, name, phone = _clean_party(0, party)
    with transaction.atomic():
        case = _locked(case)
        _working(case)
        added = CaseParty.objects.create(case=case, role=role, entity=entity, name=name, phone=phone, added_at=now,
                                         added_by=actor)
        # The timeline names the role, not the person (it is read without a purpose).
        _event(case, actor, EventKind.PARTY, at=now, details={"party": added.pk, "role": role})
        _audit(actor, "case.party_add", case, party=added.pk, role=role)
    return added


# --------------------------------------------------------------------------- documents

def _issue(actor: User | None, case: Case, kind: str, now: dt.datetime, *, event: CaseEvent | None = None,
           lookup_code: str | None = None, extra: dict[str, Any] | None = None) -> tuple[CaseDocument, str]:
    """Render and keep a document. Returns it and, for a receipt, the HTML with the code
    (for printing now); what is kept never holds the code."""
    count = CaseDocument.objects.filter(case=case, kind=kind).count()
    number = f"{case.number}-{documents.CODES[kind]}{count + 1}"
    context = documents.context_for(case, kind, number=number, issued_at=now, actor=actor, event=event,
                                    extra=extra or {})
    kept = documents.render_body(kind, {**context, "lookup_code": None})
    doc = CaseDocument.objects.create(case=case, kind=kind, number=number, issued_at=now, issued_by=actor,
                                      body_html=kept, sha256=hashlib.sha256(kept.encode()).hexdigest())
    _event(case, actor, EventKind.DOCUMENT, at=now, details={"document": doc.pk, "kind": kind, "number": number})
    shown = documents.render_body(kind, {**context, "lookup_code": lookup_code}) if lookup_code else kept
    return doc, shown


@access.refusals_audited
def receipt_reissue(*, actor: User, case: Case, now: dt.datetime | None = None) -> Acceptance:
    """A new receipt with a new lookup code (the old code stops working): for a reporter
    who lost theirs. The code is returned once."""
    now = _now(now)
    access.check(actor, Action.CASE_RECORD, case.unit, object_type="case", object_id=case.number)
    code = lookup_code_new()
    with transaction.atomic():
        case = _locked(case)
        case.lookup_hash = lookup_hash(code)
        case.save(update_fields=["lookup_hash"])
        doc, html = _issue(actor, case, Document.RECEIPT, now, lookup_code=code)
        _audit(actor, "case.receipt_reissue", case, document=doc.number)
    return Acceptance(case=case, lookup_code=code, created=False, receipt=doc, receipt_html=html)


@access.refusals_audited
def receipt_with_code(*, actor: User, case: Case, code: str) -> str:
    """The receipt's HTML with the lookup code filled in, for printing it again; only with
    the right code (nothing here can recover a code)."""
    access.check(actor, Action.CASE_RECORD, case.unit, object_type="case", object_id=case.number)
    doc = CaseDocument.objects.filter(case=case, kind=Document.RECEIPT).order_by("-issued_at", "-pk").first()
    if doc is None or not _lookup_matches(case.lookup_hash, code):
        raise ServiceError(_("查询码不正确。"), field="code")
    audit.record(actor=actor, action="case.receipt_print", object_type="case", object_id=case.number,
                 unit_code=case.unit.code, details={"document": doc.number})
    context = documents.context_for(case, Document.RECEIPT, number=doc.number, issued_at=doc.issued_at,
                                    actor=doc.issued_by, event=None, extra={})
    normalized = lookup_code_normalize(code)
    return documents.render_body(Document.RECEIPT, {**context, "lookup_code": f"{normalized[:4]}-{normalized[4:]}"})


# --------------------------------------------------------------------------- public lookup

@dataclass(frozen=True)
class LookupResult:
    outcome: str  # found / no_match / throttled
    number: str = ""
    public_status: str = ""
    decline_reason: str = ""
    accepted_on: dt.date | None = None
    updated_on: dt.date | None = None
    may_reconsider: bool = False
    reconsideration_pending: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _window(now: dt.datetime, seconds: int) -> dt.datetime:
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, tz=dt.UTC)


def _throttle_hit(key: str, start: dt.datetime) -> int:
    """Count one attempt against `key` in the window starting at `start`; the new count."""
    for _attempt in range(2):
        if LookupThrottle.objects.filter(key=key, window_start=start).update(count=F("count") + 1):
            break
        try:
            with transaction.atomic():
                LookupThrottle.objects.create(key=key, window_start=start, count=1)
            return 1
        except IntegrityError:  # a concurrent first attempt created it
            continue
    return LookupThrottle.objects.get(key=key, window_start=start).count


def _throttled(client: str, number: str, now: dt.datetime) -> bool:
    start = _window(now, settings.JINGWU_LOOKUP_WINDOW_SECONDS)
    by_client = _throttle_hit(f"ip:{client}"[:120], start)
    by_case = _throttle_hit(f"case:{number}"[:120], start)
    return (by_client > settings.JINGWU_LOOKUP_PER_CLIENT or by_case > settings.JINGWU_LOOKUP_PER_CASE)


def _normalize_number(raw: str) -> str:
    return identifiers.clean_input(raw or "").upper()[:64]


def _public_find(number: str, code: str) -> Case | None:
    """The case only when the number and code both match. Always one hash check, so an
    unknown number costs what a wrong code costs."""
    case = Case.objects.select_related("unit").filter(number=number).first() if number else None
    ok = _lookup_matches(case.lookup_hash if case is not None else "", code)
    return case if ok else None


def _may_reconsider(case: Case, now: dt.datetime) -> bool:
    t = workflow(case.case_type).transitions.get("request_reconsideration")
    return t is not None and not transition_blockers(case, t, None, now)


def public_lookup(*, number: str, code: str, client: str, now: dt.datetime | None = None) -> LookupResult:
    """The reporter's progress lookup: case number + lookup code → the minimal status.
    Unknown numbers and wrong codes give the same result; attempts are counted per client
    address and per number, and every attempt is audited (never the code)."""
    now = _now(now)
    number = _normalize_number(number)
    with transaction.atomic():
        throttled = _throttled(client, number, now)
        case = None if throttled else _public_find(number, code)
        outcome = "throttled" if throttled else ("found" if case is not None else "no_match")
        audit.record(actor=None, action="case.public_lookup", object_type="case", object_id=number,
                     unit_code=case.unit.code if case else "", outcome="allowed" if case else "denied",
                     details={"result": outcome})
    if case is None:
        return LookupResult(outcome=outcome)
    wf = workflow(case.case_type)
    return LookupResult(
        outcome="found", number=case.number, public_status=wf.states[case.state].public,
        decline_reason=case.decline_reason if wf.states[case.state].public == "declined" else "",
        accepted_on=timezone.localtime(case.accepted_at).date(),
        updated_on=timezone.localtime(case.state_entered_at).date(),
        may_reconsider=_may_reconsider(case, now),
        reconsideration_pending=case.state == "reconsideration")


def public_reconsideration_request(*, number: str, code: str, reason: str, client: str,
                                   now: dt.datetime | None = None) -> str:
    """The reporter asks for reconsideration of a decline. Returns "requested",
    "no_match" (number or code wrong), "not_allowed" (not declined, or too late, or asked
    already) or "throttled"; the transition itself is audited, the attempt always."""
    now = _now(now)
    number = _normalize_number(number)
    reason = (reason or "").strip()
    with transaction.atomic():
        throttled = _throttled(client, number, now)
        case = None if throttled else _public_find(number, code)
        outcome = "throttled" if throttled else ("no_match" if case is None else "")
        audit.record(actor=None, action="case.public_reconsideration", object_type="case", object_id=number,
                     unit_code=case.unit.code if case else "", outcome="allowed" if case else "denied",
                     details={"result": outcome or "checked"})
    if case is None:
        return outcome
    if not reason:
        raise ServiceError(_("请填写申请复议的理由。"), field="reason")
    if not _may_reconsider(case, now):
        return "not_allowed"
    case_transition(actor=None, case=case, transition="request_reconsideration", note=reason, via="public", now=now)
    return "requested"


def lookup_throttle_purge(*, now: dt.datetime | None = None) -> int:
    """Drop counters of windows long past (the daily job)."""
    cutoff = _now(now) - dt.timedelta(seconds=2 * settings.JINGWU_LOOKUP_WINDOW_SECONDS)
    deleted, _by_model = LookupThrottle.objects.filter(window_start__lt=cutoff).delete()
    return deleted


# --------------------------------------------------------------------------- the deadline scan

@dataclass(frozen=True)
class ScanReport:
    at: dt.datetime
    warned: int
    overdue: int


_SCAN_CHUNK = 2000


def deadlines_scan(*, actor: User | None = None, now: dt.datetime | None = None) -> ScanReport:
    """Warn before each running deadline and raise an alert once it has passed.

    Set-based: two index range reads (the partial indexes on warn_at and due_at), updates
    by id in chunks, and the inbox items written in bulk. Idempotent: a clock is warned
    and alerted once (warned_at, overdue_at), and each inbox item carries a dedupe key
    (deadline, phase, due time), so a re-run or a concurrent run adds nothing. Items go to
    the case's officer in charge, else to the handling unit's shared inbox."""
    now = _now(now)
    fields = ("pk", "clock", "due_at", "case_id", "case__number", "case__owner_id", "unit_id")
    base = Deadline.objects.filter(stopped_at__isnull=True, overdue_at__isnull=True)
    labels = {key: str(p.label) for key, p in deadlines.policies().items()}
    case_prefix = reverse("cases:list")
    items: list[core_services.NewWorkItem] = []
    warned = overdue = 0
    with transaction.atomic():
        # Overdue first: it stamps every clock past due, so the warning read needs no due_at
        # bound (one would lead SQLite to the other partial index and a walk of every clock).
        for phase, qs in (("overdue", base.filter(due_at__lte=now)),
                          ("warn", base.filter(warned_at__isnull=True, warn_at__lte=now))):
            rows = list(qs.values_list(*fields))
            stamp = {"overdue_at": now} if phase == "overdue" else {"warned_at": now}
            for i in range(0, len(rows), _SCAN_CHUNK):
                Deadline.objects.filter(pk__in=[r[0] for r in rows[i:i + _SCAN_CHUNK]]).update(**stamp)
            for pk, clock, due, case_id, number, owner_id, unit_id in rows:
                local_due = timezone.localtime(due).strftime("%Y-%m-%d %H:%M")
                if phase == "overdue":
                    title = _("【已超期】%(number)s %(clock)s（%(due)s 到期）")
                else:
                    title = _("【即将到期】%(number)s %(clock)s（%(due)s 到期）")
                items.append(core_services.NewWorkItem(
                    title=title % {"number": number, "clock": labels.get(clock, clock), "due": local_due},
                    kind=f"cases.deadline_{phase}", dedupe_key=f"cases:deadline:{pk}:{phase}:{int(due.timestamp())}",
                    assignee_user_id=owner_id, assignee_unit_id=None if owner_id else unit_id,
                    priority=WorkItemPriority.URGENT if phase == "overdue" else WorkItemPriority.HIGH,
                    due_at=due, source_app=APP, source_type="deadline", source_id=str(pk),
                    url=f"{case_prefix}{case_id}/"))
            if phase == "overdue":
                overdue = len(rows)
            else:
                warned = len(rows)
        core_services.workitems_create_many(actor=actor, items=items)
        audit.record(actor=actor, action="case.deadline_scan", object_type="deadline",
                     details={"at": now.isoformat(), "warned": warned, "overdue": overdue})
    return ScanReport(at=now, warned=warned, overdue=overdue)
