"""Supervision 督察: each anomaly against planted cases and incidents (exact counts), the
drill-down by unit, scoping, enforcement errors and the closed-loop report. Incidents come
through the feed registry; here the feed is a stand-in over core's work-item table, which
has the columns an incident feed needs (id, a number, a unit, a time, a kind, a status)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jingwu.cases import incidents, selectors, services
from jingwu.cases.models import Case, EnforcementError
from jingwu.cases.selectors import Anomaly
from jingwu.cases.tests.world import World, accept, make_world, move, review, to_declined_notified, to_filed
from jingwu.cases.workflow import MEASURES, WORKFLOWS, CaseType
from jingwu.core.models import AuditEntry, Unit, WorkItem

pytestmark = pytest.mark.django_db

NOW = timezone.now()
DAY = dt.timedelta(days=1)


def _incident(number: str, unit: Unit, kind: str, age: dt.timedelta, *, done: bool = False) -> WorkItem:
    item = WorkItem.objects.create(title=number, kind=kind, assignee_unit=unit, created_at=NOW - age,
                                   source_app="fakedispatch", status="done" if done else "open")
    return item


FEED = incidents.IncidentFeed(
    app="fakedispatch", queryset=lambda: WorkItem.objects.filter(source_app="fakedispatch"),
    criminal=Q(kind="criminal"), concluded=Q(status="done"), number_field="title", unit_field="assignee_unit",
    reported_field="created_at")


@pytest.fixture(autouse=True)
def _no_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the stand-in feed, when a test asks for it (dispatch registers the real one at start-up)."""
    monkeypatch.setattr(incidents, "_FEEDS", {})


@pytest.fixture
def feed() -> Iterator[incidents.IncidentFeed]:
    incidents.register(FEED)
    yield FEED
    incidents.unregister(FEED.app)


class Planted:
    def __init__(self, w: World) -> None:
        st_a, st_b = w.tree.station_a1a, w.tree.station_a1b
        # Overdue filing reviews: two at A1a (10 days), none fresh.
        self.overdue_a = [accept(w, now=NOW - 10 * DAY).case for _ in range(2)]
        self.fresh = accept(w, now=NOW - DAY).case
        # An administrative case at A1b, 40 days in investigation (30-day clock) .
        adm = accept(w, "administrative", "beating", unit=st_b, actor=w.other_officer, now=NOW - 40 * DAY).case
        self.adm_b = move(w, adm, "investigate", w.other_officer, now=NOW - 39 * DAY)
        # 立而不侦: filed 40 days ago, nothing since.
        self.idle = to_filed(w, accept(w, now=NOW - 41 * DAY).case, now=NOW - 40 * DAY)
        # Filed 40 days ago but with evidence 5 days ago: not idle.
        busy = to_filed(w, accept(w, now=NOW - 41 * DAY).case, now=NOW - 40 * DAY)
        services.evidence_add(actor=w.officer, case=busy, kind="physical", description="扣押赃物",
                              now=NOW - 5 * DAY)
        self.busy = busy
        # 侦而不结: investigating for seven months (the six-month clock), active lately.
        old = to_filed(w, accept(w, now=NOW - 215 * DAY).case, now=NOW - 214 * DAY)
        old = move(w, old, "start_investigation", w.officer, now=NOW - 213 * DAY)
        services.evidence_add(actor=w.officer, case=old, kind="statement", description="询问笔录", now=NOW - 2 * DAY)
        self.old = old
        # An arrest three months ago, unextended: its custody clock is past due too.
        custody = move(w, to_filed(w, accept(w, now=NOW - 100 * DAY).case, now=NOW - 99 * DAY),
                       "start_investigation", w.officer, now=NOW - 99 * DAY)
        suspect = services.party_add(actor=w.officer, case=custody, party=services.PartyIn("suspect", name="某丙"),
                                     now=NOW - 95 * DAY)
        review(w, custody, "measure", measure="arrest", now=NOW - 95 * DAY)
        services.measure_take(actor=w.chief, case=custody, kind="arrest", party_id=suspect.pk, now=NOW - 90 * DAY)
        services.evidence_add(actor=w.officer, case=custody, kind="electronic", description="手机数据",
                              now=NOW - 3 * DAY)
        self.custody = custody
        # A decline overturned on reconsideration: errors for the chief and the reviewer.
        declined = to_declined_notified(w, accept(w, now=NOW - 3 * DAY).case, now=NOW - 3 * DAY)
        declined = move(w, declined, "request_reconsideration", w.officer, note="不服", now=NOW - 2 * DAY)
        review(w, declined, "filing", now=NOW - DAY)
        self.overturned = move(w, declined, "overturn_decline", w.county_chief, note="认定错误", now=NOW - DAY)
        self.st_a, self.st_b = st_a, st_b


@pytest.fixture
def w() -> World:
    return make_world()


@pytest.fixture
def planted(w: World) -> Planted:
    return Planted(w)


def _plant_incidents(w: World) -> dict[str, WorkItem]:
    st_a, st_b = w.tree.station_a1a, w.tree.station_a1b
    inc = {
        "no_case": _incident("J001", st_a, "criminal", 5 * DAY),
        "with_case": _incident("J002", st_a, "criminal", 5 * DAY),
        "fresh": _incident("J003", st_a, "criminal", dt.timedelta(hours=1)),
        "no_outcome": _incident("J004", st_b, "public_order", 5 * DAY),
        "closed_criminal": _incident("J005", st_b, "criminal", 5 * DAY, done=True),
        "closed_other": _incident("J006", st_b, "assistance", 5 * DAY, done=True),
    }
    services.case_accept_from_incident(
        actor=w.officer, incident_app="fakedispatch", incident_id=inc["with_case"].pk, incident_number="J002",
        unit=st_a, case_type="criminal", category="robbery", summary="街头抢劫", reported_at=NOW - 5 * DAY)
    return inc


def _counts(overview: selectors.Overview) -> dict[str, dict[str, int | None]]:
    return {(r.unit.code if r.unit else "self"): r.counts for r in overview.rows}


def test_each_case_anomaly_counts_exactly(w: World, planted: Planted) -> None:
    def count(kind: str) -> int:
        return selectors.anomaly_queryset(w.inspector, kind, now=NOW).count()

    # overdue: 2 filing reviews, the administrative case, the old investigation, the arrest's custody clock
    assert count(Anomaly.OVERDUE) == 5
    assert count(Anomaly.FILED_IDLE) == 1
    assert count(Anomaly.INVESTIGATION_OVERDUE) == 2
    assert count(Anomaly.ERRORS) == 2
    idle = selectors.anomaly_queryset(w.inspector, Anomaly.FILED_IDLE, now=NOW).get()
    assert idle.pk == planted.idle.pk
    late = selectors.anomaly_queryset(w.inspector, Anomaly.INVESTIGATION_OVERDUE, now=NOW)
    assert sorted(late.values_list("case_id", "clock")) == sorted([(planted.old.pk, "criminal.investigation"),
                                                                   (planted.custody.pk, "custody.arrest")])
    items = selectors.anomaly_items(w.inspector, Anomaly.INVESTIGATION_OVERDUE, now=NOW)
    assert sorted(i["number"] for i in items) == sorted([planted.old.number, planted.custody.number])
    assert items[0]["since"] <= items[1]["since"]
    assert len(selectors.anomaly_items(w.inspector, Anomaly.INVESTIGATION_OVERDUE, now=NOW, limit=1)) == 1


def test_errors_name_the_deciders_of_the_overturned_decision(w: World, planted: Planted) -> None:
    errors = EnforcementError.objects.filter(case=planted.overturned).order_by("role")
    assert [(e.person.username, e.role, e.decision_event.transition, e.overturned_by.transition) for e in errors] == [
        ("zhang", "decider", "decline", "overturn_decline"), ("fa", "legal_reviewer", "decline", "overturn_decline")]
    items = selectors.anomaly_items(w.inspector, Anomaly.ERRORS, now=NOW)
    assert [(i["number"], i["what"]) for i in items] == [(planted.overturned.number, "zhang · 决定人"),
                                                         (planted.overturned.number, "fa · 法制审核人")]


def test_the_overview_drills_down_by_unit(w: World, planted: Planted) -> None:
    top = selectors.supervision_overview(w.inspector, now=NOW)
    assert top.unit == w.tree.city_a and not top.incidents_available
    counts = _counts(top)
    assert list(counts) == ["370100D-XZ", "370102", "370103"]
    assert counts["370102"] == {"overdue": 5, "filed_idle": 1, "investigation_overdue": 2, "criminal_no_case": None,
                                "incident_no_outcome": None, "errors": 2}
    assert counts["370103"]["overdue"] == 0 and counts["370100D-XZ"]["errors"] == 0
    county = _counts(selectors.supervision_overview(w.inspector, unit=w.tree.county_a1, now=NOW))
    assert (county["370102S01"]["overdue"], county["370102S02"]["overdue"]) == (4, 1)
    assert county["370102S01"]["errors"] == 2 and county["370102S02"]["errors"] == 0
    station = selectors.supervision_overview(w.inspector, unit=w.tree.station_a1a, now=NOW)
    # cases handled at the station itself show as its own row, above its grids
    assert [(r.unit.code if r.unit else "self", r.counts["overdue"]) for r in station.rows] == [
        ("self", 4), ("370102S01G01", 0)]
    assert station.totals["overdue"] == 4


def test_the_overview_takes_as_many_queries_however_many_cases(w: World, planted: Planted,
                                                               feed: incidents.IncidentFeed) -> None:
    _plant_incidents(w)

    def overview() -> tuple[int, dict[str, int | None]]:
        with CaptureQueriesContext(connection) as queries:
            totals = selectors.supervision_overview(w.inspector, now=NOW).totals
        return len(queries), totals

    overview()  # the first call also fills per-request caches (the actor's roles)
    before, totals = overview()
    assert totals == {"overdue": 5, "filed_idle": 1, "investigation_overdue": 2, "criminal_no_case": 2,
                      "incident_no_outcome": 2, "errors": 2}
    # More overdue filing reviews at both stations of county A1, more idle filed cases at one.
    for unit, actor in ((w.tree.station_a1a, w.officer), (w.tree.station_a1b, w.other_officer)):
        for _ in range(3):
            accept(w, unit=unit, actor=actor, now=NOW - 10 * DAY)
    for _ in range(2):
        to_filed(w, accept(w, now=NOW - 41 * DAY).case, now=NOW - 40 * DAY)
    after, more = overview()
    assert after == before
    assert more == totals | {"overdue": 11, "filed_idle": 3}


def test_the_investigation_clock_is_the_clock_of_exactly_the_investigation_states() -> None:
    # 侦而不结 reads a case's state only for custody clocks, on the strength of this.
    criminal = WORKFLOWS[CaseType.CRIMINAL].states
    assert {key for key, state in criminal.items() if state.clock == selectors.INVESTIGATION_STATE_CLOCK} == set(
        selectors.INVESTIGATION_STATES)
    assert all(state.clock != selectors.INVESTIGATION_STATE_CLOCK
               for case_type, wf in WORKFLOWS.items() if case_type != CaseType.CRIMINAL for state in wf.states.values())
    assert all(m.clock != selectors.INVESTIGATION_STATE_CLOCK for m in MEASURES.values())


def test_supervision_is_scoped(w: World, planted: Planted) -> None:
    chief_b = selectors.supervision_overview(w.other_chief, now=NOW)
    assert chief_b.unit == w.tree.station_a1b and chief_b.totals["overdue"] == 1
    with pytest.raises(PermissionDenied):
        selectors.supervision_overview(w.officer, now=NOW)
    with pytest.raises(PermissionDenied):
        selectors.supervision_overview(w.other_chief, unit=w.tree.station_a1a, now=NOW)
    from jingwu.core.tests.factories import make_user

    inspector_b = make_user("dub", [("inspector", w.tree.city_b)])
    assert selectors.supervision_overview(inspector_b, now=NOW).totals["overdue"] == 0
    assert AuditEntry.objects.filter(action="supervision.read", actor_username="dub").count() == 1


def test_incident_anomalies_through_the_feed(w: World, planted: Planted, feed: incidents.IncidentFeed) -> None:
    inc = _plant_incidents(w)
    no_case = selectors.anomaly_queryset(w.inspector, Anomaly.CRIMINAL_NO_CASE, now=NOW, feed=feed)
    assert sorted(no_case.values_list("title", flat=True)) == ["J001", "J005"]
    no_outcome = selectors.anomaly_queryset(w.inspector, Anomaly.INCIDENT_NO_OUTCOME, now=NOW, feed=feed)
    assert sorted(no_outcome.values_list("title", flat=True)) == ["J001", "J004"]
    county = _counts(selectors.supervision_overview(w.inspector, unit=w.tree.county_a1, now=NOW))
    assert (county["370102S01"]["criminal_no_case"], county["370102S02"]["criminal_no_case"]) == (1, 1)
    assert (county["370102S01"]["incident_no_outcome"], county["370102S02"]["incident_no_outcome"]) == (1, 1)
    items = selectors.anomaly_items(w.inspector, Anomaly.CRIMINAL_NO_CASE, unit=w.tree.station_a1a, now=NOW)
    assert [(i["number"], i["unit"]) for i in items] == [("J001", "泉城路派出所")]
    # dispatch can ask where its incidents ended
    outcomes = selectors.case_outcomes_for_incidents("fakedispatch", [inc["with_case"].pk, inc["no_case"].pk])
    assert list(outcomes) == [str(inc["with_case"].pk)]
    assert outcomes[str(inc["with_case"].pk)]["public_status"] == "accepted"


def test_the_closed_loop_report(w: World, planted: Planted, feed: incidents.IncidentFeed) -> None:
    _plant_incidents(w)
    report = selectors.closed_loop_report(w.inspector, start=NOW - 400 * DAY, end=NOW + DAY, now=NOW)
    rows = {r.case_type: r for r in report.cases}
    crim = rows["criminal"]
    # 2 overdue + fresh + idle + busy + old + custody + overturned + the robbery from J002
    assert crim.accepted == 9 and crim.ended == {}
    assert crim.open_overdue == 4 and crim.open_in_time == 5
    assert (rows["administrative"].accepted, rows["administrative"].open_overdue) == (1, 1)
    assert rows["dispute"].accepted == 0
    (loop,) = report.incidents
    assert (loop.total, loop.with_case, loop.concluded, loop.pending, loop.unexplained) == (6, 1, 2, 1, 2)
    assert report.unexplained == 4 + 1 + 2
    # a period with only the fresh case
    short = selectors.closed_loop_report(w.inspector, start=NOW - 2 * DAY, end=NOW, now=NOW)
    assert {r.case_type: r.accepted for r in short.cases} == {"criminal": 1, "administrative": 0, "dispute": 0}


def test_closed_cases_count_as_ended(w: World) -> None:
    case = move(w, accept(w, "dispute", "family", now=NOW - 5 * DAY).case, "refer", w.officer, now=NOW - 4 * DAY)
    report = selectors.closed_loop_report(w.chief, start=NOW - 10 * DAY, end=NOW, now=NOW)
    dispute = next(r for r in report.cases if r.case_type == "dispute")
    assert (dispute.accepted, dispute.ended, dispute.open_in_time, dispute.open_overdue) == (1, {"closed": 1}, 0, 0)
    assert Case.objects.get(pk=case.pk).outcome == "referred"


def test_the_supervision_page(w: World, planted: Planted, feed: incidents.IncidentFeed,
                              django_assert_max_num_queries: Any) -> None:
    _plant_incidents(w)
    client = Client()
    client.force_login(w.inspector)
    with django_assert_max_num_queries(25):
        response = client.get("/cases/supervision/?unit=370102&kind=filed_idle")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="?unit=370102S01">泉城路派出所</a>' in html
    assert planted.idle.number in html and planted.busy.number not in html
    assert "<style" not in html and "<script>" not in html
    assert client.get("/cases/supervision/?unit=370200").status_code == 404  # city B: not theirs
    report = client.get("/cases/supervision/closed-loop?start=2000-01-01&end=2100-01-01")
    assert report.status_code == 200 and 'id="unexplained"' in report.content.decode()
    officer = Client()
    officer.force_login(w.officer)
    assert officer.get("/cases/supervision/").status_code == 403
