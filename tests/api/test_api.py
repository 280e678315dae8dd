from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient

from conftest import sample_declaration
from opencustoms.api import create_app
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.security import service as security


@pytest.fixture
def api(engine, database_url, tmp_path, operator):
    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path, max_upload_bytes=200_000))
    tokens = {}
    for name, role in (("olga", "officer"), ("ana", "risk_analyst"), ("adm", "administrator"), ("dev", "device")):
        security.create_user(engine, operator, name, None, [role])
        tokens[name] = {"Authorization": f"Bearer {security.issue_token(engine, operator, name)}"}
    with TestClient(create_app(platform)) as client:
        yield client, tokens


def test_health_and_landing(api) -> None:
    client, _ = api
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert "/docs" in client.get("/").text
    assert client.get("/openapi.json").json()["info"]["title"] == "OpenCustoms"


def test_auth_is_required_and_errors_are_problem_json(api) -> None:
    client, tokens = api
    r = client.get("/declarations")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert "Bearer" in r.json()["detail"]
    r = client.get("/declarations", headers={"Authorization": "Bearer oc_nope"})
    assert r.status_code == 401
    r = client.get("/declarations", headers=tokens["dev"])
    assert r.status_code == 403 and "declarations:read" in r.json()["detail"]


def test_create_read_search(api) -> None:
    client, tokens = api
    r = client.post("/declarations", json=sample_declaration(), headers=tokens["olga"])
    assert r.status_code == 201, r.text
    r = client.post("/declarations", json=sample_declaration(), headers=tokens["olga"])
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "functional_reference_id"
    r = client.get("/declarations/LRN-0001", headers=tokens["olga"])
    assert r.json()["declaration"]["importer"]["name"] == "Tulip Trading BV" and not r.json()["pseudonymised"]
    r = client.get("/declarations/LRN-0001", headers=tokens["ana"])
    assert r.json()["pseudonymised"] and r.json()["declaration"]["importer"]["id"].startswith("p_")
    r = client.get("/declarations", params={"hs_prefix": "8471", "origin_country_code": "cn"}, headers=tokens["olga"])
    assert r.json()["total"] == 1
    assert client.get("/declarations/NOPE", headers=tokens["olga"]).status_code == 404


def test_read_gives_the_codes_by_name(api) -> None:
    client, tokens = api
    data = sample_declaration(national_extensions={"kr.import_use": "21"})
    assert client.post("/declarations", json=data, headers=tokens["olga"]).status_code == 201
    english = client.get("/declarations/LRN-0001", headers=tokens["olga"]).json()["labels"]
    assert english["transport_mode"] == "maritime transport" and english["document_types"] == {
        "861": "Certificate of origin"
    }
    assert english["countries"]["CN"] == "China" and english["hs"]["847130"]["lang"] == "en"
    assert english["national"] == [{"key": "kr.import_use", "country": "KR", "name": "Import use", "value": "21"}]
    # a reader of pseudonyms gets the same names, and no party's name among them
    french = client.get("/declarations/LRN-0001", params={"lang": "fr"}, headers=tokens["ana"]).json()
    assert french["pseudonymised"] and french["labels"]["countries"]["CN"] == "Chine"
    assert french["labels"]["transport_mode"] == "transport maritime" and "Tulip" not in str(french)
    wrong = client.get("/declarations/LRN-0001", params={"lang": "de"}, headers=tokens["olga"])
    assert wrong.status_code == 422 and "lang" in wrong.text


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("goods_items", 0, "hs_code"), "12", "goods_items.0.hs_code"),
        (("goods_items", 0, "origin_country_code"), "XX", "goods_items.0.origin_country_code"),
        (("goods_items", 0, "customs_value_currency"), "ABC", "goods_items.0.customs_value_currency"),
        (("goods_items", 0, "customs_value_amount"), -1, "goods_items.0.customs_value_amount"),
        (("transport", "container_ids", 0), "CSQU3054384", "transport.container_ids.0"),
    ],
)
def test_bad_declarations_get_422_naming_the_field(api, path, value, field) -> None:
    client, tokens = api
    data = sample_declaration()
    target = data
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    r = client.post("/declarations", json=data, headers=tokens["olga"])
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]
    assert client.get("/declarations", headers=tokens["olga"]).json()["total"] == 0  # nothing half-written


def test_missing_field_gets_422(api) -> None:
    client, tokens = api
    data = sample_declaration()
    del data["declarant"]
    r = client.post("/declarations", json=data, headers=tokens["olga"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "declarant"


def test_bulk_import_reports_rows_and_limits_size(api) -> None:
    import json

    client, tokens = api
    lines = [json.dumps(sample_declaration("A")), json.dumps(sample_declaration("B", acceptance_date="soon"))]
    files = {"file": ("batch.jsonl", "\n".join(lines).encode(), "application/x-ndjson")}
    r = client.post("/declarations/import", files=files, headers=tokens["olga"])
    body = r.json()
    assert r.status_code == 200 and body["accepted"] == 1 and body["rejected"] == 1
    assert body["problems"][0] == {
        "row": 2,
        "reference": "B",
        "field": "acceptance_date",
        "value": "soon",
        "reason": body["problems"][0]["reason"],
    }
    assert body["problems"][0]["reason"].startswith("'soon' is not a date; write the date as YYYY-MM-DD")
    again = client.post("/declarations/import", files=files, headers=tokens["olga"]).json()
    assert (again["accepted"], again["already_stored"], again["rejected"]) == (0, 1, 1)  # A is not "rejected"
    assert again["zeros_restored"] == 0 and again["references_generated"] == 0 and again["notices"] == []
    big = {"file": ("big.csv", io.BytesIO(b"x" * 300_000), "text/csv")}
    r = client.post("/declarations/import", files=big, headers=tokens["olga"])
    assert r.status_code == 413 and "OPENCUSTOMS_MAX_UPLOAD_BYTES" in r.json()["detail"]


def test_reference_users_and_audit(api) -> None:
    client, tokens = api
    assert client.get("/reference/containers/csqu 305438 3", headers=tokens["olga"]).json()["check_digit"] == 3
    r = client.get("/reference/containers/MSCU1234567", headers=tokens["olga"])
    assert r.status_code == 422 and "should be 6" in r.json()["detail"]
    r = client.get("/reference/hs/847130", headers=tokens["olga"])  # the HS editions shipped in the package
    assert r.status_code == 200 and r.json()["edition"] == "2022" and r.json()["lineage"][-1]["code"] == "847130"
    r = client.get("/reference/hs/847130?edition=1996", headers=tokens["olga"])
    assert r.status_code == 422 and "load-hs" in r.json()["detail"]
    r = client.post("/users", json={"username": "new", "roles": ["officer"]}, headers=tokens["adm"])
    assert r.status_code == 201
    assert (
        client.post("/users", json={"username": "x", "roles": ["officer"]}, headers=tokens["olga"]).status_code == 403
    )
    # an administrator (parties pseudonymised) takes no token for an officer: it would read parties as them
    refused = client.post("/users/new/tokens", json={}, headers=tokens["adm"])
    assert refused.status_code == 403 and "personal_data:read" in refused.json()["detail"]
    assert client.post("/users", json={"username": "ops", "roles": ["administrator"]}, headers=tokens["adm"])
    token = client.post("/users/ops/tokens", json={}, headers=tokens["adm"]).json()["token"]
    assert client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).json()["roles"] == ["administrator"]
    client.post("/declarations", json=sample_declaration(), headers=tokens["olga"])
    client.get("/declarations/LRN-0001", headers=tokens["olga"], params={"purpose": "inspection 42"})
    rows = client.get("/audit", params={"object_type": "declaration"}, headers=tokens["adm"]).json()
    assert [(r["actor"], r["action"], r["purpose"]) for r in rows][:2] == [
        ("olga", "read", "inspection 42"),
        ("olga", "create", None),
    ]
