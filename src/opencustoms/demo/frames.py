"""The demo's declarations as the risk engine's frame, and the risk commands run on them.

For ``opencustoms risk evaluate --demo N``, ``opencustoms risk simulate --demo N``, the benchmarks and the tests. The
risk engine never imports the demo package (tests/risk/test_no_demo_import.py checks): its callers build demo frames
here and pass them in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl

from opencustoms.demo.generator import generate
from opencustoms.risk.errors import RiskDataError
from opencustoms.risk.frame import conform, declaration_row

if TYPE_CHECKING:
    from opencustoms.risk.evaluate import Evaluation

MIN_EVALUATION = 1000  # declarations of a demo evaluation (60/20/20 by date leaves 200 to test on)


def demo_frame(
    n: int, *, seed: int = 0, start: dt.date = dt.date(2025, 1, 1), days: int = 365, fraud_rate: float = 0.08
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` declarations of the seeded demo generator as a frame (label and revenue filled in), and the truth
    (reference, pattern) beside it."""
    rows, truth = [], []
    for data, gt in generate(n, seed=seed, start=start, days=days, fraud_rate=fraud_rate):
        row = declaration_row(data)
        row["label"] = int(gt.fraud)
        row["revenue"] = float(gt.revenue_at_stake if isinstance(gt.revenue_at_stake, Decimal) else 0)
        rows.append(row)
        truth.append({"reference": gt.functional_reference_id, "pattern": gt.pattern})
    return conform(pl.DataFrame(rows, infer_schema_length=None)), pl.DataFrame(
        truth, schema={"reference": pl.Utf8, "pattern": pl.Utf8}
    )


def evaluate_demo(n: int, *, seed: int = 0, progress: Callable[[str], None] | None = None) -> Evaluation:
    """The evaluation on ``n`` seeded demo declarations split 60/20/20 by date, with recall per injected fraud
    pattern on test."""
    from opencustoms.risk import service as risk

    if n < MIN_EVALUATION:
        raise RiskDataError(f"a demo evaluation needs at least {MIN_EVALUATION} declarations", field="demo")
    frame, truth = demo_frame(n, seed=seed)
    return risk.evaluate_by_date(frame, truth=truth, seed=seed, progress=progress)


def simulate_demo(n: int, *, progress: Callable[[str], None] | None = None, **options: Any) -> dict[str, Any]:
    """The week-by-week replay (:func:`opencustoms.risk.service.simulate`) on ``n`` demo declarations (seed 0);
    ``options`` are the replay's (rates, ramp, exploration, the model's seed)."""
    from opencustoms.risk import service as risk

    if n < 1:
        raise RiskDataError("give a positive number of demo declarations", field="demo")
    frame, _truth = demo_frame(n)
    return risk.simulate(None, frame=frame, progress=progress, **options)
