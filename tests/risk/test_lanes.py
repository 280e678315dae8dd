"""Profiles, lanes, quotas, random rate, AEO benefit, signals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from opencustoms.risk.errors import ProfileError
from opencustoms.risk.frame import conform
from opencustoms.risk.lanes import LanePolicy, assign, thresholds_for
from opencustoms.risk.profiles import Profile


def batch(n: int = 100, aeo: str = "none") -> pl.DataFrame:
    return conform(
        pl.DataFrame(
            {
                "reference": [f"R{i:03d}" for i in range(n)],
                "date": [dt.date(2025, 3, 1)] * n,
                "hs6": ["731815" if i % 10 == 0 else "847130" for i in range(n)],
                "origin": ["CN" if i % 2 == 0 else "VN" for i in range(n)],
                "value": [100.0 + i for i in range(n)],
                "net_mass": [10.0] * n,
                "aeo": [aeo] * n,
            }
        )
    )


def steel(**changes: object) -> Profile:
    data = {
        "id": "steel-cn",
        "lane": "yellow",
        "weight": 0.0,
        "reason": "Chinese steel fasteners: anti-dumping duty",
        "criteria": {
            "all_of": [
                {"field": "hs6", "op": "prefix", "value": "7318"},
                {"field": "origin", "op": "in", "value": ["CN"]},
            ]
        },
        "valid_from": "2025-01-01",
    }
    return Profile.model_validate({**data, **changes})


def test_profile_hits_send_to_their_lane_with_the_reason() -> None:
    policy = LanePolicy(rates={"red": 0.0, "yellow": 0.0, "blue": 0.0}, random_rate=0.0)
    out = assign(batch(), None, [steel()], policy)
    hit = out.filter(pl.col("lane") == "yellow")
    assert hit["reference"].to_list() == [f"R{i:03d}" for i in range(0, 100, 10)]  # 731815 and even -> CN
    assert hit["reasons"][0].to_list() == ["profile steel-cn@1: Chinese steel fasteners: anti-dumping duty"]
    assert set(out.filter(pl.col("lane") == "green")["selected_by"]) == {"none"}


def test_profile_outside_its_validity_does_not_hit() -> None:
    policy = LanePolicy(rates={}, random_rate=0.0)
    out = assign(batch(), None, [steel(valid_from="2025-04-01")], policy)
    assert set(out["lane"]) == {"green"}


def test_composed_criteria_any_of_and_not() -> None:
    profile = steel(
        criteria={
            "any_of": [
                {"field": "value", "op": "gte", "value": 198},
                {"not": {"field": "origin", "op": "in", "value": ["CN", "VN"]}},
            ]
        }
    )
    out = assign(batch(), None, [profile], LanePolicy(rates={}, random_rate=0.0))
    assert out.filter(pl.col("lane") == "yellow")["reference"].to_list() == ["R098", "R099"]


def test_bad_criteria_are_refused_with_the_field() -> None:
    with pytest.raises(ValidationError, match="unknown field 'colour'"):
        steel(criteria={"field": "colour", "op": "eq", "value": "red"})
    with pytest.raises(ValidationError, match="not numeric"):
        steel(criteria={"field": "origin", "op": "gt", "value": 3})
    with pytest.raises(ValidationError, match="valid_to is before valid_from"):
        steel(valid_to="2024-12-31")


def test_quotas_fill_each_lane_to_its_target_rate_by_risk() -> None:
    scores = np.linspace(0.01, 0.99, 100)  # R099 is the riskiest
    out = assign(batch(), scores, [], LanePolicy(rates={"red": 0.05, "yellow": 0.10, "blue": 0.02}, random_rate=0))
    counts = dict(out.group_by("lane").len().iter_rows())
    assert counts == {"red": 5, "yellow": 10, "blue": 2, "green": 83}
    assert out.filter(pl.col("lane") == "red")["reference"].to_list() == [f"R{i:03d}" for i in range(95, 100)]
    assert "within the red lane's target rate of 5.0%" in out.filter(pl.col("reference") == "R099")["reasons"][0][0]


def test_mandatory_selections_count_against_the_quota() -> None:
    scores = np.linspace(0.01, 0.99, 100)
    red = steel(lane="red")
    out = assign(batch(), scores, [red], LanePolicy(rates={"red": 0.15, "yellow": 0.0, "blue": 0.0}, random_rate=0))
    assert (out["lane"] == "red").sum() == 15  # 10 profile hits + 5 by ranking
    assert (out["selected_by"] == "profile").sum() == 10


def test_minimum_random_rate_selects_at_random_and_says_so() -> None:
    out = assign(batch(2000), None, [], LanePolicy(rates={}, random_rate=0.05), seed=7)
    drawn = out.filter(pl.col("selected_by") == "random")
    assert 60 < drawn.height < 140  # about 5% of 2000
    assert set(drawn["lane"]) == {"red"}
    assert drawn["reasons"][0][0].startswith("random selection: draw ")
    again = assign(batch(2000), None, [], LanePolicy(rates={}, random_rate=0.05), seed=7)
    assert again["lane"].to_list() == out["lane"].to_list()  # seeded: reproducible


def test_aeo_holders_get_their_benefit() -> None:
    scores = np.full(100, 0.5)
    plain = assign(batch(), scores, [], LanePolicy(rates={"red": 0.0}, random_rate=0.0), thresholds={"red": 0.4})
    aeo = assign(
        batch(aeo="certified"), scores, [], LanePolicy(rates={"red": 0.0}, random_rate=0.0), thresholds={"red": 0.4}
    )
    assert (plain["lane"] == "red").all()
    assert (aeo["lane"] == "green").all()  # 0.5 x AEO factor 0.5 = 0.25 < 0.4
    assert any("AEO certified" in r for r in aeo["reasons"][0])


def test_signals_force_a_lane_by_severity() -> None:
    signals = {
        "R001": [{"kind": "ledger.aeo_suspended", "severity": "high", "reason": "AEO suspended"}],
        "R002": [{"kind": "iot.seal_opened", "severity": "medium", "reason": "seal opened in transit"}],
    }
    out = assign(batch(), None, [], LanePolicy(rates={}, random_rate=0.0), signals=signals)
    lanes = dict(zip(out["reference"], out["lane"], strict=True))
    assert lanes["R001"] == "red" and lanes["R002"] == "yellow" and lanes["R003"] == "green"
    profile = steel(criteria={"field": "signals", "op": "has", "value": "iot."})
    hit = assign(batch(), None, [profile], LanePolicy(rates={}, random_rate=0.0), signals=signals)
    assert hit.filter(pl.col("profile_hits").list.len() > 0)["reference"].to_list() == ["R002"]


def test_online_thresholds_meet_the_target_rate_on_the_reference_scores() -> None:
    reference = np.linspace(0, 1, 1001)
    t = thresholds_for(reference, LanePolicy(rates={"red": 0.05, "yellow": 0.10, "blue": 0.0}))
    assert (reference >= t["red"]).mean() == pytest.approx(0.05, abs=0.002)
    assert (reference >= t["yellow"]).mean() == pytest.approx(0.15, abs=0.002)


def test_policy_rejects_impossible_rates() -> None:
    with pytest.raises(ProfileError):
        LanePolicy(rates={"red": 0.7, "yellow": 0.5})
    with pytest.raises(ProfileError):
        LanePolicy.from_dict({"rates": {"purple": 0.1}})


def test_each_reason_stays_one_reason_in_order() -> None:
    """Reasons are joined and split once per batch: a text with the separator, several signals and a profile keep
    their count and order."""
    signals = {
        "R000": [
            {"kind": "iot.seal_opened", "severity": "medium", "reason": "seal\x1fopened"},
            {"kind": "ledger.aeo_suspended", "severity": "high", "reason": "AEO suspended"},
        ],
    }
    profile = steel(reason="fasteners\x1fwith a separator")
    out = assign(batch(), None, [profile], LanePolicy(rates={}, random_rate=0.0), signals=signals)
    reasons = out.filter(pl.col("reference") == "R000")["reasons"][0].to_list()
    assert reasons == [
        "profile steel-cn@1: fasteners with a separator",
        "signal iot.seal_opened (medium): seal opened",
        "signal ledger.aeo_suspended (high): AEO suspended",
    ]
    assert out.filter(pl.col("reference") == "R000")["profile_hits"][0].to_list() == ["steel-cn@1"]
    green = out.filter(pl.col("lane") == "green")
    assert (green["reasons"].list.len() == 1).all() and (green["profile_hits"].list.len() == 0).all()
