"""Password sign-in on the dashboard through the app (TestClient): the form and its autocomplete attributes, a
session token opened at sign-in and revoked at sign-out, one answer for every refusal, the lockout, the token form
as the alternative, the small body limit and the CSRF check."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from web_helpers import Site, csrf_of

from opencustoms.security import service as security
from opencustoms.store.tables import api_tokens, audit_log, users

PASSWORD = "tulip harbour lantern"
REFUSED = "Wrong username or password. After repeated failures, sign-in pauses for a few minutes."
# The values axe's autocomplete-valid rule accepts on a sign-in form (HTML's autofill field names, and on/off).
VALID_AUTOCOMPLETE = {"on", "off", "username", "current-password", "new-password", "one-time-code", "email"}


@pytest.fixture
def officer_password(site: Site) -> str:
    security.set_password(site.engine, security.local_operator("NL"), "officer", PASSWORD, site.platform.settings)
    return PASSWORD


def _post(client, username: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    page = client.get("/ui/login")
    data = {"username": username, "password": password, "method": "password", "csrf_token": csrf_of(page.text)}
    return client.post("/ui/login", data={**data, **extra})


def _session_tokens(site: Site) -> list[tuple[str | None, object]]:
    with site.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(api_tokens.c.label, api_tokens.c.revoked_at)
                .join(users, users.c.id == api_tokens.c.user_id)
                .where(users.c.username == "officer", api_tokens.c.label == security.SESSION_LABEL)
            )
        ]


def test_the_sign_in_form_asks_for_a_password_with_valid_autocomplete(client_for) -> None:
    client = client_for(None)
    html = client.get("/ui/login?next=/ui/queue").text
    assert 'name="password"' in html and 'type="password"' in html and 'name="token"' not in html
    assert 'autocomplete="username"' in html and 'autocomplete="current-password"' in html
    assert 'href="/ui/login?method=token&amp;next=%2Fui%2Fqueue"' in html
    token_form = client.get("/ui/login?method=token").text
    assert 'name="token"' in token_form and 'name="password"' not in token_form
    for page in (html, token_form):
        values = re.findall(r'autocomplete="([^"]*)"', page)
        assert values and set(values) <= VALID_AUTOCOMPLETE, values
    assert 'autocomplete="off"' in token_form  # an API token is no password for a password manager to offer
    french = client.get("/ui/login", headers={"Accept-Language": "fr"}).text
    assert "Mot de passe" in french and "Se connecter plutôt avec un jeton d&#39;API" in french


def test_password_sign_in_opens_a_session_and_sign_out_revokes_it(client_for, site: Site, officer_password) -> None:
    client = client_for(None)
    response = _post(client, "officer", officer_password, next="/ui/queue?lane=red")
    assert response.status_code == 303 and response.headers["location"] == "/ui/queue?lane=red"
    assert client.get("/ui/queue?lane=red").status_code == 200
    assert [label for label, revoked in _session_tokens(site) if revoked is None] == [security.SESSION_LABEL]
    queue = client.get("/ui/queue")
    assert client.post("/ui/logout", data={"csrf_token": csrf_of(queue.text)}).status_code == 303
    assert all(revoked is not None for _, revoked in _session_tokens(site))
    assert client.get("/ui/queue").status_code == 303  # signed out
    with site.engine.connect() as conn:
        actions = list(conn.execute(select(audit_log.c.action).where(audit_log.c.object_id == "officer")).scalars())
    assert actions[-2:] == ["sign_in", "sign_out"]


def test_signing_out_of_a_token_session_leaves_the_token_valid(client_for, site: Site) -> None:
    client = client_for("officer")
    queue = client.get("/ui/queue")
    client.post("/ui/logout", data={"csrf_token": csrf_of(queue.text)})
    assert security.authenticate(site.engine, site.tokens["officer"]).username == "officer"


def test_every_refusal_reads_the_same_and_the_lockout_too(client_for, site: Site, officer_password) -> None:
    client = client_for(None)
    answers = [_post(client, "nobody", officer_password), _post(client, "analyst", officer_password)]
    for _ in range(site.platform.settings.password_max_failures):
        answers.append(_post(client, "officer", "not the password at all"))
    answers.append(_post(client, "officer", officer_password))  # right, but locked now
    for answer in answers:
        assert answer.status_code == 422 and REFUSED in answer.text
        assert 'id="e-password"' in answer.text and 'value="' in answer.text
        assert officer_password not in answer.text and "not the password" not in answer.text
    with site.engine.connect() as conn:
        actions = list(conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars())
    assert actions[-2:] == ["lockout", "sign_in_locked"]
    # the officer's API token still works while password sign-in is locked
    assert client_for("officer").get("/ui/queue").status_code == 200


def test_missing_fields_csrf_and_body_limit(client_for, site: Site, officer_password) -> None:
    client = client_for(None)
    empty = _post(client, "", "")
    assert empty.status_code == 422 and 'id="e-username"' in empty.text and 'id="e-password"' in empty.text
    forged = client.post("/ui/login", data={"username": "officer", "password": officer_password, "method": "password"})
    assert forged.status_code == 403
    limit = site.platform.settings.max_request_bytes
    huge = client.post(
        "/ui/login",
        content=b"username=officer&password=" + b"x" * (limit + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
