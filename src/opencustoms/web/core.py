"""What every page shares: the session and the signed-in identity, rendering with the language of the reader,
CSRF checks, permission checks with a 403 page naming the roles that grant the permission, and form errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from opencustoms import signals
from opencustoms.context import Platform
from opencustoms.errors import OpenCustomsError
from opencustoms.security import service as security
from opencustoms.security.access import roles_granting
from opencustoms.security.errors import AuthenticationError
from opencustoms.security.pseudonyms import load_key
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity
from opencustoms.store.database import as_utc
from opencustoms.web import i18n
from opencustoms.web.session import COOKIE, MAX_AGE_S, Session, derive_key, seal, unseal

TEMPLATES = Path(__file__).parent / "templates"
PREFIX = "/ui"
PUBLIC_VERIFY = "/verify"
PUBLIC_TARIFF = "/tariff"  # the public tariff finder (no sign-in)
MAX_FORM_FIELD = 20_000  # characters in one text field

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class CsrfError(OpenCustomsError):
    status = 403
    title = "Form expired"


class Forbidden(OpenCustomsError):
    """The signed-in user lacks a permission; the page says which roles grant it."""

    status = 403
    title = "Forbidden"

    def __init__(self, permission: Permission) -> None:
        super().__init__(f"this page needs the permission {permission.value}")
        self.permission = permission


class LoginRequired(Exception):
    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason


def _fmt_time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return as_utc(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def _to_json(value: Any) -> Markup:
    return Markup.escape(json.dumps(value, default=str, indent=1, sort_keys=True))


@pass_context
def _fmt_number(context: Any, value: Any, decimals: int | None = None) -> str:
    """``{{ n|num }}`` / ``{{ amount|num(2) }}``: the number as readers of the page's language write it."""
    return i18n.format_number(context.get("lang", "en"), value, decimals)


@pass_context
def _country(context: Any, code: str | None) -> str:
    """``{{ code|country }}``: the country's name in the page's language with its code, ``China (CN)``."""
    if not code:
        return ""
    from opencustoms.wording import labels

    name = labels.country(code, context.get("lang", "en"))
    return code if name == code else f"{name} ({code})"


@pass_context
def _label(context: Any, code: Any, kind: str) -> str:
    """``{{ lane|label("lane") }}``: a code of one of the lists of :mod:`opencustoms.wording.labels` by its name in
    the page's language."""
    from opencustoms.wording import labels

    return labels.label(kind, code, context.get("lang", "en"))


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
env.filters["label"] = _label
env.filters["country"] = _country
env.filters["time"] = _fmt_time
env.filters["tojson_pretty"] = _to_json
env.filters["num"] = _fmt_number
env.filters["urlquote"] = lambda v: quote(str(v), safe="")


@pass_context
def _signal_kind(context: Any, kind: Any) -> str:
    """``{{ s.kind|signal_kind }}``: a signal kind in words, in the page's language."""
    return signals.kind_label(str(kind), context.get("lang", "en"))


env.filters["signal_kind"] = _signal_kind


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def session_key(platform: Platform) -> bytes:
    cached = platform.__dict__.get("_web_session_key")
    if cached is None:
        cached = derive_key(load_key(platform.settings))
        platform.__dict__["_web_session_key"] = cached
    return cached


class Page:
    """One request's view of the dashboard: platform, session, identity (when signed in) and language."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.platform = platform_of(request)
        self.session = unseal(request.cookies.get(COOKIE), session_key(self.platform)) or Session()
        self.identity: Identity | None = None
        self.login_problem: str | None = None
        if self.session.token:
            try:
                self.identity = security.authenticate(self.platform.engine, self.session.token)
            except AuthenticationError as exc:
                self.login_problem = exc.message
                self.session.logout()
        wanted = request.query_params.get("lang")
        if wanted in i18n.LANGUAGES and wanted != self.session.lang:
            self.session.lang, self.session.dirty = wanted, True
        self.lang = self.session.lang or i18n.negotiate(request.headers.get("accept-language"))

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.platform.engine

    def _(self, text: str, **values: Any) -> str:
        return i18n.gettext(self.lang, text, **values)

    def number(self, value: Any, decimals: int | None = None) -> str:
        return i18n.format_number(self.lang, value, decimals)

    def percent(self, text: str) -> str:
        """A percentage written in English (``"87.5%"``, ``"> 99.9%"``) as readers of the page's language write it."""
        return i18n.localise_percent(self.lang, text)

    # --- access ------------------------------------------------------------------------------------------------

    def user(self, permission: Permission | None = None) -> Identity:
        """The signed-in identity, holding ``permission`` when given (else a 403 page naming the roles)."""
        if self.identity is None:
            raise LoginRequired(self.login_problem)
        if permission is not None and not self.identity.can(permission):
            raise Forbidden(permission)
        return self.identity

    def can(self, permission: Permission) -> bool:
        return self.identity is not None and self.identity.can(permission)

    async def form(self) -> dict[str, Any]:
        """The submitted form after the CSRF check; text fields stripped and length-limited."""
        form = await self.request.form(max_files=2, max_fields=300)
        if not self.session.check_csrf(str(form.get("csrf_token") or "")):
            raise CsrfError(
                "the form's security token is missing or out of date (the page was open too long, or the form came "
                "from another site); reload the page and submit again"
            )
        out: dict[str, Any] = {}
        for key, value in form.multi_items():
            if key == "csrf_token":
                continue
            out[key] = value.strip()[:MAX_FORM_FIELD] if isinstance(value, str) else value
        return out

    # --- responses ---------------------------------------------------------------------------------------------

    def finish(self, response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if self.session.dirty:
            response.set_cookie(
                COOKIE,
                seal(self.session, session_key(self.platform)),
                max_age=MAX_AGE_S,
                httponly=True,
                samesite="strict",
                secure=self.request.url.scheme == "https",
                path="/",
            )
        return response

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        html = env.get_template(template).render(
            page=self,
            _=self._,
            csrf=self.session.csrf,
            user=self.identity,
            P=Permission,
            lang=self.lang,
            languages=i18n.LANGUAGES,
            path=self.request.url.path,
            **context,
        )
        return self.finish(HTMLResponse(html, status_code=status))

    def redirect(self, url: str, *, notice: str | None = None) -> Response:
        if notice:
            url += ("&" if "?" in url else "?") + "notice=" + quote(notice, safe="")
        return self.finish(RedirectResponse(url, status_code=303))


def error_response(request: Request, exc: Exception) -> Response:
    """An HTML page for an error on a dashboard or verification page."""
    page = Page(request)
    if isinstance(exc, LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        url = f"{PREFIX}/login?next={quote(target, safe='')}"
        if exc.reason:
            url += "&problem=" + quote(exc.reason, safe="")
        if request.headers.get("hx-request"):
            response = page.finish(Response(status_code=204))
            response.headers["HX-Redirect"] = url
            return response
        return page.finish(RedirectResponse(url, status_code=303))
    if isinstance(exc, Forbidden):
        return page.render(
            "forbidden.html", status=403, permission=exc.permission.value, roles=roles_granting(exc.permission)
        )
    if isinstance(exc, StarletteHTTPException):
        status, title = exc.status_code, str(exc.detail)
        message = page._("There is no such page.") if status == 404 else str(exc.detail)
    else:
        status = getattr(exc, "status", 500)
        title = getattr(exc, "title", "Error")
        message = getattr(exc, "message", str(exc))
    return page.render("error.html", status=status, title=title, message=message)


def is_web(request: Request) -> bool:
    path = request.url.path
    return path in (PREFIX, PUBLIC_VERIFY, PUBLIC_TARIFF) or path.startswith(PREFIX + "/")
