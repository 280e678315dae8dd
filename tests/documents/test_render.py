"""Paper: QR round trip (generate → PNG → decode with zxing-cpp → verify), printable HTML and PDF."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from documents_helpers import SETTINGS, coo_record
from PIL import Image

from opencustoms.documents import render, service
from opencustoms.documents.errors import DocumentFormatError, DocumentNotFoundError


def test_qr_round_trip(engine, operator) -> None:
    [document] = service.issue(engine, operator, "coo", [coo_record()], SETTINGS).documents
    content = render.qr_payload(document, SETTINGS.verify_url)
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(render.qr_png(content))))
    assert decoded.text == content and content.startswith(SETTINGS.verify_url + "?q=")
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


def test_printable_html_and_pdf(engine, operator) -> None:
    record = coo_record(remarks="<script>alert(1)</script>")
    [document] = service.issue(engine, operator, "coo", [record], SETTINGS).documents
    html = service.render_html(document, SETTINGS)
    assert "Certificate of origin COO-2025-77" in html and "data:image/png;base64," in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "Tulip Trading BV" in html and document["signature"]["targetHash"] in html
    pdf = service.render_pdf(document, SETTINGS)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 2000
