"""The public tariff finder (no sign-in): a trader types a goods description and gets HS subheadings with their
path, or browses the nomenclature from the sections down. Logic: opencustoms.classification.finder."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencustoms.classification import finder
from opencustoms.errors import OpenCustomsError
from opencustoms.security.ratelimit import MinuteLimit
from opencustoms.web.core import PUBLIC_TARIFF, Page

router = APIRouter(include_in_schema=False)


def _limit(request: Request, page: Page) -> MinuteLimit:
    """The app's limit on searches per client address (one per app, made on first use)."""
    limit = getattr(request.app.state, "tariff_limit", None)
    if limit is None:
        limit = MinuteLimit(page.platform.settings.tariff_searches_per_minute)
        request.app.state.tariff_limit = limit
    return limit


@router.get(PUBLIC_TARIFF)
def tariff_page(request: Request, q: str | None = None, code: str | None = None) -> Response:
    page = Page(request)
    if q and q.strip():
        limit, client = _limit(request, page), request.client.host if request.client else "unknown"
        if not limit.allow(client):
            response = page.render(
                "tariff.html",
                status=429,
                result={"query": q[: finder.MAX_QUERY_CHARS], "code": ""},
                errors={"q": page._("Too many searches from your address; try again in a minute.")},
            )
            response.headers["Retry-After"] = str(limit.retry_after(client))
            return response
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
