"""Inclusion proof time in a log of 10,000,000 entries (SQLite, node table written as appends write it).

The node table is built directly (leaf hashes of synthetic leaves, every complete perfect subtree) rather than
through 10 million signed appends; proofs are then served by the same code as the API (logstore.inclusion_proof)
and verified. Usage: python benchmarks/ledger_inclusion.py [ENTRIES]
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from opencustoms.ledger import logstore, merkle
from opencustoms.ledger.tables import ledger_logs, ledger_nodes
from opencustoms.store.database import init_database

RESULTS = Path(__file__).resolve().parent / "results"


def main(size: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = init_database(f"sqlite:///{tmp}/bench.db")
        import datetime as dt

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
        chunk = 200_000
        for start in range(0, size, chunk):
            rows = []
            for i in range(start, min(size, start + chunk)):
                for level, index, digest in tree.append(merkle.leaf_hash(i.to_bytes(8, "big"))):
                    rows.append({"key": logstore.node_key(1, level, index), "hash": digest})
            with engine.begin() as conn:
                conn.execute(insert(ledger_nodes), rows)
        build = time.perf_counter() - started
        root = tree.root()
        rng = random.Random(7)
        samples = 2000
        indexes = [rng.randrange(size) for _ in range(samples)]
        timings = []
        with engine.connect() as conn:
            for index in indexes[:50]:  # warm the page cache
                logstore.inclusion_proof(conn, 1, index, size)
            for index in indexes:
                t = time.perf_counter()
                proof = logstore.inclusion_proof(conn, 1, index, size)
                timings.append(time.perf_counter() - t)
                merkle.verify_inclusion(index, size, merkle.leaf_hash(index.to_bytes(8, "big")), proof, root)
        timings.sort()
        db_bytes = Path(f"{tmp}/bench.db").stat().st_size
    result = {
        "entries": size,
        "node_table_build_s": round(build, 1),
        "db_mb": round(db_bytes / 2**20),
        "proof_ms_median": round(timings[len(timings) // 2] * 1000, 3),
        "proof_ms_p99": round(timings[int(len(timings) * 0.99)] * 1000, 3),
        "samples": samples,
        "target_ms": 1.0,
    }
    print(f"{'entries':>12} {'build s':>8} {'db MB':>6} {'median ms':>10} {'p99 ms':>8}")
    print(
        f"{size:>12,} {result['node_table_build_s']:>8} {result['db_mb']:>6} {result['proof_ms_median']:>10} "
        f"{result['proof_ms_p99']:>8}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger_inclusion.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
