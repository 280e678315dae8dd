from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opencustoms import __version__
from opencustoms.api.deps import PlatformDep
from opencustoms.declarations import service as declarations
from opencustoms.store import database

router = APIRouter(tags=["health"])


@router.get("/health")
def health(platform: PlatformDep) -> JSONResponse:
    """Liveness and database readiness (no token needed)."""
    body: dict[str, Any] = {"status": "ok", "version": __version__}
    try:
        body["schema_revision"] = database.current_revision(platform.engine)
        body["database"] = "ok"
    except Exception as exc:  # report, don't crash: this is what monitoring polls
        body.update(status="degraded", database=f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}")
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/schema/declaration", tags=["declarations"])
def declaration_schema() -> dict[str, Any]:
    """The JSON Schema of a declaration (WCO Data Model names)."""
    return declarations.schema()
