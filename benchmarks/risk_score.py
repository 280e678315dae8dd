"""Benchmark: 1,000,000 declarations from file to lanes with reasons (target <= 15 s, peak memory <= 3 GB).

What is timed is the path of `opencustoms risk score FILE --layout frame --output decisions.parquet`
(cli.risk.score -> risk.service.score_file -> read_frame, pseudonymise_parties, current_model, decide_frame ->
model.matrix, predict_proba, lanes.assign, contributions for the declarations not sent to green, write_decisions).

Steps, each heavy one in its own child process so its peak RSS (resource.getrusage) is its own:

  convert  the flat CSV (one row per goods item, written by benchmarks/import_declarations.py from the demo
           generator, seed 1; generated here when missing) -> one row per declaration in the risk frame's columns
           (Parquet) by risk.frame.flat_to_frame (what `--layout flat` reads); timed separately, NOT part of the
           CLI figure (which reads the frame Parquet). It is checked against
           risk.frame.from_declarations on the first 2,000 generated declarations.
  train    (in this process) 3 risk profiles are saved, and a model is trained, registered and promoted through
           risk.service.train_model on the 40,000 oldest declarations (labels from ground_truth.csv), calibrated
           on the next 10,000; its trees are compiled once (risk.service.compile_model, what
           `opencustoms risk models compile` does; timed apart, cached next to the model file).
  stages   score_file's steps one by one, timed apart (same functions, same order as decide_frame).
  cli      the CLI command itself, in-process in the child (`opencustoms risk score ...`), timed end to end;
           the child's wall time including Python start-up and imports is reported beside it.

Usage: python benchmarks/risk_score.py [--declarations N] [--train 40000] [--valid 10000] [--no-compile]
Results: benchmarks/results/risk_score.json (the run of the code as it is and, with --fixes, the run with those
proposed fixes monkeypatched in).
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, WORK, machine, write

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

    from opencustoms.risk.frame import flat_to_frame

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


FIXES: tuple[str, ...] = ()  # lanes, reasons, path attributions, isolation scores are in src/opencustoms/risk now


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


def _apply_fix(names: str | None) -> None:
    """Proposed fixes to risk source files, applied here by monkeypatching to measure their effect (the fixes
    themselves belong in src/opencustoms/risk/ and are described in docs/risk.md, section Speed)."""
    if not names:
        return
    for name in names.split(","):
        raise SystemExit(f"unknown fix {name!r}; choose from {', '.join(FIXES) or 'none'}")


def check_saabas(model, x) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Saabas contributions add up to the raw score; how often their top feature is TreeSHAP's top feature."""
    import numpy as np

    saabas, bias = model.path_attributions(x)
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
    version, model = service.batch_model(platform.engine)  # type: ignore[misc]
    profiles = service.load_profiles(platform.engine)
    policy = service.lane_policy(platform)
    lap("load model, profiles, policy")
    base = model.builder_.transform(frame)  # type: ignore[union-attr]
    lap("features (FeatureBuilder.transform)")
    x = model._with_anomaly(base)
    lap("anomaly score (IsolationForest)")
    scores = model.predict_proba(frame, x=x)
    lap("model scores (LightGBM, calibration)")
    # as decide_frame: the reasons' attribution table is built in the background while the lanes are assigned
    background = ThreadPoolExecutor(1)
    table = background.submit(model.path_table)  # type: ignore[union-attr]
    decisions = lane_rules.assign(frame, scores, profiles, policy, seed=0, signals=None, thresholds=None)
    lap("lanes and reasons (lanes.assign)")
    table.result()
    background.shutdown()
    decisions = service._with_contributions(decisions, frame, model, x)
    lap("top contributions, not-green rows")
    out = FOLDER / "decisions-stages.parquet"
    service.write_decisions(decisions, out)
    lap("write decisions (Parquet)")
    extra: dict[str, Any] = {"compiled_trees": model.compiled_ is not None}  # type: ignore[union-attr]
    if fix:
        started = time.perf_counter()
        for trees in (100, 250):
            started = time.perf_counter()
            model.booster_.predict(x, num_iteration=trees)  # type: ignore[union-attr]
            extra[f"LightGBM predict, first {trees} of {model.booster_.num_trees()} trees, s"] = round(  # type: ignore[union-attr]
                time.perf_counter() - started, 2
            )
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
        default="",
        help="after the as-is run, run again with these proposed fixes monkeypatched in (default none): "
        + ", ".join(FIXES),
    )
    parser.add_argument("--no-compile", action="store_true", help="do not compile the trees (LightGBM scores)")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the previous run's frame and compiled model: only score again"
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
    reuse = args.reuse and (FOLDER / "bench.db").exists() and (RESULTS / "risk_score.json").exists()
    if not reuse:
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

    frame_path = FOLDER / "frame.parquet"
    if reuse:  # the converted frame, the trained and compiled model of the previous run: only score again
        previous = json.loads((RESULTS / "risk_score.json").read_text())
        results["convert"], results["train"] = previous["convert"], previous["train"]
        results["reused_from_previous_run"] = ["convert", "train", "compile"]
    else:
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

        platform = Platform(
            Settings(database_url=env["OPENCUSTOMS_DATABASE_URL"], data_dir=FOLDER, administration="NL")
        )
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
        if not args.no_compile:
            print("compiling the trees (once per model version) ...", flush=True)
            compiled = service.compile_model(platform, operator)
            results["train"]["compile"] = compiled | {"compiled": Path(compiled["compiled"]).name}
            results["train"]["compile"]["load_average_1m"] = round(os.getloadavg()[0], 2)
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
