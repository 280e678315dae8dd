"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from opencustoms import __version__
from opencustoms.api import docs, gate, openapi, problems
from opencustoms.api.routes import audit, declarations, health, reference, users
from opencustoms.context import Platform
from opencustoms.security import access
from opencustoms.security import service as security
from opencustoms.store.registry import PILLARS, pillar_module

log = logging.getLogger(__name__)

LANDING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OpenCustoms</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;line-height:1.5}</style>
</head><body><h1>OpenCustoms {version}</h1>
<p>Open-source customs platform: risk targeting, AEO transparency ledger, verifiable trade documents and IoT cargo
monitoring, on one WCO-named data model.</p>
<ul><li><a href="/ui/">Officer dashboard</a></li><li><a href="/docs">API documentation (OpenAPI)</a></li>
<li><a href="/health">Health</a></li>
<li><a href="/schema/declaration">Declaration JSON Schema</a></li></ul>
<p>Calls need an API token: <code>Authorization: Bearer oc_…</code> (<code>opencustoms users token USERNAME</code>).</p>
</body></html>"""


async def _sign_audit_heads(platform: Platform) -> None:
    """Sign the audit chain's head every OPENCUSTOMS_AUDIT_SIGN_INTERVAL_MINUTES while the server runs (the first
    after one interval); a failure is logged and tried again at the next interval."""
    interval = platform.settings.audit_sign_interval_minutes * 60
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(security.sign_audit_head_on_schedule, platform.engine, platform.settings)
        except Exception:  # noqa: BLE001 - the server keeps serving; the next interval tries again
            log.exception("could not sign the audit log's head; `opencustoms audit sign` does it by hand")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At start-up, before the first request is accepted: each pillar's ``service.warm(platform)``, when it has one
    (the risk engine loads its promoted model and profiles); then, while serving, the audit head's signing."""
    platform: Platform = app.state.platform
    for pillar in PILLARS:
        service = pillar_module(f"opencustoms.{pillar}.service")
        if service is not None and hasattr(service, "warm"):
            await run_in_threadpool(service.warm, platform)
    signer = None
    if platform.settings.audit_sign_interval_minutes > 0:
        signer = asyncio.create_task(_sign_audit_heads(platform))
    try:
        yield
    finally:
        if signer is not None:
            signer.cancel()


def create_app(platform: Platform | None = None) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        docs_url=None,  # served by api/docs.py from vendored files (offline), not from a CDN
        redoc_url=None,
        title="OpenCustoms",
        version=__version__,
        description="One API over declarations, reference data, risk, ledger, documents and IoT. Errors are "
        "RFC 9457 problem details (application/problem+json) with field-level detail.",
    )
    app.state.platform = platform or Platform.from_environment()
    problems.install(app)
    docs.install(app)
    for module in (health, declarations, reference, users, audit):
        app.include_router(module.router)
    for pillar in PILLARS:
        routes = pillar_module(f"opencustoms.api.routes.{pillar}")
        if routes is not None:
            app.include_router(routes.router)
    web = pillar_module("opencustoms.web.app")  # the officer dashboard, when installed
    if web is not None:
        web.install(app)

        @app.get("/", include_in_schema=False)
        def dashboard() -> RedirectResponse:
            return RedirectResponse("/ui/")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing() -> str:
        return LANDING.replace("{version}", __version__)

    # the authorisation table, enforced before any body is read; a route without an entry stops the start here
    app.add_middleware(gate.Gate, routes=gate.compile_routes(app))
    openapi.document(app, access.ROUTES)
    return app
