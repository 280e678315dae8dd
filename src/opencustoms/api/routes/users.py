from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.security import service as security
from opencustoms.security.roles import Role

router = APIRouter(prefix="/users", tags=["users"])


class NewUser(BaseModel):
    username: str
    roles: list[Role] = Field(min_length=1)
    full_name: str | None = None
    administration_code: str | None = None


class NewToken(BaseModel):
    label: str | None = None
    valid_days: int | None = Field(
        default=None,
        description="Days the token is valid; omitted: the administration's maximum (OPENCUSTOMS_TOKEN_MAX_DAYS). "
        "Tokens always expire: null is refused, and so is more than the maximum or than the caller's own token.",
    )

    @field_validator("valid_days")
    @classmethod
    def _expires(cls, value: int | None) -> int | None:
        if value is None:  # only when sent as null: an omitted field keeps its default without validation
            raise ValueError(
                "must be a number of days: tokens always expire (omit it for the administration's maximum)"
            )
        return value


@router.get("")
def list_users(platform: PlatformDep, identity: IdentityDep) -> list[dict[str, Any]]:
    return security.list_users(platform.engine, identity)


@router.post("", status_code=201)
def create_user(body: NewUser, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return security.create_user(
        platform.engine,
        identity,
        body.username,
        body.administration_code or identity.administration_code,
        body.roles,
        body.full_name,
    )


@router.post("/{username}/tokens", status_code=201)
def issue_token(username: str, body: NewToken, platform: PlatformDep, identity: IdentityDep) -> dict[str, str]:
    """A new API token; shown once, stored only as a hash."""
    token = security.issue_token(
        platform.engine, identity, username, body.label, body.valid_days, max_days=platform.settings.token_max_days
    )
    return {"username": username, "token": token}


@router.get("/me")
def whoami(identity: IdentityDep) -> dict[str, Any]:
    return {
        "username": identity.username,
        "administration_code": identity.administration_code,
        "roles": sorted(identity.roles),
        "permissions": sorted(identity.permissions),
    }
