"""The Korea Customs Service declaration files, whichever release: one reader for import and for risk training.

The public repository Seondong/Customs-Declaration-Datasets published the same synthetic import declarations in
several releases that differ in their header:

- ``df_syn_*_eng.csv`` (the shared test data): ``Declaration ID`` and ``HS6 Code``;
- the May-2022 English release: no ``Declaration ID``, ``HS10 Code`` instead of ``HS6 Code``;
- a release with Korean headers (``신고번호`` = Declaration ID, ``HS10단위부호`` = HS10 Code, ...), same columns in
  the same order as the English one with the declaration number first.

Some files were written by a program that read the HS codes as numbers, so ``0710807000`` became ``710807000``:
a code one digit short of its width (9 of 10, 5 of 6) gets its leading zero back, and the import says how many.
A file without a declaration number gets a reference computed from the row's content and position (a hash), so
importing the same file twice finds the declarations already stored instead of storing them again.

:func:`kcs_release` reads a header into a :class:`KcsRelease`; :meth:`KcsRelease.normalise_columns` turns rows of
the file into the canonical English columns (``Declaration ID``, ``HS6 Code``, ``HS10 Code``...). The import layout
(:class:`opencustoms.declarations.layouts.KcsLayout`, one row at a time) and the risk engine's reader
(``risk.frame.read_kcs``, whole columns) both call it, so the two read every release the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opencustoms.declarations.errors import ImportFileError

# The canonical (English, HS6) columns, in the order of the shared df_syn_*_eng.csv files.
KCS_COLUMNS = (
    "Declaration ID",
    "Date",
    "Office ID",
    "Process Type",
    "Import Type",
    "Import Use",
    "Payment Type",
    "Mode of Transport",
    "Declarant ID",
    "Importer ID",
    "Seller ID",
    "Courier ID",
    "HS6 Code",
    "Country of Departure",
    "Country of Origin",
    "Tax Rate",
    "Tax Type",
    "Country of Origin Indicator",
    "Net Mass",
    "Item Price",
)
KCS_LABELS = ("Fraud", "Critical Fraud")
HS10 = "HS10 Code"

# The Korean headers of the Korean release -> the English names.
KOREAN_HEADERS = {
    "신고번호": "Declaration ID",
    "신고일자": "Date",
    "신고세관부호": "Office ID",
    "수입신고구분코드": "Process Type",
    "수입거래구분코드": "Import Type",
    "수입종류코드": "Import Use",
    "징수형태코드": "Payment Type",
    "운송수단유형코드": "Mode of Transport",
    "신고인부호": "Declarant ID",
    "수입자": "Importer ID",
    "해외거래처부호": "Seller ID",
    "특송업체부호": "Courier ID",
    "HS10단위부호": HS10,
    "적출국가코드": "Country of Departure",
    "원산지국가코드": "Country of Origin",
    "관세율": "Tax Rate",
    "관세율구분코드": "Tax Type",
    "원산지표시유무코드": "Country of Origin Indicator",
    "신고중량(KG)": "Net Mass",
    "과세가격원화금액": "Item Price",
    "우범여부": "Fraud",
    "핵심적발": "Critical Fraud",
}
# Columns every release has (under its own name).
_ALWAYS = tuple(c for c in KCS_COLUMNS if c not in ("Declaration ID", "HS6 Code"))
GENERATED_PREFIX = "KCS-"


@dataclass(frozen=True, slots=True)
class KcsRow:
    """One row in the canonical columns, and what was done to it."""

    values: dict[str, Any]
    zeros_restored: int  # HS codes that got their leading zero back (0 or 1)
    reference_generated: bool


@dataclass(frozen=True)
class KcsRelease:
    """Which release a header is: how its columns are named, whether it has a declaration number and HS10 codes."""

    names: dict[str, str]  # canonical column -> the file's column
    has_reference: bool
    has_hs10: bool
    header: tuple[str, ...]

    @property
    def description(self) -> str:
        korean = any(c in KOREAN_HEADERS for c in self.header)
        parts = ["Korean headers" if korean else "English headers", "HS10 codes" if self.has_hs10 else "HS6 codes"]
        if not self.has_reference:
            parts.append("no declaration number")
        return ", ".join(parts)

    def column(self, canonical: str) -> str:
        """The file's name of a canonical column (for error reports)."""
        if canonical == "HS6 Code" and self.has_hs10:
            return self.names[HS10]
        return self.names.get(canonical, canonical)

    def normalise(self, values: Mapping[str, Any], position: int) -> KcsRow:
        """One row of the file (its own column names) in the canonical columns: :meth:`normalise_columns` for a
        single row (the import's row path)."""
        columns, restored = self.normalise_columns({k: [v] for k, v in values.items()}, [position])
        return KcsRow({k: v[0] for k, v in columns.items()}, restored[0], not self.has_reference)

    def normalise_columns(
        self, columns: Mapping[str, Sequence[Any]], positions: Sequence[int]
    ) -> tuple[dict[str, list[Any]], list[int]]:
        """Rows of the file given as columns (its own column names) in the canonical columns: HS6 derived from
        HS10, a lost leading zero restored, a reference generated when the file has none. ``positions`` are the
        rows' lines in the file; with the content they make the generated references (the same file gives the same
        references). Returns the canonical columns and, per row, 1 when an HS code got its zero back.

        The import (one row at a time, :meth:`normalise`) and the risk engine's reader (whole columns) both call
        this, so both read every release the same way."""
        n = len(positions)
        out: dict[str, list[Any]] = {
            canonical: list(columns[name]) if name in columns else [None] * n for canonical, name in self.names.items()
        }
        if self.has_hs10:
            fixed = [restore_zero(v, 10) for v in out[HS10]]
            out[HS10] = [code for code, _ in fixed]
            out["HS6 Code"] = [
                code[:6] if isinstance(code, str) and len(code) == 10 and code.isdigit() else code for code in out[HS10]
            ]
        else:
            fixed = [restore_zero(v, 6) for v in out["HS6 Code"]]
            out["HS6 Code"] = [code for code, _ in fixed]
        if not self.has_reference:
            cells = zip(*(columns.get(c, [None] * n) for c in self.header), strict=True)
            out["Declaration ID"] = [generated_reference(row, pos) for row, pos in zip(cells, positions, strict=True)]
        return out, [restored for _, restored in fixed]


def restore_zero(value: Any, width: int) -> tuple[Any, int]:
    """An HS code read as a number upstream lost its leading zero: ``710807000`` (9 digits) is ``0710807000``.
    Returns the code and 1 when a zero was put back. A code written as a float (``710807000.0``) is read too."""
    if value is None:
        return None, 0
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if len(text) == width - 1 and text.isascii() and text.isdigit():
        return "0" + text, 1
    return text or None, 0


def generated_reference(cells: Iterable[Any], position: int, prefix: str = GENERATED_PREFIX) -> str:
    """A stable reference for a row without one: ``prefix`` (``KCS-``) and 20 hex digits of SHA-256 over the row's
    position and its cells, so re-importing the same file finds the same references."""
    digest = hashlib.sha256(str(position).encode())
    for cell in cells:
        digest.update(b"\x1f" + ("" if cell is None else str(cell).strip()).encode("utf-8", "surrogateescape"))
    return prefix + digest.hexdigest()[:20]


def _english(header: Iterable[str]) -> dict[str, str]:
    """English name -> the file's column, for the columns that have one."""
    return {KOREAN_HEADERS.get(c, c): c for c in header}


def looks_like_kcs(header: Iterable[str] | None) -> bool:
    """Whether a header is one of the Korea Customs releases (for recognising a file imported without --layout)."""
    if not header:
        return False
    names = _english(header)
    return all(c in names for c in _ALWAYS) and ("HS6 Code" in names or HS10 in names)


def kcs_release(header: Iterable[str] | None) -> KcsRelease:
    """The release a header belongs to; ImportFileError naming the missing columns when it is none."""
    columns = tuple(header or ())
    names = _english(columns)
    missing = [c for c in _ALWAYS if c not in names]
    if "HS6 Code" not in names and HS10 not in names:
        missing.append("HS6 Code or HS10 Code")
    if missing:
        raise ImportFileError(
            f"not the KCS layout: column(s) {', '.join(missing)} missing; the layout reads the Korea Customs "
            "files with English headers (with or without Declaration ID, HS6 or HS10 codes) or Korean headers",
            field=missing[0],
        )
    wanted = (*KCS_COLUMNS, HS10, *KCS_LABELS)
    kept = {c: names[c] for c in wanted if c in names}
    return KcsRelease(kept, "Declaration ID" in names, HS10 in names and "HS6 Code" not in names, columns)


def critical(value: Any) -> bool:
    """``Critical Fraud`` as published: 0 none, 1 fraud, 2 critical fraud."""
    return value is not None and str(value).strip() in ("2", "2.0")


__all__ = ["KCS_COLUMNS", "KCS_LABELS", "KcsRelease", "KcsRow", "critical", "kcs_release", "looks_like_kcs"]
