"""The synthetic fraud rings: deterministic per seed, idempotent, labelled, linked, and
consistent with the accounts the bank simulator is given."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.db import models

from jingwu.antifraud import linking, synthetic
from jingwu.antifraud.models import FraudReport, IdentifierSource, ReportIdentifier, StopPaymentRequest, StopState
from jingwu.antifraud.warning_models import FraudWarning, LinkNode, Signal, SmsOutbox, WatchListEntry
from jingwu.core.models import UnitKind, WorkItem
from jingwu.core.tests.factories import Tree, make_tree, make_unit

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 5, 13, 2, 0, tzinfo=dt.UTC)
# Seed 11 at NOW: 65 of the 69 same-ring report pairs linked, 7 of the 8 rings whole
# (the split-off victims share no account, number, app or URL with the rest of their ring).
EXPECTED_SEED_11 = (65 / 69, 7, 8)


@pytest.fixture
def tree(db: None) -> Tree:
    tree = make_tree()
    make_unit("370202S01", "香港中路派出所", UnitKind.STATION,
              make_unit("370202", "市南区公安分局", UnitKind.COUNTY, tree.city_b, division_code="370202"))
    return tree


def wipe() -> None:
    WorkItem.objects.all().delete()
    SmsOutbox.objects.all().delete()
    Signal.objects.all().delete()
    FraudWarning.objects.all().delete()
    LinkNode.objects.update(root=None)
    LinkNode.objects.all().delete()
    StopPaymentRequest.objects.filter(hop=1).delete()
    StopPaymentRequest.objects.all().delete()
    FraudReport.objects.all().delete()
    WatchListEntry.objects.all().delete()


def test_seed_is_deterministic_idempotent_and_labelled(tree: Tree, tmp_path: Path) -> None:
    first = synthetic.fraud_seed(seed=5, rings=6, lone=5, now=NOW, directory=tmp_path / "a")
    truth = json.loads(first.ground_truth.read_text())
    assert not first.existing and first.reports == FraudReport.objects.count() == truth["reports"]
    again = synthetic.fraud_seed(seed=5, rings=6, lone=5, now=NOW, directory=tmp_path / "a")
    assert again.existing and FraudReport.objects.count() == first.reports
    rows = sorted(FraudReport.objects.values_list("number", "loss_fen", "victim_id_number"))
    warned = warnings_seen()
    wipe()
    second = synthetic.fraud_seed(seed=5, rings=6, lone=5, now=NOW, directory=tmp_path / "b")
    assert json.loads(second.ground_truth.read_text()) == truth
    assert sorted(FraudReport.objects.values_list("number", "loss_fen", "victim_id_number")) == rows
    assert (tmp_path / "a" / "antifraud-signals-seed5.jsonl").read_bytes() == (
        tmp_path / "b" / "antifraud-signals-seed5.jsonl").read_bytes()
    assert warnings_seen() == warned


def warnings_seen() -> list[tuple[object, ...]]:
    return sorted(FraudWarning.objects.values_list("citizen_key", "level", "score", "opened_at", "state", "outcome",
                                                   "report__number", "unit__code"))


def test_the_seeded_stream_goes_through_the_engine(tree: Tree, tmp_path: Path) -> None:
    """Warnings by level as the engine decided them; those older than `handled_after` closed with
    the outcome the truth implies, the newer ones open with their task in the station's inbox."""
    handled = dt.timedelta(days=20)  # the default (a week) leaves few open at this small size
    seeded = synthetic.fraud_seed(seed=5, rings=6, lone=5, now=NOW, directory=tmp_path, handled_after=handled)
    lines = synthetic.signals_path(5, tmp_path).read_text().splitlines()
    assert seeded.signals == len(lines) == Signal.objects.count()
    assert Signal.objects.filter(score__gt=0).exists()
    by_level = {level: FraudWarning.objects.filter(level=level).count() for level in ("high", "medium", "low")}
    assert seeded.warnings == {k: v for k, v in by_level.items() if v} and sum(by_level.values()) > 0
    victims = {f"phone:{r.victim_phone}": r.number for r in FraudReport.objects.all()}
    old = FraudWarning.objects.filter(opened_at__lt=NOW - handled)
    assert old.exists() and not old.filter(state="open").exists()
    for key, outcome, number in old.values_list("citizen_key", "outcome", "report__number"):
        assert (outcome, number) == (("defrauded", victims[key]) if key in victims else ("dissuaded", None))
    recent = FraudWarning.objects.filter(opened_at__gte=NOW - handled)
    assert seeded.open_warnings == recent.filter(state="open").count() == recent.count() > 0
    assert set(recent.values_list("level", flat=True)) >= {"medium"}
    for warning in recent:  # each high or medium one has its task, open, at its station
        tasks = list(WorkItem.objects.filter(source_app="antifraud", source_id=str(warning.pk), status="open")
                     .values_list("kind", "assignee_unit_id"))
        expected = {"high": [("antifraud.dissuade", warning.unit_id)],
                    "medium": [("antifraud.call_96110", warning.unit_id)], "low": []}[warning.level]
        assert tasks == expected
    assert not WorkItem.objects.filter(source_app="antifraud", source_type="warning", status="open",
                                       source_id__in=[str(pk) for pk in old.values_list("pk", flat=True)]).exists()


def test_rings_share_their_accounts_and_the_bank_simulator_holds_them(tree: Tree, tmp_path: Path) -> None:
    seeded = synthetic.fraud_seed(seed=9, rings=5, lone=4, now=NOW, directory=tmp_path)
    truth = json.loads(seeded.ground_truth.read_text())
    held = {(a["bank"], a["account"]): a for a in json.loads(synthetic.accounts_path(9, tmp_path).read_text())}
    for code, ring in truth["rings"].items():
        mules = {tuple(m) for m in ring["mules"]}
        collectors = {tuple(c) for c in ring["collectors"]}
        assert mules | collectors <= held.keys(), code
        for mule in mules:  # a drained mule's money went to one of its ring's collectors
            assert {(o["bank"], o["account"]) for o in held[mule]["onward"]} <= collectors
        paid = set(ReportIdentifier.objects.filter(report__number__in=ring["reports"], source=IdentifierSource.TRANSFER)
                   .values_list("value", flat=True))
        assert paid <= {m[1] for m in mules}, code
        stops = StopPaymentRequest.objects.filter(report__number__in=ring["reports"])
        assert set(stops.filter(hop=1).values_list("bank", "account")) <= collectors, code
        for bank, account in stops.filter(state=StopState.MOVED_ONWARD).values_list("bank", "account"):
            assert held[(bank, account)]["onward"], (code, account)  # the simulator tells the same story
    labelled = {n for n, ring in truth["report_ring"].items() if ring}
    assert set(truth["saveable_reports"]) <= labelled
    assert sorted(truth["report_ring"]) == sorted(FraudReport.objects.values_list("number", flat=True))
    # Lone frauds are in no ring (one of the four is still unfolding at NOW: not reported yet);
    # every report's first stop reached a bank after the report was taken.
    assert len(truth["report_ring"]) - len(labelled) == 3
    assert not FraudReport.objects.filter(first_stop_sent_at__lte=models.F("created_at")).exists()
    listed = set(WatchListEntry.objects.values_list("kind", "value"))
    assert all(("phone", p) in listed for ring in truth["rings"].values() for p in ring["phones"])


def test_seeded_networks_against_the_labels(tree: Tree, tmp_path: Path) -> None:
    seeded = synthetic.fraud_seed(seed=11, rings=8, lone=6, now=NOW, directory=tmp_path)
    truth = json.loads(seeded.ground_truth.read_text())["report_ring"]
    found = {r.number: linking.network_root(r) for r in FraudReport.objects.all()}
    scores = synthetic.linking_scores(truth, found)
    # No two rings, and no lone fraud, share a network (everyday apps link nothing).
    assert scores.precision == 1.0
    assert (scores.recall, scores.rings_whole, scores.rings) == EXPECTED_SEED_11


def test_linking_scores_count_pairs() -> None:
    truth = {"a": "R1", "b": "R1", "c": "R1", "d": "R2", "e": None}
    assert synthetic.linking_scores(truth, {"a": 1, "b": 1, "c": 1, "d": 2, "e": 3}) == synthetic.LinkingScores(
        1.0, 1.0, 2, 2)
    split = synthetic.linking_scores(truth, {"a": 1, "b": 1, "c": 2, "d": 2, "e": 2})
    assert (split.recall, split.precision, split.rings_whole) == (1 / 3, 1 / 4, 0)
