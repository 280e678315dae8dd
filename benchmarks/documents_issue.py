"""Benchmark: wrap and issue N certificates of origin under one Merkle root (target: 10,000 in <= 2 s).

Phases (timed separately, one run each after a warm-up of 200; wall and CPU seconds):
  baseline  keccak-256 of the batch's field texts alone (the floor of wrapping: one hash per field), measured in the
            same run so that figures from a loaded, shared machine can be read as ratios
  validate  pydantic validation of the template data and conversion to OpenAttestation data
  wrap      salting, per-field keccak-256, targetHash, Merkle tree and proofs (openattestation.wrap_documents)
  issue     the whole service.issue: validate + wrap + one transaction storing the root, the N documents and the
            audit entry in SQLite (WAL, synchronous=FULL)

Usage: python benchmarks/documents_issue.py [--documents N]   Results: benchmarks/results/documents_issue.json
"""

from __future__ import annotations

import argparse
import time

from _documents_common import coo, fresh_engine, settings, write


class Timer:
    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10_000)
    n = parser.parse_args().documents

    from opencustoms.documents import openattestation as oa
    from opencustoms.documents import service, templates
    from opencustoms.security.service import local_operator

    cfg = settings()
    engine = fresh_engine("documents_issue")
    operator = local_operator("NL")
    records = [coo(i) for i in range(n)]
    service.issue(engine, operator, "coo", [coo(-1 - i) for i in range(200)], cfg)  # warm-up

    template = templates.get_template("coo")
    issuer = service.issuer_identity(engine, cfg)
    with oa.gc_paused(), Timer() as validate:
        raws = [templates.to_openattestation(template, templates.validate(template, r), cfg, issuer) for r in records]
    with Timer() as wrap:
        wrapped = oa.wrap_documents(raws)
    texts: list[str] = []
    for document in wrapped:
        oa._leaf_texts(document["data"], "", texts)
    encoded = [t.encode() for t in texts]
    with Timer() as baseline:
        oa.keccak_hex_many(encoded)
    fields = len(texts) // n
    with Timer() as issue:
        result = service.issue(engine, operator, "coo", records, cfg)
    assert len({d["signature"]["merkleRoot"] for d in result.documents}) == 1

    rows = [
        (f"baseline: keccak-256 of {len(texts):,} field texts", baseline),
        ("validate + convert", validate),
        ("wrap (salt, hash, tree)", wrap),
        ("service.issue (all, incl. SQLite)", issue),
    ]
    print(f"{n:,} certificates of origin, {fields} fields each, one merkle root")
    print(f"{'phase':44} {'wall s':>7} {'cpu s':>7} {'docs/s':>9} {'x keccak':>9}")
    for name, t in rows:
        print(f"{name:44} {t.wall:7.2f} {t.cpu:7.2f} {n / t.wall:9,.0f} {t.wall / baseline.wall:9.1f}")
    print(f"target: wrap and issue 10,000 <= 2 s -> {issue.wall:.2f} s wall ({issue.cpu:.2f} s CPU)")
    write(
        "documents_issue",
        {
            "documents": n,
            "fields_per_document": fields,
            "baseline_keccak_s": round(baseline.wall, 3),
            "baseline_keccak_per_s": round(len(texts) / baseline.wall),
            "validate_s": round(validate.wall, 3),
            "wrap_s": round(wrap.wall, 3),
            "wrap_cpu_s": round(wrap.cpu, 3),
            "issue_total_s": round(issue.wall, 3),
            "issue_total_cpu_s": round(issue.cpu, 3),
            "issue_over_keccak_baseline": round(issue.wall / baseline.wall, 2),
            "database": "sqlite (WAL, synchronous=FULL)",
        },
    )


if __name__ == "__main__":
    main()
