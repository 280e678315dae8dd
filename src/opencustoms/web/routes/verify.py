"""The public verification page (no login): upload a wrapped document, paste the QR code's content or the
document's JSON, or open the QR link (``/verify?q=...``) → a verdict per check (integrity, status, identity)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from opencustoms.documents import service as documents
from opencustoms.documents.config import get_document_settings
from opencustoms.documents.errors import DocumentFormatError, DocumentTooDeepError
from opencustoms.documents.verify import VerificationReport
from opencustoms.errors import OpenCustomsError
from opencustoms.web.core import PUBLIC_VERIFY, Page

router = APIRouter(include_in_schema=False)
MAX_PASTE = 200_000  # characters of pasted text


def _plain(page: Page, exc: OpenCustomsError, channel: str) -> str:
    """What went wrong in the words of someone holding a certificate (the parser's own message, e.g. "Expecting
    value", says nothing to them); other refusals keep the service's message, which names the fix."""
    if isinstance(exc, DocumentTooDeepError):
        return page._(
            "This is not an OpenAttestation document: it is nested far more deeply than any certificate. Upload the .json file exactly as you received it."  # noqa: E501
        )
    if not isinstance(exc, DocumentFormatError):
        return exc.message
    if channel == "file":
        return page._(
            "This file is not a readable OpenAttestation document (JSON). Upload the .json file exactly as you received it with the certificate (not a PDF, a photo or a copy saved by another program), or paste the content of the QR code printed on the certificate."  # noqa: E501
        )
    if channel == "json":
        return page._(
            "The pasted text is not a readable OpenAttestation document (JSON). Paste the whole document exactly as you received it, or upload its .json file."  # noqa: E501
        )
    return page._(
        "This is not the content of a verification QR code. Scan the QR code printed on the certificate again and paste its content unchanged, or upload the document's .json file."  # noqa: E501
    )


def _render(
    page: Page,
    *,
    report: VerificationReport | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    limit = get_document_settings().max_upload_bytes
    return page.render(
        "verify.html", status=status, report=report, errors=errors or {}, values=values or {}, limit=limit
    )


@router.get(PUBLIC_VERIFY)
def verify_page(request: Request, q: str | None = None) -> Response:
    page = Page(request)
    if not q:
        return _render(page)
    if len(q) > 4000:
        return _render(
            page, errors={"content": page._("The QR content is too long to be a verification link.")}, status=422
        )
    try:
        report = documents.verify_qr(page.engine, q)
    except OpenCustomsError as exc:
        return _render(page, errors={"content": _plain(page, exc, "qr")}, values={"content": q}, status=422)
    return _render(page, report=report)


@router.post(PUBLIC_VERIFY)
async def verify_submit(request: Request) -> Response:
    page = Page(request)
    limit = get_document_settings().max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        return _render(
            page,
            errors={"file": page._("The file is larger than the limit of %(limit)s bytes.", limit=page.number(limit))},
            status=413,
        )
    form = await page.form()
    upload = form.get("file")
    content = str(form.get("content") or "") if not isinstance(form.get("content"), UploadFile) else ""
    errors: dict[str, str] = {}
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            raw = await upload.read(limit + 1)
            if len(raw) > limit:
                errors["file"] = page._(
                    "The file is larger than the limit of %(limit)s bytes.", limit=page.number(limit)
                )
                return _render(page, errors=errors, status=413)
            if not raw:
                errors["file"] = page._("The file is empty; choose the document's .json file.")
                return _render(page, errors=errors, status=422)
            return _render(page, report=documents.verify(page.engine, raw))
        if not content:
            errors["content"] = page._("Choose a file, or paste the QR code's content or the document's JSON.")
            return _render(page, errors=errors, status=422)
        if len(content) > MAX_PASTE:
            errors["content"] = page._("The pasted text is too long; upload the file instead.")
            return _render(page, errors=errors, status=422)
        return _render(page, report=documents.verify_text(page.engine, content))
    except OpenCustomsError as exc:
        field = "file" if isinstance(upload, UploadFile) and upload.filename else "content"
        channel = "file" if field == "file" else ("json" if content.lstrip().startswith("{") else "qr")
        return _render(page, errors={field: _plain(page, exc, channel)}, values={"content": content[:4000]}, status=422)
