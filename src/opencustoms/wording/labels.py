"""Codes by name for officers: countries (ISO 3166-1, English and French names from pycountry's translations),
modes of transport (UN/ECE Recommendation 19), document types (UN/EDIFACT 1001), lanes, AEO statuses, signal
severities, national data elements (the lists in ``labels.toml``) and HS texts (the bundled nomenclature; English
only, as the HS nomenclature the platform ships is published in English). A code without a name is returned as it
is."""

from __future__ import annotations

import contextlib
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from opencustoms.wording import language

# the language of the HS texts: the nomenclature shipped (and the public one `reference load-hs` reads) is English
HS_LANGUAGE = "en"


@cache
def _lists() -> dict[str, dict[str, dict[str, str]]]:
    with (Path(__file__).parent / "labels.toml").open("rb") as handle:
        return tomllib.load(handle)


def label(kind: str, code: Any, lang: str) -> str:
    """The name of ``code`` in the list ``kind`` (``transport_mode``, ``document_type``, ``lane``, ``aeo_status``,
    ``severity``, ``national_field``) in ``lang``; the code itself when the list does not name it."""
    if code is None:
        return ""
    key = str(getattr(code, "value", code))
    entry = _lists().get(kind, {}).get(key)
    if entry is None:
        return key
    return entry.get(language(lang)) or entry["en"]


def names(kind: str, lang: str) -> dict[str, str]:
    """Every code of a list with its name in ``lang``."""
    return {code: label(kind, code, lang) for code in _lists().get(kind, {})}


@cache
def _country_names(lang: str) -> dict[str, str]:
    import gettext

    import pycountry

    translate = gettext.NullTranslations().gettext
    if lang != "en":
        with contextlib.suppress(OSError):  # pycountry without its translations: English names
            translate = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]).gettext
    out = {}
    for country in pycountry.countries:
        name = getattr(country, "common_name", None) or country.name
        out[country.alpha_2] = translate(name) if name == country.name else translate(country.name)
    return out


def country(code: str | None, lang: str) -> str:
    """A country's name (ISO 3166-1 alpha-2 code) in ``lang``: ``CN`` → China / Chine; ``ZZ`` → not known."""
    if not code:
        return ""
    special = _lists()["country_special"].get(code)
    if special:
        return special.get(language(lang)) or special["en"]
    return _country_names(language(lang)).get(code.upper(), code)


@cache
def _hs_texts() -> dict[str, str]:
    from opencustoms.reference.service import BUNDLED_EDITIONS, bundled_nomenclature

    out: dict[str, str] = {}
    for edition in BUNDLED_EDITIONS:  # the newest edition's text wins
        nomenclature = bundled_nomenclature(edition)
        if nomenclature is not None:
            out.update({code: entry.description for code, entry in nomenclature.entries.items()})
    return out


def hs_text(code: str | None) -> str | None:
    """The HS nomenclature's text of a chapter, heading or subheading (2, 4 or 6 digits; longer national codes
    are read at 6), or None when the bundled editions do not have it."""
    if not code:
        return None
    digits = code.replace(".", "")
    return _hs_texts().get(digits[:6] if len(digits) > 6 else digits)


def national_field(key: str, lang: str) -> str:
    """The name of a national data element (``national_extensions`` key ``<country>.<name>``) in ``lang``: from the
    list ``national_field``, else its own name in words (``xx.permit_number`` → Permit number)."""
    named = label("national_field", key, lang)
    if named != key:
        return named
    tail = key.partition(".")[2] or key
    words = tail.replace("_", " ").strip()
    return words[:1].upper() + words[1:]
