"""Three administrations as three `opencustoms ledger serve` processes on loopback ports (needs nothing but
loopback): issue, suspend and revoke at one, seen at the others; a node killed mid-append loses no acknowledged
entry and its partners follow it after the restart; a rewritten history caught by both partners."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest
from ledger_testnodes import certificate, connect, make_node, rewrite_history

import processes
from opencustoms.ledger import service
from opencustoms.store.database import open_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """:func:`processes.wait_for`, not-yet-answering nodes counting as "not yet"; the budget scales with the load."""
    processes.wait_for(check, what, timeout, ignore=(httpx.HTTPError, KeyError))


@pytest.fixture
def cluster(tmp_path) -> Iterator[dict]:  # type: ignore[type-arg]
    codes = ("AR", "BR", "UY")
    ports = {code: free_port() for code in codes}
    nodes = {code: make_node(tmp_path, code) for code in codes}
    for server in nodes.values():
        for client in nodes.values():
            if client is not server:
                connect(server, client, f"http://127.0.0.1:{ports[server.code]}")
    started: dict[str, subprocess.Popen[bytes]] = {}
    # every node started is stopped, even when a start-up wait fails
    with contextlib.ExitStack() as logs, processes.running() as running:

        def start(code: str) -> None:
            env = {**os.environ, **nodes[code].env()}
            started[code] = running.start(
                [
                    sys.executable,
                    "-c",
                    "from opencustoms.cli import app; app()",
                    "ledger",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports[code]),
                    "--poll",
                    "0.3",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=logs.enter_context((tmp_path / f"{code}.log").open("ab")),  # a file: a full pipe would block
            )

        def stop(code: str) -> None:
            processes.stop(started[code])

        for code in codes:
            start(code)
        for code in codes:
            processes.wait_for(
                lambda c=code: httpx.get(f"http://127.0.0.1:{ports[c]}/health").status_code == 200,
                f"node {code} to start",
                watch=[started[code]],
            )

        def kill(code: str) -> None:  # SIGKILL: no shutdown, whatever was in flight
            processes.kill(started[code])

        try:
            yield {"nodes": nodes, "ports": ports, "start": start, "stop": stop, "kill": kill}
        finally:
            open_database.cache_clear()


def api(port: int, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})


def test_three_nodes_replicate_and_catch_a_rewritten_history(cluster) -> None:  # type: ignore[no-untyped-def]
    nodes, ports = cluster["nodes"], cluster["ports"]
    ar, br, uy = nodes["AR"], nodes["BR"], nodes["UY"]
    # Argentina's officer works through Argentina's API
    from opencustoms.security.service import create_user, issue_token

    create_user(ar.engine, ar.operator, "officer1", "AR", ["supervisor"])
    officer = api(ports["AR"], issue_token(ar.engine, ar.operator, "officer1"))
    response = officer.post("/ledger/certificates", json=certificate("ARAEO00001").model_dump(mode="json"))
    assert response.status_code == 201, response.text
    readers = {code: api(ports[code], nodes[code].tokens["AR"] and _reader(nodes[code])) for code in ("BR", "UY")}

    def seen(status: str) -> Callable[[], bool]:
        return lambda: all(
            c.get("/ledger/certificates/ARAEO00001").json().get("status") == status for c in readers.values()
        )

    wait_for(seen("certified"), "the certificate at both partners")
    assert (
        officer.post(
            "/ledger/certificates/ARAEO00001/status", json={"action": "suspend", "reason": "audit"}
        ).status_code
        == 200
    )
    wait_for(seen("suspended"), "the suspension at both partners")
    assert (
        officer.post("/ledger/certificates/ARAEO00001/status", json={"action": "revoke", "reason": "fraud"}).status_code
        == 200
    )
    wait_for(seen("revoked"), "the revocation at both partners")
    bad = officer.post("/ledger/certificates/ARAEO00001/status", json={"action": "suspend", "reason": "x"})
    assert bad.status_code == 422 and "final" in bad.json()["detail"]

    # Argentina stops, rewrites its history, restarts and appends: both partners refuse and raise an alarm.
    cluster["stop"]("AR")
    rewrite_history(ar, 1)
    cluster["start"]("AR")
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{ports['AR']}/health").status_code == 200, "AR to restart")
    assert (
        officer.post("/ledger/certificates", json=certificate("ARAEO00009").model_dump(mode="json")).status_code == 201
    )
    for code, client in readers.items():
        wait_for(
            lambda c=client: any(a["kind"] == "fork" for a in c.get("/ledger/alarms").json()),
            f"the fork alarm at {code}",
        )
        assert client.get("/ledger/certificates/ARAEO00009").status_code == 404
        assert client.get("/ledger/certificates/ARAEO00001").json()["status"] == "revoked"
    assert service.alarms(br.engine, br.operator, ar.origin)[0]["kind"] == "fork"
    assert service.alarms(uy.engine, uy.operator, ar.origin)[0]["kind"] == "fork"


def _reader(node) -> str:  # type: ignore[no-untyped-def]
    from opencustoms.security.service import create_user, issue_token

    create_user(node.engine, node.operator, "reader", node.code, ["supervisor"])
    return issue_token(node.engine, node.operator, "reader")


def test_a_node_killed_mid_append_loses_nothing_acknowledged_and_partners_follow(cluster) -> None:  # type: ignore[no-untyped-def]
    import threading

    from opencustoms.security.service import create_user, issue_token

    nodes, ports = cluster["nodes"], cluster["ports"]
    ar = nodes["AR"]
    create_user(ar.engine, ar.operator, "officer1", "AR", ["supervisor"])
    token = issue_token(ar.engine, ar.operator, "officer1")
    acknowledged: list[tuple[str, int]] = []

    def appender(worker: int) -> None:  # one certificate at a time, until the node dies under it
        with api(ports["AR"], token) as client:
            for i in range(100_000):
                number = f"ARAEOK{worker}{i:05d}"
                try:
                    response = client.post("/ledger/certificates", json=certificate(number).model_dump(mode="json"))
                except httpx.HTTPError:
                    return
                if response.status_code != 201:
                    return
                acknowledged.append((number, response.json()["index"]))

    threads = [threading.Thread(target=appender, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 30, "30 acknowledged appends")
    cluster["kill"]("AR")
    for thread in threads:
        thread.join(timeout=30)
    cluster["start"]("AR")
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{ports['AR']}/health").status_code == 200, "AR to restart")

    ar_engine = open_database(ar.url)
    held = service.entries(ar_engine, ar.operator, 0, 10_000)
    at = {item["index"]: item for item in held}
    for number, index in acknowledged:  # every acknowledged entry is there, at the index its receipt gave
        assert number in (at[index].get("body") or ""), (number, index)
    assert service.verify_log(ar_engine, ar.operator)["ok"]
    size = service.own_log(ar_engine).size
    # appending resumes, and both partners reach the new size without any alarm
    officer = api(ports["AR"], token)
    assert (
        officer.post("/ledger/certificates", json=certificate("ARAEO09999").model_dump(mode="json")).status_code == 201
    )
    for code in ("BR", "UY"):
        node = nodes[code]
        engine = open_database(node.url)
        wait_for(
            lambda e=engine, n=node: (
                service.logs(e, n.operator)
                and any(log["origin"] == ar.origin and log["size"] == size + 1 for log in service.logs(e, n.operator))
            ),
            f"{code} to follow AR after the restart",
        )
        assert service.alarms(engine, node.operator) == []
        assert service.status(engine, node.operator, acknowledged[-1][0])["status"] == "certified"
