"""Issuing, the registry (DocumentStore semantics), verification fragments, templates and origin checks."""

from __future__ import annotations

import copy
import json

import pytest
from documents_helpers import SETTINGS, STORE, coo_record
from sqlalchemy import select

from conftest import sample_declaration
from opencustoms import signals
from opencustoms.documents import service
from opencustoms.documents.config import DocumentSettings
from opencustoms.documents.errors import (
    AlreadyIssuedError,
    AlreadyRevokedError,
    DocumentFormatError,
    TemplateDataError,
    UploadTooLargeError,
)
from opencustoms.documents.registry import LocalRegistry
from opencustoms.model import Declaration
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity
from opencustoms.store.tables import audit_log


def _verdicts(report) -> dict[str, str]:
    return {f.name: f.verdict.value for f in report.fragments}


def test_issue_verify_revoke(engine, operator) -> None:
    result = service.issue(
        engine, operator, "certificate_of_origin", [coo_record("COO-1"), coo_record("COO-2")], SETTINGS
    )
    first, second = result.documents
    report = service.verify(engine, first, SETTINGS)
    assert report.valid and _verdicts(report) == {"integrity": "VALID", "status": "VALID", "identity": "VALID"}
    assert report.template == "CERTIFICATE_OF_ORIGIN" and report.document_id == "COO-1"
    assert report.data["importer"]["name"] == "Tulip Trading BV"

    service.revoke(engine, operator, "COO-1", "issued in error")
    revoked = service.verify(engine, first, SETTINGS)
    assert not revoked.valid and revoked.fragment("status").verdict.value == "INVALID"
    assert "revoked" in revoked.fragment("status").reason and "issued in error" in revoked.fragment("status").reason
    assert service.verify(engine, second, SETTINGS).valid  # the rest of the batch stands
    with pytest.raises(AlreadyRevokedError):
        service.revoke(engine, operator, first["signature"]["targetHash"], "again")
    service.revoke(engine, operator, result.merkle_root, "batch recalled")
    assert "whole batch" in service.verify(engine, second, SETTINGS).fragment("status").reason

    with engine.connect() as conn:
        actions = {(r.action, r.object_type) for r in conn.execute(select(audit_log))}
    assert {("issue", "document_root"), ("issue", "document_batch"), ("revoke", "document")} <= actions


def test_registry_semantics(engine, operator) -> None:
    registry = LocalRegistry(engine)
    roots = ["aa" * 32, "0x" + "bb" * 32]
    registry.bulk_issue(operator, roots)
    assert registry.is_issued("AA" * 32) and registry.is_issued("bb" * 32) and not registry.is_issued("cc" * 32)
    with pytest.raises(AlreadyIssuedError):
        registry.issue(operator, "aa" * 32)
    assert not registry.is_revoked("aa" * 32)
    registry.revoke(operator, "aa" * 32, "test")
    assert registry.is_revoked("aa" * 32)
    with pytest.raises(DocumentFormatError.__mro__[1], match="64 hexadecimal"):
        registry.issue(operator, "not-a-hash")
    partner = Identity.of("p", "NL", ["partner"])
    with pytest.raises(PermissionDeniedError, match="documents:issue"):
        registry.issue(partner, "dd" * 32)


def test_status_and_identity_verdicts(engine, operator) -> None:
    [document] = service.issue(engine, operator, "coo", [coo_record()], SETTINGS).documents
    # another installation: same document, our store unknown there, and our domain not configured
    elsewhere = DocumentSettings(store_address="0x" + "cd" * 20, identity_domain="other.example", dns_txt={})
    report = service.verify(engine, document, elsewhere)
    assert _verdicts(report) == {"integrity": "VALID", "status": "ERROR", "identity": "INVALID"}
    assert not report.valid and "unknown issuer" in report.fragment("identity").reason
    # a domain that publishes a record for some other store
    lying = SETTINGS.model_copy(
        update={
            "dns_txt": {"customs.nl.example": ["openatts net=ethereum netId=1 addr=0x" + "ef" * 20]},
            "store_address": STORE,
        }
    )
    assert service.verify(engine, document, lying).fragment("identity").verdict.value == "VALID"  # own record kept
    # a root never issued
    [unissued] = service.oa.wrap_documents(
        [
            service.templates.to_openattestation(
                service.templates.get_template("coo"),
                service.templates.validate(service.templates.get_template("coo"), coo_record("COO-X")),
                SETTINGS,
                service.issuer_identity(engine, SETTINGS),
            )
        ]
    )
    assert "never issued" in service.verify(engine, unissued, SETTINGS).fragment("status").reason
    # tampered: integrity INVALID, the others still reported
    tampered = copy.deepcopy(document)
    tampered["data"]["fta"] = tampered["data"]["fta"].replace("test FTA", "other FTA")
    report = service.verify(engine, tampered, SETTINGS)
    assert _verdicts(report) == {"integrity": "INVALID", "status": "VALID", "identity": "VALID"} and not report.valid


def test_real_documents_get_error_not_valid_status(engine) -> None:
    from conftest import shared_data

    report = service.verify(engine, shared_data("oa", "v2_valid_not-obfuscated-wrapped.json").read_bytes(), SETTINGS)
    assert report.fragment("integrity").verdict.value == "VALID"
    assert report.fragment("status").verdict.value == "ERROR" and not report.valid
    configured = SETTINGS.model_copy(
        update={
            "dns_txt": {
                "demo-tradetrust.openattestation.com": [
                    "openatts net=ethereum netId=3 addr=0x8bA63EAB43342AAc3AdBB4B827b68Cf4aAE5Caca"
                ]
            }
        }
    )
    assert (
        service.verify(engine, shared_data("oa", "v2_valid_not-obfuscated-wrapped.json").read_bytes(), configured)
        .fragment("identity")
        .verdict.value
        == "VALID"
    )


def test_bad_input(engine, operator) -> None:
    with pytest.raises(DocumentFormatError, match="line 1, column"):
        service.verify(engine, b'{"version": ', SETTINGS)
    with pytest.raises(DocumentFormatError, match="JSON object"):
        service.verify(engine, b"[1, 2]", SETTINGS)
    with pytest.raises(UploadTooLargeError):
        service.verify(engine, b" " * (SETTINGS.max_upload_bytes + 1), SETTINGS)
    report = service.verify(engine, {"version": "https://example.com/v9"}, SETTINGS)
    assert report.fragment("integrity").verdict.value == "ERROR" and not report.valid
    with pytest.raises(TemplateDataError, match="goods_items.0.hs_code") as info:
        service.issue(
            engine,
            operator,
            "coo",
            [coo_record(goods_items=[{**coo_record()["goods_items"][0], "hs_code": "62A"}])],
            SETTINGS,
        )
    assert info.value.field == "goods_items.0.hs_code"
    with pytest.raises(TemplateDataError, match="unknown document template"):
        service.issue(engine, operator, "passport", [{}], SETTINGS)


def test_other_templates_reuse_the_mechanism(engine, operator) -> None:
    authority = {"name": "Dutch Customs", "country_code": "NL"}
    holder = {"id": "NL200000002", "name": "Tulip Trading BV", "country_code": "NL"}
    cases = {
        "aeo_certificate": {
            "id": "NLAEOF0001",
            "holder": holder,
            "aeo_type": "AEOF",
            "issue_date": "2024-01-01",
            "mutual_recognition": ["US", "JP"],
            "issuing_authority": authority,
        },
        "licence": {
            "id": "LIC-7",
            "licence_kind": "export",
            "regime": "dual-use goods",
            "holder": holder,
            "goods_items": [{"hs_code": "847130", "description": "laptops", "quantity": 10, "quantity_unit": "NAR"}],
            "valid_from": "2025-01-01",
            "valid_until": "2025-12-31",
            "issuing_authority": authority,
        },
        "quality_certificate": {
            "id": "QC-3",
            "certificate_kind": "sustainability",
            "standard": "RSPO SCC",
            "scope": "palm oil supply chain",
            "holder": holder,
            "issue_date": "2025-01-01",
            "issuing_authority": authority,
        },
    }
    for template, record in cases.items():
        [document] = service.issue(engine, operator, template, [record], SETTINGS).documents
        assert service.verify(engine, document, SETTINGS).valid
        assert service.show(engine, operator, record["id"]) == document
    with pytest.raises(TemplateDataError, match="valid_until is before"):
        service.issue(engine, operator, "licence", [{**cases["licence"], "valid_until": "2024-01-01"}], SETTINGS)


def test_obfuscated_document_lists_hidden_fields(engine, operator) -> None:
    [document] = service.issue(engine, operator, "coo", [coo_record()], SETTINGS).documents
    hidden = service.obfuscate(json.dumps(document), ["importer", "consignment.transport_means"])
    report = service.verify(engine, hidden, SETTINGS)
    assert report.valid and report.hidden_field_count == 4
    assert report.hidden_fields == [
        "consignment.transport_means",
        "importer.country_code",
        "importer.id",
        "importer.name",
    ]


def test_verify_many_matches_single_verification(engine, operator) -> None:
    docs = service.issue(engine, operator, "coo", [coo_record(f"C-{i}") for i in range(9)], SETTINGS).documents
    service.revoke(engine, operator, "C-4", "test")
    tampered = copy.deepcopy(docs[7])
    tampered["data"]["id"] = docs[8]["data"]["id"]
    batch = [*docs, tampered, {"version": "nope"}]
    many = service.verify_many(engine, batch, SETTINGS)
    single = [service.verifier(engine, SETTINGS).verify(d) for d in batch]
    assert [_verdicts(r) for r in many] == [_verdicts(r) for r in single]
    assert [r.valid for r in many] == [True] * 4 + [False] + [True] * 4 + [False, False]


# --- declarations ------------------------------------------------------------------------------------------------


def _declaration(**changes) -> Declaration:
    return Declaration.model_validate(sample_declaration(**changes))


def test_origin_check_valid_emits_signals(engine, operator) -> None:
    service.issue(engine, operator, "coo", [coo_record()], SETTINGS)
    declaration = _declaration()
    [check] = service.check_declaration_origin(engine, operator, declaration, settings=SETTINGS)
    assert check.verdict == "valid" and check.goods_item == 2 and check.document_id == "COO-2025-77"
    found = signals.for_declaration(engine, declaration)
    kinds = {(s.kind, s.subject_type.value, s.subject_id) for s in found}
    assert ("documents.origin_certificate_valid", "document", "COO-2025-77") in kinds
    assert ("documents.origin_certificate_valid", "declaration", "LRN-0001") in kinds
    service.check_declaration_origin(engine, operator, declaration, settings=SETTINGS)
    assert len(signals.for_declaration(engine, declaration)) == len(found)  # idempotent


def test_origin_check_mismatch_revoked_missing(engine, operator) -> None:
    record = coo_record(importer={"name": "Someone Else BV", "country_code": "NL"})
    record["goods_items"][0]["origin_country_code"] = "VN"
    service.issue(engine, operator, "coo", [record], SETTINGS)
    [check] = service.check_declaration_origin(engine, operator, _declaration(), settings=SETTINGS)
    assert check.verdict == "mismatch"
    assert any("origin CN declared" in r for r in check.reasons) and any("importer" in r for r in check.reasons)
    assert "importer 'Tulip Trading BV' is not the certificate's importer 'Someone Else BV'" in check.reasons
    assert "signal_reasons" not in check.as_answer()  # the answer (officers) names both parties
    # the signal, which readers without the personal-data permission see, names neither: the declared importer as
    # its token (masked per reader), the certificate's not at all (issue #12, found by review)
    mismatches = [s for s in signals.for_declaration(engine, _declaration()) if s.kind.endswith("mismatch")]
    assert mismatches  # one per subject: the document and the declaration
    for mismatch in mismatches:
        stored = mismatch.reason + json.dumps(mismatch.evidence)
        assert "Tulip" not in stored and "Someone Else" not in stored
        assert "importer {party:NL200000002} is not the certificate's importer" in mismatch.reason
    # in the reader's language, each difference from the evidence's codes (issue #14), the importer still a token
    french = signals.describe(mismatches[0].kind, mismatches[0].evidence, "fr", "")
    assert french == (
        "Le certificat d'origine COO-2025-77 (article 2 de LRN-0001) ne correspond pas à la déclaration : "
        "origine CN déclarée, le certificat atteste VN pour le SH 620342 ; "
        "l'importateur {party:NL200000002} n'est pas celui du certificat"
    )
    masked = signals.ReaderView(masked=True, pseudonymiser=lambda v: "PSEUDO").describe(mismatches[0], "fr")
    assert "NL200000002" not in masked and "l'importateur PSEUDO n'est pas celui du certificat" in masked

    service.revoke(engine, operator, "COO-2025-77", "forged stamp")
    [check] = service.check_declaration_origin(engine, operator, _declaration(), settings=SETTINGS)
    assert check.verdict == "revoked" and "forged stamp" in check.reasons[0]
    revoked = [s for s in signals.for_declaration(engine, _declaration()) if s.kind.endswith("revoked")]
    assert signals.describe(revoked[0].kind, revoked[0].evidence, "fr", "") == (
        "Certificat d'origine COO-2025-77 (article 2 de LRN-0001) : révoqué par son émetteur"
    )

    other = sample_declaration("LRN-2")
    other["additional_documents"][0]["id"] = "COO-NONE"
    other["goods_items"][1]["preference"]["proving_document_id"] = "COO-NONE"
    [check] = service.check_declaration_origin(engine, operator, Declaration.model_validate(other), settings=SETTINGS)
    assert check.verdict == "not_found"
    kinds = {s.kind for s in signals.for_subjects(engine, [("declaration", "LRN-0001"), ("declaration", "LRN-2")])}
    assert {
        "documents.origin_certificate_mismatch",
        "documents.origin_certificate_revoked",
        "documents.origin_certificate_not_found",
    } <= kinds


def test_origin_check_with_presented_tampered_document(engine, operator) -> None:
    [document] = service.issue(engine, operator, "coo", [coo_record()], SETTINGS).documents
    forged = copy.deepcopy(document)
    forged["data"]["goods_items"][0]["hs_code"] = forged["data"]["goods_items"][0]["hs_code"].replace(
        "620342", "847130"
    )
    [check] = service.check_declaration_origin(
        engine, operator, _declaration(), {"COO-2025-77": forged}, settings=SETTINGS
    )
    assert check.verdict == "tampered"


def test_every_documents_setting_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "documents.md").read_text()
    for name in DocumentSettings.model_fields:
        documented = f"`OPENCUSTOMS_DOCUMENTS_{name.upper()}`" in text or f"`_{name.upper()}`" in text
        assert documented, f"OPENCUSTOMS_DOCUMENTS_{name.upper()} is not in docs/documents.md"
