"""ledger: the tree's node table becomes a tile table (four levels of complete nodes per row)

Every complete perfect subtree hash moves from ``ledger_nodes`` (one row per node) to ``ledger_tiles`` (one row per
tile of four levels: the bottom row's up to 16 hashes, then each level above, complete nodes only), so a proof in
a log of ten million entries reads six rows instead of some twenty-four. Existing trees are converted; a log whose
node table has a hole is refused (run ``opencustoms ledger rebuild-tree`` with the previous version first).

Revision ID: ledger_0003
Revises: ledger_0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_0003"
down_revision = "ledger_0002"
branch_labels = None
depends_on = None

HEIGHT, WIDTH, INDEX_BITS = 4, 16, 48  # logstore.TILE_HEIGHT, TILE_WIDTH (fixed here: a migration never changes)
CHUNK = 1 << 16  # nodes of one level read at a time


def _key(log_id: int, level: int, index: int) -> int:  # the same packing for a node (old) and a tile (new)
    return (log_id << 54) | (level << INDEX_BITS) | index


def upgrade() -> None:
    op.create_table(
        "ledger_tiles",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ledger_tiles")),
    )
    conn = op.get_bind()
    nodes = sa.table("ledger_nodes", sa.column("key", sa.BigInteger()), sa.column("hash", sa.LargeBinary()))
    tiles = sa.table("ledger_tiles", sa.column("key", sa.BigInteger()), sa.column("hashes", sa.LargeBinary()))
    for log_id, size in conn.execute(sa.text("SELECT id, size FROM ledger_logs")).all():
        size = int(size)
        for t in range(0, INDEX_BITS // HEIGHT + 1):
            bottom = size >> (t * HEIGHT)  # complete nodes at the tile level's bottom row
            if bottom == 0:
                break
            for first_tile in range(0, (bottom + WIDTH - 1) // WIDTH, CHUNK // WIDTH):
                start = first_tile * WIDTH
                end = min(bottom, start + CHUNK)
                levels: list[dict[int, bytes]] = []
                for r in range(HEIGHT):
                    level = t * HEIGHT + r
                    low, high = start >> r, end >> r  # complete nodes of this level over the chunk
                    rows = conn.execute(
                        sa.select(nodes.c.key, nodes.c.hash).where(
                            nodes.c.key >= _key(log_id, level, low), nodes.c.key < _key(log_id, level, max(low, high))
                        )
                    ).all()
                    found = {int(k) & ((1 << INDEX_BITS) - 1): bytes(h) for k, h in rows}
                    if len(found) != high - low:
                        raise RuntimeError(
                            f"ledger_nodes of log {log_id} lacks nodes of level {level} for its size {size}; run "
                            "`opencustoms ledger rebuild-tree` with the previous version, then upgrade again"
                        )
                    levels.append(found)
                out = []
                for k in range(first_tile, (end + WIDTH - 1) // WIDTH):
                    w = min(WIDTH, end - k * WIDTH)
                    blob = b"".join(levels[r][(k * WIDTH >> r) + i] for r in range(HEIGHT) for i in range(w >> r))
                    out.append({"key": _key(log_id, t, k), "hashes": blob})
                conn.execute(tiles.insert(), out)
    op.drop_table("ledger_nodes")


def downgrade() -> None:
    op.create_table(
        "ledger_nodes",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ledger_nodes")),
    )
    conn = op.get_bind()
    nodes = sa.table("ledger_nodes", sa.column("key", sa.BigInteger()), sa.column("hash", sa.LargeBinary()))
    tiles = sa.table("ledger_tiles", sa.column("key", sa.BigInteger()), sa.column("hashes", sa.LargeBinary()))
    mask = (1 << INDEX_BITS) - 1
    last = None
    while True:
        query = sa.select(tiles.c.key, tiles.c.hashes).order_by(tiles.c.key).limit(1000)
        if last is not None:
            query = query.where(tiles.c.key > last)
        batch = conn.execute(query).all()
        if not batch:
            break
        out = []
        for key, blob in batch:
            key, blob = int(key), bytes(blob)
            log_id, t, k = key >> 54, (key >> INDEX_BITS) & 63, key & mask
            count = len(blob) // 32
            w = next(w for w in range(1, WIDTH + 1) if sum(w >> r for r in range(HEIGHT)) == count)
            at = 0
            for r in range(HEIGHT):
                for i in range(w >> r):
                    index = (k * WIDTH >> r) + i
                    out.append({"key": _key(log_id, t * HEIGHT + r, index), "hash": blob[at : at + 32]})
                    at += 32
        conn.execute(nodes.insert(), out)
        last = int(batch[-1][0])
    op.drop_table("ledger_tiles")
