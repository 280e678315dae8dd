"""Hostile documents: every refusal is a 4xx naming the field (or a report that is not valid and names the fragment
and field), never a 500, a traceback or a crash, and never a false VALID.

Each input goes through the service, the public ``POST /documents/verify`` and ``/documents/verify/upload``, the
authenticated ``POST /documents``, the public ``/verify`` page and ``opencustoms documents verify``. Inputs that would
crash the process (100,000 nesting levels) run in a subprocess, so a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from documents_helpers import FIXTURES, SETTINGS, coo_record
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from opencustoms.api import create_app
from opencustoms.config import Settings, get_settings
from opencustoms.context import Platform
from opencustoms.documents import jsoninput, service
from opencustoms.documents.config import DocumentSettings, get_document_settings
from opencustoms.documents.errors import DocumentFormatError, TemplateDataError
from opencustoms.errors import OpenCustomsError
from opencustoms.security import service as security
from opencustoms.security.service import ensure_administration, local_operator
from opencustoms.store.database import init_database, open_database

HOSTILE = Path(__file__).with_name("hostile")
SRC = Path(__file__).resolve().parents[2] / "src"
DEPTH_LIMIT = DocumentSettings().max_depth

# file -> (HTTP status, field the refusal names (a prefix), words of the message); 200 = a report, not valid
RAW: dict[str, tuple[int, str, str]] = {
    "malformed_truncated.json": (422, "document", "malformed JSON"),
    "malformed_trailing_comma.json": (422, "document", "malformed JSON"),
    "empty.json": (422, "document", "malformed JSON"),
    "not_utf8_latin1.json": (422, "document", "not UTF-8"),
    "not_utf8_utf16.json": (422, "document", "not UTF-8"),
    "nul_byte_raw.json": (422, "document", "malformed JSON"),
    "duplicate_key_data.json": (422, "data", "appears twice"),
    "duplicate_key_nested.json": (422, "name", "appears twice"),
    "nan.json": (422, "document", "NaN"),
    "infinity.json": (422, "document", "Infinity"),
    "float_overflow.json": (422, "document", "too large"),
    "huge_int.json": (422, "document", "digits"),
    "bare_array.json": (422, "document", "JSON object"),
    "bare_string.json": (422, "document", "JSON object"),
    "bare_null.json": (422, "document", "JSON object"),
    "deep_65_arrays.json": (422, "data.0.0", f"deeper than {DEPTH_LIMIT} levels"),
    "deep_unterminated.json": (422, "0.0.0", f"deeper than {DEPTH_LIMIT} levels"),
    "brackets_in_strings_only.json": (200, "", "unsupported document version"),
}


def test_every_hostile_file_has_an_expectation() -> None:
    assert {p.name for p in HOSTILE.glob("*.json")} == set(RAW)


# --- documents with wrong JSON types (or wrong case) where the verifier reads them ----------------------------------

DELETE = object()
UUID = "0f4bcd3e-2a1b-4c5d-8e9f-0123456789ab"


def _upper(value: Any) -> Any:
    return [v.upper() for v in value] if isinstance(value, list) else value.upper()


# (case, base document, path, new value or a function of the old one, expected verdicts, words of a reason)
V2_CASES: list[tuple[str, tuple[Any, ...], Any, dict[str, str], str]] = [
    ("data-list", ("data",), [], {"integrity": "INVALID"}, "'data' object"),
    ("data-string", ("data",), "x", {"integrity": "INVALID"}, "'data' object"),
    ("data-number", ("data",), 7, {"integrity": "INVALID"}, "'data' object"),
    ("signature-string", ("signature",), "x", {"integrity": "INVALID"}, "'signature'"),
    ("signature-type-list", ("signature", "type"), ["SHA3MerkleProof"], {"integrity": "INVALID"}, "signature.type"),
    ("privacy-list", ("privacy",), [], {"integrity": "INVALID"}, "privacy must be an object"),
    ("privacy-string", ("privacy",), "x", {"integrity": "INVALID"}, "privacy must be an object"),
    ("obfuscated-string", ("privacy", "obfuscatedData"), "ab" * 32, {"integrity": "INVALID"}, "obfuscatedData"),
    ("obfuscated-numbers", ("privacy", "obfuscatedData"), [1, 2], {"integrity": "INVALID"}, "obfuscatedData"),
    ("obfuscated-upper", ("privacy", "obfuscatedData"), ["AB" * 32], {"integrity": "INVALID"}, "obfuscatedData"),
    ("targetHash-upper", ("signature", "targetHash"), _upper, {"integrity": "INVALID"}, "signature.targetHash"),
    ("targetHash-0x", ("signature", "targetHash"), lambda v: "0x" + v, {"integrity": "INVALID"}, "targetHash"),
    ("targetHash-number", ("signature", "targetHash"), 5, {"integrity": "INVALID"}, "signature.targetHash"),
    ("targetHash-list", ("signature", "targetHash"), lambda v: [v], {"integrity": "INVALID"}, "targetHash"),
    ("merkleRoot-upper", ("signature", "merkleRoot"), _upper, {"integrity": "INVALID"}, "signature.merkleRoot"),
    ("merkleRoot-list", ("signature", "merkleRoot"), lambda v: [v], {"integrity": "INVALID"}, "merkleRoot"),
    ("proof-upper", ("signature", "proof"), _upper, {"integrity": "INVALID"}, "signature.proof"),
    ("proof-object", ("signature", "proof"), {}, {"integrity": "INVALID"}, "signature.proof"),
    ("proof-string", ("signature", "proof"), "x", {"integrity": "INVALID"}, "signature.proof"),
    ("proof-missing", ("signature", "proof"), DELETE, {"integrity": "INVALID"}, "signature.proof"),
    ("proof-numbers", ("signature", "proof"), [1], {"integrity": "INVALID"}, "signature.proof"),
    ("version-null", ("version",), None, {"integrity": "ERROR"}, "unsupported document version"),
    ("version-number", ("version",), 2, {"integrity": "ERROR"}, "unsupported document version"),
    ("version-object", ("version",), {"a": 1}, {"integrity": "ERROR"}, "unsupported document version"),
    ("issuers-string", ("data", "issuers"), "x", {"integrity": "INVALID", "status": "ERROR"}, "names no issuer"),
    ("issuers-strings", ("data", "issuers"), ["x"], {"integrity": "INVALID", "status": "ERROR"}, "names no issuer"),
    (
        "store-list",
        ("data", "issuers", 0, "documentStore"),
        lambda v: [v],
        {"integrity": "INVALID", "status": "ERROR"},
        "data.issuers.0.documentStore",
    ),
    (
        "identityProof-string",
        ("data", "issuers", 0, "identityProof"),
        "x",
        {"integrity": "INVALID", "identity": "ERROR"},
        "data.issuers.0.identityProof",
    ),
    (
        "identity-location-object",
        ("data", "issuers", 0, "identityProof", "location"),
        {"a": 1},
        {"integrity": "INVALID", "identity": "INVALID"},
        "data.issuers.0.identityProof",
    ),
    ("salt-unknown-type", ("data", "fta"), f"{UUID}:bigint:5", {"integrity": "INVALID"}, "tampered"),
    ("salt-number-not-a-number", ("data", "fta"), f"{UUID}:number:abc", {"integrity": "INVALID"}, "tampered"),
    ("salt-number-infinite", ("data", "fta"), f"{UUID}:number:1e999", {"integrity": "INVALID"}, "tampered"),
    ("nul-character", ("data", "fta"), "test\u0000FTA", {"integrity": "INVALID"}, "tampered"),
    ("key-with-dot", ("data", "a.b"), "x", {"integrity": "INVALID"}, "'.'"),
    ("huge-field", ("data", "fta"), "x" * 4_000_000, {"integrity": "INVALID"}, "tampered"),
    ("huge-int", ("data", "fta"), 2**70, {"integrity": "INVALID"}, "larger than JavaScript"),
]

V3_CASES: list[tuple[str, tuple[Any, ...], Any, dict[str, str], str]] = [
    (
        "v3-metadata-string",
        ("openAttestationMetadata",),
        "x",
        {"integrity": "INVALID", "status": "ERROR"},
        "openAttestationMetadata.proof",
    ),
    (
        "v3-metadata-proof-list",
        ("openAttestationMetadata", "proof"),
        [],
        {"integrity": "INVALID", "status": "ERROR"},
        "openAttestationMetadata.proof",
    ),
    (
        "v3-identityProof-string",
        ("openAttestationMetadata", "identityProof"),
        "x",
        {"integrity": "INVALID", "identity": "ERROR"},
        "openAttestationMetadata.identityProof",
    ),
    ("v3-proof-string", ("proof",), "x", {"integrity": "INVALID"}, "'proof' object"),
    ("v3-privacy-string", ("proof", "privacy"), "x", {"integrity": "INVALID"}, "proof.privacy.obfuscated"),
    ("v3-obfuscated-string", ("proof", "privacy", "obfuscated"), "x", {"integrity": "INVALID"}, "obfuscated"),
    ("v3-salts-number", ("proof", "salts"), 5, {"integrity": "INVALID"}, "proof.salts"),
    ("v3-salts-object", ("proof", "salts"), base64.b64encode(b'{"a": 1}').decode(), {"integrity": "INVALID"}, "salts"),
    (
        "v3-salts-deep",
        ("proof", "salts"),
        base64.b64encode(b"[" * 5000 + b"]" * 5000).decode(),
        {"integrity": "INVALID"},
        "deeper than",
    ),
    ("v3-proofs-string", ("proof", "proofs"), "x", {"integrity": "INVALID"}, "proof.proofs"),
    ("v3-targetHash-upper", ("proof", "targetHash"), _upper, {"integrity": "INVALID"}, "proof.targetHash"),
    ("v3-merkleRoot-upper", ("proof", "merkleRoot"), _upper, {"integrity": "INVALID"}, "proof.merkleRoot"),
    ("v3-issuer-string", ("issuer",), "x", {"integrity": "INVALID"}, "tampered"),
    ("v3-huge-int", ("issuanceDate",), 2**70, {"integrity": "INVALID"}, "larger than JavaScript"),
]


def _mutate(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(document)
    node: Any = out
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value(node[path[-1]]) if callable(value) else copy.deepcopy(value)
    return out


def _check_report(report: dict[str, Any], verdicts: dict[str, str], words: str) -> None:
    assert report["valid"] is False
    got = {f["name"]: f["verdict"] for f in report["fragments"]}
    assert {k: got[k] for k in verdicts} == verdicts, report["fragments"]
    reasons = " | ".join(f["reason"] for f in report["fragments"])
    assert words in reasons, reasons
    json.dumps(report, allow_nan=False)  # the API can send it


# --- fixtures --------------------------------------------------------------------------------------------------


@dataclass
class Site:
    engine: Engine
    client: TestClient
    token: dict[str, str]
    issued: dict[str, Any]


@pytest.fixture(scope="module")
def site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One SQLite database, API and dashboard for the module (what these tests send never reaches the database, so
    PostgreSQL would add time, not coverage), with a supervisor's token and a certificate of origin issued in a
    batch of two (so its proof is not empty), valid as it is."""
    folder = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{folder / 'hostile.db'}"
    shutil.copyfile(sqlite_template, folder / "hostile.db")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENCUSTOMS_DOCUMENTS_STORE_ADDRESS", SETTINGS.store_address)
        env.setenv("OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN", SETTINGS.identity_domain)
        env.setenv("OPENCUSTOMS_DOCUMENTS_ISSUER_NAME", SETTINGS.issuer_name)
        get_document_settings.cache_clear()
        engine = init_database(url)
        ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
        operator = local_operator("NL")
        security.create_user(engine, operator, "sue", None, ["supervisor"])
        token = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'sue')}"}
        batch = service.issue(engine, operator, "coo", [coo_record("COO-H-1"), coo_record("COO-H-2")], SETTINGS)
        assert service.verify(engine, batch.documents[0], SETTINGS).valid
        try:
            with TestClient(create_app(Platform(Settings(database_url=url, data_dir=folder)))) as client:
                yield Site(engine, client, token, batch.documents[0])
        finally:
            engine.dispose()
            open_database.cache_clear()
            get_document_settings.cache_clear()


@pytest.fixture
def v3() -> dict[str, Any]:
    return json.loads((FIXTURES / "v3_not-obfuscated-wrapped.json").read_text())


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    monkeypatch.delenv("OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL", raising=False)
    from opencustoms.cli import app

    runner = CliRunner()
    for cache in (get_settings, open_database, get_document_settings):
        cache.cache_clear()
    assert runner.invoke(app, ["init", "--administration", "NL", "--name", "Dutch Customs"]).exit_code == 0
    yield lambda *args: runner.invoke(app, list(args))
    for cache in (get_settings, open_database, get_document_settings):
        cache.cache_clear()


def _csrf(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/verify").text)
    assert match
    return match.group(1)


# --- raw input: refused before or while parsing -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RAW))
def test_hostile_file_through_service_api_upload_issue_and_page(name: str, site: Site) -> None:
    status, field, words = RAW[name]
    raw = (HOSTILE / name).read_bytes()
    engine, client, token = site.engine, site.client, site.token
    if status == 422:
        with pytest.raises(DocumentFormatError) as caught:
            service.verify(engine, raw, SETTINGS)
        assert caught.value.status == 422 and words in caught.value.message
        assert (caught.value.field or "").startswith(field), caught.value.field
    else:
        _check_report(service.verify(engine, raw, SETTINGS).to_dict(), {"integrity": "ERROR"}, words)

    for response in (
        client.post("/documents/verify", content=raw, headers={"content-type": "application/json"}),
        client.post("/documents/verify/upload", files={"file": (name, raw, "application/json")}),
    ):
        assert response.status_code == status, response.text
        if status == 422:
            problem = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert words in problem["detail"] and problem["errors"][0]["field"].startswith(field), problem
        else:
            _check_report(response.json(), {"integrity": "ERROR"}, words)

    # the authenticated issuing route reads its body with the same limits (a parsed but wrong body: 422 too)
    issued = client.post("/documents", content=raw, headers={**token, "content-type": "application/json"})
    assert issued.status_code == 422, issued.text
    assert issued.headers["content-type"] == "application/problem+json"

    page = client.post(
        "/verify", data={"csrf_token": _csrf(client)}, files={"file": (name, raw or b" ", "application/json")}
    )
    assert page.status_code == (status if raw else 422), page.text[:300]
    if status == 422 and raw:
        assert 'id="e-file"' in page.text


def test_hostile_files_through_the_cli(cli) -> None:  # type: ignore[no-untyped-def]
    for name, (status, _, words) in RAW.items():
        result = cli("documents", "verify", str(HOSTILE / name))
        assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exception)
        assert "Traceback" not in result.output
        if status == 422:
            assert result.exit_code == 2, (name, result.output)
            assert words in " ".join(result.output.split()), (name, result.output)
        else:
            assert result.exit_code == 1, (name, result.output)


# --- wrong types inside a document: a report that is not valid and names the fragment and field ----------------


@pytest.mark.parametrize(("case", "path", "value", "verdicts", "words"), V2_CASES, ids=[c[0] for c in V2_CASES])
def test_wrong_types_in_a_v2_document(site: Site, case, path, value, verdicts, words) -> None:  # type: ignore[no-untyped-def]
    engine, client, issued = site.engine, site.client, site.issued
    document = _mutate(issued, path, value)
    _check_report(service.verify(engine, document, SETTINGS).to_dict(), verdicts, words)
    body = json.dumps(document).encode()
    for response in (
        client.post("/documents/verify", content=body, headers={"content-type": "application/json"}),
        client.post("/documents/verify/upload", files={"file": ("doc.json", body, "application/json")}),
    ):
        assert response.status_code == 200, response.text
        _check_report(response.json(), verdicts, words)
    # in a batch, next to the valid document, neither changes the other's verdict
    reports = service.verify_many(engine, [document, issued], SETTINGS)
    assert not reports[0].valid and reports[1].valid


@pytest.mark.parametrize(("case", "path", "value", "verdicts", "words"), V3_CASES, ids=[c[0] for c in V3_CASES])
def test_wrong_types_in_a_v3_document(site: Site, v3, case, path, value, verdicts, words) -> None:  # type: ignore[no-untyped-def]
    document = _mutate(v3, path, value)
    _check_report(service.verify(site.engine, document, SETTINGS).to_dict(), verdicts, words)
    response = site.client.post("/documents/verify", content=json.dumps(document).encode())
    assert response.status_code == 200, response.text
    _check_report(response.json(), verdicts, words)


def test_wrong_types_through_the_cli(cli, site: Site, v3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    issued = site.issued
    for case, path, value, _verdicts, _words in [*V2_CASES, *V3_CASES]:
        if case == "huge-field":
            continue  # the service and API tests cover it; 4 MB through Rich's table is slow and adds nothing
        base = v3 if case.startswith("v3") else issued
        file = tmp_path / f"{case}.json"
        file.write_text(json.dumps(_mutate(base, path, value)))
        result = cli("documents", "verify", str(file))
        assert result.exit_code == 1, (case, result.output, result.exception)
        assert "Traceback" not in result.output and "NOT VALID" in result.output


def test_upper_case_hashes_were_the_only_change(site: Site) -> None:
    engine, issued = site.engine, site.issued
    """Upper-case targetHash / merkleRoot / proof hash to the same bytes, so before the fix such a document was
    VALID; OpenAttestation compares the lower-case hex text and refuses it."""
    for key in ("targetHash", "merkleRoot", "proof"):
        report = service.verify(engine, _mutate(issued, ("signature", key), _upper), SETTINGS)
        assert not report.valid and report.fragment("integrity").verdict.value == "INVALID"
        assert "lower-case" in report.fragment("integrity").reason


def test_a_fuzzed_document_never_crashes_nor_passes(site: Site, v3: dict[str, Any]) -> None:
    engine, issued = site.engine, site.issued
    """Every node (to four levels) of a v2 and a v3 document replaced by values of every JSON type: a report,
    never an exception, and VALID only for the untouched document."""
    values: list[Any] = [[], {}, "x", "ab" * 32, 0, 1.5, None, True, [1], {"a": 1}, ["x"], [{}], [[]], 2**70]

    def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        yield prefix
        if len(prefix) < 4 and isinstance(node, dict):
            for key, child in node.items():
                yield from paths(child, (*prefix, key))
        elif len(prefix) < 4 and isinstance(node, list):
            for index, child in enumerate(node[:2]):
                yield from paths(child, (*prefix, index))

    checker = service.verifier(engine, SETTINGS)
    for base in (issued, v3):
        for path in paths(base):
            if not path:
                continue
            batch = [_mutate(base, path, value) for value in values]
            batch = [d for d in batch if d != base]
            for document, report in zip(batch, checker.verify_many(batch, with_data=True), strict=True):
                assert not report.valid, (path, document)
                json.dumps(report.to_dict(), allow_nan=False)
            for document in batch[:3]:
                assert not checker.verify(document).valid


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("privacy",), [1], "document.privacy"),
        (("privacy",), "x", "document.privacy"),
        (("privacy", "obfuscatedData"), "abc", "document.privacy"),
        (("privacy", "obfuscatedData"), [1], "document.privacy"),
        (("data",), ["x"], "document.data"),
        (("data",), DELETE, "document.data"),
    ],
)
def test_obfuscating_a_document_with_wrong_types(site: Site, path, value, field) -> None:  # type: ignore[no-untyped-def]
    """Hiding fields (public) refuses what it cannot extend, instead of a 500 or a privacy block that no verifier
    reads (e.g. the characters of a string spread into obfuscatedData)."""
    document = _mutate(site.issued, path, value)
    response = site.client.post("/documents/obfuscate", json={"document": document, "fields": ["importer"]})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_obfuscation_of_a_fuzzed_document_never_crashes(site: Site) -> None:
    values: list[Any] = [[], {}, "x", 0, None, True, [1], {"a": 1}, [{}]]
    fields = [["importer"], ["importer.name"], ["goods_items[0].hs_code"], ["goods_items.0"], ["a[99]"], [".."]]

    def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        if prefix:
            yield prefix
        if len(prefix) < 3 and isinstance(node, dict):
            for key, child in node.items():
                yield from paths(child, (*prefix, key))
        elif len(prefix) < 3 and isinstance(node, list):
            for index, child in enumerate(node[:2]):
                yield from paths(child, (*prefix, index))

    for path in paths(site.issued):
        for value in values:
            document = _mutate(site.issued, path, value)
            for hide in fields:
                try:
                    json.dumps(service.obfuscate(document, hide), allow_nan=False)
                except OpenCustomsError as exc:
                    assert exc.status < 500 and exc.field, (path, value, hide, exc)


def test_dashboard_issue_form_with_conflicting_or_deep_field_names(site: Site) -> None:
    """The issuing form's field names become the record's paths: a name used both as a value and as a group, or a
    goods row that is not a group, is refused with the field; a name 100,000 parts deep is refused as too deep."""
    from opencustoms.web.routes.documents import _nest

    for form in (
        {"exporter": "x", "exporter.name": "y"},
        {"exporter.name": "y", "exporter": "x"},
        {"goods_items": "x"},
        {"goods_items.0": "x"},
    ):
        with pytest.raises(TemplateDataError) as caught:
            _nest(form)
        assert caught.value.field
    deep = _nest({"exporter." + ".".join(["a"] * 100_000): "x", "goods_items.0.hs_code": "620342"})
    with pytest.raises(DocumentFormatError, match="deeper than") as refused:
        service.issue(site.engine, local_operator("NL"), "coo", [deep], SETTINGS)
    assert refused.value.field.startswith("0.exporter.a.a")


# --- size and depth -----------------------------------------------------------------------------------------------


def test_depth_scan_counts_brackets_outside_strings_only() -> None:
    from opencustoms.jsondepth import nesting_depth

    assert nesting_depth(b'{"a": [1, {"b": "[[[{{{"}], "c": "\\"[["}') == 3
    assert nesting_depth(b"[" * 64 + b"]" * 64) == 64
    jsoninput.check_raw_depth(b"[" * 64 + b"]" * 64, 64)
    with pytest.raises(DocumentFormatError, match="deeper than 64 levels") as caught:
        jsoninput.check_raw_depth(b'{"data": {"x": [' + b"[" * 70, 64)
    assert caught.value.field == "data.x.0.0.0.0.0.0.0.0.0.0 …"
    with pytest.raises(DocumentFormatError) as caught:
        jsoninput.check_value_depth({"a": [[[{"b": [[]]}]]]}, 5)
    assert caught.value.field == "a.0.0.0.b"
    jsoninput.check_value_depth({"a": [[[{"b": []}]]]}, 6)
    # an unterminated string cannot make the scan quadratic: it ends the scan
    assert nesting_depth(b'["' + b'\\"' * 100_000) == 1


def test_the_depth_limit_is_a_setting(site: Site) -> None:
    engine, issued = site.engine, site.issued
    shallow = SETTINGS.model_copy(update={"max_depth": 8})
    deep = {"version": "https://schema.openattestation.com/2.0/schema.json", "data": {"a": [[[[[[[[1]]]]]]]]}}
    with pytest.raises(DocumentFormatError, match="deeper than 8 levels"):
        service.verify(engine, json.dumps(deep), shallow)
    with pytest.raises(DocumentFormatError, match="deeper than 8 levels"):
        service.verify(engine, deep, shallow)  # already parsed: measured too
    report = service.verifier(engine, shallow).verify(deep)  # the verifier measures it before walking it
    assert report.fragment("integrity").verdict.value == "ERROR" and "deeper than 8" in report.fragments[0].reason
    assert service.verify(engine, issued, shallow).valid
    with pytest.raises(ValueError, match="max_depth"):
        DocumentSettings(max_depth=100_000)


def test_too_large_is_413_everywhere(site: Site) -> None:
    client, token = site.client, site.token
    limit = get_document_settings().max_upload_bytes
    big = b'{"data": "' + b"x" * limit + b'"}'
    assert client.post("/documents/verify", content=big).status_code == 413
    assert client.post("/documents/verify/upload", files={"file": ("big.json", big)}).status_code == 413
    assert client.post("/documents/obfuscate", content=big).status_code == 413
    # issuing has its own, larger limit (10,000 records of about 1 KB)
    padded = json.dumps({"template": "coo", "records": [coo_record("COO-H-BIG")]}).encode() + b" " * limit
    assert client.post("/documents", content=padded, headers=token).status_code == 201
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENCUSTOMS_DOCUMENTS_MAX_ISSUE_BYTES", str(limit))
        get_document_settings.cache_clear()
        refused = client.post("/documents", content=padded, headers=token)
    get_document_settings.cache_clear()
    assert refused.status_code == 413 and "OPENCUSTOMS_DOCUMENTS_MAX_ISSUE_BYTES" in refused.json()["detail"]


def test_issuing_records_with_hostile_values(site: Site) -> None:
    client, token = site.client, site.token
    headers = {**token, "content-type": "application/json"}
    record = json.dumps(coo_record("COO-H-9"))
    cases = {
        b'{"template": "coo", "records": [' + record.encode() + b"]}": 201,
        b'{"template": "coo", "records": "x"}': 422,
        b'{"template": "coo", "records": ["x"]}': 422,
        b'{"template": 5, "records": [{}]}': 422,
        b'{"template": "coo", "template": "aeo", "records": [{}]}': 422,
        b'{"template": "coo", "records": [{"id": NaN}]}': 422,
        b'{"template": "coo", "records": [{"id": "caf\xe9"}]}': 422,
        b'{"template": "coo", "records": [' + b"[" * 100 + b"]" * 100 + b"]}": 422,
        b'{"template": "coo", "records": [{"exporter": ' + b'{"a": ' * 70 + b"1" + b"}" * 70 + b"}]}": 422,
    }
    for body, status in cases.items():
        response = client.post("/documents", content=body, headers=headers)
        assert response.status_code == status, (body[:80], response.text)
        if status == 422:
            assert response.json()["errors"][0]["field"], response.text
    obfuscated = client.post("/documents/obfuscate", content=b'{"document": "x", "fields": ["a"]}')
    assert obfuscated.status_code == 422 and obfuscated.json()["errors"][0]["field"] == "document"
    origin = client.post("/documents/origin-checks/LRN-X", content=b"[" * 100, headers=headers)
    assert origin.status_code == 422, origin.text
    for route in ("/documents/revoke", "/documents/evm-sync"):
        deep = client.post(route, content=b"[" * 5000 + b"]" * 5000, headers=headers)
        assert deep.status_code == 422 and "deeper than" in deep.json()["detail"], deep.text
        assert client.post(route, content=b'{"hash": NaN}', headers=headers).status_code == 422
        assert client.post(route, content=b"[" * 100_000, headers=headers).status_code == 413
    typed = client.post("/documents/revoke", json={"target": ["x"], "reason": "r"}, headers=headers)
    assert typed.status_code == 422 and typed.json()["errors"][0]["field"] == "target"


def test_pasted_text_on_the_verify_page(site: Site) -> None:
    client = site.client
    token = _csrf(client)
    for content in ("{" + '"a":{' * 5000, "[" * 5000, '{"type": "DOCUMENT", "payload": ' + "[" * 5000):
        page = client.post("/verify", data={"csrf_token": token, "content": content[:19_000]})
        assert page.status_code == 422 and 'id="e-content"' in page.text and "nested far more deeply" in page.text
    # the public page says it in the holder's words (the API and the CLI name NaN, the parser's place...)
    page = client.post("/verify", data={"csrf_token": token, "content": '{"version": 1, "a": NaN}'})
    assert page.status_code == 422 and "not a readable OpenAttestation document (JSON)" in page.text


# --- the process: 100,000 levels, and the recursion limit ---------------------------------------------------------

DEEP_SCRIPT = """
import json, pathlib, sys, tempfile
sys.setrecursionlimit(100_000)  # as py_ecc left it: the refusal must come before any recursion
from fastapi.testclient import TestClient
from opencustoms.api import create_app
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.documents import service
from opencustoms.errors import OpenCustomsError
from opencustoms.security import service as security
from opencustoms.store.database import init_database
from opencustoms.security.service import ensure_administration

folder = pathlib.Path(tempfile.mkdtemp())
url = f"sqlite:///{folder / 'deep.db'}"
engine = init_database(url)
ensure_administration(engine, "NL", "Dutch Customs", "NL")
operator = security.local_operator("NL")
security.create_user(engine, operator, "sue", None, ["supervisor"])
token = {"Authorization": "Bearer " + security.issue_token(engine, operator, "sue")}
n = 100_000
bodies = {
    "arrays": b"[" * n + b"]" * n,
    "objects": b'{"a":' * n + b"1" + b"}" * n,
    "in-data": b'{"version":"https://schema.openattestation.com/2.0/schema.json","data":' + b'{"a":' * n,
}
out = {}
with TestClient(create_app(Platform(Settings(database_url=url, data_dir=folder)))) as client:
    csrf = client.get("/verify").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    for name, body in bodies.items():
        try:
            service.verify(engine, body)
            out[name + " service"] = "accepted"
        except OpenCustomsError as exc:
            out[name + " service"] = [exc.status, exc.field]
        for route, kwargs in (
            ("/documents/verify", {"content": body}),
            ("/documents/verify/upload", {"files": {"file": ("deep.json", body)}}),
            ("/documents", {"content": body, "headers": token}),
            ("/documents/obfuscate", {"content": body}),
            ("/documents/origin-checks/LRN-1", {"content": body, "headers": token}),
            ("/verify", {"data": {"csrf_token": csrf}, "files": {"file": ("deep.json", body)}}),
        ):
            response = client.post(route, **kwargs)
            field = response.json()["errors"][0]["field"] if route != "/verify" else None
            out[name + " " + route] = [response.status_code, field]
print(json.dumps(out))
"""


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OPENCUSTOMS_DATA_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )


def test_100000_levels_are_refused_not_crashing_the_process(tmp_path: Path) -> None:
    done = _run(DEEP_SCRIPT, tmp_path)
    assert done.returncode == 0, f"exit {done.returncode} (139 = segfault): {done.stderr[-2000:]}"
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == 21
    for what, (status, field) in results.items():
        assert status == 422, (what, status)
        assert what.endswith("/verify") or field, (what, field)


def test_100000_levels_in_the_cli_exit_2_without_a_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "OPENCUSTOMS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "OPENCUSTOMS_DATA_DIR": str(tmp_path / "var"),
    }
    command = [sys.executable, "-c", "from opencustoms.cli import app; app(prog_name='opencustoms')"]
    init = [*command, "init", "--administration", "NL", "--name", "Dutch Customs"]
    assert subprocess.run(init, env=env, cwd=tmp_path, capture_output=True, timeout=300, check=False).returncode == 0
    for args in (["documents", "verify", str(deep)], ["documents", "verify", "--qr", str(deep)]):
        done = subprocess.run(
            [*command, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 2, f"exit {done.returncode} (139 = segfault): {done.stderr[-2000:]}"
        assert "deeper than" in done.stderr and "Traceback" not in done.stderr + done.stdout
    issue = [*command, "documents", "issue", "coo", str(deep), "--out", str(tmp_path / "out")]
    done = subprocess.run(issue, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2 and "deeper than" in done.stderr and "Traceback" not in done.stderr


LIMIT_SCRIPT = """
import importlib, json, pkgutil, sys, tempfile
import opencustoms
before = sys.getrecursionlimit()
changed, missing = [], []
for module in pkgutil.walk_packages(opencustoms.__path__, "opencustoms.", onerror=missing.append):
    if module.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(module.name)
    except ImportError as exc:  # an optional dependency not installed here
        missing.append(f"{module.name}: {exc}")
    if sys.getrecursionlimit() != before:
        changed.append(module.name)
        sys.setrecursionlimit(before)

# the EVM feature: a configured store on a node that does not answer (web3 is imported, status is ERROR)
from opencustoms.documents import service
from opencustoms.documents.config import DocumentSettings
from opencustoms.security.service import ensure_administration, local_operator
from opencustoms.store.database import init_database
store = "0x" + "ab" * 20
settings = DocumentSettings(store_address=store, evm_rpc_url="http://127.0.0.1:9", evm_stores=[store], evm_timeout_s=1)
engine = init_database(f"sqlite:///{tempfile.mkdtemp()}/limit.db")
ensure_administration(engine, "NL", "Dutch Customs", "NL")
local = settings.model_copy(update={"evm_rpc_url": None, "evm_stores": []})
issued = service.issue(engine, local_operator("NL"), "coo", [RECORD], local)
report = service.verify(engine, issued.documents[0], settings)
used = {"web3": "web3" in sys.modules, "status": report.fragment("status").verdict.value}
if sys.getrecursionlimit() != before:
    changed.append("EVM status read")
    sys.setrecursionlimit(before)

# and on an in-process chain, when eth-tester is installed: deploy, issue, verify
try:
    from opencustoms.evm import recursion_limit_kept
    with recursion_limit_kept():  # the test's own import of the tester backend (py-evm raises the limit too)
        from web3 import EthereumTesterProvider, Web3
        w3 = Web3(EthereumTesterProvider())
except ImportError:
    w3 = None
if w3 is not None:
    from opencustoms.documents.evm import EvmDocumentStore
    chain = EvmDocumentStore.deploy(w3, "test")
    chain.issue(issued.merkle_root)
    used["chain"] = service.verify(engine, issued.documents[0], settings, stores={store: chain}).valid
    if sys.getrecursionlimit() != before:
        changed.append("EVM on eth-tester")
print(json.dumps({"before": before, "changed": changed, "used": used, "missing": missing}))
"""


def test_no_import_and_no_evm_use_changes_the_recursion_limit(tmp_path: Path) -> None:
    script = LIMIT_SCRIPT.replace("RECORD", repr(coo_record()))
    done = _run(script, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["changed"] == [], result
    assert result["used"]["web3"] and result["used"]["status"] == "ERROR", result
    assert result["used"].get("chain", True) is True, result
