"""The Harmonized System nomenclature: loading, lookup and validation of HS codes.

The loader reads the layout of the public ``datasets/harmonized-system`` repository (columns ``section, hscode,
description, parent, level``), which publishes HS 2017 and HS 2022 from UN Comtrade. HS descriptors belong to the
WCO; keep that attribution wherever they are shown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from opencustoms.reference.codes import check_hs_format
from opencustoms.reference.errors import InvalidCodeError, NomenclatureFileError

# Comtrade's aggregate rows, not part of the nomenclature.
AGGREGATE_CODES = frozenset({"TOTAL", "99", "9999", "999999"})
REQUIRED_COLUMNS = ("section", "hscode", "description", "parent", "level")
PUBLIC_SOURCE = "https://github.com/datasets/harmonized-system (data/harmonized-system.csv)"


@dataclass(frozen=True, slots=True)
class HSEntry:
    code: str
    description: str
    parent: str | None
    level: int
    section: str


def read_hs_csv(source: Path | str | bytes) -> list[HSEntry]:
    """Read an HS nomenclature CSV in the datasets/harmonized-system layout; aggregate rows are dropped."""
    try:
        raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL character
        reason = getattr(exc, "strerror", None) or exc
        raise NomenclatureFileError(f"cannot read {source!s}: {reason}; check the path") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NomenclatureFileError(
            f"the nomenclature file is not UTF-8 (byte {exc.start}); re-save it as UTF-8"
        ) from exc
    if not text.strip():
        raise NomenclatureFileError(
            f"the nomenclature file is empty; expected the header '{','.join(REQUIRED_COLUMNS)}' of {PUBLIC_SOURCE}"
        )
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise NomenclatureFileError(
            f"the header line is not valid CSV ({exc}); expected '{','.join(REQUIRED_COLUMNS)}'"
        ) from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise NomenclatureFileError(
            f"the nomenclature file lacks the column(s) {', '.join(missing)}; expected the header "
            f"'{','.join(REQUIRED_COLUMNS)}' of {PUBLIC_SOURCE}",
            field=missing[0],
        )
    entries: list[HSEntry] = []
    try:
        for row in reader:
            line = reader.line_num  # physical line, right even after blank lines or multi-line descriptions
            # A short row leaves the missing columns as None.
            values = {c: (row.get(c) or "").strip() for c in REQUIRED_COLUMNS}
            if not any(values.values()):  # a row of empty fields, such as the trailing ',,,,' of HS 2017
                continue
            code = values["hscode"]
            if code in AGGREGATE_CODES or values["section"] == "TOTAL":
                continue
            try:
                check_hs_format(code)
            except InvalidCodeError as exc:
                raise NomenclatureFileError(f"line {line}: {exc}", field="hscode") from exc
            try:
                level = int(values["level"])
            except ValueError as exc:
                raise NomenclatureFileError(
                    f"line {line}: level {values['level']!r} is not a number; expected 2, 4 or 6",
                    field="level",
                ) from exc
            if level != len(code):
                raise NomenclatureFileError(f"line {line}: level {level} does not match code {code!r}", field="level")
            parent = values["parent"]
            entries.append(
                HSEntry(
                    code, values["description"], None if parent in AGGREGATE_CODES else parent, level, values["section"]
                )
            )
    except csv.Error as exc:
        raise NomenclatureFileError(f"line {reader.line_num}: not valid CSV ({exc})") from exc
    if not entries:
        raise NomenclatureFileError("the nomenclature file holds no HS codes")
    return entries


class Nomenclature:
    """One edition of the HS, in memory, for validation and display."""

    def __init__(self, edition: str, entries: Iterable[HSEntry]) -> None:
        self.edition = edition
        self.entries: dict[str, HSEntry] = {e.code: e for e in entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, code: object) -> bool:
        return code in self.entries

    def counts(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for e in self.entries.values():
            out[e.level] = out.get(e.level, 0) + 1
        return out

    def check(self, code: str, field: str = "hs_code") -> str:
        """Validate a code against this edition: 2/4/6 digits must exist; 8-10 digit national codes must
        extend an existing subheading. Returns the normalised code."""
        value = check_hs_format(code, field)
        known = value if len(value) <= 6 else value[:6]
        if known not in self.entries:
            hint = self._nearest(known)
            raise InvalidCodeError(
                ("" if code == known else f"{code!r}: ")
                + ("its subheading " if len(value) > 6 else "")
                + f"{known} is not in HS {self.edition}"
                + (f"; {hint}" if hint else ""),
                field=field,
            )
        return value

    def _nearest(self, code: str) -> str:
        for cut in (4, 2):
            if len(code) > cut and code[:cut] in self.entries:
                children = [c for c in self.children(code[:cut]) if len(c.code) == len(code)][:5]
                if children:
                    return f"under {code[:cut]} the valid codes include " + ", ".join(c.code for c in children)
        return ""

    def describe(self, code: str) -> HSEntry:
        value = check_hs_format(code)
        entry = self.entries.get(value if len(value) <= 6 else value[:6])
        if entry is None:
            raise InvalidCodeError(f"{code!r} is not in HS {self.edition}", field="hs_code")
        return entry

    def lineage(self, code: str) -> list[HSEntry]:
        """Chapter, heading and subheading of a code, for the UI's breadcrumbs."""
        entry = self.describe(code)
        chain = [entry]
        # Follow only parents that are a shorter prefix of the code, so a file whose parent column loops
        # (or names an unrelated code) cannot make this spin forever or give a wrong breadcrumb.
        while (
            (parent := chain[-1].parent)
            and len(parent) < len(chain[-1].code)
            and chain[-1].code.startswith(parent)
            and parent in self.entries
        ):
            chain.append(self.entries[parent])
        return list(reversed(chain))

    def children(self, code: str) -> Iterator[HSEntry]:
        return (e for e in self.entries.values() if e.parent == code)
