"""A risk score as an officer reads it: a percentage and a band.

The model's score is a probability of fraud in [0, 1] (:func:`opencustoms.risk.model.calibrate` keeps it there).
Officers read it as a percentage with one decimal and a band; the queue is ordered by the probability and then by
the rank score stored beside it (the raw model score), so declarations that show the same percentage keep the
model's order. The bands (lower bounds, probability of fraud):

| band | from |
|---|---|
| very high | 75% |
| high | 50% |
| medium | 20% |
| low | 0% |
"""

from __future__ import annotations

from typing import Any

# (band, lower bound), highest first
BANDS: tuple[tuple[str, float], ...] = (("very high", 0.75), ("high", 0.5), ("medium", 0.2), ("low", 0.0))
BAND_NAMES = tuple(name for name, _ in BANDS)


def band(score: float | None) -> str | None:
    """The band of a probability (None without a model score)."""
    if score is None or score != score:
        return None
    for name, lower in BANDS:
        if score >= lower:
            return name
    return BANDS[-1][0]


def percent(score: float | None) -> float | None:
    """The probability as a percentage with one decimal, in [0, 100] (a stored score from before issue #13 that
    exceeded 1 by a millionth is shown as 100)."""
    if score is None or score != score:
        return None
    return round(min(max(float(score), 0.0), 1.0) * 100, 1)


def percent_text(score: float | None) -> str:
    """The percentage as text: ``"87.5%"``; a probability just under 1 that would round to 100 reads ``"> 99.9%"``
    (100% only when the model is certain); ``"–"`` without a model score."""
    value = percent(score)
    if value is None or score is None:
        return "–"
    if value == 100.0 and score < 1.0:
        return "> 99.9%"
    return f"{value:.1f}%"


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A decision with ``score_percent`` and ``band`` beside its ``score`` (the probability, clipped to [0, 1])."""
    score = row.get("score")
    clipped = None if score is None else min(max(float(score), 0.0), 1.0)
    return {**row, "score": clipped, "score_percent": percent(clipped), "band": band(clipped)}
