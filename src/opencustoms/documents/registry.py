"""The issuance registry in the store, with the semantics of OpenAttestation's DocumentStore contract.

``issue(root)`` / ``bulk_issue(roots)`` record batch roots as issued; ``revoke(hash)`` revokes a document (its
targetHash) or a whole batch (its merkle root); ``is_issued(root)`` and ``is_revoked(hash)`` answer verifiers.
Every issuance and revocation is written to the audit log in the same transaction, by the caller's identity.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine, bindparam, insert, select

from opencustoms.documents.errors import AlreadyIssuedError, AlreadyRevokedError, DocumentError
from opencustoms.documents.tables import document_revocations, document_roots
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record, utcnow

_HASH = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def normalise_hash(value: str, field: str = "hash") -> str:
    if not isinstance(value, str) or not _HASH.match(value.strip()):
        raise DocumentError(f"{value!r} is not a 32-byte hash (64 hexadecimal digits, optionally with 0x)", field=field)
    value = value.strip().lower()
    return value[2:] if value.startswith("0x") else value


class StatusSource(Protocol):
    """What a verifier asks a document store (the local registry or an EVM DocumentStore)."""

    def is_issued(self, merkle_root: str) -> bool: ...

    def is_revoked(self, hash_: str) -> bool: ...


@dataclass(frozen=True)
class Revocation:
    hash: str
    revoked_at: dt.datetime | None
    revoked_by: str
    reason: str


class LocalRegistry:
    """The administration's registry in its own database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- writes (need documents:issue) ---------------------------------------------------------------------------

    def issue(self, actor: Identity, merkle_root: str, document_count: int = 1, conn: Connection | None = None) -> str:
        return self.bulk_issue(actor, [merkle_root], {merkle_root: document_count}, conn)[0]

    def bulk_issue(
        self,
        actor: Identity,
        merkle_roots: Sequence[str],
        counts: dict[str, int] | None = None,
        conn: Connection | None = None,
    ) -> list[str]:
        actor.require(Permission.DOCUMENTS_ISSUE)
        roots = [normalise_hash(r, "merkle_root") for r in merkle_roots]
        if len(set(roots)) != len(roots):
            raise DocumentError("the same merkle root appears twice in one issuance", field="merkle_root")
        counts = {normalise_hash(k): v for k, v in (counts or {}).items()}
        if conn is None:
            with self.engine.begin() as own:
                return self.bulk_issue(actor, roots, counts, own)
        known = set(
            conn.execute(select(document_roots.c.merkle_root).where(document_roots.c.merkle_root.in_(roots))).scalars()
        )
        if known:
            raise AlreadyIssuedError(f"merkle root {sorted(known)[0]} is already issued; a root is issued once")
        now = utcnow()
        conn.execute(
            insert(document_roots),
            [
                {"merkle_root": r, "issued_at": now, "issued_by": actor.username, "document_count": counts.get(r, 1)}
                for r in roots
            ],
        )
        for r in roots:
            record(conn, actor, "issue", "document_root", r, detail={"documents": counts.get(r, 1)})
        return roots

    def revoke(self, actor: Identity, hash_: str, reason: str, conn: Connection | None = None) -> Revocation:
        actor.require(Permission.DOCUMENTS_ISSUE)
        value = normalise_hash(hash_)
        if not reason or not reason.strip():
            raise DocumentError(
                "give the reason for the revocation (it is shown to verifiers' auditors)", field="reason"
            )
        if conn is None:
            with self.engine.begin() as own:
                return self.revoke(actor, value, reason, own)
        existing = conn.execute(select(document_revocations).where(document_revocations.c.hash == value)).first()
        if existing is not None:
            raise AlreadyRevokedError(
                f"{value} was already revoked on {existing.revoked_at:%Y-%m-%d} by {existing.revoked_by}"
            )
        now = utcnow()
        conn.execute(
            insert(document_revocations).values(
                hash=value, revoked_at=now, revoked_by=actor.username, reason=reason.strip()
            )
        )
        record(conn, actor, "revoke", "document", value, detail={"reason": reason.strip()})
        return Revocation(value, now, actor.username, reason.strip())

    # --- reads (public, as a DocumentStore's views are) ----------------------------------------------------------

    def is_issued(self, merkle_root: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(document_roots.c.merkle_root).where(
                        document_roots.c.merkle_root == normalise_hash(merkle_root)
                    )
                ).first()
                is not None
            )

    def is_revoked(self, hash_: str) -> bool:
        return self.revocation(hash_) is not None

    def revocation(self, hash_: str) -> Revocation | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(document_revocations).where(document_revocations.c.hash == normalise_hash(hash_))
            ).first()
        return None if row is None else Revocation(row.hash, row.revoked_at, row.revoked_by, row.reason)

    def statuses(self, roots: Iterable[str], hashes: Iterable[str]) -> tuple[set[str], dict[str, Revocation]]:
        """Issued roots and revocations among many at once (batch verification): two queries per 500 hashes, built
        once (expanding IN parameters) so that a single verification does not pay for constructing SQL."""
        roots, hashes = list(set(roots)), list(set(hashes))
        issued: set[str] = set()
        revoked: dict[str, Revocation] = {}
        if not roots and not hashes:
            return issued, revoked
        with self.engine.connect() as conn:
            for i in range(0, len(roots), 500):
                issued.update(conn.execute(_ISSUED_AMONG, {"values": roots[i : i + 500]}).scalars())
            for i in range(0, len(hashes), 500):
                for row in conn.execute(_REVOKED_AMONG, {"values": hashes[i : i + 500]}):
                    revoked[row.hash] = Revocation(row.hash, row.revoked_at, row.revoked_by, row.reason)
        return issued, revoked


_ISSUED_AMONG = select(document_roots.c.merkle_root).where(
    document_roots.c.merkle_root.in_(bindparam("values", expanding=True))
)
_REVOKED_AMONG = select(document_revocations).where(
    document_revocations.c.hash.in_(bindparam("values", expanding=True))
)
