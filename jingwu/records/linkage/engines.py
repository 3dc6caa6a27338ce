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
from collections.abc import Iterator, Mapping
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


def spark_session(config: LinkageConfig) -> SparkSession:
    """A SparkSession for linkage: Splink's similarity UDF jar, shuffle partitions sized
    for the cores (Spark's default of 200 is for clusters), no web UI.  Local mode binds to
    the loopback address only."""
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        from jingwu.records.linkage.model import LinkageError

        raise LinkageError("the Spark engine needs Java 17 or later: no java on PATH and no JAVA_HOME")
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    master = config.spark_master or f"local[{config.threads or '*'}]"
    builder = (
        SparkSession.builder.master(master)
        .appName("jingwu-link")
        .config("spark.jars", similarity_jar_location())
        .config("spark.driver.memory", _spark_memory(config.memory_limit))
        .config("spark.ui.enabled", "false")
        .config("spark.log.level", "ERROR")
        .config("spark.ui.showConsoleProgress", "false")
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
    second session in one process starts in seconds)."""

    name: EngineName = "spark"

    def __init__(self, config: LinkageConfig) -> None:
        from splink import SparkAPI

        self.spark = spark_session(config)
        # Persist, not parquet checkpoints: no checkpoint directory to set up and clean.
        self.api = SparkAPI(spark_session=self.spark, break_lineage_method="persist")

    def arrow(self, sql: str) -> pa.Table:
        return self.spark.sql(translate(sql, BASE_DIALECT, "spark")).toArrow()

    def put(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        self.spark.stop()


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


def _rename_functions(node: exp.Expression, target: str) -> exp.Expression:
    """Jaro-Winkler is DuckDB's jaro_winkler_similarity and, on Spark, the jaro_winkler
    UDF from Splink's jar, which sqlglot knows nothing of."""
    if target == "spark" and isinstance(node, exp.JarowinklerSimilarity):
        return exp.Anonymous(this="jaro_winkler", expressions=[node.this, node.expression])
    if (target != "spark" and isinstance(node, exp.Anonymous) and str(node.this).lower() == "jaro_winkler"
            and len(node.expressions) == 2):  # fmt: skip
        return exp.JarowinklerSimilarity(this=node.expressions[0], expression=node.expressions[1])
    return node


def translate(sql: str, source: str, target: str) -> str:
    """``sql`` (one statement or condition) from one engine's dialect to another's."""
    if source == target:
        return sql
    tree = sqlglot.parse_one(sql, read=_sqlglot_dialect(source))
    return tree.transform(_rename_functions, target).sql(dialect=_sqlglot_dialect(target))


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
