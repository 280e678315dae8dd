"""The API documentation works offline: /docs and /redoc reference only this server's vendored files (no CDN), under a
Content-Security-Policy admitting nothing from another site, and the vendored files are served with their licences."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import opencustoms.web

VENDOR = Path(opencustoms.web.__file__).parent / "static" / "vendor"
URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize(
    ("path", "assets"),
    [
        ("/docs", ["/static/vendor/swagger-ui-bundle.js", "/static/vendor/swagger-ui.css", "/static/docs.js"]),
        ("/redoc", ["/static/vendor/redoc.standalone.js", "/static/docs.js"]),
    ],
)
def test_docs_pages_load_nothing_from_the_internet(client_for, path: str, assets: list[str]) -> None:
    client = client_for(None)
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    references = URL.findall(page.text)
    assert sorted(references) == sorted(assets)
    assert 'data-openapi="/openapi.json"' in page.text and "<script>" not in page.text  # no inline script
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "http" not in policy and "*" not in policy
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200 and served.content, asset
    assert client.get("/static/vendor/swagger-ui-bundle.js").content.startswith(
        (VENDOR / "swagger-ui-bundle.js").read_bytes()[:200]
    )
    assert client.get("/openapi.json").json()["paths"]


def test_vendored_files_carry_their_version_and_licence() -> None:
    notes = (VENDOR / "VENDOR.md").read_text()
    for name, version, licence in (
        ("swagger-ui-dist", "5.36.0", "swagger-ui.LICENSE"),
        ("redoc", "2.5.4", "redoc.LICENSE"),
    ):
        assert name in notes and version in notes and licence in notes
        assert (VENDOR / licence).stat().st_size > 500
    assert "Apache License" in (VENDOR / "swagger-ui.LICENSE").read_text()
    assert "MIT License" in (VENDOR / "redoc.LICENSE").read_text()
