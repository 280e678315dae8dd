"""Dependencies: the platform (settings, engine, pseudonymiser) and the caller's identity from a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from opencustoms.api.gate import IDENTITY_KEY
from opencustoms.context import Platform
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError
from opencustoms.security.service import Identity
from opencustoms.web.i18n import negotiate

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


PlatformDep = Annotated[Platform, Depends(get_platform)]
IdentityDep = Annotated[Identity, Depends(get_identity)]


async def get_language(
    accept_language: Annotated[
        str | None, Header(description="The reader's languages (en, fr): texts meant for officers are written in it")
    ] = None,
) -> str:
    """The first language of the caller's Accept-Language header the platform speaks, else English."""
    return negotiate(accept_language)


LanguageDep = Annotated[str, Depends(get_language)]
