"""A log's tree in the store: tiles of perfect-subtree hashes written at append, proofs read with one query.

The tree is cut into *tiles*, as in C2SP tlog-tiles (and Trillian Tessera) but four levels high: tile ``(t, k)``
covers tree levels ``4t .. 4t+3`` and the 16 nodes of level ``4t`` numbered ``16k .. 16k+15``. Unlike tlog-tiles,
which keeps only a tile's bottom row and recomputes the rest, a tile row here holds every complete node of its
levels (its bottom row, then the 8, 4 and 2 nodes above: at most 30 hashes, 960 bytes, one database page), so
serving a proof hashes nothing: an inclusion proof in a log of 10 million entries is one ``WHERE key IN (...)`` of
six rows (one per four levels) and a few byte slices. A partial tile (the right edge of the tree) holds the
complete nodes it has so far and is rewritten, extended, by the next append. Four levels rather than tlog-tiles'
eight: a 16 KB row of 510 hashes spans five SQLite pages (and is TOASTed by PostgreSQL), and the right-edge tiles
that every append rewrites would be 16 times bigger; measured, the four-level tiles served proofs as fast and
took single appends from 121/s to 210/s (docs/ledger.md).

``tile_key`` packs (log, tile level, tile index) into one 63-bit integer (9 bits of log id, 6 of tile level, 48 of
tile index), so the tile table is a single B-tree keyed by an integer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from opencustoms.ledger import merkle
from opencustoms.ledger.errors import LedgerError, ProofError
from opencustoms.ledger.tables import ledger_logs, ledger_tiles
from opencustoms.store.bulk import insert_tuples

MAX_LOGS = 1 << 9
MAX_INDEX = 1 << 48
TILE_HEIGHT = 4
TILE_WIDTH = 1 << TILE_HEIGHT
H = merkle.HASH_SIZE


def _count(width: int) -> int:
    """Hashes held by a tile whose bottom row has ``width`` nodes: every complete node of its eight levels."""
    return sum(width >> r for r in range(TILE_HEIGHT))


WIDTH_OF = {_count(w): w for w in range(1, TILE_WIDTH + 1)}  # hashes in a tile -> width of its bottom row
OFFSETS = {w: [sum(w >> q for q in range(r)) for r in range(TILE_HEIGHT)] for w in range(1, TILE_WIDTH + 1)}


def tile_key(log_id: int, tile_level: int, tile_index: int) -> int:
    if not 0 < log_id < MAX_LOGS:
        raise LedgerError(f"log id {log_id} is outside 1..{MAX_LOGS - 1}")
    if tile_index >= MAX_INDEX:
        raise LedgerError(f"the log is full: tile index {tile_index} exceeds 2**48")
    return (log_id << 54) | (tile_level << 48) | tile_index


def tile_of(level: int, index: int) -> tuple[int, int, int, int]:
    """Where node (level, index) lives: (tile level, tile index, level within the tile, position in that level)."""
    t, r = divmod(level, TILE_HEIGHT)
    k = index >> (TILE_HEIGHT - r)
    return t, k, r, index - (k << (TILE_HEIGHT - r))


def width(blob: bytes, key: int) -> int:
    w = WIDTH_OF.get(len(blob) // H) if len(blob) % H == 0 else None
    if w is None:
        raise LedgerError(
            f"tile {key} of the tree holds {len(blob)} bytes, which is no tile's size; rebuild the tree with "
            "`opencustoms ledger rebuild-tree`"
        )
    return w


def split_tile(blob: bytes, key: int) -> list[list[bytes]]:
    """A tile's hashes by level within the tile (bottom row first)."""
    w = width(blob, key)
    out = []
    for r in range(TILE_HEIGHT):
        start = OFFSETS[w][r] * H
        out.append([blob[start + i * H : start + (i + 1) * H] for i in range(w >> r)])
    return out


def lock(conn: Connection, log_id: int) -> int:
    """Take the log's write lock for this transaction (a row lock on PostgreSQL, the write lock on SQLite) and
    return its size, so two appenders never build on the same frontier."""
    log_id = int(log_id)  # driver SQL (this runs once per commit): an integer only
    conn.exec_driver_sql(f"UPDATE {ledger_logs.name} SET size = size WHERE id = {log_id}")
    row = conn.exec_driver_sql(f"SELECT size FROM {ledger_logs.name} WHERE id = {log_id}").first()
    if row is None:
        raise LedgerError(f"log {log_id} is not in this node's store")
    return int(row[0])


def lookup(conn: Connection, log_id: int) -> Callable[[list[merkle.Node]], dict[merkle.Node, bytes]]:
    """Fetch perfect-subtree hashes: one query for the tiles that hold them; a node not stored is left out."""

    def fetch(nodes: list[merkle.Node]) -> dict[merkle.Node, bytes]:
        if not nodes:
            return {}
        where = {}
        for level, index in nodes:
            t, k, r, j = tile_of(level, index)
            where[(level, index)] = (tile_key(log_id, t, k), r, j)
        tiles = read_tiles(conn, {w[0] for w in where.values()})
        out = {}
        for node, (key, r, j) in where.items():
            blob = tiles.get(key)
            if blob is None:
                continue
            w = width(blob, key)
            if j < w >> r:
                start = (OFFSETS[w][r] + j) * H
                out[node] = blob[start : start + H]
        return out

    return fetch


def read_tiles(conn: Connection, keys: set[int]) -> dict[int, bytes]:
    """The tiles with these keys (one query in driver SQL: a proof is a handful of keys and this is its hot path)."""
    if not keys:
        return {}
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT key, hashes FROM {ledger_tiles.name} WHERE key IN ({', '.join([marker] * len(keys))})"
    return {int(k): bytes(h) for k, h in conn.exec_driver_sql(sql, tuple(keys))}


def frontier(conn: Connection, log_id: int, size: int) -> merkle.Frontier:
    nodes = merkle.Frontier.nodes_for(size)
    found = lookup(conn, log_id)(nodes)
    if len(found) != len(nodes):
        raise LedgerError(
            f"the tree of log {log_id} is missing subtrees of size {size}; rebuild it with "
            "`opencustoms ledger rebuild-tree`"
        )
    return merkle.Frontier(size, [found[n] for n in nodes])


def append(conn: Connection, log_id: int, tree: merkle.Frontier, leaves: Sequence[bytes]) -> list[bytes]:
    """Add leaves (their bytes) to the tree; write every tile they change; return the leaf hashes."""
    if tree.size + len(leaves) > MAX_INDEX:
        raise LedgerError(f"the log is full: it cannot grow past 2**48 entries (it has {tree.size})")
    tile_key(log_id, 0, 0)  # checks the log id
    old = tree.size
    hashes = []
    fresh: dict[tuple[int, int], list[list[bytes]]] = {}
    leaf_hash, height, step = merkle.leaf_hash, TILE_HEIGHT, tree.append
    for leaf in leaves:
        h = leaf_hash(leaf)
        hashes.append(h)
        for level, index, digest in step(h):
            t, r = divmod(level, height)
            k = index >> (height - r)
            levels = fresh.get((t, k))
            if levels is None:
                levels = fresh[(t, k)] = [[] for _ in range(height)]
            levels[r].append(digest)
    # a partial tile at the old right edge already holds nodes: read it and extend it
    partial = {}
    for t, k in fresh:
        below = old >> (t * TILE_HEIGHT)
        if below >> TILE_HEIGHT == k and below & (TILE_WIDTH - 1):
            partial[tile_key(log_id, t, k)] = (t, k, below & (TILE_WIDTH - 1))
    rows: list[tuple[int, bytes]] = []
    if partial:
        found = read_tiles(conn, set(partial))
        for key, (t, k, w) in partial.items():
            blob = found.get(key)
            if blob is None or width(blob, key) != w:
                raise LedgerError(
                    f"tile ({t}, {k}) of log {log_id} does not match a tree of {old} entries; rebuild the tree with "
                    "`opencustoms ledger rebuild-tree`"
                )
            for r, before in enumerate(split_tile(blob, key)):
                fresh[(t, k)][r][:0] = before
        conn.execute(ledger_tiles.delete().where(ledger_tiles.c.key.in_(partial)))
    base = log_id << 54
    for (t, k), levels in fresh.items():
        rows.append((base | (t << 48) | k, b"".join(h for level in levels for h in level)))
    insert_tuples(conn, ledger_tiles.name, ("key", "hashes"), rows)
    conn.exec_driver_sql(f"UPDATE {ledger_logs.name} SET size = {int(tree.size)} WHERE id = {int(log_id)}")
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
    low, high = tile_key(log_id, 0, 0), tile_key(log_id, 63, MAX_INDEX - 1)
    conn.execute(ledger_tiles.delete().where(ledger_tiles.c.key.between(low, high)))
