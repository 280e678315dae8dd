"""Fuzzing the whole API with Schemathesis, in-process against the ASGI app, as an administrator (or, on the routes
an administrator may not call, a role that may): no input may get a 5xx, and every answer must be one the OpenAPI
document lists, with its media type and schema.

Bounded for the suite (a few thousand requests in all: ``MAX_EXAMPLES`` per operation), derandomised so that a
failure reproduces, with Hypothesis' deadline and too_slow health check off for loaded machines.
"""

from __future__ import annotations

import schemathesis
from gate_helpers import installation
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from opencustoms.api import create_app
from opencustoms.security import access
from opencustoms.security.roles import ROLE_PERMISSIONS, Role


@schemathesis.serializer("application/jose")
def _compact_jws(ctx, value) -> bytes:  # type: ignore[no-untyped-def]
    """A compact JWS (POST /exchange/inbox) is text: the generated string is sent as it is."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else str(value).encode()


MAX_EXAMPLES = 25
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the bound stays the bound
    suppress_health_check=list(HealthCheck),
)


def test_no_input_gets_a_server_error_or_an_undocumented_answer(sqlite_template, tmp_path) -> None:
    """Every operation of the OpenAPI document, ``MAX_EXAMPLES`` generated requests each; the failures of all
    operations are collected and reported together."""
    with installation(sqlite_template, tmp_path) as site:
        app = create_app(site.platform)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        failures = {}
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 50
        for operation in operations:
            role = _caller(operation.method.upper(), operation.path)
            failure = _fuzz(operation, {"Authorization": site.tokens[role]})
            if failure is not None:
                failures[operation.label] = failure
        assert failures == {}, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())


def _caller(method: str, path: str) -> str:
    """The administrator, or where the gate would refuse them, the first role that may call the route: every
    route's handler gets fuzzed, not only its 403."""
    entry = access.entry(method, path)
    assert entry is not None
    for role in (Role.ADMINISTRATOR, Role.SUPERVISOR, Role.OFFICER, Role.RISK_ANALYST, Role.DEVICE, Role.PARTNER):
        if entry.allows(ROLE_PERMISSIONS[role]):
            return role.value
    raise AssertionError(f"no role may call {method} {path}")


def _fuzz(operation, headers: dict[str, str]) -> str | None:  # type: ignore[no-untyped-def]
    """``MAX_EXAMPLES`` generated requests to one operation: None, or what went wrong."""

    @given(case=operation.as_strategy())
    @SETTINGS
    def call(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # reported with every other operation's
        return f"{exc.__class__.__name__}: {str(exc)[:3000]}"
    return None
