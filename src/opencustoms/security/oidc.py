"""OpenID Connect sign-in (authorization code flow with PKCE) against an administration's identity provider.

Configured by the ``OPENCUSTOMS_OIDC_*`` settings; off while ``OPENCUSTOMS_OIDC_ISSUER`` is unset. The provider's
discovery document names its endpoints; the ID token is checked with joserfc (Authlib's JOSE library): signature
against the provider's published keys, issuer, audience, expiry, and the nonce of this sign-in. Authlib gives the
random values and the PKCE challenge. Its Starlette client is not used: it keeps the flow's state in Starlette's
session middleware, while the dashboard keeps its own sealed cookies (web/routes/oidc.py).

This module only speaks the protocol; which user the provider's answer signs in, and the audit, are
``security.service.sign_in_with_oidc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opencustoms.security.errors import AuthenticationError

if TYPE_CHECKING:
    from opencustoms.config import Settings

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


class OidcError(AuthenticationError):
    title = "Identity provider sign-in failed"


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    username_claim: str
    scope: str
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        """The configuration, or None when OIDC sign-in is off (no issuer)."""
        if not settings.oidc_issuer:
            return None
        return cls(
            issuer=settings.oidc_issuer.rstrip("/"),
            client_id=settings.oidc_client_id or "",
            client_secret=settings.oidc_client_secret,
            username_claim=settings.oidc_username_claim,
            scope=settings.oidc_scope,
            timeout_s=settings.oidc_timeout_s,
        )


@dataclass(frozen=True)
class Start:
    """Where to send the browser, and what the callback must find again (kept in a sealed cookie meanwhile)."""

    url: str
    state: str
    nonce: str
    verifier: str


def _get_json(url: str, timeout: float, what: str) -> dict[str, Any]:
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=False)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(f"the identity provider's {what} could not be read from {url}: {exc}") from exc
    if not isinstance(data, dict):
        raise OidcError(f"the identity provider's {what} at {url} is not a JSON object")
    return data


def discover(config: OidcConfig) -> dict[str, Any]:
    """The provider's discovery document (``/.well-known/openid-configuration``), checked to name this issuer."""
    document = _get_json(config.issuer + "/.well-known/openid-configuration", config.timeout_s, "discovery document")
    if str(document.get("issuer", "")).rstrip("/") != config.issuer:
        raise OidcError(
            f"the discovery document names the issuer {document.get('issuer')!r}, not {config.issuer!r} "
            "(OPENCUSTOMS_OIDC_ISSUER must be the issuer exactly)"
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str):
            raise OidcError(f"the identity provider's discovery document has no {key}")
    return document


def start(config: OidcConfig, redirect_uri: str) -> Start:
    """The authorization request: a fresh state, nonce and PKCE verifier (S256)."""
    from authlib.common.security import generate_token
    from authlib.common.urls import add_params_to_uri
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    document = discover(config)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = add_params_to_uri(
        document["authorization_endpoint"],
        [
            ("response_type", "code"),
            ("client_id", config.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", config.scope),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", create_s256_code_challenge(verifier)),
            ("code_challenge_method", "S256"),
        ],
    )
    return Start(url, state, nonce, verifier)


def finish(config: OidcConfig, redirect_uri: str, code: str, nonce: str, verifier: str) -> dict[str, Any]:
    """Exchange the authorization code and return the ID token's checked claims (OidcError saying what failed)."""
    import httpx
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    document = discover(config)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": config.client_id,
    }
    auth = (config.client_id, config.client_secret) if config.client_secret else None
    try:
        response = httpx.post(document["token_endpoint"], data=form, auth=auth, timeout=config.timeout_s)
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(f"the identity provider's token endpoint did not answer: {exc}") from exc
    if response.status_code != 200 or not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
        reason = answer.get("error_description") or answer.get("error") if isinstance(answer, dict) else None
        raise OidcError(
            f"the identity provider refused the sign-in code (HTTP {response.status_code}"
            + (f": {reason}" if reason else "")
            + "); check OPENCUSTOMS_OIDC_CLIENT_ID and OPENCUSTOMS_OIDC_CLIENT_SECRET"
        )
    keys = _get_json(document["jwks_uri"], config.timeout_s, "signing keys")
    try:
        token = jwt.decode(answer["id_token"], KeySet.import_key_set(keys), algorithms=ALGORITHMS)  # type: ignore[arg-type]
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": document["issuer"]},
            aud={"essential": True, "value": config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise OidcError(f"the identity provider's ID token is not valid: {exc}") from exc
    return dict(token.claims)


def username_of(config: OidcConfig, claims: dict[str, Any]) -> str:
    """The OpenCustoms username the claims name (the claim OPENCUSTOMS_OIDC_USERNAME_CLAIM, lower-cased)."""
    value = claims.get(config.username_claim)
    if not isinstance(value, str) or not value.strip():
        raise OidcError(
            f"the identity provider's ID token has no {config.username_claim!r} claim "
            "(OPENCUSTOMS_OIDC_USERNAME_CLAIM names the claim holding the username)"
        )
    return value.strip().lower()
