"""Install the dashboard on the API's FastAPI app: static files (htmx and Leaflet vendored), the page routers, and
HTML error pages for the dashboard's paths (the API keeps its RFC 9457 problems)."""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from opencustoms.errors import OpenCustomsError
from opencustoms.web import core
from opencustoms.web.routes import aeo, analyst, auth, documents, exchange, iot, oidc, risk, tariff, verify

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, oidc, risk, documents, verify, tariff, aeo, iot, analyst, exchange):
        app.include_router(module.router)

    previous_domain = app.exception_handlers.get(OpenCustomsError)
    previous_http = app.exception_handlers.get(StarletteHTTPException)

    async def domain_error(request: Request, exc: Exception) -> Response:
        if core.is_web(request) or previous_domain is None:
            return core.error_response(request, exc)
        result = previous_domain(request, exc)
        return await result if inspect.isawaitable(result) else result

    async def http_error(request: Request, exc: Exception) -> Response:
        if core.is_web(request) or previous_http is None:
            return core.error_response(request, exc)
        result = previous_http(request, exc)
        return await result if inspect.isawaitable(result) else result

    async def login_required(request: Request, exc: Exception) -> Response:
        return core.error_response(request, exc)

    app.add_exception_handler(OpenCustomsError, domain_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(core.LoginRequired, login_required)
