"""The online path for one declaration (conform_row, features from dicts, contributions without polars) gives what
the batch path gives for the same declaration: the conformed row, the score, the lane, the draw, every reason and
the model's contributions (docs/risk.md, Speed)."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import polars as pl
import pytest
from risk_helpers import PROFILE, SMALL, store_inspected

from opencustoms import signals as signal_records
from opencustoms.declarations import service as declarations
from opencustoms.demo.generator import generate
from opencustoms.model import Declaration
from opencustoms.risk import explain as reason_text
from opencustoms.risk import service
from opencustoms.risk.frame import (
    COLUMNS,
    conform,
    conform_row,
    declaration_row,
    from_declarations,
    pseudonymise_parties,
)

# values of other types than their column's, each sending conform_row to polars' casts; and plain ones it keeps
ODD: dict[str, list[Any]] = {
    "value": [3, 0, None, "12.5", "abc", float("nan"), True],
    "net_mass": [7, None, "0.5", -1.0],
    "duty_rate": [8, None, "8", 0.0],
    "duty_at_stake": [None, 12, 0.0],
    "items": [None, 2**40, 3.0, "2", True, -5],
    "date": [None, "2025-03-04", "2025-03-04T10:00:00", dt.datetime(2025, 3, 4, 10), "", "not a date"],
    "hs6": [None, 847130, "8471"],
    "origin": [None, 86, "CN"],
    "reference": [None, 17, "R-1"],
    "aeo": [None, "certified", 1],
    "label": [0, 1, 2, None, -1, True],
    "revenue": [None, 10, 2.5],
    "x_payment_type": [None, 11, "11", 1.5, True],
}


def odd_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = [declaration_row(data) for data, _ in generate(n, seed=seed, country="NL")]
    for row in rows:
        for column in rng.sample(sorted(ODD), rng.randint(0, 3)):
            row[column] = rng.choice(ODD[column])
        if rng.random() < 0.03:  # a required column absent altogether
            del row[rng.choice(["reference", "date", "hs6", "origin", "value"])]
    return rows


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conform_row_gives_what_conform_gives_for_one_row(seed: int) -> None:
    kept = 0
    for row in odd_rows(300, seed):
        original = dict(row)
        try:
            expected = conform(pl.DataFrame([row], infer_schema_length=None)).row(0, named=True)
        except Exception as exc:  # the same refusal, word for word (a RiskDataError, or polars' own)
            with pytest.raises(type(exc)) as caught:
                conform_row(row)
            assert str(caught.value) == str(exc)
            continue
        got = conform_row(row)
        assert row == original or all(same(row[k], original[k]) for k in original)  # the input is not changed
        assert list(got) == list(expected)  # the same columns in the same order
        assert all(same(got[k], expected[k]) for k in expected), {
            k: (got[k], expected[k]) for k in expected if not same(got[k], expected[k])
        }
        kept += all(type(row.get(k)) in (type(None), str, float, int, dt.date) for k in COLUMNS)
    assert kept > 50  # many rows took the plain path, not only the polars fall-back


def test_the_online_decision_is_the_batch_decision_of_the_same_declaration(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    store_inspected(engine, operator, 160)
    version = service.train_model(platform, operator, None, None, promote=True, params=SMALL)["version"]
    service.save_profile(engine, operator, PROFILE)
    new = [Declaration.model_validate(data) for data, _ in generate(120, seed=9, fraud_rate=0.3, days=120)]
    observed = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    signal_records.emit(
        engine,
        [
            signal_records.Signal(
                kind="iot.seal_opened_outside_zone",
                subject_type="declaration",
                subject_id=d.functional_reference_id,
                severity=severity,
                source="iot",
                reason="the seal was opened outside the customs zone",
                observed_at=observed,
            )
            for d, severity in zip(new[:30:3], ["critical", "high", "medium", "low", "info"] * 2, strict=True)
        ],
    )
    _, model = service.current_model(engine)  # type: ignore[misc]
    profiles, policy = service.load_profiles(engine), service.lane_policy(platform)
    lanes: set[str] = set()
    for i, declaration in enumerate(new):
        online = service.assess(platform, operator, declaration, seed=i)
        frame = pseudonymise_parties(from_declarations([declaration.model_dump(mode="json")]), platform.pseudonymiser)
        found = [s.model_dump(mode="json") for s in signal_records.for_declaration(engine, declaration)]
        batch = service.decide_frame(
            frame,
            model=model,
            profiles=[p for p in profiles if p.valid_on(declaration.acceptance_date)],
            policy=policy,
            seed=i,
            signals={declaration.functional_reference_id: found},
            online=True,
        ).row(0, named=True)
        assert online["lane"] == batch["lane"]
        assert online["score"] == batch["score"]  # the same float, not merely close
        assert online["random_draw"] == batch["random_draw"]
        # every reason, contributions included: the same stored reasons, said alike
        assert machine(online["reasons"]) == machine(reason_text.explain(service.reasons_of(batch, version), "en"))
        lanes.add(online["lane"])
    assert {"green", "red"} <= lanes
    # a stored declaration decided by its reference (read back by narrow queries) gets what its what-if got
    for i, declaration in enumerate(new[:40]):
        declarations.create(engine, operator, declaration.model_dump(mode="json"))
        what_if = service.assess(platform, operator, declaration, seed=i)
        assert service.decide(platform, operator, declaration.functional_reference_id, seed=i) == what_if


def machine(reasons: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
    """What a reason states as data: its kind, catalogue entry and values, and its contributions."""
    return [
        (
            r["kind"],
            r.get("code"),
            r.get("values"),
            [(c["feature"], c["value"], c["contribution"]) for c in r.get("contributions") or []],
        )
        for r in reasons
    ]
