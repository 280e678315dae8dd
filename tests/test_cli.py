"""The `opencustoms` command, end to end on a fresh SQLite database (each command calls a service)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import sample_declaration, shared_data
from opencustoms.cli import app
from opencustoms.config import get_settings
from opencustoms.store.database import open_database

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    get_settings.cache_clear()
    open_database.cache_clear()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("init", "--administration", "NL", "--name", "Dutch Customs")
    yield run
    get_settings.cache_clear()
    open_database.cache_clear()


def test_init_import_export_roundtrip(cli, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(json.dumps(sample_declaration(f"LRN-{i}")) for i in range(3))
        + "\n"
        + json.dumps(sample_declaration("BAD", type_code="smuggling"))
        + "\n"
    )
    out = cli("import", str(source), "--report", str(tmp_path / "problems.csv"))
    assert "3 imported, 0 already stored, 1 rejected" in out
    assert "type_code" in (tmp_path / "problems.csv").read_text()
    assert "3 declarations written" in cli("export", str(tmp_path / "out.csv"))
    assert "3 declarations written" in cli("export", str(tmp_path / "out.parquet"))
    assert (tmp_path / "out.csv").read_text().count("LRN-") == 6  # two goods items each
    cli("export", str(tmp_path / "masked.jsonl"), "--pseudonymise")
    masked = (tmp_path / "masked.jsonl").read_text()
    assert "Tulip" not in masked and '"id":"p_' in masked


def test_users_tokens_and_audit(cli) -> None:
    assert "created with roles officer" in cli("users", "add", "olga", "--role", "officer")
    token = cli("users", "token", "olga").strip()
    assert token.startswith("oc_")
    assert "olga" in cli("users", "list")
    assert "disabled, 1 token(s) revoked" in cli("users", "disable", "olga")
    audit = json.loads(cli("audit", "--json", "--object-type", "user"))
    assert {a["action"] for a in audit} >= {"create", "issue_token", "disable", "revoke_tokens"}


def test_reference_commands(cli) -> None:
    hs = shared_data("hs", "harmonized-system-2022.csv")
    assert "96 chapters, 1228 headings, 5612 subheadings" in cli("reference", "load-hs", str(hs))
    assert "847130" in cli("reference", "hs", "8471.30")
    assert "valid: CSQU3054383" in cli("reference", "check", "container", "csqu 305438 3")
    result = runner.invoke(app, ["reference", "check", "container", "MSCU1234567"])
    assert result.exit_code == 1 and "should be 6" in result.output


def test_schema_and_errors(cli) -> None:
    schema = json.loads(cli("schema", "declaration"))
    assert schema["title"] == "Declaration"
    result = runner.invoke(app, ["import", "missing.csv"])
    assert result.exit_code == 1 and "no file at" in result.output


def test_uninitialised_database_says_to_run_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    get_settings.cache_clear()
    open_database.cache_clear()
    result = runner.invoke(app, ["import", "x.csv"])
    get_settings.cache_clear()
    assert result.exit_code == 1 and "opencustoms init" in result.output
