"""`opencustoms documents evm-*`: clear refusals when no EVM network is configured (the EVM paths themselves are
tested through the service on eth-tester in test_evm.py); issuing after `init --identity-domain`, and `show` writing
the certificate page, PDF and .json file."""

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
    for name in ("ISSUER_NAME", "IDENTITY_DOMAIN"):
        monkeypatch.delenv(f"OPENCUSTOMS_DOCUMENTS_{name}", raising=False)
    monkeypatch.setenv("OPENCUSTOMS_PUBLIC_URL", "https://customs.nl.example")
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


def test_issue_after_init_and_write_the_certificate(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from documents_helpers import coo_record

    (tmp_path / "coo.json").write_text(json.dumps(coo_record()))
    refused = cli("documents", "issue", "coo", str(tmp_path / "coo.json"), "--out", str(tmp_path / "issued"))
    assert refused.exit_code == 1 and "--identity-domain" in refused.output  # no identity yet
    assert cli("init", "--administration", "NL", "--identity-domain", "customs.nl.example").exit_code == 0
    issued = cli("documents", "issue", "coo", str(tmp_path / "coo.json"), "--out", str(tmp_path / "issued"))
    assert issued.exit_code == 0, issued.output
    written = [tmp_path / n for n in ("coo.html", "coo.pdf", "coo.json.out")]
    shown = cli(
        "documents", "show", "COO-2025-77", "--html", str(written[0]), "--pdf", str(written[1]),
        "--json", str(written[2]), "--lang", "fr",
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    html = written[0].read_text(encoding="utf-8")
    assert "Certificat d&#39;origine" in html and "Dutch Customs" in html  # the issuer name given to init
    assert "https://customs.nl.example/verify?q=" in html  # OPENCUSTOMS_PUBLIC_URL
    assert written[1].read_bytes().startswith(b"%PDF-")
    document = json.loads(written[2].read_text(encoding="utf-8"))
    assert document == json.loads((tmp_path / "issued" / "COO-2025-77.json").read_text(encoding="utf-8"))
    verified = cli("documents", "verify", str(written[2]))
    assert verified.exit_code == 0 and "VALID" in verified.output
    assert cli("documents", "show", "COO-2025-77", "--lang", "de").exit_code == 2
