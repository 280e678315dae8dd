"""`opencustoms ledger verify` checks what is stored against what the log signed: an entry's body edited in the
database (leaf, tree and checkpoints untouched) is named by its index, and it is not served either."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from ledger_testnodes import Node, certificate, client_for, make_node
from typer.testing import CliRunner

from opencustoms.config import get_settings
from opencustoms.ledger import service
from opencustoms.ledger.errors import StoredLogError
from opencustoms.security.roles import Role
from opencustoms.security.service import create_user, issue_token
from opencustoms.store.database import open_database


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    ar = make_node(tmp_path, "AR")  # entry 0: the officer's key
    for n in range(1, 4):
        service.issue(ar.engine, ar.officer, ar.keys, certificate(f"ARAEO0000{n}", holder=f"AR{n}"))
    yield ar
    ar.engine.dispose()
    open_database.cache_clear()


def _sql(node: Node, statement: str, *params: object) -> None:
    """What someone with the database file does: an edit with the sqlite3 shell, no OpenCustoms code involved."""
    with sqlite3.connect(node.data_dir / "node.db") as db:
        db.execute(statement, params)


def test_verify_names_an_entry_whose_body_was_edited_in_sqlite(node: Node) -> None:
    seen: list[tuple[int, int]] = []
    assert service.verify_log(node.engine, node.operator, progress=lambda d, t: seen.append((d, t)))["size"] == 4
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    _sql(node, "UPDATE ledger_entries SET body = replace(body, '\"AR2\"', '\"AR9\"') WHERE idx = 2")
    with pytest.raises(StoredLogError, match=r"^entry 2: its stored body and salt do not open the commitment") as e:
        service.verify_log(node.engine, node.operator)
    assert e.value.index == 2


def test_verify_names_an_altered_salt_commitment_and_leaf(node: Node) -> None:
    _sql(node, "UPDATE ledger_entries SET salt = zeroblob(16) WHERE idx = 3")
    with pytest.raises(StoredLogError, match="^entry 3: its stored body and salt"):
        service.verify_log(node.engine, node.operator)
    _sql(node, "UPDATE ledger_entries SET salt = NULL WHERE idx = 3")  # content without its salt
    with pytest.raises(StoredLogError, match="^entry 3: its stored body and salt"):
        service.verify_log(node.engine, node.operator)
    _sql(node, "UPDATE ledger_entries SET body = NULL WHERE idx = 3")  # withheld content: a valid state
    assert service.verify_log(node.engine, node.operator)["ok"]
    _sql(node, "UPDATE ledger_entries SET commitment = ? WHERE idx = 1", "0" * 64)
    with pytest.raises(StoredLogError, match="^entry 1: its commitment column"):
        service.verify_log(node.engine, node.operator)


def test_verify_names_an_entry_whose_leaf_was_replaced(node: Node) -> None:
    # another entry's leaf (validly signed, by a key in force) in place of entry 2's: only the tree tells them apart
    _sql(
        node,
        "UPDATE ledger_entries SET leaf = (SELECT leaf FROM ledger_entries WHERE idx = 3), commitment = "
        "(SELECT commitment FROM ledger_entries WHERE idx = 3), body = (SELECT body FROM ledger_entries WHERE idx = 3),"
        " salt = (SELECT salt FROM ledger_entries WHERE idx = 3) WHERE idx = 2",
    )
    with pytest.raises(StoredLogError, match="^entry 2: its leaf hashes to .* but the tree holds"):
        service.verify_log(node.engine, node.operator)


def test_cli_verify_exits_non_zero_naming_the_entry(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    from opencustoms.cli import app

    for name, value in node.env().items():
        monkeypatch.setenv(name, value)
    for cache in (get_settings, open_database):
        cache.cache_clear()
    runner = CliRunner()
    try:
        ok = runner.invoke(app, ["ledger", "verify"])
        assert ok.exit_code == 0 and "4 entries verified" in ok.output, ok.output
        _sql(node, "UPDATE ledger_entries SET body = replace(body, 'Holder of', 'Holder de') WHERE idx = 1")
        bad = runner.invoke(app, ["ledger", "verify"])
        assert bad.exit_code == 1 and "entry 1: its stored body and salt do not open" in bad.output, bad.output
        assert "Traceback" not in bad.output
    finally:
        for cache in (get_settings, open_database):
            cache.cache_clear()


def test_an_edited_body_is_not_served(node: Node) -> None:
    create_user(node.engine, node.operator, "reader", "AR", [Role.SUPERVISOR.value])
    api = client_for(node, issue_token(node.engine, node.operator, "reader"))
    assert len(api.get("/ledger/entries", params={"start": 0, "end": 4}).json()["entries"]) == 4
    _sql(node, "UPDATE ledger_entries SET body = replace(body, '\"AR2\"', '\"AR9\"') WHERE idx = 2")
    refused = api.get("/ledger/entries", params={"start": 0, "end": 4})
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["detail"].startswith("entry 2: the stored content")
    assert api.get("/ledger/entries", params={"start": 3, "end": 4}).status_code == 200  # other pages still serve
    history = api.get("/ledger/certificates/ARAEO00002/history")
    assert history.status_code == 409 and "entry 2" in history.json()["detail"]


def test_the_first_bad_entry_is_named_whichever_check_finds_it(node: Node) -> None:
    # entry 3's body edited, entry 1's leaf replaced by entry 2's (caught only by the tree): entry 1 is named
    _sql(node, "UPDATE ledger_entries SET body = replace(body, 'Holder of', 'Holder de') WHERE idx = 3")
    _sql(
        node,
        "UPDATE ledger_entries SET leaf = (SELECT leaf FROM ledger_entries WHERE idx = 2), commitment = "
        "(SELECT commitment FROM ledger_entries WHERE idx = 2), body = (SELECT body FROM ledger_entries WHERE idx = 2),"
        " salt = (SELECT salt FROM ledger_entries WHERE idx = 2) WHERE idx = 1",
    )
    with pytest.raises(StoredLogError, match="^entry 1: its leaf hashes to"):
        service.verify_log(node.engine, node.operator)


def test_a_missing_entry_is_named(node: Node) -> None:
    _sql(node, "DELETE FROM ledger_entries WHERE idx = 3")
    with pytest.raises(StoredLogError, match="^entry 3: it is missing from the store"):
        service.verify_log(node.engine, node.operator)
    _sql(node, "DELETE FROM ledger_entries WHERE idx = 1")
    with pytest.raises(StoredLogError, match="^entry 1: it is missing from the store"):
        service.verify_log(node.engine, node.operator)
