"""Certificates of origin: the list, the issuing form, the page of one document with its verification and the
revocation form, the certificate page to print with its QR code, its PDF and its .json file."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from opencustoms.documents import service as documents
from opencustoms.documents.errors import TemplateDataError
from opencustoms.documents.templates import OriginCriterion
from opencustoms.errors import OpenCustomsError
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page

router = APIRouter(prefix=PREFIX + "/documents", include_in_schema=False)
GOODS_ROWS = 3
CRITERIA = [c.value for c in OriginCriterion]


def _nest(form: dict[str, Any]) -> dict[str, Any]:
    """Form fields named by their path in the certificate (``exporter.name``, ``goods_items.0.hs_code``) as the
    nested record the template validates; empty fields are left out, goods rows left empty are dropped. A field
    named both as a value and as a group (``exporter`` and ``exporter.name``) is refused with its name."""
    record: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str) or value == "" or key.startswith("_"):
            continue
        parts = key.split(".")
        node = record
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TemplateDataError(f"the form field {key[:100]!r} is not a field of the certificate", field=key)
        if isinstance(node.get(parts[-1]), dict):
            raise TemplateDataError(f"the form field {key[:100]!r} is not a field of the certificate", field=key)
        node[parts[-1]] = value
    goods = record.pop("goods_items", {})
    if not isinstance(goods, dict) or not all(isinstance(item, dict) for item in goods.values()):
        raise TemplateDataError("goods items are given as goods_items.<row>.<field>", field="goods_items.0.hs_code")
    items: list[dict[str, Any]] = []
    for index in sorted(goods, key=lambda k: int(k) if k.isdigit() else 99):
        item = goods[index]
        item["sequence_number"] = len(items) + 1
        items.append(item)
    record["goods_items"] = items
    return record


def _blank() -> dict[str, Any]:
    today = dt.date.today().isoformat()
    return {"issue_date": today, "goods_items.0.origin_criterion": "WO"}


@router.get("")
def index(request: Request, notice: str | None = None) -> Response:
    page = Page(request)
    user = page.user(Permission.DOCUMENTS_READ)
    return page.render("documents.html", rows=documents.recent_documents(page.engine, user), notice=notice)


@router.get("/new")
def new(request: Request) -> Response:
    page = Page(request)
    page.user(Permission.DOCUMENTS_ISSUE)
    return page.render("document_new.html", values=_blank(), errors={}, rows=GOODS_ROWS, criteria=CRITERIA)


def _map_field(field: str | None) -> str:
    """The form field of an error path: 'goods_items.0.hs_code' stays, 'goods_items' points at the first row."""
    if not field or field == "identity_domain":  # the installation's issuer identity is not set: no form field
        return "_form"
    if field == "goods_items":
        return "goods_items.0.hs_code"
    return field


@router.post("/new")
async def issue(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.DOCUMENTS_ISSUE)
    form = await page.form()
    errors: dict[str, str] = {}
    try:
        record = _nest(form)
    except OpenCustomsError as exc:
        errors[_map_field(exc.field)] = exc.message
        record = {"goods_items": [{}]}
    if not record["goods_items"]:
        errors["goods_items.0.hs_code"] = page._("Give at least one goods item.")
    if not errors:
        try:
            documents.issue(page.engine, user, "certificate_of_origin", [record])
        except OpenCustomsError as exc:
            errors[_map_field(exc.field)] = exc.message
        else:
            number = str(record["id"])
            return page.redirect(f"{PREFIX}/documents/{number}", notice=page._("Certificate issued."))
    return page.render("document_new.html", status=422, values=form, errors=errors, rows=GOODS_ROWS, criteria=CRITERIA)


def _document(page: Page, number: str) -> dict[str, Any]:
    user = page.user(Permission.DOCUMENTS_READ)
    wrapped = documents.show(page.engine, user, number)
    report = documents.verify(page.engine, wrapped)
    return {"number": number, "report": report, "fields": report.data or {}}


@router.get("/{number}")
def show(request: Request, number: str, notice: str | None = None) -> Response:
    page = Page(request)
    return page.render("document.html", notice=notice, errors={}, values={}, **_document(page, number))


def _public_url(page: Page) -> str:
    return documents.public_base_url(page.platform.settings, str(page.request.base_url))


@router.get("/{number}/print")
def print_view(request: Request, number: str) -> Response:
    page = Page(request)
    user = page.user(Permission.DOCUMENTS_READ)
    base = f"{PREFIX}/documents/{quote(number, safe='')}"
    downloads = {"pdf": f"{base}/pdf", "json": f"{base}/json"}
    html = documents.render_html(documents.show(page.engine, user, number), _public_url(page), page.lang, downloads)
    return page.finish(HTMLResponse(html))


@router.get("/{number}/pdf")
def pdf(request: Request, number: str) -> Response:
    page = Page(request)
    user = page.user(Permission.DOCUMENTS_READ)
    document = documents.show(page.engine, user, number)
    body = documents.render_pdf(document, _public_url(page), page.lang)
    name = documents.download_name(document, ".pdf")
    return page.finish(
        Response(body, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})
    )


@router.get("/{number}/json")
def json_file(request: Request, number: str) -> Response:
    page = Page(request)
    user = page.user(Permission.DOCUMENTS_READ)
    document = documents.show(page.engine, user, number)
    name = documents.download_name(document, ".json")
    return page.finish(
        Response(
            documents.export_json(document),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    )


@router.post("/{number}/revoke")
async def revoke(request: Request, number: str) -> Response:
    page = Page(request)
    user = page.user(Permission.DOCUMENTS_ISSUE)
    form = await page.form()
    reason = str(form.get("reason") or "")
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = page._("Say why the document is revoked; verifiers will read it.")
    elif len(reason) > 500:
        errors["reason"] = page._("The reason is limited to 500 characters.")
    if not errors:
        try:
            documents.revoke(page.engine, user, number, reason)
        except OpenCustomsError as exc:
            errors["reason"] = exc.message
        else:
            return page.redirect(f"{PREFIX}/documents/{number}", notice=page._("Document revoked."))
    return page.render("document.html", status=422, errors=errors, values=form, **_document(page, number))
