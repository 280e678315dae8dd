"""A log's tree in the store: perfect-subtree hashes written at append, proofs read with one query.

``node_key`` packs (log, level, index) into one 63-bit integer (9 bits of log id, 6 of level, 48 of index), so the
node table is a single B-tree keyed by an integer and every proof is one ``WHERE key IN (...)`` of O(log n) keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, select, update

from opencustoms.ledger import merkle
from opencustoms.ledger.errors import LedgerError, ProofError
from opencustoms.ledger.tables import ledger_logs, ledger_nodes
from opencustoms.store.bulk import insert_tuples

MAX_LOGS = 1 << 9
MAX_INDEX = 1 << 48


def node_key(log_id: int, level: int, index: int) -> int:
    if not 0 < log_id < MAX_LOGS:
        raise LedgerError(f"log id {log_id} is outside 1..{MAX_LOGS - 1}")
    if index >= MAX_INDEX:
        raise LedgerError(f"the log is full: index {index} exceeds 2**48")
    return (log_id << 54) | (level << 48) | index


def lock(conn: Connection, log_id: int) -> int:
    """Take the log's write lock for this transaction (a row lock on PostgreSQL, the write lock on SQLite) and
    return its size, so two appenders never build on the same frontier."""
    conn.execute(update(ledger_logs).where(ledger_logs.c.id == log_id).values(size=ledger_logs.c.size))
    return int(conn.execute(select(ledger_logs.c.size).where(ledger_logs.c.id == log_id)).scalar_one())


def lookup(conn: Connection, log_id: int) -> Callable[[list[merkle.Node]], dict[merkle.Node, bytes]]:
    def fetch(nodes: list[merkle.Node]) -> dict[merkle.Node, bytes]:
        if not nodes:
            return {}
        keys = {node_key(log_id, level, index): (level, index) for level, index in nodes}
        rows = conn.execute(select(ledger_nodes.c.key, ledger_nodes.c.hash).where(ledger_nodes.c.key.in_(keys)))
        return {keys[k]: bytes(h) for k, h in rows}

    return fetch


def frontier(conn: Connection, log_id: int, size: int) -> merkle.Frontier:
    nodes = merkle.Frontier.nodes_for(size)
    found = lookup(conn, log_id)(nodes)
    if len(found) != len(nodes):
        raise LedgerError(
            f"the node table of log {log_id} is missing subtrees of size {size}; rebuild the node "
            "table with `opencustoms ledger rebuild-tree`"
        )
    return merkle.Frontier(size, [found[n] for n in nodes])


def append(conn: Connection, log_id: int, tree: merkle.Frontier, leaves: Sequence[bytes]) -> list[bytes]:
    """Add leaves (their bytes) to the tree; write every completed subtree; return the leaf hashes."""
    if tree.size + len(leaves) > MAX_INDEX:
        raise LedgerError(f"the log is full: it cannot grow past 2**48 entries (it has {tree.size})")
    node_key(log_id, 0, 0)  # checks the log id
    base = log_id << 54
    rows: list[tuple[int, bytes]] = []
    hashes = []
    for leaf in leaves:
        h = merkle.leaf_hash(leaf)
        hashes.append(h)
        rows += [(base | (level << 48) | index, digest) for level, index, digest in tree.append(h)]
    insert_tuples(conn, ledger_nodes.name, ("key", "hash"), rows)
    conn.execute(update(ledger_logs).where(ledger_logs.c.id == log_id).values(size=tree.size))
    return hashes


def root_at(conn: Connection, log_id: int, size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return merkle.hashes_of([(0, size)], lookup(conn, log_id))[0]


def inclusion_proof(conn: Connection, log_id: int, index: int, size: int) -> list[bytes]:
    return merkle.hashes_of(merkle.inclusion_ranges(index, size), lookup(conn, log_id))


def consistency_proof(conn: Connection, log_id: int, first: int, second: int, current: int) -> list[bytes]:
    if second > current:
        raise ProofError(f"the log has {current} entries; no proof up to size {second}", field="second")
    return merkle.hashes_of(merkle.consistency_ranges(first, second), lookup(conn, log_id))


def delete_nodes(conn: Connection, log_id: int) -> None:
    low, high = node_key(log_id, 0, 0), node_key(log_id, 63, MAX_INDEX - 1)
    conn.execute(ledger_nodes.delete().where(ledger_nodes.c.key.between(low, high)))
