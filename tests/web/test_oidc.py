"""OpenID Connect sign-in against a small provider the tests start (tests/web/oidc_provider.py, served by uvicorn):
discovery, PKCE, the code exchange with the client secret, the RS256 ID token checked against the published keys,
issuer, audience and nonce; mapping to existing users only unless a role for new users is set; every failure a
sign-in page naming what went wrong; the audit log."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running
from sqlalchemy import select
from web_helpers import Site, csrf_of

from opencustoms.context import Platform
from opencustoms.security import service as security
from opencustoms.store.tables import api_tokens, audit_log, users


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running() as p:
        yield p


@pytest.fixture
def oidc_client(site: Site, provider: Provider):  # type: ignore[no-untyped-def]
    """``oidc_client(**settings)``: a TestClient of the app configured for the test provider."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from opencustoms.api import create_app

    clients = []

    def make(**changes: Any) -> Any:
        settings = site.platform.settings.model_copy(
            update={
                "oidc_issuer": provider.issuer,
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret": CLIENT_SECRET,
                "oidc_provider_name": "Customs ID",
                **changes,
            }
        )
        client = TestClient(create_app(Platform(settings)), follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _sign_in(client, provider: Provider, claims: dict[str, Any] | None, next: str = "/ui/queue"):  # type: ignore[no-untyped-def]
    """Start at OpenCustoms, go through the provider over HTTP, come back; the callback's response."""
    provider.user = claims
    start = client.get(f"/ui/login/oidc?next={next}")
    assert start.status_code == 303, start.text
    assert start.headers["location"].startswith(provider.issuer + "/authorize?")
    assert "samesite=lax" in start.headers["set-cookie"].lower()
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["location"])
    assert back.path == "/ui/login/oidc/callback"
    return client.get(f"{back.path}?{back.query}")


def _audit(site: Site, action: str) -> list[dict[str, Any]]:
    with site.engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.object_id, audit_log.c.detail).where(audit_log.c.action == action))
        return [{"object_id": r.object_id, **(r.detail or {})} for r in rows]


def test_an_existing_user_signs_in_at_the_provider(oidc_client, provider: Provider, site: Site) -> None:
    client = oidc_client()
    page = client.get("/ui/login?next=/ui/queue").text
    assert 'href="/ui/login/oidc?next=%2Fui%2Fqueue"' in page and "Sign in with Customs ID" in page
    done = _sign_in(client, provider, {"sub": "u-123", "preferred_username": "Officer"})
    assert done.status_code == 200 and 'content="0; url=/ui/queue"' in done.text
    assert client.get("/ui/queue").status_code == 200
    assert provider.requests.count("token") == 1 and "jwks" in provider.requests
    signed = [a for a in _audit(site, "sign_in") if a.get("method") == "oidc"]
    assert signed == [{"object_id": "officer", "method": "oidc", "issuer": provider.issuer, "subject": "u-123"}]
    with site.engine.connect() as conn:
        labels = list(
            conn.execute(
                select(api_tokens.c.label)
                .join(users, users.c.id == api_tokens.c.user_id)
                .where(users.c.username == "officer", api_tokens.c.revoked_at.is_(None))
            ).scalars()
        )
    assert security.SESSION_LABEL in labels
    # sign-out revokes the session token like a password session's
    client.post("/ui/logout", data={"csrf_token": csrf_of(client.get("/ui/queue").text)})
    assert client.get("/ui/queue").status_code == 303


def test_unknown_users_are_refused_unless_a_role_for_new_users_is_set(oidc_client, provider: Provider, site) -> None:
    refused = _sign_in(oidc_client(), provider, {"sub": "u-9", "preferred_username": "newcomer"})
    assert refused.status_code == 401 and "Sign-in with Customs ID failed" in refused.text
    assert "has no OpenCustoms account" in refused.text
    assert _audit(site, "sign_in_failed")[-1]["reason"] == "no account"
    client = oidc_client(oidc_new_user_role="risk_analyst")
    assert _sign_in(client, provider, {"sub": "u-9", "preferred_username": "newcomer"}).status_code == 200
    with site.engine.connect() as conn:
        roles = conn.execute(select(users.c.roles).where(users.c.username == "newcomer")).scalar_one()
    assert roles == ["risk_analyst"]
    assert client.get("/ui/risk/models").status_code == 200  # an analyst's page
    assert _audit(site, "create")[-1]["object_id"] == "newcomer"


def test_other_claims_and_disabled_users(oidc_client, provider: Provider, site: Site) -> None:
    client = oidc_client(oidc_username_claim="email")
    missing = _sign_in(client, provider, {"sub": "u-1", "preferred_username": "officer"})
    assert missing.status_code == 401 and "no &#39;email&#39; claim" in missing.text
    security.set_user_active(site.engine, security.local_operator("NL"), "analyst", False)
    disabled = _sign_in(client, provider, {"sub": "u-2", "email": "analyst"})
    assert disabled.status_code == 401 and "disabled" in disabled.text


def test_tokens_for_another_client_or_sign_in_are_refused(oidc_client, provider: Provider) -> None:
    client = oidc_client()
    provider.audience = "another-client"
    other = _sign_in(client, provider, {"sub": "u-1", "preferred_username": "officer"})
    assert other.status_code == 401 and "ID token is not valid" in other.text and "aud" in other.text
    provider.audience, provider.nonce_override = CLIENT_ID, "the nonce of another sign-in"
    replayed = _sign_in(client, provider, {"sub": "u-1", "preferred_username": "officer"})
    assert replayed.status_code == 401 and "nonce" in replayed.text
    assert client.get("/ui/queue").status_code == 303  # not signed in


def test_wrong_secret_denied_access_and_forged_callbacks(oidc_client, provider: Provider) -> None:
    claims = {"sub": "u", "preferred_username": "x"}
    wrong = _sign_in(oidc_client(oidc_client_secret="not the secret"), provider, claims)
    assert wrong.status_code == 401 and "refused the sign-in code (HTTP 401" in wrong.text
    denied = _sign_in(oidc_client(), provider, None)
    assert denied.status_code == 401 and "the provider answered: access_denied" in denied.text
    client = oidc_client()
    forged = client.get("/ui/login/oidc/callback?code=abc&state=made-up")  # no sign-in started here
    assert forged.status_code == 401 and "did not start here" in forged.text
    client.get("/ui/login/oidc")
    assert "did not start here" in client.get("/ui/login/oidc/callback?code=abc&state=other").text
    assert provider.requests.count("token") == 1  # only the wrong-secret attempt reached the token endpoint


def test_without_an_issuer_there_is_no_oidc_sign_in(client_for) -> None:
    client = client_for(None)
    assert "/ui/login/oidc" not in client.get("/ui/login").text
    assert client.get("/ui/login/oidc").status_code == 404
    assert client.get("/ui/login/oidc/callback?code=a&state=b").status_code == 404


def test_the_role_for_new_users_must_be_a_role() -> None:
    from pydantic import ValidationError

    from opencustoms.config import Settings

    with pytest.raises(ValidationError, match="OPENCUSTOMS_OIDC_NEW_USER_ROLE 'king' is not a role; choose from"):
        Settings(oidc_new_user_role="king")
    assert Settings(oidc_new_user_role="officer").oidc_new_user_role == "officer"
