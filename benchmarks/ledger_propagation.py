"""How fast a status change at one administration is seen at its partners: three `opencustoms ledger serve`
processes on loopback ports (AR, BR, UY), each following the others' logs (long poll, the default) or only
pulling them every --poll seconds (`--no-follow`, the previous behaviour), both measured in the same run. An
officer issues, suspends or revokes a certificate through AR's API; the time counted runs from AR's acknowledgement
until BR's and UY's APIs both answer the new status (asked every 10 ms). The issue's target: within a second.

Usage: python benchmarks/ledger_propagation.py [--rounds 30] [--poll 0.5 --poll 1.0]
(each poll interval is measured with and without following)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write  # noqa: E402
from processes import Processes, running, wait_for  # noqa: E402

CODES = ("AR", "BR", "UY")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def certificate(number: str) -> dict[str, Any]:
    return {
        "certificate_number": number,
        "holder": {
            "name": f"Holder of {number}",
            "id": "AR30712345678",
            "address": {"line": "Av. Siempre Viva 742", "city_name": "Buenos Aires", "country_code": "AR"},
            "country_code": "AR",
        },
        "type": "security",
        "issue_date": "2024-05-02",
    }


Cluster = tuple[dict[str, int], dict[str, str]]


def cluster(root: Path, poll: float, follow: bool, processes: Processes) -> Cluster:
    """Three nodes, each a partner of the two others, started in ``processes``; returns ports and reader tokens."""
    from opencustoms.ledger import service
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.security.roles import Role
    from opencustoms.security.service import create_user, ensure_administration, issue_token, local_operator
    from opencustoms.store.database import init_database

    ports = {code: free_port() for code in CODES}
    nodes = {}
    for code in CODES:
        engine = init_database(f"sqlite:///{root / code / 'node.db'}")
        for other in CODES:
            ensure_administration(engine, other, f"Customs {other}", other)
        keys = KeyStore.for_data_dir(root / code)
        service.init_log(engine, local_operator(code), keys, code)
        nodes[code] = (engine, keys)
    tokens = {}
    for server in CODES:
        engine, keys = nodes[server]
        operator = local_operator(server)
        create_user(engine, operator, "officer1", server, [Role.SUPERVISOR.value])
        service.certify_officer(engine, operator, keys, "officer1")
        tokens[server] = issue_token(engine, operator, "officer1")
        for client in CODES:
            if client == server:
                continue
            create_user(engine, operator, f"partner-{client.lower()}", client, [Role.PARTNER.value])
            token = issue_token(engine, operator, f"partner-{client.lower()}")
            c_engine, c_keys = nodes[client]
            service.add_partner(
                c_engine,
                local_operator(client),
                c_keys,
                service.own_log(engine).verifier_key,
                f"http://127.0.0.1:{ports[server]}",
                server,
                token,
            )
    for code in CODES:
        env = {
            **os.environ,
            "OPENCUSTOMS_DATABASE_URL": f"sqlite:///{root / code / 'node.db'}",
            "OPENCUSTOMS_DATA_DIR": str(root / code),
            "OPENCUSTOMS_ADMINISTRATION": code,
        }
        processes.start(
            [sys.executable, "-c", "from opencustoms.cli import app; app()", "ledger", "serve"]
            + ["--host", "127.0.0.1", "--port", str(ports[code]), "--poll", str(poll)]
            + ([] if follow else ["--no-follow"]),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    for code, process in zip(CODES, processes.started, strict=True):
        wait_for(
            lambda c=code: httpx.get(f"http://127.0.0.1:{ports[c]}/health").status_code == 200,  # type: ignore[misc]
            f"node {code} to start",
            watch=[process],
        )
    return ports, tokens


def run(poll: float, follow: bool, rounds: int) -> dict[str, Any]:
    # the nodes are stopped however this ends, a failed start-up included (then the folder is removed)
    with tempfile.TemporaryDirectory() as tmp, running() as processes:
        ports, tokens = cluster(Path(tmp), poll, follow, processes)
        officer = httpx.Client(
            base_url=f"http://127.0.0.1:{ports['AR']}", headers={"Authorization": f"Bearer {tokens['AR']}"}
        )
        readers = [
            httpx.Client(base_url=f"http://127.0.0.1:{ports[c]}", headers={"Authorization": f"Bearer {tokens[c]}"})
            for c in ("BR", "UY")
        ]
        latencies = []
        for i in range(rounds):
            number = f"ARAEO{i:05d}"
            steps = [
                ("certified", lambda n=number: officer.post("/ledger/certificates", json=certificate(n))),
                (
                    "suspended",
                    lambda n=number: officer.post(
                        f"/ledger/certificates/{n}/status", json={"action": "suspend", "reason": "audit"}
                    ),
                ),
                (
                    "revoked",
                    lambda n=number: officer.post(
                        f"/ledger/certificates/{n}/status", json={"action": "revoke", "reason": "fraud"}
                    ),
                ),
            ]
            for status, act in steps:
                response = act()
                assert response.status_code in (200, 201), response.text
                acknowledged = time.perf_counter()
                pending = set(range(len(readers)))
                while pending:
                    for r in list(pending):
                        reply = readers[r].get(f"/ledger/certificates/{number}")
                        if reply.status_code == 200 and reply.json()["status"] == status:
                            pending.discard(r)
                    if pending:
                        time.sleep(0.01)
                    if time.perf_counter() - acknowledged > 30:
                        raise SystemExit(f"{status} of {number} not seen at both partners in 30 s")
                latencies.append(time.perf_counter() - acknowledged)
    ordered = sorted(latencies)
    return {
        "poll_s": poll,
        "follow": follow,
        "changes": len(latencies),
        "median_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "max_s": round(ordered[-1], 3),
        "within_1s": sum(1 for x in ordered if x <= 1.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10, help="certificates (3 status changes each)")
    parser.add_argument("--poll", type=float, action="append", help="seconds between pulls (repeatable)")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    results = [run(poll, follow, args.rounds) for poll in (args.poll or [1.0]) for follow in (True, False)]
    print(f"{'poll s':>7} {'follow':>7} {'changes':>8} {'median s':>9} {'p95 s':>7} {'max s':>7} {'<= 1 s':>7}")
    for r in results:
        print(
            f"{r['poll_s']:>7} {'yes' if r['follow'] else 'no':>7} "
            f"{r['changes']:>8} {r['median_s']:>9} {r['p95_s']:>7} {r['max_s']:>7} "
            f"{r['within_1s']:>4}/{r['changes']}"
        )
    print(f"load average {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    write(
        "ledger_propagation",
        {"results": results, "load_average_start": load_start, "load_average_end": os.getloadavg()[0]},
    )


if __name__ == "__main__":
    main()
