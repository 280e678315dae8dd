"""Checking a stored log end to end (``opencustoms ledger verify``), and the cheap check made when serving bodies.

A log's rows hold more than the tree commits to: the leaf (commitment, signer, signature) is what the Merkle tree
and the signed checkpoints cover, while the body and salt beside it are only bound to the leaf through the
commitment, ``SHA-256(salt || body)``. An edit of a body in the database leaves every leaf, every tree node and
every checkpoint intact, so a check of the tree alone passes. ``verify_log`` therefore recomputes, for every entry
in order, read in batches:

1. the body's commitment from the stored body and salt, against the commitment in the signed leaf (and the
   ``commitment`` column against the leaf);
2. the signature over the commitment, by a key certified before the entry and not revoked at it;
3. the leaf hash, against the tree's stored leaf hash (so an edited leaf is named, not only a wrong root);
4. the tree from the leaf hashes, against the root of the latest signed checkpoint, and the stored node table
   against that checkpoint.

The first entry that fails is named with its index and what differs (``StoredLogError``). ``progress`` is called
after each batch with (entries checked, entries in the log).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select

from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import logstore, merkle
from opencustoms.ledger.entries import commitment_of
from opencustoms.ledger.errors import ProofError, SignatureError, StoredLogError
from opencustoms.ledger.logs import get_log, latest_note
from opencustoms.ledger.tables import ledger_entries, ledger_keys
from opencustoms.ledger.verify import verify_signatures

BATCH = 10_000  # entries read, hashed and verified at a time
Progress = Callable[[int, int], None]


def body_opens(commitment: str, body: str | None, salt: bytes | None) -> bool:
    """Whether a stored body and salt open the commitment of their leaf (an entry without content opens nothing
    and is fine; content with no salt, or a salt with no content, is not)."""
    if body is None and salt is None:
        return True
    if body is None or salt is None:
        return False
    return commitment_of(bytes(salt), body.encode()).hex() == commitment


def require_body_opens(idx: int, commitment: str, body: str | None, salt: bytes | None, of: str) -> None:
    """Refuse to serve an entry (``of``: whose entry, in words) whose stored content no longer opens its leaf."""
    if not body_opens(commitment, body, salt):
        raise StoredLogError(
            idx,
            f"the stored content of this entry of {of} does not open the commitment in its signed leaf: it was "
            "altered in the database and is not served; run `opencustoms ledger verify` and restore the entry from "
            "a backup or a partner's copy",
        )


def leaf_fields(idx: int, leaf: bytes) -> dict[str, Any]:
    """The leaf's JSON fields, or StoredLogError naming the entry."""
    try:
        raw = orjson.loads(leaf)
    except orjson.JSONDecodeError:
        raw = None
    if (
        not isinstance(raw, dict)
        or raw.get("v") != 1
        or not all(isinstance(raw.get(k), str) for k in ("commitment", "key_id", "signature"))
    ):
        raise StoredLogError(idx, "its stored leaf is not a well-formed version-1 leaf: the leaf was altered")
    return raw


def _check_row(expected: int, row: Any, keys: dict[str, Any]) -> tuple[str, str, str, bytes]:
    """The checks of one stored entry that need nothing but its row and the log's keys; what its signature check
    needs (commitment, key id, signature, public key)."""
    idx, leaf, commitment, body, salt = row
    if idx != expected:
        raise StoredLogError(expected, "it is missing from the store; restore the log from a backup or a partner")
    raw = leaf_fields(idx, bytes(leaf))
    if raw["commitment"] != commitment:
        raise StoredLogError(
            idx,
            f"its commitment column ({str(commitment)[:16]}...) differs from the commitment in its signed leaf "
            f"({raw['commitment'][:16]}...): the row was altered",
        )
    if not body_opens(raw["commitment"], body, salt):
        raise StoredLogError(
            idx,
            "its stored body and salt do not open the commitment in its signed leaf: the content was altered after "
            "it was written (the leaf and the tree are intact; restore the entry's body from a backup or a "
            "partner's copy)",
        )
    key = keys.get(raw["key_id"])
    if (
        key is None
        or (key["certified_idx"] is not None and key["certified_idx"] >= idx)
        or (key["revoked_idx"] is not None and key["revoked_idx"] <= idx)
    ):
        raise SignatureError(
            f"entry {idx} is signed by key {raw['key_id']}, not in force at that index", field="key_id"
        )
    return raw["commitment"], raw["key_id"], raw["signature"], bytes(key["public_key"])


def _batches(conn: Connection, log_id: int):  # type: ignore[no-untyped-def]
    c = ledger_entries.c
    start = 0
    while True:
        rows = conn.execute(
            select(c.idx, c.leaf, c.commitment, c.body, c.salt)
            .where(c.log_id == log_id, c.idx >= start)
            .order_by(c.idx)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield start, rows
        start += len(rows)


def verify_log(engine: Engine, origin: str | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Check a stored log (this node's, or a partner's replica) as the module's doc says; raise on the first bad
    entry. The caller checks the permission."""
    with engine.connect() as conn:
        log = get_log(conn, origin)
        note = latest_note(conn, log.id)
        if note is None:
            raise StoredLogError(None, f"no checkpoint is held for log {log.origin}; pull it or restore it first")
        cp = notes.open_checkpoint(note, log.origin, log.public_key, None)
        keys = {
            r["key_id"]: r for r in conn.execute(select(ledger_keys).where(ledger_keys.c.log_id == log.id)).mappings()
        }
        tree = merkle.Frontier()
        at_checkpoint = merkle.EMPTY_ROOT if cp.size == 0 else None
        stored_leaves = logstore.lookup(conn, log.id)
        if progress is not None:
            progress(0, log.size)
        for start, rows in _batches(conn, log.id):
            # the entries of a batch up to its first bad row; then their signatures (on the verification threads)
            # and leaf hashes: whichever check fails, the entry named is the first bad one of the log
            signatures: list[tuple[str, str, str, bytes]] = []
            problem: StoredLogError | SignatureError | None = None
            for offset, row in enumerate(rows):
                try:
                    signatures.append(_check_row(start + offset, row, keys))
                except (StoredLogError, SignatureError) as exc:
                    problem = exc
                    break
            failures = verify_signatures(signatures)
            bad_signature = next((i for i, f in enumerate(failures) if f is not None), None)
            checked = len(signatures) if bad_signature is None else bad_signature
            stored = stored_leaves([(0, start + i) for i in range(checked)])
            for i in range(checked):
                h = merkle.leaf_hash(bytes(rows[i][1]))
                held = stored.get((0, start + i))
                if held is not None and held != h:
                    raise StoredLogError(
                        start + i,
                        f"its leaf hashes to {h.hex()[:16]}... but the tree holds {held.hex()[:16]}... for it: the "
                        "leaf or the tree was altered. Run `opencustoms ledger rebuild-tree`: it recomputes the tree "
                        "from the leaves, and refuses (changing nothing) when they do not rebuild the signed "
                        "checkpoint, in which case the leaf was altered: restore the log from a backup or a partner",
                    )
                if tree.size == cp.size:
                    at_checkpoint = tree.root()
                tree.append(h)
            if bad_signature is not None:
                failure = failures[bad_signature]
                assert failure is not None  # bad_signature is the first entry whose check failed
                raise StoredLogError(start + bad_signature, f"its signature does not verify ({failure.message})")
            if problem is not None:
                raise problem
            if progress is not None:
                progress(tree.size, max(log.size, tree.size))
        if tree.size == cp.size:
            at_checkpoint = tree.root()
        if tree.size < max(log.size, cp.size):
            raise StoredLogError(
                tree.size,
                f"it is missing from the store (the log records {log.size} entries, its signed checkpoint "
                f"{cp.size}); restore the log from a backup or a partner",
            )
        if tree.size != log.size:
            raise StoredLogError(None, f"log {log.origin} records size {log.size} but holds {tree.size} entries")
        assert at_checkpoint is not None  # tree.size >= cp.size
        if at_checkpoint != cp.root:
            raise ProofError(
                f"the entries of {log.origin} do not rebuild the root of its signed checkpoint {cp.size}: entries "
                "were replaced together with the tree (no entry differs from the node table); compare with a "
                "partner's copy and restore from it"
            )
        if logstore.root_at(conn, log.id, cp.size) != cp.root:
            raise ProofError(
                f"the node table of {log.origin} disagrees with its checkpoint; run `opencustoms ledger rebuild-tree`"
            )
    return {"origin": log.origin, "size": tree.size, "checkpoint_size": cp.size, "root": cp.root.hex(), "ok": True}
