"""Sign in with the administration's OpenID Connect provider: leave for the provider, come back with a code
(security.oidc speaks the protocol, security.service.sign_in_with_oidc opens the session)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from opencustoms.security import oidc
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError
from opencustoms.web.core import PREFIX, Page, session_key
from opencustoms.web.routes.auth import _safe_next, login_page
from opencustoms.web.session import FLOW_COOKIE, FLOW_MAX_AGE_S, MAX_AGE_S, seal_flow, unseal_flow

router = APIRouter(prefix=PREFIX, include_in_schema=False)
CALLBACK = PREFIX + "/login/oidc/callback"


def _config(page: Page) -> oidc.OidcConfig:
    config = oidc.OidcConfig.from_settings(page.platform.settings)
    if config is None:
        raise StarletteHTTPException(404, "OpenID Connect sign-in is not configured (OPENCUSTOMS_OIDC_ISSUER)")
    return config


def _redirect_uri(request: Request) -> str:
    return str(request.base_url).rstrip("/") + CALLBACK


def _failed(page: Page, target: str, reason: str) -> Response:
    provider = page.platform.settings.oidc_provider_name
    message = page._("Sign-in with %(provider)s failed: %(reason)s", provider=provider, reason=reason)
    response = login_page(page, status=401, next=target, values={}, errors={"oidc": message})
    response.delete_cookie(FLOW_COOKIE, path=PREFIX + "/login/oidc")
    return response


@router.get("/login/oidc")
async def oidc_start(request: Request, next: str | None = None) -> Response:
    page = Page(request)
    config = _config(page)
    target = _safe_next(next)
    try:
        flow = await run_in_threadpool(oidc.start, config, _redirect_uri(request))
    except AuthenticationError as exc:
        return _failed(page, target, exc.message)
    response = page.redirect(flow.url)
    response.set_cookie(
        FLOW_COOKIE,
        seal_flow({"s": flow.state, "n": flow.nonce, "v": flow.verifier, "x": target}, session_key(page.platform)),
        max_age=FLOW_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=PREFIX + "/login/oidc",
    )
    return response


@router.get("/login/oidc/callback")
async def oidc_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    page = Page(request)
    config = _config(page)
    flow = unseal_flow(request.cookies.get(FLOW_COOKIE), session_key(page.platform))
    target = _safe_next(str(flow.get("x") or "") if flow else None)
    if error:
        answer = (error_description or error)[:300]
        return _failed(page, target, page._("the provider answered: %(error)s", error=answer))
    if flow is None or not state or state != flow.get("s") or not code:
        return _failed(page, target, page._("the sign-in did not start here or took too long; try again"))
    try:
        claims = await run_in_threadpool(
            oidc.finish, config, _redirect_uri(request), code, str(flow["n"]), str(flow["v"])
        )
        username = oidc.username_of(config, claims)
        _, token = await run_in_threadpool(
            security.sign_in_with_oidc,
            page.engine,
            username,
            page.platform.settings,
            session_seconds=MAX_AGE_S,
            issuer=config.issuer,
            subject=str(claims.get("sub")),
        )
    except AuthenticationError as exc:
        return _failed(page, target, exc.message)
    page.session.login(token, minted=True)
    # the browser came here from the provider's site: a redirect now would still be part of that cross-site
    # navigation and go without the SameSite=Strict session cookie; a page of ours moving on starts a new one
    response = page.render("signed_in.html", target=target)
    response.delete_cookie(FLOW_COOKIE, path=PREFIX + "/login/oidc")
    return response
