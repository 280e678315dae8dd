"""Reference price bands: flag under- and over-valuation with evidence; never replace the declared value.

A band is built per HS6 x origin from the log unit values (value / net mass) of the history inside a time
window: median +/- ``k`` x 1.4826 x MAD (a robust standard deviation), never narrower than +/- ``min_spread`` in
log terms (about 10%), so identical historical prices do not flag every small difference. A level needs
``min_sample`` declarations; otherwise HS6 over all origins is used, then HS4. Each flag carries the band, its
median, the sample size, the level used and the period the sample covers (WCO guidance: a reference price flags,
it is not a minimum price).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from opencustoms.risk.errors import RiskDataError

LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hs6 x origin", ("hs6", "origin")),
    ("hs6", ("hs6",)),
    ("hs4", ("hs4",)),
)


def _unit(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter((pl.col("net_mass") > 0) & (pl.col("value") > 0)).with_columns(
        pl.col("hs6").str.slice(0, 4).alias("hs4"), (pl.col("value") / pl.col("net_mass")).log().alias("_luv")
    )


def bands(
    history: pl.DataFrame,
    *,
    until: dt.date | None = None,
    window_days: int = 365,
    min_sample: int = 10,
    k: float = 3.0,
    min_spread: float = 0.1,
) -> dict[str, pl.DataFrame]:
    """Bands per level from the history in ``[until - window_days, until)`` (``until`` defaults to after the last
    day of the history)."""
    if min_sample < 3:
        raise RiskDataError(
            "min_sample must be at least 3 for a median and a spread to mean something", field="min_sample"
        )
    data = _unit(history)
    end = until or (data["date"].max() + dt.timedelta(days=1) if data.height else None)  # type: ignore[operator]
    if end is None:
        raise RiskDataError("the history has no declaration with a value and a net mass", field="history")
    data = data.filter((pl.col("date") < end) & (pl.col("date") >= end - dt.timedelta(days=window_days)))
    out = {}
    for name, keys in LEVELS:
        out[name] = (
            data.group_by(list(keys))
            .agg(
                pl.col("_luv").median().alias("median"),
                (pl.col("_luv") - pl.col("_luv").median()).abs().median().alias("mad"),
                pl.len().alias("sample_size"),
                pl.col("date").min().alias("period_from"),
                pl.col("date").max().alias("period_to"),
            )
            .filter(pl.col("sample_size") >= min_sample)
            .with_columns(pl.max_horizontal(k * 1.4826 * pl.col("mad"), pl.lit(min_spread)).alias("_half"))
            .with_columns(
                (pl.col("median") - pl.col("_half")).exp().alias("band_low"),
                (pl.col("median") + pl.col("_half")).exp().alias("band_high"),
                pl.col("median").exp().alias("reference_unit_value"),
                pl.lit(name).alias("level"),
            )
            .drop("median", "mad", "_half")
        )
    return out


def check(frame: pl.DataFrame, band_tables: dict[str, pl.DataFrame], keep: Sequence[str] = ()) -> pl.DataFrame:
    """Every declaration of ``frame`` with its band and a flag: 'under', 'over', 'within' or 'no reference'.
    The declared value is only read. ``keep`` names further columns of ``frame`` to carry through (e.g. the goods
    item number and currency when rows are goods items)."""
    data = _unit(frame).with_columns((pl.col("value") / pl.col("net_mass")).alias("unit_value"))
    evidence = ["band_low", "band_high", "reference_unit_value", "sample_size", "period_from", "period_to", "level"]
    parts = []
    for name, keys in LEVELS:
        table = band_tables[name].rename({c: f"{c}__{name}" for c in evidence})
        data = data.join(table, on=list(keys), how="left")
        parts.append(name)
    data = data.with_columns([pl.coalesce([pl.col(f"{c}__{n}") for n in parts]).alias(c) for c in evidence])
    return data.select(
        "reference",
        *keep,
        "date",
        "hs6",
        "origin",
        "value",
        "net_mass",
        "unit_value",
        *evidence,
        pl.when(pl.col("level").is_null())
        .then(pl.lit("no reference"))
        .when(pl.col("unit_value") < pl.col("band_low"))
        .then(pl.lit("under"))
        .when(pl.col("unit_value") > pl.col("band_high"))
        .then(pl.lit("over"))
        .otherwise(pl.lit("within"))
        .alias("flag"),
    )


def flags(frame: pl.DataFrame, history: pl.DataFrame, **options: object) -> pl.DataFrame:
    """Only the under- and over-valued declarations, with their evidence, most extreme first."""
    until = frame["date"].min()
    checked = check(frame, bands(history, until=until, **options))  # type: ignore[arg-type]
    return (
        checked.filter(pl.col("flag").is_in(["under", "over"]))
        .with_columns((pl.col("unit_value") / pl.col("reference_unit_value")).log().abs().alias("_gap"))
        .sort("_gap", descending=True)
        .drop("_gap")
    )
