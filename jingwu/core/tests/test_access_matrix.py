"""The access policy stated a second time, by hand, and checked against `core.access`.

EXPECTED is written out on purpose rather than derived from `access.ROLES`: a change
to the role table must be made twice (there and here) to pass, so no one widens a
role by accident."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from jingwu.core import access, services
from jingwu.core.models import AuditEntry, RoleAssignment, Unit, User, WorkItem
from jingwu.core.tests.factories import Tree, make_tree, make_user

pytestmark = pytest.mark.django_db

_OFFICER = {"portal.use", "workitem.read_unit", "person.read", "search.query", "incident.record", "case.read",
            "case.record", "case.investigate", "fraud.report", "warning.handle"}

EXPECTED: dict[str, set[str]] = {
    "officer": _OFFICER,
    "auxiliary": {"portal.use", "person.read", "incident.record", "case.read", "case.record", "fraud.report",
                  "warning.handle"},
    "station_chief": _OFFICER | {"case.decide", "case.approve", "workitem.assign", "supervision.read",
                                 "briefing.read"},
    "investigator": _OFFICER | {"case.decide", "person.read_full_id"},
    "legal_reviewer": {"portal.use", "workitem.read_unit", "person.read", "search.query", "case.read",
                       "case.legal_review"},
    "dispatcher": {"portal.use", "workitem.read_unit", "incident.record", "incident.dispatch", "search.query"},
    "commander": {"portal.use", "workitem.read_unit", "workitem.assign", "incident.record", "incident.dispatch",
                  "incident.command", "search.query", "person.read", "briefing.read", "supervision.read"},
    "fraud_analyst": {"portal.use", "workitem.read_unit", "person.read", "search.query", "fraud.report",
                      "fraud.stop_payment", "fraud.analyse", "fraud.lists_manage", "warning.handle", "case.read",
                      "case.record"},
    "inspector": {"portal.use", "workitem.read_unit", "supervision.read", "case.read", "audit.read",
                  "briefing.read"},
    "data_steward": {"portal.use", "workitem.read_unit", "person.read", "person.read_full_id", "search.query",
                     "records.import", "records.link_review"},
    "administrator": {"portal.use", "user.manage", "unit.manage", "audit.read"},
    "dispatch_gateway": {"dispatch.call_intake", "dispatch.position_report", "dispatch.diversion_feedback"},
    "partner": {"records.push", "warning.signal_push"},
}

# Decisions that bind someone (filing, penalties, approvals, stop-payment, command).
DECIDING = {"case.decide", "case.approve", "case.legal_review", "fraud.stop_payment", "incident.command"}

ALL_ACTIONS = sorted(v for k, v in vars(access.Action).items() if k.isupper())

# The role is held at county A1; where the target sits relative to it, and whether it is covered.
POSITIONS = {"own": True, "child": True, "grandchild": True, "sibling": False, "parent": False}


def _at(tree: Tree, position: str) -> Unit:
    return {"own": tree.county_a1, "child": tree.station_a1a, "grandchild": tree.grid_a1a,
            "sibling": tree.county_a2, "parent": tree.city_a}[position]


def test_the_tables_cover_the_same_roles_and_actions() -> None:
    assert set(EXPECTED) == set(access.ROLES)
    assert set().union(*EXPECTED.values()) <= set(ALL_ACTIONS)
    assert len(ALL_ACTIONS) == 32
    assert set(access.DECIDING_ACTIONS) == DECIDING


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_by_position_by_action(role: str) -> None:
    tree = make_tree()
    actor = make_user(f"u_{role}", [(role, tree.county_a1)])
    cells = [(pos, action) for pos in POSITIONS for action in ALL_ACTIONS]
    want = {(pos, action): POSITIONS[pos] and action in EXPECTED[role] for pos, action in cells}

    assert {cell: access.can(actor, cell[1], _at(tree, cell[0])) for cell in cells} == want
    # Without a unit the question is "anywhere at all?"
    assert {a for a in ALL_ACTIONS if access.can(actor, a)} == EXPECTED[role]

    # check() lets allowed cells through silently and audits each refusal once.
    last = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    for pos, action in cells:
        unit = _at(tree, pos)
        if want[(pos, action)]:
            access.check(actor, action, unit, object_type="probe", object_id=f"{pos}:{action}")
        else:
            with pytest.raises(PermissionDenied):
                access.check(actor, action, unit, object_type="probe", object_id=f"{pos}:{action}")
    written = AuditEntry.objects.filter(pk__gt=last).order_by("pk")
    assert [(e.action, e.object_id, e.unit_code, e.outcome, e.actor_username) for e in written] == [
        (action, f"{pos}:{action}", _at(tree, pos).code, "denied", f"u_{role}")
        for pos, action in cells if not want[(pos, action)]
    ]


def _covers(holder: Unit, target: Unit) -> bool:
    """Jurisdiction by walking parents (not by path prefix); a department works for the unit it sits in."""
    root = holder.parent if holder.kind == "department" and holder.parent else holder
    node: Unit | None = target
    while node is not None:
        if node.pk == root.pk:
            return True
        node = node.parent
    return False


def test_jurisdiction_is_the_subtree_for_every_pair_of_units() -> None:
    tree = make_tree()
    units = list(Unit.objects.select_related("parent__parent__parent__parent"))
    assert len(units) == 9
    for holder in units:
        actor = make_user(f"o_{holder.code}", [("officer", holder)])
        got = {t.code: access.can(actor, access.Action.PERSON_READ, t) for t in units}
        assert got == {t.code: _covers(holder, t) for t in units}, holder.code
    # Spot checks that the walk above is itself right.
    assert _covers(tree.city_a_cid, tree.grid_a1a) and not _covers(tree.city_a_cid, tree.city_b)
    assert _covers(tree.county_a1, tree.grid_a1a) and not _covers(tree.county_a1, tree.county_a2)


def test_a_role_at_a_department_covers_its_city() -> None:
    tree = make_tree()
    investigator = make_user("xing", [("investigator", tree.city_a_cid)])
    decided = {u.code for u in Unit.objects.all() if access.can(investigator, access.Action.CASE_DECIDE, u)}
    assert decided == {"370100", "370102", "370103", "370102S01", "370102S02", "370102S01G01", "370100D-XZ"}
    assert access.may_decide(investigator, tree.grid_a1a) is True
    assert access.may_decide(investigator, tree.city_b) is False


def test_an_auxiliary_never_decides_anywhere() -> None:
    tree = make_tree()
    aux = make_user("fu", [("auxiliary", tree.province)])  # the widest possible placement
    units = list(Unit.objects.all())
    assert [(a, u.code) for a in sorted(DECIDING) for u in units if access.can(aux, a, u)] == []
    assert [a for a in DECIDING if access.can(aux, a)] == []
    assert access.may_decide(aux, tree.province) is False
    # Yet the role does work where it is placed.
    assert access.can(aux, access.Action.CASE_RECORD, tree.grid_a1a) is True


def test_an_auxiliary_never_decides_even_if_the_role_table_is_widened(monkeypatch: Any) -> None:
    tree = make_tree()
    widened = dataclasses.replace(access.ROLES["auxiliary"],
                                  actions=access.ROLES["auxiliary"].actions | access.DECIDING_ACTIONS)
    monkeypatch.setitem(access.ROLES, "auxiliary", widened)
    aux = make_user("fu", [("auxiliary", tree.station_a1a)])
    assert [a for a in sorted(DECIDING) if access.can(aux, a, tree.station_a1a)] == []
    assert access.may_decide(aux, tree.station_a1a) is False
    with pytest.raises(PermissionDenied):
        access.check(aux, access.Action.CASE_DECIDE, tree.station_a1a, object_type="case", object_id=1)


def test_two_roles_at_two_units_give_the_union() -> None:
    tree = make_tree()
    user = make_user("liu", [("officer", tree.station_a1a), ("dispatcher", tree.city_b)])
    got = {(a, u.code): access.can(user, a, u)
           for a in (access.Action.CASE_INVESTIGATE, access.Action.INCIDENT_DISPATCH, access.Action.SEARCH_QUERY)
           for u in (tree.station_a1a, tree.city_b, tree.station_a1b)}
    assert got == {
        ("case.investigate", "370102S01"): True, ("case.investigate", "370200"): False,
        ("case.investigate", "370102S02"): False,
        ("incident.dispatch", "370102S01"): False, ("incident.dispatch", "370200"): True,
        ("incident.dispatch", "370102S02"): False,
        ("search.query", "370102S01"): True, ("search.query", "370200"): True, ("search.query", "370102S02"): False,
    }
    assert access.roles_of(user) == {"officer", "dispatcher"}


def test_an_inactive_assignment_grants_nothing() -> None:
    tree = make_tree()
    user = make_user("zhou", [("officer", tree.station_a1a)])
    assert access.can(user, access.Action.PORTAL_USE, tree.station_a1a) is True
    services.role_revoke(actor=None, user=user, role="officer", unit=tree.station_a1a)
    assert RoleAssignment.objects.get(user=user).active is False
    assert access.can(user, access.Action.PORTAL_USE, tree.station_a1a) is False
    assert [a for a in ALL_ACTIONS if access.can(user, a)] == []
    fresh = User.objects.get(pk=user.pk)  # not just the cache: the database says so too
    assert [a for a in ALL_ACTIONS if access.can(fresh, a)] == []


def test_an_inactive_user_holds_no_powers() -> None:
    tree = make_tree()
    user = make_user("zhou", [("station_chief", tree.station_a1a)])
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert [a for a in ALL_ACTIONS if access.can(User.objects.get(pk=user.pk), a)] == []


def test_check_raises_and_writes_exactly_one_denied_entry() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    before = AuditEntry.objects.count()
    with pytest.raises(PermissionDenied):
        access.check(officer, access.Action.CASE_DECIDE, tree.station_a1a, object_type="case", object_id=42,
                     purpose="立案审查")
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-pk").first()
    assert entry is not None
    assert (entry.actor_id, entry.actor_username, entry.action, entry.object_type, entry.object_id,
            entry.unit_code, entry.purpose, entry.outcome) == (
        officer.pk, "wang", "case.decide", "case", "42", "370102S01", "立案审查", "denied")


def test_check_allows_silently() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    before = AuditEntry.objects.count()
    access.check(officer, access.Action.CASE_RECORD, tree.grid_a1a, object_type="case", object_id=42)
    assert AuditEntry.objects.count() == before


@pytest.fixture
def unit_items(db: Any) -> tuple[Tree, dict[str, int]]:
    """One work item per unit of the tree, plus one assigned to a person only."""
    tree = make_tree()
    items = {u.code: services.workitem_create(actor=None, title=f"task at {u.code}", kind="test",
                                              assignee_unit=u).pk
             for u in Unit.objects.all()}
    loner = make_user("loner")
    items["personal"] = services.workitem_create(actor=None, title="personal", kind="test",
                                                 assignee_user=loner).pk
    return tree, items


def _scoped(actor: User, action: str) -> set[int]:
    return set(access.scope(actor, action, WorkItem.objects.all(), unit_field="assignee_unit")
               .values_list("pk", flat=True))


def test_scope_filters_to_the_jurisdiction(unit_items: tuple[Tree, dict[str, int]],
                                           django_assert_num_queries: Any) -> None:
    tree, items = unit_items
    officer = User.objects.get(pk=make_user("wang", [("officer", tree.county_a1)]).pk)
    with django_assert_num_queries(2):  # the actor's roles, then the scoped rows
        got = _scoped(officer, access.Action.WORKITEM_READ_UNIT)
    assert got == {items[c] for c in ("370102", "370102S01", "370102S02", "370102S01G01")}


def test_scope_for_a_department_role_and_for_two_roles(unit_items: tuple[Tree, dict[str, int]]) -> None:
    tree, items = unit_items
    investigator = make_user("xing", [("investigator", tree.city_a_cid)])
    assert _scoped(investigator, access.Action.CASE_DECIDE) == {
        items[c] for c in ("370100", "370102", "370103", "370102S01", "370102S02", "370102S01G01", "370100D-XZ")}
    both = make_user("liu", [("officer", tree.station_a1b), ("dispatcher", tree.city_b)])
    assert _scoped(both, access.Action.WORKITEM_READ_UNIT) == {items["370102S02"], items["370200"]}
    assert _scoped(both, access.Action.INCIDENT_DISPATCH) == {items["370200"]}


def test_scope_is_empty_without_the_action(unit_items: tuple[Tree, dict[str, int]]) -> None:
    tree, _items = unit_items
    nobody = make_user("nobody")
    assert _scoped(nobody, access.Action.WORKITEM_READ_UNIT) == set()
    aux = make_user("fu", [("auxiliary", tree.province)])
    assert _scoped(aux, access.Action.WORKITEM_READ_UNIT) == set()
    assert _scoped(aux, access.Action.CASE_DECIDE) == set()
