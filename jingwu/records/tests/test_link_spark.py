"""The linkage model on Splink's Spark backend (pyspark, local mode): the same scores,
clusters and judgements as on DuckDB, down to the last bit of every comparison.

Slow (a JVM and a Spark session per link call) but run by `make test` like the rest."""

from __future__ import annotations

import io
import itertools
import logging
import random
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from django.core.management import call_command

from jingwu.records.linkage import (
    Judgement,
    LinkageConfig,
    LinkageModel,
    LinkResult,
    link,
    link_incremental,
    prepare,
    train_model,
)
from jingwu.records.linkage.engines import open_engine, settings_in_dialect
from jingwu.records.linkage.tests.fixture import fixture, partition
from jingwu.records.models import LinkRun

pytestmark = pytest.mark.slow

DUCKDB = LinkageConfig(training="fixed")
# Modest: two cores, four shuffle partitions, a 1 GB driver, no web UI.
SPARK = LinkageConfig(training="fixed", engine="spark", threads=2, memory_limit="1GB")


@pytest.fixture(scope="module", autouse=True)
def _quiet() -> Iterator[None]:
    logging.getLogger("splink").setLevel(logging.ERROR)
    logging.getLogger("py4j").setLevel(logging.ERROR)
    yield


@pytest.fixture(scope="module")
def data() -> tuple[list[dict[str, Any]], dict[str, str]]:
    return fixture()


@pytest.fixture(scope="module")
def expected(data: tuple[list[dict[str, Any]], dict[str, str]]) -> set[frozenset[str]]:
    """The truth, but for 黄莉莉, whom only an analyst can tie to 黄丽 (as in test_model)."""
    truth = dict(data[1])
    truth["tel:p20"] = "p20-renamed"
    return partition(truth)


@pytest.fixture(scope="module")
def spark_model(data: tuple[list[dict[str, Any]], dict[str, str]]) -> LinkageModel:
    """Trained (λ from the ID rule) on Spark itself."""
    return train_model(data[0], SPARK)


@pytest.fixture(scope="module")
def on_duckdb(data: tuple[list[dict[str, Any]], dict[str, str]]) -> LinkResult:
    return link(data[0], model=train_model(data[0], DUCKDB), config=DUCKDB)


@pytest.fixture(scope="module")
def on_spark(data: tuple[list[dict[str, Any]], dict[str, str]], spark_model: LinkageModel) -> LinkResult:
    return link(data[0], model=spark_model, config=SPARK)


def _scored(result: LinkResult) -> dict[tuple[str, str], dict[str, Any]]:
    assert result.pairs is not None
    return {(r["unique_id_l"], r["unique_id_r"]): r for r in result.pairs.to_pylist()}


def test_string_comparisons_agree_with_duckdb_bit_for_bit() -> None:
    """Levenshtein counts characters, not UTF-8 bytes, on both; Jaro-Winkler is DuckDB's."""
    cjk = [("陈大文", "陳大文"), ("欧阳娜娜", "歐陽娜娜"), ("王小明", "王小朋"), ("司马光", "司 馬光"),
           ("张伟", "章伟")]
    names = sorted({k for r in prepare(fixture()[0]).to_pylist() if (k := r["name_pinyin"])})
    rng = random.Random(5)
    noise = [("".join(rng.choice("abcdeé 张") for _ in range(rng.randint(1, 30))),
              "".join(rng.choice("abcdeé 张") for _ in range(rng.randint(1, 30)))) for _ in range(3000)]  # fmt: skip
    # Names one typo or one swap apart: Jaro-Winkler near its 0.9 level, Winkler's boost on.
    near = [(n, n[:i] + rng.choice("aeiou") + n[i + 1:]) for n in names for i in (1, len(n) - 1)] + [
        (n, n[1] + n[0] + n[2:]) for n in names]
    pairs = cjk + list(itertools.combinations(names, 2)) + near + noise
    table = pa.table({"k": range(len(pairs)), "a": [a for a, _ in pairs], "b": [b for _, b in pairs]})
    sql = "SELECT k, levenshtein(a, b) AS lev, jaro_winkler_similarity(a, b) AS jw FROM pairs ORDER BY k"
    con = duckdb.connect()
    con.register("pairs", table)
    want = con.sql(sql).to_arrow_table().to_pylist()
    with open_engine(SPARK) as engine:
        engine.put("pairs", table)
        got = engine.arrow(sql).to_pylist()
    assert [r["lev"] for r in got[:5]] == [1, 2, 1, 2, 1]  # characters: 陈/陳 is one edit, not three bytes
    assert got == want
    scores = [r["jw"] for r in want]
    assert sum(1 for x in scores if x >= 0.9) >= 20 and sum(1 for x in scores if 0.7 < x < 0.9) >= 20


def test_the_model_in_spark_sql_is_the_same_model(spark_model: LinkageModel, expected: set[frozenset[str]]) -> None:
    duck = train_model(fixture()[0], DUCKDB)
    assert spark_model.settings["sql_dialect"] == "spark"
    # Same λ, levels, labels and priors; only the SQL text differs, and it translates.
    strip = ("sql_dialect", "linker_uid")
    assert {k: v for k, v in spark_model.settings.items() if k not in strip} == {
        k: v for k, v in settings_in_dialect(duck.settings, "spark").items() if k not in strip
    }
    level = spark_model.settings["comparisons"][1]["comparison_levels"][5]
    assert (level["label_for_charts"], level["sql_condition"]) == (
        "similar pinyin", "JINGWU_JARO_WINKLER(`name_pinyin_l`, `name_pinyin_r`) >= 0.9")
    # And back: the model saved by Spark serves DuckDB.
    back = settings_in_dialect(spark_model.settings, "duckdb")
    assert back["comparisons"][1]["comparison_levels"][5]["sql_condition"] == (
        'JARO_WINKLER_SIMILARITY("name_pinyin_l", "name_pinyin_r") >= 0.9')
    assert link(fixture()[0], model=spark_model, config=DUCKDB).partition() == expected


def test_spark_finds_exactly_the_duckdb_clusters_pairs_and_review_queue(
    on_spark: LinkResult, on_duckdb: LinkResult, expected: set[frozenset[str]]
) -> None:
    assert on_spark.partition() == expected
    assert on_spark.partition() == on_duckdb.partition()
    assert on_spark.clusters == on_duckdb.clusters  # the same cluster ids too
    spark_pairs, duck_pairs = _scored(on_spark), _scored(on_duckdb)
    assert spark_pairs.keys() == duck_pairs.keys()
    for key, row in duck_pairs.items():
        other = spark_pairs[key]
        assert {k: v for k, v in other.items() if "probability" not in k} == {
            k: v for k, v in row.items() if "probability" not in k}, key  # rule and every gamma level
        assert other["probability"] == pytest.approx(row["probability"], abs=1e-12)
    assert [(r.uid_a, r.uid_b, r.reason, r.explanation) for r in on_spark.review_pairs] == [
        (r.uid_a, r.uid_b, r.reason, r.explanation) for r in on_duckdb.review_pairs]
    assert [r.probability for r in on_spark.review_pairs] == pytest.approx(
        [r.probability for r in on_duckdb.review_pairs], abs=1e-12)
    assert (on_spark.stats["pairs_scored"], on_spark.stats["review_pairs"]) == (
        on_duckdb.stats["pairs_scored"], on_duckdb.stats["review_pairs"])


def test_a_rejected_pair_is_never_merged_on_spark(data: tuple[list[dict[str, Any]], dict[str, str]],
                                                  spark_model: LinkageModel, on_spark: LinkResult,
                                                  expected: set[frozenset[str]]) -> None:  # fmt: skip
    assert _scored(on_spark)[("hukou:p04", "tel:p04")]["probability"] >= SPARK.accept
    result = link(data[0], model=spark_model, config=SPARK,
                  judgements=[Judgement("tel:p04", "hukou:p04", "rejected")])  # fmt: skip
    # 增国强 cannot join through hotel:p04 either: that record shares hukou:p04's ID.
    assert result.partition() == (expected - {frozenset({"hukou:p04", "tel:p04", "hotel:p04"})}) | {
        frozenset({"hukou:p04", "hotel:p04"}), frozenset({"tel:p04"})}
    assert result.stats["blocked_rejected"] >= 1
    assert all("tel:p04" not in (r.uid_a, r.uid_b) for r in result.review_pairs)


def test_an_incremental_batch_on_spark_with_a_duckdb_model(data: tuple[list[dict[str, Any]], dict[str, str]],
                                                           on_duckdb: LinkResult) -> None:  # fmt: skip
    """A model saved by the DuckDB engine, used by Spark for the next batch."""
    old = [r for r in data[0] if not r["unique_id"].startswith("tel:")]
    new = [r for r in data[0] if r["unique_id"].startswith("tel:")]
    model = LinkageModel.from_json(on_duckdb.model.to_json())
    first = link(old, model=model, config=DUCKDB)
    existing = [dict(r, cluster_id=first.clusters[r["unique_id"]]) for r in old]
    on_spark = link_incremental(existing, new, model=model, config=SPARK)
    assert on_spark.partition() == on_duckdb.partition()
    assert on_spark.clusters == link_incremental(existing, new, model=model, config=DUCKDB).clusters


@pytest.mark.django_db
def test_jingwu_link_engine_spark_links_the_province_as_duckdb_does() -> None:
    from jingwu.records.tests.test_linking_fixture import build_province, person_partition, truth_partition

    p = build_province()
    out = io.StringIO()
    call_command("link", "--full", "--engine", "spark", stdout=out, verbosity=0)
    run = LinkRun.objects.get()
    assert (run.stats["backend"], "error" in run.stats) == ("spark", False)
    assert person_partition() == truth_partition(p.truth)
    assert "engine (spark)" in out.getvalue()
    assert "person entities              9   new 9, merged away 0, records moved 0" in out.getvalue()
