"""The batch scoring path's faster steps give the same numbers as the plain computation they replace:
the row-major matrix with the anomaly column, path attributions by chunks in threads (LightGBM and compiled
leaves), and decide_frame with the attribution table built in the background (docs/risk.md, Speed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from risk_helpers import SMALL

from conftest import shared_data
from opencustoms.risk import model as risk_model
from opencustoms.risk import service
from opencustoms.risk.frame import read_kcs
from opencustoms.risk.lanes import LanePolicy
from opencustoms.risk.model import _CHUNK, ANOMALY_INPUTS, COMPILED_MIN_ROWS, RiskModel


@pytest.fixture(scope="module")
def fitted() -> tuple[RiskModel, pl.DataFrame]:
    train = read_kcs(shared_data("kcs", "df_syn_train_eng.csv")).sample(6000, seed=2).sort("date")
    valid = read_kcs(shared_data("kcs", "df_syn_valid_eng.csv")).sample(2000, seed=2).sort("date")
    return RiskModel(params=SMALL).fit(train, valid), valid


def _tree_by_tree(model: RiskModel, leaves: np.ndarray) -> np.ndarray:
    """The path attributions as a plain running sum over the trees in order (what the sparse product computes)."""
    table, offsets, _bias = model.path_table()
    out = np.zeros((len(leaves), table.shape[1]))
    for t in range(leaves.shape[1]):
        out += table[leaves[:, t] + offsets[t]]
    return out


@pytest.mark.parametrize("copies", [1, COMPILED_MIN_ROWS // 2000 + 1])  # a few rows; a batch (background copy)
def test_matrix_is_row_major_and_equals_the_features_with_scikit_learns_anomaly_score(
    fitted: tuple[RiskModel, pl.DataFrame], copies: int
) -> None:
    model, valid = fitted
    assert model.builder_ is not None and model.forest_ is not None
    frame = pl.concat([valid] * copies)
    base = model.builder_.transform(frame)
    inputs = np.nan_to_num(base[:, [model.builder_.names.index(n) for n in ANOMALY_INPUTS]], nan=0.0)
    x = model.matrix(frame)
    assert x.flags.c_contiguous  # the compiled trees read rows: no second copy
    np.testing.assert_array_equal(x, np.column_stack([base, -model.forest_.score_samples(inputs)]))


@pytest.mark.parametrize("threads", [1, 2])
def test_path_attributions_by_chunks_in_threads_equal_a_tree_by_tree_sum(
    fitted: tuple[RiskModel, pl.DataFrame], monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    model, valid = fitted
    monkeypatch.setattr(risk_model, "_threads", lambda: threads)
    x = model.matrix(pl.concat([valid] * 3))  # 6,000 rows: two chunks of _CHUNK rows
    assert len(x) > _CHUNK
    leaves = np.asarray(model.booster_.predict(x, pred_leaf=True), dtype=np.int64)  # type: ignore[union-attr]
    attributions, bias = model.path_attributions(x)
    np.testing.assert_array_equal(attributions, _tree_by_tree(model, leaves))
    raw = model.booster_.predict(x, raw_score=True)  # type: ignore[union-attr]
    np.testing.assert_allclose(attributions.sum(axis=1) + bias, raw, atol=1e-9)


def test_path_attributions_from_compiled_leaves_equal_a_tree_by_tree_sum(
    fitted: tuple[RiskModel, pl.DataFrame], tmp_path: Path
) -> None:
    pytest.importorskip("lleaves", reason="lleaves (compiled trees) is not installed")
    model, valid = fitted
    model = RiskModel.from_bytes(model.to_bytes())  # its own compiled trees; the fixture's model stays LightGBM
    assert model.compile_trees(tmp_path / "m.trees.o")
    x = model.matrix(pl.concat([valid] * (COMPILED_MIN_ROWS // valid.height + 1)))
    leaves = np.asarray(model.booster_.predict(x, pred_leaf=True), dtype=np.int64)  # type: ignore[union-attr]
    np.testing.assert_array_equal(model.leaf_indices(x), leaves)
    np.testing.assert_array_equal(model.path_attributions(x)[0], _tree_by_tree(model, leaves))


def test_decide_frame_with_the_table_built_in_the_background_decides_the_same(
    fitted: tuple[RiskModel, pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, valid = fitted
    frame = valid.drop("label")
    assert frame.height > service.BATCH_ROWS
    background = RiskModel.from_bytes(model.to_bytes())
    assert background.paths_ is None
    decided = service.decide_frame(frame, model=background, profiles=[], policy=LanePolicy(), seed=3)
    assert background.paths_ is not None  # built by the background task
    monkeypatch.setattr(service, "BATCH_ROWS", 10**9)  # no background task: the table is built on first use
    plain = RiskModel.from_bytes(model.to_bytes())
    expected = service.decide_frame(frame, model=plain, profiles=[], policy=LanePolicy(), seed=3)
    assert_frame_equal(decided, expected)
    assert (decided["contributions"] != "[]").sum() > 0
