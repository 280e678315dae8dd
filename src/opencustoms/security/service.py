"""Public face of the security core.

Identities are officers (or devices, or partner administrations) belonging to an administration, holding roles.
API tokens are random 256-bit secrets shown once and stored only as SHA-256 hashes. Every read or change of a
declaration or a party by a person is written to the append-only audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert, select, update

from opencustoms.reference.codes import check_country
from opencustoms.security import audit
from opencustoms.security.errors import AuthenticationError, PermissionDeniedError, UserError
from opencustoms.security.roles import Permission, Role, permissions_of
from opencustoms.store.database import as_utc
from opencustoms.store.tables import administrations, api_tokens, audit_log, user_passwords, users

if TYPE_CHECKING:
    from opencustoms.config import Settings

TOKEN_PREFIX = "oc_"
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Identity:
    """Who is acting: a user with roles, or the local operator using the CLI."""

    username: str
    administration_code: str
    roles: frozenset[Role]
    permissions: frozenset[Permission] = field(default=frozenset())
    # When the identity comes from an API token: that token's expiry (a token cannot mint one outliving it).
    token_expires_at: dt.datetime | None = None

    @classmethod
    def of(
        cls,
        username: str,
        administration_code: str,
        roles: Iterable[Role | str],
        *,
        token_expires_at: dt.datetime | None = None,
    ) -> Identity:
        role_set = frozenset(Role(r) for r in roles)
        return cls(username, administration_code, role_set, permissions_of(role_set), token_expires_at)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise PermissionDeniedError(
                f"{self.username} (roles: {', '.join(sorted(self.roles)) or 'none'}) lacks the permission "
                f"{permission.value}; ask an administrator for a role that grants it"
            )


def default_administration(engine: Engine) -> str | None:
    """The installation's administration when exactly one is registered."""
    with engine.connect() as conn:
        codes = list(conn.execute(select(administrations.c.code)).scalars())
    return codes[0] if len(codes) == 1 else None


def local_operator(administration_code: str = "XX") -> Identity:
    """The identity of someone running the CLI on the server itself: full rights, audited as 'cli'."""
    return Identity.of("cli", administration_code, [Role.ADMINISTRATOR, Role.SUPERVISOR])


# --- administrations and users -----------------------------------------------------------------------------


def ensure_administration(engine: Engine, code: str, name: str, country_code: str) -> None:
    check_country(country_code, "country_code")
    with engine.begin() as conn:
        exists = conn.execute(select(administrations.c.code).where(administrations.c.code == code)).first()
        if not exists:
            conn.execute(
                insert(administrations).values(
                    code=code, name=name, country_code=country_code.upper(), created_at=utcnow()
                )
            )


def create_user(
    engine: Engine,
    actor: Identity,
    username: str,
    administration_code: str | None,
    roles: Iterable[str],
    full_name: str | None = None,
) -> dict[str, Any]:
    """Create a user. Without an administration code, the installation's only administration is used."""
    actor.require(Permission.USERS_MANAGE)
    if not _USERNAME_RE.match(username):
        raise UserError(
            f"username {username!r} must be 2-64 characters: lowercase letters, digits, '.', '_' or '-'",
            field="username",
        )
    try:
        role_set = sorted({Role(r).value for r in roles})
    except ValueError as exc:
        raise UserError(f"unknown role; choose from {', '.join(r.value for r in Role)}", field="roles") from exc
    if not role_set:
        raise UserError("a user needs at least one role", field="roles")
    with engine.begin() as conn:
        known = list(conn.execute(select(administrations.c.code)).scalars())
        if administration_code is None and len(known) == 1:
            administration_code = known[0]
        if administration_code not in known:
            raise UserError(
                f"administration {administration_code!r} does not exist (known: "
                f"{', '.join(known) or 'none'}); register it with `opencustoms init --administration "
                "CODE`",
                field="administration_code",
            )
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise UserError(f"user {username!r} already exists", field="username")
        conn.execute(
            insert(users).values(
                username=username,
                full_name=full_name,
                roles=role_set,
                active=True,
                administration_code=administration_code,
                created_at=utcnow(),
            )
        )
        record(conn, actor, "create", "user", username, detail={"roles": role_set})
    return {
        "username": username,
        "administration_code": administration_code,
        "roles": role_set,
        "full_name": full_name,
        "active": True,
    }


def list_users(engine: Engine, actor: Identity) -> list[dict[str, Any]]:
    actor.require(Permission.USERS_MANAGE)
    with engine.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.username)).mappings().all()
    return [{k: v for k, v in row.items() if k != "id"} for row in rows]


def set_user_active(engine: Engine, actor: Identity, username: str, active: bool) -> None:
    actor.require(Permission.USERS_MANAGE)
    with engine.begin() as conn:
        result = conn.execute(update(users).where(users.c.username == username).values(active=active))
        if result.rowcount == 0:
            raise UserError(f"user {username!r} does not exist", field="username")
        record(conn, actor, "enable" if active else "disable", "user", username)


# --- tokens --------------------------------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_expiry(actor: Identity, valid_days: int | None, max_days: int, now: dt.datetime) -> dt.datetime:
    """When a token issued now by ``actor`` for ``valid_days`` expires, or UserError (field ``valid_days``).

    Every token expires: more than the administration's maximum ``max_days`` (OPENCUSTOMS_TOKEN_MAX_DAYS) is
    refused. An actor authenticated by a token cannot issue one expiring after its own (a short-lived token must not
    mint a long-lived one): asking for longer is refused. ``None`` means the maximum, cut to the actor's own token's
    expiry. The local operator (CLI) has no token and is bound by the maximum only."""
    own = as_utc(actor.token_expires_at)
    if valid_days is None:
        expires = now + dt.timedelta(days=max_days)
        return expires if own is None else min(expires, own)
    days = valid_days
    if days < 1 or days > max_days:
        raise UserError(
            f"valid_days must be between 1 and {max_days} (this administration's maximum, "
            f"OPENCUSTOMS_TOKEN_MAX_DAYS); got {days}",
            field="valid_days",
        )
    expires = now + dt.timedelta(days=days)
    if own is not None and expires > own:
        allowed = (own - now).days
        raise UserError(
            f"valid_days {days} would outlive the token you are using, which expires on {own:%Y-%m-%d %H:%M} UTC; "
            + (
                f"ask for at most {allowed} day(s)"
                if allowed >= 1
                else "it expires within a day: ask an administrator for a new token"
            ),
            field="valid_days",
        )
    return expires


def issue_token(
    engine: Engine,
    actor: Identity,
    username: str,
    label: str | None = None,
    valid_days: int | None = None,
    *,
    max_days: int | None = None,
) -> str:
    """A new API token for ``username``, valid ``valid_days`` (default and cap: ``max_days``, which defaults to
    OPENCUSTOMS_TOKEN_MAX_DAYS; see :func:`token_expiry`). The token is returned once; only its hash is stored."""
    if actor.username != username:
        actor.require(Permission.USERS_MANAGE)
    if max_days is None:
        from opencustoms.config import get_settings

        max_days = get_settings().token_max_days
    now = utcnow()
    expires = token_expiry(actor, valid_days, max_days, now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        user = conn.execute(
            select(users.c.id, users.c.active, users.c.roles).where(users.c.username == username)
        ).first()
        if user is None:
            raise UserError(
                f"user {username!r} does not exist; create it with `opencustoms users add`", field="username"
            )
        beyond = sorted(p.value for p in permissions_of([Role(r) for r in user.roles]) - actor.permissions)
        if actor.username != username and beyond:
            # a token for someone else is that person's power: nobody takes more than they hold themselves (an
            # administrator, who sees parties pseudonymised, would otherwise read them as an officer)
            raise PermissionDeniedError(
                f"{username} holds permissions you do not ({', '.join(beyond)}): a token for them would let you act "
                f"as them; they take their own token, or it is issued on the server with "
                f"`opencustoms users token {username}`",
                field="username",
            )
        conn.execute(
            insert(api_tokens).values(
                user_id=user.id,
                token_hash=_hash_token(token),
                label=label,
                created_at=now,
                expires_at=expires,
            )
        )
        record(
            conn,
            actor,
            "issue_token",
            "user",
            username,
            detail={"label": label, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
    return token


def revoke_tokens(engine: Engine, actor: Identity, username: str) -> int:
    actor.require(Permission.USERS_MANAGE)
    with engine.begin() as conn:
        user = conn.execute(select(users.c.id).where(users.c.username == username)).first()
        if user is None:
            raise UserError(f"user {username!r} does not exist", field="username")
        result = conn.execute(
            update(api_tokens)
            .where(api_tokens.c.user_id == user.id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        record(conn, actor, "revoke_tokens", "user", username, detail={"count": result.rowcount})
    return int(result.rowcount)


def authenticate(engine: Engine, token: str) -> Identity:
    """The identity behind a bearer token, or AuthenticationError saying why not."""
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationError(
            "the token is not an OpenCustoms API token (they start with 'oc_'); "
            "get one with `opencustoms users token USERNAME`"
        )
    with engine.connect() as conn:
        row = conn.execute(
            select(
                users.c.username,
                users.c.administration_code,
                users.c.roles,
                users.c.active,
                api_tokens.c.expires_at,
                api_tokens.c.revoked_at,
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == _hash_token(token))
        ).first()
    if row is None:
        raise AuthenticationError("unknown API token; get a new one with `opencustoms users token USERNAME`")
    if row.revoked_at is not None:
        raise AuthenticationError("this API token was revoked; ask an administrator for a new one")
    expires = as_utc(row.expires_at)
    if expires is None:  # written before tokens always expired (migration 0002 gave those an expiry), or by hand
        raise AuthenticationError("this API token has no expiry date and is not accepted; ask for a new one")
    if expires < utcnow():
        raise AuthenticationError("this API token has expired; ask an administrator for a new one")
    if not row.active:
        raise AuthenticationError(f"user {row.username!r} is disabled")
    return Identity.of(row.username, row.administration_code, row.roles, token_expires_at=expires)


# --- passwords and dashboard sessions ---------------------------------------------------------------------------

SESSION_LABEL = "dashboard session"
SIGN_IN_REFUSED = (
    "the username or password is wrong; after repeated failures, password sign-in pauses for a few minutes"
)
# The actor of the audit entries of password sign-ins: nobody is signed in yet.
_SIGN_IN = Identity.of("sign-in", "XX", [])


def set_password(engine: Engine, actor: Identity, username: str, password: str, settings: Settings) -> None:
    """Give ``username`` a new password (checked against the rules of ``settings``, stored as an argon2id hash).

    Unlocks the account, ends its dashboard sessions (their tokens are revoked) and is audited. Users set their own
    password; anyone else needs ``users:manage``."""
    from opencustoms.security import passwords

    if actor.username != username:
        actor.require(Permission.USERS_MANAGE)
    passwords.PasswordRules.from_settings(settings).check(password, username)
    password_hash = passwords.hash_password(password)
    now = utcnow()
    with engine.begin() as conn:
        user = conn.execute(select(users.c.id).where(users.c.username == username)).first()
        if user is None:
            raise UserError(
                f"user {username!r} does not exist; create it with `opencustoms users add`", field="username"
            )
        values = {
            "password_hash": password_hash,
            "changed_at": now,
            "failures": 0,
            "first_failure_at": None,
            "locked_until": None,
        }
        changed = conn.execute(update(user_passwords).where(user_passwords.c.user_id == user.id).values(**values))
        if changed.rowcount == 0:
            conn.execute(insert(user_passwords).values(user_id=user.id, **values))
        ended = conn.execute(
            update(api_tokens)
            .where(
                api_tokens.c.user_id == user.id,
                api_tokens.c.label == SESSION_LABEL,
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        record(conn, actor, "set_password", "user", username, detail={"sessions_ended": ended.rowcount})


def sign_in_with_password(
    engine: Engine, username: str, password: str, settings: Settings, *, session_seconds: int
) -> tuple[Identity, str]:
    """Check a staff member's password and open a dashboard session: the identity and a new API token (label
    ``dashboard session``) valid ``session_seconds``, which the session cookie carries and sign-out revokes.

    Refusals all raise the same AuthenticationError (:data:`SIGN_IN_REFUSED`) whatever the cause — unknown user, no
    password, disabled, wrong password, locked — so the answer tells nothing about the account; the audit log says
    which (``sign_in_failed`` with the reason, ``sign_in_locked``, ``lockout``). An unknown user costs the same
    argon2 verification as a known one. ``OPENCUSTOMS_PASSWORD_MAX_FAILURES`` wrong passwords within
    ``OPENCUSTOMS_PASSWORD_FAILURE_WINDOW_MINUTES`` lock password sign-in for ``OPENCUSTOMS_PASSWORD_LOCKOUT_MINUTES``
    (API tokens keep working); a success resets the count."""
    from opencustoms.security import passwords

    now = utcnow()
    refused: str | None = None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        row = conn.execute(
            select(
                users.c.id,
                users.c.username,
                users.c.administration_code,
                users.c.roles,
                users.c.active,
                user_passwords.c.password_hash,
                user_passwords.c.failures,
                user_passwords.c.first_failure_at,
                user_passwords.c.locked_until,
            )
            .select_from(users.outerjoin(user_passwords, user_passwords.c.user_id == users.c.id))
            .where(users.c.username == username)
            .with_for_update(of=users)
        ).first()
        matched = passwords.verify(row.password_hash if row is not None else None, password)
        if row is None:
            record(conn, _SIGN_IN, "sign_in_failed", "user", None, detail={"reason": "unknown user"})
            refused = "unknown user"
        elif row.password_hash is None:
            record(conn, _SIGN_IN, "sign_in_failed", "user", username, detail={"reason": "no password"})
            refused = "no password"
        elif (locked := as_utc(row.locked_until)) is not None and locked > now:
            # a locked account answers as a wrong password does, whether this one was right or not
            record(
                conn,
                _SIGN_IN,
                "sign_in_locked",
                "user",
                username,
                detail={"locked_until": locked.strftime("%Y-%m-%dT%H:%M:%SZ"), "password_matched": matched},
            )
            refused = "locked"
        elif not matched:
            refused = "wrong password"
            first = as_utc(row.first_failure_at)
            window = dt.timedelta(minutes=settings.password_failure_window_minutes)
            failures = 1 if first is None or now - first > window else row.failures + 1
            first = now if failures == 1 else first
            values: dict[str, Any] = {"failures": failures, "first_failure_at": first}
            entries = [audit_row(_SIGN_IN, "sign_in_failed", "user", username, detail={"reason": refused})]
            if failures >= settings.password_max_failures:
                until = now + dt.timedelta(minutes=settings.password_lockout_minutes)
                values = {"failures": 0, "first_failure_at": None, "locked_until": until}
                entries.append(
                    audit_row(
                        _SIGN_IN,
                        "lockout",
                        "user",
                        username,
                        detail={"failures": failures, "locked_until": until.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    )
                )
            conn.execute(update(user_passwords).where(user_passwords.c.user_id == row.id).values(**values))
            record_rows(conn, entries)
        elif not row.active:
            record(conn, _SIGN_IN, "sign_in_failed", "user", username, detail={"reason": "disabled"})
            refused = "disabled"
        else:
            values = {"failures": 0, "first_failure_at": None, "locked_until": None}
            if passwords.needs_rehash(row.password_hash):
                values["password_hash"] = passwords.hash_password(password)
            conn.execute(update(user_passwords).where(user_passwords.c.user_id == row.id).values(**values))
            identity = _open_session(conn, row, token, now, session_seconds, {"method": "password"})
    if refused is not None:
        raise AuthenticationError(SIGN_IN_REFUSED)
    return identity, token


def _open_session(
    conn: Connection, user: Any, token: str, now: dt.datetime, session_seconds: int, detail: dict[str, Any]
) -> Identity:
    """Store ``token`` as a dashboard session token of ``user`` (a users row) and audit the sign-in."""
    expires = now + dt.timedelta(seconds=session_seconds)
    conn.execute(
        insert(api_tokens).values(
            user_id=user.id, token_hash=_hash_token(token), label=SESSION_LABEL, created_at=now, expires_at=expires
        )
    )
    identity = Identity.of(user.username, user.administration_code, user.roles, token_expires_at=expires)
    record(conn, identity, "sign_in", "user", user.username, detail=detail)
    return identity


def sign_in_with_oidc(
    engine: Engine,
    username: str,
    settings: Settings,
    *,
    session_seconds: int,
    issuer: str,
    subject: str,
) -> tuple[Identity, str]:
    """Open a dashboard session for ``username``, whom the identity provider ``issuer`` has authenticated (subject
    ``subject``; security.oidc checked its ID token). Only an existing, active user signs in, unless
    OPENCUSTOMS_OIDC_NEW_USER_ROLE is set: then a user without an account is created with that role (audited as
    created by ``oidc``). AuthenticationError names the reason; the audit log records refusals too."""
    now = utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    detail = {"method": "oidc", "issuer": issuer, "subject": subject}
    refused: str | None = None
    with engine.begin() as conn:
        query = select(users.c.id, users.c.username, users.c.administration_code, users.c.roles, users.c.active)
        row = conn.execute(query.where(users.c.username == username)).first()
        if row is None and settings.oidc_new_user_role and _USERNAME_RE.match(username):
            codes = list(conn.execute(select(administrations.c.code)).scalars())
            code = settings.administration or (codes[0] if len(codes) == 1 else None)
            if code in codes:
                conn.execute(
                    insert(users).values(
                        username=username,
                        roles=[settings.oidc_new_user_role],
                        active=True,
                        administration_code=code,
                        created_at=now,
                    )
                )
                creator = Identity.of("oidc", str(code), [Role.ADMINISTRATOR])
                record(conn, creator, "create", "user", username, detail={"roles": [settings.oidc_new_user_role]})
                row = conn.execute(query.where(users.c.username == username)).first()
        if row is None:
            refused = (
                f"{username!r}, signed in at the identity provider, has no OpenCustoms account; an administrator "
                "creates it with `opencustoms users add`"
            )
            record(conn, _SIGN_IN, "sign_in_failed", "user", username[:128], detail={**detail, "reason": "no account"})
        elif not row.active:
            refused = f"user {username!r} is disabled"
            record(conn, _SIGN_IN, "sign_in_failed", "user", username, detail={**detail, "reason": "disabled"})
        else:
            identity = _open_session(conn, row, token, now, session_seconds, detail)
    if refused is not None:
        raise AuthenticationError(refused)
    return identity, token


def end_session(engine: Engine, actor: Identity, token: str) -> bool:
    """Revoke a dashboard session's token at sign-out (only tokens opened by :func:`sign_in_with_password`; an API
    token someone signed in with stays valid). Whether one was revoked."""
    with engine.begin() as conn:
        result = conn.execute(
            update(api_tokens)
            .where(
                api_tokens.c.token_hash == _hash_token(token),
                api_tokens.c.label == SESSION_LABEL,
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
        if result.rowcount:
            record(conn, actor, "sign_out", "user", actor.username)
    return bool(result.rowcount)


# --- audit ---------------------------------------------------------------------------------------------------


def audit_row(
    actor: Identity,
    action: str,
    object_type: str,
    object_id: str | None,
    *,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """One audit entry as a row, for :func:`record_rows`."""
    return {
        "at": at or utcnow(),
        "actor": actor.username,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "purpose": purpose,
        "detail": detail,
    }


def record_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append audit entries (:func:`audit_row`) to the hash chain in one statement, inside the caller's
    transaction. On PostgreSQL the chain's head stays locked until that transaction ends: record last, commit soon."""
    audit.append(conn, rows)


def record(
    conn: Connection,
    actor: Identity,
    action: str,
    object_type: str,
    object_id: str | None,
    *,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry inside the caller's transaction (so the entry and the change commit together)."""
    record_rows(conn, [audit_row(actor, action, object_type, object_id, purpose=purpose, detail=detail)])


def record_many(
    conn: Connection,
    actor: Identity,
    action: str,
    object_type: str,
    object_ids: Iterable[str],
    *,
    purpose: str | None = None,
) -> None:
    now = utcnow()
    record_rows(conn, [audit_row(actor, action, object_type, i, purpose=purpose, at=now) for i in object_ids])


def read_audit(
    engine: Engine,
    actor: Identity,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    who: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    actor.require(Permission.AUDIT_READ)
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(min(limit, 10_000))
    if object_type:
        query = query.where(audit_log.c.object_type == object_type)
    if object_id:
        query = query.where(audit_log.c.object_id == object_id)
    if who:
        query = query.where(audit_log.c.actor == who)
    with engine.begin() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings().all()]
        record(
            conn,
            actor,
            "read",
            "audit_log",
            None,
            detail={"object_type": object_type, "object_id": object_id, "who": who, "rows": len(rows)},
        )
    return rows


def audit_signing_key_file(settings: Settings) -> Path:
    """OPENCUSTOMS_AUDIT_SIGNING_KEY_FILE, or the ledger's administration key in the data directory."""
    return settings.audit_signing_key_file or audit.default_signing_key_file(settings.data_dir)


def verify_audit(
    engine: Engine,
    actor: Identity,
    *,
    key_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    sign_interval_minutes: float = 0,
) -> dict[str, Any]:
    """Check the audit log's hash chain end to end (:func:`opencustoms.security.audit.verify`); signed heads must
    be signed by the key in ``key_file`` when that file exists. The check is itself audited.

    A database owner who cuts the end of the log and the signed heads after the cut leaves a chain that verifies:
    nothing inside the database can tell. So, where heads are signed every ``sign_interval_minutes`` with that key,
    a newest signed head older than twice the interval is reported (``warning``): compare the head with one kept
    outside the database (the output of `opencustoms audit sign`, a ledger checkpoint, a log shipped elsewhere)."""
    actor.require(Permission.AUDIT_READ)
    trusted = None
    if key_file is not None and Path(key_file).is_file():
        trusted = audit.public_key_bytes(audit.load_signing_key(Path(key_file)))
    result = audit.verify(engine, trusted_public_key=trusted, progress=progress)
    newest = result.newest_signed_at
    warning = None
    if trusted is not None and sign_interval_minutes > 0:
        due = dt.timedelta(minutes=2 * sign_interval_minutes)
        if newest is None or utcnow() - newest > due:
            warning = (
                f"the newest signed head is {'missing' if newest is None else 'from ' + newest.isoformat()}, while "
                f"heads are signed every {sign_interval_minutes:g} minutes: entries (and signed heads) after it may "
                "have been removed — compare the head with one kept outside this database"
            )
    with engine.begin() as conn:
        record(
            conn,
            actor,
            "verify",
            "audit_log",
            None,
            detail={"ok": result.ok, "entries": result.entries, "first_bad_id": result.first_bad_id},
        )
    return result.as_dict() | {"warning": warning}


def sign_audit_head(engine: Engine, actor: Identity, key_file: Path) -> dict[str, Any]:
    """Sign the audit chain's head with the administration's Ed25519 key (run it periodically, e.g. hourly from a
    timer): a later rewrite of the log up to a signed head is found by `opencustoms audit verify` even when the
    rewriter recomputed every hash."""
    actor.require(Permission.USERS_MANAGE)
    key = audit.load_signing_key(Path(key_file))
    with engine.begin() as conn:
        record(conn, actor, "sign_head", "audit_log", None)
        return audit.sign_head(conn, actor.administration_code, key, utcnow())


def sign_audit_head_on_schedule(engine: Engine, settings: Settings) -> dict[str, Any] | None:
    """What the API server does every OPENCUSTOMS_AUDIT_SIGN_INTERVAL_MINUTES: sign the audit chain's head, as
    ``server``, when the signing key file exists and the administration is known (the setting, or the one
    registered); None when there is nothing to sign with (no key yet: `opencustoms ledger init` creates it)."""
    key_file = audit_signing_key_file(settings)
    if not key_file.is_file():
        return None
    code = settings.administration or default_administration(engine)
    if code is None:
        return None
    return sign_audit_head(engine, Identity.of("server", code, [Role.ADMINISTRATOR]), key_file)
