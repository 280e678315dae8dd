"""Aggregate mirror statistics: our imports from a partner country against that partner's exports to us, by HS6 and
month, the gaps ranked by the value at stake (docs/exchange.md, "Mirror statistics").

The partner's side comes either from the export records it sent us (the inbox) or, for a partner that does not
exchange declarations, from a public trade-statistics file in UN Comtrade's CSV layout (:func:`read_comtrade`).
Values are compared in the same currency only (Comtrade's are US dollars). The value at stake of a cell is what
our imports' value misses to reach the partner's export value times the low end of the CIF / FOB band
(``data/mirror.toml``): the undervaluation the gap suggests.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from opencustoms.exchange.errors import ExchangeError
from opencustoms.exchange.matching import settings

Key = tuple[str, str, str]  # hs6, month (YYYY-MM, or YYYY for annual statistics), currency

# UN Comtrade's CSV layout (the legacy bulk and API download): the columns read, by their header
COMTRADE_COLUMNS = {
    "period": "Period",
    "flow": "TradeFlow Code",  # 1 import, 2 export
    "reporter": "Reporter ISO",  # ISO 3166 alpha-3
    "partner": "Partner ISO",
    "commodity": "Commodity Code",
    "mass": "Netweightkg",
    "value": "TradeValueUS",
    "fob": "FOB Trade Value (US$)",
}
EXPORT_FLOW = "2"


@dataclass
class Cell:
    value: float = 0.0
    mass: float = 0.0
    count: int = 0


@dataclass
class Side:
    cells: dict[Key, Cell] = field(default_factory=lambda: defaultdict(Cell))

    def add(self, hs6: str, month: str, currency: str, value: float, mass: float | None) -> None:
        cell = self.cells[(hs6, month, currency)]
        cell.value += value
        cell.mass += mass or 0.0
        cell.count += 1


def _alpha3(alpha2: str) -> str:
    import pycountry

    country = pycountry.countries.get(alpha_2=alpha2.upper())
    if country is None:
        raise ExchangeError(f"{alpha2!r} is no ISO 3166 country code", field="country")
    return str(country.alpha_3)


def _number(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def read_comtrade(source: Path | IO[str], reporter: str, partner: str) -> Side:
    """A Comtrade CSV's monthly (``Period`` YYYYMM) or annual (YYYY) exports of ``reporter`` to ``partner`` (ISO
    alpha-2 codes) at HS6, in US dollars: the FOB value where given, else the trade value. ExchangeError naming a
    missing column."""
    handle = source.open(encoding="utf-8-sig", newline="") if isinstance(source, Path) else source
    try:
        reader = csv.DictReader(handle)
        missing = [c for k, c in COMTRADE_COLUMNS.items() if k != "fob" and c not in (reader.fieldnames or [])]
        if missing:
            raise ExchangeError(
                f"the file is not in UN Comtrade's CSV layout: no column {', '.join(repr(c) for c in missing)}",
                field="comtrade",
            )
        want_reporter, want_partner = _alpha3(reporter), _alpha3(partner)
        side = Side()
        for row in reader:
            if (
                row[COMTRADE_COLUMNS["flow"]].strip() != EXPORT_FLOW
                or row[COMTRADE_COLUMNS["reporter"]].strip().upper() != want_reporter
                or row[COMTRADE_COLUMNS["partner"]].strip().upper() != want_partner
            ):
                continue
            commodity = row[COMTRADE_COLUMNS["commodity"]].strip()
            period = row[COMTRADE_COLUMNS["period"]].strip()
            if len(commodity) != 6 or not commodity.isdigit() or len(period) not in (4, 6):
                continue
            value = _number(row.get(COMTRADE_COLUMNS["fob"])) or _number(row[COMTRADE_COLUMNS["value"]])
            if value is None:
                continue
            month = period if len(period) == 4 else f"{period[:4]}-{period[4:]}"
            side.add(commodity, month, "USD", value, _number(row[COMTRADE_COLUMNS["mass"]]))
        return side
    finally:
        if isinstance(source, Path):
            handle.close()


def comtrade_text(text: str, reporter: str, partner: str) -> Side:
    return read_comtrade(io.StringIO(text), reporter, partner)


def compare(exports: Side, imports: Side, *, annual: bool = False, top: int = 50) -> list[dict[str, Any]]:
    """The cells of both sides, joined on (HS6, month, currency) — on the year when ``annual`` — ranked by the
    value at stake, then by the size of the gap."""
    low = float(settings()["value"]["cif_fob_low"])
    high = float(settings()["value"]["cif_fob_high"])

    def rekey(side: Side) -> dict[Key, Cell]:
        if not annual:
            return side.cells
        out: dict[Key, Cell] = defaultdict(Cell)
        for (hs6, month, currency), cell in side.cells.items():
            target = out[(hs6, month[:4], currency)]
            target.value += cell.value
            target.mass += cell.mass
            target.count += cell.count
        return out

    ex, im = rekey(exports), rekey(imports)
    rows: list[dict[str, Any]] = []
    for key in set(ex) | set(im):
        e, i = ex.get(key, Cell()), im.get(key, Cell())
        ratio = i.value / e.value if e.value else None
        rows.append(
            {
                "hs6": key[0],
                "period": key[1],
                "currency": key[2],
                "export_value": round(e.value, 2),
                "import_value": round(i.value, 2),
                "gap": round(i.value - e.value, 2),
                "ratio": None if ratio is None else round(ratio, 3),
                "outside_band": ratio is not None and not low <= ratio <= high,
                "at_stake": round(max(0.0, e.value * low - i.value), 2),
                "export_mass_kg": round(e.mass, 3),
                "import_mass_kg": round(i.mass, 3),
                "export_records": e.count,
                "import_items": i.count,
            }
        )
    rows.sort(key=lambda r: (-float(r["at_stake"]), -abs(float(r["gap"])), str(r["hs6"]), str(r["period"])))
    return rows[:top]


def add_rows(side: Side, rows: Iterable[tuple[str, str, str, float, float | None]]) -> Side:
    for hs6, month, currency, value, mass in rows:
        side.add(hs6, month, currency, value, mass)
    return side
