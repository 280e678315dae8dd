"""The exchange between administrations, end to end (docs/exchange.md): Argentina (this process) queues and
delivers signed export messages to Brazil, an `opencustoms serve` process on a loopback port, which verifies and
stores each once; then Brazil matches them to its import declarations (one per export, found by UCR for half of
them and by container for the other half, a tenth undervalued). Also the raw rates of signing and verifying.

Figures: signatures/s and verifications/s (joserfc, one core); queue (build, minimise, sign, store) per second;
delivery (HTTP, verify, store once, acknowledge) per second; end to end per second; matching records per second.
The issue's targets: >= 2,000 messages/s end to end; 1M against 1M matched in <= 60 s.

Usage: python benchmarks/exchange.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, write  # noqa: E402
from processes import running, wait_for  # noqa: E402

CONTAINER_PREFIXES = ("CSQU", "MSCU", "TGHU", "MAEU")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def container(i: int) -> str:
    from opencustoms.reference import codes

    owner = CONTAINER_PREFIXES[i % 4]
    serial = f"{i % 1_000_000:06d}"
    for digit in range(10):
        try:
            return codes.check_container_number(f"{owner}{serial}{digit}")
        except ValueError:
            continue
    raise AssertionError(f"no check digit for {owner}{serial}")


def declaration(reference: str, kind: str, i: int, value: str) -> dict[str, Any]:
    day = dt.date(2025, 3, 1) + dt.timedelta(days=i % 20 + (10 if kind == "import" else 0))
    ucr = f"5AR3071234{i:08d}"
    return {
        "functional_reference_id": reference,
        "type_code": kind,
        "acceptance_date": day.isoformat(),
        "declaration_office_id": "AR001" if kind == "export" else "BR0817800",
        "declarant": {"id": "AR30700000001", "country_code": "AR"},
        "exporter": {"id": "AR30712345678", "name": "Pampa Exports SA", "country_code": "AR"},
        "importer": {"id": "BR11222333000181", "name": "Rio Imports Ltda", "country_code": "BR"},
        "transport": {"mode_code": "1", "container_ids": [container(i)], "unloading_location": "BRSSZ"},
        # exports all carry a UCR; half the imports do (the others are found by container)
        "additional_documents": [{"type_code": "UCR", "id": ucr}] if kind == "export" or i % 2 == 0 else [],
        "goods_items": [
            {
                "sequence_number": 1,
                "hs_code": "020130",
                "quantity": 1000,
                "quantity_unit": "KGM",
                "net_mass_kg": 1000.0,
                "customs_value_amount": value,
                "customs_value_currency": "USD",
                "origin_country_code": "AR",
            }
        ],
    }


def node(root: Path, code: str) -> dict[str, Any]:
    from opencustoms.ledger import service as ledger
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.security.service import ensure_administration, local_operator
    from opencustoms.store.database import init_database

    data_dir = root / code
    url = f"sqlite:///{data_dir / 'node.db'}"
    data_dir.mkdir(parents=True)
    engine = init_database(url)
    ensure_administration(engine, code, f"Customs {code}", code)
    keys = KeyStore.for_data_dir(data_dir)
    ledger.init_log(engine, local_operator(code), keys, code)
    return {
        "code": code,
        "url": url,
        "data_dir": data_dir,
        "engine": engine,
        "keys": keys,
        "operator": local_operator(code),
    }


def connect(server: dict[str, Any], client: dict[str, Any], base_url: str | None) -> None:
    from opencustoms.ledger import service as ledger
    from opencustoms.security.service import create_user, ensure_administration, issue_token

    ensure_administration(server["engine"], client["code"], f"Customs {client['code']}", client["code"])
    username = f"partner-{client['code'].lower()}"
    create_user(server["engine"], server["operator"], username, client["code"], ["partner"])
    token = issue_token(server["engine"], server["operator"], username)
    verifier = ledger.own_log(server["engine"]).verifier_key
    ledger.add_partner(client["engine"], client["operator"], client["keys"], verifier, base_url, server["code"], token)


def raw_rates(count: int) -> dict[str, float]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from opencustoms.exchange import service, signing
    from opencustoms.exchange.schema import ExchangeMessage
    from opencustoms.model import Declaration

    key = Ed25519PrivateKey.generate()
    record = service.export_record(Declaration.model_validate(declaration("AR-EX-0", "export", 0, "9000.00")), "AR")
    messages = [
        ExchangeMessage(
            message_id=str(uuid.uuid4()), sender="AR", receiver="BR", issued_at=dt.datetime.now(dt.UTC), record=record
        )
        for _ in range(count)
    ]
    started = time.perf_counter()
    tokens = [signing.sign(m, key) for m in messages]
    signed = time.perf_counter() - started
    public = signing.public_bytes(key)
    started = time.perf_counter()
    for token in tokens:
        signing.verify(token, public)
    verified = time.perf_counter() - started
    return {"sign_per_s": round(count / signed), "verify_per_s": round(count / verified)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="export declarations sent (default 2000)")
    args = parser.parse_args()
    n = args.messages

    from opencustoms.declarations import service as declarations
    from opencustoms.exchange import service
    from opencustoms.ledger import service as ledger

    root = WORK / "exchange"
    shutil.rmtree(root, ignore_errors=True)
    raw = raw_rates(min(n, 5000))
    port = free_port()
    ar, br = node(root, "AR"), node(root, "BR")
    connect(br, ar, f"http://127.0.0.1:{port}")
    connect(ar, br, None)
    for i in range(n):
        declarations.create(ar["engine"], ar["operator"], declaration(f"AR-EX-{i:07d}", "export", i, "9000.00"))
        value = "4000.00" if i % 10 == 0 else "9900.00"
        declarations.create(br["engine"], br["operator"], declaration(f"BR-IM-{i:07d}", "import", i, value))
    partners = service.directory(ledger.partner_directory(ar["engine"], ar["keys"]))
    service.set_agreement(ar["engine"], ar["operator"], partners, "BR", "BR")

    with running() as processes, (root / "br.log").open("ab") as log:
        env = {
            **os.environ,
            "OPENCUSTOMS_DATABASE_URL": br["url"],
            "OPENCUSTOMS_DATA_DIR": str(br["data_dir"]),
            "OPENCUSTOMS_ADMINISTRATION": "BR",
        }
        server = processes.start(
            [
                sys.executable,
                "-c",
                "from opencustoms.cli import app; app()",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200,
            "BR to start",
            watch=[server],
            ignore=(httpx.HTTPError,),
        )
        started = time.perf_counter()
        queued = service.queue(ar["engine"], ar["operator"], ledger.signing_key(ar["keys"]), partners, "BR")
        queue_s = time.perf_counter() - started
        assert queued["queued"] == n, queued
        started = time.perf_counter()
        acknowledged = 0
        while True:
            done = service.deliver(ar["engine"], ar["operator"], partners)
            acknowledged += done["acknowledged"]
            if done["pending"] == 0:
                break
        deliver_s = time.perf_counter() - started
    assert acknowledged == n
    started = time.perf_counter()
    matched = service.run_matching(br["engine"], br["operator"], limit=n)
    match_s = time.perf_counter() - started
    result = {
        "messages": n,
        **raw,
        "queue_per_s": round(n / queue_s),
        "deliver_per_s": round(n / deliver_s),
        "end_to_end_per_s": round(n / (queue_s + deliver_s)),
        "match_per_s": round(n / match_s),
        "matched": matched["matched"],
        "by_method": matched["by_method"],
        "value_below_export": matched["discrepancies"].get("exchange.value_below_export", 0),
    }
    print(f"{'figure':<22} value")
    for key, value in result.items():
        print(f"{key:<22} {value}")
    write("exchange", result)


if __name__ == "__main__":
    main()
