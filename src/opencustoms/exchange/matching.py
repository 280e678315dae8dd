"""Matching a partner's export record to our import declarations, and the mirror discrepancies between them.

Pure functions over the model: the service loads the candidates and stores what comes out.

1. **UCR**: an import declaration carrying the export's UCR (as an additional document of type ``UCR``) is its
   match, confidence 1.
2. **Containers**: otherwise, the imports sharing at least one container with the export and accepted within the
   dates window after the export's acceptance; each scored by the containers shared
   (Jaccard), the HS6 shared (Jaccard) and the days between the two dates, weighted as ``data/mirror.toml`` says.
   HS6 weighs in but is not required: a consignment classified differently at each side (the
   misclassification the mirror is there to find) still matches. The best one above the minimum confidence is
   the match; a tie between two lowers the confidence by half.
   Parties' names are left out: no fuzzy name matcher (rapidfuzz) is a dependency of the project yet.

Discrepancies compare the two sides per HS6 (totals over goods items): an HS6 on one side only (misclassification
at one side), value (CIF / FOB outside the documented band, same currency only), quantity (same unit only), net
mass, and origin. Each is a :class:`Discrepancy` with its evidence.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from opencustoms.exchange.schema import ExportRecord
from opencustoms.model import Declaration

NOT_DECLARED = "exchange.export_not_declared"  # a received export never matched within the dates window
UCR_DOCUMENT = "UCR"  # the type code of the additional document that carries an import's UCR
DATA = Path(__file__).parent / "data" / "mirror.toml"


@cache
def settings() -> dict[str, Any]:
    with DATA.open("rb") as handle:
        return tomllib.load(handle)


def ucr_of(declaration: Declaration) -> str | None:
    for document in declaration.additional_documents:
        if document.type_code.upper() == UCR_DOCUMENT:
            return document.id
    return None


def containers_of(declaration: Declaration) -> set[str]:
    return set(declaration.transport.container_ids) if declaration.transport else set()


@dataclass(frozen=True)
class Match:
    reference: str
    method: str  # ucr | container
    confidence: float
    evidence: dict[str, Any]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def match(record: ExportRecord, candidates: list[Declaration]) -> Match | None:
    """The import declaration among ``candidates`` that declares the consignment ``record`` exported, or None."""
    conf = settings()["match"]
    if record.ucr:
        for declaration in candidates:
            if ucr_of(declaration) == record.ucr:
                return Match(declaration.functional_reference_id, "ucr", 1.0, {"ucr": record.ucr})
    exported = set(record.container_ids or ())
    if not exported:
        return None
    export_hs6 = {g.hs6 for g in record.goods_items}
    window = int(conf["window_days"])
    scored: list[tuple[float, Declaration, dict[str, Any]]] = []
    for declaration in candidates:
        days = (declaration.acceptance_date - record.acceptance_date).days
        shared = exported & containers_of(declaration)
        import_hs6 = {g.hs_code[:6] for g in declaration.goods_items}
        if not shared or not 0 <= days <= window:
            continue
        score = (
            conf["weight_containers"] * _jaccard(exported, containers_of(declaration))
            + conf["weight_hs6"] * _jaccard(export_hs6, import_hs6)
            + conf["weight_dates"] * (1 - days / window if window else 1.0)
        )
        evidence = {
            "containers": sorted(shared),
            "hs6": sorted(export_hs6 & import_hs6),
            "days_after_export": days,
        }
        scored.append((round(score, 4), declaration, evidence))
    if not scored:
        return None
    scored.sort(key=lambda s: (-s[0], s[1].functional_reference_id))
    best, declaration, evidence = scored[0]
    if len(scored) > 1 and scored[1][0] == best:
        best = round(best / 2, 4)
        evidence["tied_with"] = scored[1][1].functional_reference_id
    if best < conf["min_confidence"]:
        return None
    return Match(declaration.functional_reference_id, "container", best, evidence)


@dataclass(frozen=True)
class Discrepancy:
    kind: str  # exchange.<what>
    evidence: dict[str, Any]


@dataclass
class _Side:
    value: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # currency -> amount
    quantity: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # unit -> quantity
    mass: float = 0.0
    mass_known: bool = True
    origins: set[str] = field(default_factory=set)


def _export_sides(record: ExportRecord) -> dict[str, _Side]:
    sides: dict[str, _Side] = defaultdict(_Side)
    for g in record.goods_items:
        side = sides[g.hs6]
        if g.value_amount is not None and g.value_currency:
            side.value[g.value_currency] += g.value_amount
        if g.quantity is not None and g.quantity_unit:
            side.quantity[g.quantity_unit] += g.quantity
        if g.net_mass_kg is None:
            side.mass_known = False
        else:
            side.mass += g.net_mass_kg
        if g.origin_country_code:
            side.origins.add(g.origin_country_code)
    return sides


def _import_sides(declaration: Declaration) -> dict[str, _Side]:
    sides: dict[str, _Side] = defaultdict(_Side)
    for g in declaration.goods_items:
        side = sides[g.hs_code[:6]]
        side.value[g.customs_value_currency] += g.customs_value_amount
        if g.quantity is not None and g.quantity_unit:
            side.quantity[g.quantity_unit] += g.quantity
        if g.net_mass_kg is None:
            side.mass_known = False
        else:
            side.mass += g.net_mass_kg
        side.origins.add(g.origin_country_code)
    return sides


def _off(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b)) if max(abs(a), abs(b)) else 0.0


def discrepancies(record: ExportRecord, declaration: Declaration, partner: str) -> list[Discrepancy]:
    """Where our import declaration and the partner's export record of the same consignment disagree."""
    conf = settings()
    base = {"partner": partner, "export_reference": record.functional_reference_id}
    exported, imported = _export_sides(record), _import_sides(declaration)
    found: list[Discrepancy] = []
    only_export, only_import = sorted(exported.keys() - imported.keys()), sorted(imported.keys() - exported.keys())
    if only_export or only_import:
        found.append(
            Discrepancy(
                "exchange.hs6_mismatch",
                base | {"export_hs6": ", ".join(sorted(exported)), "import_hs6": ", ".join(sorted(imported))},
            )
        )
    low, high = float(conf["value"]["cif_fob_low"]), float(conf["value"]["cif_fob_high"])
    for hs6 in sorted(exported.keys() & imported.keys()):
        ex, im = exported[hs6], imported[hs6]
        for currency in sorted(ex.value.keys() & im.value.keys()):
            fob, cif = float(ex.value[currency]), float(im.value[currency])
            if fob <= 0:
                continue
            ratio = cif / fob
            if not low <= ratio <= high:
                kind = "exchange.value_below_export" if ratio < low else "exchange.value_above_export"
                found.append(
                    Discrepancy(
                        kind,
                        base
                        | {
                            "hs6": hs6,
                            "currency": currency,
                            "export_value": round(fob, 2),
                            "import_value": round(cif, 2),
                            "ratio": round(ratio, 3),
                            "band": f"{low:g}–{high:g}",
                        },
                    )
                )
        for unit in sorted(ex.quantity.keys() & im.quantity.keys()):
            if _off(ex.quantity[unit], im.quantity[unit]) > conf["quantity"]["tolerance"]:
                found.append(
                    Discrepancy(
                        "exchange.quantity_mismatch",
                        base
                        | {
                            "hs6": hs6,
                            "unit": unit,
                            "export_quantity": ex.quantity[unit],
                            "import_quantity": im.quantity[unit],
                        },
                    )
                )
        if ex.mass_known and im.mass_known and ex.mass > 0 and _off(ex.mass, im.mass) > conf["mass"]["tolerance"]:
            found.append(
                Discrepancy(
                    "exchange.mass_mismatch",
                    base | {"hs6": hs6, "export_mass_kg": round(ex.mass, 3), "import_mass_kg": round(im.mass, 3)},
                )
            )
        if ex.origins and ex.origins != im.origins:
            found.append(
                Discrepancy(
                    "exchange.origin_mismatch",
                    base | {"hs6": hs6, "export_origin": sorted(ex.origins), "import_origin": sorted(im.origins)},
                )
            )
    return found


def window_start(today: dt.date) -> dt.date:
    """The earliest export acceptance date whose imports may still arrive within the window."""
    return today - dt.timedelta(days=int(settings()["match"]["window_days"]))
