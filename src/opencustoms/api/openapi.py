"""The OpenAPI document tells which errors each route can answer, derived from the authorisation table: 401 and 403
where the gate checks a token and permissions, 404 where the input names something, 409 on writes, 413 where a
body is sent, 400 and 422 where there is input to refuse — each as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from opencustoms.api.problems import MEDIA_TYPE
from opencustoms.security.access import Access, Credential

DESCRIPTIONS = {
    400: "Bad request",
    401: "No token, or a token that is unknown, revoked, expired or whose user is disabled",
    403: "The caller lacks the permission this route needs (the problem names it and the roles that grant it)",
    404: "Not found",
    409: "Conflict with what is stored (already exists, or changed meanwhile)",
    413: "The request body is over this route's limit",
    422: "Invalid input; `errors` names each field",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "value": {}},
            },
        },
        "permissions": {"type": "array", "items": {"type": "string"}},
        "roles": {"type": "array", "items": {"type": "string"}},
    },
}

_BODY_METHODS = frozenset({"post", "put", "patch"})


def statuses(access: Access, method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses a route can answer, from its entry and its shape."""
    out = set(access.extra)
    if access.credential in (Credential.TOKEN, Credential.DEVICE):
        out.add(401)
        if access.needs:
            out.add(403)
    if access.write:
        out.add(409)
    if method in _BODY_METHODS:
        out.add(413)
    if operation.get("parameters") or operation.get("requestBody") or method in _BODY_METHODS:
        out.update((400, 422))
        if not access.public or "{" in path:
            out.add(404)  # the path, the query or the body names something that may not exist
    return out


def document(app: FastAPI, table: dict[tuple[str, str], Access]) -> None:
    """Make ``app.openapi()`` list the problem answers of every route (replacing FastAPI's own 422 schema, which
    is not what the API answers)."""
    generate = app.openapi
    done: set[int] = set()

    def openapi() -> dict[str, Any]:
        schema = generate()
        if id(schema) in done:
            return schema
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM_SCHEMA
        problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                access = table.get((method.upper(), path))
                if access is None:
                    continue
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status in sorted(statuses(access, method, path, operation)):
                    responses[str(status)] = {"description": DESCRIPTIONS[status], "content": problem}
        for unused in ("HTTPValidationError", "ValidationError"):
            if not _referenced(schema, unused):
                components.pop(unused, None)
        done.add(id(schema))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _referenced(schema: dict[str, Any], name: str) -> bool:
    import json

    text = json.dumps({k: v for k, v in schema.items() if k != "components"})
    others = {k: v for k, v in schema.get("components", {}).get("schemas", {}).items() if k != name}
    return f"#/components/schemas/{name}" in text + json.dumps(others)
