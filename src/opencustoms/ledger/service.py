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
import re
import time
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import ColumnElement, Connection, Engine, func, select

from opencustoms import signals
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import integrity, logstore, merkle, writer
from opencustoms.ledger.anchor import (
    anchor,
    anchor_if_due,
    anchoring_configured,
    anchors,
    deploy_anchor_contract,
    latest_anchor,
    verify_anchors,
)
from opencustoms.ledger.anchor import set_submitter as set_anchor_submitter
from opencustoms.ledger.entries import (
    AEOCertificate,
    AEOStatus,
    EntryBody,
    EntryKind,
    OfficerKey,
    SignedEntry,
    resulting_status,
    sign_entry,
)
from opencustoms.ledger.errors import (
    AdministrationChoiceError,
    CheckpointError,
    EntryError,
    LedgerError,
    LedgerNotFoundError,
    ProofError,
)
from opencustoms.ledger.ingest import OFFICER, OWN
from opencustoms.ledger.keys import KeyStore, key_id
from opencustoms.ledger.logs import (
    Log,
    check_entries,
    create_log,
    default_origin,
    latest_note,
    own_log,
    raise_alarm,
)
from opencustoms.ledger.logs import get_log as _log
from opencustoms.ledger.partners import add_partner, follow, pull, pull_all
from opencustoms.ledger.restore import restore_from_partner
from opencustoms.ledger.tables import (
    ledger_alarms,
    ledger_certificates,
    ledger_checkpoints,
    ledger_entries,
    ledger_keys,
    ledger_logs,
)
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.pseudonyms import Pseudonymiser, identifiers_with, is_pseudonym
from opencustoms.security.roles import Permission, Role
from opencustoms.security.service import Identity, record, record_many, utcnow
from opencustoms.store.database import as_utc
from opencustoms.store.tables import administrations


def local_officer(administration_code: str, username: str) -> Identity:
    """The identity a command on the server acts under for an officer: whoever runs the CLI there can read the key
    store, so the CLI signs as the named officer, with that officer's key, under the supervisor role."""
    return Identity.of(username, administration_code, [Role.SUPERVISOR])


def node_administration(engine: Engine, chosen: str | None) -> str:
    """The administration this node acts for: ``chosen`` (the CLI's ``--administration``, else
    OPENCUSTOMS_ADMINISTRATION) when it is registered, else the only administration registered. Several
    registered (the node's own and its partners', for their users) and none chosen: AdministrationChoiceError
    listing them and how to choose."""
    with engine.connect() as conn:
        codes = sorted(conn.execute(select(administrations.c.code)).scalars())
    how = "choose it with `opencustoms ledger --administration CODE <command>` or set OPENCUSTOMS_ADMINISTRATION=CODE"
    if chosen:
        if codes and chosen.upper() not in codes:
            raise AdministrationChoiceError(
                f"administration {chosen!r} is not registered on this node (registered: {', '.join(codes)}); {how} "
                "with one of them, or register it with `opencustoms init --administration CODE`",
                field="administration",
            )
        return chosen.upper()
    if not codes:
        raise AdministrationChoiceError(
            "no administration is registered on this node: run `opencustoms init --administration CODE` first",
            field="administration",
        )
    if len(codes) > 1:
        with engine.connect() as conn:
            own = conn.execute(
                select(ledger_logs.c.origin, ledger_logs.c.administration_code).where(ledger_logs.c.role == OWN)
            ).first()
        hint = f"; this node's log {own.origin} is administration {own.administration_code}" if own else ""
        raise AdministrationChoiceError(
            f"several administrations are registered on this node ({', '.join(codes)}: this node's own and its "
            f"partners'), so it cannot tell which one it is: {how} (in the node's environment or .env file){hint}",
            field="administration",
        )
    return codes[0]


def verifier_key(engine: Engine, actor: Identity) -> dict[str, str]:
    """This node's log name and verifier key, to give to partners."""
    actor.require(Permission.LEDGER_READ)
    log = own_log(engine)
    return {"origin": log.origin, "verifier_key": log.verifier_key}


MAX_WAIT_S = 30.0  # longest a partner's long poll (`checkpoint(after=, wait=)`) is held open
_WAIT_STEP_S = 0.05


def checkpoint(
    engine: Engine, actor: Identity, origin: str | None = None, *, after: int | None = None, wait: float = 0.0
) -> dict[str, Any]:
    """The latest signed checkpoint of this node's log (or of a partner's log it holds).

    With ``after`` and ``wait`` it is a long poll: the answer waits (up to ``wait`` seconds, at most
    :data:`MAX_WAIT_S`) until the log is larger than ``after``, and is the latest checkpoint either way. Partners
    following this log (`ledger serve`) learn of a new entry within a database look-up of its commit, instead of at
    their next poll."""
    actor.require(Permission.LEDGER_READ)
    if wait < 0 or (after is not None and after < 0):
        raise LedgerError("after and wait must not be negative", field="wait" if wait < 0 else "after")
    latest = latest_checkpoint(engine, origin)
    if after is not None and wait > 0:
        deadline = time.monotonic() + min(wait, MAX_WAIT_S)
        while latest.size <= after and time.monotonic() < deadline:
            time.sleep(_WAIT_STEP_S)
            latest = latest_checkpoint(engine, origin)
    return latest.to_dict()


def logs(engine: Engine, actor: Identity) -> list[dict[str, Any]]:
    """Every log this node holds (its own and its partners'), with its health: the newest checkpoint verified and
    when it was seen (a partner whose last checkpoint is old has not been pulled lately), and its alarms."""
    actor.require(Permission.LEDGER_READ)
    c, a = ledger_checkpoints.c, ledger_alarms.c
    with engine.connect() as conn:
        rows = conn.execute(select(ledger_logs).order_by(ledger_logs.c.id)).mappings().all()
        seen = {
            log_id: (int(size), as_utc(at))
            for log_id, size, at in conn.execute(
                select(c.log_id, func.max(c.size), func.max(c.observed_at)).group_by(c.log_id)
            )
        }
        alarm_counts: dict[str, int] = dict(conn.execute(select(a.origin, func.count()).group_by(a.origin)).all())
    return [
        {
            "origin": r["origin"],
            "administration_code": r["administration_code"],
            "role": r["role"],
            "url": r["url"],
            "size": int(r["size"]),
            "verifier_key": notes.verifier_key(r["origin"], bytes(r["public_key"])),
            "checkpoint_size": seen.get(r["id"], (None, None))[0],
            "checkpoint_at": seen.get(r["id"], (None, None))[1],
            "alarms": int(alarm_counts.get(r["origin"], 0)),
        }
        for r in rows
    ]


def partner_directory(engine: Engine, keystore: KeyStore) -> list[dict[str, Any]]:
    """The registered partner administrations as other pillars need them, with no ledger type in the answer: code,
    log origin, raw Ed25519 public key (the administration key that signs their checkpoints, and their exchange
    messages: docs/exchange.md), API URL and the token they issued to this node (from the key store). Not a read
    of the ledger's content, so it asks for no permission: the callers (the exchange's service) check their own."""
    with engine.connect() as conn:
        rows = conn.execute(select(ledger_logs).where(ledger_logs.c.role != OWN).order_by(ledger_logs.c.id)).all()
    return [
        {
            "code": r.administration_code.upper(),
            "origin": r.origin,
            "public_key": bytes(r.public_key),
            "url": r.url,
            "token": keystore.secret(f"partner-{r.administration_code.upper()}"),
        }
        for r in rows
    ]


def signing_key(keystore: KeyStore) -> Any:
    """This administration's Ed25519 private key (the ledger's administration key), for pillars that sign as the
    administration (the exchange's messages); AdministrationKeyMissingError before `opencustoms ledger init`."""
    return keystore.administration_key()


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
        log_id = create_log(conn, origin, administration_code, OWN, public, None, now)
        cp = notes.sign_checkpoint(origin, 0, merkle.EMPTY_ROOT, key)
        conn.execute(
            ledger_checkpoints.insert().values(
                log_id=log_id, size=0, root=cp.root, note=cp.note, source="self", observed_at=now
            )
        )
        record(conn, actor, "create", "ledger_log", origin, detail={"key_id": key_id(public)})
    return {"origin": origin, "verifier_key": notes.verifier_key(origin, public), "created": True}


def _keys_in_force(engine: Engine, log: Log, officer: str) -> list[tuple[str, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(ledger_keys.c.key_id, ledger_keys.c.public_key).where(
                ledger_keys.c.log_id == log.id,
                ledger_keys.c.holder == officer,
                ledger_keys.c.role == OFFICER,
                ledger_keys.c.revoked_idx.is_(None),
            )
        ).all()
    return [(r.key_id, bytes(r.public_key)) for r in rows]


def _key_entry(
    log: Log, actor: Identity, keystore: KeyStore, kind: EntryKind, officer: str, public: bytes, reason: str | None
) -> SignedEntry:
    """A key certification or revocation, signed with the administration key."""
    admin = keystore.administration_key()
    now = utcnow()
    body = EntryBody(
        origin=log.origin,
        kind=kind,
        officer=actor.username,
        recorded_at=now,
        effective_date=now.date(),
        reason=reason,
        key=OfficerKey(key_id=key_id(public), officer=officer, public_key=base64.b64encode(public).decode()),
    )
    return sign_entry(body, admin, key_id(notes.public_bytes(admin)))


def certify_officer(
    engine: Engine, actor: Identity, keystore: KeyStore, officer: str, *, rotate: bool = False
) -> dict[str, Any]:
    """Give ``officer`` a signing key, certified by a log entry signed with the administration key. With
    ``rotate``, the officer's current key is revoked in the same batch and a new one certified.

    The new private key is written to the key store only after the log entries are committed, so a refused
    append leaves the officer's current key as it was. (Should the node stop between the two, the log holds a
    certified key nobody has: rotate again.)"""
    actor.require(Permission.USERS_MANAGE)
    keystore.check_name(officer, field="officer")
    log = own_log(engine)
    current = _keys_in_force(engine, log, officer)
    if current and not rotate:
        raise LedgerError(
            f"officer {officer!r} already has key {current[0][0]}; rotate it with --rotate", field="officer"
        )
    batch = [
        _key_entry(log, actor, keystore, EntryKind.KEY_REVOKED, officer, pub, "key rotation") for _, pub in current
    ]
    new_key = KeyStore.generate()
    public = notes.public_bytes(new_key)
    batch.append(_key_entry(log, actor, keystore, EntryKind.KEY_CERTIFIED, officer, public, None))
    receipts = append_signed(engine, actor, keystore, batch)
    keystore.store("officers", officer, new_key, replace=True)
    return {
        "officer": officer,
        "key_id": key_id(public),
        "index": receipts[-1]["index"],
        "revoked": [kid for kid, _ in current],
    }


def revoke_officer(engine: Engine, actor: Identity, keystore: KeyStore, officer: str, reason: str) -> dict[str, Any]:
    """Revoke the officer's key from now on (entries it signed before stay valid: the log proves their order)."""
    actor.require(Permission.USERS_MANAGE)
    log = own_log(engine)
    current = _keys_in_force(engine, log, officer)
    if not current:
        raise LedgerNotFoundError(f"officer {officer!r} has no key in force; nothing to revoke", field="officer")
    batch = [_key_entry(log, actor, keystore, EntryKind.KEY_REVOKED, officer, pub, reason) for _, pub in current]
    append_signed(engine, actor, keystore, batch)
    return {"officer": officer, "revoked": [kid for kid, _ in current]}


# --- entries ----------------------------------------------------------------------------------------------------------


def append_signed(
    engine: Engine, actor: Identity, keystore: KeyStore, entries: Sequence[SignedEntry]
) -> list[dict[str, Any]]:
    """Append signed entries to this node's log, durably, and sign the new checkpoint.

    Every signature, key certificate, body and status change is checked; one bad entry rejects the batch (nothing
    of it written, the rejection audited). Concurrent callers are committed together (group commit, see
    ``writer``): each returns only once its entries are on disk. Returns one receipt per entry (index, leaf hash,
    tree size, root, and the checkpoint that covers it)."""
    actor.require(Permission.LEDGER_WRITE)
    if not entries:
        raise EntryError("nothing to append: the batch is empty; send at least one entry", field="entries")
    opened = check_entries(engine, entries)
    return writer.submit(engine, keystore, actor, entries, opened)


def append_batch(engine: Engine, actor: Identity, keystore: KeyStore, entries: Sequence[SignedEntry]) -> dict[str, Any]:
    """``append_signed`` as the API answers it: the receipts without the repeated checkpoint, then the checkpoint."""
    receipts = append_signed(engine, actor, keystore, entries)
    return {
        "receipts": [{k: v for k, v in r.items() if k != "checkpoint"} for r in receipts],
        "checkpoint": receipts[-1]["checkpoint"],
    }


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
    *,
    certificate_number: str | None = None,
) -> dict[str, Any]:
    """Record changed certificate data (holder, address, type, validity, partners). ``certificate_number``, when
    given (the API's path), must be the certificate's own number."""
    if certificate_number is not None and certificate_number.upper() != certificate.certificate_number:
        raise EntryError(
            f"the certificate number in the path ({certificate_number}) and in the body "
            f"({certificate.certificate_number}) differ; send the certificate to its own address",
            field="certificate_number",
        )
    return _officer_entry(
        engine,
        actor,
        keystore,
        EntryKind.AMENDED,
        certificate=certificate,
        reason=reason,
        effective_date=effective_date,
    )


STATUS_ACTIONS = {"suspend": EntryKind.SUSPENDED, "revoke": EntryKind.REVOKED, "reinstate": EntryKind.REINSTATED}


def change_status(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    kind: EntryKind | str,
    certificate_number: str,
    reason: str,
    effective_date: dt.date | None = None,
) -> dict[str, Any]:
    """Suspend, revoke or reinstate a certificate (``kind`` 'suspend', 'revoke', 'reinstate' or the entry kinds
    'aeo.suspended', 'aeo.revoked', 'aeo.reinstated')."""
    kind = STATUS_ACTIONS.get(str(kind), kind)
    try:
        kind = EntryKind(kind)
    except ValueError as exc:
        raise EntryError(f"{kind!r} is not a status change; give suspend, revoke or reinstate", field="kind") from exc
    if kind not in STATUS_ACTIONS.values():
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


def _row_visible(row: Any, actor: Identity) -> bool:
    """``_visible`` for a certificate row joined with its log's administration code."""
    return not row["audience"] or actor.administration_code in (row["administration_code"], *row["audience"])


def sees_holders(actor: Identity) -> bool:
    """Whether ``actor`` is shown AEO holders as recorded (trader id, name; the address in entry contents): readers
    with ``personal_data:read``, and partner administrations with ``ledger:replicate``, which receive the same data
    in the entries they replicate. Every other reader sees the holder's pseudonym (the same ``p_...`` as on the
    declarations they read, so the two can be joined) and no entry content."""
    return actor.can(Permission.PERSONAL_DATA_READ) or actor.can(Permission.LEDGER_REPLICATE)


def _holder(row: Any, actor: Identity, pseudonymiser: Pseudonymiser | None) -> dict[str, Any]:
    if sees_holders(actor):
        return {"holder_id": row["holder_id"], "holder_name": row["holder_name"], "pseudonymised": False}
    shown = pseudonymiser(row["holder_id"]) if pseudonymiser is not None else signals.WITHHELD
    return {"holder_id": shown, "holder_name": shown, "pseudonymised": True}


def _holders_with_pseudonym(conn: Connection, pseudonym: str, pseudonymiser: Pseudonymiser | None) -> tuple[str, ...]:
    """The recorded holder ids whose pseudonym is ``pseudonym`` (:func:`pseudonyms.identifiers_with`)."""
    if pseudonymiser is None:
        raise LedgerError(
            "a holder pseudonym cannot be looked up without the installation's pseudonymiser; give a certificate "
            "number instead",
            field="holder_id",
        )
    ids = conn.execute(select(ledger_certificates.c.holder_id).distinct()).scalars()
    return identifiers_with(pseudonym, ids, pseudonymiser)


def _holder_ids(
    conn: Connection, actor: Identity, holder: str, pseudonymiser: Pseudonymiser | None
) -> tuple[str, ...] | None:
    """The holder ids a lookup by ``holder`` may match for this reader: by pseudonym (``p_`` and 24 hex digits)
    for everyone; by the trader id itself only for readers shown holders as recorded, otherwise any list of trader
    ids would map to their pseudonyms and certificates. None: ``holder`` is not a pseudonym and the reader may not
    search by trader id (the caller decides whether that is refused or ignored)."""
    if is_pseudonym(holder):
        return _holders_with_pseudonym(conn, holder, pseudonymiser)
    if not sees_holders(actor):
        return None
    return (holder,)


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
    engine: Engine,
    actor: Identity,
    certificate_number: str,
    *,
    origin: str | None = None,
    as_of: dt.date | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    """The status of a certificate now, or on a date (replaying its entries effective on or before that day). The
    holder as this reader may see it (``sees_holders``: else its pseudonym under ``pseudonymiser``); a read that
    shows the holder is audited."""
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
            **_holder(row, actor, pseudonymiser),
            "type": row["type"],
            "status": row["status"],
            "last_index": int(row["last_idx"]),
            "as_of": None,
        }
        if as_of is not None:
            current: AEOStatus | None = None
            replay = sorted(
                _entries_of(conn, log.id, row["certificate_number"]), key=lambda e: (e["effective_date"], e["idx"])
            )
            for entry in replay:  # in the order the changes took effect (a change may be recorded backdated)
                if entry["effective_date"] <= as_of:
                    current = resulting_status(EntryKind(entry["kind"]), current)
            if current is None:
                raise LedgerNotFoundError(
                    f"certificate {certificate_number} was not yet in force on {as_of}", field="as_of"
                )
            result.update(status=current.value, as_of=as_of.isoformat())
    if not result["pseudonymised"]:
        record_read(engine, actor, "certificate", result["certificate_number"], purpose=purpose)
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
    """The latest checkpoint held for a log, its signature checked."""
    with engine.connect() as conn:
        log = _log(conn, origin)
        note = latest_note(conn, log.id)
    if note is None:
        raise LedgerNotFoundError(f"no checkpoint held for log {log.origin}; pull it first", field="origin")
    return notes.open_checkpoint(note, log.origin, log.public_key, None)


def history(
    engine: Engine, actor: Identity, certificate_number: str, *, origin: str | None = None, purpose: str | None = None
) -> dict[str, Any]:
    """Every entry of a certificate with its inclusion proof against the latest checkpoint held for its log. The
    entries' content (holder, address, officer, reason) only for readers with ``ledger:replicate``, and their read
    is audited; everyone else gets each entry's leaf (commitment, signature, key id), enough to check inclusion."""
    actor.require(Permission.LEDGER_READ)
    contents = actor.can(Permission.LEDGER_REPLICATE)
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
            signed = SignedEntry.from_leaf(bytes(e["leaf"]))
            integrity.require_body_opens(
                int(e["idx"]), signed.commitment, e["body"], e["salt"], f"certificate {certificate_number}"
            )
            if contents:
                salt = base64.b64encode(bytes(e["salt"])).decode() if e["salt"] else None
                signed = signed.model_copy(update={"body": e["body"], "salt": salt})
            items.append(
                {
                    "index": int(e["idx"]),
                    "kind": e["kind"],
                    "effective_date": e["effective_date"],
                    "entry": signed.model_dump(),
                    "leaf_hash": merkle.leaf_hash(bytes(e["leaf"])).hex(),
                    "inclusion_proof": [p.hex() for p in proof],
                }
            )
    if contents:
        record_read(engine, actor, "certificate", rows[0]["certificate_number"], purpose=purpose)
    return {
        "certificate_number": rows[0]["certificate_number"],
        "origin": log.origin,
        "tree_size": cp.size,
        "root": cp.root.hex(),
        "checkpoint": cp.note,
        "verifier_key": log.verifier_key,
        "contents": contents,
        "entries": items,
    }


def record_read(
    engine: Engine, actor: Identity, object_type: str, object_id: str, *, purpose: str | None = None
) -> None:
    with engine.begin() as conn:
        record(conn, actor, "read", f"ledger_{object_type}", object_id, purpose=purpose)


def certificates_of(
    engine: Engine,
    actor: Identity,
    holder_id: str,
    pseudonymiser: Pseudonymiser | None = None,
    *,
    purpose: str | None = None,
) -> list[dict[str, Any]]:
    """Every certificate of a holder across this node's log and its partners' replicas. ``holder_id`` is the
    holder's pseudonym (``p_...``, as shown to readers without personal data) or, for readers shown holders as
    recorded (``sees_holders``), also the trader id itself; a trader id from anyone else is refused (403)."""
    actor.require(Permission.LEDGER_READ)
    holder = holder_id.strip()
    with engine.connect() as conn:
        ids = _holder_ids(conn, actor, holder, pseudonymiser)
        if ids is None:
            raise PermissionDeniedError(
                "without the personal-data permission a holder is looked up by its pseudonym (p_ and 24 hex digits, "
                "as shown on the certificates and declarations you can read), not by a trader id or name",
                field="holder_id",
            )
        query = (
            select(ledger_certificates, ledger_logs.c.origin, ledger_logs.c.administration_code, ledger_logs.c.role)
            .join(ledger_logs, ledger_logs.c.id == ledger_certificates.c.log_id)
            .where(ledger_certificates.c.holder_id.in_(ids))
            .order_by(ledger_logs.c.id, ledger_certificates.c.certificate_number)
        )
        rows = conn.execute(query).mappings().all() if ids else []
    found = [_registry_row(r, actor, pseudonymiser) for r in rows if _row_visible(r, actor)]
    _audit_registry_read(engine, actor, found, purpose)
    return found


def _registry_row(row: Any, actor: Identity, pseudonymiser: Pseudonymiser | None) -> dict[str, Any]:
    return {
        "certificate_number": row["certificate_number"],
        "origin": row["origin"],
        "status": row["status"],
        "type": row["type"],
        **_holder(row, actor, pseudonymiser),
        "last_index": int(row["last_idx"]),
    }


def _audit_registry_read(engine: Engine, actor: Identity, rows: list[dict[str, Any]], purpose: str | None) -> None:
    """Certificates shown with their holders as recorded are audited, one entry each, in one transaction."""
    shown = [r["certificate_number"] for r in rows if not r["pseudonymised"]]
    if shown:
        with engine.begin() as conn:
            record_many(conn, actor, "read", "ledger_certificate", shown, purpose=purpose)


def search_certificates(
    engine: Engine,
    actor: Identity,
    text: str,
    pseudonymiser: Pseudonymiser | None = None,
    *,
    limit: int = 50,
    purpose: str | None = None,
) -> list[dict[str, Any]]:
    """The AEO registry's search, in every log held: certificates whose number contains ``text``, or whose holder
    is ``text`` as a pseudonym (``p_...``); for readers shown holders as recorded (``sees_holders``) also those
    whose holder id or name contains it. A reader without personal data searching a name or trader id thus finds
    only certificate numbers containing it: names are not searchable for them, or the search would tell who holds
    a certificate. Empty ``text``: the first ``limit`` certificates. Rows as ``certificates_of`` gives them."""
    actor.require(Permission.LEDGER_READ)
    c = ledger_certificates.c
    text = text.strip()
    query = (
        select(ledger_certificates, ledger_logs.c.origin, ledger_logs.c.administration_code, ledger_logs.c.role)
        .join(ledger_logs, ledger_logs.c.id == c.log_id)
        .order_by(c.certificate_number, ledger_logs.c.id)
        .limit(max(1, min(limit, 500)))
    )
    with engine.connect() as conn:
        if text:
            pattern = f"%{text.lower()}%"
            condition: ColumnElement[bool] = func.lower(c.certificate_number).like(pattern)
            if sees_holders(actor):
                condition = condition | func.lower(c.holder_id).like(pattern) | func.lower(c.holder_name).like(pattern)
            if pseudonymiser is not None and is_pseudonym(text):
                ids = _holders_with_pseudonym(conn, text, pseudonymiser)
                if ids:
                    condition = condition | c.holder_id.in_(ids)
            query = query.where(condition)
        rows = conn.execute(query).mappings().all()
    found = [_registry_row(r, actor, pseudonymiser) for r in rows if _row_visible(r, actor)]
    _audit_registry_read(engine, actor, found, purpose)
    return found


# --- serving partners ------------------------------------------------------------------------------------------------

MAX_PAGE = 10_000


def entries(engine: Engine, actor: Identity, start: int, end: int, origin: str | None = None) -> list[dict[str, Any]]:
    """Entries [start, end) of a log as partners receive them: the content (``body``, ``salt``) only for callers
    with ``ledger:replicate`` (partner administrations, officers), and of a restricted entry only for the
    administrations named in its audience; everyone else gets the leaf (commitment, signature, key id), enough to
    check inclusion and consistency but revealing nothing."""
    actor.require(Permission.LEDGER_READ)
    contents = actor.can(Permission.LEDGER_REPLICATE)
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
        item = _served_leaf(leaf)
        if contents and body is not None and _visible(audience, actor, log):
            # ~1 µs an entry: measured, docs/ledger.md
            integrity.require_body_opens(int(idx), item["commitment"], body, salt, log.origin)
            item["body"], item["salt"] = body, base64.b64encode(bytes(salt)).decode()
        item["index"] = int(idx)
        out.append(item)
    return out


_LEAF_KEYS = frozenset({"commitment", "key_id", "restricted", "signature", "v"})
_HEX64, _HEX32 = re.compile(r"[0-9a-f]{64}"), re.compile(r"[0-9a-f]{32}")


def _served_leaf(leaf: bytes) -> dict[str, Any]:
    """``SignedEntry.from_leaf(leaf).model_dump()`` for a well-formed stored leaf, read with orjson (serving a
    page of 5,000 entries spent most of its time building and dumping the models); a leaf that is not exactly the
    expected shape goes through ``from_leaf``, which raises the same error as before."""
    try:
        raw = orjson.loads(leaf)
    except orjson.JSONDecodeError:
        raw = None
    if (
        isinstance(raw, dict)
        and raw.keys() == _LEAF_KEYS
        and raw["v"] == 1
        and type(raw["v"]) is int
        and type(raw["restricted"]) is bool
        and type(raw["commitment"]) is str
        and type(raw["key_id"]) is str
        and type(raw["signature"]) is str
        and _HEX64.fullmatch(raw["commitment"])
        and _HEX32.fullmatch(raw["key_id"])
    ):
        del raw["v"]
        raw["body"] = raw["salt"] = None
        return raw
    return SignedEntry.from_leaf(bytes(leaf)).model_dump()


def consistency(engine: Engine, actor: Identity, first: int, second: int, origin: str | None = None) -> dict[str, Any]:
    """A consistency proof between two sizes of a log, as partners ask for it."""
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        log = _log(conn, origin)
        proof = [p.hex() for p in logstore.consistency_proof(conn, log.id, first, second, log.size)]
    return {"first": first, "second": second, "proof": proof}


def inclusion(engine: Engine, actor: Identity, index: int, size: int, origin: str | None = None) -> dict[str, Any]:
    """An inclusion proof of entry ``index`` in the tree of ``size`` entries."""
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        log = _log(conn, origin)
        if size > log.size:
            raise ProofError(
                f"the log has {log.size} entries, not {size}: ask for a size up to {log.size}", field="size"
            )
        proof = [p.hex() for p in logstore.inclusion_proof(conn, log.id, index, size)]
    return {"index": index, "size": size, "proof": proof}


def witnessed(engine: Engine, actor: Identity, origin: str) -> str:
    """The latest checkpoint of ``origin`` this node verified, cosigned by this node (witnessing)."""
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        note = latest_note(conn, _log(conn, origin).id)
    if note is None:
        raise LedgerNotFoundError(f"this node holds no checkpoint of {origin}; pull it first", field="origin")
    return note


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


def verify_log(
    engine: Engine, actor: Identity, origin: str | None = None, progress: integrity.Progress | None = None
) -> dict[str, Any]:
    """Check a stored log end to end (after restoring a backup, or any time): every stored body opens the
    commitment of its signed leaf, every signature is by a key in force at its index, every leaf matches the tree,
    and the leaves rebuild the latest signed checkpoint's root. Raises on the first bad entry, naming its index
    and what differs (``StoredLogError``); ``progress(done, total)`` is called after each batch."""
    actor.require(Permission.LEDGER_READ)
    return integrity.verify_log(engine, origin, progress)


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
        if tree.size < cp.size:
            raise ProofError(
                f"log {log.origin} holds {tree.size} entries but its latest checkpoint covers {cp.size}: entries "
                "are missing; restore them from a backup or a partner before rebuilding (nothing was changed)"
            )
        if logstore.root_at(conn, log.id, cp.size) != cp.root:
            raise ProofError(
                f"the entries of {log.origin} do not rebuild its checkpoint {cp.size}; restore the "
                "entries from a backup or a partner"
            )
        record(conn, actor, "rebuild", "ledger_log", log.origin, detail={"size": tree.size})
    return {"origin": log.origin, "size": tree.size, "root": tree.root().hex()}


# --- alarms ---------------------------------------------------------------------------------------------------------


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
    "default_origin",
    "raise_alarm",
    "check_entries",
    "create_log",
    "add_partner",
    "follow",
    "alarms",
    "anchor",
    "anchor_if_due",
    "anchoring_configured",
    "anchors",
    "deploy_anchor_contract",
    "latest_anchor",
    "restore_from_partner",
    "set_anchor_submitter",
    "verify_anchors",
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
    "pull_all",
    "revoke_officer",
    "search_certificates",
    "sees_holders",
    "status",
    "witnessed",
]
