"""What officers read, in their language: numbers written the way each language writes them, code lists by name,
and catalogues of sentence templates kept in data files.

A pillar that explains itself keeps its sentences in a TOML file beside its code (``risk/data/reasons.toml``,
``iot/data/wording.toml``), one table per sentence with a text per language::

    [uv_low]
    en = "Unit value {unit_value} {currency}/kg is far below ..."
    fr = "La valeur unitaire {unit_value} {currency}/kg est très inférieure ..."

:class:`Catalogue` reads it once and fills a template with values already written for the reader's language
(:func:`number`, :func:`percent`, the labels of :mod:`opencustoms.wording.labels`). A test checks that every
template has every language and that no translation names a value the English text does not. English is the
fallback for a language that has no text yet.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "fr")
# thousands separator and decimal mark per language: French writes 1 234 567,5 with a narrow no-break space
NUMBER_MARKS = {"en": (",", "."), "fr": ("\u202f", ",")}


def language(lang: str | None) -> str:
    """``lang`` when the platform speaks it, else English."""
    return lang if lang in LANGUAGES else "en"


def negotiate(header: str | None) -> str:
    """The first supported language of an Accept-Language header (weights honoured), else English."""
    if not header:
        return "en"
    choices = []
    for index, part in enumerate(header[:1000].split(",")):
        code, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        choices.append((-weight, index, code.strip().lower()[:2]))
    for _, _, code in sorted(choices):
        if code in LANGUAGES:
            return code
    return "en"


def number(lang: str, value: Any, decimals: int | None = None) -> str:
    """``value`` written the way readers of ``lang`` write numbers; ``decimals`` fixes the digits after the mark
    (else integers have none and other numbers keep theirs, at most 6). Text and None are returned as they are."""
    if value is None or isinstance(value, bool) or value == "":
        return "" if value is None else str(value)
    try:
        figure = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not figure.is_finite():
        return str(value)
    if decimals is None:
        exponent = figure.normalize().as_tuple().exponent
        decimals = min(6, -exponent) if isinstance(exponent, int) and exponent < 0 else 0
    text = f"{figure:,.{decimals}f}"
    group, mark = NUMBER_MARKS.get(lang, NUMBER_MARKS["en"])
    return text.replace(",", "\x00").replace(".", mark).replace("\x00", group)


def amount(lang: str, value: float | None) -> str:
    """A money amount or a unit value: two decimals below 100, none from 100 (1,240 EUR; 15.40 EUR/kg)."""
    if value is None or value != value:
        return "–"
    return number(lang, value, 2 if abs(value) < 100 else 0)


def percent(lang: str, ratio: float | None, decimals: int = 0) -> str:
    """A ratio in [0, 1] as a percentage: ``43%`` in English, ``43 %`` in French."""
    if ratio is None or ratio != ratio:
        return "–"
    text = number(lang, round(ratio * 100, decimals), decimals)
    return f"{text}\u202f%" if lang == "fr" else f"{text}%"


def localise_percent(lang: str, text: str) -> str:
    """A percentage written in English (``"87.5%"``, ``"> 99.9%"``) as readers of ``lang`` write it (French:
    ``"87,5 %"``, decimal comma, narrow no-break space before the sign)."""
    if lang != "fr":
        return text
    return text.replace(".", ",").replace("%", "\u202f%")


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Catalogue:
    """The sentence templates of one TOML file: ``say(key, lang, **values)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as handle:
            self.entries: dict[str, dict[str, str]] = tomllib.load(handle)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def template(self, key: str, lang: str) -> str:
        entry = self.entries[key]
        return entry.get(language(lang)) or entry["en"]

    def say(self, key: str, lang: str, /, **values: Any) -> str:
        """The sentence ``key`` in ``lang`` with ``values`` filled in (values are text already written for the
        reader; a placeholder without a value stays visible rather than failing)."""
        return string.Formatter().vformat(self.template(key, lang), (), _Values(values))

    def placeholders(self, key: str, lang: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.template(key, lang)) if name}

    def problems(self) -> list[str]:
        """What a catalogue test reports: a template without a language, or a translation naming a value the
        English text does not have (a translation may leave one out: the shipped HS texts are English only)."""
        out = []
        for key, entry in self.entries.items():
            missing = [lang for lang in LANGUAGES if not entry.get(lang)]
            if missing:
                out.append(f"{self.path.name} [{key}]: no text in {', '.join(missing)}")
                continue
            english = self.placeholders(key, "en")
            for lang in LANGUAGES[1:]:
                extra = self.placeholders(key, lang) - english
                if extra:
                    out.append(f"{self.path.name} [{key}]: the {lang} text names {sorted(extra)}, the English does not")
        return out


@cache
def catalogue(path: str) -> Catalogue:
    """The catalogue of a file, read once."""
    return Catalogue(Path(path))


def fill(entries: Mapping[str, str], lang: str) -> str:
    """The text of a {language: text} mapping for ``lang`` (English when it has none)."""
    return entries.get(language(lang)) or entries.get("en", "")
