"""Column mappings: import a file with its own column names, date format, decimal commas and code lists.

A mapping is a TOML file (read with the standard library's tomllib)::

    [columns]                      # the file's column = the flat layout's column (or a list of them)
    "Reg_date" = "acceptance_date"
    "Importateur" = ["importer_id", "declarant_id"]

    [fixed]                        # a value for every row, for fields the file does not have
    type_code = "import"
    customs_value_currency = "EUR"

    [options]
    date_format = "%d/%m/%Y"       # strptime format of the dates (default: YYYY-MM-DD)
    decimal_comma = true           # 1 234,56 -> 1234.56 in amounts, masses, quantities and rates

    [codes.transport_mode_code]    # the file's value = the code the model expects
    SEA = "1"
    [codes.origin_country_code]
    Chine = "CN"

The mapped rows then go through the flat layout (:class:`opencustoms.declarations.layouts.FlatLayout`), so checks
and reports are those of every import; a report line names the file's column. A file with no reference column
gets a reference computed from each row (as for the Korea Customs files): one goods item per declaration.
:func:`suggest_mapping` proposes a mapping from a header and a sample of rows.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from opencustoms.declarations.errors import ImportFileError
from opencustoms.declarations.kcs import generated_reference
from opencustoms.declarations.layouts import (
    FLAT_COLUMNS,
    REQUIRED_FLAT_COLUMNS,
    Candidate,
    FlatLayout,
    Problem,
    RawRecord,
    is_national_column,
)

NUMBER_COLUMNS = ("quantity", "net_mass_kg", "gross_mass_kg", "customs_value_amount", "duty_rate", "duty_tax_amount")
DATE_COLUMNS = ("acceptance_date",)
_SECTIONS = ("columns", "fixed", "options", "codes")
_OPTIONS = ("date_format", "decimal_comma")


class MappingError(ImportFileError):
    """The mapping file is wrong or does not fit the file; ``field`` is the mapping key."""

    title = "Invalid column mapping"


def _key(*parts: str) -> str:
    return ".".join(p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else json.dumps(p, ensure_ascii=False) for p in parts)


def _known(name: str) -> bool:
    return name in FLAT_COLUMNS or is_national_column(name)


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass
class Mapping:
    columns: dict[str, tuple[str, ...]]  # the file's column -> flat columns
    fixed: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    decimal_comma: bool = False
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # flat column -> file value -> code
    source: str = "mapping"

    @property
    def targets(self) -> dict[str, str]:
        """flat column -> where its value comes from, in the user's words (the file's column or the mapping key)."""
        out = {flat: _key("fixed", flat) for flat in self.fixed}
        for column, flats in self.columns.items():
            for flat in flats:
                out[flat] = column
        return out

    def check_header(self, header: list[str] | None) -> None:
        """The mapping fits this file: every mapped column exists, every required field is mapped or fixed."""
        present = list(header or [])
        for column in self.columns:
            if column not in present:
                raise MappingError(
                    f"mapping key {_key('columns', column)}: the file has no column {column!r}"
                    f"{_hint(column, present)}; its columns are {', '.join(present)}",
                    field=_key("columns", column),
                )
        targets = self.targets
        missing = [c for c in REQUIRED_FLAT_COLUMNS if c not in targets and c != "functional_reference_id"]
        if missing:
            raise MappingError(
                f"the mapping gives no value for {', '.join(missing)}: map a column of the file to it under "
                f'[columns], or give a value for every row under [fixed] (e.g. {missing[0]} = "...")',
                field=_key("columns"),
            )

    def apply(self, values: dict[str, Any], row: int) -> tuple[dict[str, Any], Problem | None]:
        """One record of the file as a flat-layout record, or the first problem of the mapping's conversions."""
        out: dict[str, Any] = dict(self.fixed)
        problem = None
        for column, flats in self.columns.items():
            raw = values.get(column)
            text = raw.strip() if isinstance(raw, str) else raw
            for flat in flats:
                value, reason = self._convert(flat, text)
                if reason and problem is None:
                    problem = Problem(row, None, column, None if text is None else str(text), reason)
                out[flat] = value
        if "functional_reference_id" not in self.targets:
            out["functional_reference_id"] = generated_reference(values.values(), row, prefix="ROW-")
        return out, problem

    def _convert(self, flat: str, value: Any) -> tuple[Any, str | None]:
        if value is None or value == "":
            return None, None
        table = self.codes.get(flat)
        if table is not None and not isinstance(value, str | int | float):
            return value, None
        text = str(value)
        if table is not None:
            if text in table:
                return table[text], None
            folded = _fold(text)
            for source, code in table.items():
                if _fold(source) == folded:
                    return code, None
        if flat in DATE_COLUMNS and self.date_format and isinstance(value, str):
            try:
                return dt.datetime.strptime(text, self.date_format).date().isoformat(), None
            except ValueError:
                return text, (
                    f"{text!r} is not a date in the mapping's date format {self.date_format!r} (mapping key "
                    "options.date_format); correct the cell or the format"
                )
        if flat in NUMBER_COLUMNS and self.decimal_comma and isinstance(value, str):
            return decimal_comma_number(text), None
        return value, None

    def file_column(self, flat: str) -> str:
        return self.targets.get(flat, flat)


def decimal_comma_number(text: str) -> str:
    """'1 234,56' / '1.234,56' / '1234,5' -> '1234.56' / '1234.56' / '1234.5' (thousands separators dropped)."""
    cleaned = text.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("'", "")
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    return cleaned


def _fold(text: str) -> str:
    """Lower case without accents, spaces, punctuation or a unit in brackets: the key names are compared by."""
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch)).casefold()


def read_mapping(text: str, source: str = "mapping") -> Mapping:
    """Parse and check a mapping; a MappingError names the key that is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{source} is not valid TOML: {exc}", field="mapping") from exc
    unknown = [k for k in data if k not in _SECTIONS]
    if unknown:
        raise MappingError(
            f"mapping key {unknown[0]!r} is not a section of a mapping{_hint(unknown[0], _SECTIONS)}; the sections "
            f"are {', '.join(_SECTIONS)}",
            field=unknown[0],
        )

    def table(name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise MappingError(f"mapping key {name!r} must be a table ([{name}])", field=name)
        return value

    columns: dict[str, tuple[str, ...]] = {}
    for column, target in table("columns").items():
        key = _key("columns", column)
        flats = (target,) if isinstance(target, str) else target
        if not isinstance(flats, list | tuple) or not flats or not all(isinstance(f, str) for f in flats):
            raise MappingError(
                f"mapping key {key}: give the field of the flat layout as text, or a list of them", field=key
            )
        for flat in flats:
            if not _known(flat):
                raise MappingError(
                    f"mapping key {key}: {flat!r} is not a column of the flat layout{_hint(flat, FLAT_COLUMNS)} "
                    "(see docs/import-export.md)",
                    field=key,
                )
        columns[column] = tuple(flats)
    seen: dict[str, str] = {}
    for column, flats in columns.items():
        for flat in flats:
            if flat in seen:
                raise MappingError(
                    f"mapping key {_key('columns', column)}: {flat!r} is already given by column {seen[flat]!r}; "
                    "map each field once",
                    field=_key("columns", column),
                )
            seen[flat] = column
    fixed: dict[str, str] = {}
    for flat, value in table("fixed").items():
        key = _key("fixed", flat)
        if not _known(flat):
            raise MappingError(
                f"mapping key {key}: {flat!r} is not a column of the flat layout{_hint(flat, FLAT_COLUMNS)}", field=key
            )
        if flat in seen:
            raise MappingError(f"mapping key {key}: {flat!r} is also mapped from column {seen[flat]!r}", field=key)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise MappingError(f'mapping key {key}: give the value as text, e.g. {flat} = "..."', field=key)
        fixed[flat] = str(value)
    options = table("options")
    for name in options:
        if name not in _OPTIONS:
            raise MappingError(
                f"mapping key options.{name} is not an option{_hint(name, _OPTIONS)}; options are "
                f"{', '.join(_OPTIONS)}",
                field=f"options.{name}",
            )
    date_format = options.get("date_format")
    if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format):
        raise MappingError(
            'mapping key options.date_format: give a strptime format such as "%d/%m/%Y" (31/12/2024)',
            field="options.date_format",
        )
    decimal_comma = options.get("decimal_comma", False)
    if not isinstance(decimal_comma, bool):
        raise MappingError("mapping key options.decimal_comma: write true or false", field="options.decimal_comma")
    codes: dict[str, dict[str, str]] = {}
    for flat, translations in table("codes").items():
        key = _key("codes", flat)
        if not _known(flat):
            raise MappingError(
                f"mapping key {key}: {flat!r} is not a column of the flat layout{_hint(flat, FLAT_COLUMNS)}", field=key
            )
        if not isinstance(translations, dict) or not all(isinstance(v, str) for v in translations.values()):
            raise MappingError(f"mapping key {key}: give the translations as 'file value' = \"code\"", field=key)
        codes[flat] = dict(translations)
    return Mapping(columns, fixed, date_format, decimal_comma, codes, source)


def load_mapping(path: Path) -> Mapping:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the mapping {path}: {exc}", field="mapping") from exc
    return read_mapping(text, path.name)


class MappedLayout:
    """A file with its own columns, read through a :class:`Mapping` into the flat layout."""

    name = "mapped"
    description = "any CSV or Parquet file, through a column mapping (--map mapping.toml) into the flat layout"

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.flat = FlatLayout()

    def check_columns(self, columns: list[str] | None) -> None:
        self.mapping.check_header(columns)

    def candidates(self, records: Iterable[RawRecord]) -> Iterator[Candidate]:
        generated = "functional_reference_id" not in self.mapping.targets

        def mapped() -> Iterator[RawRecord]:
            for rec in records:
                if rec.values is None:
                    yield rec
                    continue
                values, problem = self.mapping.apply(rec.values, rec.row)
                yield RawRecord(rec.row, values, rec.problem or problem)

        for candidate in self.flat.candidates(mapped()):
            for p in candidate.problems:
                p.field = self.mapping.file_column(p.field) if p.field else p.field
            if generated and candidate.reference is not None:
                candidate.notes = {"references_generated": 1}
            yield candidate

    def locate(self, candidate: Candidate, loc: tuple[Any, ...]) -> tuple[int | None, str]:
        row, flat = self.flat.locate(candidate, loc)
        return row, self.mapping.file_column(flat)


# --- suggestions ----------------------------------------------------------------------------------------------------


@cache
def synonyms() -> dict[str, str]:
    """Folded column name -> flat column, from the package's data file."""
    text = resources.files("opencustoms.declarations").joinpath("data/synonyms.toml").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for flat, names in tomllib.loads(text)["synonyms"].items():
        out.setdefault(_fold(flat), flat)
        for name in names:
            out.setdefault(_fold(name), flat)
    return out


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%m/%d/%Y", "%Y/%m/%d", "%Y%m%d", "%d/%m/%y")
_TRANSPORT_WORDS = {
    "1": ("sea", "maritime", "mer", "ship", "vessel", "navire", "bateau", "ocean"),
    "2": ("rail", "train", "ferroviaire", "fer"),
    "3": ("road", "route", "routier", "truck", "camion", "lorry"),
    "4": ("air", "aerien", "avion", "plane", "aircraft"),
    "5": ("post", "postal", "poste", "mail", "courier"),
    "6": ("multimodal",),
    "7": ("pipeline", "fixed installation", "installation fixe"),
    "8": ("inland waterway", "fluvial", "barge"),
}


def _date_format(values: list[str]) -> str | None:
    for fmt in _DATE_FORMATS:
        try:
            for v in values:
                dt.datetime.strptime(v, fmt)
        except ValueError:
            continue
        return fmt
    return None


def _is_number(values: list[str]) -> str | None:
    """'point' or 'comma' when every value is a number written that way."""
    if values and all(re.fullmatch(r"-?\d+(\.\d+)?", v) for v in values):
        return "point"
    if values and all(re.fullmatch(r"-?\d{1,3}([ .\u00a0\u202f]\d{3})*(,\d+)?|-?\d+(,\d+)?", v) for v in values):
        return "comma" if any("," in v for v in values) else "point"
    return None


@cache
def _country_names() -> dict[str, str]:
    """Folded country name (English and French, common and official) -> ISO alpha-2 code."""
    import gettext

    import pycountry

    translations: gettext.NullTranslations
    try:
        translations = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["fr"])
    except OSError:  # pragma: no cover - pycountry without its translations
        translations = gettext.NullTranslations()
    french = translations.gettext

    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            name = getattr(country, attr, None)
            if name:
                names.setdefault(_fold(name), country.alpha_2)
                names.setdefault(_fold(french(name)), country.alpha_2)
        names.setdefault(_fold(country.alpha_3), country.alpha_2)
    return names


def suggest_mapping(header: list[str], rows: list[dict[str, Any]]) -> str:
    """A mapping for a file, as TOML text to review: columns matched by name (synonyms table) or by the shape of
    their values (dates, ISO country codes, HS codes, amounts), the date format and decimal comma seen in the sample,
    code translations for country names and transport words, and fixed values for required fields still missing."""
    from opencustoms.reference.codes import COUNTRY_CODES, CURRENCY_CODES, HS_CHAPTERS

    sample = {c: [str(r[c]).strip() for r in rows if r.get(c) is not None and str(r[c]).strip()] for c in header}
    known = synonyms()
    chosen: dict[str, str] = {}  # file column -> flat column
    how: dict[str, str] = {}
    for column in header:
        flat = known.get(_fold(column))
        if flat and flat not in chosen.values():
            chosen[column], how[column] = flat, "name"

    def take(column: str, flat: str, why: str) -> None:
        if column not in chosen and flat not in chosen.values():
            chosen[column], how[column] = flat, why

    for column in header:  # value shapes, for the columns no name matched
        values = sample[column]
        if column in chosen or not values:
            continue
        if _date_format(values):
            take(column, "acceptance_date", "values look like dates")
        elif all(re.fullmatch(r"\d{4}(\.?\d{2}){1,3}", v) and v[:2] in HS_CHAPTERS for v in values):
            take(column, "hs_code", "values look like HS codes")
        elif all(v.upper() in COUNTRY_CODES for v in values):
            take(column, "origin_country_code", "values look like ISO country codes")
            take(column, "departure_country_code", "values look like ISO country codes")
        elif all(v.upper() in CURRENCY_CODES for v in values):
            take(column, "customs_value_currency", "values look like currency codes")
        elif _is_number(values) and any("." in v or "," in v for v in values):
            take(column, "customs_value_amount", "values look like amounts")
    flats = set(chosen.values())
    lines = [
        f"# Column mapping suggested by `opencustoms import --suggest-map` from {len(rows)} sample row(s).",
        "# Check every line, then import with: opencustoms import FILE --map THIS_FILE",
        "# Fields of the flat layout: docs/import-export.md. Lines starting with # are ignored.",
        "",
        "[columns]  # the file's column = the field",
    ]
    fixed: dict[str, tuple[str, str]] = {}
    if "declarant_id" not in flats and "importer_id" in flats:
        importer = next(c for c, f in chosen.items() if f == "importer_id")
        chosen[importer] = "importer_id+declarant_id"
        how[importer] = "the importer is taken as the declarant (no declarant column); change it if wrong"
        flats.add("declarant_id")
    for column in header:
        flat = chosen.get(column)
        name = json.dumps(column, ensure_ascii=False)
        if flat is None:
            lines.append(f'# {name} = ""  # not recognised: name its field or leave it out')
            continue
        target = json.dumps(flat.split("+")) if "+" in flat else json.dumps(flat)
        note = "" if how[column] == "name" else f"  # {how[column]}"
        lines.append(f"{name} = {target}{note}")
        currency = re.search(r"\(([A-Za-z]{3})\)", column)
        if (
            flat == "customs_value_amount"
            and currency
            and currency.group(1).upper() in CURRENCY_CODES
            and "customs_value_currency" not in flats
        ):
            fixed["customs_value_currency"] = (currency.group(1).upper(), f"from the column name {column!r}")
    if "type_code" not in flats:
        fixed["type_code"] = ("import", "import, export or transit")
    for required in REQUIRED_FLAT_COLUMNS:
        if required not in flats and required not in fixed and required != "functional_reference_id":
            fixed[required] = ("", "REQUIRED: no column found; map one or give the value for every row")
    lines += ["", "[fixed]  # one value for every row"]
    for flat, (value, note) in fixed.items():
        lines.append(f"{flat} = {json.dumps(value, ensure_ascii=False)}  # {note}")
    if "functional_reference_id" not in flats:
        lines.append(
            "# no reference column: each row becomes one declaration with a reference computed from its content"
        )
    options = []
    for column, flat in chosen.items():
        values = sample[column]
        if flat == "acceptance_date" and values:
            fmt = _date_format(values)
            if fmt and fmt != "%Y-%m-%d":
                options.append(f"date_format = {json.dumps(fmt)}  # e.g. {values[0]}")
        if flat in NUMBER_COLUMNS and _is_number(values) == "comma" and not any("decimal_comma" in o for o in options):
            options.append(f"decimal_comma = true  # e.g. {values[next(i for i, v in enumerate(values) if ',' in v)]}")
    lines += ["", "[options]", *options]
    names = _country_names()
    for column, flat in chosen.items():
        values = sorted(set(sample[column]))
        translations: dict[str, str] = {}
        for flat_one in flat.split("+"):
            if flat_one.endswith("country_code"):
                for v in values:
                    if v.upper() not in COUNTRY_CODES and _fold(v) in names:
                        translations[v] = names[_fold(v)]
            if flat_one == "transport_mode_code":
                for v in values:
                    for code, words in _TRANSPORT_WORDS.items():
                        if _fold(v) in {_fold(w) for w in words}:
                            translations[v] = code
        if translations:
            lines += ["", f"[codes.{flat.split('+')[0]}]  # the file's value = the code"]
            lines += [f"{json.dumps(k, ensure_ascii=False)} = {json.dumps(v)}" for k, v in translations.items()]
    return "\n".join(lines) + "\n"


__all__ = ["MappedLayout", "Mapping", "MappingError", "load_mapping", "read_mapping", "suggest_mapping"]
