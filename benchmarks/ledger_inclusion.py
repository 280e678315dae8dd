"""Inclusion proof time in a log of 10,000,000 entries (SQLite, the tree's tiles written by the append code).

The tree is built by ``logstore.append`` itself (the function every append and pull goes through), fed with
synthetic leaves in transactions of 200,000 rather than through 10 million signed appends; proofs are then served
by the same code as the API (``logstore.inclusion_proof``) and each one is verified against the root.

The built database is kept in ``var/bench/`` (outside git) and reused by the next run with the same size and tile
layout (``--rebuild`` forces a new build). Baseline measured in the same run: one primary-key read of one row of
the same table (the floor of any proof served from this database). Proof times are measured for 2,000 random
indexes after 50 warm-up proofs, each timed alone; the 1-minute load average is recorded with them.

Usage: python benchmarks/ledger_inclusion.py [ENTRIES] [--rebuild]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

from sqlalchemy import insert, select

from opencustoms.ledger import logstore, merkle
from opencustoms.ledger.tables import ledger_logs, ledger_tiles
from opencustoms.store.database import init_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "var" / "bench"
CHUNK = 200_000


def leaf(i: int) -> bytes:
    return i.to_bytes(8, "big")


def build(path: Path, size: int) -> float:
    """Write the tree of ``size`` synthetic leaves with logstore.append; return the seconds it took."""
    engine = init_database(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(
            insert(ledger_logs).values(
                id=1,
                origin="bench/log",
                administration_code="XX",
                role="own",
                public_key=bytes(32),
                size=0,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    started = time.perf_counter()
    tree = merkle.Frontier()
    for start in range(0, size, CHUNK):
        with engine.begin() as conn:
            logstore.append(conn, 1, tree, [leaf(i) for i in range(start, min(size, start + CHUNK))])
    engine.dispose()
    return time.perf_counter() - started


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("entries", nargs="?", type=int, default=10_000_000)
    parser.add_argument("--rebuild", action="store_true", help="build the tree again even if a cached one exists")
    args = parser.parse_args()
    size = args.entries
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ledger_inclusion_{size}_tiles{logstore.TILE_HEIGHT}.db"
    build_s = None
    if args.rebuild or not path.exists():
        for suffix in ("", "-wal", "-shm", ".partial"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        partial = Path(f"{path}.partial")
        build_s = build(partial, size)
        partial.rename(path)
    engine = init_database(f"sqlite:///{path}")
    load_start = os.getloadavg()[0]
    rng = random.Random(7)
    samples = 2000
    indexes = [rng.randrange(size) for _ in range(samples)]
    with engine.connect() as conn:
        root = logstore.root_at(conn, 1, size)
        keys = [k for k in conn.execute(select(ledger_tiles.c.key)).scalars()]
        probe = [rng.choice(keys) for _ in range(samples)]
        for index in indexes[:50]:  # warm-up: the connection, SQLite's cache of the upper tiles
            logstore.inclusion_proof(conn, 1, index, size)
        baseline = []
        for key in probe:
            t = time.perf_counter()
            conn.execute(select(ledger_tiles.c.hashes).where(ledger_tiles.c.key == key)).scalar_one()
            baseline.append(time.perf_counter() - t)
        timings = []
        for index in indexes:
            t = time.perf_counter()
            proof = logstore.inclusion_proof(conn, 1, index, size)
            timings.append(time.perf_counter() - t)
            merkle.verify_inclusion(index, size, merkle.leaf_hash(leaf(index)), proof, root)
    engine.dispose()
    timings.sort()
    baseline.sort()
    result = {
        "entries": size,
        "layout": f"tiles of {logstore.TILE_HEIGHT} levels (ledger_tiles)",
        "tree_build_s": round(build_s, 1) if build_s is not None else "cached",
        "db_mb": round(path.stat().st_size / 2**20),
        "tile_rows": len(keys),
        "proof_ms_median": round(percentile(timings, 0.5) * 1000, 3),
        "proof_ms_p99": round(percentile(timings, 0.99) * 1000, 3),
        "proof_ms_max": round(timings[-1] * 1000, 3),
        "one_row_read_ms_median": round(percentile(baseline, 0.5) * 1000, 3),
        "one_row_read_ms_p99": round(percentile(baseline, 0.99) * 1000, 3),
        "ratio_median_to_one_row_read": round(percentile(timings, 0.5) / percentile(baseline, 0.5), 2),
        "samples": samples,
        "target_ms": 1.0,
        "load_average_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "command": "python benchmarks/ledger_inclusion.py " + " ".join(sys.argv[1:]),
    }
    print(f"{'entries':>12} {'build s':>8} {'db MB':>6} {'median ms':>10} {'p99 ms':>8} {'max ms':>8} {'1-row ms':>9}")
    print(
        f"{size:>12,} {result['tree_build_s']:>8} {result['db_mb']:>6} {result['proof_ms_median']:>10} "
        f"{result['proof_ms_p99']:>8} {result['proof_ms_max']:>8} {result['one_row_read_ms_median']:>9}"
    )
    print(f"load average {result['load_average_1m']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger_inclusion.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
