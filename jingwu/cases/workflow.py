"""The case workflows, one table per case type: states, transitions, the action each
transition needs (held over the case's unit, see core.access), its guards, and the
deadline clock each state runs.

The table is data. services.case_transition() is the only code that moves a case, and it
does exactly what a row here says: the action, then the guards, then the move, the clock,
the document. Guards named here are checked in services.py (`GUARDS`):

- legal_review=SUBJECT: an approved, unused legal review 法制审核 of that subject, by
  someone other than the one taking the transition (filing decisions, coercive measures,
  penalty decisions, transfer for prosecution, withdrawal);
- "track_standard" / "track_not_complex": filing review may be lengthened once to 7 days
  (clues to verify) and once to 30 (complex, approved);
- "not_extended": the administrative 30 days may be extended once, by 30 (approved);
- "reconsideration_window": a reconsideration 复议 request within 7 days of the notice;
- "not_original_decider": a reconsideration is decided by someone who took no part in
  the decision under reconsideration.

Deciding actions (CASE_DECIDE, CASE_APPROVE, CASE_LEGAL_REVIEW) are never held by an
auxiliary officer: core.access refuses them to non-sworn roles whatever the role table says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

from jingwu.core.access import Action

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise


class CaseType(models.TextChoices):
    CRIMINAL = "criminal", _("刑事案件")
    ADMINISTRATIVE = "administrative", _("行政（治安）案件")
    DISPUTE = "dispute", _("纠纷")


class PublicStatus(models.TextChoices):
    """What the reporter sees in the public lookup: nothing more."""

    ACCEPTED = "accepted", _("已受理")
    UNDER_REVIEW = "under_review", _("审查中")
    FILED = "filed", _("已立案")
    INVESTIGATING = "investigating", _("办理中")
    DECIDED = "decided", _("已作出处理决定")
    TRANSFERRED = "transferred", _("已移送审查起诉")
    DECLINED = "declined", _("不予立案")
    CLOSED = "closed", _("已办结")


class Subject(models.TextChoices):
    """What a legal review 法制审核 is of."""

    FILING = "filing", _("立案/不予立案决定")
    MEASURE = "measure", _("强制措施")
    PENALTY = "penalty", _("处罚决定")
    TRANSFER = "transfer", _("移送审查起诉")
    WITHDRAW = "withdraw", _("撤销案件")


class DeclineReason(models.TextChoices):
    """The reason category of a decline, shown to the reporter."""

    NO_CRIME = "no_crime", _("没有犯罪事实")
    MINOR = "minor", _("情节显著轻微、危害不大，不认为是犯罪")
    LIMITATION = "limitation", _("已过追诉时效期限")
    NOT_OURS = "not_ours", _("不属于公安机关管辖，已移送主管机关")
    OTHER = "other", _("其他依法不追究刑事责任的情形")


class Document(models.TextChoices):
    RECEIPT = "receipt", _("受案回执")
    DECLINE_NOTICE = "decline_notice", _("不予立案通知书")
    FILING_DECISION = "filing_decision", _("立案决定书")
    PENALTY_DECISION = "penalty_decision", _("行政处罚决定书")


@dataclass(frozen=True)
class State:
    key: str
    label: _StrPromise | str
    public: str
    # The deadline clock that runs while the case is here. Consecutive states naming the
    # same clock keep one clock running (filing review spans accepted and filing_review).
    clock: str | None = None
    # The loop has reached an outcome here: no decision of ours is pending.
    terminal: bool = False


@dataclass(frozen=True)
class Transition:
    key: str
    label: _StrPromise | str
    sources: frozenset[str]
    target: str
    action: str
    legal_review: str | None = None  # Subject whose approved legal review must precede it
    guards: tuple[str, ...] = ()
    # Input it needs: "reason" (a DeclineReason), "penalty" (what is imposed),
    # "review_subject" (which legal review the submission asks for).
    needs: tuple[str, ...] = ()
    document: str | None = None  # issued on taking it
    clock_change: str | None = None  # "verify", "complex", "extend": the running clock is lengthened
    decision: bool = False  # an enforcement decision: its deciders answer for it (执法过错)
    overturns: bool = False  # reverses the decision under reconsideration
    investigative: bool = False  # counts as investigative activity (立而不侦)
    public: bool = False  # the reporter may take it from the public lookup
    outcome: str = ""  # recorded on the case when it ends the loop
    review_subjects: tuple[str, ...] = ()  # a submission for review may ask for these


@dataclass(frozen=True)
class Workflow:
    case_type: str
    initial: str
    states: dict[str, State]
    transitions: dict[str, Transition]
    letter: str  # the case number's first letter

    def available(self, state: str) -> list[Transition]:
        return [t for t in self.transitions.values() if state in t.sources]

    def edges(self) -> set[tuple[str, str]]:
        return {(s, t.target) for t in self.transitions.values() for s in t.sources}

    def reachable(self) -> set[str]:
        seen = {self.initial}
        frontier = [self.initial]
        while frontier:
            state = frontier.pop()
            for t in self.available(state):
                if t.target not in seen:
                    seen.add(t.target)
                    frontier.append(t.target)
        return seen


def _states(*states: State) -> dict[str, State]:
    return {s.key: s for s in states}


def _transitions(*transitions: Transition) -> dict[str, Transition]:
    return {t.key: t for t in transitions}


def _t(key: str, label: _StrPromise | str, sources: str, target: str, action: str, **kw: object) -> Transition:
    return Transition(key, label, frozenset(sources.split()), target, action, **kw)  # type: ignore[arg-type]


_A = Action
_P = PublicStatus

CRIMINAL = Workflow(
    case_type=CaseType.CRIMINAL,
    initial="accepted",
    letter="A",
    states=_states(
        State("accepted", _("已受案"), _P.ACCEPTED, clock="criminal.filing_review"),
        State("filing_review", _("立案审查"), _P.UNDER_REVIEW, clock="criminal.filing_review"),
        State("filed", _("已立案"), _P.FILED, clock="criminal.investigation"),
        State("declined", _("不予立案（待告知）"), _P.DECLINED, clock="criminal.decline_notice"),
        State("decline_notified", _("不予立案（已告知）"), _P.DECLINED, terminal=True),
        State("reconsideration", _("复议中"), _P.UNDER_REVIEW, clock="criminal.reconsideration"),
        State("investigation", _("侦查中"), _P.INVESTIGATING, clock="criminal.investigation"),
        State("legal_review", _("法制审核中"), _P.INVESTIGATING, clock="criminal.investigation"),
        State("transferred", _("已移送审查起诉"), _P.TRANSFERRED, terminal=True),
        State("withdrawn", _("已撤销案件"), _P.CLOSED, terminal=True),
        State("closed", _("已结案"), _P.CLOSED, terminal=True),
    ),
    transitions=_transitions(
        _t("begin_review", _("开始立案审查"), "accepted", "filing_review", _A.CASE_INVESTIGATE),
        _t("verify_clues", _("需核查线索（审查期限延至7日）"), "filing_review", "filing_review",
           _A.CASE_INVESTIGATE, guards=("track_standard",), clock_change="verify"),
        _t("mark_complex", _("重大疑难复杂（经批准延至30日）"), "filing_review", "filing_review",
           _A.CASE_APPROVE, guards=("track_not_complex",), clock_change="complex"),
        _t("file", _("决定立案"), "filing_review", "filed", _A.CASE_APPROVE, legal_review=Subject.FILING,
           document=Document.FILING_DECISION, decision=True),
        _t("decline", _("决定不予立案"), "filing_review", "declined", _A.CASE_APPROVE,
           legal_review=Subject.FILING, needs=("reason",), document=Document.DECLINE_NOTICE, decision=True,
           outcome="declined"),
        _t("notify_decline", _("已告知报案人"), "declined", "decline_notified", _A.CASE_RECORD),
        _t("request_reconsideration", _("申请复议"), "decline_notified", "reconsideration", _A.CASE_RECORD,
           guards=("reconsideration_window",), public=True),
        _t("uphold_decline", _("复议维持不予立案"), "reconsideration", "decline_notified", _A.CASE_APPROVE,
           guards=("not_original_decider",), decision=True, outcome="declined"),
        _t("overturn_decline", _("复议撤销原决定并立案"), "reconsideration", "filed", _A.CASE_APPROVE,
           legal_review=Subject.FILING, guards=("not_original_decider",), document=Document.FILING_DECISION,
           decision=True, overturns=True),
        _t("start_investigation", _("开始侦查"), "filed", "investigation", _A.CASE_INVESTIGATE, investigative=True),
        _t("submit_review", _("侦查终结，提请法制审核"), "investigation", "legal_review", _A.CASE_INVESTIGATE,
           needs=("review_subject",), review_subjects=(Subject.TRANSFER, Subject.WITHDRAW)),
        _t("return_investigation", _("退回补充侦查"), "legal_review", "investigation", _A.CASE_LEGAL_REVIEW),
        _t("transfer", _("移送审查起诉"), "legal_review", "transferred", _A.CASE_APPROVE,
           legal_review=Subject.TRANSFER, decision=True, outcome="transferred"),
        _t("withdraw", _("撤销案件"), "legal_review", "withdrawn", _A.CASE_APPROVE, legal_review=Subject.WITHDRAW,
           decision=True, outcome="withdrawn"),
        _t("close", _("结案归档"), "transferred withdrawn", "closed", _A.CASE_INVESTIGATE),
    ),
)

ADMINISTRATIVE = Workflow(
    case_type=CaseType.ADMINISTRATIVE,
    initial="accepted",
    letter="B",
    states=_states(
        State("accepted", _("已受案"), _P.ACCEPTED, clock="administrative.handling"),
        State("investigation", _("调查中"), _P.INVESTIGATING, clock="administrative.handling"),
        State("fast_track", _("快速办理"), _P.INVESTIGATING, clock="administrative.fast_track"),
        State("penalty_decided", _("已作出处罚决定"), _P.DECIDED, clock="administrative.execution"),
        State("executed", _("已执行"), _P.DECIDED, terminal=True),
        State("closed", _("已结案"), _P.CLOSED, terminal=True),
    ),
    transitions=_transitions(
        _t("investigate", _("开始调查"), "accepted", "investigation", _A.CASE_INVESTIGATE, investigative=True),
        _t("fast_track", _("适用快速办理"), "accepted", "fast_track", _A.CASE_INVESTIGATE, investigative=True),
        _t("leave_fast_track", _("转为一般程序"), "fast_track", "investigation", _A.CASE_INVESTIGATE),
        _t("extend", _("延长办案期限（经批准延长30日）"), "investigation", "investigation", _A.CASE_APPROVE,
           guards=("not_extended",), clock_change="extend"),
        _t("penalize", _("作出处罚决定"), "investigation", "penalty_decided", _A.CASE_APPROVE,
           legal_review=Subject.PENALTY, needs=("penalty",), document=Document.PENALTY_DECISION, decision=True),
        _t("penalize_fast", _("快办处罚决定"), "fast_track", "penalty_decided", _A.CASE_DECIDE,
           legal_review=Subject.PENALTY, needs=("penalty",), document=Document.PENALTY_DECISION, decision=True),
        _t("no_penalty", _("决定不予处罚"), "investigation", "closed", _A.CASE_APPROVE,
           legal_review=Subject.PENALTY, decision=True, outcome="no_penalty"),
        _t("execute", _("处罚执行完毕"), "penalty_decided", "executed", _A.CASE_INVESTIGATE, outcome="penalized"),
        _t("close", _("结案归档"), "executed", "closed", _A.CASE_INVESTIGATE),
    ),
)

DISPUTE = Workflow(
    case_type=CaseType.DISPUTE,
    initial="accepted",
    letter="C",
    states=_states(
        State("accepted", _("已受理"), _P.ACCEPTED, clock="dispute.mediation"),
        State("mediation", _("调解中"), _P.INVESTIGATING, clock="dispute.mediation"),
        State("closed", _("已办结"), _P.CLOSED, terminal=True),
    ),
    transitions=_transitions(
        _t("mediate", _("开始调解"), "accepted", "mediation", _A.CASE_INVESTIGATE),
        _t("settle", _("调解达成协议"), "mediation", "closed", _A.CASE_INVESTIGATE, outcome="settled"),
        _t("close_unsettled", _("调解不成，告知其他途径"), "mediation", "closed", _A.CASE_INVESTIGATE,
           outcome="unsettled"),
        _t("refer", _("移交其他部门处理"), "accepted", "closed", _A.CASE_INVESTIGATE, outcome="referred"),
    ),
)

WORKFLOWS: dict[str, Workflow] = {w.case_type: w for w in (CRIMINAL, ADMINISTRATIVE, DISPUTE)}


def workflow(case_type: str) -> Workflow:
    return WORKFLOWS[case_type]


@dataclass(frozen=True)
class Measure:
    """A coercive measure 强制措施 (criminal cases, during investigation)."""

    key: str
    label: _StrPromise | str
    action: str
    clock: str | None  # custody clock it starts
    custody: bool = False


# Every measure needs an approved legal review of Subject.MEASURE first.
MEASURES: dict[str, Measure] = {m.key: m for m in (
    Measure("summons", _("拘传"), _A.CASE_DECIDE, None),
    Measure("bail", _("取保候审"), _A.CASE_APPROVE, "custody.bail"),
    Measure("surveillance", _("监视居住"), _A.CASE_APPROVE, "custody.surveillance"),
    Measure("detention", _("刑事拘留"), _A.CASE_APPROVE, "custody.detention", custody=True),
    Measure("arrest", _("逮捕（经检察院批准）"), _A.CASE_APPROVE, "custody.arrest", custody=True),
)}
MEASURE_STATES = frozenset({"investigation"})  # criminal states where measures may be taken

# Which case types and states may ask for a legal review of which subject (the
# submission for review before transfer asks for its own, see `submit_review`).
REVIEW_REQUESTS: dict[str, dict[str, frozenset[str]]] = {
    CaseType.CRIMINAL: {
        Subject.FILING: frozenset({"filing_review", "reconsideration"}),
        Subject.MEASURE: MEASURE_STATES,
    },
    CaseType.ADMINISTRATIVE: {
        Subject.PENALTY: frozenset({"investigation", "fast_track"}),
    },
}

# Investigation tasks, evidence and parties may be added while a case is in these states.
WORKING_STATES: dict[str, frozenset[str]] = {
    CaseType.CRIMINAL: frozenset({"accepted", "filing_review", "filed", "investigation", "legal_review",
                                  "reconsideration"}),
    CaseType.ADMINISTRATIVE: frozenset({"accepted", "investigation", "fast_track", "penalty_decided"}),
    CaseType.DISPUTE: frozenset({"accepted", "mediation"}),
}


def _check_tables() -> list[str]:
    problems = []
    for wf in WORKFLOWS.values():
        if wf.initial not in wf.states:
            problems.append(f"{wf.case_type}: initial state {wf.initial} missing")
        for t in wf.transitions.values():
            for s in (*t.sources, t.target):
                if s not in wf.states:
                    problems.append(f"{wf.case_type}.{t.key}: unknown state {s}")
            if t.decision and t.action not in (_A.CASE_DECIDE, _A.CASE_APPROVE):
                problems.append(f"{wf.case_type}.{t.key}: a decision needs a deciding action")
        unreachable = set(wf.states) - wf.reachable()
        if unreachable:
            problems.append(f"{wf.case_type}: unreachable states {sorted(unreachable)}")
    return problems


_PROBLEMS = _check_tables()
if _PROBLEMS:  # pragma: no cover - a broken table is a programming error
    raise ImportError("; ".join(_PROBLEMS))
