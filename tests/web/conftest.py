"""Fixtures of the dashboard tests: a small demo installation (see web_helpers.build_site) built once per session
and copied per test, and TestClients signed in through the login form.

Browser tests are marked ``chromium``: they skip when /usr/bin/chromium is missing and fail instead when
OPENCUSTOMS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import CHROMIUM, DOCUMENT_ENV, Site, build_site, csrf_of  # noqa: E402

REQUIRE_SERVICES = os.environ.get("OPENCUSTOMS_REQUIRE_SERVICES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chromium: drives Debian's Chromium with Playwright (/usr/bin/chromium)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Chromium, browser tests skip; under OPENCUSTOMS_REQUIRE_SERVICES=1 they run and fail in the
    ``chromium_path`` fixture instead."""
    if CHROMIUM.exists() or REQUIRE_SERVICES:
        return
    for item in items:
        if "chromium" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)"))


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " and OPENCUSTOMS_REQUIRE_SERVICES=1")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def document_env() -> Iterator[None]:
    """The documents pillar's settings of the test site, read afresh (an earlier test of the same worker may have
    left its own settings cached)."""
    from opencustoms.documents.config import get_document_settings

    saved = {k: os.environ.get(k) for k in DOCUMENT_ENV}
    os.environ.update(DOCUMENT_ENV)
    get_document_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_document_settings.cache_clear()


@pytest.fixture(scope="session")
def site_template(tmp_path_factory: pytest.TempPathFactory, document_env: None) -> Site:
    return build_site(tmp_path_factory.mktemp("web") / "site")


@pytest.fixture
def site(site_template: Site, tmp_path: Path) -> Iterator[Site]:
    """A private copy of the session's installation (tests that change data do not disturb each other)."""
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.store.database import open_database

    target = tmp_path / "site"
    shutil.copytree(site_template.directory, target)
    settings = Settings(database_url=f"sqlite:///{target / 'demo.db'}", data_dir=target, administration="NL")
    copy = Site(
        target,
        Platform(settings),
        dict(site_template.tokens),
        dict(site_template.references),
        site_template.held_back,
        site_template.certificate,
        site_template.aeo_number,
    )
    yield copy
    copy.engine.dispose()
    open_database.cache_clear()


@pytest.fixture
def client_for(site: Site):  # type: ignore[no-untyped-def]
    """``client_for(username)``: a TestClient signed in through the login form as that demo user."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from opencustoms.api import create_app

    clients = []

    def make(username: str | None) -> Any:
        client = TestClient(create_app(site.platform), follow_redirects=False)
        clients.append(client)
        if username is not None:
            page = client.get("/ui/login")
            response = client.post(
                "/ui/login",
                data={
                    "username": username,
                    "token": site.tokens[username],
                    "csrf_token": csrf_of(page.text),
                    "next": "/ui/",
                },
            )
            assert response.status_code == 303, response.text
        return client

    yield make
    for client in clients:
        client.close()
