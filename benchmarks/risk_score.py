"""Benchmark: 1,000,000 declarations from file to lanes with reasons (target <= 15 s, peak memory <= 3 GB).

What is timed is the path of `opencustoms risk score FILE --layout frame --output decisions.parquet`
(cli_risk.score -> risk.service.score_file -> read_frame, pseudonymise_parties, current_model, decide_frame ->
model.matrix, predict_proba, lanes.assign, contributions for the declarations not sent to green, write_decisions).

Steps, each heavy one in its own child process so its peak RSS (resource.getrusage) is its own:

  convert  the flat CSV (one row per goods item, written by benchmarks/import_declarations.py from the demo
           generator, seed 1; generated here when missing) -> one row per declaration in the risk frame's columns
           (Parquet). The risk engine reads no flat layout today (`read_frame` knows kcs, frame and native), so this
           step is timed separately and is NOT part of the CLI figure. It is checked against
           risk.frame.from_declarations on the first 2,000 generated declarations.
  train    (in this process) 3 risk profiles are saved, and a model is trained, registered and promoted through
           risk.service.train_model on the 40,000 oldest declarations (labels from ground_truth.csv), calibrated
           on the next 10,000.
  stages   score_file's steps one by one, timed apart (same functions, same order as decide_frame).
  cli      the CLI command itself, in-process in the child (`opencustoms risk score ...`), timed end to end;
           the child's wall time including Python start-up and imports is reported beside it.

Usage: python benchmarks/risk_score.py [--declarations N] [--train 40000] [--valid 10000] [--fixes lanes,...]
Results: benchmarks/results/risk_score.json (the as-is run and, unless --fixes '', the run with the proposed fixes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, WORK, machine, write

FOLDER = WORK / "risk_score"
PROFILES = (
    {
        "id": "fasteners-cn",
        "lane": "red",
        "weight": 1.0,
        "valid_from": "2024-01-01",
        "reason": "Steel fasteners from China: anti-dumping duty, often declared at a false origin",
        "criteria": {
            "all_of": [
                {"field": "hs6", "op": "prefix", "value": "7318"},
                {"field": "origin", "op": "in", "value": ["CN", "MY", "VN"]},
            ]
        },
    },
    {
        "id": "textiles-low-price",
        "lane": "yellow",
        "weight": 0.3,
        "valid_from": "2024-01-01",
        "reason": "Garments declared under 2 EUR per kg: possible undervaluation",
        "criteria": {
            "all_of": [
                {
                    "any_of": [
                        {"field": "hs6", "op": "prefix", "value": "61"},
                        {"field": "hs6", "op": "prefix", "value": "62"},
                    ]
                },
                {"field": "unit_value", "op": "lt", "value": 2.0},
            ]
        },
    },
    {
        "id": "high-value",
        "lane": "blue",
        "weight": 0.1,
        "valid_from": "2024-01-01",
        "reason": "Customs value above 1 million: post-clearance audit of the valuation",
        "criteria": {"field": "value", "op": "gt", "value": 1_000_000},
    },
)


def dataset(n: int) -> Path:
    folder = WORK / f"declarations-{n}"
    path = folder / "declarations.csv"
    if not (path.exists() and (folder / "ground_truth.csv").exists()):
        from opencustoms.demo.run import write_dataset

        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_dataset(folder, n, seed=1)
        print(f"generated {n:,} declarations in {time.perf_counter() - started:.1f} s -> {path}", flush=True)
    return path


# --- flat CSV -> risk frame (what a `flat` layout of risk.frame.read_frame would do) --------------------------


def flat_to_frame(csv_path: Path):  # type: ignore[no-untyped-def]
    """The flat layout as risk frame rows, the same as risk.frame.declaration_row: the largest goods item (first
    on ties) gives HS code, origin, duty rate, regime and preference; value, mass, duty at stake are totals."""
    import polars as pl

    f64 = pl.Float64
    items = pl.scan_csv(csv_path, infer_schema=False).select(
        "functional_reference_id",
        "acceptance_date",
        "declaration_office_id",
        "procedure_code",
        "transport_mode_code",
        "departure_country_code",
        "declarant_id",
        "declarant_aeo_status",
        "importer_id",
        "importer_aeo_status",
        "seller_id",
        "carrier_id",
        "hs_code",
        "origin_country_code",
        pl.col("duty_rate").cast(f64),
        "duty_regime_code",
        "preference_code",
        pl.col("net_mass_kg").cast(f64),
        pl.col("customs_value_amount").cast(f64).fill_null(0.0).alias("_v"),
        pl.col("duty_tax_amount").cast(f64),
    )
    main = pl.col("_v").arg_max()
    return (
        items.group_by("functional_reference_id", maintain_order=True)
        .agg(
            pl.col("acceptance_date").first().str.slice(0, 10).str.to_date("%Y-%m-%d").alias("date"),
            pl.col("declaration_office_id").first().alias("office"),
            pl.col("procedure_code").first().alias("procedure"),
            pl.col("transport_mode_code").first().alias("transport_mode"),
            pl.col("departure_country_code").first().alias("departure"),
            pl.col("origin_country_code").get(main).alias("origin"),
            pl.col("hs_code").get(main).str.slice(0, 6).alias("hs6"),
            pl.col("declarant_id").first().alias("declarant"),
            pl.col("importer_id").first().alias("importer"),
            pl.col("seller_id").first().alias("seller"),
            pl.col("carrier_id").first().alias("carrier"),
            pl.when(pl.col("importer_id").first().is_not_null())
            .then(pl.col("importer_aeo_status").first())
            .otherwise(pl.col("declarant_aeo_status").first())
            .fill_null("none")
            .alias("aeo"),
            pl.col("duty_rate").get(main).alias("duty_rate"),
            pl.col("duty_regime_code").get(main).alias("duty_regime"),
            pl.col("preference_code").get(main).alias("preference"),
            pl.when(pl.col("net_mass_kg").is_not_null().any()).then(pl.col("net_mass_kg").sum()).alias("net_mass"),
            pl.col("_v").sum().alias("value"),
            pl.when(pl.col("duty_tax_amount").is_not_null().any())
            .then(pl.col("duty_tax_amount").sum())
            .otherwise((pl.col("_v") * pl.col("duty_rate").fill_null(0.0) / 100.0).sum())
            .alias("duty_at_stake"),
            pl.len().cast(pl.Int32).alias("items"),
        )
        .rename({"functional_reference_id": "reference"})
    )


def check_conversion(frame_path: Path, total: int, n: int = 2000) -> None:
    """The converted frame equals risk.frame.from_declarations on the first ``n`` generated declarations."""
    from itertools import islice

    import polars as pl
    from polars.testing import assert_frame_equal

    from opencustoms.demo.generator import generate
    from opencustoms.model import Declaration
    from opencustoms.risk.frame import conform, from_declarations

    expected = from_declarations(
        Declaration.model_validate(data).model_dump(mode="json")
        for data, _ in islice(generate(total, seed=1, country="NL"), n)
    )
    got = conform(pl.read_parquet(frame_path, n_rows=n))
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9)


# --- child processes -------------------------------------------------------------------------------------------


def child_convert(csv_path: Path) -> dict[str, Any]:
    import polars as pl

    started = time.perf_counter()
    frame = flat_to_frame(csv_path).collect()
    frame.write_parquet(FOLDER / "frame.parquet")
    seconds = time.perf_counter() - started
    truth = pl.read_csv(csv_path.parent / "ground_truth.csv", schema_overrides={"revenue_at_stake": pl.Float64})
    labelled = frame.join(
        truth.select(
            pl.col("functional_reference_id").alias("reference"),
            pl.col("fraud").cast(pl.Int8).alias("label"),
            pl.when(pl.col("fraud") == 1).then(pl.col("revenue_at_stake")).alias("revenue"),
        ),
        on="reference",
        how="left",
    )
    return {"seconds": round(seconds, 2), "declarations": frame.height, "labelled": labelled}


FIXES = ("lanes", "reasons", "saabas", "iforest")


def _patched_source(function, replacements: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    """``function`` rebuilt from its source with exact text replacements (fails loudly when the source changed)."""
    import inspect
    import textwrap

    source = textwrap.dedent(inspect.getsource(function))
    for old, new in replacements:
        if old not in source:
            raise SystemExit(f"{function.__module__}.{function.__name__} changed; the fix no longer applies: {old!r}")
        source = source.replace(old, new)
    namespace = dict(function.__globals__)
    exec(compile(source, f"<fix of {function.__name__}>", "exec"), namespace)  # noqa: S102
    return namespace[function.__name__]


def _saabas_table(booster):  # type: ignore[no-untyped-def]
    """Per tree and leaf, each feature's share of the path from the root to that leaf (value at the child minus
    value at the parent, given to the parent's split feature): the Saabas attribution, as XGBoost's
    ``approx_contribs``. A row's contributions are the sum of its leaves' rows; with the mean value of the trees'
    roots they add up to its raw score exactly."""
    import numpy as np

    trees = booster.dump_model()["tree_info"]
    n_features = booster.num_feature()
    leaves = max(t["num_leaves"] for t in trees)
    table = np.zeros((len(trees), leaves, n_features))
    bias = 0.0
    for ti, tree in enumerate(trees):
        root = tree["tree_structure"]
        bias += root.get("internal_value", root.get("leaf_value", 0.0))
        stack = [(root, np.zeros(n_features))]
        while stack:
            node, acc = stack.pop()
            if "leaf_value" in node:
                table[ti, node.get("leaf_index", 0)] = acc
                continue
            for child in (node["left_child"], node["right_child"]):
                value = child["leaf_value"] if "leaf_value" in child else child["internal_value"]
                step = acc.copy()
                step[node["split_feature"]] += value - node["internal_value"]
                stack.append((child, step))
    used = [np.flatnonzero(np.abs(table[t]).sum(axis=0)) for t in range(len(trees))]
    return table, used, bias


def _apply_fix(names: str | None) -> None:
    """Proposed fixes to risk source files, applied here by monkeypatching to measure their effect (the fixes
    themselves belong in src/opencustoms/risk/ and are described in docs/risk.md, section Speed)."""
    if not names:
        return
    import json

    import numpy as np
    import polars as pl

    from opencustoms.risk import lanes, service
    from opencustoms.risk import model as model_module

    for name in names.split(","):
        if name == "lanes":
            # lanes.assign: no Python list per declaration when there are no signals (an empty-list column
            # broadcast from one value), lane names by numpy indexing instead of a dict lookup per row.
            empty = "pl.Series(name, [[]], dtype=pl.List(pl.Utf8)).new_from_index(0, n)"
            lanes.assign = _patched_source(
                lanes.assign,
                [
                    ("else [[] for _ in range(n)],", f"else {empty.replace('name', chr(34) + 'signals' + chr(34))},"),
                    (
                        "signal_text: list[list[str]] = [[] for _ in range(n)]",
                        "signal_text: list[list[str]] = [[] for _ in range(n)] if signals else []",
                    ),
                    (
                        'pl.Series("_signals", signal_text, dtype=pl.List(pl.Utf8)),',
                        '(pl.Series("_signals", signal_text, dtype=pl.List(pl.Utf8)) if signals else '
                        + empty.replace("name", '"_signals"')
                        + "),",
                    ),
                    (
                        '"lane": [LANE_OF_RANK[int(v)] for v in lane],',
                        '"lane": np.array([LANE_OF_RANK[r] for r in range(len(LANE_OF_RANK))])[lane],',
                    ),
                ],
            )
        elif name == "reasons":
            # service._with_contributions: green rows share one "[]" (no json.dumps per declaration); only the
            # not-green rows are dumped and scattered into the column.
            def _with_contributions(decisions, frame, model, x):  # type: ignore[no-untyped-def]
                column = pl.Series("contributions", ["[]"], dtype=pl.Utf8).new_from_index(0, decisions.height)
                if model is not None and x is not None:
                    chosen = np.flatnonzero((decisions["lane"] != "green").to_numpy())
                    if len(chosen):
                        dumped = [json.dumps(c) for c in model.contributions(frame[chosen], x=x[chosen])]
                        column = column.scatter(chosen, pl.Series(dumped, dtype=pl.Utf8))
                return decisions.with_columns(column)

            service._with_contributions = _with_contributions
        elif name == "saabas":
            # model.RiskModel.contributions: path (Saabas) attributions from pred_leaf and a per-leaf table
            # built once per model, instead of TreeSHAP (pred_contrib), whose cost grows with leaves x depth^2.
            def contributions(self, frame, top=3, x=None):  # type: ignore[no-untyped-def]
                self._check()
                x = self.matrix(frame) if x is None else x
                if getattr(self, "_saabas", None) is None:
                    self._saabas = _saabas_table(self.booster_)
                table, used, _bias = self._saabas
                leaves = np.asarray(self.booster_.predict(x, pred_leaf=True), dtype=np.intp)
                contrib = np.zeros((len(x), table.shape[2]))
                for t, cols in enumerate(used):
                    if len(cols):
                        contrib[:, cols] += table[t][np.ix_(leaves[:, t], cols)]
                k = min(top, contrib.shape[1])
                part = np.argpartition(-contrib, k - 1, axis=1)[:, :k]
                vals = np.take_along_axis(contrib, part, axis=1)
                order = np.argsort(-vals, axis=1, kind="stable")
                cols_ = np.take_along_axis(part, order, axis=1)
                vals = np.take_along_axis(vals, order, axis=1)
                feats = np.take_along_axis(x, cols_, axis=1)
                names_ = self.names_
                return [
                    [
                        {"feature": names_[c], "value": model_module._plain(v), "contribution": round(float(w), 4)}
                        for c, v, w in zip(cr, vr, wr, strict=True)
                        if w > 0
                    ]
                    for cr, vr, wr in zip(cols_.tolist(), feats.tolist(), vals.tolist(), strict=True)
                ]

            model_module.RiskModel.contributions = contributions  # type: ignore[method-assign]
        elif name == "iforest":
            # model.RiskModel._with_anomaly: IsolationForest.score_samples runs its trees one after the other
            # unless a joblib backend says otherwise (scikit-learn's documented way); threads, every core.
            import os

            from joblib import parallel_backend

            original = model_module.RiskModel._with_anomaly

            def _with_anomaly(self, base, fit=False, original=original):  # type: ignore[no-untyped-def]
                with parallel_backend("threading", n_jobs=os.cpu_count() or 1):
                    return original(self, base, fit)

            model_module.RiskModel._with_anomaly = _with_anomaly  # type: ignore[method-assign]
        else:
            raise SystemExit(f"unknown fix {name!r}; choose from {', '.join(FIXES)}")


def check_saabas(model, x) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Saabas contributions add up to the raw score; how often their top feature is TreeSHAP's top feature."""
    import numpy as np

    table, used, bias = _saabas_table(model.booster_)
    leaves = np.asarray(model.booster_.predict(x, pred_leaf=True), dtype=np.intp)
    saabas = np.zeros((len(x), table.shape[2]))
    for t, cols in enumerate(used):
        if len(cols):
            saabas[:, cols] += table[t][np.ix_(leaves[:, t], cols)]
    raw = np.asarray(model.booster_.predict(x, raw_score=True))
    shap = np.asarray(model.booster_.predict(x, pred_contrib=True))[:, :-1]
    return {
        "rows": len(x),
        "max_abs_sum_error": float(np.abs(saabas.sum(axis=1) + bias - raw).max()),
        "top1_same_as_treeshap": float((saabas.argmax(axis=1) == shap.argmax(axis=1)).mean()),
        "top3_overlap_with_treeshap": float(
            np.mean(
                [
                    len(set(a) & set(b)) / 3
                    for a, b in zip(np.argsort(-saabas)[:, :3], np.argsort(-shap)[:, :3], strict=True)
                ]
            )
        ),
    }


def child_stages(frame_path: Path, fix: str | None) -> dict[str, Any]:
    """score_file's steps, timed apart; the same calls as risk.service.score_file / decide_frame."""
    _apply_fix(fix)
    import numpy as np

    from opencustoms.context import Platform
    from opencustoms.risk import lanes as lane_rules
    from opencustoms.risk import service
    from opencustoms.risk.frame import pseudonymise_parties, read_frame

    platform = Platform.from_environment()
    actor = platform.operator()
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = round(now - clock, 2)
        clock = now

    actor.require(service.Permission.DECLARATIONS_READ)
    frame = read_frame(frame_path, "frame")
    lap("read file -> frame (read_frame, conform)")
    frame = pseudonymise_parties(frame, platform.pseudonymiser)
    lap("pseudonymise parties")
    version, model = service.current_model(platform.engine)  # type: ignore[misc]
    profiles = service.load_profiles(platform.engine)
    policy = service.lane_policy(platform)
    lap("load model, profiles, policy")
    base = model.builder_.transform(frame)  # type: ignore[union-attr]
    lap("features (FeatureBuilder.transform)")
    x = model._with_anomaly(base)
    lap("anomaly score (IsolationForest)")
    scores = model.predict_proba(frame, x=x)
    lap("model scores (LightGBM, calibration)")
    decisions = lane_rules.assign(frame, scores, profiles, policy, seed=0, signals=None, thresholds=None)
    lap("lanes and reasons (lanes.assign)")
    decisions = service._with_contributions(decisions, frame, model, x)
    lap("top contributions, not-green rows")
    out = FOLDER / "decisions-stages.parquet"
    service.write_decisions(decisions, out)
    lap("write decisions (Parquet)")
    extra: dict[str, Any] = {}
    if fix:
        started = time.perf_counter()
        for trees in (100, 250):
            started = time.perf_counter()
            model.booster_.predict(x, num_iteration=trees)  # type: ignore[union-attr]
            extra[f"LightGBM predict, first {trees} of {model.booster_.num_trees()} trees, s"] = round(  # type: ignore[union-attr]
                time.perf_counter() - started, 2
            )
        if "saabas" in fix:
            sample = np.flatnonzero((decisions["lane"] != "green").to_numpy())[:500]
            extra["saabas_check"] = check_saabas(model, x[sample])
    summary = service.summary(decisions)
    not_green = decisions.height - summary["lanes"]["green"]
    return {
        "stages_s": stages,
        "total_s": round(sum(stages.values()), 2),
        "declarations": decisions.height,
        "features": len(model.names_),  # type: ignore[union-attr]
        "not_green_with_contributions": not_green,
        "lanes": summary["lanes"],
        "model_version": version,
        "extra": extra,
    }


def child_cli(frame_path: Path, fix: str | None) -> dict[str, Any]:
    """The CLI command, in-process: `opencustoms risk score FILE --layout frame --output decisions.parquet`."""
    _apply_fix(fix)
    import polars as pl

    from opencustoms.cli import app

    out = FOLDER / "decisions-cli.parquet"
    started = time.perf_counter()
    try:
        app(["risk", "score", str(frame_path), "--layout", "frame", "--output", str(out)], standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
    seconds = time.perf_counter() - started
    decisions = pl.read_parquet(out, columns=["lane", "reasons"])
    lanes = dict(decisions.group_by("lane").len().iter_rows())
    return {
        "seconds": round(seconds, 2),
        "declarations": decisions.height,
        "lanes": {lane: int(lanes.get(lane, 0)) for lane in ("red", "yellow", "blue", "green")},
        "every_decision_has_reasons": bool((decisions["reasons"].list.len() > 0).all()),
    }


def run_child(step: str, arg: Path, env: dict[str, str], fix: str | None) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    command = [sys.executable, __file__, "--child", f"{step}:{arg}"] + (["--fix", fix] if fix else [])
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stdout, completed.stderr, file=sys.stderr)
        raise SystemExit(f"child {step} failed")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(wall, 2)
    result["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def report(results: dict[str, Any], label: str, n: int) -> None:
    st, cli, cv = results[label]["stages"], results[label]["cli"], results["convert"]
    print(
        f"\n{label}: {n:,} declarations -> lanes with reasons; model on {results['train']['rows']:,} declarations, "
        f"{st['features']} features, {len(PROFILES)} profiles; {machine()['cores']} cores"
    )
    print(f"{'stage':44} {'seconds':>8}")
    for name, s in st["stages_s"].items():
        print(f"{name:44} {s:8.2f}")
    print(f"{'total (stages)':44} {st['total_s']:8.2f}   peak RSS {st['peak_rss_mb']} MB, load {st['load_average_1m']}")
    print(
        f"{'CLI command, in-process':44} {cli['seconds']:8.2f}   peak RSS {cli['peak_rss_mb']} MB, "
        f"load {cli['load_average_1m']}"
    )
    print(f"{'CLI process incl. start-up and imports':44} {cli['process_wall_s']:8.2f}")
    print(f"{'(not in the CLI path) flat CSV -> frame':44} {cv['seconds']:8.2f}   peak RSS {cv['peak_rss_mb']} MB")
    for k, v in st.get("extra", {}).items():
        print(f"  {k}: {v}")
    print(f"lanes: {cli['lanes']}; not green (with contributions): {st['not_green_with_contributions']:,}")
    print(f"target: <= 15 s and <= 3 GB peak; CLI {cli['seconds']} s, {cli['peak_rss_mb']} MB")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--declarations", type=int, default=1_000_000)
    parser.add_argument("--train", type=int, default=40_000, help="oldest declarations the model learns from")
    parser.add_argument("--valid", type=int, default=10_000, help="next declarations, for calibration")
    parser.add_argument(
        "--fixes",
        default=",".join(FIXES),
        help="after the as-is run, run again with these proposed fixes monkeypatched in ('' to skip): "
        + ", ".join(FIXES),
    )
    parser.add_argument("--fix", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        step, arg = args.child.split(":", 1)
        if step == "convert":
            out = child_convert(Path(arg))
            labelled = out.pop("labelled")
            labelled.head(args.train).write_parquet(FOLDER / "train.parquet")
            labelled.slice(args.train, args.valid).write_parquet(FOLDER / "valid.parquet")
        elif step == "stages":
            out = child_stages(Path(arg), args.fix)
        else:
            out = child_cli(Path(arg), args.fix)
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(out, default=str))
        return 0

    csv_path = dataset(args.declarations)
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    env = {
        **os.environ,
        "OPENCUSTOMS_DATABASE_URL": f"sqlite:///{FOLDER / 'bench.db'}",
        "OPENCUSTOMS_DATA_DIR": str(FOLDER),
        "OPENCUSTOMS_ADMINISTRATION": "NL",
        "PYTHONPATH": str(ROOT / "benchmarks"),
    }
    results: dict[str, Any] = {
        "command": "opencustoms risk score FILE --layout frame --output decisions.parquet",
        "data": f"{args.declarations:,} demo declarations (seed 1), {csv_path.stat().st_size / 2**20:.0f} MB flat CSV "
        f"-> risk frame Parquet",
    }

    print(f"converting {csv_path} to the risk frame ...", flush=True)
    results["convert"] = run_child("convert", csv_path, env, None)
    frame_path = FOLDER / "frame.parquet"
    results["convert"]["frame_parquet_mb"] = round(frame_path.stat().st_size / 2**20)
    check_conversion(frame_path, args.declarations)
    results["convert"]["checked_against_from_declarations"] = 2000

    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.risk import service
    from opencustoms.security.service import ensure_administration

    platform = Platform(Settings(database_url=env["OPENCUSTOMS_DATABASE_URL"], data_dir=FOLDER, administration="NL"))
    engine = platform.initialise()
    ensure_administration(engine, "NL", "Benchmark customs", "NL")
    operator = platform.operator()
    for profile in PROFILES:
        service.save_profile(engine, operator, profile)
    print(f"training on {args.train:,} declarations, calibrating on {args.valid:,} ...", flush=True)
    started = time.perf_counter()
    info = service.train_model(
        platform, operator, FOLDER / "train.parquet", FOLDER / "valid.parquet", layout="frame", promote=True
    )
    results["train"] = {
        "seconds": round(time.perf_counter() - started, 1),
        "rows": info["training_rows"],
        "valid_rows": args.valid,
        "model_version": info["version"],
        "valid_metrics": info["metrics"],
        "profiles": len(PROFILES),
    }
    engine.dispose()

    runs = {"as_is": None}
    if args.fixes:
        runs["with_fixes"] = args.fixes
    for label, fix in runs.items():
        print(f"scoring stage by stage ({label}) ...", flush=True)
        stages = run_child("stages", frame_path, env, fix)
        print(f"scoring through the CLI command ({label}) ...", flush=True)
        cli = run_child("cli", frame_path, env, fix)
        if cli["lanes"] != stages["lanes"]:
            raise SystemExit(f"the CLI and the stage-by-stage run disagree: {cli['lanes']} {stages['lanes']}")
        results[label] = {"fixes": fix.split(",") if fix else [], "stages": stages, "cli": cli}
        report(results, label, args.declarations)
    write("risk_score", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
