"""Engineered features, computed without leaking the future.

:class:`FeatureBuilder` learns, from a labelled history, three kinds of state:

- **price references**: the median and median absolute deviation of log unit value (value / net mass) per
  HS6 × origin, HS6 and HS4 (a reference needs ``min_reference`` declarations, else the next coarser one is used);
- **target statistics**: per HS6, HS4, origin, office, route (departure, origin, mode), importer, declarant, seller,
  carrier and HS6 × origin, the number of labelled declarations and their smoothed fraud rate
  ``(frauds + m * prior) / (n + m)``;
- **categories**: the codes of the low-cardinality categorical columns (unknown values at scoring become missing,
  which the model handles as such — documented fall-back, never a crash).

Two ways to turn a frame into a matrix:

- :meth:`transform` (scoring): only the fitted history contributes;
- :meth:`transform_expanding` (training, on the history itself): each row's statistics come only from rows
  accepted on *earlier days* (an expanding window), so a training row never sees its own label or the future.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from opencustoms.risk.errors import RiskDataError

STAT_KEYS: dict[str, tuple[str, ...]] = {
    "hs6": ("hs6",),
    "hs4": ("hs4",),
    "origin": ("origin",),
    "office": ("office",),
    "route": ("departure", "origin", "transport_mode"),
    "importer": ("importer",),
    "declarant": ("declarant",),
    "seller": ("seller",),
    "carrier": ("carrier",),
    "hs6_origin": ("hs6", "origin"),
    "declarant_hs6": ("declarant", "hs6"),
    "importer_hs6": ("importer", "hs6"),
}
CATEGORICAL = ("office", "transport_mode", "departure", "origin", "hs2", "hs4", "duty_regime", "aeo", "procedure")
REFERENCE_LEVELS: tuple[tuple[str, ...], ...] = (("hs6", "origin"), ("hs6",), ("hs4",))
_EPS = 1e-6


def _derived(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns every feature needs: HS2/HS4, log unit value, keys with nulls made explicit."""
    keys = {c for k in STAT_KEYS.values() for c in k} | set(CATEGORICAL)
    return frame.with_columns(
        pl.col("hs6").str.slice(0, 4).alias("hs4"),
        pl.col("hs6").str.slice(0, 2).alias("hs2"),
        (pl.col("value").clip(lower_bound=0) + 1.0).log().alias("log_value"),
        (pl.col("net_mass").clip(lower_bound=0) + 1.0).log().alias("log_mass"),
        (pl.col("duty_at_stake").clip(lower_bound=0) + 1.0).log().alias("log_duty"),
        ((pl.col("value").clip(lower_bound=0) + 1.0) / (pl.col("net_mass").clip(lower_bound=0) + 1e-3))
        .log()
        .alias("log_uv"),
    ).with_columns([pl.col(c).fill_null("\u2205") for c in keys if c in frame.columns or c in ("hs2", "hs4")])


@dataclass
class FeatureBuilder:
    smoothing: float = 20.0
    min_reference: int = 5
    stat_keys: tuple[str, ...] = tuple(STAT_KEYS)
    extra_categorical: tuple[str, ...] = ()
    prior_: float = field(default=float("nan"), init=False)
    stats_: dict[str, pl.DataFrame] = field(default_factory=dict, init=False)
    references_: list[pl.DataFrame] = field(default_factory=list, init=False)
    categories_: dict[str, list[str]] = field(default_factory=dict, init=False)
    history_rows_: int = field(default=0, init=False)

    # --- fitting ---------------------------------------------------------------------------------------------

    def fit(self, history: pl.DataFrame) -> FeatureBuilder:
        labelled = history.filter(pl.col("label").is_not_null())
        if labelled.height == 0:
            raise RiskDataError(
                "the training history has no labelled declarations; a model learns only from "
                "inspected declarations (record inspection results first)",
                field="label",
            )
        data = _derived(history)
        lab = data.filter(pl.col("label").is_not_null())
        self.prior_ = float(lab["label"].mean())  # type: ignore[arg-type]
        self.history_rows_ = lab.height
        self.extra_categorical = tuple(sorted(c for c in history.columns if c.startswith("x_")))
        self.stats_ = {
            name: lab.group_by(list(STAT_KEYS[name])).agg(pl.len().alias("n"), pl.col("label").sum().alias("k"))
            for name in self.stat_keys
        }
        self.references_ = [
            data.filter(pl.col("net_mass") > 0)
            .group_by(list(level))
            .agg(
                pl.col("log_uv").median().alias("ref_median"),
                (pl.col("log_uv") - pl.col("log_uv").median()).abs().median().alias("ref_mad"),
                pl.len().alias("ref_n"),
            )
            .filter(pl.col("ref_n") >= self.min_reference)
            for level in REFERENCE_LEVELS
        ]
        self.categories_ = {
            col: sorted(v for v in data[col].unique().to_list() if v is not None)
            for col in (*CATEGORICAL, *self.extra_categorical)
            if col in data.columns
        }
        return self

    def _check(self) -> None:
        if not self.stats_:
            raise RiskDataError("the feature builder is not fitted; call fit(history) first", field="history")

    # --- the feature matrix ----------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        stats = [f"{p}_{k}" for k in self.stat_keys for p in ("rate", "n")]
        return [
            "duty_rate",
            "log_value",
            "log_mass",
            "log_uv",
            "log_duty",
            "items",
            "preference_claimed",
            "uv_deviation",
            "uv_z",
            "uv_reference_n",
            "uv_reference_level",
            *stats,
            *[f"cat_{c}" for c in self.categories_],
        ]

    @property
    def categorical_names(self) -> list[str]:
        return [f"cat_{c}" for c in self.categories_]

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """Features for scoring: statistics from the fitted history only."""
        self._check()
        data = _derived(frame).with_row_index("_row")
        for name in self.stat_keys:
            keys = list(STAT_KEYS[name])
            stats = self.stats_[name].with_columns(  # typed even when restored empty from a model file
                *(pl.col(k).cast(data.schema[k]) for k in keys), pl.col("n").cast(pl.Int64), pl.col("k").cast(pl.Int64)
            )
            data = data.join(stats.rename({"n": f"_n_{name}", "k": f"_k_{name}"}), on=keys, how="left")
        return self._matrix(data.sort("_row"))

    def transform_expanding(self, frame: pl.DataFrame) -> np.ndarray:
        """Features for training rows: each row sees only labelled rows of ``frame`` from earlier days."""
        self._check()
        data = _derived(frame).with_row_index("_row")
        lab = pl.col("label").fill_null(0)
        has = pl.col("label").is_not_null().cast(pl.Int64)
        for name in self.stat_keys:
            keys = list(STAT_KEYS[name])
            daily = (
                data.group_by([*keys, "date"])
                .agg(has.sum().alias("dn"), lab.cast(pl.Int64).sum().alias("dk"))
                .sort("date")
                .with_columns(
                    (pl.col("dn").cum_sum().over(keys) - pl.col("dn")).alias(f"_n_{name}"),
                    (pl.col("dk").cum_sum().over(keys) - pl.col("dk")).alias(f"_k_{name}"),
                )
                .drop("dn", "dk")
            )
            data = data.join(daily, on=[*keys, "date"], how="left")
        return self._matrix(data.sort("_row"))

    def _matrix(self, data: pl.DataFrame) -> np.ndarray:
        m, prior = self.smoothing, self.prior_
        data = self._references(data)
        exprs: list[pl.Expr] = [
            pl.col("duty_rate"),
            pl.col("log_value"),
            pl.col("log_mass"),
            pl.col("log_uv"),
            pl.col("log_duty"),
            pl.col("items").cast(pl.Float64),
            pl.col("preference").is_not_null().cast(pl.Float64),
            (pl.col("log_uv") - pl.col("ref_median")).alias("uv_deviation"),
            ((pl.col("log_uv") - pl.col("ref_median")) / (1.4826 * pl.col("ref_mad") + 0.05)).alias("uv_z"),
            (pl.col("ref_n").cast(pl.Float64) + 1).log(),
            pl.col("ref_level").cast(pl.Float64),
        ]
        for name in self.stat_keys:
            n = pl.col(f"_n_{name}").fill_null(0).cast(pl.Float64)
            k = pl.col(f"_k_{name}").fill_null(0).cast(pl.Float64)
            exprs += [((k + m * prior) / (n + m)).alias(f"rate_{name}"), (n + 1).log().alias(f"n_{name}")]
        for col, values in self.categories_.items():
            mapping = {v: float(i) for i, v in enumerate(values)}
            source = pl.col(col) if col in data.columns else pl.lit(None, pl.Utf8)
            exprs.append(source.replace_strict(mapping, default=None, return_dtype=pl.Float64).alias(f"cat_{col}"))
        return data.select(exprs).to_numpy().astype(np.float64)

    def _references(self, data: pl.DataFrame) -> pl.DataFrame:
        """The price reference each row is compared with: HS6 × origin, else HS6, else HS4."""
        cols = []
        for level, (keys, table) in enumerate(zip(REFERENCE_LEVELS, self.references_, strict=True)):
            suffix = f"_{level}"
            # a table restored from a model file may be empty, and then its columns have no type: give them one
            table = table.with_columns(
                *(pl.col(k).cast(data.schema[k]) for k in keys),
                pl.col("ref_median").cast(pl.Float64),
                pl.col("ref_mad").cast(pl.Float64),
                pl.col("ref_n").cast(pl.Int64),
            )
            data = data.join(
                table.rename({c: c + suffix for c in ("ref_median", "ref_mad", "ref_n")}), on=list(keys), how="left"
            )
            cols.append(suffix)
        return data.with_columns(
            pl.coalesce([pl.col("ref_median" + s) for s in cols]).alias("ref_median"),
            pl.coalesce([pl.col("ref_mad" + s) for s in cols]).alias("ref_mad"),
            pl.coalesce([pl.col("ref_n" + s) for s in cols]).alias("ref_n"),
            pl.coalesce(
                [pl.when(pl.col("ref_n" + s).is_not_null()).then(pl.lit(i)) for i, s in enumerate(cols)]
                + [pl.lit(len(cols))]
            ).alias("ref_level"),
        )

    def state(self) -> dict[str, Any]:
        """Everything learned, as plain data (for the model file)."""
        return {
            "smoothing": self.smoothing,
            "min_reference": self.min_reference,
            "stat_keys": list(self.stat_keys),
            "extra_categorical": list(self.extra_categorical),
            "prior": self.prior_,
            "history_rows": self.history_rows_,
            "stats": {k: v.to_dict(as_series=False) for k, v in self.stats_.items()},
            "references": [r.to_dict(as_series=False) for r in self.references_],
            "categories": self.categories_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureBuilder:
        fb = cls(
            smoothing=state["smoothing"],
            min_reference=state["min_reference"],
            stat_keys=tuple(state["stat_keys"]),
            extra_categorical=tuple(state["extra_categorical"]),
        )
        fb.prior_ = state["prior"]
        fb.history_rows_ = state["history_rows"]
        fb.stats_ = {k: pl.DataFrame(v) for k, v in state["stats"].items()}
        fb.references_ = [pl.DataFrame(r) for r in state["references"]]
        fb.categories_ = state["categories"]
        return fb
