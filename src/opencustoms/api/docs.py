"""The API documentation pages, /docs (Swagger UI) and /redoc (ReDoc), served from vendored files so they work
offline: the bundles are in ``web/static/vendor`` (versions and licences in its VENDOR.md), started by our own
``/static/docs.js`` (no inline script), under a Content-Security-Policy that admits nothing from another site.

FastAPI's own pages load both from a CDN; ``create_app`` turns them off (``docs_url=None, redoc_url=None``) and
calls :func:`install` instead ("custom docs UI static assets" in FastAPI's documentation).
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"
INIT = "/static/docs.js"
# Swagger UI and ReDoc style their elements inline and show data: images; ReDoc's search runs in a blob: worker.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head}
</head>
<body>
{body}
</body>
</html>
"""


def swagger_ui_html(title: str, openapi_url: str) -> str:
    return _PAGE.format(
        title=escape(title),
        head=f'<link rel="stylesheet" href="{VENDOR}/swagger-ui.css">',
        body=f'<div id="swagger-ui" data-openapi="{escape(openapi_url)}"></div>\n'
        f'<script src="{VENDOR}/swagger-ui-bundle.js"></script>\n<script src="{INIT}"></script>',
    )


def redoc_html(title: str, openapi_url: str) -> str:
    return _PAGE.format(
        title=escape(title),
        head="<style>body{margin:0;padding:0}</style>",
        body=f'<div id="redoc" data-openapi="{escape(openapi_url)}"></div>\n'
        f'<script src="{VENDOR}/redoc.standalone.js"></script>\n<script src="{INIT}"></script>',
    )


def install(app: FastAPI) -> None:
    """GET /docs, /docs/oauth2-redirect and /redoc (public in the authorisation table, like the OpenAPI document)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title + " API"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger_ui_html(title + " (Swagger UI)", openapi_url), headers=HEADERS)

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(redoc_html(title + " (ReDoc)", openapi_url), headers=HEADERS)
