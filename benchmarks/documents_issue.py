"""Benchmark: wrap and issue N certificates of origin under one Merkle root (target: 10,000 in <= 2 s).

Phases (timed separately, one run each after a warm-up of 200):
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
    started = time.perf_counter()
    raws = [templates.to_openattestation(template, templates.validate(template, r), cfg) for r in records]
    validate_s = time.perf_counter() - started
    started = time.perf_counter()
    wrapped = oa.wrap_documents(raws)
    wrap_s = time.perf_counter() - started
    fields = sum(1 for _ in oa.flatten(wrapped[0]["data"]))
    started = time.perf_counter()
    result = service.issue(engine, operator, "coo", records, cfg)
    issue_s = time.perf_counter() - started
    assert len({d["signature"]["merkleRoot"] for d in result.documents}) == 1

    rows = [
        ("validate + convert", validate_s),
        ("wrap (salt, hash, tree)", wrap_s),
        ("service.issue (all, incl. SQLite)", issue_s),
    ]
    print(f"{n:,} certificates of origin, {fields} fields each, one merkle root")
    print(f"{'phase':36} {'seconds':>8} {'docs/s':>10}")
    for name, seconds in rows:
        print(f"{name:36} {seconds:8.2f} {n / seconds:10,.0f}")
    print(
        f"target: wrap and issue 10,000 <= 2 s -> wrap + storing {issue_s - validate_s:.2f} s, "
        f"with template validation {issue_s:.2f} s"
    )
    write(
        "documents_issue",
        {
            "documents": n,
            "fields_per_document": fields,
            "validate_s": round(validate_s, 3),
            "wrap_s": round(wrap_s, 3),
            "issue_total_s": round(issue_s, 3),
            "issue_without_validation_s": round(issue_s - validate_s, 3),
            "database": "sqlite (WAL, synchronous=FULL)",
        },
    )


if __name__ == "__main__":
    main()
