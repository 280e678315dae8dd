"""`opencustoms documents evm-*`: clear refusals when no EVM network is configured (the EVM paths themselves are
tested through the service on eth-tester in test_evm.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from opencustoms.cli import app
from opencustoms.config import get_settings
from opencustoms.documents.config import get_document_settings
from opencustoms.store.database import open_database

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    monkeypatch.delenv("OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL", raising=False)
    for cache in (get_settings, open_database, get_document_settings):
        cache.cache_clear()
    assert runner.invoke(app, ["init", "--administration", "NL", "--name", "Dutch Customs"]).exit_code == 0
    yield lambda *args: runner.invoke(app, list(args))
    for cache in (get_settings, open_database, get_document_settings):
        cache.cache_clear()


def test_evm_commands_say_what_to_configure(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("documents", "evm-deploy", "Dutch Customs")
    assert result.exit_code == 1 and "OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL" in result.output
    result = cli("documents", "evm-sync", "ab" * 32)
    assert result.exit_code == 1 and "not an EVM contract" in result.output
