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
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from opencustoms.reference.codes import COUNTRY_CODES, HS_CHAPTERS

SUFFIX = " — missing data raises the risk"
UNKNOWN_COUNTRY = "ZZ"  # the user-assigned code customs systems write for "origin unknown"


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
        out.append(f"Country of origin {origin!r} is not a known country code" + SUFFIX)
    hs6 = _text(row.get("hs6"))
    if hs6 is None:
        out.append("HS code not declared" + SUFFIX)
    elif len(hs6) != 6 or not (hs6.isascii() and hs6.isdigit()) or hs6[:2] not in HS_CHAPTERS:
        out.append(f"HS code {hs6!r} is not a valid HS subheading" + SUFFIX)
    elif nomenclatures is not None:
        nomenclature = nomenclatures.for_date(row.get("date"))
        if nomenclature is not None and hs6 not in nomenclature:
            out.append(f"HS code {hs6} is not in the HS {nomenclature.edition} nomenclature" + SUFFIX)
    if _text(row.get("office")) is None:
        out.append("Customs office not declared" + SUFFIX)
    return out


def frame_gaps(rows: Iterable[Mapping[str, Any]], nomenclatures: _Nomenclatures | None = None) -> dict[str, list[str]]:
    """The gaps of every row that has some, by reference (rows: dicts with ``reference``, ``origin``, ``hs6``,
    ``office``, ``date``)."""
    out = {}
    for row in rows:
        found = gaps_of(row, nomenclatures)
        if found:
            out[str(row["reference"])] = found
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
