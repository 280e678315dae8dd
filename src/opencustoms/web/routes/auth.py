"""Sign in with a username and an API token, sign out, switch language, the home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencustoms.iot import service as iot
from opencustoms.risk import service as risk
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this dashboard (never another site) is a place to go after signing in."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


@router.get("/login")
def login_form(request: Request, next: str | None = None, problem: str | None = None) -> Response:
    page = Page(request)
    errors = {"token": problem} if problem else {}
    return page.render("login.html", next=_safe_next(next), values={}, errors=errors)


@router.post("/login")
async def login(request: Request) -> Response:
    page = Page(request)
    form = await page.form()
    username, token = str(form.get("username") or ""), str(form.get("token") or "")
    target = _safe_next(str(form.get("next") or ""))
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = page._("Give your username.")
    if not token:
        errors["token"] = page._("Give your API token (it starts with oc_).")
    if not errors:
        try:
            identity = security.authenticate(page.engine, token)
        except AuthenticationError as exc:
            errors["token"] = exc.message
        else:
            if identity.username != username:
                errors["token"] = page._("This token does not belong to this username.")
            else:
                page.session.login(token)
                return page.redirect(target)
    return page.render("login.html", status=422, next=target, values={"username": username}, errors=errors)


@router.post("/logout")
async def logout(request: Request) -> Response:
    page = Page(request)
    await page.form()
    page.session.logout()
    return page.redirect(PREFIX + "/login")


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    page = Page(request)
    user = page.user()
    lanes = risk.lane_counts(page.engine, user) if user.can(Permission.DECLARATIONS_READ) else {}
    stats = iot.stats(page.engine, user) if user.can(Permission.DECLARATIONS_READ) else None
    return page.render("home.html", lanes=lanes, stats=stats)
