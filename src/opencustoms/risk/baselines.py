"""Baselines, always shown beside the model in the same run and table.

- ``random``: a seeded random order (its precision is the base rate, give or take chance);
- ``rules``: a transparent rule set learned on train — every HS6, origin, importer and HS6 × origin value with
  at least ``min_support`` declarations whose fraud rate is at least ``min_lift`` times the base rate becomes a rule
  "declarations with <key> = <value> were fraudulent in <rate> of <support> cases"; a declaration's score is the
  highest rate among the rules it matches (the base rate when none);
- ``lightgbm`` / ``xgboost`` / ``random_forest``: the libraries' default estimators on the published protocol's
  features — every column of the declaration as given (categories as integer codes learned on train, unknown
  codes as -1), no engineered features.

Each has ``fit(train)`` and ``score(frame)``, as scikit-learn estimators have fit and predict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from opencustoms.risk.errors import RiskDataError

RAW_CATEGORICAL = (
    "office",
    "procedure",
    "transport_mode",
    "departure",
    "origin",
    "hs6",
    "declarant",
    "importer",
    "seller",
    "carrier",
    "duty_regime",
    "aeo",
)
RAW_NUMERIC = ("duty_rate", "net_mass", "value", "items")
RULE_KEYS: dict[str, tuple[str, ...]] = {
    "hs6": ("hs6",),
    "origin": ("origin",),
    "importer": ("importer",),
    "hs6_origin": ("hs6", "origin"),
}


@dataclass
class RandomSelector:
    seed: int = 0
    name: str = "random"

    def fit(self, train: pl.DataFrame) -> RandomSelector:
        return self

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        return np.random.default_rng(self.seed).random(frame.height)


@dataclass
class RuleSelector:
    min_support: int = 20
    min_lift: float = 1.5
    name: str = "rules"
    rules_: list[dict[str, Any]] = field(default_factory=list, init=False)
    base_rate_: float = field(default=float("nan"), init=False)

    def fit(self, train: pl.DataFrame) -> RuleSelector:
        lab = train.filter(pl.col("label").is_not_null())
        if lab.height == 0:
            raise RiskDataError("rules need labelled declarations in train", field="train")
        self.base_rate_ = float(lab["label"].mean())  # type: ignore[arg-type]
        rules = []
        for name, keys in RULE_KEYS.items():
            stats = (
                lab.filter(pl.all_horizontal([pl.col(k).is_not_null() for k in keys]))
                .group_by(list(keys))
                .agg(pl.len().alias("support"), pl.col("label").mean().alias("rate"))
                .filter((pl.col("support") >= self.min_support) & (pl.col("rate") >= self.min_lift * self.base_rate_))
            )
            for row in stats.iter_rows(named=True):
                rules.append(
                    {
                        "key": name,
                        "match": {k: row[k] for k in keys},
                        "support": row["support"],
                        "rate": round(row["rate"], 4),
                        "reason": f"declarations with {' and '.join(f'{k} = {row[k]}' for k in keys)} were "
                        f"fraudulent in {row['rate']:.0%} of {row['support']} cases",
                    }
                )
        self.rules_ = sorted(rules, key=lambda r: -r["rate"])
        return self

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        out = np.full(frame.height, self.base_rate_)
        for name, keys in RULE_KEYS.items():
            table = pl.DataFrame(
                [{**r["match"], "_rate": r["rate"]} for r in self.rules_ if r["key"] == name],
                schema={**{k: pl.Utf8 for k in keys}, "_rate": pl.Float64},
            )
            rates = frame.select(list(keys)).join(table, on=list(keys), how="left", maintain_order="left")["_rate"]
            out = np.fmax(out, rates.fill_null(0.0).to_numpy())
        return out


@dataclass
class RawEncoder:
    """The published protocol's features: every column as given, categories as codes learned on train."""

    codes_: dict[str, dict[str, int]] = field(default_factory=dict, init=False)

    def fit(self, train: pl.DataFrame) -> RawEncoder:
        cols = [c for c in (*RAW_CATEGORICAL, *sorted(c for c in train.columns if c.startswith("x_")))]
        self.codes_ = {
            c: {v: i for i, v in enumerate(sorted(train[c].drop_nulls().unique().to_list()))}
            for c in cols
            if c in train.columns
        }
        return self

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        exprs = [pl.col(c).cast(pl.Float64).fill_null(-1.0) for c in RAW_NUMERIC]
        for c, mapping in self.codes_.items():
            source = pl.col(c) if c in frame.columns else pl.lit(None, pl.Utf8)
            exprs.append(
                source.replace_strict(
                    {k: float(v) for k, v in mapping.items()}, default=-1.0, return_dtype=pl.Float64
                ).alias(c)
            )
        return frame.select(exprs).to_numpy()


@dataclass
class LibraryDefault:
    """A library's default classifier on the raw features."""

    name: str
    seed: int = 0
    encoder_: RawEncoder = field(default_factory=RawEncoder, init=False)
    estimator_: Any = field(default=None, init=False)

    def _estimator(self) -> Any:
        if self.name == "lightgbm":
            import lightgbm

            return lightgbm.LGBMClassifier(verbose=-1, random_state=self.seed)
        if self.name == "xgboost":
            try:
                import xgboost
            except ImportError as exc:  # pragma: no cover - depends on the installation
                raise RiskDataError(
                    "the xgboost baseline needs xgboost-cpu: pip install 'opencustoms[baselines]'", field="baselines"
                ) from exc
            return xgboost.XGBClassifier(random_state=self.seed, n_jobs=2)
        if self.name == "random_forest":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(random_state=self.seed, n_jobs=2)
        raise RiskDataError(f"unknown baseline {self.name!r}", field="baselines")

    def fit(self, train: pl.DataFrame) -> LibraryDefault:
        lab = train.filter(pl.col("label").is_not_null())
        self.encoder_.fit(lab)
        self.estimator_ = self._estimator().fit(self.encoder_.transform(lab), lab["label"].to_numpy())
        return self

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        return np.asarray(self.estimator_.predict_proba(self.encoder_.transform(frame))[:, 1])


def baselines(seed: int = 0) -> list[Any]:
    return [
        RandomSelector(seed),
        RuleSelector(),
        LibraryDefault("lightgbm", seed),
        LibraryDefault("xgboost", seed),
        LibraryDefault("random_forest", seed),
    ]
