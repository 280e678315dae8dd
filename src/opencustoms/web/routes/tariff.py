"""The public tariff finder (no sign-in): a trader types a goods description and gets HS subheadings with their
path, or browses the nomenclature from the sections down. Logic: opencustoms.classification.finder."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencustoms.classification import finder
from opencustoms.errors import OpenCustomsError
from opencustoms.web.core import PUBLIC_TARIFF, Page

router = APIRouter(include_in_schema=False)


@router.get(PUBLIC_TARIFF)
def tariff_page(request: Request, q: str | None = None, code: str | None = None) -> Response:
    page = Page(request)
    try:
        result = finder.find(q, code)
    except OpenCustomsError as exc:
        field = exc.field if exc.field in ("q", "code") else "q"
        message = exc.message
        if field == "q" and len(q or "") > finder.MAX_QUERY_CHARS:
            message = page._("Describe the goods in at most %(n)s characters.", n=finder.MAX_QUERY_CHARS)
        elif field == "code":
            message = page._("%(code)s is not a code of the nomenclature.", code=(code or "")[:20])
        return page.render(
            "tariff.html",
            status=422,
            result={"query": (q or "")[: finder.MAX_QUERY_CHARS], "code": ""},
            errors={field: message},
        )
    return page.render("tariff.html", result=result, errors={})
