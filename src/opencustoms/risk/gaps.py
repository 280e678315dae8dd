"""Missing or unknown risk-relevant codes: a risk indicator, never a reason to skip a declaration.

A declaration whose country of origin is not declared (empty, or ``ZZ``, the code for "unknown"), is not a known
country, whose HS code is missing, malformed or not in the nomenclature in force, or whose customs office is not
given, is laned like any other — the model scores it (an unknown code takes the model's missing-value branch) — and
each gap becomes a reason, e.g. "Country of origin not declared (ZZ) — missing data raises the risk". The lane policy's
``missing_data_lane`` (default yellow, a documentary check) is the least lane such a declaration gets
(:mod:`opencustoms.risk.lanes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from opencustoms.reference.codes import COUNTRY_CODES, HS_CHAPTERS, UNKNOWN_COUNTRY

if TYPE_CHECKING:
    import polars as pl

SUFFIX = " — missing data raises the risk"


class _Nomenclatures(Protocol):
    def for_date(self, when: dt.date | str | None) -> Any: ...


def gaps_of(row: Mapping[str, Any], nomenclatures: _Nomenclatures | None = None) -> list[str]:
    """The gaps of one frame row (columns ``origin``, ``hs6``, ``office``, ``date``) as reason texts. With
    ``nomenclatures`` (:func:`opencustoms.reference.service.nomenclatures`) an HS code is checked against the edition
    in force on the declaration's date; without, against the HS format and chapters."""
    out = []
    origin = _text(row.get("origin"))
    if origin is None:
        out.append("Country of origin not declared" + SUFFIX)
    elif origin.upper() == UNKNOWN_COUNTRY:
        out.append(f"Country of origin not declared ({UNKNOWN_COUNTRY})" + SUFFIX)
    elif origin.upper() not in COUNTRY_CODES:
        out.append(f"Country of origin '{origin}' is not a known country code" + SUFFIX)
    hs6 = _text(row.get("hs6"))
    if hs6 is None:
        out.append("HS code not declared" + SUFFIX)
    elif len(hs6) != 6 or not (hs6.isascii() and hs6.isdigit()) or hs6[:2] not in HS_CHAPTERS:
        out.append(f"HS code '{hs6}' is not a valid HS subheading" + SUFFIX)
    elif nomenclatures is not None:
        nomenclature = nomenclatures.for_date(row.get("date"))
        if nomenclature is not None and hs6 not in nomenclature:
            out.append(f"HS code {hs6} is not in the HS {nomenclature.edition} nomenclature" + SUFFIX)
    if _text(row.get("office")) is None:
        out.append("Customs office not declared" + SUFFIX)
    return out


def frame_gaps(frame: pl.DataFrame, nomenclatures: Any = None) -> dict[str, list[str]]:
    """The gaps of every declaration of a frame (columns ``reference``, ``origin``, ``hs6``, ``office``, ``date``)
    that has some, by reference: :func:`gaps_of` for every row (the same texts, tested), as one polars query — a
    million declarations are checked in a fraction of a second. ``nomenclatures``: a
    :class:`~opencustoms.reference.service.NomenclatureSet` (its editions by acceptance year, as ``for_date``)."""
    import polars as pl

    origin = pl.col("origin").cast(pl.Utf8).str.strip_chars()
    hs6 = pl.col("hs6").cast(pl.Utf8).str.strip_chars()
    office = pl.col("office").cast(pl.Utf8).str.strip_chars()
    upper = origin.str.to_uppercase()
    origin_gap = (
        pl.when(origin.is_null() | (origin == ""))
        .then(pl.lit("Country of origin not declared" + SUFFIX))
        .when(upper == UNKNOWN_COUNTRY)
        .then(pl.lit(f"Country of origin not declared ({UNKNOWN_COUNTRY})" + SUFFIX))
        .when(~upper.is_in(sorted(COUNTRY_CODES)))
        .then(pl.format("Country of origin '{}' is not a known country code" + SUFFIX, origin))
    )
    hs_gap = (
        pl.when(hs6.is_null() | (hs6 == ""))
        .then(pl.lit("HS code not declared" + SUFFIX))
        .when(~hs6.str.contains(r"^[0-9]{6}$") | ~hs6.str.slice(0, 2).is_in(sorted(HS_CHAPTERS)))
        .then(pl.format("HS code '{}' is not a valid HS subheading" + SUFFIX, hs6))
    )
    editions = dict(getattr(nomenclatures, "editions", None) or {})
    if editions:
        names = sorted(editions)
        year = pl.col("date").cast(pl.Date).dt.year()
        edition: pl.Expr = pl.lit(names[0])
        for name in names[1:]:
            edition = pl.when(year >= int(name)).then(pl.lit(name)).otherwise(edition)
        edition = pl.when(year.is_null()).then(pl.lit(names[-1])).otherwise(edition)
        for name in names:
            codes = sorted(_subheadings(editions[name]))
            hs_gap = hs_gap.when((edition == name) & ~hs6.is_in(codes)).then(
                pl.format(f"HS code {{}} is not in the HS {editions[name].edition} nomenclature" + SUFFIX, hs6)
            )
    office_gap = pl.when(office.is_null() | (office == "")).then(pl.lit("Customs office not declared" + SUFFIX))
    # the texts are built only for the rows that may have a gap: a code not found as it is in the country list or
    # in every edition (a cheap hash lookup), or no office; the few candidates then get the full checks
    valid_hs = sorted(set.intersection(*(_subheadings(n) for n in editions.values()))) if editions else None
    hs_unknown = ~pl.col("hs6").is_in(valid_hs) if valid_hs is not None else ~pl.col("hs6").str.contains(r"^[0-9]{6}$")
    maybe = (
        (~pl.col("origin").is_in(sorted(COUNTRY_CODES))).fill_null(True)
        | hs_unknown.fill_null(True)
        | (~pl.col("hs6").str.slice(0, 2).is_in(sorted(HS_CHAPTERS))).fill_null(True)
        | office.is_null()
        | (office == "")
    )
    found = (
        frame.filter(maybe)
        .select(
            pl.col("reference"),
            pl.concat_list(origin_gap, hs_gap, office_gap).list.drop_nulls().alias("gaps"),
        )
        .filter(pl.col("gaps").list.len() > 0)
    )
    return {str(reference): list(texts) for reference, texts in found.iter_rows()}


def _subheadings(nomenclature: Any) -> set[str]:
    return {code for code in nomenclature.entries if len(code) == 6}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
