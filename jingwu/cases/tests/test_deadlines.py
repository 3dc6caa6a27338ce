"""Deadline clocks, the warning/overdue scan with frozen time, its idempotence, the
periodic job and the command."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jingwu.cases import deadlines, services
from jingwu.cases.models import Deadline
from jingwu.cases.tasks import scan_case_deadlines
from jingwu.cases.tests.world import World, accept, make_world, move, review
from jingwu.core.models import AuditEntry, WorkItem

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SH)  # a Monday morning


@pytest.fixture
def w() -> World:
    return make_world()


def _at(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=SH)


def _items(kind: str = "") -> list[tuple[str, str, int, str]]:
    qs = WorkItem.objects.filter(source_app="cases", source_type="deadline")
    if kind:
        qs = qs.filter(kind=kind)
    return [(i.kind, i.status, i.priority,
             i.assignee_user.username if i.assignee_user else i.assignee_unit.code if i.assignee_unit else "")
            for i in qs.select_related("assignee_user", "assignee_unit").order_by("pk")]


# --- counting ---------------------------------------------------------------------

def test_day_periods_end_at_the_end_of_the_last_day_local_time() -> None:
    assert deadlines.Period(days=3).end(T0) == _at(6)  # 2, then 3 4 5 counted: ends at midnight into the 6th
    assert deadlines.Period(days=3).end(dt.datetime(2026, 3, 2, 23, 30, tzinfo=SH)) == _at(6)
    # 1 March 20:00 UTC is already 2 March in Shanghai
    assert deadlines.Period(days=3).end(dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC)) == _at(6)
    assert deadlines.Period(months=2).end(dt.datetime(2026, 1, 31, 9, tzinfo=SH)) == dt.datetime(2026, 4, 1,
                                                                                                tzinfo=SH)
    assert deadlines.Period(hours=48).end(T0) == T0 + dt.timedelta(hours=48)
    assert deadlines.Period(days=30).extend(_at(6)) == dt.datetime(2026, 4, 5, tzinfo=SH)


def test_policies_follow_domain_defaults_and_settings_override(settings: Any) -> None:
    p = deadlines.policies()
    assert p["criminal.filing_review"].period == deadlines.Period(days=3)
    assert p["criminal.filing_review"].track("verify") == deadlines.Period(days=7)
    assert p["criminal.filing_review"].track("complex") == deadlines.Period(days=30)
    assert p["administrative.handling"].period == deadlines.Period(days=30)
    assert p["administrative.handling"].extensions == (deadlines.Period(days=30),)
    assert p["custody.arrest"].period == deadlines.Period(months=2)
    settings.JINGWU_CASE_DEADLINES = {"criminal.filing_review": {"days": 5, "warn_hours": 12}}
    assert deadlines.policy("criminal.filing_review").period == deadlines.Period(days=5)
    assert deadlines.policy("criminal.filing_review").warn_hours == 12
    assert deadlines.policy("criminal.filing_review").track("verify") == deadlines.Period(days=7)
    for bad in ({"criminal.nope": {"days": 1}}, {"criminal.filing_review": {"weeks": 1}},
                {"criminal.filing_review": {"days": -1}}, {"criminal.filing_review": {"days": "x"}}):
        settings.JINGWU_CASE_DEADLINES = bad
        with pytest.raises(ImproperlyConfigured):
            deadlines.policies()


def test_an_overridden_policy_sets_the_clock_of_new_cases(w: World, settings: Any) -> None:
    settings.JINGWU_CASE_DEADLINES = {"criminal.filing_review": {"days": 5}}
    case = accept(w, now=T0).case
    assert case.deadlines.get().due_at == _at(8)


def test_filing_review_clock_runs_from_acceptance_and_follows_its_track(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        case = accept(w, now=T0).case
    d = case.deadlines.get()
    assert (d.clock, d.started_at, d.due_at, d.warn_at) == ("criminal.filing_review", T0, _at(6), _at(5))
    with time_machine.travel(_at(3, 9), tick=False):
        case = move(w, case, "begin_review", w.officer)  # same clock: still running
        assert list(case.deadlines.values_list("clock", "stopped_at")) == [("criminal.filing_review", None)]
        case = move(w, case, "verify_clues", w.officer)
    assert case.deadlines.get().due_at == _at(10)
    with time_machine.travel(_at(4, 9), tick=False):
        case = move(w, case, "mark_complex", w.chief)
    assert case.deadlines.get().due_at == dt.datetime(2026, 4, 2, tzinfo=SH)


def test_leaving_the_state_stops_its_clock_and_starts_the_next(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        case = move(w, accept(w, now=T0).case, "begin_review", w.officer)
    with time_machine.travel(_at(4, 15), tick=False):
        review(w, case, "filing")
        case = move(w, case, "file", w.chief)
    clocks = list(case.deadlines.order_by("pk").values_list("clock", "stopped_at", "due_at"))
    assert clocks == [("criminal.filing_review", _at(4, 15), _at(6)),
                      ("criminal.investigation", None, dt.datetime(2026, 9, 5, tzinfo=SH))]
    assert case.deadlines.get(clock="criminal.filing_review").met is True


# --- the scan ---------------------------------------------------------------------

def test_scan_warns_once_then_alerts_once(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        unowned = accept(w, now=T0).case
        owned = accept(w, now=T0, owner=w.officer2).case
    assert services.deadlines_scan(now=_at(4, 23, 59)) == services.ScanReport(_at(4, 23, 59), 0, 0)
    report = services.deadlines_scan(now=_at(5, 0, 0))  # 24 hours before the end of the 5th
    assert (report.warned, report.overdue) == (2, 0)
    assert sorted(_items()) == [("cases.deadline_warn", "open", 2, "370102S01"),
                                ("cases.deadline_warn", "open", 2, "sun")]
    # re-runs, and a later time still inside the window, add nothing
    assert services.deadlines_scan(now=_at(5, 0, 0)).warned == 0
    assert services.deadlines_scan(now=_at(5, 18)).warned == 0
    assert len(_items()) == 2
    report = services.deadlines_scan(now=_at(6, 0, 1))
    assert (report.warned, report.overdue) == (0, 2)
    assert sorted(_items("cases.deadline_overdue")) == [("cases.deadline_overdue", "open", 1, "370102S01"),
                                                         ("cases.deadline_overdue", "open", 1, "sun")]
    assert services.deadlines_scan(now=_at(7)) == services.ScanReport(_at(7), 0, 0)
    assert len(_items()) == 4
    item = WorkItem.objects.get(kind="cases.deadline_overdue", assignee_user=w.officer2)
    assert item.title == f"【已超期】{owned.number} 立案审查期限（2026-03-06 00:00 到期）"
    assert item.url == f"/cases/{owned.pk}/"
    assert Deadline.objects.get(case=unowned).overdue_at == _at(6, 0, 1)


def test_a_clock_first_seen_after_its_deadline_gets_only_the_alert(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        accept(w, now=T0)
    report = services.deadlines_scan(now=_at(20))
    assert (report.warned, report.overdue) == (0, 1)
    assert [i[0] for i in _items()] == ["cases.deadline_overdue"]


def test_stopping_a_clock_closes_its_alerts(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        case = move(w, accept(w, now=T0).case, "begin_review", w.officer)
    services.deadlines_scan(now=_at(5, 1))
    assert [i[1] for i in _items()] == ["open"]
    with time_machine.travel(_at(5, 9), tick=False):
        review(w, case, "filing")
        move(w, case, "file", w.chief)
    assert [i[1] for i in _items()] == ["done"]
    assert services.deadlines_scan(now=_at(7)).overdue == 0


def test_an_extended_clock_warns_again_for_its_new_deadline(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        case = move(w, accept(w, "administrative", "beating", now=T0).case, "investigate", w.officer)
    d = case.deadlines.get()
    assert d.due_at == dt.datetime(2026, 4, 2, tzinfo=SH)  # 30 days from acceptance
    assert services.deadlines_scan(now=dt.datetime(2026, 4, 3, tzinfo=SH)).overdue == 1
    with time_machine.travel(dt.datetime(2026, 4, 3, 9, tzinfo=SH), tick=False):
        move(w, case, "extend", w.chief)
    d.refresh_from_db()
    assert (d.due_at, d.extensions, d.overdue_at, d.warned_at) == (dt.datetime(2026, 5, 2, tzinfo=SH), 1, None, None)
    assert [i[1] for i in _items()] == ["done"]  # the stale alert left the inbox
    assert services.deadlines_scan(now=dt.datetime(2026, 4, 29, 1, tzinfo=SH)).warned == 1
    assert services.deadlines_scan(now=dt.datetime(2026, 5, 2, 0, 1, tzinfo=SH)).overdue == 1
    assert [(k, s) for k, s, _p, _a in _items()] == [("cases.deadline_overdue", "done"),
                                                     ("cases.deadline_warn", "open"),
                                                     ("cases.deadline_overdue", "open")]


def test_the_scan_is_set_based(w: World) -> None:
    """Its query count does not grow with the number of clocks it acts on."""
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            accept(w, now=T0)
    with CaptureQueriesContext(connection) as few:
        assert services.deadlines_scan(now=_at(7)).overdue == 3
    with time_machine.travel(T0, tick=False):
        for _ in range(30):
            accept(w, now=T0)
    with CaptureQueriesContext(connection) as many:
        assert services.deadlines_scan(now=_at(7)).overdue == 30
    assert len(many.captured_queries) == len(few.captured_queries)


def test_each_scan_is_audited_once(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        accept(w, now=T0)
    services.deadlines_scan(now=_at(7))
    services.deadlines_scan(now=_at(8))
    scans = AuditEntry.objects.filter(action="case.deadline_scan").order_by("pk")
    assert [(e.details["warned"], e.details["overdue"]) for e in scans] == [(0, 1), (0, 0)]


def test_custody_clock_of_an_arrest_is_two_months_with_extensions(w: World) -> None:
    from jingwu.cases.tests.world import to_filed

    with time_machine.travel(T0, tick=False):
        case = move(w, to_filed(w, accept(w, now=T0).case), "start_investigation", w.officer)
        suspect = services.party_add(actor=w.officer, case=case, party=services.PartyIn("suspect", name="某乙"))
        review(w, case, "measure", measure="arrest")
        m = services.measure_take(actor=w.chief, case=case, kind="arrest", party_id=suspect.pk)
    d = m.deadlines.get()
    assert (d.clock, d.due_at) == ("custody.arrest", dt.datetime(2026, 5, 3, tzinfo=SH))
    with time_machine.travel(_at(20), tick=False):
        assert services.measure_extend(actor=w.chief, measure=m).due_at == dt.datetime(2026, 6, 3, tzinfo=SH)


# --- the job and the command ------------------------------------------------------

def test_the_periodic_job_runs_the_scan(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        accept(w, now=T0)
    with time_machine.travel(_at(7), tick=False):
        assert scan_case_deadlines.call_local() == {"warned": 0, "overdue": 1}
        assert scan_case_deadlines.call_local() == {"warned": 0, "overdue": 0}


def test_the_command(w: World) -> None:
    with time_machine.travel(T0, tick=False):
        accept(w, now=T0)
    out = io.StringIO()
    call_command("cases", "scan-deadlines", "--now", "2026-03-05T08:00:00", stdout=out)
    assert out.getvalue() == "deadline scan at 2026-03-05 08:00:00: 1 warned, 0 overdue\n"
    out = io.StringIO()
    call_command("cases", "scan-deadlines", "--now", "2026-03-05T08:00:00+08:00", stdout=out)
    assert out.getvalue() == "deadline scan at 2026-03-05 08:00:00: 0 warned, 0 overdue\n"
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not an ISO 8601 time"):
        call_command("cases", "scan-deadlines", "--now", "yesterday")
