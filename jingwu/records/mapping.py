"""Which column of a source file feeds which of our fields.

A mapping is a small TOML file written by the data steward for one source system::

    kind = "person"
    key = "证件号码"                 # or a list of columns for a composite key
    [fields]
    name = "姓名"
    birth_date = { column = "出生日期", type = "date", formats = ["%Y%m%d"] }
    sex = { column = "性别", values = { "男" = "M", "女" = "F" } }

When no file is given, :meth:`Mapping.default_for` recognises header names that are our
field names or the usual Chinese column names.  Everything here is pure: no database.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeGuard, get_args

__all__ = [
    "FIELD_TYPES",
    "KEY_JOINER",
    "KINDS",
    "REQUIRED_FIELDS",
    "VOCABULARY",
    "FieldSpec",
    "FieldType",
    "Kind",
    "Mapping",
    "MappingError",
    "is_kind",
    "load_mapping",
    "parse_mapping",
]

Kind = Literal["person", "vehicle", "phone", "organization", "account", "place"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)

# What a field holds decides how rows.py normalises it.  Identifier types are named after
# the core.identifiers validator that checks them.
FieldType = Literal[
    "text", "name", "date", "sex", "number", "division_code", "vin",
    "resident_id", "phone", "plate", "uscc", "bank_card",
]  # fmt: skip
FIELD_TYPES: Final[tuple[FieldType, ...]] = get_args(FieldType)

# Our field vocabulary per kind, in the order documented in docs/data-formats.md.
VOCABULARY: Final[dict[Kind, dict[str, FieldType]]] = {
    "person": {
        "name": "name",
        "former_name": "name",
        "id_number": "resident_id",
        "birth_date": "date",
        "sex": "sex",
        "phone": "phone",
        "address": "text",
        "division_code": "division_code",
        "household_id": "text",
        "relation_to_head": "text",
    },
    "vehicle": {
        "plate": "plate",
        "owner_id_number": "resident_id",
        "owner_name": "name",
        "vin": "vin",
        "brand": "text",
        "color": "text",
        "registered_at": "date",
    },
    "phone": {
        "phone": "phone",
        "subscriber_id_number": "resident_id",
        "subscriber_name": "name",
        "carrier": "text",
        "activated_at": "date",
    },
    "organization": {
        "name": "name",
        "uscc": "uscc",
        "legal_rep_id_number": "resident_id",
        "legal_rep_name": "name",
        "address": "text",
        "registered_at": "date",
    },
    "account": {
        "account_number": "bank_card",
        "bank": "text",
        "holder_id_number": "resident_id",
        "holder_name": "name",
        "opened_at": "date",
    },
    "place": {
        "address": "text",
        "division_code": "division_code",
        "lon": "number",
        "lat": "number",
        "place_type": "text",
        "name": "text",
    },
}

# A record without these says nothing useful; a row missing one is quarantined.
REQUIRED_FIELDS: Final[dict[Kind, tuple[str, ...]]] = {
    "person": ("name",),
    "vehicle": ("plate",),
    "phone": ("phone",),
    "organization": ("name",),
    "account": ("account_number",),
    "place": ("address",),
}

# Composite keys are joined with this; "|" rarely appears in identifiers and reads well.
KEY_JOINER: Final = "|"

# A column named "id" is a source system's own primary key: the best key when present.
_ID_COLUMN: Final = "id"

# The field whose value identifies a record of each kind when no "id" column exists.
_DEFAULT_KEY_FIELDS: Final[dict[Kind, tuple[str, ...]]] = {
    "person": ("id_number",),
    "vehicle": ("plate", "vin"),
    "phone": ("phone",),
    "organization": ("uscc",),
    "account": ("account_number",),
    "place": ("address",),
}

# Column names seen in Chinese source systems, per kind (the same header means different
# things: 姓名 is the person's name in 户籍 but the owner's name in 车管).
_SYNONYMS: Final[dict[Kind, dict[str, tuple[str, ...]]]] = {
    "person": {
        "name": ("姓名", "人员姓名", "名字"),
        "former_name": ("曾用名",),
        "id_number": ("身份证号", "身份证号码", "证件号码", "公民身份号码", "身份证"),
        "birth_date": ("出生日期", "出生年月日", "生日"),
        "sex": ("性别",),
        "phone": ("手机号", "手机号码", "联系电话", "电话", "联系方式"),
        "address": ("住址", "地址", "户籍地址", "户籍地", "现住址", "居住地址"),
        "division_code": ("行政区划代码", "区划代码"),
        "household_id": ("户号",),
        "relation_to_head": ("与户主关系",),
    },
    "vehicle": {
        "plate": ("号牌号码", "车牌号", "车牌号码", "号牌"),
        "owner_id_number": ("身份证号", "身份证号码", "证件号码", "公民身份号码", "所有人证件号码"),
        "owner_name": ("所有人", "车主", "车主姓名", "姓名"),
        "vin": ("车辆识别代号", "车架号"),
        "brand": ("品牌", "品牌型号", "中文品牌"),
        "color": ("车身颜色", "颜色"),
        "registered_at": ("初次登记日期", "登记日期"),
    },
    "phone": {
        "phone": ("手机号", "手机号码", "号码", "电话号码", "联系电话", "电话"),
        "subscriber_id_number": ("身份证号", "身份证号码", "证件号码", "公民身份号码", "机主证件号码"),
        "subscriber_name": ("机主姓名", "机主", "姓名"),
        "carrier": ("运营商",),
        "activated_at": ("入网日期", "开户日期", "入网时间"),
    },
    "organization": {
        "name": ("单位名称", "企业名称", "名称"),
        "uscc": ("统一社会信用代码", "信用代码"),
        "legal_rep_id_number": ("法定代表人证件号码", "法人身份证号"),
        "legal_rep_name": ("法定代表人", "法人"),
        "address": ("住所", "地址", "注册地址", "经营场所"),
        "registered_at": ("成立日期", "注册日期"),
    },
    "account": {
        "account_number": ("账号", "卡号", "银行卡号", "银行账号"),
        "bank": ("开户行", "银行", "开户银行"),
        "holder_id_number": ("身份证号", "身份证号码", "证件号码", "公民身份号码", "开户人证件号码"),
        "holder_name": ("开户人", "户名", "姓名"),
        "opened_at": ("开户日期",),
    },
    "place": {
        "address": ("地址", "详细地址", "住址"),
        "division_code": ("行政区划代码", "区划代码"),
        "lon": ("经度", "longitude", "lng"),
        "lat": ("纬度", "latitude"),
        "place_type": ("场所类型", "类型"),
        "name": ("场所名称", "名称"),
    },
}

# strptime directives a date format may use; anything else is a typo we catch at load time.
_DATE_DIRECTIVE: Final = re.compile(r"%(.)")
_ALLOWED_DIRECTIVES: Final = frozenset("YymdbBjHMSf%")
_SEX_TARGETS: Final = frozenset({"M", "F"})
_FIELD_SPEC_KEYS: Final = frozenset({"column", "type", "formats", "values"})
_TOP_LEVEL_KEYS: Final = frozenset({"kind", "key", "fields", "description"})


class MappingError(ValueError):
    """A mapping file (or a default mapping) that cannot be used; the message names the
    key and the reason."""


def is_kind(value: object) -> TypeGuard[Kind]:
    return value in KINDS


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One of our fields fed from one source column."""

    field: str
    column: str
    type: FieldType
    # Date formats (strptime) tried after ISO; only for date fields.
    formats: tuple[str, ...] = ()
    # Source value -> our value, applied before normalising (e.g. 男 -> M).
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Mapping:
    kind: Kind
    key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    description: str = ""
    # Where the mapping came from, for messages ("mapping.toml", "default for header").
    origin: str = field(default="", compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every source column the mapping reads (field columns, then key-only columns)."""
        seen: dict[str, None] = {spec.column: None for spec in self.fields}
        for column in self.key:
            seen.setdefault(column, None)
        return tuple(seen)

    def field_for_column(self, column: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.column == column:
                return spec
        return None

    def spec(self, field_name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.field == field_name:
                return spec
        return None

    def check_header(self, header: Iterable[str]) -> None:
        """Raise MappingError listing every mapped column that the file does not have."""
        columns = list(header)
        present = set(columns)
        missing = [column for column in self.columns if column not in present]
        if missing:
            listed = ", ".join(missing)
            raise MappingError(
                f"columns missing from the file: {listed} (the file has {', '.join(columns) or 'no columns'})"
            )

    @classmethod
    def default_for(cls, kind: str, header: Sequence[str]) -> Mapping:
        """The mapping used when no file is given: header names equal to our field names or
        to the usual Chinese column names for this kind.  Raises MappingError when a
        required field or a key column cannot be found."""
        if not is_kind(kind):
            raise MappingError(f"kind: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        by_name = {_header_token(column): column for column in reversed(header)}
        specs: list[FieldSpec] = []
        for field_name, field_type in VOCABULARY[kind].items():
            candidates = (field_name, *_SYNONYMS[kind].get(field_name, ()))
            column = next((by_name[_header_token(c)] for c in candidates if _header_token(c) in by_name), None)
            if column is not None and all(spec.column != column for spec in specs):
                specs.append(FieldSpec(field_name, column, field_type))
        mapping_fields = {spec.field: spec for spec in specs}
        missing = [name for name in REQUIRED_FIELDS[kind] if name not in mapping_fields]
        if missing:
            raise MappingError(
                f"fields: no column for {', '.join(missing)} among {', '.join(header) or 'no columns'}; "
                f"write a mapping file for this source"
            )
        if _header_token(_ID_COLUMN) in by_name:
            key = (by_name[_header_token(_ID_COLUMN)],)
        else:
            key_spec = next((mapping_fields[f] for f in _DEFAULT_KEY_FIELDS[kind] if f in mapping_fields), None)
            if key_spec is None:
                wanted = " or ".join(_DEFAULT_KEY_FIELDS[kind])
                raise MappingError(f"key: no 'id' or {wanted} column to identify records; write a mapping file")
            key = (key_spec.column,)
        return cls(kind=kind, key=key, fields=tuple(specs), origin="default for the file's header")

    @classmethod
    def identity(cls, kind: str) -> Mapping:
        """Every field read from a column of the same name, keyed by "id": the shape of
        rows that FollowTheMoney streams produce."""
        if not is_kind(kind):
            raise MappingError(f"kind: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        return _IDENTITY[kind]


def _header_token(name: str) -> str:
    # Headers differ in case and surrounding spaces; anything else is a different column.
    return name.strip().lower()


_IDENTITY: Final[dict[Kind, Mapping]] = {
    kind: Mapping(
        kind=kind,
        key=(_ID_COLUMN,),
        fields=tuple(FieldSpec(name, name, field_type) for name, field_type in vocabulary.items()),
        origin="FollowTheMoney entity",
    )
    for kind, vocabulary in VOCABULARY.items()
}


# --------------------------------------------------------------------------- loading


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a TOML mapping file; MappingError names the key and the reason."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path.name}: not valid TOML: {exc}") from exc
    return parse_mapping(document, origin=path.name)


def parse_mapping(document: MappingABC[str, object], *, origin: str = "mapping") -> Mapping:
    """Validate an already-parsed mapping document (the TOML file's content)."""
    unknown = sorted(set(document) - _TOP_LEVEL_KEYS)
    if unknown:
        raise MappingError(f"{unknown[0]}: unknown key (a mapping has {', '.join(sorted(_TOP_LEVEL_KEYS))})")
    kind = document.get("kind")
    if kind is None:
        raise MappingError(f"kind: missing (one of {', '.join(KINDS)})")
    if not is_kind(kind):
        raise MappingError(f"kind: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")

    raw_fields = document.get("fields")
    if raw_fields is None:
        raise MappingError("fields: missing (a [fields] table mapping our fields to columns)")
    if not isinstance(raw_fields, dict):
        raise MappingError("fields: must be a table of field = column")
    specs = tuple(_parse_field(kind, name, value) for name, value in raw_fields.items())
    mapped = {spec.field for spec in specs}
    missing = [name for name in REQUIRED_FIELDS[kind] if name not in mapped]
    if missing:
        raise MappingError(f"fields: a {kind} mapping needs {', '.join(missing)}")
    columns = [spec.column for spec in specs]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise MappingError(f"fields: column {duplicated[0]!r} is mapped to more than one field")

    key = _parse_key(document.get("key"))
    description = document.get("description", "")
    if not isinstance(description, str):
        raise MappingError("description: must be a string")
    return Mapping(kind=kind, key=key, fields=specs, description=description, origin=origin)


def _parse_key(raw: object) -> tuple[str, ...]:
    if raw is None:
        raise MappingError("key: missing — name the column (or list of columns) that identifies a record")
    columns = [raw] if isinstance(raw, str) else raw
    if not isinstance(columns, list) or not columns:
        raise MappingError("key: must be a column name or a non-empty list of column names")
    for index, column in enumerate(columns):
        if not isinstance(column, str) or not column.strip():
            raise MappingError(f"key[{index}]: must be a non-empty column name")
    if len(set(columns)) != len(columns):
        raise MappingError("key: a column is listed twice")
    return tuple(columns)


def _parse_field(kind: Kind, name: str, value: object) -> FieldSpec:
    where = f"fields.{name}"
    vocabulary = VOCABULARY[kind]
    if name not in vocabulary:
        raise MappingError(f"{where}: unknown field for kind {kind} (expected one of {', '.join(vocabulary)})")
    field_type = vocabulary[name]
    if isinstance(value, str):
        return FieldSpec(name, _column(where, value), field_type)
    if not isinstance(value, dict):
        raise MappingError(f'{where}: must be a column name or a table with column = "..."')
    unknown = sorted(set(value) - _FIELD_SPEC_KEYS)
    if unknown:
        raise MappingError(f"{where}.{unknown[0]}: unknown key (expected {', '.join(sorted(_FIELD_SPEC_KEYS))})")
    if "column" not in value:
        raise MappingError(f"{where}.column: missing")
    column = _column(f"{where}.column", value["column"])

    stated = value.get("type")
    if stated is not None:
        if stated not in FIELD_TYPES:
            raise MappingError(f"{where}.type: unknown type {stated!r} (expected one of {', '.join(FIELD_TYPES)})")
        if stated != field_type:
            raise MappingError(f"{where}.type: {name} holds {field_type}, not {stated}")

    formats: tuple[str, ...] = ()
    if "formats" in value:
        if field_type != "date":
            raise MappingError(f"{where}.formats: only date fields take formats ({name} holds {field_type})")
        formats = _parse_formats(f"{where}.formats", value["formats"])

    values: tuple[tuple[str, str], ...] = ()
    if "values" in value:
        values = _parse_values(f"{where}.values", field_type, value["values"])
    return FieldSpec(name, column, field_type, formats, values)


def _column(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{where}: must be a non-empty column name")
    return value


def _parse_formats(where: str, raw: object) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise MappingError(f"{where}: must be a format or a non-empty list of formats")
    formats: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise MappingError(f"{where}[{index}]: must be a string")
        directives = _DATE_DIRECTIVE.findall(item)
        bad = [d for d in directives if d not in _ALLOWED_DIRECTIVES]
        if bad:
            raise MappingError(f"{where}[{index}]: %{bad[0]} in {item!r} is not a date directive")
        if not {"Y", "y"} & set(directives) or ("m" not in directives and "b" not in directives):
            raise MappingError(f"{where}[{index}]: {item!r} must contain a year (%Y or %y) and a month (%m or %b)")
        formats.append(item)
    return tuple(formats)


def _parse_values(where: str, field_type: FieldType, raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or not raw:
        raise MappingError(f"{where}: must be a non-empty table of source value = our value")
    pairs: list[tuple[str, str]] = []
    for source_value, target in raw.items():
        if not isinstance(target, str):
            raise MappingError(f"{where}.{source_value}: must be a string")
        if field_type == "sex" and target not in _SEX_TARGETS:
            raise MappingError(f"{where}.{source_value}: {target!r} is not M or F")
        pairs.append((source_value, target))
    return tuple(pairs)
