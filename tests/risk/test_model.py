"""The model, its file, the evaluation harness and the replay, on small slices of the KCS and demo data."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from risk_helpers import SMALL

from conftest import shared_data
from opencustoms.demo.frames import demo_frame
from opencustoms.risk.errors import RiskDataError, RiskModelError
from opencustoms.risk.evaluate import OURS, evaluate
from opencustoms.risk.frame import pseudonymise_parties, read_frame, read_kcs
from opencustoms.risk.model import ANOMALY_INPUTS, COMPILED_MIN_ROWS, SMALL_INPUT, RiskModel, isolation_scores
from opencustoms.risk.simulate import simulate


@pytest.fixture(scope="module")
def kcs() -> tuple[pl.DataFrame, pl.DataFrame]:
    train = read_kcs(shared_data("kcs", "df_syn_train_eng.csv")).sample(6000, seed=1).sort("date")
    valid = read_kcs(shared_data("kcs", "df_syn_valid_eng.csv")).sample(2000, seed=1).sort("date")
    return train, valid


def test_kcs_is_read_with_codes_kept_as_text(kcs: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    train, _ = kcs
    assert train["hs6"].str.len_chars().min() == 6
    assert set(train["label"].unique()) == {0, 1}
    assert "x_import_type" in train.columns and "Critical Fraud" not in train.columns


def test_fit_score_explain_and_round_trip(kcs: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path) -> None:
    train, valid = kcs
    model = RiskModel(params=SMALL).fit(train, valid)
    p = model.predict_proba(valid)
    assert model.calibrated and p.min() >= 0 and p.max() <= 1 + 1e-5
    top = model.contributions(valid.head(5))
    assert all(c["contribution"] > 0 and c["feature"] in model.names_ for row in top for c in row)
    path = tmp_path / "m.model"
    digest = model.save(path)
    assert len(digest) == 64
    again = RiskModel.load(path)
    np.testing.assert_allclose(again.predict_proba(valid), p)


def test_model_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.model"
    path.write_bytes(pickle.dumps({"format": "opencustoms.risk.model/0"}))
    with pytest.raises(RiskModelError, match="retrain"):
        RiskModel.load(path)
    path.write_bytes(b"not a model")
    with pytest.raises(RiskModelError, match="not an OpenCustoms risk model"):
        RiskModel.load(path)


def test_split_without_fraud_is_refused(kcs: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    train, _ = kcs
    with pytest.raises(RiskDataError, match="no fraud"):
        RiskModel(params=SMALL).fit(train.filter(pl.col("label") == 0))


def test_evaluation_has_every_baseline_in_the_same_table(kcs: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    train, valid = kcs
    result = evaluate(train, valid, None, params=SMALL)
    names = [r.selector for r in result.table("valid")]
    assert names == ["random", "rules", "lightgbm", "xgboost", "random_forest", OURS]
    ours = next(r for r in result.table("valid") if r.selector == OURS)
    rand = next(r for r in result.table("valid") if r.selector == "random")
    assert ours.card.precision(0.05) > rand.card.precision(0.05) + 0.3


def test_pseudonymised_parties_keep_the_same_grouping(kcs: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    train, _ = kcs
    masked = pseudonymise_parties(train, lambda v: "p_" + v[::-1])
    assert masked["importer"].n_unique() == train["importer"].n_unique()
    assert not set(masked["importer"].drop_nulls()) & set(train["importer"].drop_nulls())
    # a few rows (online scoring) take a plain-Python path: the same pseudonyms, the same frame
    few = train.head(5).with_columns(pl.lit(None, pl.Utf8).alias("carrier"))
    assert_frame_equal(
        pseudonymise_parties(few, lambda v: "p_" + v[::-1]),
        pseudonymise_parties(pl.concat([few] * 10), lambda v: "p_" + v[::-1]).head(5),
    )


def test_demo_data_patterns_and_revenue() -> None:
    frame, truth = demo_frame(3000, seed=3)
    cut1, cut2 = frame["date"].quantile(0.6), frame["date"].quantile(0.8)
    train = frame.filter(pl.col("date") < cut1)
    valid = frame.filter((pl.col("date") >= cut1) & (pl.col("date") < cut2))
    test = frame.filter(pl.col("date") >= cut2)
    result = evaluate(train, valid, test, truth=truth, include_baselines=False, params=SMALL)
    assert {p["pattern"] for p in result.patterns} <= {
        "undervaluation",
        "misclassification",
        "origin_masking",
        "risky_importer_cluster",
    }
    assert result.patterns and all(0 <= p["recall"] <= 1 for p in result.patterns)
    ours = next(r for r in result.table("test") if r.selector == OURS)
    assert ours.card.at[0].revenue is not None  # revenue is known on demo data


def test_replay_reveals_only_inspected_labels(kcs: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, valid = kcs
    import datetime as dt

    out = simulate(
        valid.filter(pl.col("date") < dt.date(2021, 2, 8)), start_rate=1.0, target_rate=0.1, ramp_weeks=3, params=SMALL
    )
    weeks = out["weeks"]
    assert weeks[0]["rate"] == 1.0 and weeks[0]["precision"] == pytest.approx(
        weeks[0]["frauds"] / weeks[0]["inspected"]
    )
    assert weeks[-1]["rate"] == pytest.approx(0.1)
    assert all(w["precision"] <= 1 and w["perfect_precision"] >= w["precision"] - 1e-9 for w in weeks)
    assert weeks[-1]["model"]


def test_unknown_layout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RiskDataError) as caught:
        read_frame(tmp_path / "x.csv", "asycuda")
    assert caught.value.field == "layout"


def test_path_attributions_add_up_to_the_raw_score_and_agree_with_treeshap(
    kcs: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    train, valid = kcs
    model = RiskModel(params=SMALL).fit(train, valid)
    x = model.matrix(valid.head(300))
    attributions, bias = model.path_attributions(x)
    raw = model.booster_.predict(x, raw_score=True)  # type: ignore[union-attr]
    np.testing.assert_allclose(attributions.sum(axis=1) + bias, raw, atol=1e-9)
    for i in (0, 1, 2):  # one declaration (online) takes the small-input path: the same attributions
        np.testing.assert_allclose(model.path_attributions(x[i : i + 1])[0], attributions[i : i + 1], atol=1e-12)
    shap = np.asarray(model.booster_.predict(x, pred_contrib=True))[:, :-1]  # type: ignore[union-attr]
    rows = np.arange(len(x))
    top = np.abs(attributions).argmax(axis=1)
    same_sign = np.sign(attributions[rows, top]) == np.sign(shap[rows, top])
    assert same_sign.all(), f"top path attribution disagrees in sign with TreeSHAP in {int((~same_sign).sum())} rows"
    # the reasons: the path attributions' largest positive ones; exact=True gives TreeSHAP's
    paths = model.contributions(valid.head(300), x=x)
    exact = model.contributions(valid.head(300), x=x, exact=True)
    for r, row in enumerate(paths):
        assert [c["contribution"] for c in row] == sorted((c["contribution"] for c in row), reverse=True)
        assert all(c["contribution"] == round(float(attributions[r, model.names_.index(c["feature"])]), 4) for c in row)
    assert all(
        c["contribution"] == round(float(shap[r, model.names_.index(c["feature"])]), 4)
        for r, row in enumerate(exact)
        for c in row
    )
    # the table is not saved with the model: it is rebuilt after load and gives the same reasons
    model.save(tmp_path / "m.model")
    again = RiskModel.load(tmp_path / "m.model")
    assert again.paths_ is None
    assert again.contributions(valid.head(300), x=x) == paths


def test_isolation_scores_equal_scikit_learns_for_one_row_and_for_a_batch(
    kcs: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    train, valid = kcs
    model = RiskModel(params=SMALL).fit(train, valid)
    assert model.forest_ is not None and model.builder_ is not None
    base = model.builder_.transform(valid)
    inputs = np.nan_to_num(base[:, [model.builder_.names.index(n) for n in ANOMALY_INPUTS]], nan=0.0)
    for n in (1, 2, SMALL_INPUT, SMALL_INPUT + 1, len(inputs)):  # the tree walk, one thread, threads
        np.testing.assert_array_equal(
            isolation_scores(model.forest_, inputs[:n]), model.forest_.score_samples(inputs[:n])
        )


def test_compiled_trees_score_as_lightgbm_and_a_tampered_cache_is_refused(
    kcs: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    pytest.importorskip("lleaves", reason="lleaves (compiled trees) is not installed")
    train, valid = kcs
    model = RiskModel(params=SMALL).fit(train, valid)
    big = pl.concat([valid] * (COMPILED_MIN_ROWS // valid.height + 1))
    x = model.matrix(big)
    expected = model.predict_proba(big, x=x)  # LightGBM
    cache = tmp_path / "m.trees.o"
    assert model.compile_trees(cache, build=False) is False  # nothing cached yet, and not asked to build
    assert model.compile_trees(cache) and cache.exists()
    np.testing.assert_allclose(model.predict_proba(big, x=x), expected, rtol=0, atol=1e-12)
    # the compiled leaf program gives LightGBM's leaves exactly, so the reasons are the same
    pred_leaf = np.asarray(model.booster_.predict(x, pred_leaf=True), dtype=np.int64)  # type: ignore[union-attr]
    np.testing.assert_array_equal(model.leaf_indices(x), pred_leaf)
    texts = model.contributions_json(big, x=x)
    records = model.contributions(big, x=x)
    for text, record in zip(texts.to_list()[:3000], records[:3000], strict=True):
        parsed = json.loads(text)
        assert [c["feature"] for c in parsed] == [c["feature"] for c in record]
        assert [c["contribution"] for c in parsed] == pytest.approx([c["contribution"] for c in record], abs=1e-4)
        assert [c["value"] for c in parsed] == pytest.approx([c["value"] for c in record], abs=1e-4)
    # another process: loads the cache (no compiling) and scores the same
    again = RiskModel.from_bytes(model.to_bytes())
    assert again.compile_trees(cache, build=False)
    np.testing.assert_allclose(again.predict_proba(big, x=x), expected, rtol=0, atol=1e-12)
    cache.write_bytes(cache.read_bytes()[:-16] + b"\0" * 16)
    with pytest.raises(RiskModelError, match="altered"):
        RiskModel.from_bytes(model.to_bytes()).compile_trees(cache, build=False)
