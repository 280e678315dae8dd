"""Password sign-in and the offline API documentation in a real browser (Playwright driving Debian's Chromium against
the app served by uvicorn on a loopback port). Every request leaving that server is blocked and recorded: the pages
must work without the internet."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running
from web_helpers import Site

from opencustoms.security import service as security

pytestmark = pytest.mark.chromium

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
PASSWORD = "tulip harbour lantern"
REFUSED = "Wrong username or password. After repeated failures, sign-in pauses for a few minutes."


def _serve(platform) -> Iterator[str]:  # type: ignore[no-untyped-def]
    import uvicorn

    from opencustoms.api import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    instance = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not instance.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(10)


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running() as p:
        yield p


@pytest.fixture
def server(site: Site, provider: Provider) -> Iterator[str]:
    """The app, offering sign-in with the test OIDC provider as well."""
    from opencustoms.context import Platform

    settings = site.platform.settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_provider_name": "Customs ID",
        }
    )
    yield from _serve(Platform(settings))


@pytest.fixture
def offline(chromium_path: Path, server: str, provider: Provider):  # type: ignore[no-untyped-def]
    """A new page in Chromium whose requests to anywhere but ``server`` and the test OIDC provider are aborted;
    yields (page, blocked URLs, console errors)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
            blocked: list[str] = []
            errors: list[str] = []

            def gate(route) -> None:  # type: ignore[no-untyped-def]
                url = route.request.url
                if url.startswith((server + "/", provider.issuer + "/", "data:", "blob:")):
                    route.continue_()
                else:
                    blocked.append(url)
                    route.abort()

            context.route("**/*", gate)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, blocked, errors
        finally:
            browser.close()


def test_staff_sign_in_with_a_password_and_are_locked_after_repeated_failures(offline, server: str, site) -> None:
    page, blocked, _ = offline
    security.set_password(site.engine, security.local_operator("NL"), "officer", PASSWORD, site.platform.settings)
    page.goto(f"{server}/ui/queue?lane=red")
    assert "/ui/login" in page.url
    assert page.get_attribute("#f-username", "autocomplete") == "username"
    assert page.get_attribute("#f-password", "autocomplete") == "current-password"
    page.fill("#f-username", "officer")
    page.fill("#f-password", "not the password at all")
    page.click("button[type=submit]")
    assert page.locator("#e-password").inner_text() == REFUSED
    assert page.get_attribute("#f-password", "aria-invalid") == "true"
    page.fill("#f-username", "officer")
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/ui/queue?lane=red")
    assert page.locator("table.queue tbody tr").count() > 0
    page.click("form[action='/ui/logout'] button")
    page.wait_for_url(f"{server}/ui/login")
    # repeated failures lock the account: then even the right password gets the same answer
    for _ in range(site.platform.settings.password_max_failures):
        page.fill("#f-username", "officer")
        page.fill("#f-password", "still not the password")
        page.click("button[type=submit]")
        page.wait_for_selector("#e-password")
    page.fill("#f-username", "officer")
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    assert page.locator("#e-password").inner_text() == REFUSED and "/ui/login" in page.url
    # the token form remains, behind a link
    page.click("text=Sign in with an API token instead")
    page.fill("#f-username", "officer")
    page.fill("#f-token", site.tokens["officer"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/ui/")
    assert blocked == []


@pytest.mark.parametrize(("path", "operation"), [("/docs", ".opblock"), ("/redoc", "[data-section-id^='operation/']")])
def test_the_api_documentation_renders_offline(offline, server: str, path: str, operation: str) -> None:
    page, blocked, errors = offline
    page.goto(server + path)
    page.wait_for_selector(operation)
    assert page.locator(operation).count() > 20
    assert page.get_by_text("/declarations/{reference}").first.is_visible() or path == "/redoc"
    assert blocked == [], blocked
    # ReDoc's sidebar always tries its maker's logo from their CDN; the page's policy stops it before any request
    # (it is then hidden). Nothing else may be refused.
    refused = [e for e in errors if "Content Security Policy" in e or "Refused" in e]
    assert [e for e in refused if "https://cdn.redoc.ly/redoc/logo-mini.svg" not in e] == [], errors


def test_staff_sign_in_at_the_identity_provider(offline, server: str, provider: Provider) -> None:
    """The provider's redirect back is a cross-site navigation: the SameSite=Lax flow cookie makes it through, and
    the SameSite=Strict session cookie set by the callback is sent on the next page (which a redirect would lose)."""
    page, blocked, _ = offline
    provider.user, provider.interactive = {"sub": "u-7", "preferred_username": "officer"}, True
    page.goto(f"{server}/ui/queue?lane=red")
    page.click("text=Sign in with Customs ID")
    page.wait_for_url(provider.issuer + "/authorize?*")
    page.click("text=Approve")  # at the provider's site: the way back starts there, cross-site
    page.wait_for_url(f"{server}/ui/queue?lane=red")
    assert page.locator("table.queue tbody tr").count() > 0
    assert provider.requests.count("token") == 1 and blocked == []
