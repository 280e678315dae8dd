"""Benchmark: verify documents (integrity + status against the local registry + identity) (target >= 5,000/s).

N certificates of origin are issued under one root (so each proof has ~log2(N) steps whose nodes are all checked
for revocation), 1% of them are then revoked, and the whole set is verified with Verifier.verify_many in batches
of --batch documents (one registry query per batch). A single-document loop (Verifier.verify, two queries per
document) is measured on the first 1,000 for comparison.

Usage: python benchmarks/documents_verify.py [--documents N] [--batch B]
Results: benchmarks/results/documents_verify.json
"""

from __future__ import annotations

import argparse
import time

from _documents_common import coo, fresh_engine, settings, write


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()

    from opencustoms.documents import service
    from opencustoms.security.service import local_operator

    cfg = settings()
    engine = fresh_engine("documents_verify")
    operator = local_operator("NL")
    documents = service.issue(engine, operator, "coo", [coo(i) for i in range(args.documents)], cfg).documents
    for document in documents[::100]:
        service.revoke(engine, operator, document["signature"]["targetHash"], "benchmark")
    verifier = service.verifier(engine, cfg)
    verifier.verify_many(documents[:200])  # warm-up

    started = time.perf_counter()
    valid = 0
    for i in range(0, len(documents), args.batch):
        valid += sum(r.valid for r in verifier.verify_many(documents[i : i + args.batch]))
    batch_s = time.perf_counter() - started
    expected = len(documents) - len(documents[::100])
    assert valid == expected, (valid, expected)

    single = documents[:1000]
    started = time.perf_counter()
    for document in single:
        verifier.verify(document)
    single_s = time.perf_counter() - started

    print(f"{len(documents):,} certificates of origin under one root, {len(documents[::100])} revoked")
    print(f"{'mode':40} {'docs':>7} {'seconds':>8} {'docs/s':>9}")
    print(
        f"{'verify_many, batches of ' + str(args.batch):40} {len(documents):7,} {batch_s:8.2f} "
        f"{len(documents) / batch_s:9,.0f}"
    )
    print(f"{'verify, one at a time (with data)':40} {len(single):7,} {single_s:8.2f} {len(single) / single_s:9,.0f}")
    print("target: >= 5,000 documents/s (integrity + status)")
    write(
        "documents_verify",
        {
            "documents": len(documents),
            "batch": args.batch,
            "revoked": len(documents[::100]),
            "batch_docs_per_s": round(len(documents) / batch_s),
            "single_docs_per_s": round(len(single) / single_s),
            "database": "sqlite (WAL)",
        },
    )


if __name__ == "__main__":
    main()
