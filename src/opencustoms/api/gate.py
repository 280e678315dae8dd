"""The gate: a pure ASGI middleware that applies the authorisation table (``opencustoms.security.access``) to each
request before any byte of its body is read.

For the route a request is for, it authenticates the bearer token (401 problem+json), checks the route's permissions
(403 problem+json naming the permission and the roles that grant it), refuses a declared ``Content-Length`` over the
route's body limit (413) and counts the bytes of a streamed body, refusing it (413) as soon as they pass the limit
— without pulling the rest. The identity it authenticated is left in the scope for ``deps.get_identity``.
Dashboard pages keep their session cookie: the page checks the signed-in user; the gate gives them body limits.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opencustoms.api import problems
from opencustoms.api.errors import GateConfigurationError, RequestTooLargeError
from opencustoms.errors import OpenCustomsError
from opencustoms.security import access as table
from opencustoms.security import service as security
from opencustoms.security.access import Access, Credential, Limit
from opencustoms.security.service import Identity

IDENTITY_KEY = "opencustoms.identity"  # scope key of the Identity the gate authenticated


@dataclass
class GateRoute:
    """One route of the app, in routing order, with its table entry per method."""

    route: Any  # a Starlette route (or FastAPI's route context): has .matches(scope)
    path: str
    entries: dict[str, Access] = field(default_factory=dict)


def app_routes(app: Any) -> list[tuple[Any, str, list[str]]]:
    """Every route of ``app`` in routing order: (route, path template, methods), HEAD folded into GET. A mounted
    app (static files) is one GET route ``<mount>/{path:path}``."""
    from fastapi import routing

    contexts: Iterable[Any] = (
        routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    )
    out = []
    for route in contexts:
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            out.append((route, original.path + "/{path:path}", ["GET"]))
            continue
        methods = sorted(getattr(route, "methods", None) or [])
        if "GET" in methods and "HEAD" in methods:
            methods.remove("HEAD")
        out.append((route, str(route.path), methods))
    return out


def compile_routes(app: Any) -> list[GateRoute]:
    """The gate's view of ``app``; a ConfigurationError naming every route without an entry in the table."""
    compiled, missing = [], []
    for route, path, methods in app_routes(app):
        gate_route = GateRoute(route, path)
        for method in methods:
            access = table.entry(method, path)
            if access is None:
                missing.append(f"{method} {path}")
            else:
                gate_route.entries[method] = access
        compiled.append(gate_route)
    if missing:
        raise GateConfigurationError(
            f"{len(missing)} route(s) have no entry in the authorisation table: {', '.join(missing)}; add each to "
            "ROUTES in opencustoms/security/access.py with the permission its service requires (or public()), "
            "whether it writes, and its body limit"
        )
    return compiled


def limit_bytes(settings: Any, limit: Limit) -> int:
    """The body limit in bytes of a route of this ``limit``; file uploads get room for their multipart framing."""
    value = int(getattr(settings, limit.value))
    return value + table.FRAMING_BYTES if limit in table.FRAMED else value


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _too_large_message(size: int | None, limit: int, access: Limit, method: str, path: str) -> str:
    what = f"the request body is {size:,} bytes" if size is not None else f"the request body passed {limit:,} bytes"
    return (
        f"{what}; the limit for {method} {path} is {limit:,} bytes ({access.variable}); send a smaller body "
        "(split a file or a batch), or ask the administrator to raise the limit"
    )


class Gate:
    """ASGI middleware: ``app.add_middleware(Gate, routes=compile_routes(app))``."""

    CACHE_SIZE = 4096  # (method, path) → entry: most requests repeat a path; a flood of new ones only clears it

    def __init__(self, app: ASGIApp, routes: list[GateRoute]) -> None:
        self.app = app
        self.routes = routes
        self._matched: dict[tuple[str, str, str], tuple[Access | None, str | None]] = {}

    def match(self, scope: Scope) -> tuple[Access | None, str | None]:
        """The entry of the route that will answer this request, as the router chooses it (the first full match)."""
        method = scope["method"].upper()
        key = (method, scope.get("root_path", ""), scope["path"])
        found = self._matched.get(key)
        if found is not None:
            return found
        found = None, None
        for gate_route in self.routes:
            matched, _ = gate_route.route.matches(scope)
            if matched is Match.FULL:
                found = gate_route.entries.get("GET" if method == "HEAD" else method), gate_route.path
                break
        if len(self._matched) >= self.CACHE_SIZE:
            self._matched.clear()
        self._matched[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access, template = self.match(scope)
        platform = scope["app"].state.platform
        method, path = scope["method"].upper(), template or scope.get("path", "")
        html_page = access is not None and access.html

        if access is not None and access.credential in (Credential.TOKEN, Credential.DEVICE):
            answer = await self._authorise(scope, access, platform)
            if answer is not None:
                await answer(scope, receive, send)
                return

        limit_kind = access.limit if access is not None else Limit.REQUEST
        limit = limit_bytes(platform.settings, limit_kind)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            message = _too_large_message(int(declared), limit, limit_kind, method, path)
            await self._too_large(message, html_page, scope.get("path"))(scope, receive, send)
            return

        received = 0
        started = False
        refusal: RequestTooLargeError | None = None

        async def counted_receive() -> Message:
            nonlocal received, refusal
            if refusal is not None:  # never pull more of a body already refused
                raise refusal
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refusal = RequestTooLargeError(_too_large_message(None, limit, limit_kind, method, path))
                    raise refusal
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except Exception as exc:
            error = _too_large_in(exc)
            if error is None or started:
                raise
            await self._too_large(error.message, html_page, scope.get("path"))(scope, receive, send)

    async def _authorise(self, scope: Scope, access: Access, platform: Any) -> Response | None:
        """None when the caller may go on (their identity left in the scope), else the 401/403 answer."""
        instance = scope.get("path")
        scheme, _, token = (_header(scope, b"authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            hint = (
                "send 'Authorization: Bearer ocd_...' with X-Device-Id (a device) or 'Bearer oc_...' (a user)"
                if access.credential is Credential.DEVICE
                else "send 'Authorization: Bearer oc_...' (get one with `opencustoms users token USERNAME`)"
            )
            return _unauthenticated(f"this endpoint needs an API token: {hint}", instance)
        if access.credential is Credential.DEVICE and not token.startswith(security.TOKEN_PREFIX):
            # a device's own secret: the IoT service checks it against the registered device
            if not _header(scope, b"x-device-id"):
                return _unauthenticated("a device secret needs the X-Device-Id header naming the device", instance)
            return None
        try:
            identity: Identity = await anyio.to_thread.run_sync(security.authenticate, platform.engine, token)
        except OpenCustomsError as exc:
            if exc.status == 401:
                return _unauthenticated(exc.message, instance)
            return problems.problem(exc.status, exc.title, exc.message, instance=instance)
        clause = access.missing(identity.permissions)
        if clause is not None:
            wanted = sorted(p.value for p in clause)
            roles = table.roles_satisfying(clause)
            needs = f"the permission {wanted[0]}" if len(wanted) == 1 else f"one of the permissions {', '.join(wanted)}"
            return problems.problem(
                403,
                "Forbidden",
                f"{identity.username} (roles: {', '.join(sorted(identity.roles)) or 'none'}) lacks {needs}, which "
                f"the roles {', '.join(roles)} grant; ask an administrator for one of these roles",
                instance=instance,
                extra={"permissions": wanted, "roles": roles},
            )
        scope[IDENTITY_KEY] = identity
        return None

    @staticmethod
    def _too_large(message: str, html_page: bool, instance: str | None) -> Response:
        if html_page:
            body = (
                '<!doctype html><html><head><meta charset="utf-8"><title>Request too large</title></head>'
                f"<body><h1>Request too large</h1><p>{html.escape(message)}</p></body></html>"
            )
            return HTMLResponse(body, status_code=413, headers={"Connection": "close"})
        return problems.problem(
            413,
            RequestTooLargeError.title,
            message,
            errors=[{"field": "body", "message": message}],
            headers={"Connection": "close"},
            instance=instance,
        )


def _unauthenticated(message: str, instance: str | None) -> Response:
    return problems.problem(
        401, "Not authenticated", message, headers={"WWW-Authenticate": "Bearer"}, instance=instance
    )


def _too_large_in(exc: BaseException) -> RequestTooLargeError | None:
    """The gate's own refusal, also when a task group wrapped it."""
    if isinstance(exc, RequestTooLargeError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _too_large_in(inner)
            if found is not None:
                return found
    return None


__all__ = ["IDENTITY_KEY", "Gate", "GateRoute", "app_routes", "compile_routes", "limit_bytes"]
