"""What an officer typed, understood: identifiers, field syntax, free text.

``parse("陳大文 139 1234 0001 出生:1980")`` gives

- identifiers recognised anywhere in the box (an 18- or 15-character ID, a mobile
  number in any format, a plate, a USCC, a bank card or account number), also when typed
  with spaces or dashes inside (``139 1234 0001``, ``鲁A 12345``): looked up exactly;
- field clauses ``姓名:张伟``, ``出生:1985``, ``地址:泉城路``, ``电话:…``, ``类型:车辆`` …
  (Chinese or English field names; a value with spaces goes in quotes);
- free-text terms, each of which must match somewhere.

Runs of Latin words stay together (``zhang wei``): they may be pinyin of one name.
Bad input raises :class:`QueryError` naming the field and the reason.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from jingwu.core.identifiers import (
    clean_input,
    detect_kind,
    validate_bank_card,
    validate_phone,
    validate_plate,
    validate_resident_id,
    validate_uscc,
)
from jingwu.core.services import ServiceError
from jingwu.search import registry

__all__ = ["FIELDS", "MAX_LENGTH", "IdentifierClause", "ParsedQuery", "QueryError", "TextClause", "parse"]

MAX_LENGTH: Final = 200
MAX_CLAUSES: Final = 16
MAX_JOIN: Final = 4  # tokens an identifier typed with spaces may span ("370102 19800315 011 3")
_JOINABLE: Final = re.compile(r"^[0-9A-Za-z+()\-·•]{1,8}$|^[\u4e00-\u9fff][A-Za-z]?$")

# Field names as typed (Chinese and English) → what they search.
FIELDS: Final[dict[str, str]] = {
    "姓名": "name", "名字": "name", "名称": "name", "name": "name",
    "出生": "birth", "出生日期": "birth", "生日": "birth", "birth": "birth",
    "地址": "address", "住址": "address", "address": "address",
    "身份证": "resident_id", "身份证号": "resident_id", "id": "resident_id",
    "电话": "phone", "手机": "phone", "手机号": "phone", "phone": "phone",
    "车牌": "plate", "号牌": "plate", "车牌号": "plate", "plate": "plate",
    "信用代码": "uscc", "统一社会信用代码": "uscc", "uscc": "uscc",
    "账号": "account", "卡号": "account", "银行卡": "account", "account": "account",
    "类型": "type", "type": "type",
}

_TOKEN: Final = re.compile(r'(?:(?P<field>[^\s:"“”]+):)?(?:"(?P<q1>[^"]*)"|“(?P<q2>[^”]*)”|(?P<bare>[^\s"“”]+))')
_BIRTH: Final = re.compile(r"^(\d{4})(?:[-/.年](\d{1,2})(?:[-/.月](\d{1,2})日?)?月?|(\d{2})(\d{2})?)?年?$")
_LATIN_WORD: Final = re.compile(r"^[A-Za-z]+$")


class QueryError(ServiceError):
    """The query cannot be understood; the message says which part and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="q")


@dataclass(frozen=True)
class IdentifierClause:
    kind: str  # resident_id, phone, plate, uscc, account
    value: str  # normalised
    raw: str  # as typed


@dataclass(frozen=True)
class TextClause:
    text: str  # as typed (NFKC)
    field: str | None = None  # None: anywhere; "name"; "address"

    @property
    def latin_words(self) -> bool:
        """Latin letters only (possibly several words): maybe pinyin."""
        return all(_LATIN_WORD.match(w) for w in self.text.split())


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    identifiers: tuple[IdentifierClause, ...] = ()
    terms: tuple[TextClause, ...] = ()
    births: tuple[str, ...] = ()  # "1985", "1985-07" or "1985-07-20"
    kinds: tuple[str, ...] = ()  # from 类型:…
    ignored: tuple[str, ...] = field(default=())  # tokens that carry nothing searchable

    @property
    def empty(self) -> bool:
        return not (self.identifiers or self.terms or self.births)


def _identifier(kind: str, raw: str) -> IdentifierClause | None:
    """The clause for ``raw`` as an identifier of ``kind``; None when it is not one."""
    if kind == "resident_id":
        rid = validate_resident_id(raw)
        return IdentifierClause(kind, rid.normalized, raw) if rid.valid else None
    if kind == "phone":
        phone = validate_phone(raw)
        return IdentifierClause(kind, phone.normalized, raw) if phone.valid else None
    if kind == "plate":
        plate = validate_plate(raw)
        return IdentifierClause(kind, plate.normalized, raw) if plate.valid else None
    if kind == "uscc":
        uscc = validate_uscc(raw)
        return IdentifierClause(kind, uscc.normalized, raw) if uscc.valid else None
    # Accounts: bank cards pass Luhn, corporate accounts may not; any 6-30 digits then.
    card = validate_bank_card(raw)
    if card.valid:
        return IdentifierClause("account", card.normalized, raw)
    digits = clean_input(raw)
    return IdentifierClause("account", digits, raw) if digits.isdigit() and 6 <= len(digits) <= 30 else None


_DETECTED_AS: Final = {"resident_id": "resident_id", "phone": "phone", "plate": "plate", "uscc": "uscc",
                       "bank_card": "account"}


def _recognise(raw: str) -> IdentifierClause | None:
    """An identifier typed in the box without a field name."""
    kind = detect_kind(raw)
    if kind is not None:
        return _identifier(_DETECTED_AS[kind], raw)
    digits = clean_input(raw)
    if digits.isdigit() and 12 <= len(digits) <= 19:  # an account number that fails Luhn
        return IdentifierClause("account", digits, raw)
    return None


def _kind_names() -> dict[str, str]:
    """类型:… accepts a kind's key or its label in either language."""
    names: dict[str, str] = {}
    for kind, label in registry.kind_labels().items():
        names[kind.casefold()] = kind
        for language in ("zh-hans", "en"):
            with translation.override(language):
                names[str(label).casefold()] = kind
    return names


def _birth(value: str) -> str:
    m = _BIRTH.match(value)
    if m is None:
        raise QueryError(_("出生日期“%(value)s”无法识别：请写成 1985、1985-07 或 1985-07-20。") % {"value": value})
    year, month, day = m.group(1), m.group(2) or m.group(4), m.group(3) or m.group(5)
    if month is None:
        return year
    if not 1 <= int(month) <= 12 or (day is not None and not 1 <= int(day) <= 31):
        raise QueryError(_("出生日期“%(value)s”不是有效的日期。") % {"value": value})
    return f"{year}-{int(month):02d}" + (f"-{int(day):02d}" if day is not None else "")


_FIELD_LABELS: Final = {"resident_id": gettext_lazy("身份证号"), "phone": gettext_lazy("手机号"),
                        "plate": gettext_lazy("车牌号"), "uscc": gettext_lazy("统一社会信用代码"),
                        "account": gettext_lazy("账号")}


def parse(text: str) -> ParsedQuery:
    """Understand the search box (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    if len(text) > MAX_LENGTH:
        raise QueryError(_("查询内容过长：最多 %(n)s 个字符。") % {"n": MAX_LENGTH})
    identifiers: list[IdentifierClause] = []
    terms: list[TextClause] = []
    births: list[str] = []
    kinds: list[str] = []
    ignored: list[str] = []
    bare: list[str] = []  # unfielded tokens, in order, for identifier recognition
    kind_names: dict[str, str] | None = None

    def flush() -> None:
        """Unfielded tokens: identifiers (also spread over a few tokens), then text."""
        i = 0
        latin: list[str] = []
        while i < len(bare):
            found = None
            if _JOINABLE.match(bare[i]):  # longest run of short tokens first: "139 1234 0001"
                for j in range(min(len(bare), i + MAX_JOIN), i + 1, -1):
                    if all(_JOINABLE.match(t) for t in bare[i:j]):
                        found = _recognise("".join(bare[i:j]))
                        if found is not None:
                            found = IdentifierClause(found.kind, found.value, " ".join(bare[i:j]))
                            break
            if found is None:
                found = _recognise(bare[i])
            if found is not None:
                if latin:
                    terms.append(TextClause(" ".join(latin)))
                    latin = []
                identifiers.append(found)
                i += len(found.raw.split())
                continue
            token = bare[i]
            if _LATIN_WORD.match(token):
                latin.append(token)
            else:
                if latin:
                    terms.append(TextClause(" ".join(latin)))
                    latin = []
                terms.append(TextClause(token))
            i += 1
        if latin:
            terms.append(TextClause(" ".join(latin)))
        bare.clear()

    tokens = []  # (field name, value, quoted, as typed)
    for m in _TOKEN.finditer(text):
        value = m.group("q1") if m.group("q1") is not None else m.group("q2")
        quoted = value is not None
        tokens.append((m.group("field"), (value if quoted else m.group("bare") or "").strip(), quoted, m.group(0)))
    i = 0
    while i < len(tokens):
        name, value, quoted, typed = tokens[i]
        i += 1
        target = FIELDS.get(name.casefold()) if name else None
        if name and target is None:  # not a field of ours: the whole token is text ("http://…")
            value = f"{name}:{value}"
        if target is None:
            if quoted:
                flush()
                if value:
                    terms.append(TextClause(value))
            elif value:
                bare.append(value)
            continue
        flush()
        if not value:
            ignored.append(typed)
            continue
        if target in ("name", "address"):
            terms.append(TextClause(value, target))
        elif target == "birth":
            births.append(_birth(value))
        elif target == "type":
            kind_names = kind_names if kind_names is not None else _kind_names()
            kind = kind_names.get(value.casefold())
            if kind is None:
                known = "、".join(sorted({str(label) for label in registry.kind_labels().values()}))
                raise QueryError(_("没有“%(value)s”这种类型；可选：%(known)s。") % {"value": value, "known": known})
            kinds.append(kind)
        else:
            clause = _identifier(target, value)
            if clause is None and not quoted:  # typed with spaces: "电话:139 1234 0001"
                for j in range(min(len(tokens), i + MAX_JOIN - 1), i, -1):
                    following = tokens[i:j]
                    if all(not f and not q and _JOINABLE.match(v) for f, v, q, _t in following):
                        clause = _identifier(target, value + "".join(v for _f, v, _q, _t in following))
                        if clause is not None:
                            i = j
                            break
            if clause is None:
                raise QueryError(_("%(field)s“%(value)s”无效。") % {"field": _FIELD_LABELS[target], "value": value})
            identifiers.append(clause)
    flush()
    if len(identifiers) + len(terms) + len(births) > MAX_CLAUSES:
        raise QueryError(_("查询条件过多：最多 %(n)s 个。") % {"n": MAX_CLAUSES})
    return ParsedQuery(text, tuple(dict.fromkeys(identifiers)), tuple(dict.fromkeys(terms)),
                       tuple(dict.fromkeys(births)), tuple(dict.fromkeys(kinds)), tuple(ignored))
