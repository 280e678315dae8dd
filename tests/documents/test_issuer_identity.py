"""The issuer identity: named by `opencustoms init` or the settings, never the placeholder; a placeholder or foreign
identity is never verified as bound to a store."""

from __future__ import annotations

import pytest
from documents_helpers import SETTINGS, STORE, coo_record
from typer.testing import CliRunner

from opencustoms.documents import openattestation as oa
from opencustoms.documents import service, templates
from opencustoms.documents.config import DocumentSettings, get_document_settings
from opencustoms.documents.errors import DocumentFormatError, IssuerNotConfiguredError
from opencustoms.documents.identity import IssuerIdentity
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity

UNSET = DocumentSettings(store_address=STORE, dns_txt={})  # no issuer name or domain in the settings


def _foreign(name: str, domain: str, store: str, number: str = "COO-ELSEWHERE-1") -> dict:
    """A document wrapped by another installation (its root never issued here)."""
    template = templates.get_template("coo")
    raw = templates.to_openattestation(
        template, templates.validate(template, coo_record(number)), UNSET, IssuerIdentity(name, domain, store, "x")
    )
    return oa.wrap_documents([raw])[0]


def test_issuing_is_refused_until_an_identity_is_set(engine, operator) -> None:
    for settings in (UNSET, UNSET.model_copy(update={"identity_domain": "customs.example"})):
        with pytest.raises(IssuerNotConfiguredError) as refused:
            service.issue(engine, operator, "coo", [coo_record()], settings)
        assert refused.value.field == "identity_domain" and refused.value.status == 409
        assert "OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN" in refused.value.message
        assert "opencustoms init --identity-domain" in refused.value.message
    assert service.issuer_identity(engine, UNSET).placeholder


def test_the_identity_recorded_by_init_is_written_in_documents(engine, operator) -> None:
    # before init names one: the name of the administration `init --name` registered, and no domain
    before = service.issuer_identity(engine, UNSET)
    assert (before.name, before.domain, before.source) == ("Dutch Customs (test)", None, "none")
    service.record_issuer(engine, operator, "Douane Nederland", "Customs.NL.example.")
    [document] = service.issue(engine, operator, "coo", [coo_record()], UNSET).documents
    issuer = oa.document_data(document)["issuers"][0]
    assert issuer["name"] == "Douane Nederland" and issuer["identityProof"]["location"] == "customs.nl.example"
    assert issuer["documentStore"] == STORE
    report = service.verify(engine, document, UNSET)
    assert report.valid and "this installation's own identity" in report.fragment("identity").reason
    # the settings win over what init recorded
    env = UNSET.model_copy(update={"issuer_name": "Belastingdienst Douane", "identity_domain": "douane.nl.example"})
    overridden = service.issuer_identity(engine, env)
    assert (overridden.name, overridden.domain, overridden.source) == (
        "Belastingdienst Douane",
        "douane.nl.example",
        "settings",
    )


def test_recording_an_identity_refuses_bad_input_and_needs_the_permission(engine, operator) -> None:
    for bad in ("customs.example", "not a domain", "localhost", "x" * 300 + ".example"):
        with pytest.raises(DocumentFormatError) as refused:
            service.record_issuer(engine, operator, "Dutch Customs", bad)
        assert refused.value.field == "identity_domain"
    with pytest.raises(DocumentFormatError) as refused:
        service.record_issuer(engine, operator, "  ", "customs.nl.example")
    assert refused.value.field == "issuer_name"
    with pytest.raises(PermissionDeniedError):
        service.record_issuer(engine, Identity.of("sue", "NL", ["supervisor"]), "X", "customs.nl.example")
    with pytest.raises(ValueError, match="OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN"):
        DocumentSettings(identity_domain="not a domain")


def test_a_placeholder_identity_is_never_bound(engine, operator) -> None:
    """Two installations left on the placeholder (same domain, same default store): neither may read the other's
    documents as bound to an issuer, even with records for the placeholder configured."""
    default_store = DocumentSettings().store_address
    foreign = _foreign("Customs administration", "customs.example", default_store)
    trusting = DocumentSettings(dns_txt={"customs.example": [f"openatts net=ethereum netId=1337 addr={default_store}"]})
    for settings in (DocumentSettings(), trusting):
        report = service.verify(engine, foreign, settings)
        identity = report.fragment("identity")
        assert identity.verdict.value == "INVALID" and "placeholder" in identity.reason, identity
        assert not report.valid and report.fragment("status").verdict.value == "INVALID"  # never issued here


def test_another_installations_document_is_not_bound_to_ours(engine, operator) -> None:
    service.record_issuer(engine, operator, "Dutch Customs", "customs.nl.example")
    # the other installation kept the default store address, as ours did: only its domain differs
    default = DocumentSettings()
    foreign = _foreign("Korea Customs Service", "customs.kr.example", default.store_address)
    report = service.verify(engine, foreign, default)
    assert report.fragment("identity").verdict.value == "INVALID"
    assert "unknown issuer" in report.fragment("identity").reason and not report.valid
    # once its published records are configured, the identity is bound (the status still says: not issued here)
    known = default.model_copy(
        update={"dns_txt": {"customs.kr.example": [f"openatts net=ethereum netId=1337 addr={default.store_address}"]}}
    )
    report = service.verify(engine, foreign, known)
    assert report.fragment("identity").verdict.value == "VALID"
    assert "own identity" not in report.fragment("identity").reason


def test_init_records_the_identity(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opencustoms.cli import app
    from opencustoms.config import get_settings
    from opencustoms.store.database import open_database

    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'init.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    for name in ("ISSUER_NAME", "IDENTITY_DOMAIN"):
        monkeypatch.delenv(f"OPENCUSTOMS_DOCUMENTS_{name}", raising=False)
    for cache in (get_settings, open_database, get_document_settings):
        cache.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["init", "--administration", "NL", "--name", "Dutch Customs"])
        assert result.exit_code == 0, result.output
        engine = open_database(f"sqlite:///{tmp_path / 'init.db'}")
        assert service.issuer_identity(engine, UNSET).name == "Dutch Customs"  # the --name given to init
        refused = runner.invoke(app, ["init", "--administration", "NL", "--identity-domain", "customs.example"])
        assert refused.exit_code == 1 and "placeholder" in refused.output
        result = runner.invoke(
            app,
            ["init", "--administration", "NL", "--identity-domain", "customs.nl.example", "--issuer-name", "Douane"],
        )
        assert result.exit_code == 0 and "customs.nl.example" in result.output, result.output
        identity = service.issuer_identity(engine, UNSET)
        assert (identity.name, identity.domain, identity.source) == ("Douane", "customs.nl.example", "init")
    finally:
        for cache in (get_settings, open_database, get_document_settings):
            cache.cache_clear()


def test_settings_identity_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    for name in ("OPENCUSTOMS_PUBLIC_URL", "OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN", "--identity-domain"):
        assert name in text, name
    assert SETTINGS.identity_domain == "customs.nl.example"
