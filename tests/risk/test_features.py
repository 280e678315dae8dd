"""Features computed without leaking the future; price references with fall-back."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from opencustoms.risk.errors import RiskDataError
from opencustoms.risk.features import FeatureBuilder
from opencustoms.risk.frame import conform


def frame(rows: list[tuple[str, int, str, int]]) -> pl.DataFrame:
    """rows of (reference, day of January 2025, importer, label); same goods everywhere."""
    return conform(
        pl.DataFrame(
            {
                "reference": [r[0] for r in rows],
                "date": [dt.date(2025, 1, r[1]) for r in rows],
                "importer": [r[2] for r in rows],
                "label": [r[3] for r in rows],
                "hs6": ["847130"] * len(rows),
                "origin": ["CN"] * len(rows),
                "value": [1000.0] * len(rows),
                "net_mass": [10.0] * len(rows),
            }
        )
    )


ROWS = [("a", 1, "I1", 1), ("b", 1, "I1", 1), ("c", 2, "I1", 0), ("d", 3, "I1", 1), ("e", 3, "I2", 0)]


def column(builder: FeatureBuilder, matrix: np.ndarray, name: str) -> np.ndarray:
    return matrix[:, builder.names.index(name)]


def test_expanding_statistics_use_only_earlier_days() -> None:
    data = frame(ROWS)
    fb = FeatureBuilder(smoothing=1.0).fit(data)
    x = fb.transform_expanding(data)
    n = np.exp(column(fb, x, "n_importer")) - 1
    # day 1 rows see nothing (not even each other), day 2 sees the two of day 1, day 3 sees three
    assert n.tolist() == pytest.approx([0, 0, 2, 3, 0])
    prior = 3 / 5
    rate = column(fb, x, "rate_importer")
    assert rate[0] == pytest.approx(prior)
    assert rate[2] == pytest.approx((2 + prior) / (2 + 1))  # two frauds of two, smoothed with m = 1
    assert rate[3] == pytest.approx((2 + prior) / (3 + 1))  # day 3: frauds a, b; compliant c


def test_changing_a_later_label_does_not_change_any_row_of_that_day_or_before() -> None:
    before = frame(ROWS)
    after = frame([*ROWS[:3], ("d", 3, "I1", 0), ROWS[4]])  # d (day 3) turns out compliant instead
    fb = FeatureBuilder(smoothing=1.0).fit(before)  # same prior for both transforms
    x_before, x_after = fb.transform_expanding(before), fb.transform_expanding(after)
    np.testing.assert_array_equal(x_before, x_after)  # nobody sees d's label: it is the last day
    later = frame([*ROWS, ("f", 4, "I1", 0)])
    x_later = fb.transform_expanding(later)
    np.testing.assert_array_equal(x_later[:5], x_before)  # adding a later row changes no earlier row
    assert column(fb, x_later, "n_importer")[5] == pytest.approx(math.log(5))  # f sees a, b, c, d


def test_scoring_sees_the_whole_history_and_unknown_values_fall_back() -> None:
    data = frame(ROWS)
    fb = FeatureBuilder(smoothing=1.0).fit(data)
    new = conform(
        pl.DataFrame(
            {
                "reference": ["z", "y"],
                "date": [dt.date(2025, 2, 1)] * 2,
                "importer": ["I1", "NEW"],
                "hs6": ["847130", "999999"],
                "origin": ["CN", "ZZ"],
                "value": [100.0, 5.0],
                "net_mass": [10.0, 1.0],
            }
        )
    )
    x = fb.transform(new)
    assert column(fb, x, "rate_importer")[0] == pytest.approx((3 + 0.6) / (4 + 1))
    assert column(fb, x, "rate_importer")[1] == pytest.approx(0.6)  # unknown importer: the prior
    # unit value 10 against a reference of 100: log deviation -ln(10); the unknown HS code has no reference
    assert column(fb, x, "uv_deviation")[0] == pytest.approx(math.log(101 / 10.001) - math.log(1001 / 10.001))
    assert math.isnan(column(fb, x, "uv_deviation")[1])
    assert column(fb, x, "uv_reference_level")[1] == 3  # no level found
    assert math.isnan(column(fb, x, "cat_origin")[1])  # unknown category becomes missing, not a crash


def test_empty_history_is_refused() -> None:
    data = frame(ROWS).with_columns(pl.lit(None, pl.Int8).alias("label"))
    with pytest.raises(RiskDataError, match="no labelled declarations"):
        FeatureBuilder().fit(data)


def test_missing_required_column_is_named() -> None:
    with pytest.raises(RiskDataError) as caught:
        conform(pl.DataFrame({"reference": ["a"], "date": ["2025-01-01"], "hs6": ["847130"], "value": [1.0]}))
    assert caught.value.field == "origin"


def random_frame(n: int, seed: int, *, labelled: bool) -> pl.DataFrame:
    """Random declarations over small vocabularies (so statistics and references hit), with missing values,
    zero and negative amounts, unknown categories and a national data element."""
    rng = np.random.default_rng(seed)

    def pick(values: list[str | None], p_null: float = 0.1) -> list[str | None]:
        out = rng.choice(np.array(values, dtype=object), n).tolist()
        return [None if rng.random() < p_null else v for v in out]

    def amounts(scale: float, p_null: float = 0.1) -> list[float | None]:
        raw = rng.lognormal(np.log(scale), 1.5, n)
        raw[rng.random(n) < 0.05] = 0.0
        raw[rng.random(n) < 0.03] *= -1
        return [None if rng.random() < p_null else float(v) for v in raw]

    hs = ["847130", "847150", "851712", "610910", "620342", "731815", "940360"]
    return conform(
        pl.DataFrame(
            {
                "reference": [f"R{seed}-{i}" for i in range(n)],
                "date": [dt.date(2025, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 90, n)],
                "office": pick(["O1", "O2", "O3", "O9"]),
                "procedure": pick(["4000", "4071"]),
                "transport_mode": pick(["1", "3", "4"]),
                "departure": pick(["CN", "VN", "DE", "US"]),
                "origin": pick(["CN", "VN", "DE", "US", "MY"], 0.0),
                "hs6": pick([*hs, "999999" if not labelled else "847130"], 0.0),
                "declarant": pick([f"D{i}" for i in range(8)]),
                "importer": pick([f"I{i}" for i in range(30)]),
                "seller": pick([f"S{i}" for i in range(20)]),
                "carrier": pick(["C1", "C2"], 0.5),
                "aeo": pick(["none", "certified"], 0.0),
                "duty_rate": [None if rng.random() < 0.1 else float(v) for v in rng.choice([0, 2.5, 3.7, 12.0], n)],
                "duty_regime": pick(["A00", "B01"]),
                "preference": pick(["300", "100"], 0.7),
                "net_mass": amounts(50.0),
                "value": [v if v is not None else 1.0 for v in amounts(5000.0, 0.0)],
                "items": rng.integers(1, 5, n).tolist(),
                "label": rng.integers(0, 2, n).tolist() if labelled else [None] * n,
                "x_channel": pick(["A", "B", "Z"]),
            }
        )
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_row_path_gives_the_same_features_as_the_batch_path(seed: int) -> None:
    history = random_frame(2000, seed, labelled=True)
    fb = FeatureBuilder().fit(history)
    new = random_frame(600, seed + 100, labelled=False)
    batch = fb.transform_batch(new)
    rows = fb.transform_rows(new)
    np.testing.assert_array_equal(rows, batch)  # identical, NaN where NaN, not merely close
    one_by_one = np.vstack([fb.transform(new[i : i + 1]) for i in range(50)])  # what online scoring calls
    np.testing.assert_array_equal(one_by_one, batch[:50])
    # a builder restored from its saved state gives the same rows too
    again = FeatureBuilder.from_state(fb.state())
    np.testing.assert_array_equal(again.transform_rows(new[:100]), batch[:100])
