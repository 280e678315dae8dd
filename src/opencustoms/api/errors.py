"""Errors the API's own layer raises (the gate, request limits); services raise their packages' errors."""

from __future__ import annotations

from starlette.exceptions import HTTPException as StarletteHTTPException

from opencustoms.errors import ConfigurationError, OpenCustomsError


class RequestTooLargeError(OpenCustomsError, StarletteHTTPException):
    """A request body over its route's limit (docs/security.md, "Request bodies").

    It is also a Starlette HTTPException so that FastAPI's body parsing lets it through unchanged (any other
    exception raised while a body is read becomes a 400 "error parsing the body")."""

    status = 413
    title = "Request too large"

    def __init__(self, message: str, *, field: str | None = "body") -> None:
        OpenCustomsError.__init__(self, message, field=field)
        StarletteHTTPException.__init__(self, status_code=413, detail=message)

    def __str__(self) -> str:
        return self.message


class GateConfigurationError(ConfigurationError):
    """A route of the app has no entry in the authorisation table: the app refuses to start."""

    title = "Route without an authorisation entry"
