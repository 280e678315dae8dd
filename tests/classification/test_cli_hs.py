"""`opencustoms hs ...` from the command line: suggest, explain, train, models, promote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opencustoms.cli import app
from opencustoms.config import get_settings
from opencustoms.declarations import service as declarations
from opencustoms.demo.generator import generate
from opencustoms.security.service import Identity
from opencustoms.store.database import open_database

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    get_settings.cache_clear()
    open_database.cache_clear()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    run("init", "--administration", "NL", "--name", "Dutch Customs")
    yield run
    get_settings.cache_clear()
    open_database.cache_clear()


def test_evaluate_on_labelled_descriptions(cli: Any, tmp_path: Path) -> None:
    labelled = tmp_path / "rulings.csv"
    labelled.write_text("description,hs6\nmen's knitted cotton T-shirts,610910\nfrozen boneless bovine meat,020230\n")
    out = json.loads(cli("hs", "evaluate", str(labelled), "--json"))
    assert out["rows"] == 2 and out["lexical"]["chapter_top1"] == 1.0 and "model" not in out
    lines = tmp_path / "r.jsonl"
    lines.write_text('{"text": "frozen boneless bovine meat", "expected_hs_code": "020230"}\n')
    assert "1 descriptions" in cli("hs", "evaluate", str(lines))
    bad = tmp_path / "bad.csv"
    bad.write_text("description,code\ntea,0902\n")
    assert "6-digit code" in cli("hs", "evaluate", str(bad), code=1)
    assert "no file at" in cli("hs", "evaluate", str(tmp_path / "none.csv"), code=1)


def test_suggest_and_explain(cli: Any) -> None:
    out = json.loads(cli("hs", "suggest", "men's knitted cotton T-shirts", "frozen shrimp", "--top", "3", "--json"))
    assert out["method"] == "lexical" and len(out["suggestions"]) == 2
    assert out["suggestions"][0][0]["code"] == "610910"
    assert "610910" in cli("hs", "suggest", "men's knitted cotton T-shirts")
    text = cli("hs", "explain", "6109")
    assert "Textiles and textile articles" in text and "610990" in text
    assert "not in HS 2022" in cli("hs", "explain", "6199", code=1)
    assert "top_k" in cli("hs", "suggest", "tea", "--top", "50", code=1)
    assert "no HS model is promoted" in cli("hs", "suggest", "tea", "--method", "model", code=1)


def test_train_models_promote(cli: Any) -> None:
    engine = open_database(get_settings().database_url)
    operator = Identity.of("op", "NL", ["supervisor"])
    results = []
    for data, truth in generate(300, seed=3, fraud_rate=0.2, days=60):
        declarations.create(engine, operator, data)
        results.append(
            declarations.InspectionResult(truth.functional_reference_id, "fraud" if truth.fraud else "compliant")
        )
    declarations.record_inspections(engine, operator, results, source="test")
    out = cli("hs", "train")
    assert "candidate" in out and "combined" in out
    version = out.split()[2]
    assert version in cli("hs", "models")
    assert "now in service" in cli("hs", "promote", version)
    answer = json.loads(cli("hs", "suggest", "laptop computers", "--json"))
    assert answer["method"] == "model" and answer["model_version"] == version
    assert "no HS model version" in cli("hs", "promote", "h0-none", code=1)
    assert "misclassification signal(s)" in cli("hs", "check")
    labelled = Path("labelled.csv")
    labelled.write_text("description,hs_code\nlaptop computers,847130\n")
    evaluated = json.loads(cli("hs", "evaluate", str(labelled), "--json"))
    assert evaluated["model_version"] == version and evaluated["combined"]["hs6_top1"] == 1.0
    assert "threshold" in cli("hs", "check", "--threshold", "0.2", code=1)
