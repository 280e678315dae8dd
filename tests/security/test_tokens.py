"""Every API token expires, within the administration's maximum, and never after the token that minted it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from opencustoms.api import create_app
from opencustoms.cli import app as cli_app
from opencustoms.config import Settings, get_settings
from opencustoms.context import Platform
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError, UserError
from opencustoms.store.database import as_utc, open_database
from opencustoms.store.tables import api_tokens


def _expiry(engine, token: str) -> dt.datetime:
    with engine.connect() as conn:
        value = conn.execute(
            select(api_tokens.c.expires_at).where(api_tokens.c.token_hash == security._hash_token(token))
        ).scalar_one()
    return as_utc(value)


def test_the_maximum_is_the_default_and_the_cap(engine, operator) -> None:
    security.create_user(engine, operator, "olga", None, ["officer"])
    before = dt.datetime.now(dt.UTC)
    token = security.issue_token(engine, operator, "olga", max_days=30)
    assert dt.timedelta(days=29) < _expiry(engine, token) - before <= dt.timedelta(days=30, seconds=5)
    with pytest.raises(UserError, match="between 1 and 30") as info:
        security.issue_token(engine, operator, "olga", valid_days=31, max_days=30)
    assert info.value.field == "valid_days" and info.value.status == 422
    with pytest.raises(UserError, match="between 1 and 30"):
        security.issue_token(engine, operator, "olga", valid_days=0, max_days=30)


def test_the_maximum_comes_from_the_setting(engine, operator, monkeypatch) -> None:
    security.create_user(engine, operator, "olga", None, ["officer"])
    monkeypatch.setenv("OPENCUSTOMS_TOKEN_MAX_DAYS", "10")
    get_settings.cache_clear()
    try:
        with pytest.raises(UserError, match="OPENCUSTOMS_TOKEN_MAX_DAYS"):
            security.issue_token(engine, operator, "olga", valid_days=11)
    finally:
        get_settings.cache_clear()
    assert Settings.model_fields["token_max_days"].default == 365


def test_a_token_cannot_mint_one_that_outlives_it(engine, operator) -> None:
    """The reported case: a 1-day token minted a 3,650-day one for its own user."""
    security.create_user(engine, operator, "olga", None, ["officer"])
    short = security.issue_token(engine, operator, "olga", valid_days=1)
    olga = security.authenticate(engine, short)
    assert olga.token_expires_at == _expiry(engine, short)
    with pytest.raises(UserError, match="outlive the token you are using") as info:
        security.issue_token(engine, olga, "olga", valid_days=2)
    assert info.value.field == "valid_days"
    # asking for the default gives as long as the caller's own token, not longer
    child = security.issue_token(engine, olga, "olga")
    assert _expiry(engine, child) == _expiry(engine, short)
    # the local operator is bound by the maximum only
    long = security.issue_token(engine, operator, "olga", valid_days=300)
    assert _expiry(engine, long) - _expiry(engine, short) > dt.timedelta(days=298)


def test_a_token_without_expiry_is_not_accepted(engine, operator) -> None:
    security.create_user(engine, operator, "olga", None, ["officer"])
    token = security.issue_token(engine, operator, "olga")
    with engine.begin() as conn:
        conn.execute(update(api_tokens).values(expires_at=None))
    with pytest.raises(AuthenticationError, match="no expiry"):
        security.authenticate(engine, token)


@pytest.fixture
def client(engine, database_url, tmp_path, operator):
    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path, token_max_days=365))
    security.create_user(engine, operator, "olga", None, ["officer"])
    security.create_user(engine, operator, "adm", None, ["administrator"])
    tokens = {
        "olga": security.issue_token(engine, operator, "olga", valid_days=1),
        "adm": security.issue_token(engine, operator, "adm", valid_days=10),
    }
    with TestClient(create_app(platform)) as test_client:
        yield test_client, {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}


def test_the_api_refuses_null_too_long_and_outliving_tokens(client, engine) -> None:
    api, headers = client
    for body, says in (
        ({"valid_days": None}, "tokens always expire"),
        ({"valid_days": 3650}, "between 1 and 365"),
        ({"valid_days": 5}, "outlive the token you are using"),
    ):
        r = api.post("/users/olga/tokens", json=body, headers=headers["olga"])
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        problem = r.json()
        assert says in problem["detail"] and "valid_days" in json.dumps(problem["errors"])
    r = api.post("/users/olga/tokens", json={}, headers=headers["olga"])
    assert r.status_code == 201
    # an administrator's token bounds the tokens it issues for others as well
    security.create_user(engine, security.local_operator("NL"), "ops", None, ["administrator"])
    r = api.post("/users/ops/tokens", json={"valid_days": 30}, headers=headers["adm"])
    assert r.status_code == 422 and "outlive" in r.json()["detail"]
    assert api.post("/users/ops/tokens", json={"valid_days": 9}, headers=headers["adm"]).status_code == 201
    # and it takes no token for a user who may do more than it may: an officer sees parties in clear (review)
    r = api.post("/users/olga/tokens", json={"valid_days": 9}, headers=headers["adm"])
    assert r.status_code == 403 and "personal_data:read" in r.json()["detail"]


def test_the_api_verifies_the_audit_log(client, engine) -> None:
    api, headers = client
    body = api.get("/audit/verify", headers=headers["adm"]).json()
    assert body["ok"] and body["entries"] >= 4 and body["first_bad_id"] is None
    r = api.get("/audit/verify", headers=headers["olga"])
    assert r.status_code == 403 and "audit:read" in r.json()["detail"]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    monkeypatch.setenv("OPENCUSTOMS_TOKEN_MAX_DAYS", "90")
    get_settings.cache_clear()
    open_database.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli_app, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    run("init", "--administration", "NL", "--name", "Dutch Customs")
    yield run
    get_settings.cache_clear()
    open_database.cache_clear()


def test_the_cli_caps_tokens_and_verifies_and_signs_the_audit_log(cli, tmp_path: Path) -> None:
    cli("users", "add", "olga", "--role", "officer")
    assert cli("users", "token", "olga").strip().startswith("oc_")
    assert "between 1 and 90" in cli("users", "token", "olga", "--valid-days", "91", code=1)
    assert "intact" in cli("audit", "verify")
    assert json.loads(cli("audit", "verify", "--json"))["ok"]
    assert "no signing key" in cli("audit", "sign", code=1)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = tmp_path / "var" / "ledger" / "keys" / "administration" / "log.key"  # where `ledger init` keeps it
    key.parent.mkdir(parents=True)
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key.write_bytes(__import__("base64").b64encode(seed))
    key.chmod(0o600)
    assert "signed the audit log's head" in cli("audit", "sign")
    assert "1 signed head(s)" in cli("audit", "verify")
    assert {r["action"] for r in json.loads(cli("audit", "--json"))} >= {"verify", "sign_head", "issue_token"}
    engine = open_database(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    assert "entry #2 was changed" in cli("audit", "verify", code=1)
