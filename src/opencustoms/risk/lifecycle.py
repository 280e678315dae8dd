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


def psi(reference: Any, current: Any, bins: int = 10) -> float:
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if len(ref) < bins or len(cur) == 0:
        raise RiskDataError(f"drift needs at least {bins} reference scores and one current score", field="scores")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    r, c = np.clip(r, 1e-4, None), np.clip(c, 1e-4, None)
    return float(((c - r) * np.log(c / r)).sum())


def verdict(value: float) -> str:
    if value < WATCH:
        return "stable: today's scores look like the reference period's"
    if value < ALERT:
        return "watch: today's scores have moved from the reference period's"
    return "drift: today's scores no longer look like the reference period's; retrain or check the data feed"
