"""The online path for one declaration (lanes.assign_one, Profile.hits) equals the batch path (lanes.assign) row by
row: lane, risk, draw, selected_by, profile hits and every reason word for word."""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import polars as pl
import pytest

from opencustoms.demo.generator import generate
from opencustoms.risk.frame import conform, from_declarations
from opencustoms.risk.lanes import LanePolicy, assign, assign_one, thresholds_for
from opencustoms.risk.profiles import Profile

CRITERIA = [
    {"field": "hs6", "op": "prefix", "value": "84"},
    {"field": "origin", "op": "in", "value": ["CN", "VN", "TR"]},
    {"field": "origin", "op": "not_in", "value": ["CN"]},
    {"field": "origin", "op": "eq", "value": "US"},
    {"field": "origin", "op": "ne", "value": "DE"},
    {"field": "unit_value", "op": "lt", "value": 20},
    {"field": "unit_value", "op": "gte", "value": 500},
    {"field": "value", "op": "between", "value": [1000, 50000]},
    {"field": "net_mass", "op": "gt", "value": 100},
    {"field": "duty_rate", "op": "lte", "value": 0.05},
    {"field": "score", "op": "gt", "value": 0.3},
    {"field": "preference", "op": "missing"},
    {"field": "signals", "op": "has", "value": "ledger."},
    {"field": "hs4", "op": "eq", "value": "8471"},
    {"field": "hs2", "op": "in", "value": ["61", "62", "73"]},
    {"field": "transport_mode", "op": "eq", "value": "1"},
    {"field": "items", "op": "gte", "value": 2},
    {"field": "duty_at_stake", "op": "gt", "value": 500.5},
]


def random_profiles(rng: random.Random, n: int) -> list[Profile]:
    out = []
    for i in range(n):
        kind = rng.choice(["one", "all_of", "all_of", "all_of", "any_of", "not"])
        picks = [rng.choice(CRITERIA) for _ in range(rng.randint(1, 3))]
        criteria: dict[str, object] = (
            picks[0]
            if kind == "one"
            else {"all_of": picks}
            if kind == "all_of"
            else {"any_of": picks}
            if kind == "any_of"
            else {"not": {"all_of": picks}}
        )
        out.append(
            Profile.model_validate(
                {
                    "id": f"p{i}",
                    "version": rng.randint(1, 3),
                    "lane": rng.choice(["yellow", "red", "blue"]),
                    "weight": rng.choice([0.0, 0.1, 0.25, 1.0, 2.5]),
                    "reason": f"random profile {i} for the test",
                    "criteria": criteria,
                    "valid_from": rng.choice(["2024-01-01", "2025-03-01", "2025-09-01"]),
                    "valid_to": rng.choice([None, "2025-09-30", "2026-12-31"]),
                }
            )
        )
    return out


def frame_with_holes(n: int, seed: int) -> pl.DataFrame:
    """Demo declarations, some with missing fields, a zero mass, AEO holders."""
    rows = [data for data, _ in generate(n, seed=seed, country="NL")]
    frame = from_declarations(rows)
    rng = np.random.default_rng(seed)
    mass = frame["net_mass"].to_numpy().copy()
    mass[rng.random(n) < 0.05] = 0.0
    value = frame["value"].to_numpy().copy()
    value[(mass == 0) & (rng.random(n) < 0.5)] = 0.0
    missing_mass = rng.random(n) < 0.05
    return frame.with_columns(
        pl.Series("net_mass", mass).scatter(np.flatnonzero(missing_mass), None),
        pl.Series("value", value),
        pl.when(pl.Series(rng.random(n) < 0.1)).then(None).otherwise(pl.col("origin")).alias("origin"),
        pl.when(pl.Series(rng.random(n) < 0.2)).then(pl.lit("certified")).otherwise(pl.col("aeo")).alias("aeo"),
    )


@pytest.mark.parametrize(("seed", "n_profiles"), [(1, 0), (2, 2), (3, 4), (4, 12)])
def test_one_row_equals_the_batch_path(seed: int, n_profiles: int) -> None:
    rng = random.Random(seed)
    frame = frame_with_holes(150, seed)
    profiles = random_profiles(rng, n_profiles)
    policy = LanePolicy(random_rate=rng.choice([0.005, 0.2]), aeo_factor=rng.choice([0.5, 0.25]))
    scores = np.random.default_rng(seed).random(frame.height) ** 3
    thresholds = thresholds_for(np.random.default_rng(seed + 10).random(500) ** 3, policy)
    kinds = ["ledger.revoked", "iot.seal_broken", "documents.mismatch"]
    compared = 0
    seen: set[str] = set()
    for i, row in enumerate(frame.iter_rows(named=True)):
        ref = row["reference"]
        signals = [
            {"kind": rng.choice(kinds), "severity": rng.choice(["low", "medium", "high"]), "reason": f"why {j}"}
            for j in range(rng.choice([0, 0, 1, 2]))
        ]
        draw_seed = rng.randrange(2**32)
        batch = assign(
            frame[i : i + 1],
            scores[i : i + 1],
            profiles,
            policy,
            seed=draw_seed,
            signals={ref: signals},
            thresholds=thresholds,
        ).row(0, named=True)
        one = assign_one(
            row, float(scores[i]), profiles, policy, seed=draw_seed, signals=signals, thresholds=thresholds
        )
        for key in ("reference", "lane", "selected_by", "aeo", "profile_hits", "reasons"):
            assert one[key] == batch[key], (key, row)
        for key in ("score", "risk", "random_draw"):
            assert math.isclose(one[key], batch[key], rel_tol=0, abs_tol=0), (key, row)
        compared += 1
        seen.add(one["selected_by"])
    assert compared == frame.height
    assert len(seen) >= 3, seen  # several ways of being selected (none, random, signal, profile, ranking) compared


def test_profile_hits_follow_polars_null_and_nan_semantics() -> None:
    frame = conform(
        pl.DataFrame(
            {
                "reference": ["A", "B", "C", "D"],
                "date": [dt.date(2025, 3, 1)] * 4,
                "hs6": ["847130", "847130", "610910", "731815"],
                "origin": ["CN", "US", "VN", "CN"],
                "value": [0.0, 100.0, 50.0, 10.0],
                "net_mass": [0.0, None, 0.0, 1.0],
            }
        )
    ).with_columns(
        pl.when(pl.col("reference") == "B").then(None).otherwise(pl.col("origin")).alias("origin"),
        (pl.col("value") / pl.col("net_mass")).alias("unit_value"),
        pl.col("hs6").str.slice(0, 4).alias("hs4"),
        pl.col("hs6").str.slice(0, 2).alias("hs2"),
        pl.lit(0.0).alias("score"),
        pl.lit([], dtype=pl.List(pl.Utf8)).alias("signals"),
    )
    cases = [
        {"not": {"field": "origin", "op": "eq", "value": "CN"}},  # null origin: unknown -> no hit
        {"any_of": [{"field": "origin", "op": "eq", "value": "CN"}, {"field": "hs6", "op": "prefix", "value": "84"}]},
        {"all_of": [{"field": "unit_value", "op": "gt", "value": 1e9}, {"field": "hs4", "op": "eq", "value": "8471"}]},
        {"field": "unit_value", "op": "between", "value": [0, 1e12]},  # NaN (0/0) is above every number
        {"field": "unit_value", "op": "missing"},
        {"not": {"field": "hs2", "op": "in", "value": ["84"]}},
    ]
    for criteria in cases:
        profile = Profile.model_validate(
            {"id": "x", "lane": "red", "reason": "a test profile", "criteria": criteria, "valid_from": "2025-01-01"}
        )
        expected = frame.select(profile.expr())[:, 0].to_list()
        assert [profile.hits(r) for r in frame.iter_rows(named=True)] == expected, criteria
