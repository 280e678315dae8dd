"""What a model version is stored with: its evaluation on held-out data beside the baselines, what it learnt
from, and the score distribution that drift is measured against.

``build_report(model, train, valid)`` returns a JSON-ready dict:

- ``evaluation`` (when labelled held-out data is given): for inspection shares of 1% to 30% of the held-out
  declarations, the precision@n% and recall@n% curves of the model, of the rules-only baseline (learnt on the same
  training rows, :class:`~opencustoms.risk.baselines.RuleSelector`), of random selection (its expected value: the
  base rate for precision, n / N for recall) and of a perfect selector; the AUC of the model and of the rules. The
  ``n`` of a share and the tie rule are those of :mod:`opencustoms.risk.metrics` (the curve equals
  ``precision_at`` / ``recall_at`` at every share). Isotonic calibration preserves the ranking (ties are broken by
  the raw score), so calibrating on the same rows does not flatter these curves.
- ``feature_importance``: the top 20 features by LightGBM total gain, with their share of the total gain.
- ``scores``: the reference scores (held-out scores, or training scores when nothing was held out) as PSI bins
  (edges at the reference deciles, :func:`opencustoms.risk.lifecycle.reference_edges`) and as a fixed 20-bin
  histogram over [0, 1]; scoring adds to the same bins (``risk_score_counts``) so drift is known without a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from opencustoms.risk import lifecycle
from opencustoms.risk.baselines import RuleSelector
from opencustoms.risk.metrics import auc, inspected, top
from opencustoms.risk.model import RiskModel

CURVE_SHARES: tuple[float, ...] = tuple(round(p / 100, 2) for p in range(1, 31))
HISTOGRAM_BINS = 20
TOP_FEATURES = 20
REPORT_FORMAT = 1


def _clean(value: float) -> float | None:
    return None if value != value else round(float(value), 6)


def curves(labels: Any, scores: Any, shares: Sequence[float] = CURVE_SHARES) -> dict[str, list[float | None]]:
    """Precision@share and recall@share for every share, from one ranking (ties keep input order)."""
    y = np.asarray(labels, dtype=float)
    order = top(np.asarray(scores, dtype=float), len(y))
    found = np.cumsum(y[order])
    frauds = y.sum()
    precision, recall = [], []
    for q in shares:
        n = inspected(len(y), q)
        precision.append(_clean(found[n - 1] / n))
        recall.append(_clean(found[n - 1] / frauds) if frauds else None)
    return {"precision": precision, "recall": recall}


def reference_curves(labels: Any, shares: Sequence[float] = CURVE_SHARES) -> dict[str, dict[str, list[float | None]]]:
    """Random selection (expected value) and a perfect selector at every share."""
    y = np.asarray(labels, dtype=float)
    total, frauds = len(y), float(y.sum())
    ns = [inspected(total, q) for q in shares]
    return {
        "random": {
            "precision": [_clean(frauds / total) for _ in ns],
            "recall": [_clean(n / total) if frauds else None for n in ns],
        },
        "perfect": {
            "precision": [_clean(min(1.0, frauds / n)) for n in ns],
            "recall": [_clean(min(frauds, n) / frauds) if frauds else None for n in ns],
        },
    }


def feature_importance(model: RiskModel, top_n: int = TOP_FEATURES) -> list[dict[str, Any]]:
    """The ``top_n`` features by LightGBM total gain, largest first, with their share of all gain."""
    assert model.booster_ is not None
    gain = np.asarray(model.booster_.feature_importance(importance_type="gain"), dtype=float)
    total = gain.sum()
    order = np.argsort(-gain, kind="stable")[:top_n]
    return [
        {"feature": model.names_[i], "gain": round(float(gain[i]), 4), "share": round(float(gain[i] / total), 6)}
        for i in order
        if gain[i] > 0 and total > 0
    ]


def histogram_edges(bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """Inner edges of the fixed display histogram over [0, 1]."""
    return np.linspace(0, 1, bins + 1)[1:-1]


def score_bins(reference_scores: Sequence[float]) -> dict[str, Any]:
    ref = np.asarray(reference_scores, dtype=float)
    edges = lifecycle.reference_edges(ref)
    return {
        "reference_declarations": len(ref),
        "psi_edges": [float(e) for e in edges],
        "psi_reference": [int(c) for c in lifecycle.bin_counts(edges, ref)],
        "histogram_bins": HISTOGRAM_BINS,
        "histogram_reference": [int(c) for c in lifecycle.bin_counts(histogram_edges(), ref)],
    }


def build_report(
    model: RiskModel,
    train: pl.DataFrame,
    valid: pl.DataFrame | None,
    *,
    held_out: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The report of a fitted model; ``valid`` (labelled rows only are measured) gives the evaluation."""
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "feature_importance": feature_importance(model),
        "scores": score_bins(model.reference_scores_) if len(model.reference_scores_) >= 10 else None,
        "scores_from": "held-out declarations" if valid is not None else "training declarations (in-sample)",
        "evaluation": None,
        "notes": [note] if note else [],
    }
    if valid is None:
        return report
    labelled = valid.filter(pl.col("label").is_not_null())
    y = labelled["label"].to_numpy().astype(float)
    ours = model.predict_proba(labelled)
    selector = RuleSelector().fit(train)
    rules = selector.score(labelled)
    ref = reference_curves(y)
    report["evaluation"] = {
        "held_out": held_out or "validation file",
        "declarations": labelled.height,
        "frauds": int(y.sum()),
        "base_rate": _clean(y.mean()),
        "period": [str(labelled["date"].min()), str(labelled["date"].max())],
        "shares": list(CURVE_SHARES),
        "inspected": [inspected(labelled.height, q) for q in CURVE_SHARES],
        "auc": {"model": _clean(auc(y, ours)), "rules": _clean(auc(y, rules))},
        "rules_learnt": len(selector.rules_),
        "curves": {"model": curves(y, ours), "rules": curves(y, rules), **ref},
    }
    return report
