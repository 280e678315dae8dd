"""Paper: a printable HTML view and a PDF of a wrapped document, each carrying a QR code whose content is the
verification link (``<verify_url>?q=<payload>``), and reading that content back."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
from typing import Any

import qrcode
from fpdf import FPDF
from jinja2 import Environment, select_autoescape

from opencustoms.documents import jsoninput
from opencustoms.documents import openattestation as oa
from opencustoms.documents.errors import DocumentFormatError
from opencustoms.documents.templates import TEMPLATES

QR_TYPE = "DOCUMENT"


def qr_payload(document: dict[str, Any], verify_url: str) -> str:
    """The QR content: the public verification link with the document's hashes and store in ``q``."""
    integrity = oa.verify_integrity(document)
    data = oa.document_data(document)
    issuers = data.get("issuers") or [{}]
    payload = {
        "type": QR_TYPE,
        "payload": {
            "targetHash": integrity.target_hash,
            "merkleRoot": integrity.merkle_root,
            "documentStore": issuers[0].get("documentStore"),
            "id": data.get("id"),
        },
    }
    return verify_url + "?q=" + urllib.parse.quote(json.dumps(payload, separators=(",", ":")), safe="")


def parse_qr(content: str) -> dict[str, Any]:
    """The payload inside QR content: a verification link, its ``q`` value, or the JSON itself."""
    text = content.strip()
    if text.startswith(("http://", "https://")):
        values = urllib.parse.parse_qs(urllib.parse.urlsplit(text).query).get("q")
        if not values:
            raise DocumentFormatError(
                "the link carries no 'q' parameter; it is not an OpenCustoms verification link", field="q"
            )
        text = values[0]
    elif text.startswith("%7B"):
        text = urllib.parse.unquote(text)
    try:
        parsed = jsoninput.loads(text, what="the QR content")
    except DocumentFormatError as exc:
        raise type(exc)(f"the QR content is not a verification payload: {exc.message}", field="q") from exc
    payload = parsed.get("payload") if isinstance(parsed, dict) and parsed.get("type") == QR_TYPE else None
    if not isinstance(payload, dict) or not isinstance(payload.get("targetHash"), str):
        raise DocumentFormatError("the QR payload has no DOCUMENT payload with a targetHash", field="q")
    return payload


def qr_png(content: str, box_size: int = 6) -> bytes:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(content)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def _title(data: dict[str, Any]) -> str:
    template = data.get("$template") or {}
    known = TEMPLATES.get(str(template.get("name"))) if isinstance(template, dict) else None
    return known.title if known else "OpenAttestation document"


def _rows(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Readable (label, value) lines: nested fields joined with ' › ', the envelope left out."""
    rows: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if not prefix and key in ("$template", "issuers"):
                continue
            label = f"{prefix} › {key.replace('_', ' ')}" if prefix else key.replace("_", " ")
            rows += _rows(value, label)
    elif isinstance(data, list):
        for index, value in enumerate(data, 1):
            rows += _rows(value, f"{prefix} {index}")
    else:
        rows.append((prefix, oa.js_string(data)))
    return rows


_HTML = Environment(autoescape=select_autoescape(default=True)).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} {{ number }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.4rem;margin-bottom:.2rem} .issuer{color:#444;margin-top:0}
table{border-collapse:collapse;width:100%} td{border-bottom:1px solid #ddd;padding:.25rem .4rem;vertical-align:top}
td.k{color:#555;width:40%} .qr{float:right;margin-left:1rem;text-align:center;font-size:.75rem}
.hash{font-family:monospace;font-size:.7rem;word-break:break-all;color:#555}
@media print{body{margin:0} a{color:inherit;text-decoration:none}}
</style></head><body>
<div class="qr"><img alt="verification QR code" width="180" height="180" src="data:image/png;base64,{{ qr }}"><br>
Scan to verify</div>
<h1>{{ title }} {{ number }}</h1>
<p class="issuer">Issued by {{ issuer }}{% if domain %} ({{ domain }}){% endif %}</p>
<table>{% for k, v in rows %}<tr><td class="k">{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>
{% if hidden %}<p>{{ hidden }} field(s) hidden by the holder (selective disclosure).</p>{% endif %}
<p class="hash">targetHash {{ target }}<br>merkleRoot {{ root }}<br>store {{ store }}</p>
<p class="hash">Verify at <a href="{{ link }}">{{ verify_url }}</a> or upload the .json file.</p>
</body></html>
""")


def _context(document: dict[str, Any], verify_url: str) -> dict[str, Any]:
    data = oa.document_data(document)
    issuer = (data.get("issuers") or [{}])[0]
    integrity = oa.verify_integrity(document)
    link = qr_payload(document, verify_url)
    return {
        "title": _title(data),
        "number": data.get("id") or "",
        "issuer": issuer.get("name") or "",
        "domain": (issuer.get("identityProof") or {}).get("location"),
        "rows": _rows(data),
        "hidden": integrity.obfuscated_fields,
        "target": integrity.target_hash,
        "root": integrity.merkle_root,
        "store": issuer.get("documentStore") or "",
        "link": link,
        "verify_url": verify_url,
    }


def render_html(document: dict[str, Any], verify_url: str) -> str:
    """A printable page (browser print → paper) with the QR code inline."""
    if oa.detect_version(document) != "2.0":
        raise DocumentFormatError("printing is available for OpenAttestation v2 documents", field="version")
    context = _context(document, verify_url)
    context["qr"] = base64.b64encode(qr_png(context["link"])).decode()
    return _HTML.render(**context)


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def render_pdf(document: dict[str, Any], verify_url: str) -> bytes:
    """An A4 PDF with the fields and the QR code (core fonts: characters outside Latin-1 print as '?')."""
    if oa.detect_version(document) != "2.0":
        raise DocumentFormatError("printing is available for OpenAttestation v2 documents", field="version")
    context = _context(document, verify_url)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.image(io.BytesIO(qr_png(context["link"], box_size=8)), x=150, y=10, w=50, h=50)
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(135, 8, _latin1(f"{context['title']} {context['number']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    issued_by = f"Issued by {context['issuer']}" + (f" ({context['domain']})" if context["domain"] else "")
    pdf.multi_cell(135, 6, _latin1(issued_by), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), 64))
    for label, value in context["rows"]:
        pdf.set_font("Helvetica", "", 9)
        y = pdf.get_y()
        pdf.multi_cell(70, 5, _latin1(label), new_x="RIGHT", new_y="TOP")
        pdf.set_xy(80, y)
        pdf.multi_cell(0, 5, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    if context["hidden"]:
        pdf.multi_cell(0, 6, f"{context['hidden']} field(s) hidden by the holder.", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", "", 7)
    pdf.multi_cell(
        0,
        4,
        f"targetHash {context['target']}\nmerkleRoot {context['root']}\nstore {context['store']}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
