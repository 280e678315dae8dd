"""Benchmark: verify documents (integrity + status against the local registry + identity) (target >= 5,000/s).

N certificates of origin are issued under one root (so each proof has ~log2(N) steps whose nodes are all checked
for revocation), 1% of them are then revoked, and the whole set is verified with Verifier.verify_many in batches
of --batch documents (fields hashed in one pass per batch, one registry query per batch). A single-document loop
(Verifier.verify: one query per document, with the readable data) is measured on the first 1,000 for comparison.

Baseline, in the same run: keccak-256 of the same documents' field texts alone (the floor: one hash per field),
so that figures from a loaded, shared machine can be compared as ratios. Wall and CPU seconds are both reported.

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

    from opencustoms.documents import openattestation as oa
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

    texts: list[str] = []
    for document in documents:
        oa._leaf_texts(document["data"], "", texts)
    encoded = [t.encode() for t in texts]
    started, cpu = time.perf_counter(), time.process_time()
    oa.keccak_hex_many(encoded)
    baseline_s, baseline_cpu = time.perf_counter() - started, time.process_time() - cpu

    started, cpu = time.perf_counter(), time.process_time()
    valid = 0
    for i in range(0, len(documents), args.batch):
        valid += sum(r.valid for r in verifier.verify_many(documents[i : i + args.batch]))
    batch_s, batch_cpu = time.perf_counter() - started, time.process_time() - cpu
    expected = len(documents) - len(documents[::100])
    assert valid == expected, (valid, expected)

    single = documents[:1000]
    started, cpu = time.perf_counter(), time.process_time()
    for document in single:
        verifier.verify(document)
    single_s, single_cpu = time.perf_counter() - started, time.process_time() - cpu

    n = len(documents)
    print(
        f"{n:,} certificates of origin under one root, {len(documents[::100])} revoked, {len(texts) // n} fields each"
    )
    print(f"{'mode':44} {'docs':>7} {'wall s':>7} {'cpu s':>7} {'docs/s':>9} {'x keccak':>9}")
    rows = [
        (f"baseline: keccak-256 of {len(texts):,} field texts", n, baseline_s, baseline_cpu),
        (f"verify_many, batches of {args.batch}", n, batch_s, batch_cpu),
        ("verify, one at a time (with data)", len(single), single_s, single_cpu),
    ]
    for name, docs, wall, cpu_s in rows:
        per_doc_baseline = baseline_s / n
        print(f"{name:44} {docs:7,} {wall:7.2f} {cpu_s:7.2f} {docs / wall:9,.0f} {wall / docs / per_doc_baseline:9.1f}")
    print("target: >= 5,000 documents/s (integrity + status)")
    write(
        "documents_verify",
        {
            "documents": n,
            "batch": args.batch,
            "revoked": len(documents[::100]),
            "fields_per_document": len(texts) // n,
            "baseline_keccak_fields_per_s": round(len(texts) / baseline_s),
            "baseline_keccak_docs_per_s": round(n / baseline_s),
            "batch_docs_per_s": round(n / batch_s),
            "batch_docs_per_cpu_s": round(n / batch_cpu),
            "batch_over_keccak_baseline": round(batch_s / baseline_s, 2),
            "single_docs_per_s": round(len(single) / single_s),
            "single_docs_per_cpu_s": round(len(single) / single_cpu),
            "database": "sqlite (WAL)",
        },
    )


if __name__ == "__main__":
    main()
