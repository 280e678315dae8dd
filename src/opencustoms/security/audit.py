"""The tamper-evident audit log: every entry is chained to the one before it by a SHA-256 hash.

Canonical form of an entry (version 1), the bytes its hash covers::

    entry_hash = SHA-256( b"opencustoms-audit-v1\\n" || bytes.fromhex(prev_hash) || canonical_json )

``prev_hash`` is the ``entry_hash`` of the entry with the next lower id (64 zeros for the first entry), and
``canonical_json`` is the UTF-8 JSON text of the object with exactly the keys ``action``, ``actor``, ``at``,
``detail``, ``id``, ``object_id``, ``object_type``, ``purpose``, written with sorted keys at every level, no
whitespace (separators ``,`` and ``:``) and non-ASCII characters as themselves (Python's
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``). ``at`` is the UTC time as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional digits), ``id`` an integer, ``detail`` the stored JSON value
(``null`` when absent), the other values strings or ``null``.

Appending (:func:`append`) runs in the caller's transaction: it first updates the one-row ``audit_chain_head``
(PostgreSQL locks that row until the transaction ends; SQLite takes its single write lock), reads the head, gives the
new entries the following ids, hashes them in order, inserts them and moves the head. So two writers cannot fork the
chain: the second waits for the first to commit and continues from its head.

:func:`verify` recomputes the chain in id order and names the first entry that does not match (edited, removed,
inserted or moved entries all break it), compares the end with the head, and checks every signed head
(:func:`sign_head`): an Ed25519 signature by the administration's key over the head at a moment, which an attacker
who rewrites the database (chain, head and all) cannot forge.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from opencustoms.security.errors import AuditSigningKeyError
from opencustoms.store.database import as_utc
from opencustoms.store.tables import audit_chain_head, audit_log, audit_signed_heads

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

GENESIS = "0" * 64
_DOMAIN = b"opencustoms-audit-v1\n"
_HEAD_DOMAIN = "opencustoms-audit-head-v1"
ENTRY_FIELDS = ("id", "at", "actor", "action", "object_type", "object_id", "purpose", "detail")
VERIFY_CHUNK = 5000


_PLAIN_JSON = json.JSONEncoder()
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # built once: cheaper


def canonical_time(at: dt.datetime) -> str:
    """``at`` in the canonical form: UTC, microseconds, ``Z`` (``YYYY-MM-DDTHH:MM:SS.ffffffZ``)."""
    return as_utc(at).astimezone(dt.UTC).isoformat(timespec="microseconds")[:-6] + "Z"  # drops "+00:00"


def canonical_entry(entry: dict[str, Any]) -> bytes:
    """The canonical JSON bytes of one entry (see the module's docstring)."""
    obj = {name: entry.get(name) for name in ENTRY_FIELDS}
    obj["at"] = canonical_time(entry["at"])
    obj["id"] = int(entry["id"])
    return _CANONICAL_JSON.encode(obj).encode()


def chain_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """The hash of ``entry`` following an entry whose hash is ``prev_hash`` (hex)."""
    return hashlib.sha256(_DOMAIN + bytes.fromhex(prev_hash) + canonical_entry(entry)).hexdigest()


# The head's two statements go straight to the driver (SQLAlchemy's statement handling was most of an append's
# cost); the insert stays an SQLAlchemy statement, built once.
_LOCK_HEAD = (  # a write: takes the head's lock before the head is read
    "UPDATE audit_chain_head SET last_id = last_id WHERE id = 1 RETURNING last_id, last_hash, entries"
)
_MOVE_HEAD = "UPDATE audit_chain_head SET last_id = {0}, last_hash = {0}, entries = {0} WHERE id = 1"
_INSERT = insert(audit_log)


def _move_head_sql(conn: Connection) -> str:
    return _MOVE_HEAD.format("?" if conn.dialect.paramstyle == "qmark" else "%s")


def append(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append audit entries (dicts of the entry fields but ``id``) to the chain, in the caller's transaction."""
    if not rows:
        return
    last_id, prev, entries = conn.exec_driver_sql(_LOCK_HEAD).one()
    chained = []
    for row in rows:
        last_id += 1
        entry = {**row, "id": last_id, "at": as_utc(row["at"]).astimezone(dt.UTC)}
        if entry.get("detail") is not None:  # stored as it reads back (keys as strings, tuples as lists), then hashed
            entry["detail"] = json.loads(_PLAIN_JSON.encode(entry["detail"]))
        entry["prev_hash"] = prev
        prev = entry["entry_hash"] = chain_hash(prev, entry)
        chained.append(entry)
    conn.execute(_INSERT, chained)
    conn.exec_driver_sql(_move_head_sql(conn), (last_id, prev, entries + len(chained)))


def chain_existing(conn: Connection) -> tuple[int, str, int]:
    """Hash the entries already in ``audit_log`` (written before the chain existed), in id order; the head
    ``(last_id, last_hash, entries)``. Used by migration 0002 only, with the append-only triggers lifted."""
    last_id, prev, count = 0, GENESIS, 0
    while True:
        rows = (
            conn.execute(
                select(*[audit_log.c[name] for name in ENTRY_FIELDS])
                .where(audit_log.c.id > last_id)
                .order_by(audit_log.c.id)
                .limit(VERIFY_CHUNK)
            )
            .mappings()
            .all()
        )
        if not rows:
            return last_id, prev, count
        updates = []
        for row in rows:
            entry_hash = chain_hash(prev, dict(row))
            updates.append({"b_id": row["id"], "b_prev": prev, "b_hash": entry_hash})
            prev, last_id = entry_hash, row["id"]
        conn.execute(
            update(audit_log)
            .where(audit_log.c.id == bindparam("b_id"))
            .values(prev_hash=bindparam("b_prev"), entry_hash=bindparam("b_hash")),
            updates,
        )
        count += len(rows)


# --- signed heads --------------------------------------------------------------------------------------------


def head_message(administration_code: str, entries: int, last_id: int, last_hash: str, signed_at: dt.datetime) -> bytes:
    """The bytes a signed head covers: five lines after ``opencustoms-audit-head-v1``, UTF-8, ``\\n``-separated:
    administration code, number of entries, last id, last hash (hex), signing time (canonical form)."""
    lines = [_HEAD_DOMAIN, administration_code, str(entries), str(last_id), last_hash, canonical_time(signed_at)]
    return "\n".join(lines).encode()


def default_signing_key_file(data_dir: Path) -> Path:
    """Where the administration's Ed25519 key is kept when the ledger was initialised (`opencustoms ledger init`):
    the ledger key store's file format, the base64 of the 32-byte seed, mode 0600."""
    return Path(data_dir) / "ledger" / "keys" / "administration" / "log.key"


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path`` (base64 of the 32-byte seed), refused when missing, unreadable by format, or
    readable by others."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if not path.is_file():
        raise AuditSigningKeyError(
            f"no signing key at {path}: create the administration key with `opencustoms ledger init`, or set "
            "OPENCUSTOMS_AUDIT_SIGNING_KEY_FILE to a file holding the base64 of a 32-byte Ed25519 seed",
            field="key_file",
        )
    if os.stat(path).st_mode & 0o077:
        raise AuditSigningKeyError(
            f"{path} is readable by others; run `chmod 600 {path}` (it holds a private key)", field="key_file"
        )
    try:
        seed = base64.b64decode(path.read_bytes().strip(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError as exc:
        raise AuditSigningKeyError(
            f"{path} does not hold an Ed25519 key (expected the base64 of a 32-byte seed)", field="key_file"
        ) from exc


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign_head(conn: Connection, administration_code: str, key: Ed25519PrivateKey, now: dt.datetime) -> dict[str, Any]:
    """Sign the chain's current head (the caller has just appended to it in this transaction, so it holds the
    head's lock) and keep the signature in ``audit_signed_heads``."""
    head = conn.execute(select(audit_chain_head).where(audit_chain_head.c.id == 1)).mappings().one()
    message = head_message(administration_code, head["entries"], head["last_id"], head["last_hash"], now)
    row = {
        "administration_code": administration_code,
        "signed_at": now,
        "last_id": head["last_id"],
        "last_hash": head["last_hash"],
        "entries": head["entries"],
        "public_key": public_key_bytes(key),
        "signature": key.sign(message),
    }
    conn.execute(insert(audit_signed_heads).values(**row))
    return {k: row[k] for k in ("administration_code", "signed_at", "last_id", "last_hash", "entries")} | {
        "public_key": row["public_key"].hex()
    }


# --- verification --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of :func:`verify`. ``first_bad_id`` names the first entry that breaks the chain (or, for a
    shortened log, the last one left); ``problem`` says what is wrong in words."""

    ok: bool
    entries: int
    last_id: int
    last_hash: str
    signed_heads: int
    first_bad_id: int | None = None
    problem: str | None = None
    newest_signed_at: dt.datetime | None = None  # when the newest signed head was signed (None: never)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["newest_signed_at"] = self.newest_signed_at.isoformat() if self.newest_signed_at else None
        return out


def verify(
    engine: Engine,
    *,
    trusted_public_key: bytes | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditVerification:
    """Recompute the chain from the first entry to the last, then check that the head ends where the chain does.

    Finds an edited entry (its content no longer gives its hash), a removed, inserted or moved one (an entry whose
    link does not continue the chain), a shortened log (the head, or a signed head, names entries that are not
    there) and a forged signed head (bad signature, or a key other than ``trusted_public_key`` when given).
    ``progress(done, total)`` is called after each chunk."""
    with engine.connect() as conn:
        head = conn.execute(select(audit_chain_head).where(audit_chain_head.c.id == 1)).mappings().one_or_none()
        signed = conn.execute(select(audit_signed_heads).order_by(audit_signed_heads.c.id)).mappings().all()
    if head is None:
        return AuditVerification(False, 0, 0, GENESIS, 0, None, "the chain head (table audit_chain_head) is missing")
    total = int(head["entries"])
    newest = max((as_utc(s["signed_at"]) for s in signed), default=None)

    def bad(entry_id: int | None, problem: str, done: int, last_id: int, last_hash: str) -> AuditVerification:
        return AuditVerification(False, done, last_id, last_hash, len(signed), entry_id, problem, newest)

    by_last_id: dict[int, list[Any]] = {}
    for s in signed:
        message = head_message(s["administration_code"], s["entries"], s["last_id"], s["last_hash"], s["signed_at"])
        if not _signature_ok(bytes(s["public_key"]), bytes(s["signature"]), message):
            return bad(s["last_id"], f"signed head #{s['id']} has an invalid signature (forged or altered)", 0, 0, "")
        if trusted_public_key is not None and bytes(s["public_key"]) != trusted_public_key:
            return bad(
                s["last_id"],
                f"signed head #{s['id']} was signed with a key other than the administration's "
                f"({bytes(s['public_key']).hex()[:16]}…)",
                0,
                0,
                "",
            )
        if int(s["last_id"]) or int(s["entries"]) or s["last_hash"] != GENESIS:  # else: an empty log was signed
            by_last_id.setdefault(int(s["last_id"]), []).append(s)

    last_id, prev, done = 0, GENESIS, 0
    with engine.connect() as conn:

        def chunk() -> Sequence[Any]:
            return (
                conn.execute(
                    select(audit_log).where(audit_log.c.id > last_id).order_by(audit_log.c.id).limit(VERIFY_CHUNK)
                )
                .mappings()
                .all()
            )

        while True:
            rows = chunk()
            if not rows:
                # The head and the entries commit together: once the table has no more entries, the head read now
                # must be where the chain ended (appends committed meanwhile move both; read on if they did).
                head = conn.execute(select(audit_chain_head).where(audit_chain_head.c.id == 1)).mappings().one()
                if head["last_id"] == last_id and head["last_hash"] == prev:
                    break
                if head["last_id"] > last_id:
                    rows = chunk()
                if not rows:
                    return bad(
                        last_id or None,
                        f"the log ends at entry #{last_id} ({done} entries) but its head names entry "
                        f"#{head['last_id']} ({head['entries']} entries): entries at the end were removed, entries "
                        "were added behind the head's back, or the head was altered",
                        done,
                        last_id,
                        prev,
                    )
            for row in rows:
                entry_id = int(row["id"])
                if row["prev_hash"] != prev:
                    return bad(
                        entry_id,
                        f"entry #{entry_id} does not follow entry #{last_id or 'none'}: an entry between them was "
                        "removed or inserted, or entries were reordered",
                        done,
                        last_id,
                        prev,
                    )
                if chain_hash(prev, dict(row)) != row["entry_hash"]:
                    return bad(
                        entry_id,
                        f"entry #{entry_id} was changed: its content no longer matches its hash",
                        done,
                        last_id,
                        prev,
                    )
                prev, last_id = row["entry_hash"], entry_id
                done += 1
                for s in by_last_id.pop(entry_id, []):
                    if s["last_hash"] != prev or int(s["entries"]) != done:
                        return bad(
                            entry_id,
                            f"the chain up to entry #{entry_id} differs from the head signed at {s['signed_at']} "
                            "(entries before it were changed, removed or inserted)",
                            done,
                            last_id,
                            prev,
                        )
            if progress is not None:
                progress(done, max(total, done))
    if by_last_id:
        missing = min(by_last_id)
        return bad(
            last_id or None,
            f"a signed head names entry #{missing}, which is not in the chain: the log was cut back or rewritten",
            done,
            last_id,
            prev,
        )
    return AuditVerification(True, done, last_id, prev, len(signed), newest_signed_at=newest)


def _signature_ok(public_key: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
