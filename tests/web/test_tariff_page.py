"""The public tariff finder (/tariff): no sign-in, EN/FR, suggestions with their path, browsing the tree, refusals
next to the field; and the same in a real browser (Chromium)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opencustoms.api import create_app
from opencustoms.config import Settings
from opencustoms.context import Platform
from processes import budget


@pytest.fixture
def platform(engine: Any, database_url: str, tmp_path: Path) -> Platform:
    return Platform(Settings(database_url=database_url, data_dir=tmp_path))


@pytest.fixture
def public(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), follow_redirects=False) as client:
        yield client


def test_search_browse_and_refusals_without_signing_in(public: TestClient) -> None:
    home = public.get("/tariff", headers={"accept-language": "en"})
    assert home.status_code == 200 and "Tariff finder" in home.text
    assert "Textiles and textile articles" in home.text and 'href="/tariff?code=61"' in home.text
    found = public.get("/tariff", params={"q": "men's knitted cotton T-shirts"})
    assert found.status_code == 200
    assert 'href="/tariff?code=610910"' in found.text and "knitted, cotton" in found.text
    tree = public.get("/tariff", params={"code": "6109"})
    assert "T-shirts, singlets and other vests; of cotton" in tree.text and 'href="/tariff?code=61"' in tree.text
    too_long = public.get("/tariff", params={"q": "x" * 301})
    assert too_long.status_code == 422 and "at most 300 characters" in too_long.text
    unknown = public.get("/tariff", params={"code": "6199"})
    assert unknown.status_code == 422 and "6199 is not a code of the nomenclature" in unknown.text
    assert public.get("/tariff", params={"code": "<script>"}).status_code == 422
    assert "<script>" not in public.get("/tariff", params={"code": "<script>"}).text


def test_searches_are_rate_limited_per_address(engine: Any, database_url: str, tmp_path: Path) -> None:
    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path, tariff_searches_per_minute=3))
    with TestClient(create_app(platform)) as client:
        for _ in range(3):
            assert client.get("/tariff", params={"q": "green tea"}).status_code == 200
        refused = client.get("/tariff", params={"q": "green tea", "lang": "en"})
        assert refused.status_code == 429 and "Too many searches" in refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        assert client.get("/tariff", params={"code": "0902"}).status_code == 200  # browsing is not counted


def test_the_minute_window() -> None:
    from opencustoms.security.ratelimit import MinuteLimit

    now = [0.0]
    limit = MinuteLimit(2, clock=lambda: now[0])
    assert limit.allow("a") and limit.allow("a") and not limit.allow("a") and limit.allow("b")
    now[0] = 59.0
    assert not limit.allow("a") and limit.retry_after("a") == 2
    now[0] = 60.0
    assert limit.allow("a")


def test_french(public: TestClient) -> None:
    page = public.get("/tariff", params={"q": "chemises en coton", "lang": "fr"})
    assert page.status_code == 200
    assert "Recherche tarifaire" in page.text and "Sous-positions suggérées" in page.text


def test_the_public_page_never_uses_the_administrations_model(public: TestClient, monkeypatch: Any) -> None:
    from opencustoms.classification import service

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the public page read the administration's model")

    monkeypatch.setattr(service, "promoted_model", refuse)
    assert public.get("/tariff", params={"q": "laptop computers"}).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.chromium
def test_a_trader_finds_a_code_in_the_browser(platform: Platform, chromium_path: Path) -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + budget(15)
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium_path), headless=True, args=["--no-sandbox"])
            try:
                page = browser.new_context(locale="fr-FR").new_page()
                page.set_default_timeout(10_000)
                page.goto(f"{base}/tariff")
                assert page.locator("h1").inner_text() == "Recherche tarifaire"
                page.fill("#f-q", "men's knitted cotton T-shirts")
                page.click("button[type=submit]")
                page.wait_for_selector("table.suggestions")
                page.click("table.suggestions a:text('610910')")
                page.wait_for_selector("h2:has-text('Code 610910')")
                assert page.locator("ol.path li").count() == 4
                page.click("ol.path a:text('61')")
                page.wait_for_selector("h2:has-text('Code 61')")
                assert page.locator("ul.children li").count() > 10
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(budget(10))
