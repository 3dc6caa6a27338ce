"""Turn one raw row into our fields, or into the reasons it cannot be imported.

Every identifier goes through :mod:`jingwu.core.identifiers`; names and text are only
tidied (whitespace), never rewritten — traditional characters stay as the source wrote
them, linkage compares them later.  A present-but-invalid value is an error and the row
goes to quarantine with one :class:`FieldIssue` per reason; soft signals (an unknown
address code, a failed Luhn check, a 15-digit ID upgraded) are warnings on a good row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any, Final

from jingwu.core.identifiers import (
    PROVINCE_CODES,
    Identifier,
    Issue,
    validate_bank_card,
    validate_phone,
    validate_plate,
    validate_resident_id,
    validate_uscc,
)
from jingwu.records import reasons
from jingwu.records.mapping import KEY_JOINER, REQUIRED_FIELDS, VOCABULARY, FieldSpec, FieldType, Kind, Mapping
from jingwu.records.readers import RawRow

__all__ = [
    "DEFAULT_DATE_FORMATS",
    "SOURCE_KEY_MAX_LENGTH",
    "BadRow",
    "FieldIssue",
    "GoodRow",
    "RowResult",
    "content_hash",
    "excel_serial_to_date",
    "normalize_row",
]

# Tried, after ISO 8601, when a mapping names no formats for a date field.
DEFAULT_DATE_FORMATS: Final = ("%Y%m%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")
# records.models.SourceRecord.source_key is a CharField(max_length=100).
SOURCE_KEY_MAX_LENGTH: Final = 100
_EARLIEST_DATE: Final = dt.date(1900, 1, 1)

# date.today() costs a system call per row; a date a minute stale is fine for "not in the future".
_today_cache: list[tuple[float, dt.date]] = [(0.0, dt.date.min)]


def _today() -> dt.date:
    checked_at, today = _today_cache[0]
    now = time.monotonic()
    if now - checked_at > 60.0:
        today = dt.date.today()
        _today_cache[0] = (now, today)
    return today


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One reason about one field; ``message`` is the whole sentence in English ("row 17,
    column 证件号码 (id_number): check character is '1', expected 'X'"), ``reason`` and
    ``params`` the same in a form each language renders (reasons.py; set for errors, the
    issues a row is quarantined for). Equal issues have equal messages."""

    field: str
    column: str
    value: str | None
    code: str
    message: str
    reason: str = dataclasses.field(default="", compare=False)
    params: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)


def error_issue(field_name: str, column: str, value: str | None, code: str, place: str, sentence: str,
                scope: str = "row") -> FieldIssue:
    """An error: the sentence after its place, with the reason found in it."""
    explained = reasons.explain(scope, code, sentence)
    reason, params = explained if explained is not None else ("", {})
    return FieldIssue(field_name, column, value, code, f"{place}: {sentence}", reason, params)


# Results are not frozen: a frozen dataclass costs about 0.75 µs more per row to build,
# and nothing here changes them after normalize_row returns.
@dataclass(slots=True)
class GoodRow:
    row_number: int
    source_key: str
    kind: Kind
    # Every field of the kind's vocabulary, normalised; None when absent.
    fields: dict[str, str | None]
    raw: dict[str, str | None]
    warnings: list[FieldIssue]

    @property
    def content_hash(self) -> str:
        return content_hash(self.fields)


@dataclass(slots=True)
class BadRow:
    row_number: int
    raw: dict[str, str | None]
    issues: list[FieldIssue]


RowResult = GoodRow | BadRow


# One encoder for every call: json.dumps with options builds a new one each time.
_CANONICAL_JSON: Final = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(fields: MappingABC[str, str | None]) -> str:
    """SHA-256 of the canonical JSON of the normalised fields.  Key order does not matter,
    and a field that is None counts as absent, so mapping one more empty column does not
    make every record look changed."""
    present = fields if None not in fields.values() else {
        name: value for name, value in fields.items() if value is not None}
    canonical = _CANONICAL_JSON.encode(present)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- normalisers


class _Invalid(Exception):
    """Raised by a normaliser: the value is present but not acceptable."""

    def __init__(self, *issues: Issue) -> None:
        super().__init__(issues)
        self.issues = issues


# A normaliser takes the cell text (never blank) and a list to append warnings to, and
# returns the normalised value, or None when the value means "unknown" (性别 未知).
Normaliser = Callable[[str, list[Issue]], str | None]


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _text(text: str, warnings: list[Issue]) -> str | None:
    return _collapse(text) or None


def _name(text: str, warnings: list[Issue]) -> str | None:
    name = _collapse(text)
    if not name:
        return None
    if not name[0].isalpha() and not any(char.isalpha() for char in name):
        if name.replace(" ", "").isdigit():
            raise _Invalid(Issue("name_digits_only", "a name cannot be only digits"))
        raise _Invalid(Issue("name_no_letters", "a name needs at least one letter"))
    return name


def excel_serial_to_date(serial: float) -> dt.date:
    """The date of an Excel serial number (1900 date system).  Excel counts 1900-02-29,
    a day that never was (Lotus 1-2-3's leap-year bug), as serial 60: serials below it
    count from 1899-12-31, serials above it from 1899-12-30."""
    if not math.isfinite(serial) or serial < 1:
        raise ValueError(f"Excel serial {serial:g} is before 1900-01-01")
    whole = int(serial)
    if whole == 60:
        raise ValueError("Excel serial 60 is 1900-02-29, a day that does not exist (the Lotus leap-year bug)")
    base = dt.date(1899, 12, 31) if whole < 60 else dt.date(1899, 12, 30)
    return base + dt.timedelta(days=whole)


def _looks_like_excel_serial(text: str) -> bool:
    """Five digits, maybe with a time fraction: 10000 is 1927-05-18 and 99999 is 2173, so a
    four-digit year or an eight-digit YYYYMMDD can never be mistaken for one."""
    whole, _, fraction = text.partition(".")
    return len(whole) == 5 and whole.isdigit() and whole.isascii() and (not fraction or fraction.isdigit())


def _parse_with_format(text: str, fmt: str) -> dt.date | None:
    # The two formats most sources use, without strptime's cost.
    if fmt == "%Y%m%d":
        if len(text) != 8 or not text.isdigit() or not text.isascii():
            return None
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    try:
        return dt.datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def _parse_iso(text: str) -> dt.date | None:
    # Also "1985-01-01T08:00:00" / "1985-01-01 08:00:00": the date is what we keep.
    if len(text) < 10 or text[4] != "-" or text[7] != "-" or (len(text) > 10 and text[10] not in "T "):
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _date_normaliser(spec: FieldSpec) -> Normaliser:
    formats = spec.formats or DEFAULT_DATE_FORMATS
    listed = ", ".join(("ISO %Y-%m-%d", *formats))

    def normalise(text: str, warnings: list[Issue]) -> str | None:
        value = text.strip()
        parsed = _parse_iso(value)
        if parsed is None:
            for fmt in formats:
                parsed = _parse_with_format(value, fmt)
                if parsed is not None:
                    break
        if parsed is None and _looks_like_excel_serial(value):
            try:
                parsed = excel_serial_to_date(float(value))
            except ValueError as exc:
                raise _Invalid(Issue("bad_excel_serial", str(exc))) from None
        if parsed is None:
            raise _Invalid(Issue("not_a_date", f"{value!r} is not a date in any of the formats {listed}"))
        if parsed < _EARLIEST_DATE:
            raise _Invalid(Issue("date_before_1900", f"{parsed.isoformat()} is before 1900"))
        if parsed > _today():
            raise _Invalid(Issue("future_date", f"{parsed.isoformat()} is in the future"))
        return parsed.isoformat()

    return normalise


# GB/T 2261.1 codes (0 unknown, 1 male, 2 female, 9 unstated) and the usual words.
_SEX_VALUES: Final[dict[str, str | None]] = {
    "男": "M", "男性": "M", "M": "M", "MALE": "M", "1": "M",
    "女": "F", "女性": "F", "F": "F", "FEMALE": "F", "2": "F",
    "未知": None, "未知的性别": None, "未说明": None, "未说明的性别": None, "0": None, "9": None,
}  # fmt: skip


def _sex_normaliser(spec: FieldSpec) -> Normaliser:
    mapped = dict(spec.values)

    def normalise(text: str, warnings: list[Issue]) -> str | None:
        value = text.strip()
        if value in mapped:
            return mapped[value]
        key = value.upper()
        if key in _SEX_VALUES:
            return _SEX_VALUES[key]
        raise _Invalid(Issue("unknown_sex", f"{value!r} is not a sex value (expected 男/女, M/F or 1/2)"))

    return normalise


_COORDINATE_RANGE: Final = {"lon": 180.0, "lat": 90.0}


def _number_normaliser(spec: FieldSpec) -> Normaliser:
    limit = _COORDINATE_RANGE.get(spec.field, math.inf)

    def normalise(text: str, warnings: list[Issue]) -> str | None:
        value = text.strip()
        try:
            number = float(value)
        except ValueError:
            raise _Invalid(Issue("not_a_number", f"{value!r} is not a number")) from None
        if not math.isfinite(number) or abs(number) > limit:
            raise _Invalid(Issue("out_of_range", f"{value} is outside -{limit:g}..{limit:g}"))
        # Seven decimals is about a centimetre: enough, and stable for the content hash.
        return f"{number:.7f}".rstrip("0").rstrip(".")

    return normalise


def _division_code(text: str, warnings: list[Issue]) -> str | None:
    code = "".join(text.split())
    if not (code.isdigit() and code.isascii() and len(code) in (6, 9, 12)):
        raise _Invalid(Issue("bad_division_code", f"{code!r} is not a 6-, 9- or 12-digit division code"))
    if code[:2] not in PROVINCE_CODES:
        raise _Invalid(Issue("bad_division_code", f"{code[:2]} is not a province-level code"))
    return code


_VIN_CHARS: Final = frozenset("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")  # no I, O, Q
_VIN_VALUES: Final = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7, "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}  # fmt: skip
_VIN_WEIGHTS: Final = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def _vin(text: str, warnings: list[Issue]) -> str | None:
    vin = "".join(text.split()).replace("-", "").upper()
    if len(vin) != 17 or not set(vin) <= _VIN_CHARS:
        raise _Invalid(Issue("bad_vin", "a VIN has 17 letters and digits, without I, O and Q"))
    # GB 16735 keeps the ISO 3779 check digit in position 9; some imports lack it, so only warn.
    remainder = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
    expected = "X" if remainder == 10 else str(remainder)
    if vin[8] != expected:
        warnings.append(Issue("vin_check_digit", f"VIN check digit is {vin[8]!r}, expected {expected!r}"))
    return vin


def _identifier(validator: Callable[[str], Identifier]) -> Normaliser:
    def normalise(text: str, warnings: list[Issue]) -> str | None:
        result = validator(text)
        if not result.valid:
            raise _Invalid(*result.errors)
        warnings.extend(result.warnings)
        return result.normalized

    return normalise


def _resident_id(text: str, warnings: list[Issue]) -> str | None:
    result = validate_resident_id(text)
    if not result.valid:
        raise _Invalid(*result.errors)
    warnings.extend(result.warnings)
    if result.upgraded_from_15:
        warnings.append(Issue("upgraded_from_15", f"legacy 15-digit ID {text.strip()} upgraded to {result.normalized}"))
    return result.normalized


# 7-digit segments (号段) already found valid by validate_phone.  A mobile number's validity
# depends only on its leading digits, so a plain 11-digit number in a known segment needs no
# second trip through libphonenumber (about 40 µs a call).  Bounded: numbers outside the
# cache still go the full way.
_MOBILE_SEGMENTS: set[str] = set()
_MOBILE_SEGMENTS_MAX: Final = 250_000


def _phone(text: str, warnings: list[Issue]) -> str | None:
    plain = len(text) == 11 and text[0] == "1" and text.isdigit() and text.isascii()
    if plain and text[:7] in _MOBILE_SEGMENTS:
        return "+86" + text
    result = validate_phone(text)
    if not result.valid:
        raise _Invalid(*result.errors)
    warnings.extend(result.warnings)
    if plain and result.normalized == "+86" + text and len(_MOBILE_SEGMENTS) < _MOBILE_SEGMENTS_MAX:
        _MOBILE_SEGMENTS.add(text[:7])
    return result.normalized


_STATIC_NORMALISERS: Final[dict[FieldType, Normaliser]] = {
    "text": _text,
    "name": _name,
    "division_code": _division_code,
    "vin": _vin,
    "resident_id": _resident_id,
    "phone": _phone,
    "plate": _identifier(validate_plate),
    "uscc": _identifier(validate_uscc),
    "bank_card": _identifier(validate_bank_card),
}


def _normaliser_for(spec: FieldSpec) -> Normaliser:
    if spec.type == "date":
        base = _date_normaliser(spec)
    elif spec.type == "sex":
        return _sex_normaliser(spec)  # applies the values map itself, with the defaults
    elif spec.type == "number":
        base = _number_normaliser(spec)
    else:
        base = _STATIC_NORMALISERS[spec.type]
    if not spec.values:
        return base
    translation = dict(spec.values)

    def translated(text: str, warnings: list[Issue]) -> str | None:
        return base(translation.get(text.strip(), text), warnings)

    return translated


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class _Plan:
    """A mapping compiled for speed: one normaliser per mapped field."""

    kind: Kind
    # (field, column, normaliser, field type) per mapped field.
    steps: tuple[tuple[str, str, Normaliser, FieldType], ...]
    vocabulary: tuple[str, ...]
    required: tuple[str, ...]
    # (column, field mapped from that column or None) for each key column.
    key: tuple[tuple[str, str | None], ...]
    column_of: dict[str, str]
    cross_check_id: bool


def _compile(mapping: Mapping) -> _Plan:
    steps = tuple((spec.field, spec.column, _normaliser_for(spec), spec.type) for spec in mapping.fields)
    field_of_column = {spec.column: spec.field for spec in mapping.fields}
    mapped = {spec.field for spec in mapping.fields}
    return _Plan(
        kind=mapping.kind,
        steps=steps,
        vocabulary=tuple(VOCABULARY[mapping.kind]),
        required=tuple(name for name in REQUIRED_FIELDS[mapping.kind] if name in mapped),
        key=tuple((column, field_of_column.get(column)) for column in mapping.key),
        column_of={spec.field: spec.column for spec in mapping.fields},
        cross_check_id=mapping.kind == "person" and "id_number" in mapped,
    )


# Keyed by id(); the mapping is kept in the value so its id cannot be reused.
_PLANS: dict[int, tuple[Mapping, _Plan]] = {}


def _plan_for(mapping: Mapping) -> _Plan:
    cached = _PLANS.get(id(mapping))
    if cached is not None and cached[0] is mapping:
        return cached[1]
    if len(_PLANS) > 256:
        _PLANS.clear()
    plan = _compile(mapping)
    _PLANS[id(mapping)] = (mapping, plan)
    return plan


def _where(row_number: int, column: str, field: str) -> str:
    return reasons.where(row_number, column, field)


# --------------------------------------------------------------------------- normalize_row


def normalize_row(raw: RawRow, mapping: Mapping | None = None) -> RowResult:
    """Normalise and validate one row under ``mapping`` (rows of FollowTheMoney streams
    carry their kind and need none)."""
    row_number = raw.row_number
    if raw.problem is not None:
        reason, params = reasons.explain_problems(raw.problem)
        issue = FieldIssue("", "", None, "malformed_row", f"row {row_number}: {raw.problem}", reason, params)
        return BadRow(row_number, raw.fields, [issue])
    if mapping is None:
        if raw.kind is None:
            raise ValueError("normalize_row needs a mapping for rows that do not say their kind")
        mapping = Mapping.identity(raw.kind)
    elif raw.kind is not None and raw.kind != mapping.kind:
        issue = error_issue("", "", None, "wrong_kind", f"row {row_number}",
                            f"a {raw.kind} record, but the mapping is for {mapping.kind}")
        return BadRow(row_number, raw.fields, [issue])
    plan = _plan_for(mapping)
    cells = raw.fields

    fields: dict[str, str | None] = dict.fromkeys(plan.vocabulary)
    errors: list[FieldIssue] = []
    warnings: list[FieldIssue] = []
    failed: set[str] = set()
    found: list[Issue] = []
    for field, column, normalise, field_type in plan.steps:
        cell = cells.get(column)
        if not cell or cell.isspace():
            continue
        try:
            fields[field] = normalise(cell, found)
        except _Invalid as invalid:
            failed.add(field)
            where = _where(row_number, column, field)
            errors.extend(
                error_issue(field, column, cell, issue.code, where, issue.message, field_type)
                for issue in invalid.issues
            )
        if found:
            where = _where(row_number, column, field)
            warnings.extend(FieldIssue(field, column, cell, issue.code, f"{where}: {issue.message}") for issue in found)
            found = []

    key_parts: list[str] = []
    for key_column, key_field in plan.key:
        if key_field is not None:
            if key_field in failed:
                continue
            value = fields[key_field]
        else:
            cell = cells.get(key_column)
            value = cell.strip() if cell else None
        if not value:
            failed.add(key_field or key_column)
            errors.append(
                error_issue(
                    key_field or "",
                    key_column,
                    cells.get(key_column),
                    "missing_key",
                    _where(row_number, key_column, key_field or ""),
                    "missing, and it is part of the source key",
                )
            )
        else:
            key_parts.append(value)

    for field in plan.required:
        if fields[field] is None and field not in failed:
            column = plan.column_of[field]
            errors.append(
                error_issue(
                    field,
                    column,
                    cells.get(column),
                    "missing_required",
                    _where(row_number, column, field),
                    f"missing, and a {plan.kind} record needs it",
                )
            )

    if errors:
        return BadRow(row_number, cells, errors)
    source_key = KEY_JOINER.join(key_parts)
    if len(source_key) > SOURCE_KEY_MAX_LENGTH:
        column = plan.key[0][0]
        sentence = f"the source key is {len(source_key)} characters, at most {SOURCE_KEY_MAX_LENGTH}"
        issue = error_issue("", column, source_key, "key_too_long", f"row {row_number}", sentence)
        return BadRow(row_number, cells, [issue])
    if plan.cross_check_id and fields["id_number"] is not None:
        _cross_check_person(row_number, fields, cells, plan, warnings)
    return GoodRow(row_number, source_key, plan.kind, fields, cells, warnings)


def _cross_check_person(
    row_number: int,
    fields: dict[str, str | None],
    cells: MappingABC[str, str | None],
    plan: _Plan,
    warnings: list[FieldIssue],
) -> None:
    """Sex and birth date are also written in the ID number: fill sex from it when the
    source has none, and warn when the source disagrees with it."""
    id_number = fields["id_number"]
    assert id_number is not None
    id_sex = "M" if int(id_number[16]) % 2 else "F"
    sex = fields["sex"]
    if sex is None:
        fields["sex"] = id_sex
    elif sex != id_sex:
        column = plan.column_of["sex"]
        warnings.append(
            FieldIssue(
                "sex",
                column,
                cells.get(column),
                "sex_disagrees_with_id",
                f"{_where(row_number, column, 'sex')}: {sex} here, but the ID number {id_number} says {id_sex}",
            )
        )
    birth_date = fields["birth_date"]
    id_birth = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    if birth_date is not None and birth_date != id_birth:
        column = plan.column_of["birth_date"]
        warnings.append(
            FieldIssue(
                "birth_date",
                column,
                cells.get(column),
                "birth_date_disagrees_with_id",
                f"{_where(row_number, column, 'birth_date')}: {birth_date} here, but the ID number says {id_birth}",
            )
        )
