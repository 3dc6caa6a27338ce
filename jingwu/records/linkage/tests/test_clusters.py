from __future__ import annotations

import pytest

from jingwu.records.linkage.clusters import (
    BlockedEdge,
    Judgement,
    constrained_components,
    pair_key,
    split_judgements,
)


def groups(cluster_of: dict[str, str]) -> set[frozenset[str]]:
    out: dict[str, set[str]] = {}
    for uid, c in cluster_of.items():
        out.setdefault(c, set()).add(uid)
    return {frozenset(g) for g in out.values()}


def test_plain_components_and_deterministic_ids() -> None:
    comps = constrained_components(
        ["d", "c", "b", "a", "e"], [("a", "b", 0.99), ("c", "b", 0.97), ("d", "e", 0.5)], accept=0.95
    )
    assert comps.cluster_of == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "e"}
    assert comps.links_applied == 2


def test_rejected_pair_is_never_bridged() -> None:
    # a-b and b-c are strong; a-c was rejected: b goes with a (stronger), c stays apart.
    comps = constrained_components(
        ["a", "b", "c"],
        [("b", "c", 0.98), ("a", "b", 0.99)],
        accept=0.95,
        judgements=[Judgement("c", "a", "rejected")],
    )
    assert groups(comps.cluster_of) == {frozenset({"a", "b"}), frozenset({"c"})}
    assert comps.blocked == [BlockedEdge("b", "c", 0.98, "rejected")]


def test_one_id_number_per_cluster() -> None:
    ids = {"a": "ID1", "b": "ID2", "n": None}
    comps = constrained_components(["a", "b", "n"], [("a", "n", 0.99), ("n", "b", 0.98)], accept=0.95, id_of=ids)
    assert groups(comps.cluster_of) == {frozenset({"a", "n"}), frozenset({"b"})}
    assert comps.blocked == [BlockedEdge("b", "n", 0.98, "different_id")]


def test_confirmed_overrides_id_rule_but_not_rejection() -> None:
    ids = {"a": "ID1", "b": "ID2", "c": None}
    comps = constrained_components(
        ["a", "b", "c"],
        [],
        accept=0.95,
        id_of=ids,
        judgements=[
            Judgement("a", "b", "confirmed"),
            Judgement("b", "c", "confirmed"),
            Judgement("a", "c", "rejected"),
        ],
    )
    assert groups(comps.cluster_of) == {frozenset({"a", "b"}), frozenset({"c"})}
    assert comps.conflicting_confirmations == [("b", "c")]


def test_seeds_are_kept_merged_and_keep_their_ids() -> None:
    seeds = {"a": "E2", "b": "E2", "c": "E1", "d": "E9"}
    comps = constrained_components(
        ["a", "b", "c", "d", "n1", "n2"],
        [("n1", "a", 0.99), ("n1", "c", 0.99)],
        accept=0.95,
        seeds=seeds,
    )
    assert comps.cluster_of == {"a": "E1", "b": "E1", "c": "E1", "d": "E9", "n1": "E1", "n2": "n2"}


def test_seed_member_detached_only_by_a_rejection() -> None:
    comps = constrained_components(
        ["a", "b", "c"], [], accept=0.95, seeds={"a": "E", "b": "E", "c": "E"},
        judgements=[Judgement("a", "c", "rejected")],
    )  # fmt: skip
    assert groups(comps.cluster_of) == {frozenset({"a", "b"}), frozenset({"c"})}
    assert comps.detached == ["c"]


def test_edges_below_accept_do_not_link() -> None:
    comps = constrained_components(["a", "b"], [("a", "b", 0.9499)], accept=0.95)
    assert groups(comps.cluster_of) == {frozenset({"a"}), frozenset({"b"})}


def test_unknown_records_in_edges_are_an_error() -> None:
    with pytest.raises(ValueError, match="not in uids"):
        constrained_components(["a"], [("a", "zz", 0.99)], accept=0.95)
    with pytest.raises(ValueError, match="unique"):
        constrained_components(["a", "a"], [], accept=0.95)


def test_split_judgements_reject_across_parts() -> None:
    js = split_judgements([["b", "a"], ["c"], ["d"]])
    assert {(j.key, j.verdict) for j in js} == {
        (("a", "c"), "rejected"), (("b", "c"), "rejected"), (("a", "d"), "rejected"),
        (("b", "d"), "rejected"), (("c", "d"), "rejected"),
    }  # fmt: skip
    with pytest.raises(ValueError, match="only one part"):
        split_judgements([["a", "b"], ["b"]])


def test_judgement_validation() -> None:
    assert Judgement("b", "a", "unsure").key == ("a", "b") == pair_key("b", "a")
    with pytest.raises(ValueError, match="verdict"):
        Judgement("a", "b", "maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two different"):
        Judgement("a", "a", "rejected")
