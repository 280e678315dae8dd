"""`opencustoms serve --workers 2`: worker processes build the app from the environment and decide declarations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import sample_declaration
from opencustoms.declarations import service as declarations
from opencustoms.security import service as security


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_two_workers_answers_decisions(engine, database_url, tmp_path, operator) -> None:  # type: ignore[no-untyped-def]
    security.create_user(engine, operator, "rita", "NL", ["risk_analyst"], "Rita Analyst")
    token = security.issue_token(engine, operator, "rita", "test")
    for i in range(6):  # decisions are taken on stored declarations
        declarations.create(engine, operator, sample_declaration(f"LRN-W{i}"))
    port = free_port()
    env = {
        **os.environ,
        "OPENCUSTOMS_DATABASE_URL": database_url,
        "OPENCUSTOMS_DATA_DIR": str(tmp_path),
        "OPENCUSTOMS_ADMINISTRATION": "NL",
    }
    command = [str(Path(sys.executable).parent / "opencustoms"), "serve", "--port", str(port), "--workers", "2"]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(1200):  # workers import the CLI first: allow two minutes on a loaded machine
            try:
                if httpx.get(f"{base}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        else:
            raise AssertionError("the server did not answer: " + (tmp_path / "serve.log").read_text())
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30.0) as client:
            answers = [client.post(f"/risk/decisions/LRN-W{i}") for i in range(6)]
            assert [a.status_code for a in answers] == [201] * 6, answers[0].text
            stored = client.get("/risk/decisions/LRN-W3")
            assert stored.status_code == 200 and stored.json()["reasons"] == answers[3].json()["reasons"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    assert "Started parent process" in (tmp_path / "serve.log").read_text()
