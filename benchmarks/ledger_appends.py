"""Durable appends with signature verification (SQLite, WAL, synchronous=FULL): batches and one at a time.

Entries are signed beforehand by a certified officer key (signing is the officer's side); the timed part is what
the node does: check each signature, key certificate, commitment, body and status rule, write entries, tree nodes
and certificate state, sign the new checkpoint, emit signals and audit, commit — and only then return.

Modes (every one acknowledges an entry only once it is committed):
  batches x1    one client posting batches of BATCH entries, one after the other
  batches x4    four clients posting batches at the same time
  single x1     one client appending one entry at a time (each waits for its commit: bounded by the disk flush)
  single xN     N clients appending one entry at a time each, concurrently (group commit shares the flushes)

Because the machine may be shared, the run also measures baselines in the same run and reports each rate as a
ratio to them: the raw Ed25519 verification rate of one core, and the raw rate of SQLite ``executemany`` of
entry-sized rows committed every BATCH rows, on the same disk, plus the time of one durable commit (fsync). The
verification rate is measured again just before and after each mode; the mode's ratio uses their mean.

``--compare-src DIR`` runs the same workload, in a subprocess, against another source tree (for example the
previous version: ``git archive <rev> src | tar -x -C /tmp/old``), so before and after are measured in one run.

Usage: python benchmarks/ledger_appends.py [--batched N] [--singles N] [--clients N] [--compare-src DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 2000


def signed(origin: str, key, kid: str, start: int, count: int) -> list:  # type: ignore[no-untyped-def]
    from opencustoms.ledger.entries import AEOCertificate, EntryBody, EntryKind, sign_entry

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
        body = EntryBody(
            origin=origin,
            kind=EntryKind.ISSUED,
            officer="officer1",
            recorded_at=now,
            effective_date=now.date(),
            certificate=cert,
        )
        out.append(sign_entry(body, key, kid))
    return out


def verify_rate(count: int = 3000) -> float:
    """Raw Ed25519 verifications per second on one core, now (the machine may be shared: measured per mode)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    messages = [os.urandom(60) for _ in range(count)]
    sigs = [key.sign(m) for m in messages]
    t = time.perf_counter()
    for s, m in zip(sigs, messages, strict=True):
        public.verify(s, m)
    return count / (time.perf_counter() - t)


def sodium_rate(count: int = 3000) -> float:
    """Raw Ed25519 verifications per second on one core with libsodium (PyNaCl), the verifier the node uses."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from nacl.bindings import crypto_sign_open

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    messages = [os.urandom(60) for _ in range(count)]
    signed = [key.sign(m) + m for m in messages]
    t = time.perf_counter()
    for s in signed:
        crypto_sign_open(s, public)
    return count / (time.perf_counter() - t)


def baselines(tmp: Path) -> dict[str, float | None]:
    """Raw Ed25519 verification on one core (OpenSSL and libsodium); raw SQLite executemany + commit; one durable
    commit."""
    verify = verify_rate()
    try:
        sodium: float | None = sodium_rate()
    except ImportError:  # the previous version, measured with --compare-src, may run without PyNaCl
        sodium = None

    db = sqlite3.connect(tmp / "baseline.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (log_id INTEGER, idx INTEGER, leaf BLOB, body TEXT, PRIMARY KEY (log_id, idx))")
    leaf, body = os.urandom(230), "x" * 490
    total = 20_000
    t = time.perf_counter()
    for start in range(0, total, BATCH):
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES (1, ?, ?, ?)", [(i, leaf, body) for i in range(start, start + BATCH)])
        db.execute("COMMIT")
    sqlite_rate = total / (time.perf_counter() - t)
    commits = 100
    t = time.perf_counter()
    for i in range(commits):
        db.execute("BEGIN")
        db.execute("INSERT INTO t VALUES (2, ?, ?, ?)", (i, leaf, body))
        db.execute("COMMIT")
    commit_ms = (time.perf_counter() - t) / commits * 1000
    db.close()
    return {
        "ed25519_verify_per_s_one_core": round(verify),
        "libsodium_verify_per_s_one_core": round(sodium) if sodium else None,
        "sqlite_executemany_per_s": round(sqlite_rate),
        "durable_commit_ms": round(commit_ms, 2),
    }


def timed_threads(target: Callable[[int], None], count: int) -> float:
    """Seconds for ``target(0)`` ... ``target(count - 1)`` to run, each on its own thread, all at once."""
    threads = [threading.Thread(target=target, args=(c,)) for c in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _run_clients(clients: int, work: list[list[Any]], append) -> tuple[float, int, list[str], float, float]:  # type: ignore[no-untyped-def]
    """Run ``append(batch)`` for every batch of every client's list, clients in parallel. Returns the seconds, the
    entries acknowledged, the errors (an append that fails is counted, not retried), the raw verification rate
    of one core measured just before and after (their mean) and the 1-minute load average at the end."""
    errors: list[str] = []
    done = [0] * clients
    before = verify_rate(1500)

    def client(c: int) -> None:
        for batch in work[c]:
            try:
                append(batch)
                done[c] += len(batch)
            except Exception as exc:  # noqa: BLE001 - reported with the figures
                errors.append(f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:120]}")

    elapsed = timed_threads(client, clients)
    return elapsed, sum(done), errors, (before + verify_rate(1500)) / 2, os.getloadavg()[0]


def workload(batched: int, singles: int, clients: int) -> dict[str, Any]:
    from opencustoms.ledger import checkpoint as notes
    from opencustoms.ledger import service
    from opencustoms.ledger.keys import KeyStore, key_id
    from opencustoms.security.roles import Role
    from opencustoms.security.service import Identity, ensure_administration, local_operator
    from opencustoms.store.database import init_database

    with tempfile.TemporaryDirectory() as tmp:
        base = baselines(Path(tmp))
        engine = init_database(f"sqlite:///{tmp}/bench.db")
        ensure_administration(engine, "NL", "bench", "NL")
        keys = KeyStore(Path(tmp) / "keys")
        operator = local_operator("NL")
        origin = service.init_log(engine, operator, keys, "NL")["origin"]
        service.certify_officer(engine, operator, keys, "officer1")
        officer = Identity.of("officer1", "NL", [Role.SUPERVISOR])
        key = keys.officer_key("officer1")
        kid = key_id(notes.public_bytes(key))
        n = 0

        def take(count: int) -> list[Any]:
            nonlocal n
            out = signed(origin, key, kid, n, count)
            n += count
            return out

        def append(batch: list[Any]) -> None:
            service.append_signed(engine, officer, keys, batch)

        # warm-up (pool start, caches): not timed
        append(take(BATCH))
        rows = []
        entries = take(batched)
        work = [[entries[i : i + BATCH] for i in range(0, batched, BATCH)]]
        rows.append(("batches x1", batched, *_run_clients(1, work, append)))
        entries = take(batched)
        chunks = [entries[i : i + BATCH] for i in range(0, batched, BATCH)]
        rows.append(("batches x4", batched, *_run_clients(4, [chunks[c::4] for c in range(4)], append)))
        few = max(50, singles // 10)
        entries = take(few)
        rows.append(("single x1", few, *_run_clients(1, [[[e] for e in entries]], append)))
        entries = take(singles)
        work = [[[e] for e in entries[c::clients]] for c in range(clients)]
        rows.append((f"single x{clients}", singles, *_run_clients(clients, work, append)))
        verified = service.verify_log(engine, operator)
        acknowledged = 1 + BATCH + sum(r[3] for r in rows)
        assert verified["size"] == acknowledged, verified  # every acknowledged entry is in the log, which verifies
    return {
        "baselines": base,
        "modes": [
            {
                "mode": mode,
                "entries": count,
                "acknowledged": ok,
                "failed_appends": len(errors),
                "first_error": errors[0] if errors else None,
                "seconds": round(seconds, 3),
                "per_s": round(ok / seconds),
                "raw_verify_per_s_around": round(raw),
                "ratio_to_raw_verify": round(ok / seconds / raw, 3),
                "ratio_to_raw_sqlite": round(ok / seconds / (base["sqlite_executemany_per_s"] or 1), 3),
                "ratio_to_raw_libsodium": (
                    round(ok / seconds / base["libsodium_verify_per_s_one_core"], 3)
                    if base["libsodium_verify_per_s_one_core"]
                    else None
                ),
                "load_average_1m": round(load, 2),
            }
            for mode, count, seconds, ok, errors, raw, load in rows
        ],
    }


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return {
        "cpus": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def table(title: str, result: dict[str, Any]) -> None:
    print(
        f"{title}  (baselines: verify {result['baselines']['ed25519_verify_per_s_one_core']}/s/core, libsodium "
        f"{result['baselines'].get('libsodium_verify_per_s_one_core')}/s/core, sqlite "
        f"executemany {result['baselines']['sqlite_executemany_per_s']}/s, commit "
        f"{result['baselines']['durable_commit_ms']} ms)"
    )
    print(
        f"{'mode':>12} {'entries':>8} {'failed':>7} {'entries/s':>10} {'raw vfy/s':>10} {'/verify':>8} {'/sqlite':>8}"
        f" {'/sodium':>8}"
    )
    for m in result["modes"]:
        print(
            f"{m['mode']:>12} {m['entries']:>8} {m['failed_appends']:>7} {m['per_s']:>10} "
            f"{m['raw_verify_per_s_around']:>10} {m['ratio_to_raw_verify']:>8} {m['ratio_to_raw_sqlite']:>8}"
            f" {m.get('ratio_to_raw_libsodium')!s:>8}" + (f"  ({m['first_error']})" if m["first_error"] else "")
        )


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batched", type=int, default=20_000)
    parser.add_argument("--singles", type=int, default=4_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--compare-src", type=Path, help="another source tree to measure in the same run")
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    result: dict[str, Any] = {"load_average_start": os.getloadavg(), "machine": machine()}
    if args.compare_src:
        env = {**os.environ, "PYTHONPATH": str(args.compare_src.resolve() / "src")}
        command = [sys.executable, __file__, "--json-only", "--batched", str(args.batched)]
        command += ["--singles", str(args.singles), "--clients", str(args.clients)]
        out = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
        if out.returncode != 0:
            raise SystemExit(f"the run against {args.compare_src} failed:\n{out.stderr[-3000:]}")
        result["before"] = json.loads(out.stdout.strip().splitlines()[-1])
    result["after"] = workload(args.batched, args.singles, args.clients)
    result["load_average_end"] = os.getloadavg()
    result["target_batched_per_s"], result["target_single_per_s"] = 20_000, 2_000
    result["database"] = "sqlite (WAL, synchronous=FULL)"
    result["command"] = "python benchmarks/ledger_appends.py " + " ".join(sys.argv[1:])
    if args.json_only:
        print(json.dumps(result["after"]))
        return result
    if "before" in result:
        table(f"before ({args.compare_src})", result["before"])
    table("after", result["after"])
    print(f"load average {result['load_average_start']} -> {result['load_average_end']}, {result['machine']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger_appends.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
