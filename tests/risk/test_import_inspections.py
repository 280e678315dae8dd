"""`opencustoms import-inspections FILE`: inspection history in bulk from CSV, JSON Lines or Parquet, through the
same recording as `risk inspect` (permission, checks, audit), idempotent on (reference, inspection date); bad rows
and rows for unknown declarations reported with row, column and reason; the model then trains from the store."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from opencustoms.api.app import create_app
from opencustoms.config import get_settings
from opencustoms.declarations import service as declarations
from opencustoms.declarations.errors import ImportFileError
from opencustoms.demo.generator import generate
from opencustoms.risk import service
from opencustoms.security import service as security
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity
from opencustoms.store.database import open_database
from opencustoms.store.tables import audit_log, inspection_results

MAPPING = """
[columns]
"Ref. declaración" = "reference"
"Resultado" = "outcome"
"Fecha" = "date"
"Monto recuperado" = "revenue"
"Inspector" = "officer"
"Hallazgos" = "findings"
"""


def _store(engine: Any, operator: Identity, n: int = 80) -> list[tuple[str, bool]]:
    out = []
    for data, truth in generate(n, seed=11, fraud_rate=0.3, days=120):
        declarations.create(engine, operator, data)
        out.append((truth.functional_reference_id, truth.fraud))
    return out


def _legacy_csv(path: Path, stored: list[tuple[str, bool]]) -> Path:
    """A legacy system's export: its own column names, outcomes as Sí/No-like 1/0 and yes/no, a few bad rows."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Ref. declaración", "Resultado", "Fecha", "Monto recuperado", "Inspector", "Hallazgos"])
        for i, (reference, fraud) in enumerate(stored):
            outcome = ("1" if fraud else "0") if i % 2 else ("yes" if fraud else "no")
            writer.writerow([reference, outcome, "2025-02-03", "250.5" if fraud else "", "m.garcia", "undervalued"])
        writer.writerow(["NO-SUCH-REF", "fraud", "2025-02-03", "", "", ""])  # row 82: unknown declaration
        writer.writerow([stored[0][0], "maybe", "2025-02-04", "", "", ""])  # row 83: outcome
        writer.writerow([stored[0][0], "fraud", "03/02/2025", "", "", ""])  # row 84: date
        writer.writerow([stored[0][0], "fraud", "2025-02-05", "-3", "", ""])  # row 85: revenue
        writer.writerow([stored[0][0], "fraud", "", "", "", ""])  # row 86: no date
    return path


def _inspections(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(inspection_results)).scalar_one()


def test_legacy_history_is_brought_once_and_the_model_learns_from_it(
    platform: Any, operator: Identity, tmp_path: Path
) -> None:
    engine = platform.engine
    stored = _store(engine, operator)
    with pytest.raises(Exception, match="no stored declarations with an inspection result"):
        service.train_model(platform, operator, None, None)
    (tmp_path / "legacy.toml").write_text(MAPPING, encoding="utf-8")
    file = _legacy_csv(tmp_path / "legacy.csv", stored)

    report = service.import_inspections(engine, operator, file, map_file=tmp_path / "legacy.toml", batch_size=7)
    assert (report.rows, report.recorded, report.already_recorded, report.rejected) == (85, 80, 0, 5)
    problems = {(p.row, p.field): p.reason for p in report.problems}
    assert problems.keys() == {
        (82, "Ref. declaración"),
        (83, "Resultado"),
        (84, "Fecha"),
        (85, "Monto recuperado"),
        (86, "Fecha"),
    }
    assert "no stored declaration has this reference" in problems[(82, "Ref. declaración")]
    assert "fraud or compliant" in problems[(83, "Resultado")]
    assert "YYYY-MM-DD" in problems[(84, "Fecha")] and "YYYY-MM-DD" in problems[(86, "Fecha")]
    assert _inspections(engine) == 80

    fraud = next(reference for reference, is_fraud in stored if is_fraud)
    [history] = declarations.inspection_history(engine, operator, fraud)
    assert history["outcome"] == "fraud" and float(history["revenue_recovered"]) == 250.5
    assert history["source"] == "import"
    assert history["detail"] == {"note": "undervalued", "inspected_on": "2025-02-03", "officer": "m.garcia"}
    with engine.connect() as conn:  # one audit entry per result, as `risk inspect` writes
        audited = conn.execute(select(func.count()).where(audit_log.c.action == "inspect")).scalar_one()
    assert audited == 80

    again = service.import_inspections(engine, operator, file, map_file=tmp_path / "legacy.toml")
    assert (again.recorded, again.already_recorded, again.rejected) == (0, 80, 5)
    assert _inspections(engine) == 80

    model = service.train_model(platform, operator, None, None, holdout=0)
    assert model["training_rows"] == 80


def test_jsonl_and_parquet_with_the_field_names(platform: Any, operator: Identity, tmp_path: Path) -> None:
    import polars as pl

    engine = platform.engine
    stored = _store(engine, operator, 6)
    jsonl = tmp_path / "results.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps({"reference": r, "outcome": fraud, "date": "2025-01-0" + str(i + 1), "revenue": 10 * i})
            for i, (r, fraud) in enumerate(stored[:3])
        )
        + '\n{"reference": "x"}\n',
        encoding="utf-8",
    )
    report = service.import_inspections(engine, operator, jsonl)
    assert (report.recorded, report.rejected) == (3, 1)
    assert report.problems[0].row == 4 and report.problems[0].field == "outcome"

    parquet = tmp_path / "results.parquet"
    pl.DataFrame(
        {
            "functional_reference_id": [r for r, _ in stored[3:]],
            "fraud": [f for _, f in stored[3:]],
            "inspection_date": [dt.date(2025, 1, 9)] * 3,
        }
    ).write_parquet(parquet)
    report = service.import_inspections(engine, operator, parquet)
    assert (report.recorded, report.rejected) == (3, 0)
    assert _inspections(engine) == 6


def test_a_file_without_the_needed_columns_names_them(platform: Any, operator: Identity, tmp_path: Path) -> None:
    file = tmp_path / "results.csv"
    file.write_text("declaration_ref,verdict\nA,fraud\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="no 'reference' or 'outcome' or 'date' column .*--map"):
        service.import_inspections(platform.engine, operator, file)
    (tmp_path / "map.toml").write_text('[columns]\nverdict = "lane"\n', encoding="utf-8")
    with pytest.raises(ImportFileError, match="maps 'verdict' to 'lane'; the fields are reference, outcome"):
        service.import_inspections(platform.engine, operator, file, map_file=tmp_path / "map.toml")


def test_the_permission_of_risk_inspect(platform: Any, operator: Identity, tmp_path: Path) -> None:
    file = tmp_path / "results.csv"
    file.write_text("reference,outcome,date\nA,fraud,2025-01-01\n", encoding="utf-8")
    analyst = Identity.of("reader", "NL", ["risk_analyst"])
    with pytest.raises(PermissionDeniedError):
        service.import_inspections(platform.engine, analyst, file)


def test_the_command_reports_and_writes_the_problems(
    platform: Any, operator: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opencustoms.cli import app

    stored = _store(platform.engine, operator, 4)
    file = tmp_path / "results.csv"
    rows = [f"{r},{'fraud' if f else 'compliant'},2025-03-01" for r, f in stored] + ["GHOST,fraud,2025-03-01"]
    file.write_text("reference,outcome,date\n" + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(platform.settings.data_dir))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["import-inspections", str(file), "--report", str(tmp_path / "p.csv")])
    finally:
        get_settings.cache_clear()
        open_database.cache_clear()
    assert result.exit_code == 0, result.output
    assert "results.csv: 4 inspection results recorded, 0 already recorded, 1 rejected" in result.output
    [problem] = list(csv.DictReader((tmp_path / "p.csv").open(encoding="utf-8")))
    assert (problem["row"], problem["reference"], problem["field"]) == ("6", "GHOST", "reference")


def test_the_api_batch(platform: Any, operator: Identity) -> None:
    engine = platform.engine
    stored = _store(engine, operator, 3)
    security.create_user(engine, operator, "olga", "NL", ["officer"])
    security.create_user(engine, operator, "dora", "NL", ["data_protection_officer"])
    olga = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'olga')}"}
    dora = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'dora')}"}
    body = {
        "results": [{"reference": r, "outcome": "yes" if f else "no", "date": "2025-04-01"} for r, f in stored]
        + [{"reference": stored[0][0], "outcome": "fraud", "date": "tomorrow"}]
    }
    with TestClient(create_app(platform)) as client:
        assert client.post("/risk/inspections/batch", json=body, headers=dora).status_code == 403
        r = client.post("/risk/inspections/batch", json=body, headers=olga)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert (answer["recorded"], answer["rejected"]) == (3, 1)
        assert answer["problems"][0] | {"reason": ""} == {
            "row": 4,
            "reference": stored[0][0],
            "field": "date",
            "value": "tomorrow",
            "reason": "",
        }
        again = client.post("/risk/inspections/batch", json=body, headers=olga).json()
        assert (again["recorded"], again["already_recorded"]) == (0, 3)
        assert client.post("/risk/inspections/batch", json={"results": []}, headers=olga).status_code == 422
