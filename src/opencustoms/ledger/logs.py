"""A node's logs in the store, shared by the service and the partner replication: looking logs up, creating
them, the signature checks before an append or a pull, and alarms about partners."""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select

from opencustoms import signals
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import verify
from opencustoms.ledger.entries import SignedEntry
from opencustoms.ledger.errors import LedgerNotFoundError
from opencustoms.ledger.ingest import ADMINISTRATION, OWN, SIGNAL_NAMESPACE
from opencustoms.ledger.keys import key_id
from opencustoms.ledger.tables import ledger_alarms, ledger_checkpoints, ledger_keys, ledger_logs
from opencustoms.ledger.verify import Failure, Opened
from opencustoms.security.service import Identity, record, utcnow


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


def get_log(conn: Connection, origin: str | None = None) -> Log:
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


def latest_note(conn: Connection, log_id: int) -> str | None:
    """The signed note of the largest checkpoint held for a log (the latest one stored, among equal sizes)."""
    note = conn.execute(
        select(ledger_checkpoints.c.note)
        .where(ledger_checkpoints.c.log_id == log_id)
        .order_by(ledger_checkpoints.c.size.desc(), ledger_checkpoints.c.id.desc())
        .limit(1)
    ).scalar()
    return None if note is None else str(note)


def own_log(engine: Engine) -> Log:
    with engine.connect() as conn:
        return get_log(conn)


def create_log(
    conn: Connection, origin: str, administration_code: str, role: str, public: bytes, url: str | None, now: dt.datetime
) -> int:
    """Insert a log (this node's own, or a partner's replica) and its administration key; return the log's id."""
    log_id = int(
        conn.execute(
            ledger_logs.insert().values(
                origin=origin,
                administration_code=administration_code.upper(),
                role=role,
                public_key=public,
                url=url,
                size=0,
                created_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )
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
    return log_id


_public_keys: weakref.WeakKeyDictionary[Engine, dict[str, bytes]] = weakref.WeakKeyDictionary()


def _known_keys(engine: Engine, wanted: set[str]) -> dict[str, bytes]:
    """key id -> raw public key, for verifying signatures before the writer takes the batch. A key id is the hash
    of its key, so the bytes behind an id never change and can be cached; whether the key is certified and not
    revoked at the entry's index is the writer's check, against the log's state."""
    cache = _public_keys.setdefault(engine, {})
    if not wanted <= cache.keys():
        with engine.connect() as conn:
            cache.update(
                (r.key_id, bytes(r.public_key))
                for r in conn.execute(select(ledger_keys.c.key_id, ledger_keys.c.public_key))
            )
    return cache


def check_entries(
    engine: Engine, entries: Sequence[SignedEntry], introduced: dict[str, bytes] | None = None
) -> list[Opened | Failure]:
    """The stateless checks of a batch (signatures, commitments, bodies), on the verification threads (or a
    process pool) when it is big; keys certified earlier in the same batch, or in ``introduced`` (keys certified
    by earlier pages of a pull, not stored yet), are used for the entries after them."""
    keys = _known_keys(engine, {e.key_id for e in entries})
    if introduced:
        keys = {**introduced, **keys}
    return verify.check_batch(entries, keys)


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
    """Store an alarm about a partner log, audit it and emit a critical signal about the partner.

    The same partner showing the same refused checkpoint again (each follow or poll round retries it) is the
    alarm already raised: it is not stored, audited or signalled twice."""
    now = utcnow()
    a = ledger_alarms.c
    with engine.begin() as conn:
        if offered is not None:
            last = conn.execute(
                select(a.kind, a.offered_checkpoint, a.reported_by)
                .where(a.origin == origin)
                .order_by(a.id.desc())
                .limit(1)
            ).first()
            if last is not None and tuple(last) == (kind, offered, reported_by):
                return
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
        ).inserted_primary_key[0]  # type: ignore[index]
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
                    evidence={"held": held, "offered": offered, "origin": origin, "reported_by": reported_by},
                    observed_at=now,
                )
            ],
        )
