"""Lanes: green (release), yellow (documentary check), red (physical inspection), blue (post-clearance audit).

For a batch of declarations, :func:`assign` decides in this order, and every decision keeps its reasons:

1. **mandatory**: a valid profile that hits sends the declaration to at least its lane; a signal of severity
   high/critical to red, medium to yellow; missing or unknown risk-relevant codes (origin, HS code, office:
   :mod:`opencustoms.risk.gaps`) to at least the policy's ``missing_data_lane`` (default yellow); a **random
   draw** below the minimum random rate to red (the random rate keeps the fraud rate measurable and every trader
   exposed to some chance of control);
2. **ranked**: the rest is ranked by risk = model probability (× the AEO factor for certified traders — their
   benefit) + the weights of profiles that hit; each lane's target rate is a quota — red, then yellow, then blue
   take the highest-risk declarations left until their share of the batch reaches the target (mandatory
   selections count against the quota; they are never dropped when a quota is exceeded);
3. everything else is green.

Lane order for "at least": red > yellow > blue > green.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from opencustoms.risk.errors import ProfileError
from opencustoms.risk.profiles import Profile

RANK = {"green": 0, "blue": 1, "yellow": 2, "red": 3}
LANE_OF_RANK = {v: k for k, v in RANK.items()}
# lane name by rank, for naming a whole batch's lanes by numpy indexing
LANE_NAMES = np.array([LANE_OF_RANK[r] for r in range(len(LANE_OF_RANK))])
SIGNAL_LANES = {"critical": "red", "high": "red", "medium": "yellow"}


@dataclass
class LanePolicy:
    rates: dict[str, float] = field(default_factory=lambda: {"red": 0.03, "yellow": 0.05, "blue": 0.02})
    random_rate: float = 0.005
    aeo_factor: float = 0.5
    signal_lanes: dict[str, str] = field(default_factory=lambda: dict(SIGNAL_LANES))
    # the least lane of a declaration with missing or unknown risk-relevant codes (None: only a reason)
    missing_data_lane: str | None = "yellow"

    def __post_init__(self) -> None:
        if self.missing_data_lane is not None and self.missing_data_lane not in RANK:
            raise ProfileError(
                "missing_data_lane must be green, blue, yellow, red or null, not " + repr(self.missing_data_lane),
                field="missing_data_lane",
            )
        unknown = set(self.rates) - {"red", "yellow", "blue"}
        if unknown:
            raise ProfileError(
                f"target rates are for red, yellow and blue, not {', '.join(sorted(unknown))}", field="rates"
            )
        if any(not 0 <= r <= 1 for r in self.rates.values()) or sum(self.rates.values()) > 1:
            raise ProfileError("each target rate must be between 0 and 1 and together at most 1", field="rates")
        if not 0 <= self.random_rate <= 1:
            raise ProfileError("random_rate must be between 0 and 1", field="random_rate")
        if not 0 <= self.aeo_factor <= 1:
            raise ProfileError(
                "aeo_factor must be between 0 (AEO never model-selected) and 1 (no benefit)", field="aeo_factor"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LanePolicy:
        allowed = {"rates", "random_rate", "aeo_factor", "signal_lanes", "missing_data_lane"}
        extra = set(data) - allowed
        if extra:
            raise ProfileError(
                f"unknown lane policy setting(s) {', '.join(sorted(extra))}; use {', '.join(sorted(allowed))}",
                field=sorted(extra)[0],
            )
        return cls(**dict(data))


def assign(
    frame: pl.DataFrame,
    scores: np.ndarray | None,
    profiles: Sequence[Profile],
    policy: LanePolicy,
    *,
    seed: int = 0,
    signals: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    thresholds: Mapping[str, float] | None = None,
    gaps: Mapping[str, Sequence[str]] | None = None,
) -> pl.DataFrame:
    """Lanes for every declaration of ``frame``: reference, lane, score, risk, random_draw, selected_by,
    profile_hits, reasons (plain-language strings).

    In a batch, target rates are quotas over the batch. Online (one declaration at a time) give ``thresholds``
    instead: the risk above which each lane takes a declaration, set from the reference period's scores so that
    each lane receives its target rate in expectation (:func:`thresholds_for`). ``gaps``: reference -> the
    missing-data reasons of that declaration (:func:`opencustoms.risk.gaps.frame_gaps`)."""
    n = frame.height
    rng = np.random.default_rng(seed)
    draw = rng.random(n)
    aeo = (frame["aeo"] == "certified").fill_null(False).to_numpy() if "aeo" in frame.columns else np.zeros(n, bool)
    score = np.zeros(n) if scores is None else np.asarray(scores, dtype=float)
    data = frame.select("reference", "date", *[c for c in frame.columns if c not in ("reference", "date")])
    data = data.with_columns(
        (pl.col("value") / pl.col("net_mass")).alias("unit_value"),
        pl.Series("score", score),
        pl.col("hs6").str.slice(0, 4).alias("hs4"),
        pl.col("hs6").str.slice(0, 2).alias("hs2"),
        pl.Series(
            "signals",
            [[s["kind"] for s in signals.get(r, ())] for r in frame["reference"]],
            dtype=pl.List(pl.Utf8),
        )
        if signals
        else _empty_lists("signals", n),
    )
    hits = data.select([p.expr().alias(f"{p.id}@{p.version}") for p in profiles]) if profiles else pl.DataFrame()
    hit_matrix = hits.to_numpy().astype(bool) if profiles else np.zeros((n, 0), bool)
    weights = np.array([p.weight for p in profiles], dtype=float)
    profile_rank = np.zeros(n, dtype=np.int8)
    for j, p in enumerate(profiles):
        profile_rank = np.where(hit_matrix[:, j], np.maximum(profile_rank, RANK[p.lane]), profile_rank)
    signal_rank = np.zeros(n, dtype=np.int8)
    signal_text: list[list[str]] = [[] for _ in range(n)] if signals else []
    if signals:
        for i, ref in enumerate(frame["reference"].to_list()):
            for s in signals.get(ref, ()):
                signal_lane = policy.signal_lanes.get(str(s.get("severity")))
                if signal_lane:
                    signal_rank[i] = max(signal_rank[i], RANK[signal_lane])
                signal_text[i].append(f"signal {s['kind']} ({s.get('severity')}): {s.get('reason', '')}")
    gap_rank = np.zeros(n, dtype=np.int8)
    gap_text = None
    if gaps:  # a few declarations have gaps: their texts joined, looked up by reference (no loop over the batch)
        joined = {ref: _SEP.join(map(_clean, found)) for ref, found in gaps.items() if found}
        gap_text = frame["reference"].replace_strict(joined, default=None, return_dtype=pl.Utf8).alias("_gaps")
        least = RANK[policy.missing_data_lane] if policy.missing_data_lane else 0
        gap_rank = np.where(gap_text.is_not_null().to_numpy(), least, 0).astype(np.int8)
    random_hit = draw < np.where(aeo, policy.random_rate * policy.aeo_factor, policy.random_rate)
    forced = np.maximum(
        np.maximum(np.maximum(profile_rank, signal_rank), gap_rank), np.where(random_hit, RANK["red"], 0)
    )
    risk = score * np.where(aeo, policy.aeo_factor, 1.0) + (hit_matrix * weights).sum(axis=1)
    lane = forced.copy()
    order = np.argsort(-risk, kind="stable")
    for name in ("red", "yellow", "blue"):
        if thresholds is not None:
            if name in thresholds:
                lane = np.where((lane == 0) & (risk >= thresholds[name]) & (risk > 0), RANK[name], lane)
            continue
        quota = int(round(policy.rates.get(name, 0.0) * n)) - int((forced == RANK[name]).sum())
        if quota <= 0:
            continue
        free = order[(lane[order] == 0) & (risk[order] > 0)]
        lane[free[:quota]] = RANK[name]
    selected_by = np.where(
        lane == 0,
        "none",
        np.where(
            random_hit & (forced == lane),
            "random",
            np.where(
                signal_rank == lane,
                "signal",
                np.where(profile_rank == lane, "profile", np.where(gap_rank == lane, "missing data", "ranking")),
            ),
        ),
    )
    out = pl.DataFrame(
        {
            "reference": frame["reference"],
            "lane": LANE_NAMES[lane],
            "score": score,
            "risk": risk,
            "random_draw": draw,
            "selected_by": selected_by,
            "aeo": aeo,
        }
    )
    profile_texts = (
        [
            pl.when(hits[col]).then(pl.lit(_clean(f"profile {col}: {p.reason}")))
            for col, p in zip(hits.columns, profiles, strict=True)
        ]
        if profiles
        else []
    )
    hit_names = [pl.when(hits[col]).then(pl.lit(_clean(col))) for col in hits.columns] if profiles else []
    signal_texts = (
        [pl.Series("_signals", [_SEP.join(map(_clean, texts)) or None for texts in signal_text], dtype=pl.Utf8)]
        if signals
        else []
    )
    gap_texts = [gap_text] if gap_text is not None else []
    out = out.with_columns(
        _joined_list(hit_names).alias("profile_hits"),
        _joined_list(
            [
                *profile_texts,
                *signal_texts,
                *gap_texts,
                pl.when(pl.col("selected_by") == "random").then(
                    pl.format(
                        "random selection: draw {} below the minimum random rate {}",
                        pl.col("random_draw").round(4),
                        pl.lit(policy.random_rate),
                    )
                ),
                pl.when(pl.col("selected_by") == "ranking").then(
                    pl.format(
                        "risk {} (model probability {}) is within the {} lane's target rate of {}",
                        pl.col("risk").round(3),
                        pl.col("score").round(3),
                        pl.col("lane"),
                        pl.col("lane").replace_strict({k: f"{v:.1%}" for k, v in policy.rates.items()}, default="-"),
                    )
                ),
                pl.when(pl.col("aeo")).then(
                    pl.lit(f"AEO certified: model risk and random rate multiplied by {policy.aeo_factor}")
                ),
                pl.when(pl.col("lane") == "green").then(
                    pl.format(
                        "no profile hit or signal, not drawn at random, model probability {} outside the quotas",
                        pl.col("score").round(3),
                    )
                ),
            ]
        ).alias("reasons"),
    )
    return out


def assign_one(
    row: Mapping[str, Any],
    score: float | None,
    profiles: Sequence[Profile],
    policy: LanePolicy,
    *,
    seed: int = 0,
    signals: Sequence[Mapping[str, Any]] = (),
    thresholds: Mapping[str, float],
    gaps: Sequence[str] = (),
) -> dict[str, Any]:
    """:func:`assign` for one declaration online (``row``: one row of the frame as a dict, ``thresholds`` as
    :func:`thresholds_for` gives them), in plain Python: the same lane, risk, draw and reasons, word for word
    (tested against :func:`assign` on random declarations, profiles and signals), without building polars frames.
    Returns the columns of :func:`assign`'s row."""
    draw = float(np.random.default_rng(seed).random(1)[0])
    aeo = row.get("aeo") == "certified"
    score_value = 0.0 if score is None else float(score)
    value, mass, hs6 = row.get("value"), row.get("net_mass"), row.get("hs6")
    data = {
        **row,
        "unit_value": _divide(value, mass),
        "score": score_value,
        "hs4": hs6[:4] if hs6 is not None else None,
        "hs2": hs6[:2] if hs6 is not None else None,
        "signals": [str(s["kind"]) for s in signals],
    }
    hits = [p.hits(data) for p in profiles]
    profile_rank = max([RANK[p.lane] for p, hit in zip(profiles, hits, strict=True) if hit], default=0)
    signal_rank = 0
    signal_text: list[str] = []
    for s in signals:
        signal_lane = policy.signal_lanes.get(str(s.get("severity")))
        if signal_lane:
            signal_rank = max(signal_rank, RANK[signal_lane])
        signal_text.append(f"signal {s['kind']} ({s.get('severity')}): {s.get('reason', '')}")
    gap_rank = RANK[policy.missing_data_lane] if gaps and policy.missing_data_lane else 0
    random_hit = bool(draw < (policy.random_rate * policy.aeo_factor if aeo else policy.random_rate))
    forced = max(profile_rank, signal_rank, gap_rank, RANK["red"] if random_hit else 0)
    weights = np.array([p.weight for p in profiles], dtype=float)
    profile_weight = float((np.array(hits, dtype=bool) * weights).sum()) if profiles else 0.0
    risk = score_value * (policy.aeo_factor if aeo else 1.0) + profile_weight
    lane = forced
    for name in ("red", "yellow", "blue"):
        if name in thresholds and lane == 0 and risk >= thresholds[name] and risk > 0:
            lane = RANK[name]
    if lane == 0:
        selected_by = "none"
    elif random_hit and forced == lane:
        selected_by = "random"
    elif signal_rank == lane:
        selected_by = "signal"
    elif profile_rank == lane:
        selected_by = "profile"
    elif gap_rank == lane:
        selected_by = "missing data"
    else:
        selected_by = "ranking"
    lane_name = LANE_OF_RANK[lane]
    pieces = [_clean(f"profile {p.id}@{p.version}: {p.reason}") for p, hit in zip(profiles, hits, strict=True) if hit]
    if signal_text:
        pieces.append(_SEP.join(map(_clean, signal_text)))
    if gaps:
        pieces.append(_SEP.join(map(_clean, gaps)))
    if selected_by == "random":
        pieces.append(
            f"random selection: draw {_number(draw, 4)} below the minimum random rate {_literal(policy.random_rate)}"
        )
    if selected_by == "ranking":
        rate = policy.rates.get(lane_name)
        pieces.append(
            f"risk {_number(risk, 3)} (model probability {_number(score_value, 3)}) is within the {lane_name} "
            f"lane's target rate of {f'{rate:.1%}' if rate is not None else '-'}"
        )
    if aeo:
        pieces.append(f"AEO certified: model risk and random rate multiplied by {policy.aeo_factor}")
    if lane_name == "green":
        pieces.append(
            "no profile hit or signal, not drawn at random, model probability "
            f"{_number(score_value, 3)} outside the quotas"
        )
    joined = _SEP.join(pieces)
    return {
        "reference": row["reference"],
        "lane": lane_name,
        "score": score_value,
        "risk": risk,
        "random_draw": draw,
        "selected_by": selected_by,
        "aeo": aeo,
        "profile_hits": [_clean(f"{p.id}@{p.version}") for p, hit in zip(profiles, hits, strict=True) if hit],
        "reasons": joined.split(_SEP) if joined else [],
    }


def _divide(value: float | None, mass: float | None) -> float | None:
    """value / mass as polars divides floats: None when either is missing, inf or NaN for a zero mass."""
    if value is None or mass is None:
        return None
    if mass == 0:
        return math.nan if value == 0 or math.isnan(value) else math.copysign(math.inf, value) * math.copysign(1, mass)
    return float(value) / float(mass)


def _number(value: float, decimals: int) -> str:
    """A float rounded and written as polars' ``format`` writes ``col.round(decimals)`` (half to even)."""
    return _literal(float(np.round(value, decimals)))


def _literal(value: float) -> str:
    """A number as polars writes it in ``format`` (Python's shortest form, never with an exponent)."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = np.format_float_positional(value, trim="-")
        text = text if "." in text or isinstance(value, int) else text + ".0"
    return text


_SEP = "\x1f"  # the unit separator: joins a row's texts into one string, split once into its list (not in a text)


def _clean(text: str) -> str:
    return text.replace(_SEP, " ")


def clean_text(text: str) -> str:
    """A text as a stored reason carries it (the reasons' separator replaced)."""
    return _clean(text)


def _joined_list(pieces: Sequence[pl.Expr | pl.Series]) -> pl.Expr:
    """The non-null texts of ``pieces`` as one list per row, in order — what ``concat_list(...).list.drop_nulls()``
    gives, built as one joined string split once (several times faster on a million rows)."""
    empty = pl.lit([], dtype=pl.List(pl.Utf8))
    if not pieces:
        return empty
    joined = pl.concat_str(list(pieces), separator=_SEP, ignore_nulls=True)
    return pl.when(joined.is_null() | (joined == "")).then(empty).otherwise(joined.str.split(_SEP))


def _empty_lists(name: str, n: int) -> pl.Series:
    """A column of ``n`` empty string lists, broadcast from one value (no Python list per declaration)."""
    return pl.Series(name, [[]], dtype=pl.List(pl.Utf8)).new_from_index(0, n)


def thresholds_for(reference_scores: Sequence[float], policy: LanePolicy) -> dict[str, float]:
    """Risk thresholds that give each lane its target rate on the reference scores (red first, then yellow,
    then blue, each taking the next slice of the ranking)."""
    ref = np.sort(np.asarray(reference_scores, dtype=float))[::-1]
    if len(ref) == 0:
        return {}
    out, taken = {}, 0.0
    for name in ("red", "yellow", "blue"):
        rate = policy.rates.get(name, 0.0)
        if rate <= 0:
            continue
        taken += rate
        out[name] = float(ref[min(len(ref) - 1, max(0, int(round(taken * len(ref))) - 1))])
    return out
