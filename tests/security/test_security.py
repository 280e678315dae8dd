from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from opencustoms.config import Settings
from opencustoms.errors import ConfigurationError
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError, PermissionDeniedError, UserError
from opencustoms.security.pseudonyms import Pseudonymiser, load_key, pseudonymise
from opencustoms.security.roles import ROLE_PERMISSIONS, Permission, Role
from opencustoms.store.tables import api_tokens


def test_users_tokens_and_roles(engine, operator) -> None:
    security.create_user(engine, operator, "olga", None, ["officer"], "Olga Officer")
    token = security.issue_token(engine, operator, "olga", "laptop")
    identity = security.authenticate(engine, token)
    assert identity.username == "olga" and identity.roles == {Role.OFFICER}
    assert identity.can(Permission.PERSONAL_DATA_READ) and not identity.can(Permission.USERS_MANAGE)
    with pytest.raises(PermissionDeniedError, match="users:manage"):
        security.create_user(engine, identity, "eve", None, ["administrator"])
    security.set_user_active(engine, operator, "olga", False)
    with pytest.raises(AuthenticationError, match="disabled"):
        security.authenticate(engine, token)
    security.set_user_active(engine, operator, "olga", True)
    assert security.revoke_tokens(engine, operator, "olga") == 1
    with pytest.raises(AuthenticationError, match="revoked"):
        security.authenticate(engine, token)


def test_tokens_are_stored_hashed_and_expire(engine, operator) -> None:
    security.create_user(engine, operator, "dev1", None, ["device"])
    token = security.issue_token(engine, operator, "dev1", valid_days=1)
    with engine.connect() as conn:
        stored = conn.execute(api_tokens.select()).mappings().one()
    assert token not in str(dict(stored)) and len(stored["token_hash"]) == 64
    with engine.begin() as conn:
        conn.execute(update(api_tokens).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    with pytest.raises(AuthenticationError, match="expired"):
        security.authenticate(engine, token)
    for bad in ("", "Bearer x", "oc_unknown"):
        with pytest.raises(AuthenticationError):
            security.authenticate(engine, bad)


@pytest.mark.parametrize(
    ("username", "roles", "field"),
    [("Bad Name", ["officer"], "username"), ("ok", [], "roles"), ("ok2", ["emperor"], "roles")],
)
def test_bad_users_are_refused(engine, operator, username, roles, field) -> None:
    with pytest.raises(UserError) as info:
        security.create_user(engine, operator, username, None, roles)
    assert info.value.field == field


def test_duplicate_user_and_unknown_administration(engine, operator) -> None:
    security.create_user(engine, operator, "sam", None, ["supervisor"])
    with pytest.raises(UserError, match="already exists"):
        security.create_user(engine, operator, "sam", None, ["supervisor"])
    with pytest.raises(UserError, match="does not exist"):
        security.create_user(engine, operator, "tim", "ZZ", ["officer"])


def test_audit_records_changes_and_reads(engine, operator) -> None:
    security.create_user(engine, operator, "dpo", None, ["data_protection_officer"])
    dpo = security.Identity.of("dpo", "NL", ["data_protection_officer"])
    rows = security.read_audit(engine, dpo, object_type="user")
    assert [(r["actor"], r["action"], r["object_id"]) for r in rows] == [("cli", "create", "dpo")]
    assert security.read_audit(engine, dpo, object_type="audit_log")[0]["actor"] == "dpo"  # reading is audited
    officer = security.Identity.of("o", "NL", ["officer"])
    with pytest.raises(PermissionDeniedError):
        security.read_audit(engine, officer)


def test_every_role_has_permissions() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert not ROLE_PERMISSIONS[Role.RISK_ANALYST] & {Permission.PERSONAL_DATA_READ}
    assert not ROLE_PERMISSIONS[Role.ADMINISTRATOR] & {Permission.PERSONAL_DATA_READ}


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_pseudonyms_are_keyed_stable_and_distinct(a: str, b: str) -> None:
    key1, key2 = b"k" * 32, b"q" * 32
    assert pseudonymise(a, key1) == pseudonymise(a, key1)
    assert pseudonymise(a, key1) != pseudonymise(a, key2)
    if a != b:
        assert pseudonymise(a, key1) != pseudonymise(b, key1)
    assert pseudonymise(a, key1).startswith("p_") and len(pseudonymise(a, key1)) == 26


def test_pseudonym_is_not_a_plain_hash() -> None:
    import hashlib

    p = pseudonymise("NL200000002", b"k" * 32)
    assert hashlib.sha256(b"NL200000002").hexdigest()[:24] not in p


def test_key_is_created_once_and_kept_private(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, pseudonym_key=None)
    key = load_key(settings)
    assert load_key(settings) == key and len(key) == 64
    assert (tmp_path / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigurationError, match="32 characters"):
        load_key(Settings(data_dir=tmp_path, pseudonym_key="short"))
    with pytest.raises(ConfigurationError):
        Pseudonymiser(b"short")
