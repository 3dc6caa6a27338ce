"""Person linkage with Splink (on DuckDB, or Spark: see :mod:`.engines`), with rules and
analyst judgements above the model.

Pipeline: :func:`prepare` (normalise every field once, in Python, with per-value caches)
→ Splink scores blocked pairs → the ID rules (same validated ID links, two different
validated IDs never do) → :mod:`.clusters` applies judgements and the one-ID-per-person
constraint while clustering → :class:`LinkResult`.

Tables are :class:`pyarrow.Table` (a Splink dependency, so always installed; DuckDB reads
it without a copy).  Anything ``pyarrow.table()`` accepts — a pandas DataFrame, a dict of
columns — or a list of row dicts is accepted as input.

The model is either trained on the data (``training="em"``: λ from the ID rule, u by seeded
random sampling, m by EM on pairs sharing an ID and pairs sharing a phone) or the fixed,
documented priors in :data:`PRIORS` (``training="fixed"``, λ still estimated from the
data).  Trained levels are kept in order of evidence (see ``_keep_levels_ordered``).
Either way it is a Splink model JSON, saved with :meth:`LinkageModel.save`, so an
incremental run scores new records without retraining.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.internals.dialects import SplinkDialect
from splink.internals.splink_dataframe import SplinkDataFrame

from jingwu.core.identifiers import validate_phone, validate_resident_id
from jingwu.records.linkage.clusters import BlockedEdge, Judgement, constrained_components
from jingwu.records.linkage.engines import (
    BASE_DIALECT,
    ENGINES,
    Engine,
    EngineName,
    open_engine,
    settings_in_dialect,
    translate,
)
from jingwu.records.linkage.names import name_keys_many

__all__ = [
    "INPUT_COLUMNS",
    "PREPARED_COLUMNS",
    "PREPARE_VERSION",
    "PRIORS",
    "LinkResult",
    "LinkageConfig",
    "LinkageError",
    "LinkageModel",
    "ReviewPair",
    "comparisons",
    "link",
    "link_incremental",
    "prepare",
    "settings_for",
    "to_arrow",
    "train_model",
]

# What the Django side (or a CSV) hands in; every column but unique_id may be missing.
INPUT_COLUMNS: Final = (
    "unique_id", "source", "name", "id_number", "birth_date", "sex", "phone", "address", "division_code",
)  # fmt: skip
# Bumped whenever prepare() would turn the same input into different features (a new
# surname reading, a new column): stored prepared records of an older version must be
# prepared again before link_incremental compares them with new ones.
PREPARE_VERSION: Final = 1
PREPARED_COLUMNS: Final = (
    "unique_id", "source", "name_norm", "name_pinyin", "name_initials", "surname",
    "id18", "id_text", "id_body", "birth_date", "sex", "phone_e164", "address", "division_code",
)  # fmt: skip

BlockingRule = tuple[str, ...]
Training = Literal["em", "fixed"]


class LinkageError(ValueError):
    """Input the linker refuses: duplicate unique_ids, or blocking that would generate
    more candidate pairs than ``LinkageConfig.max_pairs``."""


@dataclass(frozen=True, slots=True)
class LinkageConfig:
    """Thresholds and knobs.  Probabilities are after the ID rules."""

    accept: float = 0.95  # link at or above
    review_low: float = 0.5  # [review_low, accept) goes to the review queue
    blocking_rules: tuple[BlockingRule, ...] = (
        ("id18",),
        # The first 17 characters: a mistyped check character still meets its owner.
        ("id_body",),
        ("phone_e164",),
        ("name_pinyin", "birth_date"),
        # Catches a one-character typo in the given name when ID and phone are missing.
        ("surname", "birth_date"),
    )
    # Refuse to run when the blocking rules would generate more pairs than this (an upper
    # bound: the sum over rules of n·(n-1)/2 per block) — a bad key fails fast, not in swap.
    max_pairs: int = 60_000_000
    training: Training = "em"
    # Share of true matching pairs that the deterministic ID rule finds; sets λ.
    id_rule_recall: float = 0.8
    # λ given outright skips its estimation.
    probability_two_random_records_match: float | None = None
    u_max_pairs: float = 5e6
    # EM needs enough data; below these, the fixed priors stand (and the model says so).
    em_min_records: int = 1000
    em_min_pairs: int = 50
    seed: int = 20170101
    # Where Splink runs: "duckdb" (one machine) or "spark" (see .engines).
    engine: EngineName = "duckdb"
    threads: int | None = None  # default: all cores (Spark in local mode: local[threads])
    memory_limit: str | None = None  # e.g. "6GB"; DuckDB default: 80% of RAM; Spark's driver: 4g
    spark_master: str | None = None  # e.g. "spark://host:7077"; default local mode

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if not 0.0 < self.review_low <= self.accept <= 1.0:
            raise ValueError(f"need 0 < review_low <= accept <= 1, got {self.review_low}, {self.accept}")
        for rule in self.blocking_rules:
            unknown = set(rule) - set(PREPARED_COLUMNS)
            if not rule or unknown:
                raise ValueError(f"blocking rule {rule!r} must name prepared columns; unknown: {sorted(unknown)}")


# --------------------------------------------------------------------------- prepare

_DATE_RE: Final = re.compile(r"(\d{4})\D{0,2}?(\d{1,2})\D{0,2}?(\d{1,2})\D?")
_SEX: Final = {
    "M": "M", "男": "M", "MALE": "M", "1": "M",
    "F": "F", "女": "F", "FEMALE": "F", "2": "F",
}  # fmt: skip
_PHONE_SEPARATORS: Final = str.maketrans("", "", " -()")


def to_arrow(data: Any) -> pa.Table:
    """A pyarrow Table from a Table, a list of row dicts, or anything ``pa.table`` reads."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, list | tuple):
        return pa.Table.from_pylist(list(data))
    return pa.table(data)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    s = str(value).strip()
    return s or None


def _iso_date(value: object) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    s = _text(value)
    if s is None:
        return None
    if len(s) == 10 and s[4] == "-" and s[7] == "-":
        try:
            return dt.date.fromisoformat(s).isoformat()
        except ValueError:
            return None
    s = unicodedata.normalize("NFKC", s)
    if len(s) == 8 and s.isdigit():
        s = f"{s[:4]}-{s[4:6]}-{s[6:]}"
    m = _DATE_RE.fullmatch(s)
    if m is None:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return None


def _sex(value: object) -> str | None:
    s = _text(value)
    return _SEX.get(s.upper()) if s else None


def _division(value: object) -> str | None:
    s = _text(value)
    if s is None:
        return None
    s = unicodedata.normalize("NFKC", s)
    # Township (9) and village (12) codes start with their county's 6 digits.
    return s[:6] if s.isdigit() and len(s) in (6, 9, 12) else None


def _address(value: object) -> str | None:
    s = _text(value)
    if s is None:
        return None
    return "".join(unicodedata.normalize("NFKC", s).split()) or None


@functools.cache
def _cn_mobile_pattern() -> re.Pattern[str] | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    pattern = metadata.mobile.national_number_pattern if metadata and metadata.mobile else None
    return re.compile(pattern) if pattern else None


def _phone(raw: str) -> str | None:
    """E.164 of a mainland mobile number, else None.

    core.identifiers.validate_phone is the authority, but parses through libphonenumber
    at ~100 µs a number (30 s per million).  An 11-digit national number starting with 1
    is a mobile number exactly when it matches libphonenumber's own CN mobile pattern
    (checked against validate_phone in the tests), so that case is one regex match."""
    digits = raw.translate(_PHONE_SEPARATORS)
    if not digits.isascii():
        digits = unicodedata.normalize("NFKC", digits)  # full-width digits
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    pattern = _cn_mobile_pattern()
    if pattern and len(digits) == 11 and digits[0] == "1" and digits.isascii() and digits.isdigit():
        return "+86" + digits if pattern.fullmatch(digits) else None
    result = validate_phone(raw)
    return result.normalized if result.valid else None


IdParts = tuple[str | None, str | None, str | None, str | None]  # id18, id_text, birth, sex
_NO_ID: Final[IdParts] = (None, None, None, None)


def _id(raw: str) -> IdParts:
    r = validate_resident_id(raw)
    if r.valid:
        return r.normalized, r.normalized, r.birth_date.isoformat() if r.birth_date else None, r.sex
    text = r.normalized
    if len(text) != 18 or not text[:17].isdigit():
        return _NO_ID
    # A mistyped ID is no ID for the rules, but still evidence: its text is compared
    # (one character differs) and its birth date, when real, helps blocking.
    return None, text, _iso_date(f"{text[6:10]}-{text[10:12]}-{text[12:14]}"), None


def _column(table: pa.Table, name: str) -> list[Any]:
    if name in table.column_names:
        return table.column(name).to_pylist()
    return [None] * table.num_rows


def _texts(table: pa.Table, name: str) -> list[str | None]:
    """A column as stripped strings, blank as None — in Arrow, not per value in Python."""
    if name not in table.column_names:
        return [None] * table.num_rows
    column = table.column(name)
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return [_text(v) for v in column.to_pylist()]
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(trimmed, ""), None, trimmed).to_pylist()


def _memo(fn: Callable[[str | None], str | None]) -> Callable[[str | None], str | None]:
    """``fn`` cached for one column: codes and labels repeat across a million rows."""
    cache: dict[str | None, str | None] = {}

    def cached(value: str | None) -> str | None:
        try:
            return cache[value]
        except KeyError:
            result = cache[value] = fn(value)
            return result

    return cached


def is_prepared(table: pa.Table) -> bool:
    return all(c in table.column_names for c in PREPARED_COLUMNS)


def prepare(records: Any) -> pa.Table:
    """Normalise person records for linkage (idempotent: a prepared table passes through).

    Adds name_norm / name_pinyin / name_initials / surname (see :mod:`.names`); id18, the
    validated ID with 15-digit IDs upgraded, null when missing or invalid; id_text, the
    same or, for an 18-character ID that fails validation, its cleaned text, and id_body,
    its first 17 characters (soft evidence: the rules only ever use id18); birth_date and
    sex from the record, else from the ID (a mistyped ID's birth date counts when it is a
    real date); phone_e164; address (NFKC, no whitespace); division_code (the 6-digit
    county code).  Keeps ``cluster_id`` when present."""
    table = to_arrow(records)
    if "unique_id" not in table.column_names:
        raise LinkageError("records need a unique_id column")
    extra = ["cluster_id"] if "cluster_id" in table.column_names else []
    if is_prepared(table):
        return table.select([*PREPARED_COLUMNS, *extra])

    uids = _texts(table, "unique_id")
    if any(u is None for u in uids):
        raise LinkageError("unique_id may not be empty")
    if len(set(uids)) != len(uids):
        raise LinkageError("unique_id values must be unique")

    names = name_keys_many(_texts(table, "name"))

    id_cache: dict[str, IdParts] = {}
    ids: list[IdParts] = []
    for s in _texts(table, "id_number"):
        if s is None:
            ids.append(_NO_ID)
            continue
        hit = id_cache.get(s)
        if hit is None:
            hit = id_cache[s] = _id(s)
        ids.append(hit)

    date_cache: dict[str, str | None] = {}
    births: list[str | None] = []
    for raw, (_, _, id_birth, _) in zip(_column(table, "birth_date"), ids, strict=True):
        if isinstance(raw, str):
            if raw not in date_cache:
                date_cache[raw] = _iso_date(raw)
            births.append(date_cache[raw] or id_birth)
        else:
            births.append(_iso_date(raw) or id_birth)

    sex_of = _memo(_sex)
    sexes = [sex_of(raw) or id_sex for raw, (_, _, _, id_sex) in zip(_texts(table, "sex"), ids, strict=True)]

    phone_cache: dict[str, str | None] = {}
    phones: list[str | None] = []
    for s in _texts(table, "phone"):
        if s is None:
            phones.append(None)
            continue
        if s not in phone_cache:
            phone_cache[s] = _phone(s)
        phones.append(phone_cache[s])

    def nullable(values: Sequence[str | None]) -> pa.Array:
        return pa.array([v or None for v in values], type=pa.string())

    columns: dict[str, pa.Array] = {
        "unique_id": pa.array(uids, type=pa.string()),
        "source": nullable(_texts(table, "source")),
        "name_norm": nullable([k.norm for k in names]),
        "name_pinyin": nullable([k.pinyin for k in names]),
        "name_initials": nullable([k.initials for k in names]),
        "surname": nullable([k.surname for k in names]),
        "id18": nullable([i[0] for i in ids]),
        "id_text": nullable([i[1] for i in ids]),
        "id_body": nullable([i[1][:17] if i[1] else None for i in ids]),
        "birth_date": nullable(births),
        "sex": nullable(sexes),
        "phone_e164": nullable(phones),
        "address": nullable([_address(v) for v in _texts(table, "address")]),
        "division_code": nullable(list(map(_memo(_division), _texts(table, "division_code")))),
    }
    if extra:
        columns["cluster_id"] = nullable(_texts(table, "cluster_id"))
    return pa.table(columns)


# --------------------------------------------------------------------------- the model

# Fixed priors, (m, u) per non-null level, strongest first.  m: share of true matches at
# the level; u: share of random non-matching pairs.  Sources: the noise rates we see in
# source systems (≈2% traditional characters, ≈1% homophones, ≈1% one-character typos,
# people holding two phone numbers) and the population (≈25 000 distinct birth dates,
# a few hundred thousand distinct names in a county, 1-in-a-million shared phones).
PRIORS: Final[dict[str, list[tuple[float, float]]]] = {
    "id_number": [(0.985, 1e-7), (0.01, 1e-7), (0.005, 1.0 - 2e-7)],
    "name": [
        (0.93, 2e-4),  # same normalised name
        (0.02, 1e-4),  # same pinyin: homophone
        (0.02, 3e-4),  # one character differs, same initials
        (0.015, 3e-3),  # one character differs
        (0.005, 2e-2),  # similar pinyin
        (0.01, 0.9766),  # different
    ],
    "birth_date": [(0.97, 4e-5), (0.02, 1.2e-3), (0.01, 0.99876)],
    "phone_e164": [(0.6, 1e-6), (0.4, 1.0 - 1e-6)],
    "sex": [(0.995, 0.5), (0.005, 0.5)],
    "division_code": [(0.8, 0.02), (0.1, 0.1), (0.1, 0.88)],
}


def _levels(name: str, levels: list[Any]) -> list[Any]:
    """Attach the prior (m, u) to each non-null level, in order."""
    priors = PRIORS[name]
    if len(priors) != len(levels) - 1:
        raise AssertionError(f"priors for {name} do not match its levels")
    return [levels[0]] + [
        level.configure(m_probability=m, u_probability=u) for level, (m, u) in zip(levels[1:], priors, strict=True)
    ]


class _EngineLevel(cll.CustomLevel):
    """A level written in DuckDB's SQL, translated for the engine it runs on."""

    def create_sql(self, sql_dialect: SplinkDialect) -> str:
        return translate(self.sql_condition, BASE_DIALECT, sql_dialect.sql_dialect_str)


def comparisons() -> list[cl.CustomComparison]:
    """The comparisons of our model.  Labels are what an analyst reads in the review queue."""

    def custom(name: str, levels: list[Any]) -> cl.CustomComparison:
        return cl.CustomComparison(_levels(name, levels), output_column_name=name)

    def custom_level(sql: str, label_for_charts: str) -> cll.CustomLevel:
        return _EngineLevel(sql, label_for_charts=label_for_charts)

    return [
        custom("id_number", [
            cll.NullLevel("id_text").configure(label_for_charts="missing"),
            cll.ExactMatchLevel("id18").configure(label_for_charts="same"),
            # One side mistyped (a valid pair that differs is decided by the rules anyway).
            custom_level('levenshtein("id_text_l", "id_text_r") <= 1', label_for_charts="one character differs"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ]),
        custom("name", [
            cll.NullLevel("name_norm").configure(label_for_charts="missing"),
            cll.ExactMatchLevel("name_norm").configure(label_for_charts="same"),
            cll.ExactMatchLevel("name_pinyin").configure(label_for_charts="same pinyin"),
            custom_level(
                '"name_initials_l" = "name_initials_r" AND levenshtein("name_norm_l", "name_norm_r") <= 1',
                label_for_charts="one character differs, same initials",
            ),
            # DuckDB >= 2.0.1 and Spark count characters, not UTF-8 bytes (DOMAIN.md §4).
            custom_level('levenshtein("name_norm_l", "name_norm_r") <= 1', label_for_charts="one character differs"),
            custom_level(
                'jaro_winkler_similarity("name_pinyin_l", "name_pinyin_r") >= 0.9', label_for_charts="similar pinyin"
            ),
            cll.ElseLevel().configure(label_for_charts="different"),
        ]),
        custom("birth_date", [
            cll.NullLevel("birth_date").configure(label_for_charts="missing"),
            cll.ExactMatchLevel("birth_date").configure(label_for_charts="same"),
            custom_level('levenshtein("birth_date_l", "birth_date_r") <= 1', label_for_charts="one digit differs"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ]),
        custom("phone_e164", [
            cll.NullLevel("phone_e164").configure(label_for_charts="missing"),
            cll.ExactMatchLevel("phone_e164").configure(label_for_charts="same"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ]),
        custom("sex", [
            cll.NullLevel("sex").configure(label_for_charts="missing"),
            cll.ExactMatchLevel("sex").configure(label_for_charts="same"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ]),
        custom("division_code", [
            cll.NullLevel("division_code").configure(label_for_charts="missing"),
            cll.ExactMatchLevel("division_code").configure(label_for_charts="same county"),
            custom_level(
                'substr("division_code_l", 1, 4) = substr("division_code_r", 1, 4)', label_for_charts="same city"
            ),
            cll.ElseLevel().configure(label_for_charts="different"),
        ]),
    ]  # fmt: skip


def settings_for(config: LinkageConfig, probability_two_random_records_match: float = 1e-6) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=list(comparisons()),
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in config.blocking_rules],
        probability_two_random_records_match=probability_two_random_records_match,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
    )


@dataclass(frozen=True)
class LinkageModel:
    """A trained (or prior) model: the Splink settings JSON and how it was made."""

    settings: dict[str, Any]
    training: Training
    trained_on: int = 0  # records
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"format": "jingwu.linkage.model/1", "training": self.training, "trained_on": self.trained_on,
             "info": self.info, "splink": self.settings},
            ensure_ascii=False, indent=1, sort_keys=True,
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> LinkageModel:
        data = json.loads(text)
        if data.get("format") != "jingwu.linkage.model/1":
            raise ValueError("not a jingwu linkage model")
        return cls(data["splink"], data["training"], data.get("trained_on", 0), data.get("info", {}))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LinkageModel:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def linker(self, data: SplinkDataFrame) -> Linker:
        """A Linker on ``data``'s engine; a model saved by the other engine has its SQL
        translated (the parameters are the same)."""
        dialect = data.db_api.sql_dialect.sql_dialect_str
        return Linker(data, settings_in_dialect(self.settings, dialect), log_level=None)


def _probability_two_random_records_match(engine: Engine, table: str, n_records: int, config: LinkageConfig) -> float:
    """λ as Splink estimates it (pairs found by the deterministic ID rule ÷ its recall ÷
    all pairs), counted in one GROUP BY, with an answer for inputs the estimate cannot
    handle (no shared ID at all, a handful of records)."""
    if config.probability_two_random_records_match is not None:
        return config.probability_two_random_records_match
    total = n_records * (n_records - 1) // 2
    if total == 0:
        return 0.5
    observed = _count_pairs(engine, [("id18",)], table, None)
    # Without a single shared ID, assume about one match per two records.
    estimate = observed / config.id_rule_recall / total if observed else 1.0 / max(n_records, 2)
    return min(max(estimate, 1e-12), 0.5)


def _keep_levels_ordered(settings: dict[str, Any]) -> list[str]:
    """Cap each level's Bayes factor at half the one above it; returns what was capped.

    Levels run from strongest to weakest evidence (an identical birth date says more than
    one digit apart).  EM does not know that, and where a level is rare among the pairs it
    trains on it can end up outweighing the level above — then a father and son of one
    name, born 1955 and 1985, would beat the father's own exact record."""
    capped: list[str] = []
    for comparison in settings["comparisons"]:
        ceiling = math.inf
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or not m or not u:
                continue
            if m / u > ceiling:
                level["m_probability"] = ceiling * u
                capped.append(f"{comparison['output_column_name']}: {level.get('label_for_charts')}")
            ceiling = level["m_probability"] / u / 2
    return capped


def _train(engine: Engine, sdf: SplinkDataFrame, config: LinkageConfig, n_records: int) -> LinkageModel:
    started = time.perf_counter()
    lam = _probability_two_random_records_match(engine, sdf.physical_name, n_records, config)
    linker = Linker(sdf, settings_for(config, lam), log_level=None)
    info: dict[str, Any] = {"probability_two_random_records_match": lam}
    training: Training = config.training
    if training == "em" and n_records < config.em_min_records:
        training, info["note"] = "fixed", f"{n_records} records are too few for EM; fixed priors used"
    if training == "em":
        # Splink counts u in chunks, stopping early once every level has 100 pairs; on
        # Spark each chunk is a job of its own, so it takes the whole sample in one.
        chunks = {"num_chunks": 1} if engine.name == "spark" else {}
        linker.training.estimate_u_using_random_sampling(max_pairs=config.u_max_pairs, seed=config.seed, **chunks)
        # Pairs sharing a validated ID are (nearly) all matches: m for everything but the
        # ID.  Pairs sharing a phone mix people and their families: m for the ID itself.
        for column in ("id18", "phone_e164"):
            if _count_pairs(engine, [(column,)], sdf.physical_name, None) < config.em_min_pairs:
                info.setdefault("skipped_em", []).append(column)
                continue
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(column))
    settings = linker.misc.save_model_to_json()
    capped = _keep_levels_ordered(settings)
    if capped:
        info["capped_levels"] = capped
    info["train_seconds"] = round(time.perf_counter() - started, 3)
    return LinkageModel(settings, training, n_records, info)


def train_model(records: Any, config: LinkageConfig | None = None) -> LinkageModel:
    """Train (or, with ``training="fixed"``, calibrate λ of) the model on ``records``."""
    config = config or LinkageConfig()
    prepared = prepare(records)
    with open_engine(config) as engine:
        sdf = engine.register(prepared.select(list(PREPARED_COLUMNS)), "jingwu_records")
        return _train(engine, sdf, config, prepared.num_rows)


# --------------------------------------------------------------------------- linking


@dataclass(frozen=True, slots=True)
class ReviewPair:
    """A pair an analyst should look at."""

    uid_a: str
    uid_b: str
    probability: float | None  # after the ID rules
    model_probability: float | None  # Splink's, before them
    # "uncertain": in [review_low, accept); "unsure": judged unsure earlier;
    # "blocked:different_id": strong, but would put two ID numbers in one entity.
    reason: str
    # comparison → level label, e.g. {"name": "same pinyin", "phone_e164": "same", ...}
    explanation: dict[str, str]


@dataclass
class LinkResult:
    clusters: dict[str, str]  # unique_id → cluster_id
    review_pairs: list[ReviewPair]
    stats: dict[str, Any]
    model: LinkageModel
    # Scored pairs with probability ≥ review_low (and judged ones): unique_id_l,
    # unique_id_r, probability, model_probability, rule, gamma_* columns.
    pairs: pa.Table | None = None
    # The prepared records of this run (new ones only, for link_incremental).  Store them
    # with their cluster_id and pass them back as ``existing``: prepare() skips a table
    # that is already prepared.
    records: pa.Table | None = None

    def partition(self) -> set[frozenset[str]]:
        """The clusters as a set of member sets (for comparing runs)."""
        groups: dict[str, set[str]] = {}
        for uid, cluster in self.clusters.items():
            groups.setdefault(cluster, set()).add(uid)
        return {frozenset(g) for g in groups.values()}


def _level_labels(settings: Mapping[str, Any]) -> dict[str, dict[int, str]]:
    """gamma value → label per comparison, numbered as Splink does (null -1, else 0, the
    strongest level highest)."""
    out: dict[str, dict[int, str]] = {}
    for comparison in settings["comparisons"]:
        levels = comparison["comparison_levels"]
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        labels = {len(non_null) - 1 - i: lv.get("label_for_charts", "") for i, lv in enumerate(non_null)}
        labels[-1] = next((lv.get("label_for_charts", "missing") for lv in levels if lv.get("is_null_level")), "")
        out[comparison["output_column_name"]] = labels
    return out


def _count_pairs(engine: Engine, rules: Sequence[BlockingRule], left: str, right: str | None) -> int:
    """Upper bound on candidate pairs: per rule and block, n·(n-1)/2 within one table or
    n_left·n_right + n_right·(n_right-1)/2 for new records against existing ones.  One
    query for all rules (on Spark each query is a job)."""
    per_rule = []
    for rule in rules:
        keys = ", ".join(f'"{c}"' for c in rule)
        not_null = " AND ".join(f'"{c}" IS NOT NULL' for c in rule)
        if right is None:
            per_rule.append(
                "SELECT COALESCE(SUM(n * (n - 1) // 2), 0) AS pairs FROM "  # noqa: S608 - our own column names
                f"(SELECT COUNT(*) AS n FROM {left} WHERE {not_null} GROUP BY {keys}) AS blocks"
            )
        else:
            per_rule.append(
                "SELECT COALESCE(SUM(r.n * COALESCE(l.n, 0) + r.n * (r.n - 1) // 2), 0) AS pairs FROM "  # noqa: S608
                f"(SELECT {keys}, COUNT(*) AS n FROM {right} WHERE {not_null} GROUP BY {keys}) r LEFT JOIN "
                f"(SELECT {keys}, COUNT(*) AS n FROM {left} WHERE {not_null} GROUP BY {keys}) l USING ({keys})"
            )
    if not per_rule:
        return 0
    return int(engine.scalar(f"SELECT SUM(pairs) FROM ({' UNION ALL '.join(per_rule)}) AS rules"))  # noqa: S608


def _scored_pairs(
    engine: Engine,
    predictions: Sequence[SplinkDataFrame],
    gamma_columns: Sequence[str],
    config: LinkageConfig,
    watched: Sequence[tuple[str, str]],
) -> pa.Table:
    """The ID rules in SQL over Splink's predictions, keeping pairs at or above review_low
    and the ``watched`` pairs (judged unsure) whatever their score."""
    engine.put("jingwu_watched", pa.table({"a": [a for a, _ in watched], "b": [b for _, b in watched]},
                                          schema=pa.schema([("a", pa.string()), ("b", pa.string())])))  # fmt: skip
    # SQL is built only from our model's column names and Splink's table names.
    gammas = "".join(f', "{g}"' for g in gamma_columns)
    union = " UNION ALL ".join(
        "SELECT least(unique_id_l, unique_id_r) AS unique_id_l, greatest(unique_id_l, unique_id_r) AS unique_id_r, "  # noqa: S608
        f"match_probability, id18_l, id18_r{gammas} FROM {p.physical_name}"
        for p in predictions
    )
    # Subqueries, not a WITH: Spark matches its cached predictions only outside a CTE.
    sql = f"""
        SELECT * FROM (
            SELECT unique_id_l, unique_id_r, match_probability AS model_probability,
                CASE WHEN id18_l = id18_r THEN 1.0
                     WHEN id18_l IS NOT NULL AND id18_r IS NOT NULL THEN 0.0
                     ELSE match_probability END AS probability,
                CASE WHEN id18_l = id18_r THEN 'same_id'
                     WHEN id18_l IS NOT NULL AND id18_r IS NOT NULL THEN 'different_id'
                     ELSE 'model' END AS rule{gammas}
            FROM ({union}) AS p
        ) AS r
        WHERE probability >= {float(config.review_low)!r}
           OR EXISTS (SELECT 1 FROM jingwu_watched w WHERE w.a = r.unique_id_l AND w.b = r.unique_id_r)
        -- The order clustering takes edges in; sorted here in parallel, Python's sort then
        -- only confirms it.
        ORDER BY probability DESC, unique_id_l, unique_id_r
    """  # noqa: S608
    table = engine.arrow(sql)
    engine.drop("jingwu_watched")
    return table


def _finish(
    *,
    uids: list[str],
    id_of: dict[str, str | None],
    scored: pa.Table,
    judgements: Sequence[Judgement],
    seeds: Mapping[str, str] | None,
    model: LinkageModel,
    config: LinkageConfig,
    stats: dict[str, Any],
) -> LinkResult:
    started = time.perf_counter()
    verdicts = {j.key: j.verdict for j in judgements}
    lefts = scored.column("unique_id_l").to_pylist()
    rights = scored.column("unique_id_r").to_pylist()
    probs = scored.column("probability").to_pylist()

    # Judged pairs never link on the model's word: confirmed ones link as judgements,
    # rejected ones are constraints, unsure ones wait in the queue.
    edges = [(a, b, p) for a, b, p in zip(lefts, rights, probs, strict=True) if (a, b) not in verdicts]
    comps = constrained_components(uids, edges, accept=config.accept, id_of=id_of, judgements=judgements, seeds=seeds)
    cluster_of = comps.cluster_of

    # The queue: pairs judged unsure, strong pairs blocked by two ID numbers (maybe a data
    # error), and the uncertain band — each only while its records are apart.
    wanted: dict[tuple[str, str], str] = {}
    for key, verdict in sorted(verdicts.items()):
        if verdict == "unsure" and key[0] in cluster_of and key[1] in cluster_of:
            wanted[key] = "unsure"
    blocked: BlockedEdge
    for blocked in comps.blocked:
        key = (blocked.uid_a, blocked.uid_b)
        # An edge blocked by a rejection needs no review: the analyst already said the
        # record is not that entity's person.
        if blocked.reason == "different_id" and key not in wanted and cluster_of[key[0]] != cluster_of[key[1]]:
            wanted[key] = "blocked:different_id"
    for a, b, p in edges:
        if config.review_low <= p < config.accept and (a, b) not in wanted and cluster_of[a] != cluster_of[b]:
            wanted[(a, b)] = "uncertain"

    # Explanations only for the queued rows: the gamma columns of a million pairs are not
    # worth turning into Python objects.
    rows = [i for i, key in enumerate(zip(lefts, rights, strict=True)) if key in wanted]
    picked = scored.take(pa.array(rows, type=pa.int64())).to_pylist()
    labels = _level_labels(model.settings)
    queue: list[ReviewPair] = []
    for row in picked:
        explanation = {}
        for column, value in row.items():
            if column.startswith("gamma_"):
                comparison = column[len("gamma_") :]
                explanation[comparison] = labels.get(comparison, {}).get(value, str(value))
        key = (row["unique_id_l"], row["unique_id_r"])
        queue.append(ReviewPair(*key, row["probability"], row["model_probability"], wanted.pop(key), explanation))
    # Judged unsure but never scored (no blocking rule brings them together).
    queue.extend(ReviewPair(*key, None, None, reason, {}) for key, reason in wanted.items())
    queue.sort(key=lambda r: (-(r.probability or 0.0), r.uid_a, r.uid_b))

    sizes: dict[str, int] = {}
    for c in cluster_of.values():
        sizes[c] = sizes.get(c, 0) + 1
    rules = scored.column("rule").to_pylist()
    stats.update(
        records=len(uids),
        pairs_kept=scored.num_rows,
        pairs_same_id=rules.count("same_id"),
        pairs_different_id=rules.count("different_id"),
        links_applied=comps.links_applied,
        blocked_rejected=sum(1 for b in comps.blocked if b.reason == "rejected"),
        blocked_different_id=sum(1 for b in comps.blocked if b.reason == "different_id"),
        conflicting_confirmations=len(comps.conflicting_confirmations),
        detached=len(comps.detached),
        clusters=len(sizes),
        singletons=sum(1 for n in sizes.values() if n == 1),
        largest_cluster=max(sizes.values(), default=0),
        review_pairs=len(queue),
        cluster_seconds=round(time.perf_counter() - started, 3),
    )
    return LinkResult(cluster_of, queue, stats, model, scored)


def _rows(engine: Engine, table: SplinkDataFrame) -> int:
    return int(engine.scalar(f"SELECT COUNT(*) FROM {table.physical_name}"))  # noqa: S608


def _watched(judgements: Sequence[Judgement]) -> list[tuple[str, str]]:
    return [j.key for j in judgements if j.verdict == "unsure"]


def _gamma_columns(model: LinkageModel) -> list[str]:
    prefix = model.settings.get("comparison_vector_value_column_prefix", "gamma_")
    return [prefix + c["output_column_name"] for c in model.settings["comparisons"]]


def link(
    records: Any,
    *,
    model: LinkageModel | None = None,
    judgements: Sequence[Judgement] = (),
    config: LinkageConfig | None = None,
) -> LinkResult:
    """Link all ``records`` (any sources, one table) into entities.

    Without a ``model`` one is trained on the records (see ``LinkageConfig.training``)."""
    config = config or LinkageConfig()
    stats: dict[str, Any] = {}
    t0 = time.perf_counter()
    prepared = prepare(records).select(list(PREPARED_COLUMNS))
    stats["prepare_seconds"] = round(time.perf_counter() - t0, 3)
    uids = prepared.column("unique_id").to_pylist()
    id_of = dict(zip(uids, prepared.column("id18").to_pylist(), strict=True))

    with open_engine(config) as engine:
        sdf = engine.register(prepared, "jingwu_records")
        bound = _count_pairs(engine, config.blocking_rules, "jingwu_records", None)
        stats["pairs_upper_bound"] = bound
        if bound > config.max_pairs:
            raise LinkageError(f"blocking would compare up to {bound:,} pairs, over max_pairs={config.max_pairs:,}")
        if model is None:
            t1 = time.perf_counter()
            model = _train(engine, sdf, config, prepared.num_rows)
            stats["train_seconds"] = round(time.perf_counter() - t1, 3)
        t2 = time.perf_counter()
        predictions = model.linker(sdf).inference.predict(warning_mode="never")
        stats["pairs_scored"] = _rows(engine, predictions)
        scored = _scored_pairs(engine, [predictions], _gamma_columns(model), config, _watched(judgements))
        stats["predict_seconds"] = round(time.perf_counter() - t2, 3)

    result = _finish(uids=uids, id_of=id_of, scored=scored, judgements=judgements, seeds=None,
                     model=model, config=config, stats=stats)  # fmt: skip
    result.records = prepared
    return result


def link_incremental(
    existing: Any,
    new: Any,
    *,
    model: LinkageModel,
    judgements: Sequence[Judgement] = (),
    config: LinkageConfig | None = None,
) -> LinkResult:
    """Link a new batch against records already clustered (``existing`` has a cluster_id
    column) without rescoring existing pairs.

    New records are scored against existing ones and each other; existing clusters keep
    their ids and members and can only grow or merge (a split is an analyst's, through
    rejected judgements).  The result covers existing and new records."""
    config = config or LinkageConfig()
    stats: dict[str, Any] = {}
    t0 = time.perf_counter()
    old = prepare(existing)
    if "cluster_id" not in old.column_names:
        raise LinkageError("existing records need a cluster_id column")
    fresh = prepare(new).select(list(PREPARED_COLUMNS))
    stats["prepare_seconds"] = round(time.perf_counter() - t0, 3)
    old_uids = old.column("unique_id").to_pylist()
    new_uids = fresh.column("unique_id").to_pylist()
    overlap = set(old_uids).intersection(new_uids)
    if overlap:
        raise LinkageError(f"{len(overlap)} new records are already linked, e.g. {sorted(overlap)[0]!r}")
    seeds = dict(zip(old_uids, old.column("cluster_id").to_pylist(), strict=True))
    if any(c is None for c in seeds.values()):
        raise LinkageError("every existing record needs a cluster_id")
    uids = old_uids + new_uids
    id_of = dict(zip(old_uids, old.column("id18").to_pylist(), strict=True))
    id_of.update(zip(new_uids, fresh.column("id18").to_pylist(), strict=True))

    with open_engine(config) as engine:
        old_sdf = engine.register(old.select(list(PREPARED_COLUMNS)), "jingwu_existing")
        new_sdf = engine.register(fresh, "jingwu_new")
        bound = _count_pairs(engine, config.blocking_rules, "jingwu_existing", "jingwu_new")
        stats["pairs_upper_bound"] = bound
        if bound > config.max_pairs:
            raise LinkageError(f"blocking would compare up to {bound:,} pairs, over max_pairs={config.max_pairs:,}")
        t2 = time.perf_counter()
        inference = model.linker(new_sdf).inference
        predictions = [
            inference.predict_between(old_sdf, new_sdf, warning_mode="never"),
            inference.predict_within(new_sdf, warning_mode="never"),
        ]
        stats["pairs_scored"] = sum(_rows(engine, p) for p in predictions)
        scored = _scored_pairs(engine, predictions, _gamma_columns(model), config, _watched(judgements))
        stats["predict_seconds"] = round(time.perf_counter() - t2, 3)

    result = _finish(uids=uids, id_of=id_of, scored=scored, judgements=judgements, seeds=seeds,
                     model=model, config=config, stats=stats)  # fmt: skip
    result.records = fresh
    return result
