"""The demo's declarations as the risk engine's frame (:mod:`opencustoms.demo.frames`), and the risk commands that
run on them (``opencustoms risk evaluate --demo N``, ``opencustoms risk simulate --demo N``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opencustoms.cli import app
from opencustoms.demo.frames import demo_frame, evaluate_demo, simulate_demo
from opencustoms.demo.generator import generate
from opencustoms.risk.errors import RiskDataError

SMALL = {"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 15, "verbose": -1}


def test_demo_frame_carries_the_generator_truth() -> None:
    frame, truth = demo_frame(600, seed=4)
    expected = list(generate(600, seed=4))
    assert frame.height == truth.height == 600
    assert (
        frame["reference"].to_list() == truth["reference"].to_list() == [t.functional_reference_id for _, t in expected]
    )
    assert frame["label"].to_list() == [int(t.fraud) for _, t in expected]
    assert truth["pattern"].to_list() == [t.pattern for _, t in expected]
    assert frame["revenue"].to_list() == [float(t.revenue_at_stake) for _, t in expected]
    assert 0 < frame["label"].sum() < 600


def test_a_demo_evaluation_needs_a_thousand_declarations() -> None:
    with pytest.raises(RiskDataError) as caught:
        evaluate_demo(999)
    assert caught.value.field == "demo"
    with pytest.raises(RiskDataError) as caught:
        simulate_demo(0)
    assert caught.value.field == "demo"


def test_simulate_demo_passes_the_demo_frame_to_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay itself is tested in tests/risk/test_model.py; here: the demo frame and the options reach it."""
    from opencustoms.risk import service

    seen: dict = {}

    def replay(data, *, frame, progress=None, **options):
        seen.update(data=data, frame=frame, options=options)
        return {"weeks": []}

    monkeypatch.setattr(service, "simulate", replay)
    assert simulate_demo(300, ramp_weeks=2, target_rate=0.1) == {"weeks": []}
    assert seen["data"] is None and seen["options"] == {"ramp_weeks": 2, "target_rate": 0.1}
    assert seen["frame"].equals(demo_frame(300)[0])


def test_risk_simulate_demo_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import opencustoms.demo.frames

    calls: list = []

    def fake(n, **options):
        calls.append((n, options))
        return {"weeks": [], "summary": {"precision": 0.25, "perfect_precision": 0.75}}

    monkeypatch.setattr(opencustoms.demo.frames, "simulate_demo", fake)
    result = CliRunner().invoke(app, ["risk", "simulate", "--demo", "500", "--ramp-weeks", "3"])
    assert result.exit_code == 0, result.output
    assert calls[0][0] == 500 and calls[0][1]["ramp_weeks"] == 3 and calls[0][1]["seed"] == 0
    assert "precision 0.250 against a perfect 0.750" in result.output


@pytest.mark.slow
def test_risk_evaluate_demo_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "evaluation.json"
    result = CliRunner().invoke(app, ["risk", "evaluate", "--demo", "1000", "--output", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {p["pattern"] for p in data["patterns"]} <= {
        "undervaluation",
        "misclassification",
        "origin_masking",
        "risky_importer_cluster",
    }
    assert data["patterns"] and "recall per injected fraud pattern" in result.output
