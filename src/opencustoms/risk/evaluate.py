"""The evaluation harness: our model and every baseline, trained on train, measured on valid and test, one run.

Protocol (docs/risk.md): everything is fitted on ``train``; every choice (model parameters, calibration) is made on
``valid``; ``test`` is only scored and reported. The model's history (price references, target statistics) is the
training split for both valid and test, so test is scored exactly as valid was. Party identifiers are
pseudonymised with a keyed hash before anything learns from them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from opencustoms.risk.baselines import baselines
from opencustoms.risk.errors import RiskDataError
from opencustoms.risk.frame import pseudonymise_parties
from opencustoms.risk.metrics import DEFAULT_SHARES, Scorecard, inspected, scorecard, top
from opencustoms.risk.model import DEFAULT_PARAMS, RiskModel, check_training
from opencustoms.security.pseudonyms import Pseudonymiser

OURS = "opencustoms"
OURS_REVENUE = "opencustoms (expected revenue)"


@dataclass
class Row:
    selector: str
    split: str
    card: Scorecard
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "selector": self.selector,
            "split": self.split,
            "seconds": round(self.seconds, 2),
            **self.card.to_dict(),
        }


@dataclass
class Evaluation:
    rows: list[Row] = field(default_factory=list)
    patterns: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model: RiskModel | None = None

    def table(self, split: str) -> list[Row]:
        return [r for r in self.rows if r.split == split]

    def best_baseline(self, split: str, share: float) -> tuple[str, float]:
        rows = [r for r in self.table(split) if not r.selector.startswith(OURS)]
        best = max(rows, key=lambda r: r.card.precision(share))
        return best.selector, best.card.precision(share)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows], "patterns": self.patterns, "notes": self.notes}


def _ephemeral() -> Pseudonymiser:
    return Pseudonymiser(secrets.token_bytes(32))


def evaluate(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    test: pl.DataFrame | None = None,
    *,
    seed: int = 0,
    pseudonymiser: Callable[[str], str] | None = None,
    shares: Sequence[float] = DEFAULT_SHARES,
    include_baselines: bool = True,
    truth: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    params: dict[str, Any] | None = None,
) -> Evaluation:
    """Fit everything on ``train``, report on ``valid`` and ``test``. ``truth`` (reference, pattern) adds recall per
    fraud pattern at 10% inspection on the last split."""
    check_training(train, "train")
    check_training(valid, "valid")
    splits = {"valid": valid, **({"test": test} if test is not None else {})}
    for name, frame in splits.items():
        if frame["label"].null_count():
            raise RiskDataError(
                f"{frame['label'].null_count()} declaration(s) of the {name} split have no label; "
                "an evaluation split must be fully labelled",
                field=name,
            )
    pseudo = pseudonymiser or _ephemeral()
    train, splits = pseudonymise_parties(train, pseudo), {k: pseudonymise_parties(v, pseudo) for k, v in splits.items()}
    say = progress or (lambda _m: None)
    result = Evaluation()
    selectors: list[Any] = baselines(seed) if include_baselines else []
    for selector in selectors:
        say(f"fitting {selector.name}")
        started = time.perf_counter()
        selector.fit(train)
        fitted = time.perf_counter() - started
        for name, frame in splits.items():
            started = time.perf_counter()
            s = selector.score(frame)
            result.rows.append(
                Row(selector.name, name, _card(frame, s, shares), fitted + time.perf_counter() - started)
            )
    say("fitting opencustoms")
    started = time.perf_counter()
    model = RiskModel(params=dict(params or DEFAULT_PARAMS), seed=seed).fit(train, splits["valid"])
    fitted = time.perf_counter() - started
    result.model = model
    last_scores: np.ndarray | None = None
    for name, frame in splits.items():
        started = time.perf_counter()
        s = model.predict_proba(frame)
        result.rows.append(Row(OURS, name, _card(frame, s, shares), fitted + time.perf_counter() - started))
        if frame["revenue"].null_count() == 0:
            expected = s * frame["duty_at_stake"].fill_null(0.0).clip(lower_bound=0.0).to_numpy()
            result.rows.append(Row(OURS_REVENUE, name, _card(frame, expected, shares), 0.0))
        last_scores = s
    if truth is not None and last_scores is not None:
        last = list(splits.values())[-1]
        result.patterns = pattern_recall(last, last_scores, truth, 0.10)
    model.metrics_ = {
        r.split: {"auc": r.card.auc, **{f"precision@{a.share:g}": a.precision for a in r.card.at}}
        for r in result.rows
        if r.selector == OURS
    }
    if test is None:
        result.notes.append("no test split given: figures are on valid only")
    return result


def _card(frame: pl.DataFrame, scores: np.ndarray, shares: Sequence[float]) -> Scorecard:
    revenue = frame["revenue"].to_numpy() if frame["revenue"].null_count() == 0 else None
    return scorecard(frame["label"].to_numpy(), scores, revenue, shares)


def pattern_recall(frame: pl.DataFrame, scores: np.ndarray, truth: pl.DataFrame, share: float) -> list[dict[str, Any]]:
    """Recall per injected fraud pattern when the top ``share`` is inspected."""
    chosen = np.zeros(frame.height, dtype=bool)
    chosen[top(scores, inspected(frame.height, share))] = True
    joined = (
        frame.select("reference")
        .with_columns(pl.Series("chosen", chosen))
        .join(truth, on="reference", how="left", maintain_order="left")
    )
    stats = (
        joined.filter(pl.col("pattern").is_not_null())
        .group_by("pattern")
        .agg(pl.len().alias("frauds"), pl.col("chosen").sum().alias("found"))
        .sort("pattern")
    )
    return [
        {
            "pattern": r["pattern"],
            "frauds": r["frauds"],
            "found": r["found"],
            "recall": round(r["found"] / r["frauds"], 4),
            "share": share,
        }
        for r in stats.iter_rows(named=True)
    ]
