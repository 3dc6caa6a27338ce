"""Unique, random-looking numbers without global state.

A phone number, plate, bank account or organisation code must never be given to two
people, yet person i's numbers must be computable without knowing anyone else's (so
generation can run in parallel and resume anywhere). Each kind of number is a keyed
permutation of a slot index derived from the person number: distinct slots give
distinct numbers, and the permutation makes neighbours look unrelated.
"""

from __future__ import annotations

import hashlib
from typing import Final

from jingwu.core.identifiers import USCC_CHARSET


class KeyedPermutation:
    """A bijection of range(size): a balanced Feistel network over the next even bit
    width, walking the cycle until the value falls back inside the range."""

    __slots__ = ("_half", "_keys", "_mask", "size")

    def __init__(self, size: int, key: str, rounds: int = 4) -> None:
        if size < 2:
            raise ValueError("a permutation needs at least two elements")
        bits = (size - 1).bit_length()
        bits += bits & 1
        self.size = size
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._keys = tuple(int.from_bytes(hashlib.blake2b(f"{key}/{r}".encode(), digest_size=8).digest(), "big")
                           for r in range(rounds))

    def __call__(self, x: int) -> int:
        if not 0 <= x < self.size:
            raise ValueError(f"{x} is outside range({self.size})")
        half, mask, keys = self._half, self._mask, self._keys
        while True:
            left, right = x >> half, x & mask
            for k in keys:
                left, right = right, left ^ ((((right ^ k) * 0x9E3779B97F4A7C15) >> 29) & mask)
            x = (left << half) | right
            if x < self.size:
                return x


# --- mobile phones ---------------------------------------------------------------

# Mobile prefixes of the three big operators (virtual-operator, IoT and satellite
# ranges left out), with the operator the subscriber registry names.
MOBILE_PREFIXES: Final[dict[str, str]] = {
    **dict.fromkeys(("135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159", "178",
                     "182", "183", "184", "187", "188", "195", "198"), "中国移动"),
    **dict.fromkeys(("130", "131", "132", "155", "156", "166", "175", "176", "185", "186", "196"), "中国联通"),
    **dict.fromkeys(("133", "153", "173", "177", "180", "181", "189", "191", "193", "199"), "中国电信"),
}
_PREFIX_LIST: Final = tuple(sorted(MOBILE_PREFIXES))
PHONE_SLOTS_PER_PERSON: Final = 2


class PhoneNumbers:
    def __init__(self, seed: int) -> None:
        self._perm = KeyedPermutation(len(_PREFIX_LIST) * 10**8, f"phone/{seed}")

    def number(self, person: int, slot: int) -> str:
        """The 11-digit national number of the person's `slot`-th line."""
        x = self._perm(person * PHONE_SLOTS_PER_PERSON + slot)
        prefix, rest = divmod(x, 10**8)
        return f"{_PREFIX_LIST[prefix]}{rest:08d}"


# --- vehicle plates ----------------------------------------------------------------

PLATE_LETTERS: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # GA 36: no I, no O
_DIGITS: Final = "0123456789"


def _serial_masks(letters: int) -> tuple[tuple[bool, ...], ...]:
    """All 5-position masks (True = letter) with exactly `letters` letters."""
    masks = []
    for m in range(32):
        mask = tuple(bool(m >> (4 - p) & 1) for p in range(5))
        if sum(mask) == letters:
            masks.append(mask)
    return tuple(masks)


class _SerialSpace:
    """Ordinary 5-character serials: a class of formats (masks), each enumerated in
    mixed radix, so an index in [0, size) names exactly one serial."""

    def __init__(self, letter_counts: tuple[int, ...]) -> None:
        self.masks = tuple(m for n in letter_counts for m in _serial_masks(n))
        self.sizes = tuple(24 ** sum(m) * 10 ** (5 - sum(m)) for m in self.masks)
        self.size = sum(self.sizes)

    def serial(self, index: int) -> str:
        for mask, size in zip(self.masks, self.sizes, strict=True):
            if index < size:
                out = []
                for is_letter in reversed(mask):
                    if is_letter:
                        index, d = divmod(index, 24)
                        out.append(PLATE_LETTERS[d])
                    else:
                        index, d = divmod(index, 10)
                        out.append(_DIGITS[d])
                return "".join(reversed(out))
            index -= size
        raise ValueError("index outside the serial space")


# New-energy serials (GA 36-2018): a class letter (D/F first, later A B C E G H J K) then
# a letter or digit and four digits.
_NEW_ENERGY_CLASS: Final = "DFABCEGHJK"
_NEW_ENERGY_SIZE: Final = len(_NEW_ENERGY_CLASS) * 34 * 10**4
_ALNUM: Final = _DIGITS + PLATE_LETTERS


class Plates:
    """Per person up to two ordinary plates and one new-energy plate, unique per
    issuing letter because the slot index is unique per person."""

    ORDINARY_SLOTS: Final = 2

    def __init__(self, seed: int) -> None:
        # Plates with at most two letters first; three-letter ones only when those run out.
        self._spaces = (_SerialSpace((0, 1, 2)), _SerialSpace((3,)))
        self._perms = tuple(KeyedPermutation(s.size, f"plate/{seed}/{i}") for i, s in enumerate(self._spaces))
        self._new_energy = KeyedPermutation(_NEW_ENERGY_SIZE, f"plate-ne/{seed}")

    def ordinary(self, person: int, slot: int) -> str:
        x = person * self.ORDINARY_SLOTS + slot
        for space, perm in zip(self._spaces, self._perms, strict=True):
            if x < space.size:
                return space.serial(perm(x))
            x -= space.size
        raise ValueError("plate space exhausted: too many people for 5-character serials")

    def new_energy(self, person: int) -> str | None:
        """A 6-character new-energy serial, or None when that space is exhausted."""
        if person >= _NEW_ENERGY_SIZE:
            return None
        x = self._new_energy(person)
        x, tail = divmod(x, 10**4)
        cls, second = divmod(x, 34)
        return f"{_NEW_ENERGY_CLASS[cls]}{_ALNUM[second]}{tail:04d}"


# --- bank cards ---------------------------------------------------------------------

# Debit-card issuer prefixes (BIN) as printed on cards of the large banks.
BANK_BINS: Final[tuple[tuple[str, str], ...]] = (
    ("中国工商银行", "622202"), ("中国农业银行", "622848"), ("中国建设银行", "621700"),
    ("中国银行", "621661"), ("交通银行", "622262"), ("中国邮政储蓄银行", "621799"),
    ("招商银行", "621483"), ("齐鲁银行", "623058"),
)
ACCOUNT_SLOTS_PER_PERSON: Final = 2

# Luhn over pairs of digits: in "ab" the right digit b is doubled (it sits at an odd
# place once the check digit is appended), the left one a is not.
_LUHN_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_LUHN_PAIRS: Final = tuple(a + _LUHN_DOUBLED[b] for a in range(10) for b in range(10))


def _luhn_pairs_sum(number: int, pairs: int) -> int:
    total = 0
    for _ in range(pairs):
        number, pair = divmod(number, 100)
        total += _LUHN_PAIRS[pair]
    return total


class BankCards:
    """19-digit card numbers: a 6-digit BIN, 12 digits, the Luhn check digit."""

    def __init__(self, seed: int) -> None:
        self._perm = KeyedPermutation(10**12, f"card/{seed}")
        self._bin_sums = {prefix: _luhn_pairs_sum(int(prefix), 3) for _bank, prefix in BANK_BINS}

    def number(self, bin_prefix: str, person: int, slot: int) -> str:
        body = self._perm(person * ACCOUNT_SLOTS_PER_PERSON + slot)
        check = -(self._bin_sums[bin_prefix] + _luhn_pairs_sum(body, 6)) % 10
        return f"{bin_prefix}{body:012d}{check}"


# --- organisation codes (GB 11714) and USCC body ----------------------------------------

_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)


def organisation_code_check(first8: str) -> str:
    """GB 11714 check character: digits count 0-9, letters A=10 … Z=35; 10 → X, 11 → 0."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    r = 11 - total % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


class OrganisationCodes:
    """Post-2015 style organisation codes: "MA" + 6 characters + check character."""

    def __init__(self, seed: int) -> None:
        self._perm = KeyedPermutation(len(USCC_CHARSET) ** 6, f"org/{seed}")

    def code(self, person: int) -> str:
        x = self._perm(person)
        chars = []
        for _ in range(6):
            x, d = divmod(x, len(USCC_CHARSET))
            chars.append(USCC_CHARSET[d])
        body = "MA" + "".join(chars)
        return body + organisation_code_check(body)
