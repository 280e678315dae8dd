"""Score drift: the population stability index (PSI) of today's scores against the reference period's.

PSI = sum over bins of (today% - reference%) * ln(today% / reference%), with bins at the reference scores'
deciles. Common reading: below 0.1 stable, 0.1-0.25 watch, above 0.25 the scores no longer look like the
reference period's (retrain or check the data feed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opencustoms.risk.errors import RiskDataError

WATCH, ALERT = 0.1, 0.25


def reference_edges(reference: Any, bins: int = 10) -> np.ndarray:
    """The PSI bin edges: the reference scores' inner quantiles (deciles by default), duplicates dropped."""
    ref = np.asarray(reference, dtype=float)
    if len(ref) < bins:
        raise RiskDataError(f"drift needs at least {bins} reference scores", field="scores")
    return np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_counts(edges: Any, scores: Any) -> np.ndarray:
    """How many scores fall in each bin of ``edges`` (``len(edges) + 1`` bins; a score on an edge goes right)."""
    edges = np.asarray(edges, dtype=float)
    return np.bincount(np.searchsorted(edges, np.asarray(scores, dtype=float), side="right"), minlength=len(edges) + 1)


def psi_from_counts(reference_counts: Any, current_counts: Any) -> float:
    """PSI from counts per bin (the same bins for both); what a running histogram of scores needs."""
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    if ref.shape != cur.shape or ref.sum() <= 0 or cur.sum() <= 0:
        raise RiskDataError(
            "drift needs reference and current counts over the same bins, each with at least one score",
            field="scores",
        )
    r, c = np.clip(ref / ref.sum(), 1e-4, None), np.clip(cur / cur.sum(), 1e-4, None)
    return float(((c - r) * np.log(c / r)).sum())


def psi(reference: Any, current: Any, bins: int = 10) -> float:
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if len(ref) < bins or len(cur) == 0:
        raise RiskDataError(f"drift needs at least {bins} reference scores and one current score", field="scores")
    edges = reference_edges(ref, bins)
    return psi_from_counts(bin_counts(edges, ref), bin_counts(edges, cur))


def verdict(value: float) -> str:
    if value < WATCH:
        return "stable: today's scores look like the reference period's"
    if value < ALERT:
        return "watch: today's scores have moved from the reference period's"
    return "drift: today's scores no longer look like the reference period's; retrain or check the data feed"
