"""Paper: QR round trip (generate → PNG → decode with zxing-cpp → verify), the certificate page (HTML, EN/FR), the
PDF, the .json file."""

from __future__ import annotations

import io
import json
import re
import urllib.parse
import zlib

import pytest
import zxingcpp
from documents_helpers import SETTINGS, coo_record
from PIL import Image

from opencustoms.documents import render, service
from opencustoms.documents.errors import DocumentFormatError, DocumentNotFoundError

PUBLIC = "https://customs.nl.example"


def test_qr_round_trip(engine, operator) -> None:
    [document] = service.issue(engine, operator, "coo", [coo_record()], SETTINGS).documents
    content = render.qr_payload(document, PUBLIC + "/")
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(render.qr_png(content))))
    assert decoded.text == content
    link = urllib.parse.urlsplit(decoded.text)
    assert (link.scheme, link.netloc, link.path) == ("https", "customs.nl.example", "/verify")  # the public page
    payload = json.loads(urllib.parse.parse_qs(link.query)["q"][0])
    assert payload["type"] == "DOCUMENT" and payload["payload"]["targetHash"] == document["signature"]["targetHash"]
    report = service.verify_qr(engine, decoded.text, SETTINGS)
    assert report.valid and report.document_id == "COO-2025-77"
    service.revoke(engine, operator, "COO-2025-77", "cancelled")
    assert not service.verify_qr(engine, decoded.text, SETTINGS).valid


def test_qr_content_that_points_nowhere(engine) -> None:
    with pytest.raises(DocumentNotFoundError, match="forged"):
        service.verify_qr(engine, '{"type":"DOCUMENT","payload":{"targetHash":"' + "ab" * 32 + '"}}', SETTINGS)
    with pytest.raises(DocumentFormatError, match="no 'q' parameter"):
        service.verify_qr(engine, "https://example.com/verify", SETTINGS)
    with pytest.raises(DocumentFormatError):
        service.verify_qr(engine, "hello", SETTINGS)


def test_public_url_comes_from_the_settings_else_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from opencustoms.config import Settings

    assert service.public_base_url(Settings(public_url="https://douane.example/oc/"), "http://x/") == (
        "https://douane.example/oc"
    )
    assert service.public_base_url(Settings(), "http://10.0.0.5:8000/") == "http://10.0.0.5:8000"
    assert service.public_base_url(Settings(host="0.0.0.0", port=9000)) == "http://0.0.0.0:9000"
    with pytest.raises(ValueError, match="OPENCUSTOMS_PUBLIC_URL"):
        Settings(public_url="customs.example/verify")


def test_certificate_page_lays_out_the_fields(engine, operator) -> None:
    record = coo_record(remarks="<script>alert(1)</script>")
    [document] = service.issue(engine, operator, "coo", [record], SETTINGS).documents
    html = service.render_html(document, PUBLIC, downloads={"pdf": "/x.pdf", "json": "/x.json"})
    assert "<h1>Certificate of origin</h1>" in html and 'data-field="number">COO-2025-77<' in html
    assert 'data-field="issuer">Dutch Customs<' in html and 'data-field="identity">customs.nl.example<' in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    exporter = re.search(r'data-party="exporter"><h2>Exporter</h2><p>(.*?)</p>', html)
    assert exporter and exporter.group(1) == "Shenzhen Widgets Ltd<br>1 Keji Road<br>Shenzhen, CN<br>CN300000003"
    assert 'data-party="importer"><h2>Consignee (importer)</h2>' in html
    assert '<th scope="col">HS code</th>' in html and 'data-field="hs_code">620342<' in html
    assert 'data-field="quantity">500 NAR<' in html and 'data-field="origin_criterion">PSR<' in html
    assert "<strong>PSR</strong> product-specific rule" in html  # the criterion spelled out
    assert "EVER GIVEN" in html and "CCPIT Shenzhen" in html
    assert document["signature"]["targetHash"] in html and "https://customs.nl.example/verify?q=" in html
    assert 'href="/x.pdf"' in html and 'href="/x.json"' in html
    french = service.render_html(document, PUBLIC, "fr")
    assert '<html lang="fr">' in french and "<h1>Certificat d&#39;origine</h1>" in french
    assert "Destinataire (importateur)" in french and "règle spécifique au produit" in french


def test_hidden_fields_are_absent_from_the_certificate(engine, operator) -> None:
    [document] = service.issue(engine, operator, "coo", [coo_record()], SETTINGS).documents
    shared = service.obfuscate(document, ["importer", "consignment.transport_means"])
    html = service.render_html(shared, PUBLIC)
    assert "Tulip Trading BV" not in html and "EVER GIVEN" not in html and 'data-party="exporter"' in html
    assert "field(s) hidden by the holder" in html


def test_labels_exist_in_every_language() -> None:
    words = render.labels()
    assert set(words) == set(render.LANGUAGES) and set(words["en"]) == set(words["fr"])
    assert all(value.strip() for table in words.values() for value in table.values())


def _pdf_text(pdf: bytes) -> str:
    """The PDF's page content (its streams inflated)."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(out)


def test_certificate_pdf(engine, operator) -> None:
    [document] = service.issue(engine, operator, "coo", [coo_record()], SETTINGS).documents
    pdf = service.render_pdf(document, PUBLIC, "fr")
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf)
    for expected in ("Certificat d'origine", "N\xb0 COO-2025-77", "Dutch Customs", "Shenzhen Widgets Ltd", "620342"):
        assert expected.replace("\\xb0", "\xb0") in text.replace("\\'", "'"), expected
    assert b"/URI (https://customs.nl.example/verify?q=" in pdf  # the verification link, as on the QR code
    assert b"/Subtype /Image" in pdf  # the QR code


def test_json_download_is_the_wrapped_document(engine, operator) -> None:
    [document] = service.issue(engine, operator, "coo", [coo_record("COO/2025/77")], SETTINGS).documents
    assert json.loads(service.export_json(document)) == document
    assert service.download_name(document, ".json") == "COO_2025_77.json"
