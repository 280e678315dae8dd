"""Dependencies: the platform (settings, engine, pseudonymiser) and the caller's identity from a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from opencustoms.context import Platform
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError
from opencustoms.security.service import Identity

_bearer = HTTPBearer(auto_error=False, description="An API token from `opencustoms users token USERNAME`.")


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def get_identity(
    platform: Annotated[Platform, Depends(get_platform)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    if credentials is None:
        raise AuthenticationError(
            "this endpoint needs an API token: send 'Authorization: Bearer oc_...' "
            "(get one with `opencustoms users token USERNAME`)"
        )
    return security.authenticate(platform.engine, credentials.credentials)


PlatformDep = Annotated[Platform, Depends(get_platform)]
IdentityDep = Annotated[Identity, Depends(get_identity)]
