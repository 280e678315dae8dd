"""Paper: a certificate page (HTML with print CSS) and an A4 PDF of a wrapped document, laid out from the template's
fields (title, issuer, parties, goods table with origin criteria, issuing authority, verification block), each carrying
a QR code whose content is the public verification link (``<public_url>/verify?q=<payload>``), and reading that
content back. Labels are in English or French (``print/labels.json``)."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from opencustoms.documents import jsoninput
from opencustoms.documents import openattestation as oa
from opencustoms.documents.errors import DocumentFormatError

QR_TYPE = "DOCUMENT"
VERIFY_PATH = "/verify"  # the public verification page (no account needed)
PRINT_DIR = Path(__file__).with_name("print")
LANGUAGES = ("en", "fr")


def verify_page(public_url: str) -> str:
    """The public verification page of an installation reached at ``public_url``."""
    return public_url.rstrip("/") + VERIFY_PATH


def qr_payload(document: dict[str, Any], public_url: str) -> str:
    """The QR content: the public verification page (``<public_url>/verify``) with the document's hashes and store
    in ``q``; the page verifies the document issued under that targetHash."""
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
    query = urllib.parse.quote(json.dumps(payload, separators=(",", ":")), safe="")
    return verify_page(public_url) + "?q=" + query


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
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(content)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=1)
def labels() -> dict[str, dict[str, str]]:
    """The certificate's labels per language (``print/labels.json``)."""
    loaded: dict[str, dict[str, str]] = json.loads((PRINT_DIR / "labels.json").read_text(encoding="utf-8"))
    return loaded


def _language(lang: str) -> str:
    return lang if lang in LANGUAGES else "en"


_PARTIES = ("exporter", "producer", "importer", "holder", "counterparty")
_CONSIGNMENT = (
    "transport_mode_code",
    "transport_means",
    "departure_date",
    "loading_location",
    "unloading_location",
    "destination_country_code",
    "invoice_number",
)
_GOODS = (
    "sequence_number",
    "description",
    "hs_code",
    "quantity",
    "gross_mass_kg",
    "origin_country_code",
    "origin_criterion",
    "marks_and_numbers",
)
_DETAILS = (
    "aeo_type",
    "licence_kind",
    "regime",
    "certificate_kind",
    "standard",
    "scope",
    "valid_from",
    "valid_until",
    "mutual_recognition",
    "conditions",
    "remarks",
)
_AUTHORITY = ("name", "place", "country_code", "officer")
_LAID_OUT = {"$template", "issuers", "id", "issue_date", "fta", "consignment", "goods_items", "issuing_authority"}
_LAID_OUT |= set(_PARTIES) | set(_DETAILS)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return oa.js_string(value) if not isinstance(value, str) else value


def _party(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [_text(value)] if value not in (None, "") else []
    city = ", ".join(_text(value[k]) for k in ("city_name", "country_code") if value.get(k))
    lines = [_text(value[k]) for k in ("name", "address_line") if value.get(k)]
    if city:
        lines.append(city)
    if value.get("id"):
        lines.append(_text(value["id"]))
    return lines


def _rows(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Readable (label, value) lines for fields no block lays out: nested fields joined with ' › '."""
    rows: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            label = f"{prefix} › {key.replace('_', ' ')}" if prefix else key.replace("_", " ")
            rows += _rows(value, label)
    elif isinstance(data, list):
        for index, value in enumerate(data, 1):
            rows += _rows(value, f"{prefix} {index}")
    else:
        rows.append((prefix, oa.js_string(data)))
    return rows


def certificate(document: dict[str, Any], public_url: str, lang: str = "en") -> dict[str, Any]:
    """The certificate as the page and the PDF lay it out: labelled blocks in ``lang`` (en, fr), fields the
    holder hid simply absent, fields of no block listed under "other fields"."""
    if oa.detect_version(document) != "2.0":
        raise DocumentFormatError("printing is available for OpenAttestation v2 documents", field="version")
    lang = _language(lang)
    words = labels()[lang]
    data = oa.document_data(document)
    issuers = data.get("issuers")
    issuer = _object(issuers[0]) if isinstance(issuers, list) and issuers else {}
    proof = _object(issuer.get("identityProof"))
    template = _object(data.get("$template"))
    name = str(template.get("name") or "")
    integrity = oa.verify_integrity(document)
    goods_items = [g for g in data.get("goods_items") or [] if isinstance(g, dict)]
    columns = [k for k in _GOODS if any(k in g for g in goods_items)]
    goods_rows = [  # the quantity with its unit
        [
            (
                k,
                (
                    f"{_text(g[k])} {_text(g.get('quantity_unit', ''))}".strip()
                    if k == "quantity" and k in g
                    else _text(g[k])
                    if k in g
                    else ""
                ),
            )
            for k in columns
        ]
        for g in goods_items
    ]
    criteria = sorted({str(g["origin_criterion"]) for g in goods_items if g.get("origin_criterion")})
    consignment = _object(data.get("consignment"))
    authority = _object(data.get("issuing_authority"))
    link = qr_payload(document, public_url)
    return {
        "lang": lang,
        "title": words.get(name, words["DOCUMENT"]),
        "template": name,
        "number": _text(data.get("id", "")),
        "fta": _text(data["fta"]) if data.get("fta") else "",
        "issue_date": _text(data["issue_date"]) if data.get("issue_date") else "",
        "issuer": {
            "name": _text(issuer.get("name") or ""),
            "domain": _text(proof.get("location") or ""),
            "store": _text(issuer.get("documentStore") or issuer.get("certificateStore") or ""),
        },
        "parties": [(k, words[k], _party(data[k])) for k in _PARTIES if data.get(k)],
        "consignment": [
            (words[k], _text(consignment[k])) for k in _CONSIGNMENT if consignment.get(k) not in (None, "")
        ],
        "goods": {"columns": [(k, words[k]) for k in columns], "rows": goods_rows} if goods_items else None,
        "criteria": [(c, words.get(c, c)) for c in criteria],
        "details": [(words[k], _text(data[k])) for k in _DETAILS if data.get(k) not in (None, "", [])],
        "other": _rows({k: v for k, v in data.items() if k not in _LAID_OUT}),
        "authority": [
            (words["authority_name"] if k == "name" else words[k], _text(authority[k]))
            for k in _AUTHORITY
            if authority.get(k)
        ],
        "hidden": integrity.obfuscated_fields,
        "target": integrity.target_hash,
        "root": integrity.merkle_root,
        "link": link,
        "verify_page": verify_page(public_url),
    }


@lru_cache(maxsize=1)
def _pages() -> Environment:
    return Environment(loader=FileSystemLoader(PRINT_DIR), autoescape=select_autoescape(default=True))


def render_html(
    document: dict[str, Any], public_url: str, lang: str = "en", downloads: dict[str, str] | None = None
) -> str:
    """The certificate page (browser print → A4 paper) with the QR code inline; ``downloads`` maps "pdf" and
    "json" to links shown above the sheet on screen (hidden when printed)."""
    context = certificate(document, public_url, lang)
    words = labels()[context["lang"]]
    context["qr"] = base64.b64encode(qr_png(context["link"])).decode()
    context["downloads"] = [(words[f"download_{k}"], href) for k, href in (downloads or {}).items()]
    return _pages().get_template("certificate.html").render(c=context, L=words, lang=context["lang"])


def _latin1(text: str) -> str:
    """Core PDF fonts cover Latin-1 (French included); other characters print as '?'."""
    return text.replace("›", ">").replace("’", "'").encode("latin-1", "replace").decode("latin-1")


NAVY = (31, 59, 87)


def render_pdf(document: dict[str, Any], public_url: str, lang: str = "en") -> bytes:
    """The same certificate as an A4 PDF (fpdf2, core fonts)."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    c = certificate(document, public_url, lang)
    words = labels()[c["lang"]]
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{c['title']} {c['number']}"))
    pdf.set_author(_latin1(c["issuer"]["name"]))
    pdf.set_creator("OpenCustoms")
    pdf.set_lang(c["lang"])
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw
    pdf.set_draw_color(*NAVY)
    pdf.set_line_width(0.8)
    pdf.rect(8, 8, 194, 281)
    pdf.set_line_width(0.2)

    def heading(text: str) -> None:
        pdf.set_font("Helvetica", "B", 8)
        pdf.set_text_color(*NAVY)
        pdf.cell(0, 5, _latin1(text.upper()), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)

    def pairs(rows: list[tuple[str, str]], label_width: float = 48) -> None:
        for label, value in rows:
            pdf.set_font("Helvetica", "", 8)
            pdf.set_text_color(70, 70, 70)
            y = pdf.get_y()
            pdf.multi_cell(label_width, 4.5, _latin1(label), new_x="RIGHT", new_y="TOP")
            pdf.set_text_color(0, 0, 0)
            pdf.set_font("Helvetica", "", 9)
            pdf.set_xy(pdf.l_margin + label_width, y)
            pdf.multi_cell(width - label_width, 4.5, _latin1(value), new_x="LMARGIN", new_y="NEXT")

    # header: title and number on the left, issuer on the right
    top = pdf.get_y()
    if c["fta"]:
        pdf.set_font("Helvetica", "", 8)
        pdf.set_text_color(*NAVY)
        pdf.cell(110, 5, _latin1(f"{words['fta']}: {c['fta']}".upper()), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 18)
    pdf.set_text_color(*NAVY)
    pdf.multi_cell(110, 8, _latin1(c["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(110, 6, _latin1(f"{words['number']} {c['number']}"), new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + 115, top)
    pdf.set_font("Helvetica", "B", 8)
    pdf.set_text_color(*NAVY)
    pdf.multi_cell(width - 115, 5, _latin1(words["issued_by"].upper()), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "B", 10)
    pdf.multi_cell(width - 115, 5, _latin1(c["issuer"]["name"]), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    identity = f"{words['identity']}: {c['issuer']['domain'] or words['no_identity']}"
    pdf.multi_cell(width - 115, 4.5, _latin1(identity), align="R", new_x="LEFT", new_y="NEXT")
    if c["issue_date"]:
        issued = f"{words['issue_date']}: {c['issue_date']}"
        pdf.multi_cell(width - 115, 4.5, _latin1(issued), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), left_bottom) + 2)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(3)
    # parties, two per row
    parties = c["parties"]
    for start in range(0, len(parties), 2):
        row_top = pdf.get_y()
        bottom = row_top
        for column, (_key, label, lines) in enumerate(parties[start : start + 2]):
            x = pdf.l_margin + column * (width / 2 + 1)
            pdf.set_xy(x, row_top)
            pdf.set_font("Helvetica", "B", 8)
            pdf.set_text_color(*NAVY)
            pdf.cell(width / 2 - 1, 5, _latin1(label.upper()), new_x="LEFT", new_y="NEXT")
            pdf.set_text_color(0, 0, 0)
            pdf.set_font("Helvetica", "", 9)
            pdf.multi_cell(width / 2 - 1, 4.5, _latin1("\n".join(lines)), new_x="LEFT", new_y="NEXT")
            bottom = max(bottom, pdf.get_y())
        pdf.set_y(bottom + 3)
    if c["consignment"]:
        heading(words["consignment"])
        pairs(c["consignment"])
        pdf.ln(2)
    if c["goods"]:
        heading(words["goods"])
        pdf.set_font("Helvetica", "", 8)
        keys = [k for k, _ in c["goods"]["columns"]]
        weights = {"description": 4, "sequence_number": 1, "origin_criterion": 1.4, "marks_and_numbers": 2}
        total = sum(weights.get(k, 1.6) for k in keys)
        widths = tuple(weights.get(k, 1.6) / total * width for k in keys)
        with pdf.table(
            col_widths=widths,
            headings_style=FontFace(emphasis="BOLD", fill_color=(232, 238, 244)),
            line_height=4.5,
            text_align="LEFT",
        ) as table:
            header = table.row()
            for _k, label in c["goods"]["columns"]:
                header.cell(_latin1(label))
            for goods_row in c["goods"]["rows"]:
                cells = table.row()
                for _k, value in goods_row:
                    cells.cell(_latin1(value))
        if c["criteria"]:
            pdf.set_font("Helvetica", "", 7)
            legend = "; ".join(f"{code} {meaning}" for code, meaning in c["criteria"])
            pdf.multi_cell(0, 4, _latin1(f"{words['criteria']}: {legend}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    if c["details"]:
        heading(words["details"])
        pairs(c["details"])
        pdf.ln(2)
    if c["other"]:
        heading(words["other"])
        pairs(c["other"])
        pdf.ln(2)
    # authority and verification on the left, the QR code on the right
    if pdf.get_y() > 230:
        pdf.add_page()
    block_top = pdf.get_y()
    pdf.image(io.BytesIO(qr_png(c["link"], box_size=8)), x=pdf.l_margin + width - 45, y=block_top, w=45, h=45)
    text_width = width - 50
    if c["authority"]:
        heading(words["issuing_authority"])
        for label, value in c["authority"]:
            pdf.set_font("Helvetica", "", 9)
            pdf.multi_cell(text_width, 4.5, _latin1(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    heading(words["verification"])
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(text_width, 4, _latin1(words["scan"]), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*NAVY)
    pdf.multi_cell(text_width, 4, _latin1(c["verify_page"]), link=c["link"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    if c["hidden"]:
        pdf.multi_cell(text_width, 4, _latin1(f"{c['hidden']} {words['hidden']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", "", 6.5)
    fingerprint = (
        f"{words['fingerprint']} (targetHash) {c['target']}\nmerkleRoot {c['root']}\n"
        f"{words['document_store']} {c['issuer']['store']}"
    )
    pdf.multi_cell(text_width, 3.5, _latin1(fingerprint), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), block_top + 47))
    pdf.set_font("Helvetica", "", 7)
    pdf.set_text_color(60, 60, 60)
    footer = f"{words['electronic']} {words['or_upload']} {c['verify_page']}."
    pdf.multi_cell(0, 3.5, _latin1(footer), align="L", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
