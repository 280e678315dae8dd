"""One-at-a-time appends through the API: N concurrent clients each POST one signed entry at a time to
`/ledger/entries` of a `opencustoms ledger serve` process (SQLite, WAL, synchronous=FULL), and wait for its 201.

`ledger_appends.py` measures the node itself (its service called by N threads in one process: what the issue's
"2,000/s one at a time" target is measured on). This script adds what a real client pays on top: HTTP, the API's
authentication and validation, uvicorn; and, in the same run, the same clients calling `GET /health` (one database
read, a tiny answer) as the baseline of what the HTTP stack alone allows on this machine. The clients are Python
threads (httpx) on the same cores as the server, so both rates include the clients' CPU: read them as a ratio.

Usage: python benchmarks/ledger_appends_http.py [--entries 4000] [--clients 64]
Results: benchmarks/results/ledger_appends_http.json
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write  # noqa: E402
from ledger_appends import signed, timed_threads  # noqa: E402
from processes import stop, wait_for  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hammer(
    base: str, auth: dict[str, str], clients: int, requests: list[tuple[str, dict[str, Any] | None]]
) -> tuple[float, list[str]]:
    """Every request, spread over ``clients`` threads (one connection and one request at a time each); seconds and
    failures. Threads with one synchronous httpx client each: in a quick comparison one asyncio httpx client with as
    many concurrent tasks was 3.5 times slower on this machine."""
    failures: list[str] = []
    pool = [httpx.Client(base_url=base, headers=auth, timeout=60) for _ in range(clients)]

    def run(c: int) -> None:
        for path, body in requests[c::clients]:
            r = pool[c].post(path, json=body) if body is not None else pool[c].get(path)
            if r.status_code not in (200, 201):
                failures.append(f"{path}: {r.status_code} {r.text[:200]}")

    elapsed = timed_threads(run, clients)
    for client in pool:
        client.close()
    return elapsed, failures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()

    from opencustoms.ledger import checkpoint as notes
    from opencustoms.ledger import service
    from opencustoms.ledger.keys import KeyStore, key_id
    from opencustoms.security.roles import Role
    from opencustoms.security.service import create_user, ensure_administration, issue_token, local_operator
    from opencustoms.store.database import init_database

    warm = 200
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'node.db'}"
        engine = init_database(url)
        ensure_administration(engine, "NL", "Benchmark customs", "NL")
        keys = KeyStore.for_data_dir(root)
        operator = local_operator("NL")
        origin = service.init_log(engine, operator, keys, "NL")["origin"]
        service.certify_officer(engine, operator, keys, "officer1")
        create_user(engine, operator, "officer1", "NL", [Role.SUPERVISOR.value])
        token = issue_token(engine, operator, "officer1")
        key = keys.officer_key("officer1")
        entries = signed(origin, key, key_id(notes.public_bytes(key)), 0, args.entries + warm)
        bodies = [{"entries": [e.model_dump()]} for e in entries]
        engine.dispose()

        port = free_port()
        env = {
            **os.environ,
            "OPENCUSTOMS_DATABASE_URL": url,
            "OPENCUSTOMS_DATA_DIR": str(root),
            "OPENCUSTOMS_ADMINISTRATION": "NL",
        }
        command = [sys.executable, "-c", "from opencustoms.cli import app; app()", "ledger", "serve"]
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--poll", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            try:  # 30 s on an idle machine, more under load
                wait_for(
                    lambda: httpx.get(f"{base}/health", timeout=1.0).status_code == 200, "/health", 30, watch=[server]
                )
            except AssertionError as exc:
                raise SystemExit(f"the ledger server did not start: {exc}") from None
            auth = {"Authorization": f"Bearer {token}"}
            load_before = os.getloadavg()[0]
            _, failures = hammer(base, auth, 1, [("/ledger/entries", b) for b in bodies[:warm]])  # warm-up
            appends_s, more = hammer(base, auth, args.clients, [("/ledger/entries", b) for b in bodies[warm:]])
            health_s, most = hammer(base, auth, args.clients, [("/health", None)] * args.entries)
            load_after = os.getloadavg()[0]
            size = httpx.get(f"{base}/ledger/checkpoint", headers=auth).json()
        finally:
            stop(server)
    failures += more + most
    if failures:
        raise SystemExit(f"{len(failures)} failed requests, e.g. {failures[:2]}")
    appends, health = args.entries / appends_s, args.entries / health_s
    print(
        f"{args.clients} clients, one request at a time each, `ledger serve` on 127.0.0.1 (SQLite): "
        f"POST /ledger/entries {appends:,.0f}/s, GET /health {health:,.0f}/s in the same run "
        f"(appends / health {appends / health:.2f}); load {load_before:.2f} -> {load_after:.2f}; log {size}"
    )
    write(
        "ledger_appends_http",
        {
            "command": f"python benchmarks/ledger_appends_http.py --entries {args.entries} --clients {args.clients}",
            "clients": args.clients,
            "entries": args.entries,
            "appends_per_s": round(appends),
            "health_per_s": round(health),
            "appends_over_health": round(appends / health, 3),
            "load_average_1m": [round(load_before, 2), round(load_after, 2)],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
