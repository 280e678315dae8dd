"""Week-by-week replay of a labelled data set, as the published online protocol does.

Week 1 is inspected at ``start_rate`` (100% by default); the rate falls linearly to ``target_rate`` over
``ramp_weeks``. Each week the model is retrained on the declarations inspected so far — labels are revealed only
for what was inspected — and chooses that week's inspections: ``1 - exploration`` of them by highest probability,
the exploration share half at random and half where the model is least sure (probability closest to 0.5).
Each week reports the precision of the inspections and the precision a perfect selector reaches with the same
number, and, when revenue is known, the share of the week's revenue found against the perfect share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from opencustoms.risk.errors import RiskDataError
from opencustoms.risk.model import RiskModel

FAST_PARAMS = {
    "n_estimators": 150,
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.7,
    "verbose": -1,
}


def _rate(week: int, start: float, target: float, ramp: int) -> float:
    if ramp <= 0 or week >= ramp:
        return target
    return start + (target - start) * week / ramp


def simulate(
    frame: pl.DataFrame,
    *,
    start_rate: float = 1.0,
    target_rate: float = 0.05,
    ramp_weeks: int = 8,
    exploration: float = 0.1,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    for name, value in (("start_rate", start_rate), ("target_rate", target_rate), ("exploration", exploration)):
        if not 0 < value <= 1 and not (name == "exploration" and value == 0):
            raise RiskDataError(f"{name} must be in (0, 1], not {value}", field=name)
    if frame["label"].null_count():
        raise RiskDataError(
            "the replayed data must be fully labelled (the replay reveals labels itself)", field="label"
        )
    rng = np.random.default_rng(seed)
    data = frame.sort("date", maintain_order=True).with_columns(pl.col("date").dt.truncate("1w").alias("_week"))
    weeks = data["_week"].unique().sort().to_list()
    if len(weeks) < 2:
        raise RiskDataError("the replay needs at least two weeks of declarations", field="date")
    has_revenue = data["revenue"].null_count() == 0
    revealed: list[pl.DataFrame] = []
    out: list[dict[str, Any]] = []
    say = progress or (lambda _m: None)
    for i, week in enumerate(weeks):
        batch = data.filter(pl.col("_week") == week).drop("_week")
        n = batch.height
        rate = _rate(i, start_rate, target_rate, ramp_weeks)
        k = max(1, int(round(rate * n)))
        known = pl.concat(revealed) if revealed else None
        model = None
        if known is not None and 0 < int(known["label"].sum()) < known.height:
            model = RiskModel(params=params or FAST_PARAMS, seed=seed).fit(known)
        if model is None or k >= n:
            chosen = rng.choice(n, size=min(k, n), replace=False)
        else:
            p = model.predict_proba(batch)
            n_explore = int(round(exploration * k))
            n_exploit = k - n_explore
            order = np.argsort(-p, kind="stable")
            chosen_set = list(order[:n_exploit])
            rest = np.setdiff1d(np.arange(n), chosen_set)
            n_uncertain = n_explore // 2
            uncertain = rest[np.argsort(np.abs(p[rest] - 0.5), kind="stable")[:n_uncertain]]
            rest = np.setdiff1d(rest, uncertain)
            random = rng.choice(rest, size=min(n_explore - n_uncertain, len(rest)), replace=False)
            chosen = np.concatenate([np.asarray(chosen_set, dtype=int), uncertain, random]).astype(int)
        y = batch["label"].to_numpy()
        found = int(y[chosen].sum())
        frauds = int(y.sum())
        row: dict[str, Any] = {
            "week": str(week),
            "declarations": n,
            "rate": rate,
            "inspected": len(chosen),
            "frauds": frauds,
            "found": found,
            "precision": found / len(chosen),
            "perfect_precision": min(1.0, frauds / len(chosen)),
            "model": model is not None,
        }
        if has_revenue:
            rev = batch["revenue"].to_numpy()
            total = rev.sum()
            best = np.sort(rev)[::-1][: len(chosen)].sum()
            row["revenue_share"] = float(rev[chosen].sum() / total) if total else None
            row["perfect_revenue_share"] = float(best / total) if total else None
        out.append(row)
        revealed.append(batch[chosen])
        say(f"week {week}: inspected {len(chosen)} of {n}, precision {row['precision']:.3f}")
    after = [w for w in out[ramp_weeks:]] or out[-1:]
    inspected = sum(w["inspected"] for w in after)
    summary = {
        "weeks": len(after),
        "precision": sum(w["found"] for w in after) / inspected,
        "perfect_precision": sum(min(w["frauds"], w["inspected"]) for w in after) / inspected,
    }
    return {
        "weeks": out,
        "summary": summary,
        "settings": {
            "start_rate": start_rate,
            "target_rate": target_rate,
            "ramp_weeks": ramp_weeks,
            "exploration": exploration,
            "seed": seed,
        },
    }
