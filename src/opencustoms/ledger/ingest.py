"""The stateful half of accepting entries, and writing them: keys in force, status rules, duplicates, then rows.

``LogState`` is a log's state as one transaction sees it after taking the log's lock: its size, its keys, the
certificates and entry ids a set of batches touches. ``LogState.plan`` checks one batch against that state without
changing it (one bad entry raises, positioned, and the state is as before); ``accept`` advances the state by a
planned batch, so the next batch of a group commit is checked against it. ``write`` stores the planned batches of
one transaction with driver-level bulk inserts (tuples, ``executemany`` on SQLite, ``COPY`` on PostgreSQL) and
extends the Merkle tree once.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, bindparam, select, update

from opencustoms import signals
from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import logstore, merkle
from opencustoms.ledger.entries import AEO_KINDS, AEOStatus, EntryKind, SignedEntry, next_status
from opencustoms.ledger.errors import DuplicateEntryError, EntryError, SignatureError
from opencustoms.ledger.tables import ledger_certificates, ledger_entries, ledger_keys
from opencustoms.ledger.verify import Failure, Opened, verify_signature
from opencustoms.store.bulk import insert_tuples, sqlite_timestamp
from opencustoms.store.tables import signals as signals_table

OWN, PARTNER = "own", "partner"
ADMINISTRATION, OFFICER = "administration", "officer"
SIGNAL_NAMESPACE = uuid.UUID("6f0b7c1e-3a52-4c1e-9a57-0e1d0c0ffee4")
SEVERITY = {
    AEOStatus.CERTIFIED: signals.Severity.INFO,
    AEOStatus.SUSPENDED: signals.Severity.MEDIUM,
    AEOStatus.REVOKED: signals.Severity.HIGH,
}
_SEVERITY_OF = {status.value: severity.value for status, severity in SEVERITY.items()}
SIGNAL_CHUNK = 5000  # signals per id look-up and bulk insert (SQLite caps the parameters of a statement)
SIGNAL_COLUMNS = tuple(c.name for c in signals_table.columns)
CERTIFICATE, PARTY = signals.SubjectType.CERTIFICATE.value, signals.SubjectType.PARTY.value
_NAMESPACE_BYTES = SIGNAL_NAMESPACE.bytes
AEO_KIND_VALUES = frozenset(k.value for k in AEO_KINDS)
_KIND_OF = {k.value: k for k in EntryKind}
ENTRY_COLUMNS = (
    "log_id",
    "idx",
    "leaf",
    "commitment",
    "entry_id",
    "body",
    "salt",
    "kind",
    "certificate_number",
    "holder_id",
    "effective_date",
    "audience",
    "recorded_at",
)
CERTIFICATE_COLUMNS = (
    "log_id",
    "certificate_number",
    "status",
    "holder_id",
    "holder_name",
    "type",
    "audience",
    "last_idx",
    "updated_at",
)


@dataclass(frozen=True)
class LogRef:
    """What the checks need of a log (``service.Log`` satisfies it)."""

    id: int
    origin: str
    role: str


@dataclass(frozen=True)
class Key:
    role: str
    holder: str
    raw: bytes
    revoked: bool = False


class Cert(NamedTuple):
    status: AEOStatus
    holder_id: str
    holder_name: str
    type: str
    audience: tuple[str, ...]


@dataclass
class Plan:
    """A checked batch: what to write and the receipts to return once it is durable."""

    entries: Sequence[SignedEntry]
    opened: list[Opened]
    first: int
    keys: dict[str, Key] = field(default_factory=dict)  # keys certified or revoked by the batch
    key_inserts: list[dict[str, Any]] = field(default_factory=list)
    key_revocations: list[tuple[str, int]] = field(default_factory=list)
    certs: dict[str, Cert] = field(default_factory=dict)  # certificates the batch changes, their state after it
    entry_ids: set[str] = field(default_factory=set)
    infos: list[dict[str, Any]] = field(default_factory=list)


def present(conn: Connection, query: str, values: Sequence[str], chunk: int = 5000) -> set[str]:
    """The ``values`` that ``query`` (``SELECT col FROM t WHERE ... col``, completed here with ``IN (...)``) finds,
    asked a few thousand at a time in driver SQL: SQLAlchemy's rendering of a long IN list cost more than the
    look-up itself on the append path."""
    found: set[str] = set()
    postgres = conn.dialect.name == "postgresql"
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for start in range(0, len(values), chunk):
        part = list(values[start : start + chunk])
        if not part:
            continue
        if postgres:
            rows = conn.exec_driver_sql(f"{query} = ANY({marker})", (part,))
        else:
            rows = conn.exec_driver_sql(f"{query} IN ({', '.join([marker] * len(part))})", tuple(part))
        found.update(r[0] for r in rows)
    return found


def leaf_bytes(entry: SignedEntry) -> bytes:
    """``entry.leaf()`` (canonical JSON of the leaf's fields) without the JSON encoder: the fields are hex, base64
    and a boolean, none of which JSON escapes (a test checks the two agree). Only for entries whose signature
    was decoded as strict base64, i.e. verified."""
    restricted = "true" if entry.restricted else "false"
    return (
        f'{{"commitment":"{entry.commitment}","key_id":"{entry.key_id}","restricted":{restricted},'
        f'"signature":"{entry.signature}","v":1}}'
    ).encode()


def position(i: int, exc: OpenCustomsError, count: int) -> OpenCustomsError:
    """Name the entry's position in the message and the field, for batches."""
    if count > 1 or i > 0:
        exc.message = f"entry {i}: {exc.message}"
        exc.args = (exc.message,)
        exc.field = f"entries[{i}].{exc.field}" if exc.field else f"entries[{i}]"
    return exc


class LogState:
    def __init__(self, conn: Connection, log: LogRef, size: int) -> None:
        self.log = log
        self.size = size
        # driver SQL: read once per group commit, where building and compiling the statement cost more than the read
        self.keys: dict[str, Key] = {
            kid: Key(role, holder, bytes(public), revoked is not None)
            for kid, role, holder, public, revoked in conn.exec_driver_sql(
                f"SELECT key_id, role, holder, public_key, revoked_idx FROM {ledger_keys.name} WHERE log_id = "
                f"{int(log.id)}"
            )
        }
        self.certs: dict[str, Cert] = {}
        self.stored_certs: set[str] = set()  # certificates that have a row already
        self.known_ids: set[str] = set()

    def preload(self, conn: Connection, batches: Sequence[Sequence[Opened | Failure]]) -> None:
        """Read, in two queries, the certificates and the already-stored entry ids that the batches mention."""
        numbers = {o.certificate_number for b in batches for o in b if isinstance(o, Opened) and o.certificate_number}
        ids = [o.entry_id for b in batches for o in b if isinstance(o, Opened) and o.entry_id]
        c = ledger_certificates.c
        for start in range(0, len(numbers), 5000):
            chunk = sorted(numbers)[start : start + 5000]
            for r in conn.execute(
                select(c.certificate_number, c.status, c.holder_id, c.holder_name, c.type, c.audience).where(
                    c.log_id == self.log.id, c.certificate_number.in_(chunk)
                )
            ):
                self.certs[r.certificate_number] = Cert(
                    AEOStatus(r.status), r.holder_id, r.holder_name, r.type, tuple(r.audience or ())
                )
                self.stored_certs.add(r.certificate_number)
        self.known_ids.update(
            present(
                conn, f"SELECT entry_id FROM {ledger_entries.name} WHERE log_id = {int(self.log.id)} AND entry_id", ids
            )
        )

    def plan(self, entries: Sequence[SignedEntry], opened: Sequence[Opened | Failure]) -> Plan:
        """Check a batch against the state (and the batch's own earlier entries); raise on the first bad one."""
        plan = Plan(entries, [], self.size)
        count = len(entries)
        for i, (entry, op) in enumerate(zip(entries, opened, strict=True)):
            try:
                if isinstance(op, Failure):
                    raise op.exception()
                plan.opened.append(self._check(plan, entry, op, self.size + i))
            except OpenCustomsError as exc:
                raise position(i, exc, count) from exc
        return plan

    def accept(self, plan: Plan) -> None:
        self.size += len(plan.entries)
        self.keys.update(plan.keys)
        self.certs.update(plan.certs)
        self.known_ids |= plan.entry_ids

    def _key(self, plan: Plan, kid: str) -> Key | None:
        return plan.keys.get(kid) or self.keys.get(kid)

    def _check(self, plan: Plan, entry: SignedEntry, op: Opened, idx: int) -> Opened:
        log = self.log
        key = self._key(plan, entry.key_id)
        if key is None:
            raise SignatureError(
                f"key {entry.key_id} is not certified in log {log.origin}; an administrator certifies officer "
                "keys with `opencustoms ledger officer-key`",
                field="key_id",
            )
        if key.revoked:
            raise SignatureError(
                f"key {entry.key_id} of {key.holder} was revoked; entries signed with it after its revocation are "
                "refused: sign with the officer's current key",
                field="key_id",
            )
        if not op.verified:
            verify_signature(entry, key.raw)
            op = op._replace(verified=True)
        info: dict[str, Any] = {"index": idx, "commitment": entry.commitment, "restricted": entry.restricted}
        plan.infos.append(info)
        if not op.has_body:
            if log.role == OWN:
                raise EntryError("an entry appended to this node's own log must carry its body and salt", field="body")
            if key.role != OFFICER:
                raise EntryError("key entries are public; this one came without its content", field="body")
            return op
        self._check_signer(op, key)
        assert op.entry_id is not None and op.kind is not None
        if op.entry_id in plan.entry_ids:
            raise DuplicateEntryError(f"entry {op.entry_id} appears twice in the batch", field="entry_id")
        if op.entry_id in self.known_ids:
            raise DuplicateEntryError(
                f"entry {op.entry_id} is already in log {log.origin}; nothing was written", field="entry_id"
            )
        plan.entry_ids.add(op.entry_id)
        info.update(entry_id=op.entry_id, kind=op.kind, officer=op.officer)
        if op.kind in AEO_KIND_VALUES:
            self._apply_aeo(plan, entry, op, info)
        else:
            self._apply_key(plan, op, idx)
        return op

    def _check_signer(self, op: Opened, key: Key) -> None:
        if op.origin != self.log.origin:
            raise EntryError(
                f"the entry is for log {op.origin!r}, not {self.log.origin!r}: sign it for this log", field="origin"
            )
        if op.kind in AEO_KIND_VALUES:
            if key.role != OFFICER:
                raise SignatureError(
                    "certificate entries are signed by an officer key, not the administration key", field="key_id"
                )
            if op.officer != key.holder:
                raise SignatureError(
                    f"the entry names officer {op.officer!r} but is signed with the key of {key.holder!r}",
                    field="officer",
                )
        elif key.role != ADMINISTRATION:
            raise SignatureError(
                "key certifications and revocations are signed by the administration key", field="key_id"
            )

    def _apply_aeo(self, plan: Plan, entry: SignedEntry, op: Opened, info: dict[str, Any]) -> None:
        number = op.certificate_number or ""
        current = plan.certs.get(number) or self.certs.get(number)
        status = next_status(_KIND_OF[op.kind or ""], current.status if current else None, number)
        if op.holder_id is not None:
            cert = Cert(status, op.holder_id, op.holder_name or "", op.type or "", op.audience)
        else:
            assert current is not None  # next_status refuses a status change of an unknown certificate
            cert = current._replace(status=status)
        if entry.restricted != bool(cert.audience):
            raise EntryError(
                f"certificate {number} is shared with {list(cert.audience) or 'every partner'}: mark the entry "
                f"restricted={bool(cert.audience)}",
                field="restricted",
            )
        plan.certs[number] = cert
        info.update(
            certificate_number=number,
            status=status.value,
            holder_id=cert.holder_id,
            holder_name=cert.holder_name,
            audience=list(cert.audience) or None,
            reason=op.reason,
            effective_date=op.effective_date.isoformat() if op.effective_date else None,
        )

    def _apply_key(self, plan: Plan, op: Opened, idx: int) -> None:
        kid, raw = op.key_id or "", base64.b64decode(op.key_public or "")  # the body's model checked both
        known = self._key(plan, kid)
        if op.kind == EntryKind.KEY_CERTIFIED.value:
            if known is not None:
                raise DuplicateEntryError(f"key {kid} is already certified", field="key.key_id")
            plan.keys[kid] = Key(OFFICER, op.key_officer or "", raw)
            plan.key_inserts.append(
                {
                    "key_id": kid,
                    "log_id": self.log.id,
                    "holder": op.key_officer,
                    "role": OFFICER,
                    "public_key": raw,
                    "certified_idx": idx,
                }
            )
            return
        if known is None or known.role != OFFICER or known.revoked:
            raise EntryError(f"key {kid} is not an officer key in force", field="key.key_id")
        plan.keys[kid] = dataclasses.replace(known, revoked=True)
        plan.key_revocations.append((kid, idx))


def write(conn: Connection, state: LogState, plans: Sequence[Plan], now: dt.datetime) -> merkle.Frontier:
    """Store accepted batches (entries, keys, tree nodes, certificates) and fill in their receipts' leaf hash,
    tree size and root. ``state`` has accepted every plan; the tree grows from the first plan's index."""
    if not plans:
        raise EntryError("nothing to write", field="entries")
    log_id = state.log.id
    sqlite = conn.dialect.name == "sqlite"
    stamp: Any = sqlite_timestamp(now) if sqlite else now
    rows: list[tuple[Any, ...]] = []
    leaves: list[bytes] = []
    last: dict[str, int] = {}
    for plan in plans:
        for i, (entry, op) in enumerate(zip(plan.entries, plan.opened, strict=True)):
            idx = plan.first + i
            leaf = leaf_bytes(entry)
            leaves.append(leaf)
            info = plan.infos[i]
            audience = info.get("audience")
            if op.certificate_number and op.kind in AEO_KIND_VALUES:
                last[op.certificate_number] = idx
            rows.append(
                (
                    log_id,
                    idx,
                    leaf,
                    entry.commitment,
                    op.entry_id,
                    entry.body if op.has_body else None,
                    op.salt if op.has_body else None,
                    op.kind,
                    info.get("certificate_number"),
                    info.get("holder_id"),
                    op.effective_date.isoformat() if op.effective_date else None,
                    json.dumps(audience) if audience else None,
                    stamp,
                )
            )
        for row in plan.key_inserts:
            conn.execute(ledger_keys.insert().values(**row, certified_at=now))
        for kid, idx in plan.key_revocations:
            conn.execute(update(ledger_keys).where(ledger_keys.c.key_id == kid).values(revoked_idx=idx, revoked_at=now))
    insert_tuples(conn, ledger_entries.name, ENTRY_COLUMNS, rows)
    tree = logstore.frontier(conn, log_id, plans[0].first)
    hashes = logstore.append(conn, log_id, tree, leaves)
    root = tree.root().hex()
    n = 0
    for plan in plans:
        for info in plan.infos:
            info.update(leaf_hash=hashes[n].hex(), tree_size=tree.size, root=root)
            n += 1
    _write_certificates(conn, state, last, stamp, now)
    return tree


def _write_certificates(conn: Connection, state: LogState, last: dict[str, int], stamp: Any, now: dt.datetime) -> None:
    fresh: list[tuple[Any, ...]] = []
    changed: list[dict[str, Any]] = []
    for number, idx in last.items():
        cert = state.certs[number]
        audience = list(cert.audience) or None
        if number in state.stored_certs:
            changed.append(
                {
                    "b_number": number,
                    "status": cert.status.value,
                    "holder_id": cert.holder_id,
                    "holder_name": cert.holder_name,
                    "type": cert.type,
                    "audience": audience,
                    "last_idx": idx,
                    "updated_at": now,
                }
            )
        else:
            fresh.append(
                (
                    state.log.id,
                    number,
                    cert.status.value,
                    cert.holder_id,
                    cert.holder_name,
                    cert.type,
                    json.dumps(audience) if audience else None,
                    idx,
                    stamp,
                )
            )
            state.stored_certs.add(number)
    insert_tuples(conn, ledger_certificates.name, CERTIFICATE_COLUMNS, fresh)
    if changed:
        c = ledger_certificates.c
        conn.execute(
            update(ledger_certificates)
            .where(c.log_id == state.log.id, c.certificate_number == bindparam("b_number"))
            .values(
                status=bindparam("status"),
                holder_id=bindparam("holder_id"),
                holder_name=bindparam("holder_name"),
                type=bindparam("type"),
                audience=bindparam("audience"),
                last_idx=bindparam("last_idx"),
                updated_at=bindparam("updated_at"),
            ),
            changed,
        )


def signal_id(name: str) -> str:
    """``str(uuid.uuid5(SIGNAL_NAMESPACE, name))``, without building UUID objects (a test checks they agree): the
    SHA-1 of namespace and name in hex, with the version nibble set to 5 and the variant bits to 10."""
    h = hashlib.sha1(_NAMESPACE_BYTES + name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def emit_signals(conn: Connection, origin: str, infos: Sequence[dict[str, Any]], now: dt.datetime) -> int:
    """Store the AEO signals of stored entries in the caller's transaction; return how many were new.

    The rows ``signals.emit`` would store for ``aeo_signals(origin, infos, now)``, built straight from the checked
    entries and written with the store's bulk insert (an append of thousands of entries emits thousands of
    signals: building and validating ``Signal`` models was the largest cost of an append after verification).
    Emitting stays idempotent by id, as with ``signals.emit``: ids already stored are skipped."""
    stamp: Any = sqlite_timestamp(now) if conn.dialect.name == "sqlite" else now
    rows: list[tuple[Any, ...]] = []
    for info in infos:
        if "status" not in info:
            continue
        status = info["status"]
        number, holder = info["certificate_number"], info["holder_id"]
        reason = _aeo_reason(origin, info)
        evidence = orjson.dumps(_evidence(origin, info)).decode()
        kind, severity = f"ledger.aeo_{status}", _SEVERITY_OF[status]
        prefix = f"{origin}#{info['index']}#"
        for subject_type, subject_id in ((CERTIFICATE, number), (PARTY, holder)):
            rows.append(
                (signal_id(prefix + subject_type), kind, subject_type, subject_id, severity, "ledger", reason)
                + (evidence, stamp, stamp)
            )
    fresh = 0
    for start in range(0, len(rows), SIGNAL_CHUNK):
        chunk = rows[start : start + SIGNAL_CHUNK]
        known = present(conn, f"SELECT id FROM {signals_table.name} WHERE id", [r[0] for r in chunk])
        chunk = [r for r in chunk if r[0] not in known] if known else chunk
        insert_tuples(conn, signals_table.name, SIGNAL_COLUMNS, chunk)
        fresh += len(chunk)
    return fresh


def _aeo_reason(origin: str, info: dict[str, Any]) -> str:
    """The signal's text: the certificate and its holder as tokens (masked or not per reader), never the holder's
    name, and never the officer's free-text reason, which may name people and which the ledger itself serves only
    to readers of the log's content (ledger:replicate): it stays in the entry, behind that permission."""
    verb = info["kind"].removeprefix("aeo.")
    return (
        f"AEO certificate {signals.certificate_token(info['certificate_number'])} of "
        f"{signals.party_token(info['holder_id'])} ({origin}) is {info['status']} ({verb})"
    )


def _evidence(origin: str, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "origin": origin,
        "index": info["index"],
        "leaf_hash": info["leaf_hash"],
        "kind": info["kind"],
        "status": info["status"],
        "certificate_number": info["certificate_number"],
        "holder_id": info["holder_id"],
        "effective_date": info["effective_date"],
        "tree_size": info["tree_size"],
        "root": info["root"],
    }


def aeo_signals(origin: str, infos: Sequence[dict[str, Any]], now: dt.datetime) -> list[signals.Signal]:
    """The AEO signals of stored entries as ``Signal`` models (validated): one about the certificate and one
    about its holder for every AEO status entry (the risk engine's AEO lane reads them). ``emit_signals`` stores
    exactly these; this form is for reading and for the tests that check the two agree."""
    out = []
    for info in infos:
        if "status" not in info:
            continue
        status = AEOStatus(info["status"])
        reason = _aeo_reason(origin, info)
        for subject_type, subject_id in (
            (signals.SubjectType.CERTIFICATE, info["certificate_number"]),
            (signals.SubjectType.PARTY, info["holder_id"]),
        ):
            out.append(
                signals.Signal(
                    id=str(uuid.uuid5(SIGNAL_NAMESPACE, f"{origin}#{info['index']}#{subject_type.value}")),
                    kind=f"ledger.aeo_{status.value}",
                    subject_type=subject_type,
                    subject_id=subject_id,
                    severity=SEVERITY[status],
                    source="ledger",
                    reason=reason,
                    evidence=_evidence(origin, info),
                    observed_at=now,
                )
            )
    return out
