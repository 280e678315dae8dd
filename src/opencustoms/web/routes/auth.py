"""Sign in (username and password, or username and API token), sign out, switch language, the home page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from opencustoms.exchange import service as exchange
from opencustoms.iot import service as iot
from opencustoms.risk import service as risk
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page
from opencustoms.web.session import MAX_AGE_S

router = APIRouter(prefix=PREFIX, include_in_schema=False)
METHODS = ("password", "token")


def _safe_next(target: str | None) -> str:
    """Only a path on this dashboard (never another site) is a place to go after signing in."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


def _method(value: object) -> str:
    return value if isinstance(value, str) and value in METHODS else "password"


def login_page(page: Page, *, status: int = 200, method: str = "password", **context: Any) -> Response:
    """The sign-in page; with OPENCUSTOMS_OIDC_ISSUER set it also offers the identity provider."""
    settings = page.platform.settings
    provider = settings.oidc_provider_name if settings.oidc_issuer else None
    return page.render("login.html", status=status, method=method, provider=provider, **context)


@router.get("/login")
def login_form(
    request: Request, next: str | None = None, problem: str | None = None, method: str | None = None
) -> Response:
    page = Page(request)
    chosen = _method(method)
    errors = {chosen: problem} if problem else {}
    return login_page(page, next=_safe_next(next), values={}, errors=errors, method=chosen)


@router.post("/login")
async def login(request: Request) -> Response:
    page = Page(request)
    form = await page.form()
    # without a method field (a script posting username + token, as before passwords): the token form
    method = _method(form.get("method") or ("token" if "token" in form else None))
    username, secret = str(form.get("username") or ""), str(form.get(method) or "")
    target = _safe_next(str(form.get("next") or ""))
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = page._("Give your username.")
    if not secret:
        errors[method] = (
            page._("Give your password.")
            if method == "password"
            else page._("Give your API token (it starts with oc_).")
        )
    if not errors and method == "password":
        try:
            _, token = await run_in_threadpool(
                security.sign_in_with_password,
                page.engine,
                username,
                secret,
                page.platform.settings,
                session_seconds=MAX_AGE_S,
            )
        except AuthenticationError:
            # the same words whatever went wrong (unknown user, wrong password, locked): the audit log says which
            errors["password"] = page._(
                "Wrong username or password. After repeated failures, sign-in pauses for a few minutes."
            )
        else:
            page.session.login(token, minted=True)
            return page.redirect(target)
    elif not errors:
        try:
            identity = security.authenticate(page.engine, secret)
        except AuthenticationError as exc:
            errors["token"] = exc.message
        else:
            if identity.username != username:
                errors["token"] = page._("This token does not belong to this username.")
            else:
                page.session.login(secret)
                return page.redirect(target)
    return login_page(page, status=422, next=target, values={"username": username}, errors=errors, method=method)


@router.post("/logout")
async def logout(request: Request) -> Response:
    page = Page(request)
    await page.form()
    if page.session.minted and page.session.token and page.identity is not None:
        await run_in_threadpool(security.end_session, page.engine, page.identity, page.session.token)
    page.session.logout()
    return page.redirect(PREFIX + "/login")


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    page = Page(request)
    user = page.user()
    lanes = risk.lane_counts(page.engine, user) if user.can(Permission.DECLARATIONS_READ) else {}
    stats = iot.stats(page.engine, user) if user.can(Permission.DECLARATIONS_READ) else None
    received = exchange.inbox_counts(page.engine, user) if user.can(Permission.DECLARATIONS_READ) else None
    return page.render("home.html", lanes=lanes, stats=stats, received=received)
