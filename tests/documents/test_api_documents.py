"""The documents API: public verification, size limits, clear errors, issuing with a token."""

from __future__ import annotations

import json

import pytest
from documents_helpers import coo_record
from fastapi.testclient import TestClient

from opencustoms.api import create_app
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.documents import service as documents
from opencustoms.documents.config import get_document_settings
from opencustoms.security import service as security


@pytest.fixture
def api(engine, database_url, tmp_path, operator):
    get_document_settings.cache_clear()
    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path))
    documents.record_issuer(engine, operator, "Dutch Customs", "customs.nl.example")  # what `init` records
    security.create_user(engine, operator, "sue", None, ["supervisor"])
    security.create_user(engine, operator, "pat", None, ["partner"])
    tokens = {
        name: {"Authorization": f"Bearer {security.issue_token(engine, operator, name)}"} for name in ("sue", "pat")
    }
    with TestClient(create_app(platform)) as client:
        yield client, tokens


def test_issue_then_public_verification(api) -> None:
    client, tokens = api
    assert client.post("/documents", json={"template": "coo", "records": [coo_record()]}).status_code == 401
    r = client.post("/documents", json={"template": "coo", "records": [coo_record()]}, headers=tokens["pat"])
    assert r.status_code == 403
    r = client.post("/documents", json={"template": "coo", "records": [coo_record()]}, headers=tokens["sue"])
    assert r.status_code == 201, r.text
    document = r.json()["documents"][0]
    r = client.post("/documents/verify", content=json.dumps(document), headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["valid"], r.text
    assert [f["verdict"] for f in r.json()["fragments"]] == ["VALID", "VALID", "VALID"]
    r = client.post("/documents/verify/upload", files={"file": ("coo.json", json.dumps(document).encode())})
    assert r.json()["valid"]
    hidden = client.post("/documents/obfuscate", json={"document": document, "fields": ["importer"]}).json()
    assert client.post("/documents/verify", json=hidden).json()["hidden_field_count"] == 3
    assert client.get("/documents/COO-2025-77", headers=tokens["pat"]).json() == document
    assert client.get("/documents/COO-2025-77/pdf", headers=tokens["sue"]).content.startswith(b"%PDF")
    r = client.post("/documents/revoke", json={"target": "COO-2025-77", "reason": "test"}, headers=tokens["sue"])
    assert r.status_code == 200
    r = client.post("/documents/verify", json=document)
    assert not r.json()["valid"] and r.json()["fragments"][1]["verdict"] == "INVALID"


def test_certificate_downloads(api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The certificate page (en/fr), its PDF and its .json file; their QR code opens the public /verify page."""
    client, tokens = api
    r = client.post("/documents", json={"template": "coo", "records": [coo_record()]}, headers=tokens["sue"])
    document = r.json()["documents"][0]
    assert client.get("/documents/COO-2025-77/json").status_code == 401  # a token is needed, as for the document
    downloaded = client.get("/documents/COO-2025-77/json", headers=tokens["sue"])
    assert downloaded.status_code == 200 and downloaded.headers["content-type"] == "application/json"
    assert downloaded.headers["content-disposition"] == 'attachment; filename="COO-2025-77.json"'
    assert downloaded.json() == document
    assert client.post("/documents/verify", content=downloaded.content).json()["valid"]  # the file verifies as is
    page = client.get("/documents/COO-2025-77/print", headers=tokens["sue"])
    assert page.status_code == 200 and "<h1>Certificate of origin</h1>" in page.text
    assert "http://testserver/verify?q=%7B%22type%22%3A%22DOCUMENT%22" in page.text  # the request's own address
    french = client.get("/documents/COO-2025-77/print", params={"lang": "fr"}, headers=tokens["sue"])
    assert "Certificat d&#39;origine" in french.text
    refused = client.get("/documents/COO-2025-77/print", params={"lang": "de"}, headers=tokens["sue"])
    assert refused.status_code == 422 and "lang" in refused.text
    pdf = client.get("/documents/COO-2025-77/pdf", params={"lang": "fr"}, headers=tokens["sue"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"] == 'inline; filename="COO-2025-77.pdf"'
    assert b"/URI (http://testserver/verify?q=" in pdf.content
    assert client.get("/documents/NOPE/json", headers=tokens["sue"]).status_code == 404


def test_bad_uploads_get_clear_refusals(api) -> None:
    client, _ = api
    r = client.post("/documents/verify", content=b'{"version": "x", ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "malformed JSON" in r.json()["detail"]
    big = b" " * (50 * 1024 * 1024)
    r = client.post("/documents/verify", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    r = client.post("/documents/verify/upload", files={"file": ("big.json", big)})
    assert r.status_code == 413
    r = client.post("/documents/verify", json={"version": "https://schema.openattestation.com/9.0/schema.json"})
    assert r.status_code == 200 and not r.json()["valid"]
    assert r.json()["fragments"][0]["verdict"] == "ERROR" and "unsupported" in r.json()["fragments"][0]["reason"]
    assert client.get("/documents/verify/qr", params={"q": "nonsense"}).status_code == 422


def test_evm_sync_needs_the_permission_and_an_evm_store(api) -> None:
    client, tokens = api
    r = client.post("/documents/evm-sync", json={"hash": "ab" * 32}, headers=tokens["pat"])
    assert r.status_code == 403
    r = client.post("/documents/evm-sync", json={"hash": "ab" * 32}, headers=tokens["sue"])
    assert r.status_code == 400 and "EVM_RPC_URL" in r.json()["detail"], r.text
