"""Where the model runs: Splink's DuckDB backend (one machine, the default) or its Spark
backend (pyspark; local mode or a cluster).

The model — comparisons, blocking rules, thresholds, ID rules, clustering — is one
definition (:mod:`.model`).  An :class:`Engine` only carries what differs between the
databases: the Splink database API, how a table goes in and a result comes out, and the
SQL dialect.  Our own queries are written once in DuckDB's dialect and translated for
Spark with sqlglot (as Splink does); a saved model's SQL is translated the same way when
it is used on the other engine (see :func:`settings_in_dialect`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from typing import TYPE_CHECKING, Any, Final, Literal

import duckdb
import pyarrow as pa
import sqlglot
from splink import DuckDBAPI
from splink.internals.database_api import DatabaseAPI
from splink.internals.dialects import SplinkDialect
from splink.internals.splink_dataframe import SplinkDataFrame
from sqlglot import exp

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jingwu.records.linkage.model import LinkageConfig

__all__ = ["ENGINES", "Engine", "EngineName", "open_engine", "settings_in_dialect", "spark_session", "translate"]

EngineName = Literal["duckdb", "spark"]
ENGINES: Final[tuple[EngineName, ...]] = ("duckdb", "spark")
# The dialect our own SQL and the comparisons' custom levels are written in.
BASE_DIALECT: Final = "duckdb"


class Engine:
    """One open database for one linkage call."""

    name: EngineName
    api: DatabaseAPI[Any]

    def register(self, table: pa.Table, name: str) -> SplinkDataFrame:
        """A table Splink links (prepared records)."""
        return self.api.register(table, table_name=name)

    def arrow(self, sql: str) -> pa.Table:
        """The result of ``sql`` (DuckDB's dialect) as an Arrow table."""
        raise NotImplementedError

    def scalar(self, sql: str) -> Any:
        return self.arrow(sql).column(0)[0].as_py()

    def put(self, name: str, table: pa.Table) -> None:
        """A helper table our SQL joins (not one Splink reads)."""
        raise NotImplementedError

    def drop(self, name: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class DuckDBEngine(Engine):
    name: EngineName = "duckdb"

    def __init__(self, config: LinkageConfig) -> None:
        settings: dict[str, Any] = {}
        if config.threads:
            settings["threads"] = config.threads
        if config.memory_limit:
            settings["memory_limit"] = config.memory_limit
        self.con = duckdb.connect(":memory:", config=settings)
        self.api = DuckDBAPI(connection=self.con)

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def put(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def drop(self, name: str) -> None:
        self.con.unregister(name)

    def close(self) -> None:
        self.con.close()


def _spark_memory(limit: str | None) -> str:
    """DuckDB's "6GB" / "512MiB" as Spark's "6g" / "512m"."""
    if not limit:
        return "4g"
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt])i?b?\s*", limit, flags=re.IGNORECASE)
    if m is None:
        raise ValueError(f"memory limit {limit!r} is not like 1GB or 512MB")
    return f"{m[1]}{m[2].lower()}"


def _let(name: str, value: str, body: str) -> str:
    """``body`` with ``name`` bound to ``value`` (Spark SQL has no LET; a one-element
    array and a lambda do it, and a SQL function may not call another one in a lambda)."""
    return f"transform(array({value}), {name} -> {body})[0]"


# DuckDB's jaro_winkler_similarity as a Spark SQL function, so that both engines score
# pinyin alike.  Spark's own (4.3+) and the UDF in Splink's jar count matches and
# transpositions differently (0.496 where DuckDB says 0.538 for "chen da wen" / "huang
# li"), enough to move pairs across the 0.9 level.  DuckDB's rule: window
# max(len)/2 - 1; each character of a takes the first free equal character of b in its
# window; half the out-of-order matches, rounded down, are transpositions; Winkler's boost
# (0.1 per common leading character, at most 4) only above 0.7; an empty side scores 0.
SPARK_JARO_WINKLER: Final = "jingwu_jaro_winkler"
_WINDOW: Final = "CAST(greatest(greatest(length(a), length(b)) DIV 2 - 1, 0) AS INT)"
_LOW, _HIGH = f"greatest(1, i - {_WINDOW})", f"least(length(b), i + {_WINDOW})"
# js: the position in b (1-based) that each character of a matched so far, 0 for none.
_MATCH_NEXT: Final = (
    f"(js, i) -> concat(js, array(coalesce(array_min(filter("
    f"IF({_LOW} <= {_HIGH}, sequence({_LOW}, {_HIGH}), CAST(array() AS ARRAY<INT>)), "
    "j -> substring(b, j, 1) = substring(a, i, 1) AND NOT array_contains(js, j))), 0)))"
)
# Matched characters out of order: a's in a's order against b's in b's order.
_UNORDERED: Final = (
    "size(filter(zip_with("
    "transform(filter(sequence(1, size(js)), i -> js[i - 1] > 0), i -> substring(a, i, 1)), "
    "transform(array_sort(filter(js, j -> j > 0)), j -> substring(b, j, 1)), (x, y) -> x != y), d -> d))"
)
_JARO: Final = _let("m", "CAST(size(filter(js, j -> j > 0)) AS DOUBLE)", (
    f"IF(m = 0, 0D, ((m / length(a) + m / length(b)) + (m - ({_UNORDERED} DIV 2)) / m) / 3D)"
))  # fmt: skip
_PREFIX: Final = "size(filter(sequence(1, 4), k -> k <= least(length(a), length(b)) AND left(a, k) = left(b, k)))"


def _fused(x: str, y: str, z: str) -> str:
    """x·y + z rounded once, as an FMA does, in plain doubles (Spark SQL has no fma, and
    a lambda may not call java_method): Dekker's exact product, an exact sum, and their
    errors added last — equal to a true FMA on every Jaro-Winkler input up to 40
    characters (checked against exact fractions)."""
    split = "134217729D"  # 2^27 + 1
    exact_sum = _let("s", "z + p", _let("bb", "s - z", "s + (((z - (s - bb)) + (p - bb)) + pe)"))
    return _let("x", x, _let("y", y, _let("z", z, _let("p", "x * y", _let(
        "xh", f"{split} * x - ({split} * x - x)", _let(
            "yh", f"{split} * y - ({split} * y - y)", _let(
                "pe", "((xh * yh - p) + xh * (y - yh) + (x - xh) * yh) + (x - xh) * (y - yh)", exact_sum)))))))


# DuckDB's build fuses prefix·0.1·(1 - jaro) + jaro into one rounding (an FMA: checked
# against it bit for bit), so Spark does too.
_WINKLER: Final = _let("jaro", _JARO, (
    f"IF(jaro > 0.7D, {_fused(f'CAST({_PREFIX} AS DOUBLE) * 0.1D', '1D - jaro', 'jaro')}, jaro)"
))  # fmt: skip
SPARK_FUNCTIONS: Final = (
    f"CREATE OR REPLACE TEMPORARY FUNCTION {SPARK_JARO_WINKLER}(a STRING, b STRING) RETURNS DOUBLE RETURN "
    "IF(length(a) = 0 OR length(b) = 0, 0D, aggregate(sequence(1, length(a)), CAST(array() AS ARRAY<INT>), "
    f"{_MATCH_NEXT}, js -> {_WINKLER}))",
)


def spark_session(config: LinkageConfig, warehouse: str) -> SparkSession:
    """A SparkSession for linkage: shuffle partitions sized for the cores (Spark's default
    of 200 is for clusters), no web UI, its (unused) warehouse in ``warehouse`` rather than
    the working directory.  Local mode binds to the loopback address only."""
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        from jingwu.records.linkage.model import LinkageError

        raise LinkageError("the Spark engine needs Java 17 or later: no java on PATH and no JAVA_HOME")
    from pyspark.sql import SparkSession

    master = config.spark_master or f"local[{config.threads or '*'}]"
    builder = (
        SparkSession.builder.master(master)
        .appName("jingwu-link")
        .config("spark.driver.memory", _spark_memory(config.memory_limit))
        .config("spark.ui.enabled", "false")
        .config("spark.log.level", "ERROR")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", warehouse)
    )
    if master.startswith("local"):
        cores = config.threads or os.cpu_count() or 2
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.config("spark.sql.shuffle.partitions", str(max(2, 2 * cores)))
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
    return builder.getOrCreate()


class SparkEngine(Engine):
    """Splink's SparkAPI on a session of our own, stopped on close (the JVM stays, so a
    second session in one process starts in seconds).  Spark's levenshtein counts
    characters, as DuckDB's does; Jaro-Winkler is ours (:data:`SPARK_FUNCTIONS`)."""

    name: EngineName = "spark"

    def __init__(self, config: LinkageConfig) -> None:
        from splink import SparkAPI

        self.warehouse = tempfile.mkdtemp(prefix="jingwu-spark-")
        try:
            self.spark = spark_session(config, self.warehouse)
        except BaseException:
            shutil.rmtree(self.warehouse, ignore_errors=True)
            raise
        for statement in SPARK_FUNCTIONS:
            self.spark.sql(statement)
        # Persist, not parquet checkpoints: no checkpoint directory to set up and clean.
        # Splink's UDF jar is not used (see SPARK_FUNCTIONS).
        self.api = SparkAPI(spark_session=self.spark, break_lineage_method="persist",
                            register_udfs_automatically=False)

    def arrow(self, sql: str) -> pa.Table:
        return self.spark.sql(translate(sql, BASE_DIALECT, "spark")).toArrow()

    def put(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        self.spark.stop()
        shutil.rmtree(self.warehouse, ignore_errors=True)


@contextmanager
def open_engine(config: LinkageConfig) -> Iterator[Engine]:
    engine: Engine = SparkEngine(config) if config.engine == "spark" else DuckDBEngine(config)
    try:
        yield engine
    finally:
        engine.close()


# --------------------------------------------------------------------------- dialects


def _sqlglot_dialect(name: str) -> str:
    return str(SplinkDialect.from_string(name).sqlglot_dialect)


def _jaro_winkler_for(target: str) -> Callable[[exp.Expression], exp.Expression]:
    """DuckDB's jaro_winkler_similarity is ours on Spark (see SPARK_FUNCTIONS), and back."""

    def rename(node: exp.Expression) -> exp.Expression:
        if target == "spark" and isinstance(node, exp.JarowinklerSimilarity):
            return exp.Anonymous(this=SPARK_JARO_WINKLER, expressions=[node.this, node.expression])
        if (target != "spark" and isinstance(node, exp.Anonymous) and str(node.this).lower() == SPARK_JARO_WINKLER
                and len(node.expressions) == 2):  # fmt: skip
            return exp.JarowinklerSimilarity(this=node.expressions[0], expression=node.expressions[1])
        return node

    return rename


def translate(sql: str, source: str, target: str) -> str:
    """``sql`` (one statement or condition) from one engine's dialect to another's."""
    if source == target:
        return sql
    tree = sqlglot.parse_one(sql, read=_sqlglot_dialect(source))
    return tree.transform(_jaro_winkler_for(target)).sql(dialect=_sqlglot_dialect(target))


def settings_in_dialect(settings: Mapping[str, Any], target: str) -> dict[str, Any]:
    """A Splink settings dict (a saved model) with its SQL in ``target``'s dialect.

    The parameters (m, u, λ) do not depend on the engine; only the SQL text does."""
    out = deepcopy(dict(settings))
    source = out.get("sql_dialect", BASE_DIALECT)
    if source == target:
        return out
    for comparison in out["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level["sql_condition"].strip().upper() != "ELSE":
                level["sql_condition"] = translate(level["sql_condition"], source, target)
    rules = out.get("blocking_rules_to_generate_predictions", [])
    for i, rule in enumerate(rules):
        if isinstance(rule, str):
            rules[i] = translate(rule, source, target)
        else:
            rule["blocking_rule"] = translate(rule["blocking_rule"], source, target)
            if "sql_dialect" in rule:
                rule["sql_dialect"] = target
    out["sql_dialect"] = target
    return out
