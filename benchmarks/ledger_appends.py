"""Durable appends with signature verification (SQLite, WAL, synchronous=FULL): batches and one at a time.

Entries are signed beforehand by a certified officer key (signing is the officer's side); the timed part is what
the node does: check each signature, key certificate, commitment, body and status rule, write entries, tree nodes
and certificate state, sign the new checkpoint, emit signals and audit, commit.
Usage: python benchmarks/ledger_appends.py [BATCH_ENTRIES] [SINGLE_ENTRIES]
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import service
from opencustoms.ledger.entries import AEOCertificate, EntryBody, EntryKind, sign_entry
from opencustoms.ledger.keys import KeyStore, key_id
from opencustoms.security.roles import Role
from opencustoms.security.service import Identity, ensure_administration, local_operator
from opencustoms.store.database import init_database

RESULTS = Path(__file__).resolve().parent / "results"


def signed(origin: str, key, kid: str, start: int, count: int) -> list:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    out = []
    for n in range(start, start + count):
        cert = AEOCertificate.model_validate(
            {
                "certificate_number": f"NLAEO{n:08d}",
                "type": "both",
                "issue_date": "2024-01-10",
                "holder": {
                    "name": f"Trader {n}",
                    "id": f"NL{n:09d}",
                    "address": {"line": "Kade 1", "city_name": "Rotterdam", "country_code": "NL"},
                    "country_code": "NL",
                },
            }
        )
        out.append(
            sign_entry(
                EntryBody(
                    origin=origin,
                    kind=EntryKind.ISSUED,
                    officer="officer1",
                    recorded_at=now,
                    effective_date=now.date(),
                    certificate=cert,
                ),
                key,
                kid,
            )
        )
    return out


def main(batch_total: int, singles: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = init_database(f"sqlite:///{tmp}/bench.db")
        ensure_administration(engine, "NL", "bench", "NL")
        keys = KeyStore(Path(tmp) / "keys")
        operator = local_operator("NL")
        origin = service.init_log(engine, operator, keys, "NL")["origin"]
        service.certify_officer(engine, operator, keys, "officer1")
        officer = Identity.of("officer1", "NL", [Role.SUPERVISOR])
        key = keys.officer_key("officer1")
        kid = key_id(notes.public_bytes(key))
        batch_size = 2000
        entries = signed(origin, key, kid, 0, batch_total)
        t = time.perf_counter()
        for i in range(0, batch_total, batch_size):
            service.append_signed(engine, officer, keys, entries[i : i + batch_size])
        batch_rate = batch_total / (time.perf_counter() - t)
        entries = signed(origin, key, kid, batch_total, singles)
        t = time.perf_counter()
        for entry in entries:
            service.append_signed(engine, officer, keys, [entry])
        single_rate = singles / (time.perf_counter() - t)
    result = {
        "batched_entries": batch_total,
        "batch_size": batch_size,
        "batched_per_s": round(batch_rate),
        "single_entries": singles,
        "single_per_s": round(single_rate),
        "target_batched_per_s": 20_000,
        "target_single_per_s": 2_000,
        "database": "sqlite (WAL, synchronous=FULL)",
    }
    print(f"{'mode':>10} {'entries':>8} {'entries/s':>10} {'target':>8}")
    print(f"{'batches':>10} {batch_total:>8} {result['batched_per_s']:>10} {20000:>8}")
    print(f"{'single':>10} {singles:>8} {result['single_per_s']:>10} {2000:>8}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger_appends.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000, int(sys.argv[2]) if len(sys.argv) > 2 else 1_000)
