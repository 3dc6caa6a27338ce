"""Seeded cases: supervision finds exactly the planted anomalies, the ground truth lists
them, the two years differ as drawn, and a second run adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db.models import Count
from django.utils import timezone

from jingwu.cases import incidents, selectors, services, synthetic
from jingwu.cases.models import Case, Deadline
from jingwu.cases.selectors import Anomaly
from jingwu.cases.tests.world import World, make_world
from jingwu.cases.workflow import WORKFLOWS

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture(autouse=True)
def _no_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incidents, "_FEEDS", {})


def test_supervision_finds_exactly_the_seeded_anomalies(tmp_path: Path) -> None:
    w: World = make_world()
    report = synthetic.cases_seed(seed=7, count=1500, within=w.tree.city_a, now=NOW, directory=tmp_path)
    planted = 15  # 1 % of 1500, of each kind
    assert report.created == 1500 + 3 * planted and not report.existing
    truth = json.loads(report.ground_truth.read_text())
    assert truth["anomalies"] == report.anomalies
    assert [len(report.anomalies[k]) for k in ("filed_idle", "investigation_overdue", "overdue")] == [
        planted, planted, 2 * planted]
    assert report.anomalies["criminal_no_case"] == []

    def numbers(kind: str) -> list[str]:
        qs = selectors.anomaly_queryset(w.inspector, kind, now=NOW)
        field = "number" if kind == Anomaly.FILED_IDLE else "case__number"
        return sorted(qs.values_list(field, flat=True))

    assert numbers(Anomaly.OVERDUE) == report.anomalies["overdue"]
    assert numbers(Anomaly.FILED_IDLE) == report.anomalies["filed_idle"]
    assert numbers(Anomaly.INVESTIGATION_OVERDUE) == report.anomalies["investigation_overdue"]
    overview = selectors.supervision_overview(w.inspector, now=NOW)
    assert overview.totals[Anomaly.OVERDUE] == 2 * planted
    # Every open case has exactly one running clock; ended cases none.
    running = dict(Deadline.objects.filter(stopped_at__isnull=True).values_list("case_id").annotate(n=Count("pk")))
    open_ids = set(Case.objects.filter(terminal=False).values_list("pk", flat=True))
    assert set(running) == open_ids and set(running.values()) == {1}
    # States are the workflow's, terminal where the workflow says so.
    for case_type, state, terminal in Case.objects.values_list("case_type", "state", "terminal").distinct():
        assert WORKFLOWS[case_type].states[state].terminal == terminal, (case_type, state)
    # Two years, the recent one busier.
    years = {y: sum(c.values()) for y, c in report.by_year.items()}
    assert sum(years.values()) == report.created and 2 <= len(years) <= 3
    last_year = Case.objects.filter(accepted_at__gte=NOW - 365 * synthetic.DAY).count()
    assert last_year == round(1500 * 1.1 / 2.1) + 3 * planted  # anomalies are all from the last year
    # Seeded cases answer the public lookup with the shared code.
    some = Case.objects.order_by("pk").first()
    assert some is not None
    found = services.public_lookup(number=some.number, code=synthetic.SEED_LOOKUP_CODE, client="10.0.0.1", now=NOW)
    assert found.outcome == "found"
    # A second run with the same seed adds nothing.
    again = synthetic.cases_seed(seed=7, count=1500, within=w.tree.city_a, now=NOW, directory=tmp_path)
    assert (again.created, again.existing) == (0, True)
    assert Case.objects.count() == report.created
