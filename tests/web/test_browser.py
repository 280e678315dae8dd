"""The dashboard in a real browser: Playwright for Python driving Debian's Chromium headless against the app served
by uvicorn on a loopback port. Signs in, works the queue, records an inspection, issues a certificate and verifies
it on the public page, watches an alert appear on the transit map, reviews an X-ray scan, is refused a page, and has
a forged form refused.
With OPENCUSTOMS_SCREENSHOTS=1, screenshots of the main pages are written to docs/screenshots/ (the README shows
them); otherwise they go to the test's temporary folder, so a test run leaves the tree as it was."""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import HELD_BACK, Site

from processes import budget

pytestmark = pytest.mark.chromium

SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("OPENCUSTOMS_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "opencustoms-screenshots"
)
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(site: Site) -> Iterator[str]:
    import uvicorn

    from opencustoms.api import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(site.platform), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    try:  # the server stops even when it did not start in time
        deadline = time.monotonic() + budget(15)
        while not instance.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(budget(10))


@pytest.fixture
def browser(chromium_path: Path):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(chromium_path), headless=True, args=ARGS)
        yield instance
        instance.close()


def _login(browser, base: str, site: Site, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/ui/queue?lane=red")
    assert "/ui/login" in page.url
    page.click("text=Sign in with an API token instead")  # the password form comes first (test_browser_signin.py)
    page.fill("#f-username", username)
    page.fill("#f-token", site.tokens[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/queue?lane=red")
    return context, page


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_officer_works_the_queue_and_watches_the_map(browser, server: str, site: Site) -> None:
    context, page = _login(browser, server, site, "officer")
    assert page.locator("table.queue tbody tr").count() > 0
    _shot(page, "risk-queue")
    page.click(f"table.queue a:text('{site.references['red']}')")
    page.wait_for_selector("h1:has-text('Declaration')")
    page.check("input[name=outcome][value=fraud]")
    page.fill("#f-revenue", "-5")
    page.click("form[action$='/inspection'] button[type=submit]")
    assert page.locator("#e-revenue").is_visible()  # validation next to the field
    page.fill("#f-revenue", "980")
    page.fill("#f-note", "false origin found")
    page.click("form[action$='/inspection'] button[type=submit]")
    page.wait_for_selector("p.notice:has-text('Inspection result recorded.')")
    assert page.locator("text=false origin found").count() == 1
    _shot(page, "declaration")

    page.goto(f"{server}/ui/transits")
    # a locator check, not wait_for_function: the page's Content-Security-Policy forbids evaluating strings
    from playwright.sync_api import expect

    expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"^[1-9][0-9]*$"), timeout=15_000)
    assert page.locator("#alert-list li[data-kind=corridor_deviation]").count() >= 1
    assert page.locator("#alert-list li[data-kind=seal_opened_outside_zone]").count() == 0
    site.send_held_back()  # the held-back truck's e-seal reports its opening
    page.wait_for_selector("#alert-list li[data-kind=seal_opened_outside_zone]", timeout=15_000)
    assert HELD_BACK in page.locator("#alert-list li[data-kind=seal_opened_outside_zone]").first.inner_text()
    _shot(page, "transit-map")

    page.goto(f"{server}/ui/gates")
    assert page.locator("p.alarm").count() == 1
    _shot(page, "gates")
    first = page.locator("article.gate").first
    gate_id = first.get_attribute("id")
    first.locator("button[value=release]").click()
    page.wait_for_selector(f"#{gate_id}", state="detached")

    # scan review: open the oldest scan of the queue, look at its images next to the declared goods, record a finding
    page.goto(f"{server}/ui/scans")
    first_scan = page.locator("#scan-queue tbody tr a").first
    scan_id = first_scan.inner_text()
    first_scan.click()
    page.wait_for_selector("#finding-form")
    from playwright.sync_api import expect

    expect(page.locator("#view-top img")).to_have_js_property("complete", True)
    assert page.locator("#view-top img").evaluate("img => img.naturalWidth") > 0  # the browser decoded the PNG
    assert page.locator("table.expected tbody tr").count() >= 1
    _shot(page, "scans")
    page.check("input[name=finding][value=suspicious]")
    page.click("#finding-form button[type=submit]")
    assert page.locator("#e-notes").is_visible()  # validation next to the field
    page.fill("#f-notes", "dense mass behind the third pallet")
    page.fill("#f-regions", "top 250 40 90 90 dense mass")
    page.click("#finding-form button[type=submit]")
    page.wait_for_selector(f"p.notice:has-text('{scan_id}')")
    assert page.locator(f"ul.alerts a:text('{scan_id}')").count() == 1
    page.goto(f"{server}/ui/vessels")
    # a locator check, not wait_for_function: the page's Content-Security-Policy forbids evaluating strings
    from playwright.sync_api import expect

    expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"^[1-9][0-9]*$"), timeout=15_000)
    _shot(page, "vessels")

    response = page.goto(f"{server}/ui/audit")  # an officer may not read the audit log
    assert response is not None and response.status == 403
    assert "audit:read" in page.content() and "data_protection_officer" in page.content()
    _shot(page, "forbidden")

    # a form posted from another page without the session's CSRF token is refused
    page.goto(f"{server}/ui/declarations/{site.references['red']}")
    page.evaluate("document.querySelector('form[action$=\"/inspection\"] input[name=csrf_token]').value = 'forged'")
    page.check("input[name=outcome][value=compliant]")
    page.click("form[action$='/inspection'] button[type=submit]")
    assert "security token" in page.content()
    context.close()


def test_supervisor_issues_a_certificate_anyone_verifies_it(browser, server: str, site: Site, tmp_path) -> None:
    context, page = _login(browser, server, site, "supervisor")
    page.goto(f"{server}/ui/documents/new")
    fields = {
        "#f-id": "COO-BROWSER-7",
        "#f-fta": "EU-KR FTA",
        "#f-exporter-name": "Busan Steel Co",
        "#f-exporter-country_code": "KR",
        "#f-importer-name": "Tulip Trading BV",
        "#f-importer-country_code": "NL",
        "#f-goods_items-0-hs_code": "731815",
        "#f-goods_items-0-description": "steel bolts",
        "#f-goods_items-0-origin_country_code": "KR",
        "#f-issuing_authority-name": "Korea Customs Service",
        "#f-issuing_authority-country_code": "KR",
    }
    for selector, value in fields.items():
        page.fill(selector, value)
    page.select_option("#f-goods_items-0-origin_criterion", "CTC")
    _shot(page, "issue-certificate")
    page.click("form.columns button[type=submit]")
    page.wait_for_selector("p.notice:has-text('Certificate issued.')")
    assert page.locator("#verification h2").inner_text() == "Valid document"
    _shot(page, "certificate")
    with context.expect_page() as popup:
        page.click("text=Certificate to print, with QR code")
    printed = popup.value
    printed.wait_for_load_state()
    assert printed.locator("img[alt='QR code linking to the verification page']").count() == 1
    qr_link = printed.locator(".sign a").get_attribute("href")  # what the QR code encodes
    assert qr_link and "/verify?q=" in qr_link
    _shot(printed, "certificate-print")
    printed.close()
    context.close()

    from opencustoms.documents import service as documents
    from opencustoms.security.service import local_operator

    wrapped = documents.show(site.engine, local_operator("NL"), "COO-BROWSER-7")
    path = tmp_path / "COO-BROWSER-7.json"
    path.write_text(json.dumps(wrapped))
    public = browser.new_context(viewport={"width": 1280, "height": 860})
    anyone = public.new_page()
    anyone.goto(f"{server}/verify")
    anyone.set_input_files("#f-file", str(path))
    anyone.click("form button[type=submit]")
    anyone.wait_for_selector("#verification")
    assert anyone.locator("#verification h2").inner_text() == "Valid document"
    assert anyone.locator("tr[data-check] .verdict-valid").count() == 3
    _shot(anyone, "verify")
    anyone.goto(f"{server}/verify")
    anyone.fill("#f-content", qr_link)  # what a border officer's scanner reads off the paper
    anyone.click("form button[type=submit]")
    assert anyone.locator("#verification h2").inner_text() == "Valid document"
    public.close()
