"""`/hs/...` over HTTP: suggestions (batch, limits, field-naming refusals), explain, the model versions."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from opencustoms.api import create_app
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.declarations import service as declarations
from opencustoms.demo.generator import generate
from opencustoms.security import service as security


@pytest.fixture
def api(engine: Any, database_url: str, tmp_path: Any, operator: Any) -> Any:
    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path))
    tokens = {}
    for name, role in (("olga", "officer"), ("ana", "risk_analyst"), ("dev", "device"), ("pat", "partner")):
        security.create_user(engine, operator, name, None, [role])
        tokens[name] = {"Authorization": f"Bearer {security.issue_token(engine, operator, name)}"}
    with TestClient(create_app(platform)) as client:
        yield client, tokens


def test_suggest_batch_and_explain(api: Any) -> None:
    client, tokens = api
    body = {"descriptions": ["men's knitted cotton T-shirts", "frozen boneless bovine meat"], "top_k": 3}
    r = client.post("/hs/suggest", json=body, headers=tokens["olga"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["method"] == "lexical" and [len(s) for s in out["suggestions"]] == [3, 3]
    first = out["suggestions"][0][0]
    assert first["code"] == "610910" and first["path"][0]["level"] == "section"
    assert out["suggestions"][1][0]["code"].startswith("02")
    r = client.get("/hs/explain/6109", headers=tokens["pat"])  # the nomenclature is for any signed-in caller
    assert r.status_code == 200 and [s["code"] for s in r.json()["path"]] == ["XI", "61", "6109"]
    r = client.get("/hs/explain/6199", headers=tokens["olga"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"descriptions": []}, "descriptions"),
        ({"descriptions": ["x" * 2001]}, "descriptions"),
        ({"descriptions": ["  "]}, "descriptions"),
        ({"descriptions": ["tea"] * 101}, "descriptions"),
        ({"descriptions": ["tea"], "top_k": 0}, "top_k"),
        ({"descriptions": ["tea"], "method": "oracle"}, "method"),
        ({"descriptions": ["tea"], "extra": 1}, "extra"),
    ],
)
def test_bad_requests_name_the_field(api: Any, body: dict[str, Any], field: str) -> None:
    client, tokens = api
    r = client.post("/hs/suggest", json=body, headers=tokens["olga"])
    assert r.status_code == 422, r.text
    assert any(e["field"].split(".")[0].split("[")[0] == field for e in r.json()["errors"]), r.json()


def test_who_may(api: Any) -> None:
    client, tokens = api
    body = {"descriptions": ["tea"]}
    assert client.post("/hs/suggest", json=body).status_code == 401
    assert client.post("/hs/suggest", json=body, headers=tokens["dev"]).status_code == 403
    assert client.post("/hs/suggest", json=body, headers=tokens["pat"]).status_code == 403
    assert client.get("/hs/models", headers=tokens["olga"]).status_code == 403
    assert client.post("/hs/models", json={}, headers=tokens["olga"]).status_code == 403


def test_train_promote_and_suggest_from_history(api: Any, engine: Any, operator: Any) -> None:
    client, tokens = api
    r = client.post("/hs/models", json={}, headers=tokens["ana"])
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "training_rows"
    results = []
    for data, truth in generate(300, seed=4, fraud_rate=0.2, days=60):
        declarations.create(engine, operator, data)
        results.append(
            declarations.InspectionResult(truth.functional_reference_id, "fraud" if truth.fraud else "compliant")
        )
    declarations.record_inspections(engine, operator, results, source="test")
    r = client.post("/hs/models", json={"promote": True}, headers=tokens["ana"])
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    assert [m["version"] for m in client.get("/hs/models", headers=tokens["ana"]).json()] == [version]
    r = client.post("/hs/suggest", json={"descriptions": ["laptop computers"]}, headers=tokens["ana"])
    assert r.json()["method"] == "model" and r.json()["model_version"] == version
    assert client.post("/hs/models/nope/promote", headers=tokens["ana"]).status_code == 404
    r = client.post("/hs/signals", json={}, headers=tokens["ana"])
    assert r.status_code == 200 and set(r.json()) == {"signals", "new", "declarations", "revenue_at_stake"}
    assert client.post("/hs/signals", json={}, headers=tokens["olga"]).status_code == 403
    r = client.post("/hs/signals", json={"threshold": 0.1}, headers=tokens["ana"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "threshold"
