"""Rebuilding a node that lost its database (but kept its key store) from a partner's copy: three administrations
in-process (FastAPI TestClient over the real routes). Argentina's database is wiped; it restores its log from
Brazil, gathers the restricted content Brazil never had from Uruguay, appends again, and both partners accept the
continued log. A partner serving a tampered copy, or an older one than another partner holds, is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ledger_testnodes import Node, certificate, client_for, connected_nodes
from sqlalchemy import select
from typer.testing import CliRunner

from opencustoms.config import get_settings
from opencustoms.ledger import service
from opencustoms.ledger.errors import PartnerError, RestoreError
from opencustoms.ledger.keys import KeyStore
from opencustoms.ledger.tables import ledger_entries, ledger_logs
from opencustoms.security.roles import Role
from opencustoms.security.service import create_user, ensure_administration, issue_token
from opencustoms.store.database import init_database, open_database
from progress_recorder import Recorder


@pytest.fixture
def three(tmp_path):  # type: ignore[no-untyped-def]
    nodes = connected_nodes(tmp_path)

    def clients(code: str) -> dict[str, TestClient]:
        return {nodes[s].origin: client_for(nodes[s], nodes[code].tokens[s]) for s in nodes if s != code}

    yield nodes, clients
    open_database.cache_clear()


def _history(nodes: dict[str, Node], clients: Any) -> None:
    """Argentina: a public certificate suspended, one shared with Brazil only, one with Uruguay only; both pull."""
    ar = nodes["AR"]
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
    service.change_status(ar.engine, ar.officer, ar.keys, "suspend", "ARAEO00001", "audit findings")
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00002", holder="AR2", shared_with=["BR"]))
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00003", holder="AR3", shared_with=["UY"]))
    for code in ("BR", "UY"):
        node = nodes[code]
        service.pull(node.engine, node.operator, node.keys, ar.origin, clients=clients(code))


def _wipe(nodes: dict[str, Node], *partners: str) -> Node:
    """Argentina loses its database (the key store under <data_dir>/ledger/keys stays): a new empty database, the
    partners registered again from their verifier keys (the tokens they gave Argentina are still in the key store)."""
    ar = nodes["AR"]
    ar.engine.dispose()
    open_database.cache_clear()
    for suffix in ("", "-wal", "-shm"):
        Path(str(ar.data_dir / "node.db") + suffix).unlink(missing_ok=True)
    engine = init_database(ar.url)
    ensure_administration(engine, "AR", "Customs AR", "AR")
    fresh = Node("AR", ar.data_dir, ar.url, engine, ar.keys, ar.tokens)
    for code in partners:
        other = nodes[code]
        service.add_partner(engine, fresh.operator, fresh.keys, other_key(other), None, code, None)
    for code in ("BR", "UY"):  # the partner users and their tokens were in the lost database: new tokens
        other = nodes[code]
        ensure_administration(engine, code, f"Customs {code}", code)
        create_user(engine, fresh.operator, f"partner-{code.lower()}", code, [Role.PARTNER.value])
        other.tokens["AR"] = issue_token(engine, fresh.operator, f"partner-{code.lower()}")
        other.keys.save_secret("partner-AR", other.tokens["AR"])  # what the partner's operator does
    nodes["AR"] = fresh
    return fresh


def other_key(node: Node) -> str:
    return service.own_log(node.engine).verifier_key


def test_a_restore_reports_its_phases(three) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    _history(nodes, clients)
    ar = _wipe(nodes, "BR", "UY")
    progress = Recorder()
    service.restore_from_partner(ar.engine, ar.operator, ar.keys, "BR", clients=clients("AR"), progress=progress)
    assert progress.names() == [
        "asking partners for their checkpoints",
        f"fetching entries from {nodes['BR'].origin}",
        "content of restricted entries from the other partners",
        "checking signatures",
        "writing the log",
    ]
    assert progress.of("fetching") == (5, 5) and progress.of("content") == (1, 1)  # Uruguay's certificate
    assert progress.unfinished() == []


def test_a_wiped_node_restores_its_log_and_appending_resumes(three) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    _history(nodes, clients)
    before = service.latest_checkpoint(nodes["AR"].engine)
    ar = _wipe(nodes, "BR", "UY")
    with pytest.raises(service.LedgerNotFoundError):
        service.own_log(ar.engine)

    report = service.restore_from_partner(ar.engine, ar.operator, ar.keys, "BR", clients=clients("AR"))
    assert report["size"] == 5 and report["root"] == before.root.hex()
    assert report["content_unavailable"] == 0 and report["content_from"] == {nodes["UY"].origin: 1}
    assert report["witnesses"] == {nodes["BR"].origin: 5, nodes["UY"].origin: 5}
    assert service.verify_log(ar.engine, ar.operator)["size"] == 5
    assert service.status(ar.engine, ar.operator, "ARAEO00001")["status"] == "suspended"
    assert service.status(ar.engine, ar.operator, "ARAEO00003")["status"] == "certified"  # content from Uruguay
    assert service.own_log(ar.engine).origin == before.origin

    # the officer appends again at index 5, signed with the key that survived in the key store
    receipt = service.change_status(ar.engine, ar.officer, ar.keys, "revoke", "ARAEO00001", "fraud")
    assert receipt["index"] == 5
    for code in ("BR", "UY"):
        node = nodes[code]
        pulled = service.pull(node.engine, node.operator, node.keys, ar.origin, clients=clients(code))
        assert pulled["new_entries"] == 1 and pulled["alarms"] == []
        assert service.status(node.engine, node.operator, "ARAEO00001", origin=ar.origin)["status"] == "revoked"
        assert service.alarms(node.engine, node.operator) == []
    # a restore is for an empty log only
    with pytest.raises(RestoreError, match="already holds 6 entries"):
        service.restore_from_partner(ar.engine, ar.operator, ar.keys, "BR", clients=clients("AR"))


def test_restricted_content_no_partner_had_is_restored_as_leaves_only(three) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    _history(nodes, clients)
    ar = _wipe(nodes, "BR")  # Uruguay, the only partner that saw ARAEO00003, is not asked
    report = service.restore_from_partner(ar.engine, ar.operator, ar.keys, "BR", clients=clients("AR"))
    assert report["size"] == 5 and report["content_unavailable"] == 1
    assert service.verify_log(ar.engine, ar.operator)["ok"]
    with ar.engine.connect() as conn:
        bodies = [b for b in conn.execute(select(ledger_entries.c.body).order_by(ledger_entries.c.idx)).scalars()]
    assert bodies[4] is None and all(b is not None for b in bodies[:4])
    with pytest.raises(service.LedgerNotFoundError):
        service.status(ar.engine, ar.operator, "ARAEO00003")
    assert service.status(ar.engine, ar.operator, "ARAEO00002")["status"] == "certified"  # Brazil had it
    assert service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00004"))["index"] == 5
    uy = nodes["UY"]
    assert service.pull(uy.engine, uy.operator, uy.keys, ar.origin, clients=clients("UY"))["new_entries"] == 1


def test_a_tampered_copy_is_refused_and_nothing_is_written(three, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    _history(nodes, clients)
    br = nodes["BR"]
    with br.engine.begin() as conn:  # Brazil's replica of Argentina's log: another holder in entry 3 (ARAEO00002)
        log_id = conn.execute(select(ledger_logs.c.id).where(ledger_logs.c.origin == nodes["AR"].origin)).scalar()
        where = (ledger_entries.c.log_id == log_id) & (ledger_entries.c.idx == 3)
        body = conn.execute(select(ledger_entries.c.body).where(where)).scalar_one()
        assert '"id":"AR2"' in body
        conn.execute(ledger_entries.update().where(where).values(body=body.replace('"id":"AR2"', '"id":"AR9"')))
    ar = _wipe(nodes, "BR", "UY")
    # Brazil's server checks what it serves: it refuses the page holding the altered body, naming the entry
    with pytest.raises(PartnerError, match="entry 3: the stored content"):
        service.restore_from_partner(ar.engine, ar.operator, ar.keys, "BR", clients=clients("AR"))
    # a partner serving what it stores unchecked (an older version, or a dishonest one): the restore catches it
    monkeypatch.setattr(service.integrity, "body_opens", lambda *_: True)
    with pytest.raises(RestoreError, match="does not verify"):
        service.restore_from_partner(ar.engine, ar.operator, ar.keys, "BR", clients=clients("AR"))
    with pytest.raises(service.LedgerNotFoundError):
        service.own_log(ar.engine)  # nothing written, not even the log
    assert [a["kind"] for a in service.alarms(ar.engine, ar.operator, br.origin)] == ["bad_copy"]
    # Uruguay's copy is intact: the restore succeeds from it
    report = service.restore_from_partner(ar.engine, ar.operator, ar.keys, "UY", clients=clients("AR"))
    assert report["size"] == 5 and report["content_from"] == {}  # Brazil's content of ARAEO00002 fails its commitment
    assert report["content_unavailable"] == 1


def test_a_partner_behind_another_is_refused_as_the_source(three) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    _history(nodes, clients)
    ar, uy = nodes["AR"], nodes["UY"]
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00005"))
    service.pull(uy.engine, uy.operator, uy.keys, ar.origin, clients=clients("UY"))  # Brazil stays at 5
    ar = _wipe(nodes, "BR", "UY")
    with pytest.raises(RestoreError, match=f"{uy.origin} holds checkpoint 6"):
        service.restore_from_partner(ar.engine, ar.operator, ar.keys, "BR", clients=clients("AR"))
    assert service.restore_from_partner(ar.engine, ar.operator, ar.keys, "UY", clients=clients("AR"))["size"] == 6
    assert service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00006"))["index"] == 6


def test_restore_needs_a_registered_partner_and_the_administration_key(three, tmp_path) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    _history(nodes, clients)
    ar = _wipe(nodes, "BR")
    with pytest.raises(RestoreError, match="not registered"):
        service.restore_from_partner(ar.engine, ar.operator, ar.keys, "CL", clients=clients("AR"))
    from opencustoms.ledger.keys import KeyStore

    with pytest.raises(RestoreError, match="no administration key .*put the key store back"):
        service.restore_from_partner(ar.engine, ar.operator, KeyStore(tmp_path / "empty"), "BR")
    # a key store with another administration key: the partner's checkpoints are not signed by it
    other = KeyStore(tmp_path / "other")
    other.create("administration", "log")
    with pytest.raises(RestoreError, match="did not sign"):
        service.restore_from_partner(ar.engine, ar.operator, other, "BR", clients=clients("AR"))


def test_cli_restore_and_anchor_commands_say_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opencustoms.cli import app

    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    for name in ("RPC_URL", "CONTRACT", "PRIVATE_KEY_FILE"):
        monkeypatch.delenv(f"OPENCUSTOMS_LEDGER_EVM_{name}", raising=False)
    for cache in (get_settings, open_database):
        cache.cache_clear()
    try:
        assert runner.invoke(app, ["init", "--administration", "NL", "--name", "Dutch Customs"]).exit_code == 0
        assert runner.invoke(app, ["ledger", "init"]).exit_code == 0
        result = runner.invoke(app, ["ledger", "restore-from-partner", "--partner", "BE"])
        assert result.exit_code == 1 and "not registered" in result.output
        for command in (["anchor"], ["verify-anchors"], ["anchor-submitter", "0x" + "12" * 20, "--origin", "x/y"]):
            result = runner.invoke(app, ["ledger", *command])
            assert result.exit_code == 1 and "OPENCUSTOMS_LEDGER_EVM_CONTRACT" in result.output, result.output
        result = runner.invoke(app, ["ledger", "anchor-deploy"])
        assert result.exit_code == 1 and "OPENCUSTOMS_LEDGER_EVM_RPC_URL" in result.output
        assert runner.invoke(app, ["ledger", "anchors"]).exit_code == 0
    finally:
        for cache in (get_settings, open_database):
            cache.cache_clear()


def test_restore_route(three) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    _history(nodes, clients)
    ar = _wipe(nodes, "BR")
    create_user(ar.engine, ar.operator, "admin", "AR", [Role.ADMINISTRATOR.value])
    create_user(ar.engine, ar.operator, "supervisor", "AR", [Role.SUPERVISOR.value])
    admin = client_for(ar, issue_token(ar.engine, ar.operator, "admin"))
    refused = admin.post("/ledger/restore", json={"partner": "CL"})
    assert refused.status_code == 409 and "not registered" in refused.json()["detail"]
    assert admin.post("/ledger/restore", json={}).status_code == 422
    supervisor = client_for(ar, issue_token(ar.engine, ar.operator, "supervisor"))
    assert supervisor.post("/ledger/restore", json={"partner": "BR"}).status_code == 403


def test_restore_route_before_ledger_init_is_a_409_saying_what_to_do(tmp_path: Path) -> None:
    """A node where `opencustoms ledger init` never ran (no log, no administration key): a conflict that says to put
    the key store back or run `ledger init`, not a 500."""
    data_dir = tmp_path / "AR"
    url = f"sqlite:///{data_dir / 'node.db'}"
    engine = init_database(url)
    try:
        ensure_administration(engine, "AR", "Customs AR", "AR")
        node = Node("AR", data_dir, url, engine, KeyStore.for_data_dir(data_dir))
        create_user(engine, node.operator, "admin", "AR", [Role.ADMINISTRATOR.value])
        admin = client_for(node, issue_token(engine, node.operator, "admin"))
        refused = admin.post("/ledger/restore", json={"partner": "BR"})
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "`opencustoms ledger init`" in refused.json()["detail"]
        assert "key store back from its backup" in refused.json()["detail"]
    finally:
        engine.dispose()
        open_database.cache_clear()
