"""The certificate to print, in Chromium: reached from the document's page, the template's fields laid out, the QR
code drawn, the download links left off paper, one A4 sheet, and no WCAG 2.1 AA violation (axe-core) in English
or French."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from test_accessibility import _axe_violations, _sign_in
from test_browser import browser, server  # noqa: F401  (fixtures shared with the other browser tests)
from web_helpers import Site

from processes import budget


@pytest.mark.chromium
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_certificate_page_in_chromium(browser, server: str, site: Site, lang: str) -> None:  # noqa: F811
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="fr-FR" if lang == "fr" else "en-GB",
        extra_http_headers={"Accept-Language": lang},
        bypass_csp=True,  # only for the injected axe script
    )
    page = context.new_page()
    page.set_default_timeout(budget(15) * 1000)
    try:
        _sign_in(page, server, site, "supervisor")
        page.goto(f"{server}/ui/documents/{site.certificate}")
        with context.expect_page() as opened:
            page.click(f'a[href="/ui/documents/{site.certificate}/print"]')
        sheet = opened.value
        sheet.wait_for_load_state()
        assert sheet.locator("html").get_attribute("lang") == lang
        title = "Certificat d'origine" if lang == "fr" else "Certificate of origin"
        assert sheet.locator("h1").inner_text() == title
        assert sheet.locator('[data-field="number"]').inner_text() == site.certificate
        assert sheet.locator('[data-field="identity"]').inner_text() == "demo.opencustoms.example"
        assert "Busan Steel Co" in sheet.locator('[data-party="exporter"]').inner_text()
        assert "Tulip Trading BV" in sheet.locator('[data-party="importer"]').inner_text()
        assert sheet.locator('td[data-field="hs_code"]').all_inner_texts() == ["731815"]
        assert sheet.locator('td[data-field="origin_criterion"]').all_inner_texts() == ["CTC"]
        qr = sheet.locator(".qr img")
        assert qr.evaluate("img => img.complete && img.naturalWidth") > 100  # the QR code is drawn
        link = sheet.locator(".sign a").get_attribute("href") or ""
        assert link.startswith(server + "/verify?q=")
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["q"][0].startswith('{"type":"DOCUMENT"')
        assert sheet.locator(".tools a").count() == 2 and sheet.locator(".tools").is_visible()
        sheet.emulate_media(media="print")
        assert not sheet.locator(".tools").is_visible()  # the download links stay off paper
        pages = len(re.findall(rb"/Type\s*/Page\b", sheet.pdf(format="A4")))
        assert pages == 1, f"the certificate prints on {pages} A4 pages"
        sheet.emulate_media(media="screen")
        violations = _axe_violations(sheet)
        assert not violations, violations
        # the QR code's link opens the public verification page: the certificate is valid
        anonymous = browser.new_context(locale="en-GB")
        try:
            public = anonymous.new_page()
            public.goto(link)
            assert public.locator("#verification h2").inner_text() == "Valid document"
        finally:
            anonymous.close()
    finally:
        context.close()
