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
    except OSError as exc:
        raise NomenclatureFileError(f"cannot read {source}: {exc.strerror}; check the path") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NomenclatureFileError(
            f"the nomenclature file is not UTF-8 (byte {exc.start}); re-save it as UTF-8"
        ) from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise NomenclatureFileError(
            f"the nomenclature file lacks the column(s) {', '.join(missing)}; expected the header "
            f"'{','.join(REQUIRED_COLUMNS)}' of {PUBLIC_SOURCE}",
            field=missing[0],
        )
    entries: list[HSEntry] = []
    for line, row in enumerate(reader, start=2):
        code = row["hscode"].strip()
        if code in AGGREGATE_CODES or row["section"].strip() == "TOTAL":
            continue
        try:
            check_hs_format(code)
            level = int(row["level"])
        except (InvalidCodeError, ValueError) as exc:
            raise NomenclatureFileError(f"line {line}: {exc}", field="hscode") from exc
        if level != len(code):
            raise NomenclatureFileError(f"line {line}: level {level} does not match code {code!r}", field="level")
        parent = row["parent"].strip()
        entries.append(
            HSEntry(code, row["description"].strip(), None if parent in AGGREGATE_CODES else parent, level,
                    row["section"].strip())
        )
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
                f"{code!r}: {known} is not in HS {self.edition}" + (f"; {hint}" if hint else ""), field=field
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
        while chain[-1].parent and chain[-1].parent in self.entries:
            chain.append(self.entries[chain[-1].parent])
        return list(reversed(chain))

    def children(self, code: str) -> Iterator[HSEntry]:
        return (e for e in self.entries.values() if e.parent == code)
