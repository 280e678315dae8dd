"""Errors as RFC 9457 problem details (application/problem+json), with field-level detail."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from opencustoms.errors import OpenCustomsError

MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update(extra or {})
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field_errors(errors: list[Any], drop_prefix: tuple[str, ...] = ("body", "query", "path")) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        if loc and loc[0] in drop_prefix:
            loc = loc[1:]
        message = str(e.get("msg", ""))
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        out.append({"field": ".".join(loc), "message": message, "value": _echoable(e.get("input"))})
    return out


def _echoable(value: Any) -> Any:
    """The refused value as the answer may repeat it: a scalar that JSON can carry (not NaN or infinite, not text
    holding an unpaired surrogate), else None — echoing it must not turn a 422 into a 500."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value
    return value if isinstance(value, int | bool) or value is None else None


def _unpaired_text(request: Request) -> JSONResponse:
    return problem(
        400, "Invalid text", UNPAIRED, errors=[{"field": "body", "message": UNPAIRED}], instance=request.url.path
    )


UNPAIRED = (
    "the request carries text with an unpaired UTF-16 surrogate (an escape from \\ud800 to \\udfff without its "
    "pair), which is not Unicode and cannot be stored or shown; send the text as UTF-8"
)


def install(app: FastAPI) -> None:
    @app.exception_handler(OpenCustomsError)
    async def _domain(request: Request, exc: OpenCustomsError) -> JSONResponse:
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(exc.status, exc.title, exc.message, errors=errors, headers=headers, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(list(exc.errors()))
        detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid request", detail, errors=errors, instance=request.url.path)

    @app.exception_handler(ValidationError)
    async def _model(request: Request, exc: ValidationError) -> JSONResponse:
        errors = _field_errors(list(exc.errors(include_url=False)))
        detail = "; ".join(f"{e['field'] or 'input'}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid input", detail, errors=errors, instance=request.url.path)

    @app.exception_handler(UnicodeEncodeError)
    async def _unpaired(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return _unpaired_text(request)

    @app.exception_handler(PydanticSerializationError)
    async def _unserialisable(request: Request, exc: PydanticSerializationError) -> JSONResponse:
        if "surrogate" not in str(exc):
            raise exc
        return _unpaired_text(request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSED:  # FastAPI could not read the body: say why
            message = (
                _TOO_DEEP
                if isinstance(exc.__cause__, RecursionError)
                else "the request body could not be read; "
                "check that the Content-Type header names what is sent (application/json, or a form) and that the "
                "body is well-formed"
            )
            return problem(
                400,
                "Unreadable request body",
                message,
                errors=[{"field": "body", "message": message}],
                instance=request.url.path,
            )
        return problem(exc.status_code, str(exc.detail), str(exc.detail), instance=request.url.path)


_UNPARSED = "There was an error parsing the body"  # FastAPI's words when reading the body raised
_TOO_DEEP = (
    "the request body nests arrays or objects more deeply than a parser can follow (about 1,000 levels); send the "
    "JSON of ordinary data, a few levels deep"
)
