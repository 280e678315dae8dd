"""A small OpenID Connect provider for the tests: discovery, an authorize endpoint that signs in whoever the test
names (no login form), a token endpoint checking the client secret, the redirect URI and the PKCE verifier (S256)
and answering an RS256-signed ID token, and the public keys. Served by uvicorn on a loopback port
(:func:`running`), so OpenCustoms talks to it over HTTP exactly as to a real provider, and a browser sees it as
another site."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

CLIENT_ID = "opencustoms-test"
CLIENT_SECRET = "s3cret-of-the-test-client"


@dataclass
class Provider:
    issuer: str = ""
    user: dict[str, Any] | None = None  # the claims of whoever "signs in" at the provider next
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    audience: str = CLIENT_ID  # tests change it to issue a token for another client
    nonce_override: str | None = None  # tests set it to answer with another sign-in's nonce
    interactive: bool = False  # show a page with a button to approve, as a real provider would (browser tests)

    def __post_init__(self) -> None:
        from joserfc.jwk import RSAKey

        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig", "alg": "RS256"})

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
        from starlette.routing import Route

        def discovery(request: Request) -> Response:
            self.requests.append("discovery")
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": self.issuer + "/authorize",
                    "token_endpoint": self.issuer + "/token",
                    "jwks_uri": self.issuer + "/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                }
            )

        def authorize(request: Request) -> Response:
            self.requests.append("authorize")
            q = request.query_params
            scopes = q.get("scope", "").split()
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or "openid" not in scopes:
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request", "error_description": "PKCE required"}, 400)
            redirect = q["redirect_uri"]
            if self.user is None:
                return RedirectResponse(
                    redirect + "?" + urlencode({"error": "access_denied", "state": q.get("state", "")}), 302
                )
            if self.interactive and "approved" not in q:
                approve = "/authorize?" + urlencode([*q.multi_items(), ("approved", "1")])
                return HTMLResponse(f'<!doctype html><title>Customs ID</title><a href="{escape(approve)}">Approve</a>')
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "challenge": q["code_challenge"],
                "redirect_uri": redirect,
                "nonce": q.get("nonce"),
                "claims": dict(self.user),
            }
            return RedirectResponse(redirect + "?" + urlencode({"code": code, "state": q.get("state", "")}), 302)

        async def token(request: Request) -> Response:
            from joserfc import jwt

            self.requests.append("token")
            form = await request.form()
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self.codes.pop(str(form.get("code")), None)  # a code is good once
            if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            verifier = str(form.get("code_verifier") or "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if challenge != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verifier"}, 400)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": self.audience,
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonce_override or grant["nonce"],
                **grant["claims"],
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, self.key)
            answer = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300}
            return JSONResponse({**answer, "id_token": id_token})

        def jwks(request: Request) -> Response:
            self.requests.append("jwks")
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", jwks),
            ]
        )


@contextmanager
def running() -> Iterator[Provider]:
    """The provider served by uvicorn in a thread on a free loopback port; always stopped on leaving."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    # named "localhost" while the app is reached at 127.0.0.1: another site for the browser (SameSite cookies)
    provider = Provider(issuer=f"http://localhost:{port}")
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test OIDC provider did not start")
            time.sleep(0.05)
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
