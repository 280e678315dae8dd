from __future__ import annotations

import csv
from pathlib import Path

from rich.console import Console

from opencustoms.demo import run


def test_demo_check_runs_the_whole_pipeline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run.main(check=True, count=300, seed=3, host="127.0.0.1", port=0, console=Console(quiet=True))
    truth = list(csv.DictReader((tmp_path / "var" / "demo" / "ground_truth.csv").open()))
    assert len(truth) == 300 and any(t["fraud"] == "1" for t in truth)
    tokens = (tmp_path / "var" / "demo" / "tokens.txt").read_text().splitlines()
    assert [t.split("\t")[0] for t in tokens] == ["officer", "analyst", "admin"]
    assert (tmp_path / "var" / "demo" / "tokens.txt").stat().st_mode & 0o777 == 0o600
