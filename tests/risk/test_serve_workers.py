"""`opencustoms serve --workers 2`: worker processes build the app from the environment and decide declarations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import sample_declaration
from opencustoms.declarations import service as declarations
from opencustoms.security import service as security
from processes import running, wait_for


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
    try:
        with running() as processes:  # the server and its workers (one process group) always stopped
            server = processes.start(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"
            try:
                wait_for(
                    lambda: httpx.get(f"{base}/health", timeout=2.0).status_code == 200,
                    "the server's workers to answer",
                    timeout=120,
                    watch=[server],
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {(tmp_path / 'serve.log').read_text()}") from None
            auth = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=auth, timeout=30.0) as client:
                answers = [client.post(f"/risk/decisions/LRN-W{i}") for i in range(6)]
                assert [a.status_code for a in answers] == [201] * 6, answers[0].text
                stored = client.get("/risk/decisions/LRN-W3")
                assert stored.status_code == 200 and stored.json()["reasons"] == answers[3].json()["reasons"]
    finally:
        log.close()
    assert "Started parent process" in (tmp_path / "serve.log").read_text()
