"""Helpers that set up ledger nodes (one SQLite database, data directory and key store each) for the tests."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import logstore, merkle, service
from opencustoms.ledger.entries import AEOCertificate, EntryBody, EntryKind, sign_entry
from opencustoms.ledger.keys import KeyStore, key_id
from opencustoms.ledger.tables import ledger_checkpoints, ledger_entries
from opencustoms.security.roles import Role
from opencustoms.security.service import Identity, create_user, ensure_administration, issue_token, local_operator
from opencustoms.store.database import init_database

OFFICER = "officer1"
LEDGER_OFFICER = Identity.of("ana.officer", "NL", [Role.SUPERVISOR])


def single_ledger(engine: Engine, operator: Identity, tmp_path: Path) -> tuple[Engine, KeyStore]:
    """A node's log on ``engine`` (administration NL) with LEDGER_OFFICER's key certified."""
    keystore = KeyStore(tmp_path / "keys")
    service.init_log(engine, operator, keystore, "NL")
    service.certify_officer(engine, operator, keystore, LEDGER_OFFICER.username)
    return engine, keystore


@dataclass
class Node:
    code: str
    data_dir: Path
    url: str
    engine: Engine
    keys: KeyStore
    tokens: dict[str, str] = field(default_factory=dict)  # partner code -> token that partner gave us

    @property
    def operator(self) -> Identity:
        return local_operator(self.code)

    @property
    def officer(self) -> Identity:
        return Identity.of(OFFICER, self.code, [Role.SUPERVISOR])

    @property
    def origin(self) -> str:
        return service.own_log(self.engine).origin

    def env(self) -> dict[str, str]:
        return {
            "OPENCUSTOMS_DATABASE_URL": self.url,
            "OPENCUSTOMS_DATA_DIR": str(self.data_dir),
            "OPENCUSTOMS_ADMINISTRATION": self.code,
        }


def make_node(tmp: Path, code: str) -> Node:
    data_dir = tmp / code
    url = f"sqlite:///{data_dir / 'node.db'}"
    engine = init_database(url)
    ensure_administration(engine, code, f"Customs {code}", code)
    node = Node(code, data_dir, url, engine, KeyStore.for_data_dir(data_dir))
    service.init_log(engine, node.operator, node.keys, code)
    service.certify_officer(engine, node.operator, node.keys, OFFICER)
    return node


def connect(server: Node, client: Node, base_url: str | None) -> str:
    """Let ``client`` pull ``server``: a partner user and token at the server, the server's log at the client."""
    ensure_administration(server.engine, client.code, f"Customs {client.code}", client.code)
    username = f"partner-{client.code.lower()}"
    create_user(server.engine, server.operator, username, client.code, [Role.PARTNER.value])
    token = issue_token(server.engine, server.operator, username)
    client.tokens[server.code] = token
    service.add_partner(
        client.engine,
        client.operator,
        client.keys,
        service.own_log(server.engine).verifier_key,
        base_url,
        server.code,
        token,
    )
    return token


def connected_nodes(tmp: Path, codes: tuple[str, ...] = ("AR", "BR", "UY")) -> dict[str, Node]:
    """Nodes that each pull every other one (in-process: no base URL)."""
    nodes = {code: make_node(tmp, code) for code in codes}
    for server in nodes.values():
        for client in nodes.values():
            if client is not server:
                connect(server, client, None)
    return nodes


def client_for(server: Node, token: str) -> TestClient:
    """An HTTP client for ``server``'s real API, in-process, as the holder of ``token`` (a partner)."""
    from opencustoms.api import create_app

    settings = Settings(database_url=server.url, data_dir=server.data_dir, administration=server.code)
    return TestClient(
        create_app(Platform(settings)),
        base_url=f"http://{server.code.lower()}.test",
        headers={"Authorization": f"Bearer {token}"},
    )


def certificate(number: str, holder: str = "AR30712345678", shared_with: list[str] | None = None) -> AEOCertificate:
    return AEOCertificate.model_validate(
        {
            "certificate_number": number,
            "holder": {
                "name": f"Holder of {number}",
                "id": holder,
                "address": {"line": "Av. Siempre Viva 742", "city_name": "Buenos Aires", "country_code": "AR"},
                "country_code": "AR",
            },
            "type": "security",
            "issue_date": "2024-05-02",
            "shared_with": shared_with or [],
        }
    )


def rewrite_history(node: Node, index: int) -> None:
    """What a dishonest operator holding the keys would do: replace entry ``index`` by another validly signed
    entry, rebuild the tree, drop the old checkpoints and sign a new one."""
    log = service.own_log(node.engine)
    officer_key = node.keys.officer_key(OFFICER)
    now = dt.datetime.now(dt.UTC)
    forged = sign_entry(
        EntryBody(
            origin=log.origin,
            kind=EntryKind.ISSUED,
            officer=OFFICER,
            recorded_at=now,
            effective_date=now.date(),
            certificate=certificate("ARFORGED01"),
        ),
        officer_key,
        key_id(notes.public_bytes(officer_key)),
    )
    with node.engine.begin() as conn:
        conn.execute(
            ledger_entries.update()
            .where(ledger_entries.c.log_id == log.id, ledger_entries.c.idx == index)
            .values(
                leaf=forged.leaf(),
                commitment=forged.commitment,
                body=forged.body,
                salt=base64.b64decode(forged.salt or ""),
                entry_id=json.loads(forged.body or "{}")["entry_id"],
                kind="aeo.issued",
                certificate_number="ARFORGED01",
            )
        )
        leaves = [
            bytes(r)
            for r in conn.execute(
                select(ledger_entries.c.leaf).where(ledger_entries.c.log_id == log.id).order_by(ledger_entries.c.idx)
            ).scalars()
        ]
        logstore.delete_nodes(conn, log.id)
        tree = merkle.Frontier()
        logstore.append(conn, log.id, tree, leaves)
        conn.execute(ledger_checkpoints.delete().where(ledger_checkpoints.c.log_id == log.id))
        cp = notes.sign_checkpoint(log.origin, tree.size, tree.root(), node.keys.administration_key())
        conn.execute(
            ledger_checkpoints.insert().values(
                log_id=log.id, size=cp.size, root=cp.root, note=cp.note, source="self", observed_at=now
            )
        )
