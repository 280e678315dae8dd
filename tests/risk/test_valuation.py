"""Reference price bands: robust, windowed, with minimum samples and fall-back, flags with evidence."""

from __future__ import annotations

import datetime as dt

import polars as pl

from opencustoms.risk.frame import conform
from opencustoms.risk.valuation import bands, check


def declarations(rows: list[tuple[str, str, float, int]]) -> pl.DataFrame:
    """rows of (hs6, origin, unit value, day of 2025)."""
    return conform(
        pl.DataFrame(
            {
                "reference": [f"D{i}" for i in range(len(rows))],
                "hs6": [r[0] for r in rows],
                "origin": [r[1] for r in rows],
                "value": [float(r[2]) * 10 for r in rows],
                "net_mass": [10.0] * len(rows),
                "date": [dt.date(2025, 1, 1) + dt.timedelta(days=r[3]) for r in rows],
            }
        )
    )


HISTORY = declarations(
    [("847130", "CN", v, d) for d, v in enumerate([95, 100, 105, 98, 102, 101, 99, 100, 103, 97])]
    + [("847130", "VN", 200.0, d) for d in range(3)]  # too few for their own band
    + [("847130", "CN", 1.0, 300)]
)  # outside the window below


def test_flags_under_and_over_with_their_evidence() -> None:
    table = bands(HISTORY, until=dt.date(2025, 2, 1), window_days=60, min_sample=5)
    new = declarations([("847130", "CN", 40.0, 40), ("847130", "CN", 100.0, 40), ("847130", "CN", 400.0, 40)])
    out = check(new, table)
    assert out["flag"].to_list() == ["under", "within", "over"]
    row = out.row(0, named=True)
    assert row["level"] == "hs6 x origin" and row["sample_size"] == 10
    assert row["period_from"] == dt.date(2025, 1, 1) and row["period_to"] == dt.date(2025, 1, 10)
    assert row["band_low"] < 100 < row["band_high"]
    assert out["value"].to_list() == new["value"].to_list()  # declared values are never replaced


def test_thin_origin_falls_back_to_all_origins() -> None:
    table = bands(HISTORY, until=dt.date(2025, 2, 1), window_days=60, min_sample=5)
    out = check(declarations([("847130", "VN", 100.0, 40), ("999999", "CN", 5.0, 40)]), table)
    assert out["level"].to_list() == ["hs6", None]
    assert out["flag"].to_list() == ["within", "no reference"]
