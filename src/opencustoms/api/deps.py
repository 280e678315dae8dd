"""Dependencies: the platform (settings, engine, pseudonymiser) and the caller's identity from a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from opencustoms.api.gate import IDENTITY_KEY
from opencustoms.context import Platform
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError
from opencustoms.security.service import Identity

_bearer = HTTPBearer(auto_error=False, description="An API token from `opencustoms users token USERNAME`.")


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_identity(
    request: Request,
    platform: Annotated[Platform, Depends(get_platform)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """The identity the gate authenticated for this request (api/gate.py); authenticated here only for a request
    that did not pass through the gate."""
    identity: Identity | None = request.scope.get(IDENTITY_KEY)
    if identity is not None:
        return identity
    if credentials is None:
        raise AuthenticationError(
            "this endpoint needs an API token: send 'Authorization: Bearer oc_...' "
            "(get one with `opencustoms users token USERNAME`)"
        )
    return await run_in_threadpool(security.authenticate, platform.engine, credentials.credentials)


async def get_language(request: Request) -> str:
    """The language the caller reads (its Accept-Language header; English when it asks for none the platform
    speaks): reasons and messages are said in it."""
    from opencustoms.wording import negotiate

    return negotiate(request.headers.get("accept-language"))


PlatformDep = Annotated[Platform, Depends(get_platform)]
LanguageDep = Annotated[str, Depends(get_language)]
IdentityDep = Annotated[Identity, Depends(get_identity)]
