"""Public face of the ledger: an AEO certificate registry on a signed transparency log (RFC 9162).

Each administration keeps its own append-only log (``init_log``) and replicas of its partners' logs
(``add_partner``, ``pull``). Officers sign entries with keys that the administration's key certifies in the log
itself (``certify_officer``, ``revoke_officer``); the administration's key signs checkpoints. Every append runs in
one transaction — entries, tree nodes, certificate state, the new signed checkpoint, signals and the audit entry —
and is all-or-nothing: a batch with one bad entry is rejected whole, with the reason, and the rejection audited.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select, update

from opencustoms import signals
from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import logstore, merkle
from opencustoms.ledger.entries import (
    AEO_KINDS,
    AEOCertificate,
    AEOStatus,
    EntryBody,
    EntryKind,
    OfficerKey,
    SignedEntry,
    next_status,
    sign_entry,
)
from opencustoms.ledger.errors import (
    CheckpointError,
    DuplicateEntryError,
    EntryError,
    LedgerError,
    LedgerNotFoundError,
    ProofError,
    SignatureError,
)
from opencustoms.ledger.keys import KeyStore, key_id
from opencustoms.ledger.tables import (
    ledger_alarms,
    ledger_certificates,
    ledger_checkpoints,
    ledger_entries,
    ledger_keys,
    ledger_logs,
)
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record, utcnow

OWN, PARTNER = "own", "partner"
ADMINISTRATION, OFFICER = "administration", "officer"
SIGNAL_NAMESPACE = uuid.UUID("6f0b7c1e-3a52-4c1e-9a57-0e1d0c0ffee4")
SEVERITY = {
    AEOStatus.CERTIFIED: signals.Severity.INFO,
    AEOStatus.SUSPENDED: signals.Severity.MEDIUM,
    AEOStatus.REVOKED: signals.Severity.HIGH,
}


def default_origin(administration_code: str) -> str:
    return f"opencustoms/{administration_code.upper()}/aeo"


@dataclass(frozen=True)
class Log:
    id: int
    origin: str
    administration_code: str
    role: str
    public_key: bytes
    url: str | None
    size: int

    @property
    def verifier_key(self) -> str:
        return notes.verifier_key(self.origin, self.public_key)


def _log(conn: Connection, origin: str | None = None) -> Log:
    query = select(ledger_logs)
    query = query.where(ledger_logs.c.origin == origin) if origin else query.where(ledger_logs.c.role == OWN)
    row = conn.execute(query).mappings().first()
    if row is None:
        if origin:
            raise LedgerNotFoundError(
                f"no log {origin!r} on this node; add the partner with `opencustoms ledger partner-add`", field="origin"
            )
        raise LedgerNotFoundError("this node has no ledger yet; create it with `opencustoms ledger init`")
    return Log(
        row["id"],
        row["origin"],
        row["administration_code"],
        row["role"],
        bytes(row["public_key"]),
        row["url"],
        int(row["size"]),
    )


def own_log(engine: Engine) -> Log:
    with engine.connect() as conn:
        return _log(conn)


def logs(engine: Engine, actor: Identity) -> list[dict[str, Any]]:
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        rows = conn.execute(select(ledger_logs).order_by(ledger_logs.c.id)).mappings().all()
    return [
        {
            "origin": r["origin"],
            "administration_code": r["administration_code"],
            "role": r["role"],
            "url": r["url"],
            "size": int(r["size"]),
            "verifier_key": notes.verifier_key(r["origin"], bytes(r["public_key"])),
        }
        for r in rows
    ]


# --- setting up ------------------------------------------------------------------------------------------------------


def init_log(
    engine: Engine, actor: Identity, keystore: KeyStore, administration_code: str, origin: str | None = None
) -> dict[str, Any]:
    """Create this node's log and its administration key (kept in the key store, 0600). Safe to run again."""
    actor.require(Permission.USERS_MANAGE)
    with engine.begin() as conn:
        existing = conn.execute(select(ledger_logs.c.origin).where(ledger_logs.c.role == OWN)).scalar()
        if existing:
            return {"origin": existing, "verifier_key": _log(conn).verifier_key, "created": False}
        origin = origin or default_origin(administration_code)
        notes.verifier_key(origin, bytes(32))  # validates the name
        key = (
            keystore.administration_key()
            if keystore.has("administration", "log")
            else keystore.create("administration", "log")
        )
        public = notes.public_bytes(key)
        now = utcnow()
        log_id = conn.execute(
            ledger_logs.insert().values(
                origin=origin,
                administration_code=administration_code.upper(),
                role=OWN,
                public_key=public,
                size=0,
                created_at=now,
            )
        ).inserted_primary_key[0]
        conn.execute(
            ledger_keys.insert().values(
                key_id=key_id(public),
                log_id=log_id,
                holder=origin,
                role=ADMINISTRATION,
                public_key=public,
                certified_at=now,
            )
        )
        cp = notes.sign_checkpoint(origin, 0, merkle.EMPTY_ROOT, key)
        conn.execute(
            ledger_checkpoints.insert().values(
                log_id=log_id, size=0, root=cp.root, note=cp.note, source="self", observed_at=now
            )
        )
        record(conn, actor, "create", "ledger_log", origin, detail={"key_id": key_id(public)})
    return {"origin": origin, "verifier_key": notes.verifier_key(origin, public), "created": True}


def certify_officer(
    engine: Engine, actor: Identity, keystore: KeyStore, officer: str, *, rotate: bool = False
) -> dict[str, Any]:
    """Give ``officer`` a signing key, certified by a log entry signed with the administration key. With
    ``rotate``, the officer's current key is revoked in the same batch and a new one certified."""
    actor.require(Permission.USERS_MANAGE)
    log = own_log(engine)
    with engine.connect() as conn:
        current = (
            conn.execute(
                select(ledger_keys.c.key_id).where(
                    ledger_keys.c.log_id == log.id,
                    ledger_keys.c.holder == officer,
                    ledger_keys.c.role == OFFICER,
                    ledger_keys.c.revoked_idx.is_(None),
                )
            )
            .scalars()
            .all()
        )
    if current and not rotate:
        raise LedgerError(f"officer {officer!r} already has key {current[0]}; rotate it with --rotate", field="officer")
    admin = keystore.administration_key()
    admin_id = key_id(notes.public_bytes(admin))
    now = utcnow()
    batch = [
        sign_entry(
            EntryBody(
                origin=log.origin,
                kind=EntryKind.KEY_REVOKED,
                officer=actor.username,
                recorded_at=now,
                effective_date=now.date(),
                reason="key rotation",
                key=OfficerKey(key_id=k, officer=officer, public_key=_public_b64(conn_key)),
            ),
            admin,
            admin_id,
        )
        for k, conn_key in ((k, _public_of(engine, log, k)) for k in current)
    ]
    new_key = keystore.create("officers", officer, replace=rotate or keystore.has("officers", officer))
    public = notes.public_bytes(new_key)
    body = EntryBody(
        origin=log.origin,
        kind=EntryKind.KEY_CERTIFIED,
        officer=actor.username,
        recorded_at=now,
        effective_date=now.date(),
        key=OfficerKey(key_id=key_id(public), officer=officer, public_key=base64.b64encode(public).decode()),
    )
    batch.append(sign_entry(body, admin, admin_id))
    receipts = append_signed(engine, actor, keystore, batch)
    return {"officer": officer, "key_id": key_id(public), "index": receipts[-1]["index"], "revoked": list(current)}


def _public_of(engine: Engine, log: Log, kid: str) -> bytes:
    with engine.connect() as conn:
        return bytes(conn.execute(select(ledger_keys.c.public_key).where(ledger_keys.c.key_id == kid)).scalar_one())


def _public_b64(public: bytes) -> str:
    return base64.b64encode(public).decode()


def revoke_officer(engine: Engine, actor: Identity, keystore: KeyStore, officer: str, reason: str) -> dict[str, Any]:
    """Revoke the officer's key from now on (entries it signed before stay valid: the log proves their order)."""
    actor.require(Permission.USERS_MANAGE)
    log = own_log(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(ledger_keys.c.key_id, ledger_keys.c.public_key).where(
                ledger_keys.c.log_id == log.id,
                ledger_keys.c.holder == officer,
                ledger_keys.c.role == OFFICER,
                ledger_keys.c.revoked_idx.is_(None),
            )
        ).all()
    if not rows:
        raise LedgerNotFoundError(f"officer {officer!r} has no key in force", field="officer")
    admin = keystore.administration_key()
    now = utcnow()
    batch = [
        sign_entry(
            EntryBody(
                origin=log.origin,
                kind=EntryKind.KEY_REVOKED,
                officer=actor.username,
                recorded_at=now,
                effective_date=now.date(),
                reason=reason,
                key=OfficerKey(key_id=r.key_id, officer=officer, public_key=_public_b64(bytes(r.public_key))),
            ),
            admin,
            key_id(notes.public_bytes(admin)),
        )
        for r in rows
    ]
    append_signed(engine, actor, keystore, batch)
    return {"officer": officer, "revoked": [r.key_id for r in rows]}


# --- entries ----------------------------------------------------------------------------------------------------------


@dataclass
class _Key:
    role: str
    holder: str
    public: Ed25519PublicKey
    raw: bytes
    revoked: bool


@dataclass
class _Cert:
    status: AEOStatus
    holder_id: str
    holder_name: str
    type: str
    audience: list[str] | None


def _load_keys(conn: Connection, log_id: int) -> dict[str, _Key]:
    rows = conn.execute(select(ledger_keys).where(ledger_keys.c.log_id == log_id)).mappings()
    return {
        r["key_id"]: _Key(
            r["role"],
            r["holder"],
            Ed25519PublicKey.from_public_bytes(bytes(r["public_key"])),
            bytes(r["public_key"]),
            r["revoked_idx"] is not None,
        )
        for r in rows
    }


def _where(i: int, exc: OpenCustomsError, count: int) -> OpenCustomsError:
    if count > 1 or i > 0:
        exc.message = f"entry {i}: {exc.message}"
        exc.args = (exc.message,)
        exc.field = f"entries[{i}].{exc.field}" if exc.field else f"entries[{i}]"
    return exc


def _ingest(conn: Connection, log: Log, entries: Sequence[SignedEntry], now: dt.datetime) -> list[dict[str, Any]]:
    """Validate a batch against the log's state and write it (entries, nodes, certificates, keys). Raises on the
    first bad entry; the caller's transaction then rolls everything back."""
    size = logstore.lock(conn, log.id)
    keys = _load_keys(conn, log.id)
    out: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    certs: dict[str, _Cert | None] = {}
    entry_ids: set[str] = set()
    bodies: list[EntryBody | None] = []
    key_changes: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        try:
            key = keys.get(entry.key_id)
            if key is None:
                raise SignatureError(
                    f"key {entry.key_id} is not certified in log {log.origin}; an administrator "
                    "certifies officer keys with `opencustoms ledger officer-key`",
                    field="key_id",
                )
            if key.revoked:
                raise SignatureError(
                    f"key {entry.key_id} of {key.holder} was revoked; entries signed with it after "
                    "its revocation are refused",
                    field="key_id",
                )
            entry.verify_signature(key.public)
            body = entry.open() if entry.body is not None else None
            if body is None and log.role == OWN:
                raise EntryError("an entry appended to this node's own log must carry its body and salt", field="body")
            if body is not None:
                _check_body(body, key, log, entry, keys, size + i)
                if body.kind not in AEO_KINDS:
                    key_changes.append(_key_change(log, body, keys, size + i, now))
                if body.entry_id in entry_ids:
                    raise DuplicateEntryError(f"entry {body.entry_id} appears twice in the batch", field="entry_id")
                entry_ids.add(body.entry_id)
            elif key.role != OFFICER:
                raise EntryError("key entries are public; this one came without its content", field="body")
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise _where(
                i,
                EntryError(f"{loc}: {str(first['msg']).removeprefix('Value error, ')}", field=f"body.{loc}"),
                len(entries),
            ) from exc
        except OpenCustomsError as exc:
            raise _where(i, exc, len(entries)) from exc
        bodies.append(body)
    # duplicates against the stored log
    if entry_ids:
        known = (
            conn.execute(
                select(ledger_entries.c.entry_id).where(
                    ledger_entries.c.log_id == log.id, ledger_entries.c.entry_id.in_(entry_ids)
                )
            )
            .scalars()
            .first()
        )
        if known:
            raise DuplicateEntryError(
                f"entry {known} is already in log {log.origin}; nothing was written", field="entry_id"
            )
    numbers = {b.certificate_number for b in bodies if b is not None and b.kind in AEO_KINDS}
    if numbers:
        for r in conn.execute(
            select(ledger_certificates).where(
                ledger_certificates.c.log_id == log.id, ledger_certificates.c.certificate_number.in_(numbers)
            )
        ).mappings():
            certs[r["certificate_number"]] = _Cert(
                AEOStatus(r["status"]), r["holder_id"], r["holder_name"], r["type"], r["audience"]
            )
    for i, (entry, body) in enumerate(zip(entries, bodies, strict=True)):
        idx = size + i
        row: dict[str, Any] = {
            "log_id": log.id,
            "idx": idx,
            "leaf": entry.leaf(),
            "commitment": entry.commitment,
            "entry_id": None,
            "body": None,
            "salt": None,
            "kind": None,
            "certificate_number": None,
            "holder_id": None,
            "effective_date": None,
            "audience": None,
            "recorded_at": now,
        }
        info: dict[str, Any] = {"index": idx, "commitment": entry.commitment, "restricted": entry.restricted}
        if body is not None:
            row.update(
                entry_id=body.entry_id,
                body=entry.body,
                salt=base64.b64decode(entry.salt or ""),
                kind=body.kind.value,
                effective_date=body.effective_date,
            )
            info.update(entry_id=body.entry_id, kind=body.kind.value, officer=body.officer)
            try:
                if body.kind in AEO_KINDS:
                    _apply_aeo(body, entry, certs, row, info)
            except OpenCustomsError as exc:
                raise _where(i, exc, len(entries)) from exc
        rows.append(row)
        out.append(info)
    conn.execute(ledger_entries.insert(), rows)
    for change in key_changes:
        if change["revoke"]:
            conn.execute(
                update(ledger_keys)
                .where(ledger_keys.c.key_id == change["key_id"])
                .values(revoked_idx=change["idx"], revoked_at=now)
            )
        else:
            conn.execute(ledger_keys.insert().values(**change["row"]))
    tree = logstore.frontier(conn, log.id, size)
    hashes = logstore.append(conn, log.id, tree, [r["leaf"] for r in rows])
    for info, h in zip(out, hashes, strict=True):
        info["leaf_hash"] = h.hex()
    _write_certificates(conn, log, certs, out, now)
    out_root = tree.root()
    for info in out:
        info["tree_size"] = tree.size
        info["root"] = out_root.hex()
    return out


def _check_body(body: EntryBody, key: _Key, log: Log, entry: SignedEntry, keys: dict[str, _Key], idx: int) -> None:
    if body.origin != log.origin:
        raise EntryError(f"the entry is for log {body.origin!r}, not {log.origin!r}", field="origin")
    if body.kind in AEO_KINDS:
        if key.role != OFFICER:
            raise SignatureError(
                "certificate entries are signed by an officer key, not the administration key", field="key_id"
            )
        if body.officer != key.holder:
            raise SignatureError(
                f"the entry names officer {body.officer!r} but is signed with the key of {key.holder!r}",
                field="officer",
            )
    else:
        if key.role != ADMINISTRATION:
            raise SignatureError(
                "key certifications and revocations are signed by the administration key", field="key_id"
            )


def _apply_aeo(
    body: EntryBody, entry: SignedEntry, certs: dict[str, _Cert | None], row: dict[str, Any], info: dict[str, Any]
) -> None:
    number = body.certificate_number or ""
    current = certs.get(number)
    status = next_status(body.kind, current.status if current else None, number)
    if body.certificate is not None:
        audience = body.certificate.shared_with or None
        cert = _Cert(status, body.certificate.holder.id, body.certificate.holder.name, body.certificate.type, audience)
    else:
        assert current is not None
        cert = _Cert(status, current.holder_id, current.holder_name, current.type, current.audience)
    if entry.restricted != bool(cert.audience):
        raise EntryError(
            f"certificate {number} is shared with {cert.audience or 'every partner'}: mark the entry "
            f"restricted={bool(cert.audience)}",
            field="restricted",
        )
    certs[number] = cert
    row.update(certificate_number=number, holder_id=cert.holder_id, audience=cert.audience)
    info.update(
        certificate_number=number,
        status=status.value,
        holder_id=cert.holder_id,
        holder_name=cert.holder_name,
        audience=cert.audience,
        reason=body.reason,
        effective_date=body.effective_date.isoformat(),
    )


def _key_change(log: Log, body: EntryBody, keys: dict[str, _Key], idx: int, now: dt.datetime) -> dict[str, Any]:
    """Apply a key certification or revocation to the in-memory key set (so later entries of the same batch are
    checked against it) and return the row change to write."""
    assert body.key is not None
    raw = base64.b64decode(body.key.public_key)
    if len(raw) != 32 or key_id(raw) != body.key.key_id:
        raise EntryError("the key's id is not the SHA-256 prefix of its public key", field="key.key_id")
    if body.kind is EntryKind.KEY_CERTIFIED:
        if body.key.key_id in keys:
            raise DuplicateEntryError(f"key {body.key.key_id} is already certified", field="key.key_id")
        keys[body.key.key_id] = _Key(OFFICER, body.key.officer, Ed25519PublicKey.from_public_bytes(raw), raw, False)
        return {
            "revoke": False,
            "row": {
                "key_id": body.key.key_id,
                "log_id": log.id,
                "holder": body.key.officer,
                "role": OFFICER,
                "public_key": raw,
                "certified_idx": idx,
                "certified_at": now,
            },
        }
    known = keys.get(body.key.key_id)
    if known is None or known.role != OFFICER or known.revoked:
        raise EntryError(f"key {body.key.key_id} is not an officer key in force", field="key.key_id")
    known.revoked = True
    return {"revoke": True, "key_id": body.key.key_id, "idx": idx}


def _write_certificates(
    conn: Connection, log: Log, certs: dict[str, _Cert | None], out: list[dict[str, Any]], now: dt.datetime
) -> None:
    last = {info["certificate_number"]: info["index"] for info in out if "certificate_number" in info}
    if not last:
        return
    existing = set(
        conn.execute(
            select(ledger_certificates.c.certificate_number).where(
                ledger_certificates.c.log_id == log.id, ledger_certificates.c.certificate_number.in_(last)
            )
        ).scalars()
    )
    fresh = []
    for number, idx in last.items():
        cert = certs[number]
        assert cert is not None
        values = {
            "status": cert.status.value,
            "holder_id": cert.holder_id,
            "holder_name": cert.holder_name,
            "type": cert.type,
            "audience": cert.audience,
            "last_idx": idx,
            "updated_at": now,
        }
        if number in existing:
            conn.execute(
                update(ledger_certificates)
                .where(ledger_certificates.c.log_id == log.id, ledger_certificates.c.certificate_number == number)
                .values(**values)
            )
        else:
            fresh.append({"log_id": log.id, "certificate_number": number, **values})
    if fresh:
        conn.execute(ledger_certificates.insert(), fresh)


def _signals(log: Log, infos: list[dict[str, Any]], now: dt.datetime) -> list[signals.Signal]:
    out = []
    for info in infos:
        if "status" not in info:
            continue
        status = AEOStatus(info["status"])
        verb = info["kind"].removeprefix("aeo.")
        reason = (
            f"AEO certificate {info['certificate_number']} of {info['holder_name']} ({log.origin}) is "
            f"{status.value} ({verb}{': ' + info['reason'] if info.get('reason') else ''})"
        )
        evidence = {
            "origin": log.origin,
            "index": info["index"],
            "leaf_hash": info["leaf_hash"],
            "kind": info["kind"],
            "status": status.value,
            "certificate_number": info["certificate_number"],
            "holder_id": info["holder_id"],
            "effective_date": info["effective_date"],
            "tree_size": info["tree_size"],
            "root": info["root"],
        }
        for subject_type, subject_id in (
            (signals.SubjectType.CERTIFICATE, info["certificate_number"]),
            (signals.SubjectType.PARTY, info["holder_id"]),
        ):
            out.append(
                signals.Signal(
                    id=str(uuid.uuid5(SIGNAL_NAMESPACE, f"{log.origin}#{info['index']}#{subject_type.value}")),
                    kind=f"ledger.aeo_{status.value}",
                    subject_type=subject_type,
                    subject_id=subject_id,
                    severity=SEVERITY[status],
                    source="ledger",
                    reason=reason[:2000],
                    evidence=evidence,
                    observed_at=now,
                )
            )
    return out


def _reject(engine: Engine, actor: Identity, origin: str, exc: OpenCustomsError, count: int) -> None:
    with engine.begin() as conn:
        record(
            conn,
            actor,
            "reject",
            "ledger_log",
            origin,
            detail={"reason": exc.message, "field": exc.field, "entries": count},
        )


def append_signed(
    engine: Engine, actor: Identity, keystore: KeyStore, entries: Sequence[SignedEntry]
) -> list[dict[str, Any]]:
    """Append signed entries to this node's log in one durable transaction and sign the new checkpoint.

    Every signature, key certificate, body and status change is checked first; one bad entry rejects the batch
    (nothing written, the rejection audited). Returns one receipt per entry (index, leaf hash, tree size, root)."""
    actor.require(Permission.LEDGER_WRITE)
    if not entries:
        raise EntryError("nothing to append: the batch is empty", field="entries")
    log = own_log(engine)
    admin = keystore.administration_key()
    now = utcnow()
    try:
        with engine.begin() as conn:
            infos = _ingest(conn, log, entries, now)
            size, root = infos[-1]["tree_size"], bytes.fromhex(infos[-1]["root"])
            cp = notes.sign_checkpoint(log.origin, size, root, admin)
            conn.execute(
                ledger_checkpoints.insert().values(
                    log_id=log.id, size=size, root=root, note=cp.note, source="self", observed_at=now
                )
            )
            signals.emit(conn, _signals(log, infos, now))
            record(
                conn,
                actor,
                "append",
                "ledger_log",
                log.origin,
                detail={
                    "first": infos[0]["index"],
                    "count": len(infos),
                    "certificates": sorted({i["certificate_number"] for i in infos if "certificate_number" in i})[:50],
                },
            )
    except OpenCustomsError as exc:
        _reject(engine, actor, log.origin, exc, len(entries))
        raise
    for info in infos:
        info["checkpoint"] = cp.note
    return infos


def _officer_entry(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    kind: EntryKind,
    *,
    certificate: AEOCertificate | None = None,
    certificate_number: str | None = None,
    reason: str | None = None,
    effective_date: dt.date | None = None,
) -> dict[str, Any]:
    actor.require(Permission.LEDGER_WRITE)
    log = own_log(engine)
    key = keystore.officer_key(actor.username)
    now = utcnow()
    try:
        body = EntryBody(
            origin=log.origin,
            kind=kind,
            officer=actor.username,
            recorded_at=now,
            effective_date=effective_date or now.date(),
            certificate=certificate,
            certificate_number=certificate_number,
            reason=reason,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise EntryError(
            str(first["msg"]).removeprefix("Value error, "), field=".".join(str(p) for p in first["loc"]) or "entry"
        ) from exc
    if certificate is not None:
        restricted = bool(certificate.shared_with)
    else:
        with engine.connect() as conn:
            audience = conn.execute(
                select(ledger_certificates.c.audience).where(
                    ledger_certificates.c.log_id == log.id,
                    ledger_certificates.c.certificate_number == certificate_number,
                )
            ).first()
        restricted = bool(audience and audience[0])
    signed = sign_entry(body, key, key_id(notes.public_bytes(key)), restricted=restricted)
    return append_signed(engine, actor, keystore, [signed])[0]


def issue(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    certificate: AEOCertificate,
    reason: str | None = None,
    effective_date: dt.date | None = None,
) -> dict[str, Any]:
    """Record a newly granted AEO certificate, signed with the acting officer's key."""
    return _officer_entry(
        engine,
        actor,
        keystore,
        EntryKind.ISSUED,
        certificate=certificate,
        reason=reason,
        effective_date=effective_date or certificate.issue_date,
    )


def amend(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    certificate: AEOCertificate,
    reason: str,
    effective_date: dt.date | None = None,
) -> dict[str, Any]:
    return _officer_entry(
        engine,
        actor,
        keystore,
        EntryKind.AMENDED,
        certificate=certificate,
        reason=reason,
        effective_date=effective_date,
    )


def change_status(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    kind: EntryKind | str,
    certificate_number: str,
    reason: str,
    effective_date: dt.date | None = None,
) -> dict[str, Any]:
    """Suspend, revoke or reinstate a certificate (``kind`` 'aeo.suspended', 'aeo.revoked', 'aeo.reinstated')."""
    kind = EntryKind(kind)
    if kind not in (EntryKind.SUSPENDED, EntryKind.REVOKED, EntryKind.REINSTATED):
        raise EntryError(f"{kind.value} is not a status change; use issue or amend", field="kind")
    return _officer_entry(
        engine,
        actor,
        keystore,
        kind,
        certificate_number=certificate_number.upper(),
        reason=reason,
        effective_date=effective_date,
    )


# --- queries ----------------------------------------------------------------------------------------------------------


def _visible(audience: list[str] | None, actor: Identity, log: Log) -> bool:
    return not audience or actor.administration_code == log.administration_code or actor.administration_code in audience


def _certificate_rows(conn: Connection, number: str, origin: str | None) -> list[Any]:
    query = (
        select(ledger_certificates, ledger_logs.c.origin, ledger_logs.c.role)
        .join(ledger_logs, ledger_logs.c.id == ledger_certificates.c.log_id)
        .where(ledger_certificates.c.certificate_number == number.upper())
    )
    if origin:
        query = query.where(ledger_logs.c.origin == origin)
    return list(conn.execute(query.order_by(ledger_logs.c.id)).mappings())


def status(
    engine: Engine, actor: Identity, certificate_number: str, *, origin: str | None = None, as_of: dt.date | None = None
) -> dict[str, Any]:
    """The status of a certificate now, or on a date (replaying its entries effective on or before that day)."""
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        rows = [r for r in _certificate_rows(conn, certificate_number, origin)]
        if not rows:
            raise LedgerNotFoundError(
                f"certificate {certificate_number} is in no log on this node", field="certificate_number"
            )
        row = rows[0]
        log = _log(conn, row["origin"])
        if not _visible(row["audience"], actor, log):
            raise LedgerNotFoundError(
                f"certificate {certificate_number} is in no log on this node", field="certificate_number"
            )
        result = {
            "certificate_number": row["certificate_number"],
            "origin": row["origin"],
            "holder_id": row["holder_id"],
            "holder_name": row["holder_name"],
            "type": row["type"],
            "status": row["status"],
            "last_index": int(row["last_idx"]),
            "as_of": None,
        }
        if as_of is not None:
            current: AEOStatus | None = None
            for entry in _entries_of(conn, log.id, row["certificate_number"]):
                if entry["effective_date"] <= as_of:
                    current = next_status(EntryKind(entry["kind"]), current, row["certificate_number"])
            if current is None:
                raise LedgerNotFoundError(
                    f"certificate {certificate_number} was not yet in force on {as_of}", field="as_of"
                )
            result.update(status=current.value, as_of=as_of.isoformat())
    return result


def _entries_of(conn: Connection, log_id: int, number: str) -> list[Any]:
    return list(
        conn.execute(
            select(ledger_entries)
            .where(ledger_entries.c.log_id == log_id, ledger_entries.c.certificate_number == number)
            .order_by(ledger_entries.c.idx)
        ).mappings()
    )


def latest_checkpoint(engine: Engine, origin: str | None = None) -> notes.Checkpoint:
    with engine.connect() as conn:
        log = _log(conn, origin)
        row = (
            conn.execute(
                select(ledger_checkpoints)
                .where(ledger_checkpoints.c.log_id == log.id)
                .order_by(ledger_checkpoints.c.size.desc(), ledger_checkpoints.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    if row is None:
        raise LedgerNotFoundError(f"no checkpoint held for log {log.origin}")
    return notes.open_checkpoint(row["note"], log.origin, log.public_key, None)


def history(engine: Engine, actor: Identity, certificate_number: str, *, origin: str | None = None) -> dict[str, Any]:
    """Every entry of a certificate with its inclusion proof against the latest checkpoint held for its log."""
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        rows = _certificate_rows(conn, certificate_number, origin)
        if not rows:
            raise LedgerNotFoundError(
                f"certificate {certificate_number} is in no log on this node", field="certificate_number"
            )
        log = _log(conn, rows[0]["origin"])
        if not _visible(rows[0]["audience"], actor, log):
            raise LedgerNotFoundError(
                f"certificate {certificate_number} is in no log on this node", field="certificate_number"
            )
        cp = latest_checkpoint(engine, log.origin)
        items = []
        for e in _entries_of(conn, log.id, rows[0]["certificate_number"]):
            if e["idx"] >= cp.size:
                continue
            proof = logstore.inclusion_proof(conn, log.id, int(e["idx"]), cp.size)
            entry = SignedEntry.from_leaf(bytes(e["leaf"])).model_copy(
                update={"body": e["body"], "salt": base64.b64encode(bytes(e["salt"])).decode() if e["salt"] else None}
            )
            items.append(
                {
                    "index": int(e["idx"]),
                    "kind": e["kind"],
                    "effective_date": e["effective_date"],
                    "entry": entry.model_dump(),
                    "leaf_hash": merkle.leaf_hash(bytes(e["leaf"])).hex(),
                    "inclusion_proof": [p.hex() for p in proof],
                }
            )
    record_read(engine, actor, "certificate", certificate_number)
    return {
        "certificate_number": rows[0]["certificate_number"],
        "origin": log.origin,
        "tree_size": cp.size,
        "root": cp.root.hex(),
        "checkpoint": cp.note,
        "verifier_key": log.verifier_key,
        "entries": items,
    }


def record_read(engine: Engine, actor: Identity, object_type: str, object_id: str) -> None:
    with engine.begin() as conn:
        record(conn, actor, "read", f"ledger_{object_type}", object_id)


def certificates_of(engine: Engine, actor: Identity, holder_id: str) -> list[dict[str, Any]]:
    """Every certificate of a holder (trader id) across this node's log and its partners' replicas."""
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(ledger_certificates, ledger_logs.c.origin, ledger_logs.c.administration_code, ledger_logs.c.role)
                .join(ledger_logs, ledger_logs.c.id == ledger_certificates.c.log_id)
                .where(ledger_certificates.c.holder_id == holder_id)
                .order_by(ledger_logs.c.id, ledger_certificates.c.certificate_number)
            )
            .mappings()
            .all()
        )
    return [
        {
            "certificate_number": r["certificate_number"],
            "origin": r["origin"],
            "status": r["status"],
            "type": r["type"],
            "holder_id": r["holder_id"],
            "holder_name": r["holder_name"],
            "last_index": int(r["last_idx"]),
        }
        for r in rows
        if not r["audience"] or actor.administration_code in (r["administration_code"], *r["audience"])
    ]


# --- serving partners ------------------------------------------------------------------------------------------------

MAX_PAGE = 10_000


def entries(engine: Engine, actor: Identity, start: int, end: int, origin: str | None = None) -> list[dict[str, Any]]:
    """Entries [start, end) of a log as partners receive them: the content of a restricted entry only for the
    administrations named in its audience, the leaf (commitment, signature) for everyone else."""
    actor.require(Permission.LEDGER_READ)
    if start < 0 or end <= start:
        raise LedgerError("give 0 <= start < end", field="start")
    end = min(end, start + MAX_PAGE)
    with engine.connect() as conn:
        log = _log(conn, origin)
        rows = conn.execute(
            select(
                ledger_entries.c.idx,
                ledger_entries.c.leaf,
                ledger_entries.c.body,
                ledger_entries.c.salt,
                ledger_entries.c.audience,
            )
            .where(ledger_entries.c.log_id == log.id, ledger_entries.c.idx >= start, ledger_entries.c.idx < end)
            .order_by(ledger_entries.c.idx)
        ).all()
    out = []
    for idx, leaf, body, salt, audience in rows:
        item = SignedEntry.from_leaf(bytes(leaf)).model_dump()
        if body is not None and _visible(audience, actor, log):
            item["body"], item["salt"] = body, base64.b64encode(bytes(salt)).decode()
        item["index"] = int(idx)
        out.append(item)
    return out


def consistency(engine: Engine, first: int, second: int, origin: str | None = None) -> list[str]:
    with engine.connect() as conn:
        log = _log(conn, origin)
        return [p.hex() for p in logstore.consistency_proof(conn, log.id, first, second, log.size)]


def inclusion(engine: Engine, index: int, size: int, origin: str | None = None) -> list[str]:
    with engine.connect() as conn:
        log = _log(conn, origin)
        if size > log.size:
            raise LedgerError(f"the log has {log.size} entries, not {size}", field="size")
        return [p.hex() for p in logstore.inclusion_proof(conn, log.id, index, size)]


def witnessed(engine: Engine, origin: str) -> str:
    """The latest checkpoint of ``origin`` this node verified, cosigned by this node (witnessing)."""
    with engine.connect() as conn:
        log = _log(conn, origin)
        note = conn.execute(
            select(ledger_checkpoints.c.note)
            .where(ledger_checkpoints.c.log_id == log.id)
            .order_by(ledger_checkpoints.c.size.desc(), ledger_checkpoints.c.id.desc())
            .limit(1)
        ).scalar()
    if note is None:
        raise LedgerNotFoundError(f"this node holds no checkpoint of {origin}")
    return str(note)


# --- operations -------------------------------------------------------------------------------------------------------


def _leaves(conn: Connection, log_id: int, chunk: int = 50_000):  # type: ignore[no-untyped-def]
    start = 0
    while True:
        rows = conn.execute(
            select(ledger_entries.c.idx, ledger_entries.c.leaf)
            .where(ledger_entries.c.log_id == log_id, ledger_entries.c.idx >= start)
            .order_by(ledger_entries.c.idx)
            .limit(chunk)
        ).all()
        if not rows:
            return
        for idx, leaf in rows:
            if idx != start:
                raise LedgerError(f"entry {start} is missing from log {log_id}; restore it from a backup or a partner")
            yield int(idx), bytes(leaf)
            start += 1


def verify_log(engine: Engine, actor: Identity, origin: str | None = None) -> dict[str, Any]:
    """Check a stored log end to end: every leaf rebuilds the latest checkpoint's root, the node table agrees,
    the checkpoint's signature verifies and every entry's signature is by a key in force at its index."""
    actor.require(Permission.LEDGER_READ)
    cp = latest_checkpoint(engine, origin)
    with engine.connect() as conn:
        log = _log(conn, origin)
        keys = {
            r["key_id"]: r for r in conn.execute(select(ledger_keys).where(ledger_keys.c.log_id == log.id)).mappings()
        }
        tree = merkle.Frontier()
        for idx, leaf in _leaves(conn, log.id):
            entry = SignedEntry.from_leaf(leaf)
            key = keys.get(entry.key_id)
            if (
                key is None
                or (key["certified_idx"] is not None and key["certified_idx"] >= idx)
                or (key["revoked_idx"] is not None and key["revoked_idx"] <= idx)
            ):
                raise SignatureError(
                    f"entry {idx} is signed by key {entry.key_id}, not in force at that index", field="key_id"
                )
            entry.verify_signature(Ed25519PublicKey.from_public_bytes(bytes(key["public_key"])))
            tree.append(merkle.leaf_hash(leaf))
        if tree.size != log.size:
            raise LedgerError(f"log {log.origin} records size {log.size} but holds {tree.size} entries")
        stored = logstore.root_at(conn, log.id, cp.size)
    rebuilt = merkle.root_of([]) if cp.size == 0 else None
    if cp.size == tree.size:
        rebuilt = tree.root()
    if rebuilt is not None and rebuilt != cp.root:
        raise ProofError(f"the entries of {log.origin} do not rebuild the root of its checkpoint {cp.size}")
    if stored != cp.root:
        raise ProofError(
            f"the node table of {log.origin} disagrees with its checkpoint; run `opencustoms ledger rebuild-tree`"
        )
    return {"origin": log.origin, "size": tree.size, "checkpoint_size": cp.size, "root": cp.root.hex(), "ok": True}


def rebuild_tree(engine: Engine, actor: Identity, origin: str | None = None) -> dict[str, Any]:
    """Recompute the node table of a log from its entries (after a restore), checked against its checkpoint."""
    actor.require(Permission.USERS_MANAGE)
    cp = latest_checkpoint(engine, origin)
    with engine.begin() as conn:
        log = _log(conn, origin)
        logstore.lock(conn, log.id)
        logstore.delete_nodes(conn, log.id)
        tree = merkle.Frontier()
        batch: list[bytes] = []
        for _, leaf in _leaves(conn, log.id):
            batch.append(leaf)
            if len(batch) == 50_000:
                logstore.append(conn, log.id, tree, batch)
                batch = []
        logstore.append(conn, log.id, tree, batch)
        if tree.size >= cp.size and logstore.root_at(conn, log.id, cp.size) != cp.root:
            raise ProofError(
                f"the entries of {log.origin} do not rebuild its checkpoint {cp.size}; restore the "
                "entries from a backup or a partner"
            )
        record(conn, actor, "rebuild", "ledger_log", log.origin, detail={"size": tree.size})
    return {"origin": log.origin, "size": tree.size, "root": tree.root().hex()}


# --- alarms ---------------------------------------------------------------------------------------------------------


def raise_alarm(
    engine: Engine,
    actor: Identity,
    origin: str,
    kind: str,
    reason: str,
    *,
    reported_by: str | None = None,
    held: str | None = None,
    offered: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Store an alarm about a partner log, audit it and emit a critical signal about the partner."""
    now = utcnow()
    with engine.begin() as conn:
        alarm_id = conn.execute(
            ledger_alarms.insert().values(
                at=now,
                origin=origin,
                kind=kind,
                reason=reason,
                reported_by=reported_by,
                held_checkpoint=held,
                offered_checkpoint=offered,
                detail=detail,
            )
        ).inserted_primary_key[0]
        record(conn, actor, "alarm", "ledger_log", origin, detail={"kind": kind, "reason": reason[:500]})
        signals.emit(
            conn,
            [
                signals.Signal(
                    id=str(uuid.uuid5(SIGNAL_NAMESPACE, f"alarm#{origin}#{alarm_id}#{now.isoformat()}")),
                    kind=f"ledger.partner_{kind}",
                    subject_type=signals.SubjectType.ADMINISTRATION,
                    subject_id=origin[:128],
                    severity=signals.Severity.CRITICAL,
                    source="ledger",
                    reason=f"partner log {origin}: {reason}"[:2000],
                    evidence={"held": held, "offered": offered},
                    observed_at=now,
                )
            ],
        )


def alarms(engine: Engine, actor: Identity, origin: str | None = None) -> list[dict[str, Any]]:
    actor.require(Permission.LEDGER_READ)
    query = select(ledger_alarms).order_by(ledger_alarms.c.id)
    if origin:
        query = query.where(ledger_alarms.c.origin == origin)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


__all__ = [
    "CheckpointError",
    "Log",
    "add_partner",
    "alarms",
    "amend",
    "append_signed",
    "certificates_of",
    "certify_officer",
    "change_status",
    "consistency",
    "entries",
    "history",
    "inclusion",
    "init_log",
    "issue",
    "latest_checkpoint",
    "own_log",
    "pull",
    "revoke_officer",
    "status",
    "witnessed",
]

from opencustoms.ledger.partners import add_partner, pull  # noqa: E402  (partners build on the functions above)
