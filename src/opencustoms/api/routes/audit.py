from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.security import service as security

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
def read_audit(
    platform: PlatformDep,
    identity: IdentityDep,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Who read or changed what, newest first (data-protection officers, supervisors, administrators)."""
    return security.read_audit(
        platform.engine, identity, object_type=object_type, object_id=object_id, who=actor, limit=limit
    )


@router.get("/verify")
def verify_audit(platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Check the audit log's hash chain end to end (permission audit:read): ``ok``, the entries checked, and when
    something was edited, removed, inserted or reordered, ``first_bad_id`` and ``problem`` naming the first bad
    entry. Signed heads must carry the administration key's signature; ``warning`` when the newest signed head is
    overdue (entries after it may have been cut). The check is itself audited."""
    return security.verify_audit(
        platform.engine,
        identity,
        key_file=security.audit_signing_key_file(platform.settings),
        sign_interval_minutes=platform.settings.audit_sign_interval_minutes,
    )
