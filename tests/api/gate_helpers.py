"""Helpers of the gate tests: an installation with one user per role (and broken tokens), and a raw ASGI call that
streams a request body from a generator and counts how many chunks the server pulled."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import update

from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.security import service as security
from opencustoms.security.roles import Role
from opencustoms.store.database import init_database, open_database
from opencustoms.store.tables import api_tokens

BROKEN = ("no token", "garbage", "revoked", "disabled", "expired")


@dataclass
class Installation:
    platform: Platform
    tokens: dict[str, str] = field(default_factory=dict)  # role or broken-token name → Authorization header value

    def headers(self, who: str) -> dict[str, str]:
        value = self.tokens.get(who)
        return {"Authorization": value} if value else {}


@contextmanager
def installation(template: Path, directory: Path, **settings: Any) -> Iterator[Installation]:
    """A copy of the migrated SQLite template with a user per role, a revoked token, a disabled user's token and an
    expired token."""
    path = directory / "gate.db"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    engine = init_database(url)
    security.ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    operator = security.local_operator("NL")
    site = Installation(Platform(Settings(database_url=url, data_dir=directory, **settings)))
    for role in Role:
        name = role.value.replace("_", "-")
        security.create_user(engine, operator, name, None, [role])
        site.tokens[role.value] = f"Bearer {security.issue_token(engine, operator, name)}"
    site.tokens["garbage"] = "Bearer oc_not-a-real-token"
    for name in ("revoked", "disabled", "expired"):
        security.create_user(engine, operator, name, None, ["administrator"])
        site.tokens[name] = f"Bearer {security.issue_token(engine, operator, name)}"
    security.revoke_tokens(engine, operator, "revoked")
    security.set_user_active(engine, operator, "disabled", False)
    with engine.begin() as conn:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        user_id = conn.exec_driver_sql("select id from users where username = 'expired'").scalar_one()
        conn.execute(update(api_tokens).where(api_tokens.c.user_id == user_id).values(expires_at=past))
    engine.dispose()
    try:
        yield site
    finally:
        open_database.cache_clear()


@dataclass
class Streamed:
    status: int
    headers: dict[str, str]
    body: bytes
    pulled: int  # chunks of the request body the server asked for


def stream(
    app: Any, method: str, path: str, chunks: Iterator[bytes], headers: dict[str, str] | None = None
) -> Streamed:
    """Call ``app`` in-process as a server would, sending the body chunk by chunk (``more_body``) only when the app
    asks for the next one: nothing is produced that the server did not pull."""
    pulled = 0
    finished = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled, finished
        if finished:
            await anyio.sleep_forever()  # the client keeps the connection until the response is complete
        try:
            chunk = next(chunks)
        except StopIteration:
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def main() -> None:
        with anyio.fail_after(120):  # a bound for a hung app, far above what the call needs
            await app(scope, receive, send)

    anyio.run(main)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    response_headers = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return Streamed(start["status"], response_headers, body, pulled)


def repeated(chunk: bytes, count: int, first: bytes = b"") -> Iterator[bytes]:
    """``first`` then ``chunk`` ``count`` times, without allocating more than one chunk."""
    if first:
        yield first
    for _ in range(count):
        yield chunk
