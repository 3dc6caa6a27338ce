"""The linker on the labelled fixture: exact partitions, judgements, incremental runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from jingwu.records.linkage import (
    Judgement,
    LinkageConfig,
    LinkageError,
    LinkageModel,
    LinkResult,
    link,
    link_incremental,
    prepare,
    split_judgements,
    train_model,
)
from jingwu.records.linkage.tests.fixture import broken, fixture, id15, partition, pid

CONFIG = LinkageConfig(training="fixed")


@pytest.fixture(scope="module")
def data() -> tuple[list[dict[str, Any]], dict[str, str]]:
    return fixture()


@pytest.fixture(scope="module")
def model(data: tuple[list[dict[str, Any]], dict[str, str]]) -> LinkageModel:
    return train_model(data[0], CONFIG)


@pytest.fixture(scope="module")
def expected(data: tuple[list[dict[str, Any]], dict[str, str]]) -> set[frozenset[str]]:
    """The truth, except that nothing in the data says 黄莉莉 (no ID, no birth date, another
    phone) is 黄丽 who changed her name: only an analyst can link those two."""
    truth = dict(data[1])
    truth["tel:p20"] = "p20-renamed"
    return partition(truth)


def run(records: list[dict[str, Any]], model: LinkageModel, *judgements: Judgement) -> LinkResult:
    return link(records, model=model, judgements=judgements, config=CONFIG)


def together(result: LinkResult, a: str, b: str) -> bool:
    return result.clusters[a] == result.clusters[b]


# --------------------------------------------------------------------------- prepare


def test_prepare_normalises_every_field(data: tuple[list[dict[str, Any]], dict[str, str]]) -> None:
    rows = {r["unique_id"]: r for r in prepare(data[0]).to_pylist()}
    # 15-digit IDs are upgraded before anything compares them.
    assert rows["hotel:p01"]["id18"] == rows["hukou:p01"]["id18"] == pid("p01")
    assert rows["hukou:p13"]["id18"] == pid("p13")
    # A wrong check character is not an ID, but its text and birth date still count.
    assert rows["tel:p12"]["id18"] is None
    assert rows["tel:p12"]["id_text"] == broken(pid("p12")) and rows["tel:p12"]["id_body"] == pid("p12")[:17]
    assert rows["hotel:p13"]["id_text"] == rows["hotel:p13"]["id18"]
    # Birth date and sex from the ID when the record has none.
    assert rows["tel:p14"]["birth_date"] is None  # no ID, no date: stays missing
    assert rows["hotel:p19"]["birth_date"] == "1975-07-07"
    assert rows["hotel:p04"]["birth_date"] == "1972-11-02"  # 1972年11月2日
    assert rows["hotel:p16"]["birth_date"] == "1993-03-03"  # 1993/3/3
    assert rows["hotel:p05"]["birth_date"] == "1990-01-09"  # 19900109
    assert rows["tel:p05"]["sex"] == "F"  # 女
    # Every phone format to E.164.
    for uid, phone in [("tel:p01", "+8613912340001"), ("tel:p02", "+8613912340002"),
                       ("tel:p04", "+8613912340004"), ("tel:p05", "+8613912340005"),
                       ("tel:p09", "+8613912340009"), ("tel:p16", "+8613912340016")]:  # fmt: skip
        assert rows[uid]["phone_e164"] == phone, uid
    assert rows["tel:p01"]["name_norm"] == "陈大文"
    assert rows["tel:p05"]["name_pinyin"] == "shan li"
    assert rows["hotel:p14"]["name_norm"] == "司马光" and rows["hotel:p14"]["surname"] == "司马"
    assert rows["tel:p20"]["division_code"] is None


def test_mistyped_id_without_other_evidence_still_links(model: LinkageModel) -> None:
    number = pid("p19")
    body_typo = number[:15] + str((int(number[15]) + 1) % 10) + number[16:]  # check now fails
    records = [
        {"unique_id": "a", "name": "区志强", "id_number": number, "sex": "男"},
        # Same body, wrong check character: blocked together on id_body.
        {"unique_id": "b", "name": "區志強", "id_number": broken(number), "sex": "男"},
        # One body digit wrong: its birth date (from the ID) and pinyin bring it in.
        {"unique_id": "c", "name": "区志强", "id_number": body_typo, "sex": "男"},
    ]
    rows = {r["unique_id"]: r for r in prepare(records).to_pylist()}
    assert rows["c"]["id18"] is None and rows["c"]["birth_date"] == "1975-07-07"
    result = link(records, model=model, config=CONFIG)
    assert result.partition() == {frozenset({"a", "b", "c"})}


def test_phone_fast_path_agrees_with_validate_phone() -> None:
    import random

    from jingwu.core.identifiers import validate_phone
    from jingwu.records.linkage.model import _phone

    rng = random.Random(5)
    numbers = ["1" + "".join(rng.choice("0123456789") for _ in range(10)) for _ in range(3000)]
    variants = [f"+86 {n[:3]} {n[3:7]} {n[7:]}" for n in numbers[:300]] + [f"0086-{n}" for n in numbers[300:600]]
    variants += ["86" + n for n in numbers[600:900]] + [
        "12345",
        "+1 202 555 0100",
        "010-12345678",
        "１３９１２３４００１６",
    ]
    for raw in numbers + variants:
        want = validate_phone(raw)
        assert _phone(raw) == (want.normalized if want.valid else None), raw


def test_prepare_is_idempotent_and_keeps_cluster_id(data: tuple[list[dict[str, Any]], dict[str, str]]) -> None:
    once = prepare(data[0])
    assert prepare(once).equals(once)
    with_clusters = prepare([dict(r, cluster_id="E1") for r in data[0][:3]])
    assert with_clusters.column("cluster_id").to_pylist() == ["E1"] * 3


def test_prepare_refuses_duplicate_or_missing_ids() -> None:
    with pytest.raises(LinkageError, match="unique"):
        prepare([{"unique_id": "a", "name": "张三"}, {"unique_id": "a", "name": "李四"}])
    with pytest.raises(LinkageError, match="empty"):
        prepare([{"unique_id": None, "name": "张三"}])
    with pytest.raises(LinkageError, match="unique_id column"):
        prepare([{"name": "张三"}])


# --------------------------------------------------------------------------- linking


def test_full_partition(data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel,
                        expected: set[frozenset[str]]) -> None:  # fmt: skip
    result = run(data[0], model)
    assert result.partition() == expected
    # Cluster ids are the smallest unique_id of each cluster.
    assert result.clusters["tel:p01"] == "hotel:p01"
    assert result.stats["records"] == len(data[0])


def test_trained_model_gives_the_same_partition(data: tuple[list[dict[str, Any]], dict[str, str]],
                                                expected: set[frozenset[str]]) -> None:  # fmt: skip
    # EM on 48 records only because the test asks for it (the default wants 1000).
    result = link(data[0], config=LinkageConfig(training="em", em_min_records=0, em_min_pairs=1))
    assert result.model.training == "em"
    assert result.partition() == expected


def test_levels_stay_ordered_after_training(data: tuple[list[dict[str, Any]], dict[str, str]]) -> None:
    em = train_model(data[0], LinkageConfig(em_min_records=0, em_min_pairs=1))
    # On 58 records EM put "birth date one digit apart" above "same birth date"; capped.
    assert "birth_date: one digit differs" in em.info["capped_levels"]
    for model in (em, train_model(data[0], CONFIG)):
        for comparison in model.settings["comparisons"]:
            levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
            factors = [lv["m_probability"] / lv["u_probability"] for lv in levels]
            assert factors == sorted(factors, reverse=True), comparison["output_column_name"]
            assert len(set(factors)) == len(factors)


def test_small_inputs_fall_back_to_the_priors() -> None:
    one = link([{"unique_id": "a", "name": "张三"}])
    assert one.clusters == {"a": "a"} and one.model.training == "fixed" and "too few" in one.model.info["note"]
    blank = link([{"unique_id": "a"}, {"unique_id": "b"}])
    assert blank.partition() == {frozenset({"a"}), frozenset({"b"})}
    # Integer keys, no IDs at all: λ cannot come from the ID rule, the pair still links.
    twins = link([{"unique_id": 1, "name": "张三", "birth_date": "1990-01-01", "phone": "13912345678"},
                  {"unique_id": 2, "name": "張三", "birth_date": "19900101", "phone": "139 1234 5678"}])  # fmt: skip
    assert twins.clusters == {"1": "1", "2": "1"}


def test_hard_negatives_stay_apart(data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel) -> None:
    result = run(data[0], model)
    # Same name and birth date, different IDs.
    assert not together(result, "hukou:p02", "hukou:p03")
    assert not together(result, "hukou:p10", "hotel:p11")
    # 章伟 (homophone, no ID) goes with the 张伟 whose phone it shares.
    assert together(result, "tel:p02", "hukou:p02")
    # Twins: same birth date, address and household phone, one character apart.
    assert not together(result, "hukou:p07", "hukou:p08")
    assert together(result, "tel:p07", "hukou:p07")
    assert together(result, "tel:p08", "hukou:p08")


def test_fifteen_digit_ids_decide_after_upgrade(data: tuple[list[dict[str, Any]], dict[str, str]],
                                                model: LinkageModel) -> None:  # fmt: skip
    result = run(data[0], model)
    assert result.pairs is not None
    rows = {(r["unique_id_l"], r["unique_id_r"]): r for r in result.pairs.to_pylist()}
    pair = rows[("hotel:p13", "hukou:p13")]
    assert pair["rule"] == "same_id" and pair["probability"] == 1.0
    assert id15(pid("p13")) != pid("p13")


def test_review_queue_explains_each_pair(data: tuple[list[dict[str, Any]], dict[str, str]],
                                         model: LinkageModel) -> None:  # fmt: skip
    result = run(data[0], model)
    queue = {(r.uid_a, r.uid_b): r for r in result.review_pairs}
    twins = queue[("tel:p07", "tel:p08")]
    assert twins.reason == "blocked:different_id"
    assert twins.explanation == {
        "id_number": "missing", "name": "one character differs", "birth_date": "same",
        "phone_e164": "same", "sex": "same", "division_code": "same county",
    }  # fmt: skip
    # Nothing already in one cluster is queued.
    assert all(not together(result, r.uid_a, r.uid_b) for r in result.review_pairs)
    assert result.stats["review_pairs"] == len(result.review_pairs)


def test_uncertain_band_goes_to_review(data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel) -> None:
    # Raise the bar so that the model's weaker links fall into the band.
    strict = LinkageConfig(training="fixed", accept=0.9999999, review_low=0.5)
    result = link(data[0], model=model, config=strict)
    uncertain = [r for r in result.review_pairs if r.reason == "uncertain"]
    assert uncertain
    assert all(0.5 <= (r.probability or 0) < 0.9999999 for r in uncertain)
    assert all(not together(result, r.uid_a, r.uid_b) for r in uncertain)


# --------------------------------------------------------------------------- judgements


def test_rejected_pair_is_never_merged_even_when_the_model_wants_it(
    data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel, expected: set[frozenset[str]]
) -> None:
    base = run(data[0], model)
    assert base.pairs is not None
    scores = {(r["unique_id_l"], r["unique_id_r"]): r["probability"] for r in base.pairs.to_pylist()}
    assert scores[("hukou:p04", "tel:p04")] >= CONFIG.accept
    rejected = Judgement("tel:p04", "hukou:p04", "rejected")
    result = run(data[0], model, rejected)
    # 增国强 cannot join through hotel:p04 either: that record shares hukou:p04's ID.
    want = (expected - {frozenset({"hukou:p04", "tel:p04", "hotel:p04"})}) | {
        frozenset({"hukou:p04", "hotel:p04"}), frozenset({"tel:p04"}),
    }  # fmt: skip
    assert result.partition() == want
    assert all(r.uid_b != "tel:p04" and r.uid_a != "tel:p04" for r in result.review_pairs)


def test_rejection_beats_a_shared_id_and_a_bridge(data: tuple[list[dict[str, Any]], dict[str, str]],
                                                  model: LinkageModel) -> None:  # fmt: skip
    # hukou:p01 and hotel:p01 share an ID; tel:p01 matches both.  Rejecting the ID pair
    # leaves tel:p01 with exactly one of them.
    result = run(data[0], model, Judgement("hukou:p01", "hotel:p01", "rejected"))
    assert not together(result, "hukou:p01", "hotel:p01")
    assert together(result, "tel:p01", "hukou:p01") != together(result, "tel:p01", "hotel:p01")


def test_confirmed_pair_is_merged(data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel) -> None:
    result = run(data[0], model, Judgement("tel:p20", "hukou:p20", "confirmed"))
    assert result.partition() == partition(data[1])  # now exactly the truth


def test_unsure_pairs_stay_in_review_and_do_not_link(data: tuple[list[dict[str, Any]], dict[str, str]],
                                                     model: LinkageModel) -> None:  # fmt: skip
    result = run(data[0], model, Judgement("hotel:p11", "tel:p11", "unsure"))
    assert not together(result, "hotel:p11", "tel:p11")
    unsure = [r for r in result.review_pairs if r.reason == "unsure"]
    assert [(r.uid_a, r.uid_b) for r in unsure] == [("hotel:p11", "tel:p11")]
    assert unsure[0].probability is not None and unsure[0].explanation["name"] == "same"


def test_split_entity(data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel) -> None:
    judgements = split_judgements([["hukou:p06", "hotel:p06"], ["tel:p06"]])
    result = run(data[0], model, *judgements)
    assert together(result, "hukou:p06", "hotel:p06")
    assert not together(result, "hukou:p06", "tel:p06") and not together(result, "hotel:p06", "tel:p06")


def test_judgements_hold_after_relinking_from_scratch(
    data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel, tmp_path: Path
) -> None:
    judgements = [
        Judgement("tel:p04", "hukou:p04", "rejected"),
        Judgement("tel:p20", "hukou:p20", "confirmed"),
        *split_judgements([["hukou:p06", "hotel:p06"], ["tel:p06"]]),
    ]
    first = run(data[0], model, *judgements)
    model.save(tmp_path / "model.json")
    # A new process: the model from disk, the records in another order, a fresh trained
    # model too — the judgements hold either way.
    again = run(list(reversed(data[0])), LinkageModel.load(tmp_path / "model.json"), *judgements)
    retrained = link(data[0], judgements=judgements, config=LinkageConfig(em_min_records=0, em_min_pairs=1))
    for result in (first, again, retrained):
        assert not together(result, "tel:p04", "hukou:p04")
        assert together(result, "tel:p20", "hukou:p20")
        assert not together(result, "tel:p06", "hukou:p06")
    assert again.partition() == first.partition()
    assert again.clusters == first.clusters


# --------------------------------------------------------------------------- incremental


def _split(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    old = [r for r in records if not r["unique_id"].startswith("tel:")]
    new = [r for r in records if r["unique_id"].startswith("tel:")]
    return old, new


def test_incremental_equals_linking_everything(data: tuple[list[dict[str, Any]], dict[str, str]],
                                               model: LinkageModel) -> None:  # fmt: skip
    old, new = _split(data[0])
    first = run(old, model)
    existing = [dict(r, cluster_id=first.clusters[r["unique_id"]]) for r in old]
    result = link_incremental(existing, new, model=model, config=CONFIG)
    assert result.partition() == run(data[0], model).partition()
    # Existing entities keep their ids; only new records were scored.
    assert all(result.clusters[r["unique_id"]] == r["cluster_id"] for r in existing)
    assert result.stats["pairs_scored"] < run(data[0], model).stats["pairs_scored"]


def test_incremental_from_the_stored_prepared_records(
    data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel
) -> None:
    old, new = _split(data[0])
    first = run(old, model)
    assert first.records is not None and first.records.num_rows == len(old)
    stored = first.records.append_column(
        "cluster_id", pa.array([first.clusters[u] for u in first.records.column("unique_id").to_pylist()])
    )
    result = link_incremental(stored, new, model=model, config=CONFIG)
    assert result.partition() == run(data[0], model).partition()
    assert result.records is not None and result.records.num_rows == len(new)


def test_incremental_only_merges_existing_clusters(data: tuple[list[dict[str, Any]], dict[str, str]],
                                                   model: LinkageModel) -> None:  # fmt: skip
    old, new = _split(data[0])
    # An earlier analyst confirmed 黄莉莉 as 黄丽: that cluster must survive the new batch,
    # and a new record bridging two existing clusters merges them under the smaller id.
    existing = [dict(r, cluster_id="E-" + data[1][r["unique_id"]]) for r in old]
    existing.append(dict(next(r for r in new if r["unique_id"] == "tel:p20"), cluster_id="E-p20"))
    existing.append({"unique_id": "x:p15", "name": "周杰", "birth_date": "1979-01-18", "sex": "M",
                     "phone": "13912340150", "cluster_id": "E-p15x"})  # fmt: skip
    batch = [r for r in new if r["unique_id"] != "tel:p20"]
    result = link_incremental(existing, batch, model=model, config=CONFIG)
    assert result.clusters["tel:p20"] == result.clusters["hukou:p20"] == "E-p20"
    before = partition({r["unique_id"]: r["cluster_id"] for r in existing})
    for group in before:
        assert len({result.clusters[u] for u in group}) == 1
    assert result.clusters["tel:p15a"] == result.clusters["x:p15"] == "E-p15x"


def test_incremental_respects_judgements(data: tuple[list[dict[str, Any]], dict[str, str]],
                                         model: LinkageModel) -> None:  # fmt: skip
    old, new = _split(data[0])
    first = run(old, model)
    existing = [dict(r, cluster_id=first.clusters[r["unique_id"]]) for r in old]
    judgements = [Judgement("tel:p04", "hukou:p04", "rejected"), Judgement("tel:p20", "hukou:p20", "confirmed")]
    result = link_incremental(existing, new, model=model, judgements=judgements, config=CONFIG)
    assert result.partition() == run(data[0], model, *judgements).partition()


def test_incremental_refuses_bad_input(data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel) -> None:
    old, new = _split(data[0])
    with pytest.raises(LinkageError, match="cluster_id"):
        link_incremental(old, new, model=model, config=CONFIG)
    existing = [dict(r, cluster_id="E") for r in old]
    with pytest.raises(LinkageError, match="already linked"):
        link_incremental(existing, old[:1], model=model, config=CONFIG)


# --------------------------------------------------------------------------- config


def test_max_pairs_guard(data: tuple[list[dict[str, Any]], dict[str, str]], model: LinkageModel) -> None:
    with pytest.raises(LinkageError, match="max_pairs"):
        link(data[0], model=model, config=LinkageConfig(training="fixed", max_pairs=10))


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="review_low"):
        LinkageConfig(review_low=0.99, accept=0.9)
    with pytest.raises(ValueError, match="unknown"):
        LinkageConfig(blocking_rules=(("nickname",),))


def test_model_json_round_trip(model: LinkageModel, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    model.save(path)
    loaded = LinkageModel.load(path)
    assert loaded == model
    assert loaded.settings["link_type"] == "dedupe_only"
    with pytest.raises(ValueError, match="not a jingwu"):
        LinkageModel.from_json('{"format": "other"}')
