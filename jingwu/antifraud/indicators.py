"""Normalising what a victim tells us about the fraudsters: accounts, phone numbers, URLs
and apps (indicators of fraud). The same value written two ways must come out the same,
so reports that share one can be linked.

Core rules apply where they exist (core/identifiers.py): mobile numbers to E.164, bank
cards to digits with Luhn as a soft signal. Fraudsters also use overseas, virtual and
spoofed service numbers, so a phone that is not a CN mobile is kept (valid=False) as long
as it is a plausible number. `IndicatorError` names the reason for what cannot be kept."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import phonenumbers

from jingwu.core import identifiers

PAYMENT_INSTITUTIONS: Final = frozenset({"ALIPAY", "TENPAY"})
_EMAIL: Final = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")
_HOST_LABEL: Final = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PACKAGE: Final = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
MAX_URL: Final = 500
MAX_APP: Final = 100


class IndicatorError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Indicator:
    kind: str
    value: str
    raw: str
    valid: bool = True
    warnings: tuple[str, ...] = field(default=())


def account(raw: str, bank: str) -> Indicator:
    """A bank account or card (12-19 digits, Luhn a soft signal); at a payment institution
    also the mobile number (11 digits, no +86), e-mail or numeric id the account is known by."""
    text = raw.strip()
    if not text:
        raise IndicatorError("empty", "an account number is required")
    card = identifiers.validate_bank_card(text)
    if card.valid:
        return Indicator("account", card.normalized, raw, True, card.warning_codes)
    if bank in PAYMENT_INSTITUTIONS:
        mobile = identifiers.validate_phone(text)
        if mobile.valid and mobile.national:  # as the institutions write it: 11 digits
            return Indicator("account", mobile.national, raw)
        lowered = unicodedata.normalize("NFKC", text).strip().lower()
        if _EMAIL.match(lowered):
            return Indicator("account", lowered, raw)
        digits = identifiers.clean_input(text)
        if digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 32:
            return Indicator("account", digits, raw)
        raise IndicatorError("bad_account", "not an account number, mobile number or e-mail address")
    first = card.errors[0]
    raise IndicatorError(first.code, first.message)


def phone(raw: str) -> Indicator:
    mobile = identifiers.validate_phone(raw)
    if mobile.valid:
        return Indicator("phone", mobile.normalized, raw)
    reason = mobile.error_codes[0] if mobile.error_codes else "invalid"
    cleaned = identifiers.clean_input(raw).replace("(", "").replace(")", "")
    digits = cleaned[1:] if cleaned.startswith("+") else cleaned
    if not digits.isascii() or not digits.isdigit():
        raise IndicatorError("invalid_chars", "a phone number may only hold digits, spaces, dashes and a leading +")
    if len(digits) < 7:  # short service numbers (often spoofed, e.g. 95xxx) are kept as dialled
        if len(digits) < 3:
            raise IndicatorError("bad_length", f"a phone number has 3 to 20 digits, got {len(digits)}")
        return Indicator("phone", cleaned, raw, False, (reason,))
    national = digits[2:] if cleaned.startswith("+86") else digits[4:] if digits.startswith("0086") else digits
    if len(national) == 11 and national.startswith("1"):
        # Mobile-shaped but not an allocated range (179…): one value however the prefix was
        # written, which phonenumbers alone does not give (it reads 179 as a dialling prefix).
        return Indicator("phone", f"+86{national}", raw, False, (reason,))
    try:
        number = phonenumbers.parse(cleaned, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return Indicator("phone", e164, raw, False, (reason,))
    if len(digits) <= 20:
        return Indicator("phone", cleaned, raw, False, (reason,))
    raise IndicatorError("bad_length", f"a phone number has 3 to 20 digits, got {len(digits)}")


def url(raw: str) -> Indicator:
    """http(s) only; scheme and host lower-cased, host in IDNA form, default port and
    fragment dropped, an empty path written as "/"."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise IndicatorError("empty", "a URL is required")
    if any(ch.isspace() for ch in text):
        raise IndicatorError("invalid_chars", "a URL holds no spaces")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise IndicatorError("bad_scheme", f"only http and https addresses are kept, not {scheme!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise IndicatorError("no_host", "the address names no host")
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
        port = parts.port
    except (UnicodeError, ValueError):
        raise IndicatorError("bad_host", f"{host!r} is not a host name") from None
    labels = ascii_host.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        raise IndicatorError("bad_host", f"{host!r} is not a host name")
    netloc = ascii_host if port in (None, 80 if scheme == "http" else 443) else f"{ascii_host}:{port}"
    value = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    if len(value) > MAX_URL:
        raise IndicatorError("too_long", f"a URL is kept up to {MAX_URL} characters")
    return Indicator("url", value, raw)


def app(raw: str) -> Indicator:
    """An app by name or package id: full-width folded, spaces collapsed, Latin letters lower-cased."""
    text = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not text:
        raise IndicatorError("empty", "an app name is required")
    if len(text) > MAX_APP:
        raise IndicatorError("too_long", f"an app name is kept up to {MAX_APP} characters")
    lowered = text.lower()
    return Indicator("app", lowered, raw, True, ("package",) if _PACKAGE.match(lowered) else ())
