"""The partner setup of docs/ledger.md registers the partner's administration in this node's database: with two
administrations and OPENCUSTOMS_ADMINISTRATION unset, every `opencustoms ledger` command says which administrations
exist and how to choose (exit 2), never a traceback; `--administration` or the setting chooses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opencustoms.config import get_settings
from opencustoms.store.database import open_database

COMMANDS = [
    ["key"],
    ["verify"],
    ["alarms"],
    ["status", "ARAEO00001"],
    ["history", "ARAEO00001"],
    ["holder", "AR30712345678"],
    ["officer-key", "maria"],
    ["revoke-key", "maria", "--reason", "left"],
    ["suspend", "ARAEO00001", "--officer", "maria", "--reason", "audit"],
    ["rebuild-tree"],
    ["pull"],
    ["partner-add", "x", "--administration", "BR"],
    ["anchors"],
    ["anchor"],
    ["verify-anchors"],
    ["restore-from-partner", "--partner", "BR"],
]


@pytest.fixture
def two_administrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    from opencustoms.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'node.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("OPENCUSTOMS_ADMINISTRATION", raising=False)
    for cache in (get_settings, open_database):
        cache.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["init", "--administration", "AR"]).exit_code == 0
        assert runner.invoke(app, ["ledger", "init"]).exit_code == 0  # one administration: it is this node's
        # docs/ledger.md, "How two administrations connect", step 1: Brazil registered for its partner user
        assert runner.invoke(app, ["init", "--administration", "BR", "--name", "Receita Federal"]).exit_code == 0
        yield runner
    finally:
        for cache in (get_settings, open_database):
            cache.cache_clear()


def test_every_ledger_command_says_how_to_choose_the_administration(two_administrations: CliRunner) -> None:
    from opencustoms.cli import app

    for command in COMMANDS:
        result = two_administrations.invoke(app, ["ledger", *command])
        assert result.exit_code == 2, (command, result.output, result.exception)
        assert isinstance(result.exception, SystemExit), (command, result.exception)  # not a traceback
        text = " ".join(result.output.split())
        assert "several administrations are registered on this node (AR, BR" in text, (command, text)
        assert "--administration CODE" in text and "OPENCUSTOMS_ADMINISTRATION=CODE" in text
        assert "this node's log opencustoms/AR/aeo is administration AR" in text


def test_the_option_or_the_setting_chooses(two_administrations: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from opencustoms.cli import app

    chosen = two_administrations.invoke(app, ["ledger", "--administration", "AR", "key"])
    assert chosen.exit_code == 0 and chosen.output.startswith("opencustoms/AR/aeo+"), chosen.output
    unknown = two_administrations.invoke(app, ["ledger", "--administration", "CL", "key"])
    assert unknown.exit_code == 2
    assert "'CL' is not registered on this node (registered: AR, BR)" in " ".join(unknown.output.split())
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "AR")
    get_settings.cache_clear()
    assert two_administrations.invoke(app, ["ledger", "key"]).output == chosen.output
    assert two_administrations.invoke(app, ["ledger", "verify"]).exit_code == 0
