"""Staff passwords: the rules, argon2id hashes (rehashed when weak), sign-in with a lockout that answers like a wrong
password while the audit log says why, dashboard session tokens revoked at sign-out, and `opencustoms users
password`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from opencustoms.config import Settings, get_settings
from opencustoms.security import passwords
from opencustoms.security import service as security
from opencustoms.security.errors import AuthenticationError, PermissionDeniedError, UserError
from opencustoms.store.database import open_database
from opencustoms.store.tables import api_tokens, audit_log, user_passwords, users

GOOD = "correct horse battery staple"
SETTINGS = Settings(password_max_failures=3, password_failure_window_minutes=10, password_lockout_minutes=20)
HOUR = 3600


def _actions(engine, since: int = 0) -> list[tuple[str, str, str | None, dict | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.object_id, audit_log.c.detail)
            .where(audit_log.c.id > since)
            .order_by(audit_log.c.id)
        ).all()
    return [tuple(r) for r in rows]


def _last_audit_id(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc()).limit(1)).scalar_one())


def _password_row(engine, username: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        query = select(user_passwords).join(users, users.c.id == user_passwords.c.user_id)
        return conn.execute(query.where(users.c.username == username)).one()


def _sign_in(engine, username: str, password: str):  # type: ignore[no-untyped-def]
    return security.sign_in_with_password(engine, username, password, SETTINGS, session_seconds=HOUR)


@pytest.fixture
def olga(engine, operator) -> str:
    security.create_user(engine, operator, "olga", None, ["officer"])
    security.set_password(engine, operator, "olga", GOOD, SETTINGS)
    return "olga"


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short pass", "min_length"),
        ("x" * 3 + "y" * (passwords.MAX_LENGTH + 1), "max_length"),
        (" leading space here", "no_outer_spaces"),
        ("my name is olga, hello", "not_username"),
        ("Password1234", "not_common"),
        ("abababababababab", "not_common"),
    ],
)
def test_a_password_breaking_a_rule_is_refused_naming_the_rule(password: str, rule: str) -> None:
    with pytest.raises(UserError, match=rule) as info:
        passwords.PasswordRules().check(password, "olga")
    assert info.value.field == "password"
    passwords.PasswordRules().check(GOOD, "olga")  # the same rules let a good one through
    with pytest.raises(UserError, match="at least 30"):
        passwords.PasswordRules.from_settings(Settings(password_min_length=30)).check(GOOD, "olga")


def test_hashes_are_argon2id_and_verified() -> None:
    hashed = passwords.hash_password(GOOD)
    assert hashed.startswith("$argon2id$") and GOOD not in hashed
    assert passwords.verify(hashed, GOOD) and not passwords.verify(hashed, GOOD + "!")
    assert not passwords.verify(None, GOOD) and not passwords.verify("not a hash", GOOD)
    assert not passwords.needs_rehash(hashed)


def test_sign_in_opens_a_session_token_that_authenticates_and_sign_out_revokes_it(engine, olga, operator) -> None:
    identity, token = _sign_in(engine, "olga", GOOD)
    assert identity.username == "olga" and token.startswith("oc_")
    assert security.authenticate(engine, token).username == "olga"
    with engine.connect() as conn:
        label, expires = conn.execute(
            select(api_tokens.c.label, api_tokens.c.expires_at).where(
                api_tokens.c.token_hash == security._hash_token(token)
            )
        ).one()
    assert label == security.SESSION_LABEL
    remaining = security.as_utc(expires) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=55) < remaining <= dt.timedelta(hours=1)
    api_token = security.issue_token(engine, operator, "olga", max_days=30)
    assert not security.end_session(engine, identity, api_token)  # an API token is not a session: it stays valid
    assert security.authenticate(engine, api_token).username == "olga"
    assert security.end_session(engine, identity, token)
    with pytest.raises(AuthenticationError, match="revoked"):
        security.authenticate(engine, token)
    assert [a[1] for a in _actions(engine)][-3:] == ["sign_in", "issue_token", "sign_out"]


def test_unknown_users_wrong_passwords_and_disabled_users_get_the_same_answer(engine, olga, operator) -> None:
    security.create_user(engine, operator, "nopass", None, ["officer"])
    security.create_user(engine, operator, "gone", None, ["officer"])
    security.set_password(engine, operator, "gone", GOOD, SETTINGS)
    security.set_user_active(engine, operator, "gone", False)
    since = _last_audit_id(engine)
    messages = set()
    for username, password in (("nobody", GOOD), ("olga", "wrong horse battery"), ("nopass", GOOD), ("gone", GOOD)):
        with pytest.raises(AuthenticationError) as info:
            _sign_in(engine, username, password)
        messages.add(info.value.message)
    assert messages == {security.SIGN_IN_REFUSED}
    assert [(a[0], a[1], a[2], a[3]["reason"]) for a in _actions(engine, since)] == [
        ("sign-in", "sign_in_failed", None, "unknown user"),  # a mistyped name (or a password typed there) is not kept
        ("sign-in", "sign_in_failed", "olga", "wrong password"),
        ("sign-in", "sign_in_failed", "nopass", "no password"),
        ("sign-in", "sign_in_failed", "gone", "disabled"),
    ]


def test_repeated_failures_lock_the_account_and_the_lock_answers_like_a_wrong_password(engine, olga) -> None:
    for _ in range(SETTINGS.password_max_failures):
        with pytest.raises(AuthenticationError):
            _sign_in(engine, "olga", "wrong horse battery")
    row = _password_row(engine, "olga")
    assert row.locked_until is not None and row.failures == 0
    since = _last_audit_id(engine)
    with pytest.raises(AuthenticationError) as info:
        _sign_in(engine, "olga", GOOD)  # the right password, while locked
    assert info.value.message == security.SIGN_IN_REFUSED
    actions = _actions(engine, since)
    assert [a[1] for a in actions] == ["sign_in_locked"] and actions[0][3]["password_matched"] is True
    lockouts = [a for a in _actions(engine) if a[1] == "lockout"]
    assert len(lockouts) == 1 and lockouts[0][2] == "olga" and lockouts[0][3]["failures"] == 3
    # once the lockout has passed, the right password signs in again and the count starts afresh
    with engine.begin() as conn:
        conn.execute(
            update(user_passwords)
            .where(user_passwords.c.user_id == row.user_id)
            .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    identity, _ = _sign_in(engine, "olga", GOOD)
    assert identity.username == "olga" and _password_row(engine, "olga").locked_until is None


def test_failures_outside_the_window_start_a_new_count(engine, olga) -> None:
    for _ in range(SETTINGS.password_max_failures - 1):
        with pytest.raises(AuthenticationError):
            _sign_in(engine, "olga", "wrong horse battery")
    row = _password_row(engine, "olga")
    assert row.failures == 2
    with engine.begin() as conn:
        conn.execute(
            update(user_passwords)
            .where(user_passwords.c.user_id == row.user_id)
            .values(first_failure_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11))
        )
    with pytest.raises(AuthenticationError):
        _sign_in(engine, "olga", "wrong horse battery")
    row = _password_row(engine, "olga")
    assert row.failures == 1 and row.locked_until is None
    _sign_in(engine, "olga", GOOD)
    assert _password_row(engine, "olga").failures == 0  # a success resets the count


def test_a_new_password_unlocks_and_ends_the_sessions(engine, olga, operator) -> None:
    _, session = _sign_in(engine, "olga", GOOD)
    for _ in range(SETTINGS.password_max_failures):
        with pytest.raises(AuthenticationError):
            _sign_in(engine, "olga", "wrong horse battery")
    security.set_password(engine, operator, "olga", "another long passphrase", SETTINGS)
    with pytest.raises(AuthenticationError, match="revoked"):
        security.authenticate(engine, session)
    assert _sign_in(engine, "olga", "another long passphrase")[0].username == "olga"
    with pytest.raises(AuthenticationError):
        _sign_in(engine, "olga", GOOD)


def test_a_weak_hash_is_replaced_at_sign_in(engine, olga) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(GOOD)
    assert passwords.needs_rehash(weak)
    user_id = _password_row(engine, "olga").user_id
    with engine.begin() as conn:
        conn.execute(update(user_passwords).where(user_passwords.c.user_id == user_id).values(password_hash=weak))
    _sign_in(engine, "olga", GOOD)
    stored = _password_row(engine, "olga").password_hash
    assert stored != weak and not passwords.needs_rehash(stored) and passwords.verify(stored, GOOD)


def test_only_user_managers_set_someone_elses_password(engine, olga, operator) -> None:
    security.create_user(engine, operator, "ivan", None, ["officer"])
    officer = security.Identity.of("ivan", "NL", ["officer"])
    with pytest.raises(PermissionDeniedError, match="users:manage"):
        security.set_password(engine, officer, "olga", "a brand new passphrase", SETTINGS)
    security.set_password(engine, officer, "ivan", "my own long passphrase", SETTINGS)  # their own: allowed
    with pytest.raises(UserError, match="does not exist") as info:
        security.set_password(engine, operator, "nobody", GOOD, SETTINGS)
    assert info.value.field == "username"
    with pytest.raises(UserError, match="min_length"):
        security.set_password(engine, operator, "olga", "short", SETTINGS)
    assert passwords.verify(_password_row(engine, "olga").password_hash, GOOD)  # nothing changed by refusals


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from opencustoms.cli import app as cli_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    monkeypatch.setenv("OPENCUSTOMS_PASSWORD_MIN_LENGTH", "16")
    get_settings.cache_clear()
    open_database.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0, input: str | None = None) -> str:
        result = runner.invoke(cli_app, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    run("init", "--administration", "NL", "--name", "Dutch Customs")
    run("users", "add", "olga", "--role", "officer")
    yield run
    get_settings.cache_clear()
    open_database.cache_clear()


def test_the_cli_sets_a_password_asked_twice_or_read_from_stdin(cli, tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'cli.db'}")
    settings = Settings(password_min_length=16)
    out = cli("users", "password", "olga", input=f"{GOOD}\n{GOOD}\n")
    assert "password set for olga" in out and GOOD not in out
    assert security.sign_in_with_password(engine, "olga", GOOD, settings, session_seconds=60)[0].username == "olga"
    # the two entries differ: asked again
    out = cli("users", "password", "olga", input=f"{GOOD}\nsomething else entirely\n{GOOD}\n{GOOD}\n")
    assert "do not match" in out.lower()
    assert "min_length" in cli("users", "password", "olga", "--stdin", input="too short here\n", code=1)
    assert "OPENCUSTOMS_PASSWORD_MIN_LENGTH" in cli("users", "password", "olga", "--stdin", input="short\n", code=1)
    assert "does not exist" in cli("users", "password", "nobody", "--stdin", input=f"{GOOD}\n", code=1)
    cli("users", "password", "olga", "--stdin", input="a second long passphrase\n")
    assert (
        security.sign_in_with_password(engine, "olga", "a second long passphrase", settings, session_seconds=60)[
            0
        ].username
        == "olga"
    )
    actions = [a[1] for a in _actions(engine)]
    assert actions.count("set_password") == 3
