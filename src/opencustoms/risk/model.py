"""The targeting model: gradient boosting on engineered features, an anomaly score, calibrated probabilities.

``RiskModel.fit(train, valid)``:

1. party identifiers are expected pseudonymised already (:func:`opencustoms.risk.frame.pseudonymise_parties`);
2. :class:`~opencustoms.risk.features.FeatureBuilder` learns price references and target statistics from the
   labelled training rows; training rows get expanding-window (past-only) statistics;
3. an IsolationForest learns what ordinary declarations look like (value, mass, unit value against its reference,
   duty) and its anomaly score becomes one more feature — it speaks where history is thin;
4. LightGBM learns on that matrix (parameters chosen on the validation split, see docs/risk.md);
5. probabilities are calibrated with isotonic regression on the validation split (without one, the model says
   ``calibrated = False`` and its scores are raw model outputs).

Learned state lives in attributes ending in ``_`` (scikit-learn's convention). ``save``/``load`` write one file
with a format version; a file of another format version is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import sklearn
from scipy import sparse
from sklearn.ensemble import IsolationForest
from sklearn.isotonic import IsotonicRegression

from opencustoms import __version__, modelfile
from opencustoms.progress import Progress, or_none
from opencustoms.risk.errors import RiskDataError, RiskModelError
from opencustoms.risk.features import FeatureBuilder

FORMAT = "opencustoms.risk.model/1"
Rows = pl.DataFrame | Sequence[Mapping[str, Any]]  # a frame, or conformed rows as dicts (online scoring)
# Chosen on the KCS validation split (Q1 2021); see docs/risk.md ("Choices on the validation split"): 63 leaves
# instead of 31 gave precision@1% 81/81 instead of 80/81 and AUC 0.906 instead of 0.892 there.
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 500,
    "learning_rate": 0.03,
    "num_leaves": 63,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.7,
    "verbose": -1,
}
ANOMALY_INPUTS = ("log_value", "log_mass", "log_uv", "uv_deviation", "uv_z", "duty_rate", "log_duty")
SMALL_INPUT = 64  # rows: up to this many, scoring runs on one thread (no thread pool start-up for one declaration)
_CHUNK = 4096  # rows per step of the leaf unpacking and sparse products in path_attributions
COMPILED_MIN_ROWS = 10_000  # rows: from this many, the compiled trees (when present) score instead of LightGBM


def frame_hash(frame: pl.DataFrame) -> str:
    """SHA-256 of a frame's content (row order included): what a model was trained on."""
    digest = hashlib.sha256()
    digest.update(frame.write_csv().encode())
    return digest.hexdigest()


def check_training(frame: pl.DataFrame, split: str) -> None:
    labelled = frame.filter(pl.col("label").is_not_null())
    if labelled.height == 0:
        raise RiskDataError(
            f"the {split} split has no labelled declarations; record inspection results first", field=split
        )
    frauds = int(labelled["label"].sum())
    if frauds == 0 or frauds == labelled.height:
        raise RiskDataError(
            f"the {split} split has {'no' if frauds == 0 else 'only'} fraud among its "
            f"{labelled.height} labelled declarations; a model needs both outcomes to learn",
            field=split,
        )


@dataclass
class RiskModel:
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    anomaly: bool = True
    seed: int = 0
    builder_: FeatureBuilder | None = field(default=None, init=False)
    booster_: lgb.Booster | None = field(default=None, init=False)
    forest_: IsolationForest | None = field(default=None, init=False)
    calibration_: tuple[list[float], list[float]] | None = field(default=None, init=False)
    names_: list[str] = field(default_factory=list, init=False)
    training_hash_: str = field(default="", init=False)
    training_rows_: int = field(default=0, init=False)
    reference_scores_: list[float] = field(default_factory=list, init=False)
    metrics_: dict[str, Any] = field(default_factory=dict, init=False)
    # (tree, leaf) -> per-feature path attribution table, built from booster_ on first use (not saved: rebuilt
    # lazily after load, reset when the model is fitted again)
    paths_: tuple[np.ndarray, np.ndarray, float] | None = field(default=None, init=False, repr=False, compare=False)
    # the trees compiled to machine code by lleaves (:meth:`compile_trees`; not saved in the model file)
    compiled_: Any = field(default=None, init=False, repr=False, compare=False)
    compiled_leaves_: Any = field(default=None, init=False, repr=False, compare=False)
    leaf_code_: tuple[int, int, int] | None = field(default=None, init=False, repr=False, compare=False)

    # --- fitting ---------------------------------------------------------------------------------------------

    def fit(
        self, train: pl.DataFrame, valid: pl.DataFrame | None = None, *, progress: Progress | None = None
    ) -> RiskModel:
        """Fit on ``train`` (calibrated on ``valid``); ``progress`` hears the phases: features (rows), fitting the
        model (boosting rounds), calibration (rows of ``valid``)."""
        progress = or_none(progress)
        check_training(train, "train")
        train = train.filter(pl.col("label").is_not_null()).sort("date", maintain_order=True)
        progress.phase("building features", train.height)
        self.builder_ = FeatureBuilder().fit(train)
        base = self.builder_.transform_expanding(train)
        x = self._with_anomaly(base, fit=True)
        progress.advance(train.height)
        categorical = [i for i, n in enumerate(self.names_) if n.startswith("cat_")]
        params = {**self.params, "random_state": self.seed}
        classifier = lgb.LGBMClassifier(**params)
        progress.phase("fitting the model (boosting rounds)", int(params.get("n_estimators", 100)))

        def boosted(env: Any) -> None:  # LightGBM calls it after every boosting round
            progress.advance(1)

        classifier.fit(
            x,
            train["label"].to_numpy(),
            categorical_feature=categorical,
            feature_name=self.names_,
            callbacks=[boosted],
        )
        self.booster_ = classifier.booster_
        self.paths_ = None
        self.compiled_ = self.compiled_leaves_ = self.leaf_code_ = None
        self.training_hash_ = frame_hash(train)
        self.training_rows_ = train.height
        if valid is not None:
            check_training(valid, "valid")
            progress.phase("calibrating on the validation split", valid.height)
            labelled = valid.filter(pl.col("label").is_not_null())
            raw = self._raw(labelled)
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, labelled["label"].to_numpy())
            self.calibration_ = (list(map(float, iso.X_thresholds_)), list(map(float, iso.y_thresholds_)))
            self.reference_scores_ = [float(v) for v in self.predict_proba(valid)]
            progress.advance(valid.height)
        else:
            progress.phase("reference scores", train.height)
            self.reference_scores_ = [float(v) for v in np.clip(self._raw(train), 0.0, 1.0)]
            progress.advance(train.height)
        return self

    def _with_anomaly(self, base: np.ndarray, fit: bool = False) -> np.ndarray:
        assert self.builder_ is not None
        names = self.builder_.names
        if not self.anomaly:
            self.names_ = names
            return base
        idx = [names.index(n) for n in ANOMALY_INPUTS]
        inputs = np.nan_to_num(base[:, idx], nan=0.0)
        if fit:
            self.forest_ = IsolationForest(
                n_estimators=100, max_samples=min(256, len(inputs)), random_state=self.seed
            ).fit(inputs)
            self.names_ = [*names, "anomaly"]
        assert self.forest_ is not None
        # one row-major matrix, written once: the compiled trees and the row gathers read rows, and the features
        # come column-major from polars (np.column_stack gave a matrix in neither order, which the compiled trees
        # then copied again: about 1 s on a million rows). A batch is copied in the background, by blocks of rows,
        # while the anomaly score is computed (the copy is mostly the kernel's first touch of the new pages).
        x = np.empty((len(base), base.shape[1] + 1))
        if len(base) >= COMPILED_MIN_ROWS:
            with ThreadPoolExecutor(1) as background:
                copied = background.submit(_copy_rows, x, base)
                anomaly = isolation_scores(self.forest_, inputs)
                copied.result()
        else:
            x[:, :-1] = base
            anomaly = isolation_scores(self.forest_, inputs)
        x[:, -1] = -anomaly
        return x

    # --- scoring ---------------------------------------------------------------------------------------------

    def _check(self) -> None:
        if self.booster_ is None or self.builder_ is None:
            raise RiskModelError("the model is not trained; call fit(train, valid) or load a model file", field="model")

    def matrix(self, frame: Rows) -> np.ndarray:
        """The feature matrix of a frame, or of rows as dicts (conformed: :func:`~opencustoms.risk.frame.conform_row`,
        the online path, no polars)."""
        self._check()
        assert self.builder_ is not None
        if isinstance(frame, pl.DataFrame):
            return self._with_anomaly(self.builder_.transform(frame))
        return self._with_anomaly(self.builder_.transform_dicts(frame))

    def _raw(self, frame: Rows, x: np.ndarray | None = None) -> np.ndarray:
        self._check()
        assert self.booster_ is not None
        x = self.matrix(frame) if x is None else x
        if self.compiled_ is not None and len(x) >= COMPILED_MIN_ROWS:
            return np.asarray(self.compiled_.predict(np.ascontiguousarray(x, dtype=np.float64), n_jobs=_threads()))
        return np.asarray(self.booster_.predict(x, num_threads=1 if len(x) <= SMALL_INPUT else 0))

    def compile_trees(self, cache: str | Path, *, build: bool = True) -> bool:
        """Compile the gradient-boosted trees to machine code with lleaves (LLVM) for batch scoring, or load them
        from ``cache`` when they were compiled before. Two programs are compiled from the same trees: the scores
        (``cache``) and the leaf each row reaches in each tree (``<cache>.leaves``, for the path attributions of
        the reasons; see :func:`_leaf_index_model`). A sidecar ``<file>.json`` records what each file was compiled
        from (SHA-256 of the trees, lleaves and llvmlite versions, CPU) and the file's own SHA-256, checked before
        loading. Returns whether compiled trees are in use: False when lleaves is not installed, or when there is
        no usable cache and ``build`` is False (LightGBM keeps scoring, the same scores to about 1e-14). A cache
        file that does not match its sidecar is refused."""
        self._check()
        assert self.booster_ is not None
        try:
            import lleaves  # noqa: F401
        except ImportError:
            return False
        cache = Path(cache)
        text = self.booster_.model_to_string()
        leaf_text, self.leaf_code_ = _leaf_index_model(text)
        scores = _compile_cached(text, cache, build, raw_score=False)
        if scores is None:
            return False
        leaves = _compile_cached(leaf_text, cache.with_name(cache.name + ".leaves"), build, raw_score=True)
        if leaves is None:
            return False
        self.compiled_, self.compiled_leaves_ = scores, leaves
        return True

    def leaf_indices(self, x: np.ndarray) -> np.ndarray:
        """The leaf each row reaches in each tree (rows x trees), as LightGBM's ``pred_leaf`` gives it: from the
        compiled leaf program for a large batch when there is one, else from LightGBM."""
        if not len(x):
            return np.zeros((0, 0), np.int64)
        starts, chunk = self._leaf_chunks(x)
        return np.vstack([chunk(start) for start in starts]).astype(np.int64, copy=False)

    def _leaf_chunks(self, x: np.ndarray) -> tuple[range, Callable[[int], np.ndarray]]:
        """``leaf_indices`` by chunks of rows: the chunks' first rows and a function giving the leaves of the chunk
        that starts at a row (what follows stays in the CPU's caches; chunks may be unpacked in threads). From the
        compiled leaf program the leaves come as int32 (they are below 2^bits), from LightGBM as int64."""
        self._check()
        assert self.booster_ is not None
        starts = range(0, len(x), _CHUNK)
        if self.compiled_leaves_ is not None and self.leaf_code_ is not None and len(x) >= COMPILED_MIN_ROWS:
            bits, per_class, trees = self.leaf_code_
            packed = np.asarray(
                self.compiled_leaves_.predict(np.ascontiguousarray(x, dtype=np.float64), n_jobs=_threads())
            ).reshape(len(x), -1)
            mask = (1 << bits) - 1

            def unpack(start: int) -> np.ndarray:
                codes = np.rint(packed[start : start + _CHUNK]).astype(np.int64)
                unpacked = np.empty((len(codes), codes.shape[1], per_class), dtype=np.int32)
                for j in range(per_class):  # tree j of each output: its bits of the code
                    np.bitwise_and(codes >> (bits * j), mask, out=unpacked[:, :, j], casting="unsafe")
                return unpacked.reshape(len(codes), -1)[:, :trees]

            return starts, unpack
        leaves = np.asarray(
            self.booster_.predict(x, pred_leaf=True, num_threads=1 if len(x) <= SMALL_INPUT else 0), dtype=np.int64
        ).reshape(len(x), -1)
        return starts, lambda start: leaves[start : start + _CHUNK]

    @property
    def calibrated(self) -> bool:
        return self.calibration_ is not None

    def predict_proba(self, frame: Rows, x: np.ndarray | None = None) -> np.ndarray:
        """Probability of fraud per declaration (calibrated when the model was fitted with a validation split)."""
        return self.scores(frame, x)[0]

    def scores(self, frame: Rows, x: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The probability of fraud (in [0, 1], as :meth:`predict_proba`) and the rank score beside it: the raw
        model score before calibration (LightGBM's own probability). A queue is ordered by probability, then by
        rank score, which still tells apart declarations that calibration put on the same step."""
        raw = np.clip(self._raw(frame, x), 0.0, 1.0)
        return (raw if self.calibration_ is None else calibrate(raw, self.calibration_)), raw

    def contributions(
        self, frame: Rows, top: int = 3, x: np.ndarray | None = None, *, exact: bool = False
    ) -> list[list[dict[str, Any]]]:
        """The ``top`` features that pushed each declaration's score up most (log-odds).

        By default these are path attributions (Saabas, what XGBoost calls ``approx_contribs``): each split on a
        declaration's path through a tree credits its feature with the change of the tree's value from the parent
        to the child; per tree and leaf that is looked up in a table built once per model
        (:meth:`path_attributions`). They add up to the raw score exactly and cost one ``pred_leaf`` pass — about
        a hundred times less than TreeSHAP on these deep trees (docs/risk.md, Speed). ``exact=True`` gives
        LightGBM's TreeSHAP values (``pred_contrib``, about 2.5 ms per declaration): for one declaration on
        demand, not for a batch."""
        cols, values, features = self._top(frame, top, x, exact=exact)
        names = self.names_
        return [
            [
                {"feature": names[c], "value": _plain(v), "contribution": round(float(w), 4)}
                for c, v, w in zip(cr, vr, wr, strict=True)
                if w > 0
            ]
            for cr, vr, wr in zip(cols.tolist(), features.tolist(), values.tolist(), strict=True)
        ]

    def contributions_json(self, frame: pl.DataFrame, top: int = 3, x: np.ndarray | None = None) -> pl.Series:
        """:meth:`contributions` (path attributions) as one JSON text per declaration, written by polars for a
        whole batch at once (no Python object per declaration); ``json.loads`` of each gives the same records
        (features, order, contributions), values rounded to 4 decimals by polars (in a rare halfway case the last
        digit may differ from Python's ``round``)."""
        cols, values, features = self._top(frame, top, x)
        quoted = pl.Series([json.dumps(n) for n in self.names_], dtype=pl.Utf8)  # names as JSON strings
        columns: dict[str, pl.Series] = {}
        pieces = []
        for j in range(cols.shape[1]):
            value = pl.Series(features[:, j]).round(4)
            columns[f"n{j}"] = quoted.gather(cols[:, j])
            columns[f"v{j}"] = pl.Series(np.where(np.isfinite(features[:, j]), value.to_numpy(), np.nan))
            columns[f"w{j}"] = pl.Series(values[:, j])
            pieces.append(
                pl.when(pl.col(f"w{j}") > 0).then(
                    pl.concat_str(
                        pl.lit('{"feature": '),
                        pl.col(f"n{j}"),
                        pl.lit(', "value": '),
                        pl.when(pl.col(f"v{j}").is_nan()).then(pl.lit("null")).otherwise(pl.col(f"v{j}").cast(pl.Utf8)),
                        pl.lit(', "contribution": '),
                        pl.col(f"w{j}").round(4).cast(pl.Utf8),
                        pl.lit("}"),
                    )
                )
            )
        if not pieces:
            return pl.Series("contributions", ["[]"], dtype=pl.Utf8).new_from_index(0, len(cols))
        return (
            pl.DataFrame(columns)
            .select(
                pl.concat_str(pl.lit("["), pl.concat_list(pieces).list.drop_nulls().list.join(", "), pl.lit("]")).alias(
                    "contributions"
                )
            )
            .to_series()
        )

    def _top(
        self, frame: Rows, top: int, x: np.ndarray | None, *, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row, the columns of the ``top`` largest attributions (largest first), their attributions and the
        feature values."""
        self._check()
        assert self.booster_ is not None
        x = self.matrix(frame) if x is None else x
        if exact:
            contrib = np.asarray(self.booster_.predict(x, pred_contrib=True))[:, :-1]
        else:
            contrib, _bias = self.path_attributions(x)
        k = min(top, contrib.shape[1])
        if k <= 0 or len(contrib) == 0:
            empty = np.zeros((len(contrib), 0))
            return empty.astype(np.intp), empty, empty
        part = np.argpartition(-contrib, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(contrib, part, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        cols = np.take_along_axis(part, order, axis=1)
        values = np.take_along_axis(values, order, axis=1)
        return cols, values, np.take_along_axis(x, cols, axis=1)

    def warm(self) -> RiskModel:
        """Build now what scoring builds on first use — the feature lookups, the reasons' attribution table, the
        isolation trees' stacked arrays — so that a server can settle its heap once they exist
        (:func:`~opencustoms.context.settle_heap`) instead of the first requests paying for them."""
        self._check()
        assert self.builder_ is not None
        self.builder_._lookup()
        self.path_table()
        if self.forest_ is not None:
            isolation_scores(self.forest_, np.zeros((1, len(ANOMALY_INPUTS))))
        return self

    def path_table(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The per-leaf attribution table of :meth:`path_attributions` (built on first use, about 0.6 s for 500
        trees of 63 leaves; a batch builds it in the background while the features are computed)."""
        self._check()
        assert self.booster_ is not None
        if self.paths_ is None:
            self.paths_ = _path_table(self.booster_)
        return self.paths_

    def path_attributions(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Per row and feature, the Saabas path attribution (log-odds), and the bias (sum of the trees' root
        values): ``attributions.sum(axis=1) + bias`` equals the raw score."""
        self._check()
        assert self.booster_ is not None
        table, offsets, bias = self.path_table()
        # each row's leaves as a sparse indicator over every tree's leaves, times the stacked table, by chunks of
        # rows: one sparse product instead of a gather per tree
        out = np.empty((len(x), table.shape[1]))
        starts, chunk = self._leaf_chunks(x)
        if len(x) <= SMALL_INPUT:  # a few rows: gather their leaves' rows and add them, no sparse matrix
            for start in starts:
                leaves = chunk(start)
                out[start : start + len(leaves)] = table[leaves + offsets].sum(axis=1)
            return out, bias
        columns = offsets.astype(np.int32)

        def fill(start: int) -> None:
            leaves = chunk(start)
            rows, trees = leaves.shape
            indicator = sparse.csr_matrix(
                (
                    np.ones(leaves.size),
                    (leaves + columns).ravel(),
                    np.arange(0, leaves.size + 1, trees, dtype=np.int32),
                ),
                shape=(rows, table.shape[0]),
            )
            out[start : start + rows] = indicator @ table

        # chunks in threads on every core: the unpacking (numpy) and the sparse product (scipy) release the GIL;
        # each row's sums are the same whichever thread computes them
        threads = min(_threads(), len(starts))
        if threads <= 1:
            for start in starts:
                fill(start)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(fill, starts))
        return out, bias

    def to_bytes(self) -> bytes:
        self._check()
        assert self.booster_ is not None and self.builder_ is not None
        payload = {
            "format": FORMAT,
            "opencustoms": __version__,
            "lightgbm": lgb.__version__,
            "scikit_learn": sklearn.__version__,
            "params": self.params,
            "anomaly": self.anomaly,
            "seed": self.seed,
            "booster": self.booster_.model_to_string(),
            "builder": self.builder_.state(),
            "forest": self.forest_,
            "calibration": self.calibration_,
            "names": self.names_,
            "training_hash": self.training_hash_,
            "training_rows": self.training_rows_,
            "reference_scores": self.reference_scores_,
            "metrics": self.metrics_,
        }
        return modelfile.dumps(payload)

    def save(self, path: str | Path) -> str:
        """Write the model file; returns its SHA-256 (the registry checks it before every load)."""
        return modelfile.write(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> RiskModel:
        try:
            payload = modelfile.loads(data)
        except Exception as exc:
            raise RiskModelError(
                f"not an OpenCustoms risk model file ({exc.__class__.__name__}); train one with "
                "`opencustoms risk train`",
                field="model",
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else None
            raise RiskModelError(
                f"the model file has format {found!r}; this version reads {FORMAT!r} — retrain "
                "it with `opencustoms risk train`",
                field="model",
            )
        if payload["scikit_learn"].split(".")[:2] != sklearn.__version__.split(".")[:2]:
            raise RiskModelError(
                f"the model was saved with scikit-learn {payload['scikit_learn']}, this "
                f"installation has {sklearn.__version__}; retrain it with `opencustoms risk train`",
                field="model",
            )
        model = cls(params=payload["params"], anomaly=payload["anomaly"], seed=payload["seed"])
        model.booster_ = lgb.Booster(model_str=payload["booster"])
        model.builder_ = FeatureBuilder.from_state(payload["builder"])
        model.forest_ = payload["forest"]
        model.calibration_ = payload["calibration"]
        model.names_ = payload["names"]
        model.training_hash_ = payload["training_hash"]
        model.training_rows_ = payload["training_rows"]
        model.reference_scores_ = payload["reference_scores"]
        model.metrics_ = payload["metrics"]
        return model

    @classmethod
    def load(cls, path: str | Path) -> RiskModel:
        path = Path(path)
        if not path.exists():
            raise RiskModelError(f"model file {path} does not exist", field="model")
        return cls.from_bytes(path.read_bytes())


def _path_table(booster: lgb.Booster) -> tuple[np.ndarray, np.ndarray, float]:
    """Per tree and leaf, each feature's share of the path from the root to that leaf (value at the child minus
    value at the parent, credited to the parent's split feature), every tree's leaves stacked in one table; the
    offset of each tree's first leaf in it; and the bias, the sum of the trees' root values. A row's attributions
    are the sum of its leaves' rows."""
    dumped = booster.dump_model()["tree_info"]
    n_features = booster.num_feature()
    sizes = [max(1, t["num_leaves"]) for t in dumped]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    table = np.zeros((sum(sizes), n_features))
    bias = 0.0
    for tree, offset in zip(dumped, offsets.tolist(), strict=True):
        root = tree["tree_structure"]
        bias += root["internal_value"] if "leaf_value" not in root else root["leaf_value"]
        stack = [(root, np.zeros(n_features))]
        while stack:
            node, acc = stack.pop()
            if "leaf_value" in node:
                table[offset + node.get("leaf_index", 0)] = acc
                continue
            for child in (node["left_child"], node["right_child"]):
                value = child["leaf_value"] if "leaf_value" in child else child["internal_value"]
                step = acc.copy()
                step[node["split_feature"]] += value - node["internal_value"]
                stack.append((child, step))
    return table, offsets, float(bias)


def _compile_cached(text: str, cache: Path, build: bool, *, raw_score: bool) -> Any:
    """One lleaves program for the LightGBM model ``text``, loaded from ``cache`` when its sidecar says it was
    compiled from the same trees with the same lleaves, llvmlite and CPU; else compiled (when ``build``) and cached.
    None when there is nothing usable and ``build`` is False."""
    import lleaves
    import llvmlite
    import llvmlite.binding as llvm

    meta = {
        "trees_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "lleaves": getattr(lleaves, "__version__", "?"),
        "llvmlite": llvmlite.__version__,
        "cpu": llvm.get_host_cpu_name(),
        "raw_score": raw_score,
    }
    sidecar = cache.with_name(cache.name + ".json")
    usable = False
    if cache.exists() and sidecar.exists():
        recorded = json.loads(sidecar.read_text())
        if recorded.get("sha256") != _file_sha256(cache):
            raise RiskModelError(
                f"the compiled trees {cache} do not match the hash recorded beside them; they were altered — "
                f"delete {cache} and compile again (`opencustoms risk models compile`)",
                field="model",
            )
        usable = recorded.get("meta") == meta
    if not usable and not build:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "trees.txt"
        source.write_text(text)
        compiled = lleaves.Model(model_file=str(source))
        if usable:
            compiled.compile(cache=str(cache), raw_score=raw_score)
        else:
            cache.parent.mkdir(parents=True, exist_ok=True)
            # written beside the cache under a temporary name, then renamed: never a half-written cache
            partial = cache.with_name(f"{cache.name}.{os.getpid()}.partial")
            partial.unlink(missing_ok=True)
            compiled.compile(cache=str(partial), raw_score=raw_score)
            sidecar.write_text(json.dumps({"meta": meta, "sha256": _file_sha256(partial)}))
            os.replace(partial, cache)
    return compiled


def _leaf_index_model(text: str) -> tuple[str, tuple[int, int, int]]:
    """A LightGBM model file whose raw scores encode the leaf each row reaches in each tree, so that the compiled
    program gives what ``pred_leaf`` gives. The trees keep their splits; tree ``t`` gets leaf values
    ``leaf_index * 2 ** (bits * j)`` (``bits`` enough for the largest leaf index, ``j = t mod per_class``) and
    belongs to output ``t // per_class`` of a multi-output model (LightGBM's multiclass layout, trees of one
    iteration side by side; trees added to fill the last output have leaf values 0). Each output is then a sum of
    at most 52 bits of distinct integers — exact in double precision — and unpacks into ``per_class`` leaf
    indices. Returns the text and (bits, per_class, number of trees)."""
    head, _, rest = text.partition("\nTree=")
    body, _, tail = ("Tree=" + rest).partition("\nend of trees")
    blocks = [b.strip("\n") for b in body.split("\n\n") if b.strip()]
    num_leaves = [int(next(line for line in b.splitlines() if line.startswith("num_leaves="))[11:]) for b in blocks]
    bits = max(1, (max(num_leaves) - 1).bit_length())
    per_class = 52 // bits
    classes = -(-len(blocks) // per_class)

    def recode(block: str, index: int, position: int | None) -> str:
        lines = []
        for line in block.splitlines():
            if line.startswith("Tree="):
                line = f"Tree={index}"
            elif line.startswith("leaf_value="):
                n = len(line[11:].split())
                line = "leaf_value=" + " ".join(
                    str(leaf << (bits * position)) if position is not None else "0" for leaf in range(n)
                )
            lines.append(line)
        return "\n".join(lines)

    ordered: list[str] = [""] * (classes * per_class)
    for t in range(classes * per_class):
        group, position = divmod(t, per_class)
        index = position * classes + group  # LightGBM's layout: iteration-major, one tree per output
        ordered[index] = recode(blocks[t], index, position) if t < len(blocks) else recode(blocks[0], index, None)
    header = []
    for line in head.splitlines():
        if line.startswith(("num_class=", "num_tree_per_iteration=")):
            line = line.split("=")[0] + f"={classes}"
        elif line.startswith("objective="):
            line = f"objective=multiclass num_class:{classes}"
        elif line.startswith("tree_sizes="):  # lleaves counts the trees here
            line = "tree_sizes=" + " ".join(str(len(b.encode()) + 2) for b in ordered)
        header.append(line)
    return "\n".join(header) + "\n\n" + "\n\n".join(ordered) + "\n\nend of trees" + tail, (
        bits,
        per_class,
        len(blocks),
    )


TIE_BREAK = 1e-6  # weight of the raw score mixed into a calibrated probability (ranking within isotonic steps)


def calibrate(raw: np.ndarray, calibration: tuple[Sequence[float], Sequence[float]]) -> np.ndarray:
    """Calibrated probabilities of raw scores: the isotonic step function, mixed with a millionth of the raw score
    so that declarations on the same step keep the model's ranking. The mix is convex, ``(1 - t) * step + t * raw``,
    and clipped: a probability is never outside [0, 1] (``step + raw * 1e-6`` before issue #13 gave 1.000001 on
    the top step, a wall of scores above 1 at the head of the queue)."""
    xs, ys = calibration
    raw = np.clip(np.asarray(raw, dtype=float), 0.0, 1.0)
    step = np.clip(np.interp(raw, xs, ys), 0.0, 1.0)
    return np.clip(step * (1.0 - TIE_BREAK) + raw * TIE_BREAK, 0.0, 1.0)


def isolation_scores(forest: IsolationForest, inputs: np.ndarray) -> np.ndarray:
    """``forest.score_samples(inputs)``, computed the same way (the same trees, the same sums in the same order,
    identical results) without joblib dispatching one task per tree — which costs more than the work for one
    declaration — and, for a large batch, on every core (row chunks in threads; ``Tree.apply`` releases the GIL)."""
    from sklearn.ensemble._iforest import _average_path_length

    x = np.ascontiguousarray(inputs, dtype=np.float32)  # what score_samples validates its input to
    n = len(x)
    denominator = len(forest.estimators_) * _average_path_length([forest._max_samples])
    if n <= SMALL_INPUT:
        depths = _walk_isolation_trees(forest, x)
        return -np.asarray(
            2 ** (-np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)), dtype=np.float64
        )
    subsample = forest._max_features != x.shape[1]
    # per tree, per node, the term score_samples adds for a row ending in that leaf (path length + expected
    # remaining depth - 1, the same operations in the same order, so the same value), computed once per tree
    # instead of two gathers and two additions per row and tree
    parts = [
        (tree, features, path_lengths + average_lengths - 1.0)
        for tree, features, path_lengths, average_lengths in zip(
            forest.estimators_,
            forest.estimators_features_,
            forest._decision_path_lengths,
            forest._average_path_length_per_tree,
            strict=True,
        )
    ]
    depths = np.zeros(n)

    def run(start: int, stop: int) -> None:
        chunk = x[start:stop]
        acc = np.zeros(stop - start)
        for tree, features, terms in parts:
            leaves = tree.apply(chunk[:, features] if subsample else chunk, check_input=False)
            acc += terms.take(leaves)
        depths[start:stop] = acc

    threads = _threads() if n > 4 * SMALL_INPUT else 1
    if threads == 1:
        run(0, n)
    else:
        step = max(SMALL_INPUT, -(-n // (threads * 8)))
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda s: run(s, min(n, s + step)), range(0, n, step)))
    # score_samples is the opposite of the anomaly score 2 ** (-mean depth / c(max_samples))
    return -np.asarray(
        2 ** (-np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)), dtype=np.float64
    )


_FOREST_ARRAYS: dict[int, tuple[Any, tuple[np.ndarray, ...]]] = {}


def _walk_isolation_trees(forest: IsolationForest, x: np.ndarray) -> np.ndarray:
    """Per row, the sum over the isolation trees (in order, as score_samples adds them) of the path length to the
    row's leaf plus the leaf's expected remaining depth minus one — every tree walked at once with numpy over
    their nodes stacked in one array (for a few rows; scikit-learn's per-tree calls cost more than the walk)."""
    cached = _FOREST_ARRAYS.get(id(forest))
    if cached is None or cached[0] is not forest:
        lefts: list[np.ndarray] = []
        rights: list[np.ndarray] = []
        features: list[np.ndarray] = []
        thresholds: list[np.ndarray] = []
        terms: list[np.ndarray] = []
        roots: list[int] = []
        offset = 0
        subsample = forest._max_features != forest.n_features_in_
        for tree, used, path_lengths, average_lengths in zip(
            forest.estimators_,
            forest.estimators_features_,
            forest._decision_path_lengths,
            forest._average_path_length_per_tree,
            strict=True,
        ):
            t = tree.tree_
            leaf = t.children_left == -1
            lefts.append(np.where(leaf, -1, t.children_left + offset))
            rights.append(np.where(leaf, -1, t.children_right + offset))
            feature = np.where(leaf, 0, t.feature)
            features.append(np.asarray(used)[feature] if subsample else feature)
            thresholds.append(t.threshold)
            terms.append(path_lengths + average_lengths - 1.0)  # the term score_samples adds per tree
            roots.append(offset)
            offset += t.node_count
        arrays = tuple(np.concatenate(a) for a in (lefts, rights, features, thresholds, terms)) + (np.array(roots),)
        _FOREST_ARRAYS.clear()
        _FOREST_ARRAYS[id(forest)] = cached = (forest, arrays)
    left, right, feature, threshold, term, root = cached[1]
    node = np.repeat(root[None, :], len(x), axis=0)
    rows = np.arange(len(x))[:, None]
    while True:
        inner = left[node] >= 0
        if not inner.any():
            break
        go_left = x[rows, feature[node]] <= threshold[node]
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)
    # a running sum, tree after tree, as score_samples accumulates (not numpy's pairwise sum)
    return np.cumsum(term[node], axis=1)[:, -1] if len(x) else np.zeros(0)


def _copy_rows(x: np.ndarray, base: np.ndarray, step: int = 16_384) -> None:
    """``x[:, :base.shape[1]] = base`` by blocks of rows (a column-major matrix into a row-major one)."""
    width = base.shape[1]
    for start in range(0, len(base), step):
        x[start : start + step, :width] = base[start : start + step]


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plain(value: float) -> float | None:
    """A feature value for a reason: None where it is not a finite number (as the batch path's JSON writes null;
    an infinite value would not be valid JSON)."""
    return round(float(value), 4) if np.isfinite(value) else None
