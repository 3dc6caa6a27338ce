"""A small world for case tests: the core test tree, a legal department, and people in
every role a case meets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from jingwu.cases import services
from jingwu.cases.models import Case, LegalReview
from jingwu.core import services as core_services
from jingwu.core.models import Unit, UnitKind, User
from jingwu.core.tests.factories import Tree, make_tree, make_unit, make_user

PURPOSE = "办理案件，核实当事人"


@dataclass
class World:
    tree: Tree
    legal_unit: Unit  # the county's legal department (法制大队)
    officer: User  # station A1a
    officer2: User  # station A1a, a second officer
    auxiliary: User  # station A1a
    chief: User  # station A1a chief
    investigator: User  # station A1a
    reviewer: User  # legal reviewer of county A1
    county_chief: User  # chief at county A1
    other_officer: User  # station A1b
    other_chief: User  # station A1b
    inspector: User  # city A
    city_b_officer: User

    @property
    def station(self) -> Unit:
        return self.tree.station_a1a


def make_world() -> World:
    tree = make_tree()
    legal = make_unit("370102D-FZ", "历下分局法制大队", UnitKind.DEPARTMENT, tree.county_a1, department="legal")
    st = tree.station_a1a
    world = World(
        tree=tree, legal_unit=legal,
        officer=make_user("wang", [("officer", st)]),
        officer2=make_user("sun", [("officer", st)]),
        auxiliary=make_user("fu", [("auxiliary", st)]),
        chief=make_user("zhang", [("station_chief", st)]),
        investigator=make_user("qian", [("investigator", st)]),
        reviewer=make_user("fa", [("legal_reviewer", legal)]),
        county_chief=make_user("liu", [("station_chief", tree.county_a1)]),
        other_officer=make_user("zhao", [("officer", tree.station_a1b)]),
        other_chief=make_user("zhou", [("station_chief", tree.station_a1b)]),
        inspector=make_user("du", [("inspector", tree.city_a)]),
        city_b_officer=make_user("qing", [("officer", tree.city_b)]),
    )
    for user in (world.officer, world.chief, world.investigator, world.reviewer, world.county_chief):
        core_services.purpose_set(actor=user, text=PURPOSE, ref_type="case", ref_id="test")
    return world


@dataclass
class Accepted:
    case: Case
    lookup_code: str
    receipt_html: str


def accept(world: World, case_type: str = "criminal", category: str = "theft", *, unit: Unit | None = None,
           actor: User | None = None, now: dt.datetime | None = None, **kw: Any) -> Accepted:
    now = now or timezone.now()
    acceptance = services.case_accept(
        actor=actor or world.officer, unit=unit or world.station, case_type=case_type, category=category,
        summary=kw.pop("summary", "电动自行车在小区楼下被盗"),
        reported_at=kw.pop("reported_at", now - dt.timedelta(hours=1)), now=now, **kw)
    assert acceptance.lookup_code is not None
    return Accepted(acceptance.case, acceptance.lookup_code, acceptance.receipt_html)


def review(world: World, case: Case, subject: str, *, measure: str = "", now: dt.datetime | None = None,
           requester: User | None = None) -> LegalReview:
    """Ask for a legal review and have it approved."""
    r = services.legal_review_request(actor=requester or world.officer, case=case, subject=subject,
                                      proposal="拟办意见", measure=measure, now=now)
    return services.legal_review_decide(actor=world.reviewer, review=r, approve=True, opinion="同意", now=now)


def move(world: World, case: Case, transition: str, actor: User, **kw: Any) -> Case:
    services.case_transition(actor=actor, case=case, transition=transition, **kw)
    return Case.objects.select_related("unit").get(pk=case.pk)


def to_filed(world: World, case: Case, **kw: Any) -> Case:
    case = move(world, case, "begin_review", world.officer, **kw)
    review(world, case, "filing", now=kw.get("now"))
    return move(world, case, "file", world.chief, **kw)


def to_declined_notified(world: World, case: Case, **kw: Any) -> Case:
    case = move(world, case, "begin_review", world.officer, **kw)
    review(world, case, "filing", now=kw.get("now"))
    case = move(world, case, "decline", world.chief, reason="no_crime", **kw)
    return move(world, case, "notify_decline", world.auxiliary, **kw)
