"""Rank metrics checked against hand computations."""

from __future__ import annotations

import math

import pytest

from opencustoms.risk.errors import RiskDataError
from opencustoms.risk.metrics import (
    auc,
    inspected,
    perfect_precision_at,
    precision_at,
    recall_at,
    revenue_at,
    scorecard,
)

# ten declarations, three frauds; the ranking by score is indices 0, 1, 2, ... 9
LABELS = [1, 0, 1, 0, 0, 0, 1, 0, 0, 0]
SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
REVENUE = [100.0, 0, 50.0, 0, 0, 0, 850.0, 0, 0, 0]


def test_inspected_rounds_and_takes_at_least_one() -> None:
    assert inspected(10, 0.2) == 2
    assert inspected(10, 0.01) == 1  # 0.1 rounds to 0, but a selector always inspects one
    assert inspected(1000, 0.05) == 50


def test_precision_recall_revenue_by_hand() -> None:
    # top 20% = indices 0, 1 -> one fraud of two
    assert precision_at(LABELS, SCORES, 0.2) == 0.5
    # top 30% = indices 0, 1, 2 -> two frauds of three; recall 2 of 3 frauds
    assert precision_at(LABELS, SCORES, 0.3) == pytest.approx(2 / 3)
    assert recall_at(LABELS, SCORES, 0.3) == pytest.approx(2 / 3)
    # revenue found in the top 30%: 100 + 50 of 1000
    assert revenue_at(REVENUE, SCORES, 0.3) == pytest.approx(0.15)
    assert revenue_at(REVENUE, SCORES, 0.7) == pytest.approx(1.0)


def test_ties_keep_input_order() -> None:
    # a constant score inspects in arrival order: first two are fraud, compliant
    assert precision_at(LABELS, [0.5] * 10, 0.2) == 0.5


def test_perfect_and_relative_precision() -> None:
    assert perfect_precision_at(LABELS, 0.2) == 1.0  # 3 frauds >= 2 inspected
    assert perfect_precision_at(LABELS, 0.5) == pytest.approx(3 / 5)
    card = scorecard(LABELS, SCORES, REVENUE, shares=(0.5,))
    at = card.at[0]
    # top 5 = indices 0..4 -> frauds at 0 and 2: precision 2/5, perfect 3/5, relative 2/3
    assert at.precision == pytest.approx(0.4)
    assert at.relative_precision == pytest.approx(2 / 3)
    assert at.lift == pytest.approx(0.4 / 0.3)
    assert card.base_rate == pytest.approx(0.3)


def test_auc_by_hand() -> None:
    # pairs (fraud, compliant) ranked correctly: fraud 0.9 beats 7, fraud 0.7 beats 6, fraud 0.3 beats 3 -> 16/21
    assert auc(LABELS, SCORES) == pytest.approx(16 / 21)
    assert math.isnan(auc([0, 0, 0], [0.1, 0.2, 0.3]))


@pytest.mark.parametrize(
    ("labels", "scores", "field"),
    [
        ([], [], "labels"),
        ([0, 2], [0.1, 0.2], "labels"),
        ([0, 1], [0.1, float("nan")], "scores"),
        ([0, 1], [0.1], "scores"),
    ],
)
def test_bad_input_names_the_field(labels: list[float], scores: list[float], field: str) -> None:
    with pytest.raises(RiskDataError) as caught:
        precision_at(labels, scores, 0.1)
    assert caught.value.field == field
