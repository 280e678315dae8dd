"""The browser session: an encrypted, authenticated cookie (AES-256-GCM) holding the API token of the session, a
CSRF token and the interface language.

Staff who sign in with a password get a session token minted for the session (an API token labelled ``dashboard
session``, expiring with the cookie, revoked at sign-out: ``minted``); those who sign in with an API token carry
that token, which sign-out leaves valid.

The key is derived from the installation's pseudonymisation secret with HMAC-SHA256 under a label of its own, so
there is no second secret to manage; rotating the pseudonym key logs everyone out. The cookie is HttpOnly,
SameSite=Strict and expires after ``MAX_AGE_S``; the token inside is checked against the database on every request
(``security.authenticate``), so a revoked or expired token ends the session at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "oc_web"
MAX_AGE_S = 12 * 3600
_AAD = b"opencustoms/web/session/v1"


def derive_key(secret: bytes) -> bytes:
    return hmac.new(secret, _AAD, hashlib.sha256).digest()


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token: str | None = None
    lang: str | None = None
    issued_at: float = field(default_factory=time.time)
    minted: bool = False  # the token was opened for this session by a password sign-in (sign-out revokes it)
    dirty: bool = True  # a new session must be sent to the browser

    def to_dict(self) -> dict[str, Any]:
        return {"c": self.csrf, "t": self.token, "l": self.lang, "i": self.issued_at, "m": self.minted}

    def check_csrf(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf, str(submitted))

    def login(self, token: str, *, minted: bool = False) -> None:
        """A fresh CSRF token and issue time at login (no session fixation)."""
        self.token, self.csrf, self.issued_at, self.dirty = token, secrets.token_urlsafe(32), time.time(), True
        self.minted = minted

    def logout(self) -> None:
        self.token, self.csrf, self.minted, self.dirty = None, secrets.token_urlsafe(32), False, True


def seal(session: Session, key: bytes) -> str:
    nonce = secrets.token_bytes(12)
    body = json.dumps(session.to_dict(), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, body, _AAD)).decode().rstrip("=")


def unseal(value: str | None, key: bytes, now: float | None = None) -> Session | None:
    """The session in a cookie, or None when it is missing, altered, from another key or expired."""
    if not value or len(value) > 4096:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], _AAD))
    except (ValueError, InvalidTag):
        return None
    issued = float(data.get("i") or 0)
    if (now or time.time()) - issued > MAX_AGE_S:
        return None
    return Session(
        csrf=str(data["c"]),
        token=data.get("t"),
        lang=data.get("l"),
        issued_at=issued,
        minted=bool(data.get("m")),
        dirty=False,
    )


# --- the OpenID Connect sign-in in flight --------------------------------------------------------------------------

FLOW_COOKIE = "oc_oidc"
FLOW_MAX_AGE_S = 600
_FLOW_AAD = b"opencustoms/web/oidc-flow/v1"


def seal_flow(data: dict[str, Any], key: bytes) -> str:
    """The state, nonce, PKCE verifier and destination of an OIDC sign-in between leaving for the provider and coming
    back, sealed like the session (its own label). It lives in a cookie of its own, SameSite=Lax: the provider's
    redirect back is a cross-site navigation, which never carries the SameSite=Strict session cookie."""
    nonce = secrets.token_bytes(12)
    body = json.dumps({**data, "i": time.time()}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, body, _FLOW_AAD)).decode().rstrip("=")


def unseal_flow(value: str | None, key: bytes, now: float | None = None) -> dict[str, Any] | None:
    """The flow in the cookie, or None when missing, altered or older than ``FLOW_MAX_AGE_S``."""
    if not value or len(value) > 4096:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], _FLOW_AAD))
    except (ValueError, InvalidTag):
        return None
    if not isinstance(data, dict) or (now or time.time()) - float(data.get("i") or 0) > FLOW_MAX_AGE_S:
        return None
    return data
