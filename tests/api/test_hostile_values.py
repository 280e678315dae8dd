"""Values JSON can carry but no answer can repeat — NaN, infinities, a number too large for a float, text with an
unpaired UTF-16 surrogate — get a 4xx naming what is wrong, never a 500 (issue #12: found by the security review
after the fuzzing; the problem answer echoed them, or the database refused them)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from gate_helpers import installation

from conftest import sample_declaration
from opencustoms.api import create_app


@pytest.fixture
def client(sqlite_template, tmp_path):  # type: ignore[no-untyped-def]
    with installation(sqlite_template, tmp_path) as site, TestClient(create_app(site.platform)) as client:
        client.site = site  # type: ignore[attr-defined]
        yield client


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("body", ["1e400", '{"label": NaN}', '{"valid_days": Infinity}', '{"label": "\\ud800"}'])
def test_unrepeatable_values_in_a_refused_body_are_a_4xx(client, body: str) -> None:  # type: ignore[no-untyped-def]
    headers = {**client.site.headers("officer"), **JSON}
    r = client.post("/users/officer/tokens", content=body, headers=headers)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_an_unpaired_surrogate_is_refused_on_public_and_stored_paths(client) -> None:  # type: ignore[no-untyped-def]
    public = client.post("/documents/verify", content='{"data": {"a": "\\ud800"}, "signature": {}}', headers=JSON)
    assert 400 <= public.status_code < 500, public.text
    obfuscate = client.post("/documents/obfuscate", content='"\\ud800"', headers=JSON)
    assert 400 <= obfuscate.status_code < 500, obfuscate.text
    declaration = sample_declaration("LRN-SURROGATE")
    raw = json.dumps(declaration).replace('"Tulip Trading BV"', '"Tulip \\ud800 BV"')
    stored = client.post("/declarations", content=raw, headers={**client.site.headers("officer"), **JSON})
    assert 400 <= stored.status_code < 500, stored.text
    assert stored.json()["errors"][0]["field"] == "importer.name"
    label = client.post(
        "/users/officer/tokens", content='{"label": "\\ud800"}', headers={**client.site.headers("officer"), **JSON}
    )
    assert 400 <= label.status_code < 500, label.text
