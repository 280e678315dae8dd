"""The tree stored as tiles (``logstore``): proofs and roots read from the store equal those computed in memory,
whatever the sizes of the appends; a damaged tile is named; migration ledger_0003 converts a node table to tiles
and back."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from alembic import command
from sqlalchemy import insert, select, text

from opencustoms.ledger import logstore, merkle
from opencustoms.ledger.errors import LedgerError
from opencustoms.ledger.tables import ledger_logs, ledger_tiles
from opencustoms.store.database import _alembic_config


def _log(engine, log_id: int = 1) -> int:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(
            insert(ledger_logs).values(
                id=log_id,
                origin=f"test/{log_id}",
                administration_code="XX",
                role="own",
                public_key=bytes(32),
                size=0,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return log_id


def _leaves(n: int, salt: int = 0) -> list[bytes]:
    return [f"leaf {salt} {i}".encode() for i in range(n)]


def _append_in_chunks(engine, log_id: int, leaves: list[bytes], rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    at = 0
    while at < len(leaves):
        step = rng.choice([1, 1, 2, 3, 7, 15, 16, 17, 255, 256, 257, 1000, 5000])
        with engine.begin() as conn:
            size = logstore.lock(conn, log_id)
            assert size == at
            tree = logstore.frontier(conn, log_id, size)
            logstore.append(conn, log_id, tree, leaves[at : at + step])
        at = min(len(leaves), at + step)


def test_proofs_from_tiles_equal_proofs_in_memory(engine) -> None:  # type: ignore[no-untyped-def]
    leaves = _leaves(70_000)  # five tile levels: 16**4 = 65,536 < 70,000
    hashes = [merkle.leaf_hash(x) for x in leaves]
    log_id = _log(engine)
    _append_in_chunks(engine, log_id, leaves, random.Random(3))
    rng = random.Random(5)
    sizes = [1, 2, 15, 16, 17, 31, 32, 255, 256, 257, 511, 512, 4095, 4096, 4097, 65_535, 65_536, 65_537, 70_000] + [
        rng.randrange(1, 70_001) for _ in range(8)
    ]
    memory = merkle.Frontier()
    roots = {}
    for i, h in enumerate(hashes, start=1):
        memory.append(h)
        if i in sizes:
            roots[i] = memory.root()
    with engine.connect() as conn:
        for size in sizes:
            assert logstore.root_at(conn, log_id, size) == roots[size]
            for index in {0, size - 1, rng.randrange(size), size // 2}:
                proof = logstore.inclusion_proof(conn, log_id, index, size)
                merkle.verify_inclusion(index, size, hashes[index], proof, roots[size])
            first = rng.randrange(1, size + 1)  # size 0 has no consistency proof (RFC 9162, 2.1.4)
            proof = logstore.consistency_proof(conn, log_id, first, size, 70_000)
            merkle.verify_consistency(
                first, size, proof, roots.get(first) or merkle.root_of(hashes[:first]), roots[size]
            )
        assert logstore.frontier(conn, log_id, 70_000).root() == roots[70_000]
        # a proof in a small tree computed from scratch is the same list of hashes
        assert logstore.inclusion_proof(conn, log_id, 300, 1000) == merkle.inclusion_proof(hashes[:1000], 300)
        # a full level-0 tile holds 30 hashes (16 + 8 + 4 + 2); the right edge holds only its complete nodes
        blob = conn.execute(select(ledger_tiles.c.hashes).where(ledger_tiles.c.key == logstore.tile_key(1, 0, 0)))
        assert len(blob.scalar_one()) == 30 * 32 == (2 * logstore.TILE_WIDTH - 2) * 32
        edge = conn.execute(
            select(ledger_tiles.c.hashes).where(ledger_tiles.c.key == logstore.tile_key(1, 1, (70_000 >> 4) // 16))
        ).scalar_one()
        assert logstore.width(bytes(edge), 0) == (70_000 >> 4) % 16 == 7  # level 4: 4,375 nodes


def test_tiles_of_two_logs_stay_apart_and_rebuild_the_same(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = _log(engine, 1), _log(engine, 2)
    _append_in_chunks(engine, a, _leaves(3000, 1), random.Random(1))
    _append_in_chunks(engine, b, _leaves(1000, 2), random.Random(2))
    with engine.begin() as conn:
        root_a = logstore.root_at(conn, a, 3000)
        assert root_a == merkle.root_of([merkle.leaf_hash(x) for x in _leaves(3000, 1)])
        assert logstore.root_at(conn, b, 1000) == merkle.root_of([merkle.leaf_hash(x) for x in _leaves(1000, 2)])
        logstore.delete_nodes(conn, a)  # as rebuild-tree does
        with pytest.raises(LedgerError, match="rebuild-tree"):
            logstore.frontier(conn, a, 3000)
        assert logstore.root_at(conn, b, 1000)  # the other log's tiles are untouched
        tree = merkle.Frontier()
        logstore.append(conn, a, tree, _leaves(3000, 1)[:1234])
        logstore.append(conn, a, tree, _leaves(3000, 1)[1234:])
        assert logstore.root_at(conn, a, 3000) == root_a


def test_a_damaged_tile_is_named(engine) -> None:  # type: ignore[no-untyped-def]
    log_id = _log(engine)
    _append_in_chunks(engine, log_id, _leaves(600), random.Random(0))
    damaged = logstore.tile_key(1, 0, 300 // logstore.TILE_WIDTH)  # the tile that holds leaf 300
    with engine.begin() as conn:
        conn.execute(ledger_tiles.update().where(ledger_tiles.c.key == damaged).values(hashes=b"x" * 33))
    with engine.connect() as conn, pytest.raises(LedgerError, match="no tile's size.*rebuild-tree"):
        logstore.inclusion_proof(conn, log_id, 300, 600)
    edge = logstore.tile_key(1, 0, 600 // logstore.TILE_WIDTH)
    assert 600 % logstore.TILE_WIDTH > 1
    with engine.begin() as conn:  # the right edge cut short: a well-formed tile of one leaf
        blob = conn.execute(select(ledger_tiles.c.hashes).where(ledger_tiles.c.key == edge)).scalar_one()
        conn.execute(ledger_tiles.update().where(ledger_tiles.c.key == edge).values(hashes=bytes(blob)[:32]))
    with engine.connect() as conn, pytest.raises(LedgerError, match="missing subtrees.*rebuild-tree"):
        logstore.frontier(conn, log_id, 600)


def test_migration_converts_nodes_to_tiles_and_back(engine) -> None:  # type: ignore[no-untyped-def]
    leaves = _leaves(66_000, 9)
    hashes = [merkle.leaf_hash(x) for x in leaves]
    log_id = _log(engine)
    _append_in_chunks(engine, log_id, leaves, random.Random(4))
    with engine.connect() as conn:
        tiles_before = dict(conn.execute(select(ledger_tiles.c.key, ledger_tiles.c.hashes)).all())
    command.downgrade(_alembic_config(engine), "ledger_0002")
    # the previous layout: one row per complete perfect subtree, keyed (log << 54) | (level << 48) | index
    expected = {}
    tree = merkle.Frontier()
    for h in hashes:
        for level, index, digest in tree.append(h):
            expected[(log_id << 54) | (level << 48) | index] = digest
    with engine.connect() as conn:
        nodes = {k: bytes(h) for k, h in conn.execute(text("SELECT key, hash FROM ledger_nodes")).all()}
    assert nodes == expected
    command.upgrade(_alembic_config(engine), "heads")
    with engine.connect() as conn:
        tiles_after = dict(conn.execute(select(ledger_tiles.c.key, ledger_tiles.c.hashes)).all())
        assert {k: bytes(v) for k, v in tiles_after.items()} == {k: bytes(v) for k, v in tiles_before.items()}
        proof = logstore.inclusion_proof(conn, log_id, 65_999, 66_000)
        merkle.verify_inclusion(65_999, 66_000, hashes[65_999], proof, merkle.root_of(hashes))
