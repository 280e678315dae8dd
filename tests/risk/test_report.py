"""Model reports (curves against baselines, feature importance, reference scores), drift from the running score
histogram, and valuation flags on stored declarations — on a real store."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from risk_helpers import SMALL, decide_stored, store_inspected

from conftest import sample_declaration
from opencustoms.declarations import service as declarations
from opencustoms.risk import lifecycle, report, service
from opencustoms.risk.errors import ModelNotFoundError, RiskDataError
from opencustoms.risk.frame import pseudonymise_parties
from opencustoms.risk.metrics import precision_at, recall_at
from opencustoms.risk.model import COMPILED_MIN_ROWS, RiskModel
from opencustoms.risk.tables import risk_decisions
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity
from opencustoms.store.tables import goods_items

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# --- curves against a hand computation --------------------------------------------------------------------------


def test_curves_match_a_hand_computation() -> None:
    labels = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    scores = [0.9, 0.8, 0.7, 0.7, 0.1, 0.2, 0.3, 0.4, 0.5, 0.05]
    # ranking: 0 (fraud), 1, 2 (fraud), 3 (tie with 2, later in input), 8, 7, 6, 5, 4, 9 (fraud)
    got = report.curves(labels, scores, shares=(0.1, 0.2, 0.3, 0.5, 1.0))
    assert got["precision"] == [1.0, 0.5, pytest.approx(2 / 3, abs=1e-6), 0.4, 0.3]
    assert got["recall"] == [pytest.approx(1 / 3, abs=1e-6)] * 2 + [pytest.approx(2 / 3, abs=1e-6)] * 2 + [1.0]
    ref = report.reference_curves(labels, shares=(0.1, 0.2, 0.5))
    assert ref["random"]["precision"] == [0.3, 0.3, 0.3] and ref["random"]["recall"] == [0.1, 0.2, 0.5]
    assert ref["perfect"]["precision"] == [1.0, 1.0, 0.6]
    assert ref["perfect"]["recall"] == [pytest.approx(1 / 3, abs=1e-6), pytest.approx(2 / 3, abs=1e-6), 1.0]


def test_curves_agree_with_the_metrics_module_at_every_share() -> None:
    rng = np.random.default_rng(4)
    labels = (rng.random(537) < 0.12).astype(int)
    scores = np.round(rng.random(537), 2)  # many ties
    got = report.curves(labels, scores)
    for i, share in enumerate(report.CURVE_SHARES):
        assert got["precision"][i] == pytest.approx(precision_at(labels, scores, share), abs=1e-6)
        assert got["recall"][i] == pytest.approx(recall_at(labels, scores, share), abs=1e-6)
    assert report.CURVE_SHARES[0] == 0.01 and report.CURVE_SHARES[-1] == 0.30 and len(report.CURVE_SHARES) == 30


def test_psi_from_running_counts_equals_psi_from_scores() -> None:
    rng = np.random.default_rng(1)
    reference, current = rng.beta(2, 8, 400), rng.beta(3, 6, 250)
    edges = lifecycle.reference_edges(reference)
    counts = lifecycle.bin_counts(edges, current[:100]) + lifecycle.bin_counts(edges, current[100:])
    assert lifecycle.psi_from_counts(lifecycle.bin_counts(edges, reference), counts) == pytest.approx(
        lifecycle.psi(reference, current)
    )
    with pytest.raises(RiskDataError):
        lifecycle.psi_from_counts([1, 2], [0, 0])


# --- training from stored inspections: held-out tail, report, drift ---------------------------------------------


def test_training_from_the_store_holds_out_the_newest_and_stores_the_report(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    store_inspected(engine, operator, 160)
    row = service.train_model(platform, operator, None, None, promote=True, params=SMALL)
    info = service.model_report(engine, operator, row["version"])
    evaluation = info["report"]["evaluation"]
    assert evaluation is not None and evaluation["held_out"].startswith("newest 20%")
    frame = pseudonymise_parties(service.stored_frame(engine, labelled_only=True), platform.pseudonymiser)
    head, tail, _ = service.hold_out_tail(frame)
    assert tail is not None and evaluation["declarations"] == tail.height
    assert head["date"].max() < tail["date"].min()  # time-ordered: every held-out day is newer
    assert row["training_rows"] == head.height
    # the stored curve is the promoted model's ranking of the held-out declarations, recomputed here
    _, model = service.current_model(engine)  # type: ignore[misc]
    y = tail["label"].to_numpy()
    again = report.curves(y, model.predict_proba(tail))
    assert evaluation["curves"]["model"] == again
    assert evaluation["curves"]["random"]["precision"][0] == pytest.approx(y.mean(), abs=1e-6)
    assert len(evaluation["curves"]["rules"]["precision"]) == 30
    assert evaluation["auc"]["model"] is not None and 0 <= evaluation["auc"]["model"] <= 1
    features = info["report"]["feature_importance"]
    assert 0 < len(features) <= 20 and features[0]["share"] >= features[-1]["share"]
    assert set(f["feature"] for f in features) <= set(model.names_)
    assert info["report"]["scores"]["reference_declarations"] == tail.height
    assert info["drift"]["declarations"] == 0 and info["drift"]["psi"] is None


def test_drift_follows_what_was_scored_since_promotion(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    store_inspected(engine, operator, 160)
    version = service.train_model(platform, operator, None, None, promote=True, params=SMALL)["version"]
    service.score_backlog(platform, operator, scope="all")  # the inspected declarations, laned on request
    decide_stored(platform, operator, sample_declaration("LRN-DRIFT"))
    drift = service.score_drift(engine, operator)
    with engine.connect() as conn:
        scores = [
            r.score for r in conn.execute(risk_decisions.select().where(risk_decisions.c.model_version == version))
        ]
    assert drift["declarations"] == len(scores) == 161
    assert sum(drift["histogram_current"]) == 161
    _, model = service.current_model(engine)  # type: ignore[misc]
    assert drift["psi"] == pytest.approx(lifecycle.psi(model.reference_scores_, scores))
    assert drift["verdict"] == lifecycle.verdict(drift["psi"])
    assert service.drift(platform, operator)["psi"] == drift["psi"]  # drift() without a file: the same
    service.promote_model(engine, operator, version)  # promoting again starts a new period
    assert service.score_drift(engine, operator, version)["declarations"] == 0
    with pytest.raises(PermissionDeniedError):
        service.model_report(engine, Identity.of("olga", "NL", ["officer"]), version)
    with pytest.raises(ModelNotFoundError):
        service.model_report(engine, operator, "m-nope")


@SQLITE_ONLY
def test_too_small_a_tail_trains_on_everything_and_says_why(platform, operator) -> None:  # type: ignore[no-untyped-def]
    store_inspected(platform.engine, operator, 60)
    row = service.train_model(platform, operator, None, None, params=SMALL)
    stored = service.model_report(platform.engine, operator, row["version"])["report"]
    assert stored["evaluation"] is None and row["training_rows"] == 60
    assert "no held-out evaluation" in stored["notes"][0] and "at least 20" in stored["notes"][0]
    assert stored["feature_importance"] and stored["scores_from"].startswith("training")


@SQLITE_ONLY
def test_training_from_files_reports_on_the_validation_file(platform, operator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from opencustoms.demo.frames import demo_frame

    frame, _ = demo_frame(1200, seed=2)
    train, valid, _test = service.split_by_date(frame)
    train.write_parquet(tmp_path / "train.parquet")
    valid.write_parquet(tmp_path / "valid.parquet")
    row = service.train_model(
        platform, operator, tmp_path / "train.parquet", tmp_path / "valid.parquet", layout="frame", params=SMALL
    )
    evaluation = row["report"]["evaluation"]
    assert evaluation["held_out"] == "validation file" and evaluation["declarations"] == valid.height
    assert evaluation["frauds"] == int(valid["label"].sum())
    assert row["metrics"]["valid"]["precision@0.05"] == pytest.approx(evaluation["curves"]["model"]["precision"][4])


# --- valuation on stored declarations ----------------------------------------------------------------------------


def item(unit_value: float, *, hs: str = "847130", origin: str = "CN", mass: float = 10.0) -> dict[str, Any]:
    return {
        "sequence_number": 1,
        "hs_code": hs,
        "description": "goods",
        "net_mass_kg": mass,
        "customs_value_amount": f"{unit_value * mass:.2f}",
        "customs_value_currency": "USD",
        "origin_country_code": origin,
    }


def store(engine: Any, operator: Identity, reference: str, day: dt.date, *items: dict[str, Any]) -> None:
    numbered = [{**it, "sequence_number": i + 1} for i, it in enumerate(items)]
    declarations.create(
        engine,
        operator,
        sample_declaration(reference, acceptance_date=day.isoformat(), goods_items=numbered, additional_documents=[]),
    )


def test_valuation_flags_on_stored_declarations_with_their_evidence(engine, operator) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RiskDataError, match="no stored import declarations"):
        service.valuation_flags_stored(engine, operator)
    start = dt.date(2025, 1, 6)
    for i, uv in enumerate([95, 100, 105, 98, 102, 101, 99, 100, 103, 97, 100, 96]):
        store(engine, operator, f"H-{i}", start + dt.timedelta(days=i), item(uv), item(20.0, hs="620342", origin="BD"))
    store(engine, operator, "OLD", dt.date(2024, 1, 2), item(1.0))  # outside the window: not in the band
    march = dt.date(2025, 3, 3)
    store(engine, operator, "N-UNDER", march, item(20.0, hs="620342", origin="BD"), item(40.0))
    store(engine, operator, "N-WITHIN", march, item(100.0))
    store(engine, operator, "N-OVER", march + dt.timedelta(days=1), item(400.0))
    store(engine, operator, "N-VN", march, item(300.0, origin="VN"))  # no VN band: HS6 over all origins
    store(engine, operator, "N-NEW", march, item(5.0, hs="010121"))  # nothing like it: no reference

    result = service.valuation_flags_stored(engine, operator, since=march, window_days=90, min_sample=10)
    flags = {(f["reference"], f["item"]): f for f in result["flags"]}
    assert set(flags) == {("N-UNDER", 2), ("N-OVER", 1), ("N-VN", 1)}
    assert [f["reference"] for f in result["flags"]] == ["N-OVER", "N-VN", "N-UNDER"]  # most extreme first
    under = flags[("N-UNDER", 2)]
    assert under["flag"] == "under" and under["unit_value"] == pytest.approx(40.0)
    assert under["level"] == "hs6 x origin" and under["sample_size"] == 12
    assert (under["period_from"], under["period_to"]) == (start, start + dt.timedelta(days=11))
    assert under["band_low"] < 95 and under["band_high"] > 105 and under["currency"] == "USD"
    assert flags[("N-VN", 1)]["level"] == "hs6" and flags[("N-VN", 1)]["flag"] == "over"
    assert result["counts"] == {"under": 1, "over": 2, "within": 2, "no reference": 1}
    assert result["checked"] == 6 and result["since"] == march and result["until"] == march + dt.timedelta(days=1)
    # the declared value is only read
    with engine.connect() as conn:
        amounts = conn.execute(goods_items.select().where(goods_items.c.customs_value_amount == 400.0 * 10)).all()
    assert len(amounts) == 1
    # default: the newest 30 days; a smaller limit keeps the most extreme flags
    latest = service.valuation_flags_stored(engine, operator, limit=1, window_days=90)
    assert latest["since"] == march + dt.timedelta(days=1) - dt.timedelta(days=29)
    assert [f["reference"] for f in latest["flags"]] == ["N-OVER"]
    with pytest.raises(RiskDataError) as caught:
        service.valuation_flags_stored(engine, operator, window_days=0)
    assert caught.value.field == "window_days"
    with pytest.raises(PermissionDeniedError):
        service.valuation_flags_stored(engine, Identity.of("olga", "NL", ["officer"]))


@SQLITE_ONLY
def test_api_report_drift_and_valuation(platform, operator) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from opencustoms.api.app import create_app
    from opencustoms.security import service as security

    engine = platform.engine
    store_inspected(engine, operator, 60)
    version = service.train_model(platform, operator, None, None, promote=True, params=SMALL)["version"]
    security.create_user(engine, operator, "rita", "NL", ["risk_analyst"])
    security.create_user(engine, operator, "olga", "NL", ["officer"])
    rita = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'rita')}"}
    olga = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'olga')}"}
    with TestClient(create_app(platform)) as client:
        r = client.get(f"/risk/models/{version}/report", headers=rita)
        assert r.status_code == 200, r.text
        assert r.json()["report"]["feature_importance"] and r.json()["drift"]["model_version"] == version
        assert client.get(f"/risk/models/{version}/drift", headers=rita).json()["declarations"] == 0
        assert client.get("/risk/models/nope/report", headers=rita).status_code == 404
        assert client.get(f"/risk/models/{version}/report", headers=olga).status_code == 403
        r = client.get("/risk/valuation/flags", params={"limit": 5}, headers=rita)
        assert r.status_code == 200 and set(r.json()) >= {"flags", "counts", "since", "checked"}
        assert client.get("/risk/valuation/flags", params={"window_days": 0}, headers=rita).status_code == 422


def test_compiled_trees_are_built_once_and_used_for_the_backlog(platform, operator) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("lleaves", reason="lleaves (compiled trees) is not installed")
    engine = platform.engine
    with pytest.raises(ModelNotFoundError):
        service.compile_model(platform, operator)  # nothing promoted yet
    store_inspected(engine, operator, 160)
    row = service.train_model(platform, operator, None, None, promote=True, params=SMALL)
    with pytest.raises(ModelNotFoundError):
        service.compile_model(platform, operator, "m-unknown")
    officer = Identity.of("olga", "NL", ["officer"])
    with pytest.raises(PermissionDeniedError):
        service.compile_model(platform, officer)
    cache = service.compiled_trees_path(row["path"], row["file_hash"])
    assert not cache.exists()
    info = service.compile_model(platform, operator)
    assert info["model_version"] == row["version"] and cache.exists()
    assert cache.with_name(cache.name + ".leaves").exists()
    from opencustoms.security import service as security

    audit = security.read_audit(engine, operator, object_type="risk_model")
    assert audit[0]["action"] == "compile"
    version, model = service.batch_model(engine)  # type: ignore[misc]
    assert version == row["version"] and model.compiled_ is not None
    # a fresh process loads the cache instead of compiling: same scores as LightGBM
    fresh = RiskModel.load(row["path"])
    assert fresh.compile_trees(cache, build=False)
    frame = pseudonymise_parties(service.stored_frame(engine), platform.pseudonymiser)
    frame = pl.concat([frame] * (COMPILED_MIN_ROWS // frame.height + 1))
    x = fresh.matrix(frame)
    np.testing.assert_allclose(fresh.predict_proba(frame, x=x), RiskModel.load(row["path"]).predict_proba(frame, x=x))
