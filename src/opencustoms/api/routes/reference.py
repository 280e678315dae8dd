from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.reference import codes
from opencustoms.reference import service as reference

router = APIRouter(prefix="/reference", tags=["reference"])


@router.get("/hs")
def hs_editions(platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Available HS editions (shipped in the package or loaded) and their number of codes."""
    return {"editions": reference.count_codes(platform.engine)}


@router.get("/hs/{code}")
def hs_code(code: str, platform: PlatformDep, identity: IdentityDep, edition: str | None = None) -> dict[str, Any]:
    """An HS code's description, its chapter/heading lineage and its subdivisions."""
    return reference.describe_hs(platform.engine, code, edition)


@router.get("/containers/{number}")
def container(number: str, identity: IdentityDep) -> dict[str, Any]:
    """Check an ISO 6346 container number (owner code, category, serial, check digit)."""
    value = codes.check_container_number(number, "number")
    return {
        "container_id": value,
        "owner_code": value[:3],
        "category": codes.CONTAINER_CATEGORIES[value[3]],
        "serial": value[4:10],
        "check_digit": int(value[10]),
    }
