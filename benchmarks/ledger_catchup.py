"""A partner catching up on a log: node B pulls N entries of node A over HTTP on loopback and verifies them all.

Node A is a real `opencustoms ledger serve` process (SQLite, WAL, synchronous=FULL) holding N signed entries.
The timed part is B's `ledger pull`: the signed checkpoint, the consistency proof, every page of entries over
HTTP, every officer signature (libsodium, on the verification threads), commitment, body and status rule, the
entries rebuilding the checkpoint's root, and one durable transaction storing entries, tree, certificates, signals
and the cosigned checkpoint. The pull is a pipeline: page n+2 is fetched and page n+1 checked while page n is
written. A fetch-only pass (HTTP + parsing, nothing checked or stored) is timed first, to show its share.

Usage: python benchmarks/ledger_catchup.py [ENTRIES]   (default 100,000; target: <= 10 s)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # processes.py

from ledger_appends import baselines, machine, signed  # noqa: E402
from processes import stop, wait_for  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pull_workers(verify: Any) -> int:
    """Worker processes a pull uses (``verify.workers(pull=True)``; the previous version had no such argument)."""
    try:
        return int(verify.workers(pull=True))
    except TypeError:
        return int(verify.workers())


def main(entries: int) -> dict[str, Any]:
    from opencustoms.ledger import checkpoint as notes
    from opencustoms.ledger import partners, service, verify
    from opencustoms.ledger.keys import KeyStore, key_id
    from opencustoms.security.roles import Role
    from opencustoms.security.service import create_user, ensure_administration, issue_token, local_operator
    from opencustoms.store.database import init_database

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = baselines(root)
        nodes = {}
        for code in ("AR", "BR"):
            url = f"sqlite:///{root / code / 'node.db'}"
            engine = init_database(url)
            for other in ("AR", "BR"):
                ensure_administration(engine, other, f"Customs {other}", other)
            keys = KeyStore.for_data_dir(root / code)
            service.init_log(engine, local_operator(code), keys, code)
            nodes[code] = (url, engine, keys)
        url_a, engine_a, keys_a = nodes["AR"]
        _, engine_b, keys_b = nodes["BR"]
        operator_a, operator_b = local_operator("AR"), local_operator("BR")
        service.certify_officer(engine_a, operator_a, keys_a, "officer1")
        create_user(engine_a, operator_a, "partner-br", "BR", [Role.PARTNER.value])
        token = issue_token(engine_a, operator_a, "partner-br")
        port = free_port()
        service.add_partner(
            engine_b,
            operator_b,
            keys_b,
            service.own_log(engine_a).verifier_key,
            f"http://127.0.0.1:{port}",
            "AR",
            token,
        )
        key = keys_a.officer_key("officer1")
        kid = key_id(notes.public_bytes(key))
        origin = service.own_log(engine_a).origin
        officer = service.local_officer("AR", "officer1")
        t = time.perf_counter()
        for start in range(0, entries, 5000):
            service.append_signed(
                engine_a, officer, keys_a, signed(origin, key, kid, start, min(5000, entries - start))
            )
        fill_seconds = time.perf_counter() - t
        env = {
            **os.environ,
            "OPENCUSTOMS_DATABASE_URL": url_a,
            "OPENCUSTOMS_DATA_DIR": str(root / "AR"),
            "OPENCUSTOMS_ADMINISTRATION": "AR",
        }
        server = subprocess.Popen(
            [sys.executable, "-c", "from opencustoms.cli import app; app()", "ledger", "serve"]
            + ["--host", "127.0.0.1", "--port", str(port), "--poll", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200,
                "node A to start",
                watch=[server],
            )
            size = entries + 1
            client = httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=120
            )
            t = time.perf_counter()
            fetched = partners._fetch(client, origin, 0, size)
            fetch_seconds = time.perf_counter() - t
            assert len(fetched) == size
            del fetched
            t = time.perf_counter()
            report = service.pull(engine_b, operator_b, keys_b, origin, witness=False)
            pull_seconds = time.perf_counter() - t
        finally:
            stop(server)
        assert report["new_entries"] == size, report
        assert service.verify_log(engine_b, operator_b, origin)["size"] == size
    result = {
        "entries": size,
        "pull_seconds": round(pull_seconds, 2),
        "entries_per_s": round(size / pull_seconds),
        "fetch_only_seconds": round(fetch_seconds, 2),
        "fill_seconds": round(fill_seconds, 1),
        "target_seconds": 10,
        "ratio_to_raw_verify": round(size / pull_seconds / (base["ed25519_verify_per_s_one_core"] or 1), 3),
        "ratio_to_raw_libsodium": round(size / pull_seconds / (base["libsodium_verify_per_s_one_core"] or 1), 3),
        "baselines": base,
        "verify_workers": _pull_workers(verify),
        "machine": machine(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "database": "sqlite (WAL, synchronous=FULL), both nodes",
        "command": "python benchmarks/ledger_catchup.py " + " ".join(sys.argv[1:]),
        "date": dt.date.today().isoformat(),
    }
    print(
        f"{'entries':>8} {'pull s':>7} {'entries/s':>10} {'fetch s':>8} {'target s':>9} {'/verify':>8} {'/sodium':>8}"
    )
    print(
        f"{size:>8} {result['pull_seconds']:>7} {result['entries_per_s']:>10} {result['fetch_only_seconds']:>8} "
        f"{10:>9} {result['ratio_to_raw_verify']:>8} {result['ratio_to_raw_libsodium']:>8}"
    )
    print(f"load average {load_start} -> {result['load_average_end']}; baselines {base}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger_catchup.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
