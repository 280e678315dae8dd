"""The authorisation matrix: every route of the OpenAPI document, called with a token of every role and with no,
garbage, revoked, disabled-user and expired tokens. Bad tokens get 401 on every route that is not public; a role
gets 403 exactly when it lacks the route's permission (the gate's answer, naming it) and never 403 when it holds it
(so the table and the services agree). A route that has no entry in the table fails here, and the app refuses to
start without one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gate_helpers import BROKEN, installation

from opencustoms.api import create_app
from opencustoms.security import access
from opencustoms.security.roles import ROLE_PERMISSIONS, Role


@pytest.fixture(scope="module")
def matrix(sqlite_template, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Every (route, caller) answer, from one installation (the gate's decisions do not depend on the database)."""
    with installation(sqlite_template, tmp_path_factory.mktemp("matrix")) as site:
        app = create_app(site.platform)
        with TestClient(app, raise_server_exceptions=False) as client:
            answers = {}
            for method, path in _operations(app.openapi()):
                for who in [*(r.value for r in Role), *BROKEN]:
                    url = _fill(path, who)
                    kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                    r = client.request(method, url, headers=site.headers(who), **kwargs)
                    body = r.json() if r.headers.get("content-type", "").endswith("json") else None
                    answers[(method, path, who)] = (r.status_code, r.headers.get("content-type", ""), body)
        yield answers


def _operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m.upper(), path) for path, ops in schema["paths"].items() for m in ops]


def _fill(path: str, who: str) -> str:
    """Dummy path parameters; a user asking for their own token names themselves; a holder is named by a pseudonym
    (a trader id is refused, 403, to readers without personal data: the service's rule, not the gate's)."""
    if path == "/users/{username}/tokens":
        return f"/users/{who.replace('_', '-')}/tokens"
    if path == "/ledger/holders/{holder_id}/certificates":
        return "/ledger/holders/p_" + "0" * 24 + "/certificates"
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_openapi_route_has_an_entry(sqlite_template, tmp_path) -> None:
    with installation(sqlite_template, tmp_path) as site:
        missing = [op for op in _operations(create_app(site.platform).openapi()) if access.entry(*op) is None]
        assert missing == []


def test_bad_tokens_get_401_on_every_route_that_is_not_public(matrix) -> None:
    wrong = {}
    for (method, path, who), (status, media, body) in matrix.items():
        if who not in BROKEN:
            continue
        entry = access.entry(method, path)
        assert entry is not None
        if entry.public:
            if status in (401, 403):
                wrong[(method, path, who)] = status
        elif status != 401 or media != "application/problem+json":
            wrong[(method, path, who)] = (status, body)
    assert wrong == {}


def test_a_role_gets_403_exactly_when_it_lacks_the_permission(matrix) -> None:
    wrong = {}
    for (method, path, who), (status, _media, body) in matrix.items():
        if who in BROKEN:
            continue
        entry = access.entry(method, path)
        assert entry is not None
        allowed = entry.public or entry.allows(ROLE_PERMISSIONS[Role(who)])
        if allowed and status in (401, 403):
            wrong[(method, path, who)] = ("refused although allowed", status, body)
        if not allowed:
            clause = entry.missing(ROLE_PERMISSIONS[Role(who)])
            assert clause is not None
            if status != 403 or set(body.get("permissions", ())) != {p.value for p in clause}:
                wrong[(method, path, who)] = ("not refused by the gate", status, body)
    assert wrong == {}


def test_the_matrix_covers_every_role_and_each_refusal_names_the_roles_that_may(matrix) -> None:
    callers = {who for (_, _, who) in matrix}
    assert callers == {r.value for r in Role} | set(BROKEN)
    refused = [(body, who) for (_, _, who), (status, _, body) in matrix.items() if status == 403 and who not in BROKEN]
    assert refused, "no role is refused anywhere: the matrix is not exercising the gate"
    for body, who in refused:
        assert who not in body["roles"] and body["roles"], body
