"""Long risk jobs report their phases (opencustoms.progress): training, scoring a file, scoring the backlog."""

from __future__ import annotations

import json

from risk_helpers import SMALL, store_inspected

from conftest import sample_declaration
from opencustoms.declarations import service as declarations
from opencustoms.risk import service
from progress_recorder import Recorder


def test_training_reports_every_phase_and_each_boosting_round(platform, operator) -> None:  # type: ignore[no-untyped-def]
    store_inspected(platform.engine, operator, 160)
    progress = Recorder()
    row = service.train_model(platform, operator, None, None, params=SMALL, progress=progress)
    assert progress.names() == [
        "reading the stored inspected declarations",
        "building features",
        "fitting the model (boosting rounds)",
        "calibrating on the validation split",
        "evaluating on held-out data",
        "saving the model",
    ]
    assert progress.of("reading")[1] == 160
    assert progress.of("building features") == (row["training_rows"], row["training_rows"])
    assert progress.of("fitting the model") == (SMALL["n_estimators"], SMALL["n_estimators"])  # LightGBM's rounds
    assert progress.unfinished() == []


def test_scoring_a_file_and_the_backlog_report_their_phases(platform, operator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        declarations.create(platform.engine, operator, sample_declaration(f"LRN-P{i}"))
    source = tmp_path / "declarations.jsonl"
    source.write_text("\n".join(json.dumps(sample_declaration(f"LRN-F{i}")) for i in range(3)) + "\n")
    progress = Recorder()
    service.score_file(platform, operator, source, layout="native", output=tmp_path / "lanes.csv", progress=progress)
    assert progress.names() == ["reading the file", "features, scores and lanes", "writing the decisions"]
    assert progress.of("features") == (3, 3) and progress.unfinished() == []

    progress = Recorder()
    summary = service.score_backlog(platform, operator, progress=progress)
    assert progress.names() == ["reading the backlog", "features, scores and lanes", "storing the decisions"]
    assert summary["declarations"] == 5
    assert progress.of("reading the backlog") == (None, 5) and progress.of("storing") == (5, 5)
    assert progress.unfinished() == []
