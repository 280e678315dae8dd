"""Rank metrics for a selector: inspection capacity is fixed, so what matters is the top of the ranking.

For a share ``q`` of ``N`` declarations, the selector inspects the ``n = max(1, round(q * N))`` highest scores
(ties broken by input order, so a constant score is the same as inspecting in arrival order):

- precision@q = frauds among the n / n (the "hit rate");
- recall@q = frauds among the n / all frauds;
- revenue@q = revenue found among the n / all revenue (when revenue is known);
- lift@q = precision@q / base rate (how many times better than random);
- perfect@q = the precision a perfect selector reaches with the same n: min(1, frauds / n);
- relative@q = precision@q / perfect@q.

AUC is scikit-learn's ``roc_auc_score``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from opencustoms.risk.errors import RiskDataError

DEFAULT_SHARES: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)


def _arrays(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    if y.ndim != 1 or s.shape != y.shape:
        raise RiskDataError(
            f"labels and scores must be two 1-D arrays of the same length (got {y.shape} and {s.shape})", field="scores"
        )
    if len(y) == 0:
        raise RiskDataError("there is nothing to measure: the split has no declarations", field="labels")
    if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        raise RiskDataError("labels must be 0 (compliant) or 1 (fraud), without missing values", field="labels")
    if np.isnan(s).any():
        raise RiskDataError("a score is missing (NaN); the selector must score every declaration", field="scores")
    return y, s


def inspected(n_total: int, share: float) -> int:
    """How many declarations a share of ``n_total`` inspects."""
    if not 0 < share <= 1:
        raise RiskDataError(f"an inspection share must be in (0, 1], not {share}", field="share")
    return max(1, int(round(share * n_total)))


def top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores; ties keep input order."""
    return np.argsort(-scores, kind="stable")[:n]


def precision_at(labels: Any, scores: Any, share: float) -> float:
    y, s = _arrays(labels, scores)
    return float(y[top(s, inspected(len(y), share))].mean())


def recall_at(labels: Any, scores: Any, share: float) -> float:
    y, s = _arrays(labels, scores)
    total = y.sum()
    return float(y[top(s, inspected(len(y), share))].sum() / total) if total else float("nan")


def revenue_at(revenue: Any, scores: Any, share: float) -> float:
    r = np.asarray(revenue, dtype=float)
    s = np.asarray(scores, dtype=float)
    if r.shape != s.shape or np.isnan(r).any():
        raise RiskDataError("revenue must be known (no missing values) for every declaration", field="revenue")
    total = r.sum()
    return float(r[top(s, inspected(len(r), share))].sum() / total) if total > 0 else float("nan")


def perfect_precision_at(labels: Any, share: float) -> float:
    y = np.asarray(labels, dtype=float)
    return float(min(1.0, y.sum() / inspected(len(y), share)))


def auc(labels: Any, scores: Any) -> float:
    y, s = _arrays(labels, scores)
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, s))


@dataclass(frozen=True)
class AtShare:
    share: float
    inspected: int
    precision: float
    recall: float
    lift: float
    perfect_precision: float
    relative_precision: float
    revenue: float | None


@dataclass(frozen=True)
class Scorecard:
    """Every metric of one selector on one split."""

    declarations: int
    frauds: int
    base_rate: float
    auc: float
    at: tuple[AtShare, ...]

    def precision(self, share: float) -> float:
        return next(a.precision for a in self.at if abs(a.share - share) < 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scorecard(
    labels: Any, scores: Any, revenue: Any | None = None, shares: Sequence[float] = DEFAULT_SHARES
) -> Scorecard:
    y, s = _arrays(labels, scores)
    frauds = int(y.sum())
    base = frauds / len(y)
    rows = []
    for q in shares:
        p = precision_at(y, s, q)
        perfect = perfect_precision_at(y, q)
        rows.append(
            AtShare(
                share=q,
                inspected=inspected(len(y), q),
                precision=p,
                recall=recall_at(y, s, q) if frauds else float("nan"),
                lift=p / base if base else float("nan"),
                perfect_precision=perfect,
                relative_precision=p / perfect if perfect else float("nan"),
                revenue=revenue_at(revenue, s, q) if revenue is not None else None,
            )
        )
    return Scorecard(len(y), frauds, base, auc(y, s), tuple(rows))
