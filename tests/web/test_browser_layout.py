"""Layout a browser alone shows (issue #14): the French menu on one line at 1280 px, and no request of a page
answered 404 (the favicon was)."""

from __future__ import annotations

import pytest
from test_browser import _login, browser, server  # noqa: F401  (pytest fixtures, shared with the other browser tests)
from web_helpers import Site

pytestmark = pytest.mark.chromium

NAV = """() => {
  const nav = document.querySelector('header.top nav');
  const link = nav.querySelector('a');
  return {height: nav.getBoundingClientRect().height, line: link.getBoundingClientRect().height,
          scroll: nav.scrollWidth, width: nav.clientWidth, links: nav.querySelectorAll('a').length};
}"""


def test_french_menu_fits_one_line_at_1280(browser, server: str, site: Site) -> None:  # noqa: F811
    context, page = _login(browser, server, site, "supervisor")  # the role with the most menu entries
    try:
        page.set_viewport_size({"width": 1280, "height": 800})
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        for lang in ("fr", "en"):
            page.goto(f"{server}/ui/queue?lang={lang}")
            page.wait_for_load_state("load")
            size = page.evaluate(NAV)
            assert size["links"] >= 10, size
            assert size["height"] <= size["line"] + 1, (lang, size)  # one line, as tall as one link
            assert size["scroll"] <= size["width"], (lang, size)  # every entry visible, nothing scrolled away
        assert page.evaluate("document.documentElement.lang") == "en"
        page.goto(f"{server}/ui/declarations/{site.references['red']}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # the icon is fetched after load
        assert not missing, missing
    finally:
        context.close()
