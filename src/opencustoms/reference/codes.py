"""Validators for the code lists every customs message uses.

Each ``check_*`` function returns the normalised code or raises :class:`InvalidCodeError` whose message says which
part is wrong and what is expected. They are pure and fast: sets and compiled patterns built once at import.
"""

from __future__ import annotations

import re
import string

import pycountry

from opencustoms.reference.errors import InvalidCodeError

COUNTRY_CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)
CURRENCY_CODES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)

# HS chapters 01-97; chapter 77 is reserved for possible future use.
HS_CHAPTERS: frozenset[str] = frozenset(f"{n:02d}" for n in range(1, 98) if n != 77)
_HS_RE = re.compile(r"^[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2})?)?)?)?$")

# Upper-case ASCII letters only. str.upper() maps some non-ASCII characters onto ASCII letters
# ('\u0131' -> 'I', '\u017f' -> 'S', the ligature '\ufb06' -> 'ST'), which would let look-alike text
# pass as a code.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def _upper(text: str) -> str:
    return text.translate(_ASCII_UPPER)


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() is also true for '\u0669' (Arabic-Indic nine) and '\u00b2' (superscript two).
    return text.isascii() and text.isdigit()


def check_country(code: str, field: str = "country") -> str:
    value = _upper(code.strip())
    if value not in COUNTRY_CODES:
        raise InvalidCodeError(
            f"{code!r} is not an ISO 3166-1 alpha-2 country code; expected two letters such as 'DE' or 'CN'",
            field=field,
        )
    return value


UNKNOWN_COUNTRY = "ZZ"  # the user-assigned ISO 3166-1 code customs systems write for "country not known"
TRADE_COUNTRY_CODES: frozenset[str] = COUNTRY_CODES | {UNKNOWN_COUNTRY}


def check_trade_country(code: str, field: str = "country") -> str:
    """A country of origin or departure: an ISO 3166-1 code, or ``ZZ`` when the declarant does not know it. A
    declaration that says so is stored, and the risk engine lanes it with that gap as a reason."""
    value = _upper(code.strip())
    if value == UNKNOWN_COUNTRY:
        return value
    try:
        return check_country(code, field)
    except InvalidCodeError:
        raise InvalidCodeError(
            f"{code!r} is not an ISO 3166-1 alpha-2 country code; expected two letters such as 'DE' or 'CN', or "
            "'ZZ' when the country is not known",
            field=field,
        ) from None


def check_currency(code: str, field: str = "currency") -> str:
    value = _upper(code.strip())
    if value not in CURRENCY_CODES:
        raise InvalidCodeError(
            f"{code!r} is not an ISO 4217 currency code; expected three letters such as 'EUR' or 'USD'",
            field=field,
        )
    return value


def normalise_hs(code: str) -> str:
    """Strip the dots and spaces people write in HS codes ('8471.30' -> '847130')."""
    return code.replace(".", "").replace(" ", "").strip()


def check_hs_format(code: str, field: str = "hs_code", *, min_digits: int = 2) -> str:
    """An HS code of 2, 4, 6, 8 or 10 digits whose chapter exists (01-97, not 77).

    Membership of a loaded nomenclature is checked by :class:`opencustoms.reference.hs.Nomenclature`.
    """
    value = normalise_hs(code)
    if not _HS_RE.match(value):
        raise InvalidCodeError(
            f"{code!r} is not an HS code; expected 2, 4 or 6 digits (a national extension adds 2 or 4 more), "
            "e.g. '847130' or '8471.30'",
            field=field,
        )
    if len(value) < min_digits:
        raise InvalidCodeError(f"{code!r} has {len(value)} digits; at least {min_digits} are needed here", field=field)
    if value[:2] not in HS_CHAPTERS:
        raise InvalidCodeError(
            f"{code!r}: HS chapter {value[:2]} does not exist; chapters run 01-97 and 77 is reserved",
            field=field,
        )
    return value


# --- ISO 6346 container numbers -------------------------------------------------------------------------------

# ISO 6346 letter values: A=10 ... Z=38, skipping multiples of 11
LETTER_VALUES: dict[str, int] = {}
_v = 10
for _ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if _v % 11 == 0:  # 11, 22 and 33 are skipped
        _v += 1
    LETTER_VALUES[_ch] = _v
    _v += 1
del _v, _ch

CONTAINER_CATEGORIES = {
    "U": "freight container",
    "J": "detachable freight container equipment",
    "Z": "trailer or chassis",
}


def iso6346_check_digit(first_ten: str) -> int:
    """Check digit of the first ten characters (owner code, category, serial)."""
    if len(first_ten) != 10 or not all(ch in LETTER_VALUES or ch in string.digits for ch in first_ten):
        raise InvalidCodeError(
            f"{first_ten!r}: an ISO 6346 check digit is computed from 10 characters A-Z or 0-9",
            field="container_id",
        )
    total = 0
    for i, ch in enumerate(first_ten):
        total += (LETTER_VALUES[ch] if ch.isalpha() else int(ch)) << i
    return total % 11 % 10


def check_container_number(number: str, field: str = "container_id") -> str:
    """Strict ISO 6346: three owner-code letters, category U/J/Z, six-digit serial, check digit."""
    value = _upper(number.replace(" ", "").replace("-", "").strip())
    if len(value) != 11:
        raise InvalidCodeError(
            f"{number!r} has {len(value)} characters; an ISO 6346 container number has 11 "
            "(3-letter owner code, category letter, 6-digit serial, check digit), e.g. 'CSQU3054383'",
            field=field,
        )
    owner, category, serial, check = value[:3], value[3], value[4:10], value[10]
    if not (owner.isascii() and owner.isalpha()):
        raise InvalidCodeError(f"{number!r}: owner code {owner!r} must be three letters A-Z", field=field)
    if category not in CONTAINER_CATEGORIES:
        raise InvalidCodeError(
            f"{number!r}: category {category!r} must be U (freight container), J (detachable equipment) "
            "or Z (trailer or chassis)",
            field=field,
        )
    if not _is_ascii_digits(serial):
        raise InvalidCodeError(f"{number!r}: serial number {serial!r} must be six digits", field=field)
    if not _is_ascii_digits(check):
        raise InvalidCodeError(f"{number!r}: check digit {check!r} must be a digit", field=field)
    expected = iso6346_check_digit(value[:10])
    if int(check) != expected:
        raise InvalidCodeError(
            f"{number!r}: check digit is {check} but should be {expected} for {value[:10]}; "
            "re-read the number from the container door (OCR confuses O/0, I/1, B/8, S/5, Z/2)",
            field=field,
        )
    return value


# --- UN/LOCODE -------------------------------------------------------------------------------------------------

_LOCODE_RE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")


def check_unlocode(code: str, field: str = "location") -> str:
    """UN/LOCODE: ISO country code plus three characters (letters, or digits 2-9), e.g. 'NLRTM', 'DEHAM'."""
    value = _upper(code.replace(" ", "").strip())
    if not _LOCODE_RE.match(value):
        raise InvalidCodeError(
            f"{code!r} is not a UN/LOCODE; expected a 2-letter country code and 3 letters or digits 2-9, "
            "e.g. 'NLRTM' (Rotterdam)",
            field=field,
        )
    if value[:2] not in COUNTRY_CODES:
        raise InvalidCodeError(
            f"{code!r}: {value[:2]!r} is not an ISO 3166-1 country code, so this is not a UN/LOCODE", field=field
        )
    return value


# --- vessel identifiers ----------------------------------------------------------------------------------------


def check_imo_number(number: str, field: str = "vessel_imo") -> str:
    """IMO ship identification number: 7 digits, the last a check digit (weights 7..2)."""
    value = _upper(number.strip()).removeprefix("IMO").strip()
    if len(value) != 7 or not _is_ascii_digits(value):
        raise InvalidCodeError(f"{number!r} is not an IMO number; expected 7 digits, e.g. '9074729'", field=field)
    expected = sum(int(d) * w for d, w in zip(value[:6], range(7, 1, -1), strict=True)) % 10
    if int(value[6]) != expected:
        raise InvalidCodeError(f"{number!r}: IMO check digit is {value[6]} but should be {expected}", field=field)
    return value


def check_mmsi(number: str, field: str = "vessel_mmsi") -> str:
    value = number.strip()
    if len(value) != 9 or not _is_ascii_digits(value):
        raise InvalidCodeError(f"{number!r} is not an MMSI; expected 9 digits, e.g. '211331640'", field=field)
    return value
