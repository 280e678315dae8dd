"""Tests of the code validators in :mod:`opencustoms.reference.codes`.

Every validator gets example tests (known valid and invalid codes), property tests that generate valid codes
from an oracle written here independently of the implementation, property tests that break one part of a
valid code and check that the message names that part, and a totality test: arbitrary text either validates
or raises :class:`InvalidCodeError`, never anything else.
"""

from __future__ import annotations

import string

import pycountry
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from opencustoms.errors import OpenCustomsError
from opencustoms.reference import codes
from opencustoms.reference.codes import (
    check_container_number,
    check_country,
    check_currency,
    check_hs_format,
    check_imo_number,
    check_mmsi,
    check_unlocode,
    iso6346_check_digit,
    normalise_hs,
)
from opencustoms.reference.errors import InvalidCodeError

# --- oracles, written independently of codes.py -------------------------------------------------------------

ISO_COUNTRIES = sorted(c.alpha_2 for c in pycountry.countries)
ISO_CURRENCIES = sorted(c.alpha_3 for c in pycountry.currencies)
HS_CHAPTERS = [f"{n:02d}" for n in range(1, 98) if n != 77]
NOT_HS_CHAPTERS = ["00", "77", "98", "99"]

# ISO 6346 letter values, written out as in the standard (multiples of 11 are skipped).
ISO6346_LETTERS = dict(
    zip(
        string.ascii_uppercase,
        [
            10,
            12,
            13,
            14,
            15,
            16,
            17,
            18,
            19,
            20,
            21,
            23,
            24,
            25,
            26,
            27,
            28,
            29,
            30,
            31,
            32,
            34,
            35,
            36,
            37,
            38,
        ],
        strict=True,
    )
)


def oracle_iso6346(first_ten: str) -> int:
    values = [ISO6346_LETTERS[c] if c in ISO6346_LETTERS else int(c) for c in first_ten]
    return sum(v * 2**i for i, v in enumerate(values)) % 11 % 10


def oracle_imo(six: str) -> int:
    return sum(int(d) * w for d, w in zip(six, [7, 6, 5, 4, 3, 2], strict=True)) % 10


UPPER = string.ascii_uppercase
DIGITS = string.digits

upper_letters = st.sampled_from(UPPER)
ascii_digits = st.sampled_from(DIGITS)


def fixed_text(alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=size)


@st.composite
def random_case(draw: st.DrawFn, value: str) -> str:
    """The same ASCII code with each letter in upper or lower case."""
    return "".join(c.lower() if c.isalpha() and draw(st.booleans()) else c for c in value)


@st.composite
def padded(draw: st.DrawFn, value: str) -> str:
    """Surround with whitespace that every validator strips."""
    ws = st.text(alphabet=" \t\n\r", max_size=3)
    return draw(ws) + value + draw(ws)


@st.composite
def with_inner_spaces(draw: st.DrawFn, value: str) -> str:
    out = []
    for c in value:
        out.append(c)
        if draw(st.booleans()):
            out.append(" ")
    return "".join(out)


# Text that reaches deep branches: the characters codes are made of, look-alikes and odd Unicode.
code_chars = st.text(
    alphabet=st.sampled_from(
        list(UPPER + "abcxyz" + DIGITS + " .-\t\n")
        + ["\u0131", "\u017f", "\ufb06", "\u00df", "\u0669", "\u00b2", "\u00a0", "\u2007", "\u00aa", "\uff11"]
    ),
    max_size=14,
)
any_text = st.one_of(st.text(), code_chars)

# Non-ASCII characters that str.upper() turns into ASCII letters ('\u0131' dotless i -> 'I',
# '\u017f' long s -> 'S',
# the ligature '\ufb06' -> 'ST', '\u00df' -> 'SS'), and non-ASCII characters for which str.isdigit() is true
# ('\u0669' Arabic-Indic nine, '\u00b2' superscript two, '\uff11' full-width one).
UPPER_LOOKALIKES = sorted(
    (ch, ch.upper()) for ch in map(chr, range(0x80, 0x30000)) if ch.upper().isascii() and ch.upper().isalpha()
)
NON_ASCII_DIGITS = [ch for ch in map(chr, range(0x80, 0x30000)) if ch.isdigit()]

VALIDATORS = [
    check_country,
    check_currency,
    check_hs_format,
    check_container_number,
    check_unlocode,
    check_imo_number,
    check_mmsi,
]


def assert_invalid(fn, value: str, *fragments: str, field: str | None = None) -> InvalidCodeError:
    with pytest.raises(InvalidCodeError) as info:
        fn(value) if field is None else fn(value, field)
    for fragment in fragments:
        assert fragment in info.value.message, (fragment, info.value.message)
    if field is not None:
        assert info.value.field == field
    return info.value


# --- properties shared by every validator -------------------------------------------------------------------


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda f: f.__name__)
@given(text=any_text)
@example(text="\u00b2" * 7)  # superscript digits: isdigit() but int() raises ValueError
@example(text="IMO" + "\u00b2" * 7)
@example(text="\u00b2" * 9)
@example(text="CSQU\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2")
@example(text="\ufb06")
@example(text="\u00df" * 11)
def test_validators_are_total(validator, text: str) -> None:
    """Any text validates (to an ASCII code without spaces) or raises InvalidCodeError; nothing else."""
    try:
        value = validator(text)
    except InvalidCodeError as exc:
        assert exc.message
        assert str(exc) == exc.message
        return
    assert isinstance(value, str)
    assert value and value.isascii()
    assert value == value.strip() and " " not in value
    # a normalised code is a fixed point
    assert validator(value) == value


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda f: f.__name__)
@given(field=st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12))
def test_validators_report_the_field_they_are_given(validator, field: str) -> None:
    with pytest.raises(InvalidCodeError) as info:
        validator("not a code!", field)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("validator", "default_field"),
    [
        (check_country, "country"),
        (check_currency, "currency"),
        (check_hs_format, "hs_code"),
        (check_container_number, "container_id"),
        (check_unlocode, "location"),
        (check_imo_number, "vessel_imo"),
        (check_mmsi, "vessel_mmsi"),
    ],
)
def test_default_fields(validator, default_field: str) -> None:
    with pytest.raises(InvalidCodeError) as info:
        validator("?")
    assert info.value.field == default_field


def test_invalid_code_error_is_a_value_error_and_an_opencustoms_error() -> None:
    """Pydantic turns ValueError raised in a validator into a field error; adapters catch OpenCustomsError."""
    with pytest.raises(ValueError):
        check_country("XX")
    with pytest.raises(OpenCustomsError):
        check_country("XX")
    assert InvalidCodeError.status == 422


# --- countries ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["DE", "CN", "US", "NL", "GB", "de", " cn ", "Nl"])
def test_country_examples_valid(code: str) -> None:
    assert check_country(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["", "  ", "D", "DEU", "XX", "UK", "EU", "D E", "12", "276", "\u0131T", "\ufb06"])
def test_country_examples_invalid(code: str) -> None:
    assert_invalid(check_country, code, repr(code), "ISO 3166-1 alpha-2")


@given(data=st.data(), code=st.sampled_from(ISO_COUNTRIES))
def test_every_iso_country_is_accepted_in_any_case_and_padding(data: st.DataObject, code: str) -> None:
    written = data.draw(padded(data.draw(random_case(code))))
    assert check_country(written) == code


@given(code=fixed_text(UPPER, 2))
def test_two_letters_are_accepted_exactly_when_iso_assigns_them(code: str) -> None:
    if code in ISO_COUNTRIES:
        assert check_country(code) == code
    else:
        assert_invalid(check_country, code, repr(code), "expected two letters")


@given(text=any_text)
def test_country_result_is_always_an_iso_code(text: str) -> None:
    try:
        value = check_country(text)
    except InvalidCodeError:
        return
    assert value in ISO_COUNTRIES


@given(text=st.text(min_size=1))
def test_country_rejects_non_ascii_look_alikes(text: str) -> None:
    """str.upper() maps the dotless i to 'I' and the ligature 'st' to 'ST'; those must not pass as codes."""
    assume(not text.strip().isascii())
    assert_invalid(check_country, text)


# --- currencies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["EUR", "USD", "CNY", "JPY", "CHF", "eur", " usd\n", "Gbp"])
def test_currency_examples_valid(code: str) -> None:
    assert check_currency(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["", "EU", "EURO", "E UR", "978", "XYZ", "\u00a3", "u\u017fd"])
def test_currency_examples_invalid(code: str) -> None:
    assert_invalid(check_currency, code, repr(code), "ISO 4217")


@given(data=st.data(), code=st.sampled_from(ISO_CURRENCIES))
def test_every_iso_currency_is_accepted_in_any_case_and_padding(data: st.DataObject, code: str) -> None:
    written = data.draw(padded(data.draw(random_case(code))))
    assert check_currency(written) == code


@given(code=fixed_text(UPPER, 3))
def test_three_letters_are_accepted_exactly_when_iso_assigns_them(code: str) -> None:
    if code in ISO_CURRENCIES:
        assert check_currency(code) == code
    else:
        assert_invalid(check_currency, code, repr(code), "expected three letters")


@given(text=st.text(min_size=1))
def test_currency_rejects_non_ascii_look_alikes(text: str) -> None:
    assume(not text.strip().isascii())
    assert_invalid(check_currency, text)


# --- HS codes -----------------------------------------------------------------------------------------------


@st.composite
def hs_codes(draw: st.DrawFn, lengths: tuple[int, ...] = (2, 4, 6, 8, 10)) -> str:
    chapter = draw(st.sampled_from(HS_CHAPTERS))
    length = draw(st.sampled_from(lengths))
    return chapter + draw(fixed_text(DIGITS, length - 2))


@st.composite
def hs_written(draw: st.DrawFn, code: str) -> str:
    """The code as people write it: dots or spaces between digit pairs, padding."""
    out = code[:2]
    for i in range(2, len(code), 2):
        out += draw(st.sampled_from(["", ".", " ", ". "])) + code[i : i + 2]
    return draw(padded(out))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("01", "01"),
        ("0101", "0101"),
        ("847130", "847130"),
        ("8471.30", "847130"),
        ("8471 30", "847130"),
        (" 8471.30.00 ", "84713000"),
        ("8471300010", "8471300010"),
        ("97", "97"),
        ("76", "76"),
        ("78", "78"),
    ],
)
def test_hs_format_examples_valid(code: str, expected: str) -> None:
    assert check_hs_format(code) == expected


@pytest.mark.parametrize("chapter", NOT_HS_CHAPTERS)
@given(data=st.data())
def test_hs_chapters_outside_01_97_or_77_are_rejected(chapter: str, data: st.DataObject) -> None:
    code = chapter + data.draw(fixed_text(DIGITS, data.draw(st.sampled_from([0, 2, 4, 6, 8]))))
    assert_invalid(check_hs_format, code, repr(code), f"chapter {chapter} does not exist", "77 is reserved")


def test_hs_chapter_77_is_reserved() -> None:
    for code in ("77", "7701", "770100", "7701.00"):
        assert_invalid(check_hs_format, code, "chapter 77", "reserved")


def test_hs_chapter_set_is_01_to_97_without_77() -> None:
    assert sorted(codes.HS_CHAPTERS) == HS_CHAPTERS
    assert len(codes.HS_CHAPTERS) == 96


@given(data=st.data(), code=hs_codes())
def test_valid_hs_codes_are_accepted_and_normalised(data: st.DataObject, code: str) -> None:
    assert check_hs_format(code) == code
    assert check_hs_format(data.draw(hs_written(code))) == code


@given(chapter=st.sampled_from(HS_CHAPTERS), length=st.sampled_from([1, 3, 5, 7, 9, 11, 12, 14]), data=st.data())
def test_hs_codes_of_odd_or_excess_length_are_rejected(chapter: str, length: int, data: st.DataObject) -> None:
    code = (chapter + data.draw(fixed_text(DIGITS, max(length - 2, 0))))[:length]
    assert_invalid(check_hs_format, code, repr(code), "expected 2, 4 or 6 digits")


@given(code=hs_codes(), pos=st.integers(min_value=0, max_value=9), bad=st.sampled_from("AOIlx-/,+\u0669\uff11"))
def test_hs_codes_with_a_non_digit_are_rejected(code: str, pos: int, bad: str) -> None:
    pos %= len(code)
    broken = code[:pos] + bad + code[pos + 1 :]
    assert_invalid(check_hs_format, broken, "is not an HS code")


@given(code=hs_codes(), min_digits=st.sampled_from([2, 4, 6, 8, 10]))
def test_hs_min_digits(code: str, min_digits: int) -> None:
    if len(code) >= min_digits:
        assert check_hs_format(code, min_digits=min_digits) == code
    else:
        with pytest.raises(InvalidCodeError) as info:
            check_hs_format(code, min_digits=min_digits)
        assert f"has {len(code)} digits" in info.value.message
        assert f"at least {min_digits}" in info.value.message


@given(text=any_text)
def test_hs_format_result_is_an_hs_code(text: str) -> None:
    try:
        value = check_hs_format(text)
    except InvalidCodeError:
        return
    assert len(value) in (2, 4, 6, 8, 10)
    assert value.isascii() and value.isdigit()
    assert value[:2] in HS_CHAPTERS


# --- normalise_hs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [("8471.30", "847130"), ("8471 30", "847130"), (" 8471.30.00 ", "84713000"), ("", ""), ("..", "")],
)
def test_normalise_hs_examples(written: str, expected: str) -> None:
    assert normalise_hs(written) == expected


@given(text=any_text)
def test_normalise_hs_is_total_and_idempotent(text: str) -> None:
    value = normalise_hs(text)
    assert "." not in value and " " not in value
    assert value == value.strip()
    assert normalise_hs(value) == value


@given(text=any_text)
def test_normalise_hs_only_removes_dots_spaces_and_outer_whitespace(text: str) -> None:
    assert normalise_hs(text) == text.replace(".", "").replace(" ", "").strip()


@given(digits=st.text(alphabet=DIGITS), data=st.data())
def test_normalise_hs_keeps_digits_in_order(digits: str, data: st.DataObject) -> None:
    written = "".join(d + data.draw(st.sampled_from(["", ".", " "])) for d in digits)
    assert normalise_hs(written) == digits


# --- ISO 6346 container numbers -----------------------------------------------------------------------------


@st.composite
def container_parts(draw: st.DrawFn) -> tuple[str, str, str]:
    return draw(fixed_text(UPPER, 3)), draw(st.sampled_from("UJZ")), draw(fixed_text(DIGITS, 6))


@st.composite
def container_numbers(draw: st.DrawFn) -> str:
    owner, category, serial = draw(container_parts())
    first_ten = owner + category + serial
    return first_ten + str(oracle_iso6346(first_ten))


def test_letter_values_match_the_standard() -> None:
    assert codes.LETTER_VALUES == ISO6346_LETTERS


def test_container_known_valid() -> None:
    assert check_container_number("CSQU3054383") == "CSQU3054383"
    assert iso6346_check_digit("CSQU305438") == 3
    assert check_container_number("csqu 305438-3") == "CSQU3054383"
    assert check_container_number("CSQU 305438 3") == "CSQU3054383"


def test_container_known_invalid_names_the_expected_digit() -> None:
    assert oracle_iso6346("MSCU123456") == 6
    assert_invalid(check_container_number, "MSCU1234567", "check digit is 7", "should be 6", "MSCU123456")


def test_container_check_value_ten_becomes_zero() -> None:
    """(sum mod 11) == 10 gives check digit 0."""
    serial = next(
        f"{n:06d}"
        for n in range(1_000_000)
        if sum(v * 2**i for i, v in enumerate([ISO6346_LETTERS[c] for c in "CSQU"] + [int(d) for d in f"{n:06d}"])) % 11
        == 10
    )
    assert iso6346_check_digit("CSQU" + serial) == 0
    assert check_container_number("CSQU" + serial + "0") == "CSQU" + serial + "0"


@given(number=container_numbers())
def test_generated_container_numbers_are_valid(number: str) -> None:
    assert check_container_number(number) == number
    assert iso6346_check_digit(number[:10]) == int(number[10])


@given(data=st.data(), number=container_numbers())
def test_container_numbers_are_normalised(data: st.DataObject, number: str) -> None:
    written = data.draw(random_case(number))
    written = data.draw(with_inner_spaces(written))
    if data.draw(st.booleans()):
        written = written[:4] + "-" + written[4:10] + "-" + written[10:]
    written = data.draw(padded(written))
    assert check_container_number(written) == number


@given(number=container_numbers(), wrong=ascii_digits)
def test_any_other_check_digit_is_rejected_naming_the_expected_one(number: str, wrong: str) -> None:
    assume(wrong != number[10])
    broken = number[:10] + wrong
    assert_invalid(check_container_number, broken, repr(broken), f"check digit is {wrong}", f"should be {number[10]}")


@given(parts=container_parts(), pos=st.integers(min_value=0, max_value=2), digit=ascii_digits)
def test_a_digit_in_the_owner_code_is_rejected_naming_the_owner_code(
    parts: tuple[str, str, str], pos: int, digit: str
) -> None:
    owner, category, serial = parts
    owner = owner[:pos] + digit + owner[pos + 1 :]
    number = owner + category + serial + "0"
    assert_invalid(check_container_number, number, "owner code", repr(owner), "three letters")


@given(parts=container_parts(), bad=st.sampled_from([c for c in UPPER + DIGITS if c not in "UJZ"]))
def test_a_category_other_than_u_j_z_is_rejected_naming_the_category(parts: tuple[str, str, str], bad: str) -> None:
    owner, _, serial = parts
    number = owner + bad + serial + "0"
    assert_invalid(check_container_number, number, "category", repr(bad), "U (freight container)")


@given(
    parts=container_parts(),
    pos=st.integers(min_value=0, max_value=5),
    bad=st.sampled_from("OIBSZX\u0669\u00b2"),
)
def test_a_non_digit_in_the_serial_is_rejected_naming_the_serial(
    parts: tuple[str, str, str], pos: int, bad: str
) -> None:
    owner, category, serial = parts
    serial = serial[:pos] + bad + serial[pos + 1 :]
    number = owner + category + serial + "0"
    assert_invalid(check_container_number, number, "serial number", repr(serial), "six digits")


@given(number=container_numbers(), bad=st.sampled_from("OIXA\u0669\u00b2"))
def test_a_non_digit_check_digit_is_rejected(number: str, bad: str) -> None:
    broken = number[:10] + bad
    assert_invalid(check_container_number, broken, "check digit", repr(bad), "must be a digit")


@given(number=container_numbers(), cut=st.integers(min_value=0, max_value=10), extra=fixed_text(DIGITS, 1))
def test_container_numbers_of_the_wrong_length_are_rejected(number: str, cut: int, extra: str) -> None:
    for broken in (number[:cut], number + extra):
        assert_invalid(check_container_number, broken, f"has {len(broken)} characters", "11")


@pytest.mark.parametrize(
    "number",
    [
        "\u0131SQU3054383",  # dotless i upper-cases to I
        "C\u017fQU3054383",  # long s upper-cases to S
        "\ufb06QU305438",  # 'st' ligature upper-cases to two letters
        "CSQU\u0669054383",  # Arabic-Indic digit
        "CSQU305438\u00b3",  # superscript three
        "CSQU\uff13054383",  # full-width digit
    ],
)
def test_container_rejects_unicode_look_alikes(number: str) -> None:
    assert_invalid(check_container_number, number)


@given(first_ten=fixed_text(UPPER + DIGITS, 10))
def test_iso6346_check_digit_matches_the_oracle(first_ten: str) -> None:
    digit = iso6346_check_digit(first_ten)
    assert digit == oracle_iso6346(first_ten)
    assert 0 <= digit <= 9


@given(text=any_text)
def test_iso6346_check_digit_is_total(text: str) -> None:
    """Bad input (lower case, wrong length, other characters) is an InvalidCodeError, not a KeyError."""
    try:
        digit = iso6346_check_digit(text)
    except InvalidCodeError:
        assert not (len(text) == 10 and all(c in UPPER + DIGITS for c in text))
        return
    assert digit == oracle_iso6346(text)


@given(text=any_text)
def test_container_result_is_always_well_formed(text: str) -> None:
    try:
        value = check_container_number(text)
    except InvalidCodeError:
        return
    assert len(value) == 11
    assert all(c in UPPER for c in value[:3])
    assert value[3] in "UJZ"
    assert all(c in DIGITS for c in value[4:])
    assert int(value[10]) == oracle_iso6346(value[:10])


# --- UN/LOCODE ----------------------------------------------------------------------------------------------

LOCODE_TAIL = UPPER + "23456789"


@st.composite
def unlocodes(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(ISO_COUNTRIES)) + draw(fixed_text(LOCODE_TAIL, 3))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("NLRTM", "NLRTM"),
        ("DEHAM", "DEHAM"),
        ("nl rtm", "NLRTM"),
        (" CNSHA ", "CNSHA"),
        ("USNYC", "USNYC"),
        ("GB2AB", "GB2AB"),
    ],
)
def test_unlocode_examples_valid(code: str, expected: str) -> None:
    assert check_unlocode(code) == expected


@pytest.mark.parametrize("code", ["", "NLRT", "NLRTMX", "NL-RTM", "NLRT0", "NLRT1", "12RTM", "NL\u017fTM"])
def test_unlocode_examples_invalid_format(code: str) -> None:
    assert_invalid(check_unlocode, code, repr(code), "is not a UN/LOCODE")


@given(data=st.data(), code=unlocodes())
def test_generated_unlocodes_are_valid_and_normalised(data: st.DataObject, code: str) -> None:
    assert check_unlocode(code) == code
    written = data.draw(padded(data.draw(with_inner_spaces(data.draw(random_case(code))))))
    assert check_unlocode(written) == code


@given(code=unlocodes(), pos=st.integers(min_value=2, max_value=4), bad=st.sampled_from("01-_/\u0669"))
def test_unlocode_location_part_rejects_0_1_and_symbols(code: str, pos: int, bad: str) -> None:
    broken = code[:pos] + bad + code[pos + 1 :]
    assert_invalid(check_unlocode, broken, "is not a UN/LOCODE", "digits 2-9")


@given(country=fixed_text(UPPER, 2), tail=fixed_text(LOCODE_TAIL, 3))
def test_unlocode_country_part_must_be_an_iso_country(country: str, tail: str) -> None:
    code = country + tail
    if country in ISO_COUNTRIES:
        assert check_unlocode(code) == code
    else:
        assert_invalid(check_unlocode, code, repr(country), "ISO 3166-1")


@given(text=any_text)
def test_unlocode_result_is_well_formed(text: str) -> None:
    try:
        value = check_unlocode(text)
    except InvalidCodeError:
        return
    assert len(value) == 5 and value[:2] in ISO_COUNTRIES and all(c in LOCODE_TAIL for c in value[2:])


# --- IMO numbers --------------------------------------------------------------------------------------------


@st.composite
def imo_numbers(draw: st.DrawFn) -> str:
    six = draw(fixed_text(DIGITS, 6))
    return six + str(oracle_imo(six))


@pytest.mark.parametrize(
    "number",
    ["9074729", "IMO9074729", "IMO 9074729", "imo 9074729", " 9074729 ", " IMO 9074729", "Imo9074729\n"],
)
def test_imo_known_valid(number: str) -> None:
    assert oracle_imo("907472") == 9
    assert check_imo_number(number) == "9074729"


def test_imo_known_invalid_names_the_expected_digit() -> None:
    assert_invalid(check_imo_number, "9074728", "check digit is 8", "should be 9")


@pytest.mark.parametrize(
    "number",
    [
        "",
        "IMO",
        "907472",
        "90747290",
        "IMO-9074729",
        "9O74729",
        "907 4729x",
        "\u0669\u0660\u0667\u0664\u0667\u0662\u0669",
        "\u00b2" * 7,
        "\u0131mo9074729",
        "\uff19074729",
    ],
)
def test_imo_malformed(number: str) -> None:
    assert_invalid(check_imo_number, number, repr(number), "expected 7 digits")


@given(data=st.data(), number=imo_numbers())
def test_generated_imo_numbers_are_valid_with_or_without_prefix(data: st.DataObject, number: str) -> None:
    assert check_imo_number(number) == number
    prefix = data.draw(random_case("IMO")) + data.draw(st.sampled_from(["", " "]))
    assert check_imo_number(data.draw(padded(prefix + number))) == number


@given(number=imo_numbers(), wrong=ascii_digits)
def test_any_other_imo_check_digit_is_rejected_naming_the_expected_one(number: str, wrong: str) -> None:
    assume(wrong != number[6])
    broken = number[:6] + wrong
    assert_invalid(check_imo_number, broken, f"check digit is {wrong}", f"should be {number[6]}")


@given(digits=st.text(alphabet=DIGITS, max_size=12))
def test_imo_numbers_need_exactly_seven_digits(digits: str) -> None:
    if len(digits) == 7:
        if int(digits[6]) == oracle_imo(digits[:6]):
            assert check_imo_number(digits) == digits
        else:
            assert_invalid(check_imo_number, digits, "IMO check digit")
    else:
        assert_invalid(check_imo_number, digits, "expected 7 digits")


@given(text=any_text)
def test_imo_result_is_well_formed(text: str) -> None:
    try:
        value = check_imo_number(text)
    except InvalidCodeError:
        return
    assert len(value) == 7 and all(c in DIGITS for c in value)
    assert int(value[6]) == oracle_imo(value[:6])


# --- MMSI ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["211331640", " 211331640 ", "211331640\n"])
def test_mmsi_known_valid(number: str) -> None:
    assert check_mmsi(number) == "211331640"


@pytest.mark.parametrize(
    "number",
    [
        "",
        "21133164",
        "2113316400",
        "21133164O",
        "211 331 640",
        "MMSI211331640",
        "\u0662\u0661\u0661\u0663\u0663\u0661\u0666\u0664\u0660",
        "\u00b2" * 9,
        "\uff12" * 9,
    ],
)
def test_mmsi_malformed(number: str) -> None:
    assert_invalid(check_mmsi, number, repr(number), "expected 9 digits")


@given(digits=fixed_text(DIGITS, 9), data=st.data())
def test_nine_digits_are_an_mmsi(digits: str, data: st.DataObject) -> None:
    assert check_mmsi(digits) == digits
    assert check_mmsi(data.draw(padded(digits))) == digits


@given(digits=st.text(alphabet=DIGITS, max_size=15))
@example(digits="")
def test_other_lengths_are_not_an_mmsi(digits: str) -> None:
    assume(len(digits) != 9)
    assert_invalid(check_mmsi, digits, "expected 9 digits")


@given(text=any_text)
def test_mmsi_result_is_nine_ascii_digits(text: str) -> None:
    try:
        value = check_mmsi(text)
    except InvalidCodeError:
        return
    assert len(value) == 9 and all(c in DIGITS for c in value)


# --- Unicode look-alikes ------------------------------------------------------------------------------------


def test_look_alike_tables_are_not_empty() -> None:
    assert ("\u0131", "I") in UPPER_LOOKALIKES and ("\ufb06", "ST") in UPPER_LOOKALIKES
    assert {"\u0669", "\u00b2", "\uff11"} <= set(NON_ASCII_DIGITS)


def with_lookalike(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid code with a letter (or letter pair) replaced by a non-ASCII character upper-casing to it."""

    def spots(code: str) -> list[tuple[int, str, str]]:
        return [(i, ch, up) for ch, up in UPPER_LOOKALIKES for i in range(len(code)) if code.startswith(up, i)]

    return strategy.filter(lambda code: bool(spots(code))).flatmap(
        lambda code: st.sampled_from(spots(code)).map(lambda s: code[: s[0]] + s[1] + code[s[0] + len(s[2]) :])
    )


def with_non_ascii_digit(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid code with one ASCII digit replaced by a non-ASCII digit."""
    return strategy.filter(lambda code: any(c in DIGITS for c in code)).flatmap(
        lambda code: st.tuples(
            st.sampled_from([i for i, c in enumerate(code) if c in DIGITS]), st.sampled_from(NON_ASCII_DIGITS)
        ).map(lambda t: code[: t[0]] + t[1] + code[t[0] + 1 :])
    )


LETTER_CODES = [
    (check_country, st.sampled_from(ISO_COUNTRIES)),
    (check_currency, st.sampled_from(ISO_CURRENCIES)),
    (check_container_number, container_numbers()),
    (check_unlocode, unlocodes()),
    (check_imo_number, imo_numbers().map(lambda n: "IMO" + n)),
]
DIGIT_CODES = [
    (check_hs_format, hs_codes()),
    (check_container_number, container_numbers()),
    (check_unlocode, unlocodes()),
    (check_imo_number, imo_numbers()),
    (check_mmsi, fixed_text(DIGITS, 9)),
]


@pytest.mark.parametrize(("validator", "valid"), LETTER_CODES, ids=[f.__name__ for f, _ in LETTER_CODES])
@given(data=st.data())
def test_letters_that_only_upper_case_to_ascii_are_rejected(validator, valid, data: st.DataObject) -> None:
    assert_invalid(validator, data.draw(with_lookalike(valid)))


@pytest.mark.parametrize(("validator", "valid"), DIGIT_CODES, ids=[f.__name__ for f, _ in DIGIT_CODES])
@given(data=st.data())
def test_non_ascii_digits_are_rejected(validator, valid, data: st.DataObject) -> None:
    assert_invalid(validator, data.draw(with_non_ascii_digit(valid)))
