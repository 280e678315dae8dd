"""The gate refuses before reading: a request without a token, without the permission or with a body over its
route's limit is answered before the body is pulled, and a streamed body is cut off as soon as it passes the limit."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from gate_helpers import installation, repeated, stream

from opencustoms.api import create_app
from opencustoms.api.errors import GateConfigurationError
from opencustoms.security import access

MiB = 1024 * 1024


@pytest.fixture
def site(sqlite_template, tmp_path):  # type: ignore[no-untyped-def]
    with installation(sqlite_template, tmp_path, max_upload_bytes=200_000) as site:
        yield site


@pytest.fixture
def app(site):  # type: ignore[no-untyped-def]
    return create_app(site.platform)


def test_a_300_mb_event_batch_without_a_token_is_refused_before_its_body_is_read(app) -> None:
    # streamed (chunked): no Content-Length to refuse on, so only an early 401 keeps the body unread
    r = stream(app, "POST", "/iot/events", repeated(b"x" * MiB, 300), {"content-type": "text/plain"})
    assert r.status == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.pulled == 0


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(app, site) -> None:
    headers = {"content-length": str(300 * MiB), "authorization": site.tokens["device"]}
    r = stream(app, "POST", "/iot/events", repeated(b"x" * MiB, 300), headers)
    assert r.status == 413 and r.pulled == 0
    problem = json.loads(r.body)
    assert "OPENCUSTOMS_MAX_EVENT_BATCH_BYTES" in problem["detail"] and "/iot/events" in problem["detail"]


def test_a_streamed_100_mb_import_is_cut_off_at_the_limit(app, site) -> None:
    boundary = "gateboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "authorization": site.tokens["officer"]}
    chunk = b"x" * (64 * 1024)
    r = stream(app, "POST", "/declarations/import", repeated(chunk, 1600, first=head), headers)
    assert r.status == 413, r.body
    assert "OPENCUSTOMS_MAX_UPLOAD_BYTES" in json.loads(r.body)["detail"]
    # the limit is 200,000 bytes plus 64 KiB of framing: five 64 KiB chunks pass it; 1,600 were on offer
    assert r.pulled <= 6


def test_the_permission_is_checked_before_the_body_is_read(app, site) -> None:
    headers = {"authorization": site.tokens["partner"], "content-type": "application/json"}
    r = stream(app, "POST", "/declarations", repeated(b" " * MiB, 100), headers)
    assert r.status == 403 and r.pulled == 0
    problem = json.loads(r.body)
    assert problem["permissions"] == ["declarations:write"]
    assert problem["roles"] == ["administrator", "officer", "supervisor"]
    assert "declarations:write" in problem["detail"] and "officer" in problem["detail"]


def test_a_json_body_over_the_ordinary_limit_is_refused(app, site) -> None:
    client = TestClient(app)
    body = {"username": "x" * (100 * 1024), "roles": ["officer"]}
    r = client.post("/users", json=body, headers={"Authorization": site.tokens["administrator"]})
    assert r.status_code == 413 and "OPENCUSTOMS_MAX_REQUEST_BYTES" in r.json()["detail"]
    r = client.post("/users", json={"username": "fine", "roles": ["officer"]}, headers=site.headers("administrator"))
    assert r.status_code == 201, r.text


def test_a_body_nested_too_deep_for_the_parser_is_a_clear_400_naming_the_body(app, site) -> None:
    """Under the body limit but 100,000 levels deep: the process's recursion limit is sane (no library raised it),
    so the parser stops, and the answer says what is wrong and what to send instead (was a bare 'There was an error
    parsing the body')."""
    import sys

    assert sys.getrecursionlimit() <= 10_000
    client = TestClient(app)
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    headers = {**site.headers("risk_analyst"), "content-type": "application/json"}
    r = client.post("/risk/what-if", content=deep, headers=headers)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"] == [{"field": "body", "message": r.json()["detail"]}]
    assert "nests arrays or objects more deeply" in r.json()["detail"]


def test_a_dashboard_form_over_its_limit_gets_a_page_not_json(app) -> None:
    r = stream(
        app, "POST", "/ui/logout", repeated(b"x" * MiB, 50), {"content-type": "application/x-www-form-urlencoded"}
    )  # /ui/logout: a public form (/ui/login takes only OPENCUSTOMS_MAX_REQUEST_BYTES, tests/web/test_signin.py)
    assert r.status == 413 and r.headers["content-type"].startswith("text/html")
    assert b"OPENCUSTOMS_MAX_FORM_BYTES" in r.body and r.pulled <= 2


def test_the_identity_is_authenticated_once(app, site, monkeypatch) -> None:
    from opencustoms.security import service as security

    calls = []
    real = security.authenticate
    monkeypatch.setattr(security, "authenticate", lambda *a: calls.append(a) or real(*a))
    r = TestClient(app).get("/users/me", headers=site.headers("officer"))
    assert r.status_code == 200 and r.json()["username"] == "officer"
    assert len(calls) == 1


def test_a_route_without_an_entry_stops_the_start(site, monkeypatch) -> None:
    from opencustoms.api.routes import health

    extra = APIRouter()

    @extra.get("/unlisted")
    def unlisted() -> dict[str, str]:
        return {}

    monkeypatch.setattr(health, "router", _with(health.router, extra))
    with pytest.raises(GateConfigurationError, match="GET /unlisted"):
        create_app(site.platform)


def test_every_entry_is_a_route_of_the_app(app) -> None:
    """A renamed or removed route leaves no stale entry behind."""
    from opencustoms.api.gate import app_routes

    routes = {(method, path) for _, path, methods in app_routes(app) for method in methods}
    assert sorted(set(access.ROUTES) - routes) == []


def _with(router: APIRouter, extra: APIRouter) -> APIRouter:
    combined = APIRouter()
    combined.include_router(router)
    combined.include_router(extra)
    return combined
