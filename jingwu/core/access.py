"""The one place that answers "may this actor do this to this object".

Roles and their actions are the table `ROLES`. A role is held *at* a unit; its
jurisdiction is that unit's subtree (a functional department works for the unit it
sits in). Every queryset of scoped data goes through `scope()`, every single-object
decision through `check()`, which audits denials.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

    from jingwu.core.models import Unit, User

M = TypeVar("M", bound=Model)
P = ParamSpec("P")
R = TypeVar("R")


class Action:
    """Action names. Modules add theirs here so the table stays the single truth."""

    PORTAL_USE = "portal.use"  # sign in, see own inbox
    WORKITEM_READ_UNIT = "workitem.read_unit"  # see the unit's shared tasks
    WORKITEM_ASSIGN = "workitem.assign"
    PERSON_READ = "person.read"
    PERSON_READ_FULL_ID = "person.read_full_id"  # ID numbers unmasked
    SEARCH_QUERY = "search.query"
    RECORDS_IMPORT = "records.import"
    RECORDS_PUSH = "records.push"  # a partner system pushes batches to the source(s) bound to it
    RECORDS_LINK_REVIEW = "records.link_review"
    INCIDENT_RECORD = "incident.record"
    INCIDENT_DISPATCH = "incident.dispatch"
    INCIDENT_COMMAND = "incident.command"
    CALL_INTAKE = "dispatch.call_intake"  # telephony: calls into the 110 centre
    POSITION_REPORT = "dispatch.position_report"  # vehicle terminals: patrol unit positions
    DIVERSION_FEEDBACK = "dispatch.diversion_feedback"  # receiving agencies: answers on diverted calls
    CASE_READ = "case.read"  # see cases and their timelines (parties still need a purpose)
    CASE_RECORD = "case.record"
    CASE_INVESTIGATE = "case.investigate"
    CASE_DECIDE = "case.decide"  # filing, declining, penalty, coercive measures
    CASE_APPROVE = "case.approve"  # approvals the law reserves to the chief or above
    CASE_LEGAL_REVIEW = "case.legal_review"
    FRAUD_REPORT = "fraud.report"
    FRAUD_STOP_PAYMENT = "fraud.stop_payment"
    FRAUD_ANALYSE = "fraud.analyse"
    FRAUD_LISTS_MANAGE = "fraud.lists_manage"  # watch lists and early-warning rule sets
    WARNING_HANDLE = "warning.handle"
    WARNING_SIGNAL_PUSH = "warning.signal_push"  # partners (telecoms, banks): early-warning signals
    SUPERVISION_READ = "supervision.read"
    BRIEFING_READ = "briefing.read"
    AUDIT_READ = "audit.read"
    USER_MANAGE = "user.manage"
    UNIT_MANAGE = "unit.manage"


# Enforcement decisions: the decider must be a sworn officer, never an auxiliary one.
DECIDING_ACTIONS = frozenset({Action.CASE_DECIDE, Action.CASE_APPROVE, Action.CASE_LEGAL_REVIEW,
                              Action.FRAUD_STOP_PAYMENT, Action.INCIDENT_COMMAND})


@dataclass(frozen=True)
class Role:
    key: str
    label: _StrPromise | str
    actions: frozenset[str]
    sworn: bool = True  # False for auxiliary officers and outside parties


_A = Action
_OFFICER = {_A.PORTAL_USE, _A.WORKITEM_READ_UNIT, _A.PERSON_READ, _A.SEARCH_QUERY, _A.INCIDENT_RECORD,
            _A.CASE_READ, _A.CASE_RECORD, _A.CASE_INVESTIGATE, _A.FRAUD_REPORT, _A.WARNING_HANDLE}

ROLES: dict[str, Role] = {r.key: r for r in [
    Role("officer", _("民警"), frozenset(_OFFICER)),
    Role("auxiliary", _("辅警"), frozenset({_A.PORTAL_USE, _A.PERSON_READ, _A.INCIDENT_RECORD,
                                          _A.CASE_READ, _A.CASE_RECORD, _A.FRAUD_REPORT,
                                          _A.WARNING_HANDLE}), sworn=False),
    Role("station_chief", _("所长"), frozenset(_OFFICER | {_A.CASE_DECIDE, _A.CASE_APPROVE, _A.WORKITEM_ASSIGN,
                                                         _A.SUPERVISION_READ, _A.BRIEFING_READ})),
    Role("investigator", _("侦查员"), frozenset(_OFFICER | {_A.CASE_DECIDE, _A.PERSON_READ_FULL_ID})),
    Role("legal_reviewer", _("法制员"), frozenset({_A.PORTAL_USE, _A.WORKITEM_READ_UNIT, _A.PERSON_READ,
                                                _A.SEARCH_QUERY, _A.CASE_READ, _A.CASE_LEGAL_REVIEW})),
    Role("dispatcher", _("接警员"), frozenset({_A.PORTAL_USE, _A.WORKITEM_READ_UNIT, _A.INCIDENT_RECORD,
                                             _A.INCIDENT_DISPATCH, _A.SEARCH_QUERY})),
    Role("commander", _("指挥长"), frozenset({_A.PORTAL_USE, _A.WORKITEM_READ_UNIT, _A.WORKITEM_ASSIGN,
                                            _A.INCIDENT_RECORD, _A.INCIDENT_DISPATCH, _A.INCIDENT_COMMAND,
                                            _A.SEARCH_QUERY, _A.PERSON_READ, _A.BRIEFING_READ,
                                            _A.SUPERVISION_READ})),
    Role("fraud_analyst", _("反诈分析员"), frozenset({_A.PORTAL_USE, _A.WORKITEM_READ_UNIT, _A.PERSON_READ,
                                                  _A.SEARCH_QUERY, _A.FRAUD_REPORT, _A.FRAUD_STOP_PAYMENT,
                                                  _A.FRAUD_ANALYSE, _A.FRAUD_LISTS_MANAGE, _A.WARNING_HANDLE,
                                                  _A.CASE_READ, _A.CASE_RECORD})),  # 串并案: a network as a case
    Role("inspector", _("督察"), frozenset({_A.PORTAL_USE, _A.WORKITEM_READ_UNIT, _A.SUPERVISION_READ, _A.CASE_READ,
                                          _A.AUDIT_READ, _A.BRIEFING_READ})),
    Role("data_steward", _("数据管理员"), frozenset({_A.PORTAL_USE, _A.WORKITEM_READ_UNIT, _A.PERSON_READ,
                                                  _A.PERSON_READ_FULL_ID, _A.SEARCH_QUERY, _A.RECORDS_IMPORT,
                                                  _A.RECORDS_LINK_REVIEW})),
    Role("administrator", _("系统管理员"), frozenset({_A.PORTAL_USE, _A.USER_MANAGE, _A.UNIT_MANAGE,
                                                   _A.AUDIT_READ})),
    # The 110 centre's own systems (telephony, vehicle positioning, agency link): feeds only.
    Role("dispatch_gateway", _("110接处警接口"), frozenset({_A.CALL_INTAKE, _A.POSITION_REPORT,
                                                      _A.DIVERSION_FEEDBACK}), sworn=False),
    # Outside parties: API credentials limited to their own feed (records.services checks
    # that the source is bound to the partner; the token's scopes say which endpoints).
    Role("partner", _("合作单位系统"), frozenset({_A.RECORDS_PUSH, _A.WARNING_SIGNAL_PUSH}), sworn=False),
]}

# Guard: no non-sworn role may ever carry a deciding action.
assert not any(r.actions & DECIDING_ACTIONS for r in ROLES.values() if not r.sworn)


def role_choices() -> list[tuple[str, str]]:
    return [(r.key, str(r.label)) for r in ROLES.values()]


def _assignments(actor: User) -> list[tuple[str, Unit]]:
    """(role, unit) pairs the actor holds, cached on the user object for the request."""
    cached: list[tuple[str, Unit]] | None = getattr(actor, "_jingwu_roles", None)
    if cached is None:
        if not actor.is_authenticated or not actor.is_active:
            cached = []
        else:
            cached = [(ra.role, ra.unit) for ra in
                      actor.role_assignments.filter(active=True).select_related("unit")]
        actor._jingwu_roles = cached  # type: ignore[attr-defined]
    return cached


def forget(actor: User) -> None:
    """Drop the per-object role cache after roles change."""
    if hasattr(actor, "_jingwu_roles"):
        del actor._jingwu_roles


def roles_of(actor: User) -> set[str]:
    return {role for role, _unit in _assignments(actor)}


def jurisdictions(actor: User, action: str) -> list[str]:
    """Unit paths under which the actor may take `action` (minimal set, no nesting)."""
    deciding = action in DECIDING_ACTIONS
    # The sworn check repeats the import-time guard at run time: that one is an
    # `assert` (gone under -O) and the table can be patched; the rule cannot.
    paths = sorted({unit.jurisdiction_path for role, unit in _assignments(actor)
                    if role in ROLES and action in ROLES[role].actions
                    and not (deciding and not ROLES[role].sworn)})
    minimal: list[str] = []
    for p in paths:
        if not any(p.startswith(m) for m in minimal):
            minimal.append(p)
    return minimal


def can(actor: User, action: str, unit: Unit | None = None) -> bool:
    """May `actor` take `action` on something belonging to `unit`?

    With `unit=None` the question is whether the actor may take the action anywhere
    (menus, list pages that are then scoped)."""
    roots = jurisdictions(actor, action)
    if unit is None:
        return bool(roots)
    return any(unit.path.startswith(root) for root in roots)


def may_decide(actor: User, unit: Unit) -> bool:
    """An enforcement decision needs a sworn role holding CASE_DECIDE over the unit."""
    return can(actor, Action.CASE_DECIDE, unit)


def check(actor: User, action: str, unit: Unit | None = None, *, object_type: str = "",
          object_id: str | int = "", request: Any = None, purpose: str = "") -> None:
    """Raise PermissionDenied (and audit the denial) unless `can()` allows it."""
    if can(actor, action, unit):
        return
    deny(actor, action, unit, object_type=object_type, object_id=object_id, request=request, purpose=purpose)


class Refused(PermissionDenied):
    """A refusal by `deny`, carrying its audit entry. The entry is written at once — or, inside a
    transaction (which may roll back and take the entry with it), when the transaction commits or
    when the refusal has left it: `refusals_audited` services, the page middleware and the API's
    error handler call `audit_refusal`."""

    def __init__(self, action: str, entry: dict[str, Any]) -> None:
        super().__init__(f"{action} not permitted")
        self.entry = entry
        self.audited = False


def _in_transaction() -> bool:
    from django.db import connection

    # A test case's own wrapping transaction does not count: it never commits, but nor does it
    # roll back under the code being tested.
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def audit_refusal(exc: BaseException, *, committed: bool = False) -> None:
    """Write a refusal's audit entry if it is still owed and no transaction can lose it."""
    if not isinstance(exc, Refused) or exc.audited or (_in_transaction() and not committed):
        return
    from jingwu.core import audit

    exc.audited = True
    audit.record(**exc.entry)


def refusals_audited(service: Callable[P, R]) -> Callable[P, R]:
    """For a service that checks access inside its transaction: the refusal's audit entry is
    written after the transaction has rolled back."""

    @functools.wraps(service)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return service(*args, **kwargs)
        except Refused as refusal:
            audit_refusal(refusal)
            raise

    return wrapper


def deny(actor: User, action: str, unit: Unit | None = None, *, object_type: str = "",
         object_id: str | int = "", request: Any = None, purpose: str = "") -> NoReturn:
    """Audit a refused attempt (see Refused for when) and raise PermissionDenied."""
    from django.db import transaction

    refusal = Refused(action, {"actor": actor, "action": action, "object_type": object_type,
                               "object_id": str(object_id), "unit_code": unit.code if unit is not None else "",
                               "purpose": purpose, "outcome": "denied", "request": request})
    if _in_transaction():
        # Committed after all (the refusal was caught inside): the entry is written then.
        transaction.on_commit(lambda: audit_refusal(refusal, committed=True))
    else:
        audit_refusal(refusal)
    raise refusal


def scope(actor: User, action: str, queryset: QuerySet[M], unit_field: str = "unit") -> QuerySet[M]:
    """Restrict `queryset` to rows whose unit lies within the actor's jurisdiction for `action`."""
    roots = jurisdictions(actor, action)
    if not roots:
        return queryset.none()
    lookup = f"{unit_field}__path__startswith"
    return queryset.filter(reduce(lambda a, b: a | b, (Q(**{lookup: r}) for r in roots)))


def scope_units(actor: User, action: str, units: Iterable[Unit]) -> list[Unit]:
    return [u for u in units if can(actor, action, u)]


def needs_second_factor(actor: User) -> bool:
    from django.conf import settings

    return bool(roles_of(actor) & set(settings.JINGWU_2FA_ROLES))


def masks_id_numbers(actor: User, unit: Unit | None = None) -> bool:
    """ID numbers are shown masked unless the role needs them."""
    return not can(actor, Action.PERSON_READ_FULL_ID, unit)
