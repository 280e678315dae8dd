"""Accessibility (WCAG 2.1 AA, as the EU Web Accessibility Directive and EN 301 549 require of public
administrations): axe-core, vendored under tests/web/vendor/axe-core (test-only, never served by the app), is
injected into every dashboard page in Chromium, in English and French, for the supervisor (who sees every page) and
the frontline officer; any violation of a WCAG 2.0/2.1 level A or AA rule fails with the rule, its impact and the
first elements concerned.

The pages come from the authorisation table (every GET entry that is a dashboard or public page); a test checks that
each one is either visited here or left out for a stated reason, so a new page cannot escape the check.

Also here: the gate decisions list refreshes itself, but not while an officer types a note (the hold is app.js's,
since the page's Content-Security-Policy forbids the eval an hx-trigger filter needs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_browser import SHOTS, browser, server  # noqa: F401  (fixtures shared with the other browser tests)
from web_helpers import HELD_BACK, Site

from opencustoms.security.access import ROUTES, role_may
from opencustoms.security.roles import Role
from processes import budget

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# GET routes of the table that are not a page one reads (JSON, images, fragments, redirects)
NOT_PAGES = {
    "/ui/": "the same page as /ui",
    "/ui/transits/map.json": "JSON for the map",
    "/ui/vessels/map.json": "JSON for the map",
    "/ui/scans/{scan_id}/views/{view}.png": "an image",
    "/ui/gates/rows": "a fragment of /ui/gates, checked inside it",
    "/ui/documents/{number}/pdf": "a PDF file (its HTML twin /print is checked)",
    "/ui/documents/{number}/json": "a .json download",
    "/ui/login/oidc": "a redirect to the identity provider",
    "/ui/login/oidc/callback": "a redirect back from the identity provider",
}


def page_routes() -> list[str]:
    return sorted(path for (method, path), access in ROUTES.items() if method == "GET" and access.html)


def urls(site: Site) -> dict[str, str]:
    """Each page's path template → a URL of the seeded site (``{first:...}``: the first link of a list page)."""
    return {
        "/verify": "/verify",
        "/tariff": "/tariff?q=knitted+cotton+T-shirts",
        "/ui/login": "/ui/login",
        "/ui": "/ui",
        "/ui/queue": "/ui/queue?lane=red",
        "/ui/classification": "/ui/classification",
        "/ui/declarations/{reference}": f"/ui/declarations/{site.references['red']}",
        "/ui/documents": "/ui/documents",
        "/ui/documents/new": "/ui/documents/new",
        "/ui/documents/{number}": f"/ui/documents/{site.certificate}",
        "/ui/documents/{number}/print": f"/ui/documents/{site.certificate}/print",
        "/ui/aeo": "/ui/aeo",
        "/ui/aeo/{number}": f"/ui/aeo/{site.aeo_number}",
        "/ui/transits": "/ui/transits",
        "/ui/transits/{movement_id}": f"/ui/transits/{HELD_BACK}",
        "/ui/gates": "/ui/gates",
        "/ui/vessels": "/ui/vessels",
        "/ui/scans": "/ui/scans",
        "/ui/scans/{scan_id}": "{first:/ui/scans:#scan-queue tbody tr a}",
        "/ui/risk/profiles": "/ui/risk/profiles",
        "/ui/risk/profiles/{profile_id}": "/ui/risk/profiles/fasteners-cn",
        "/ui/risk/models": "/ui/risk/models",
        "/ui/risk/valuation": "/ui/risk/valuation",
        "/ui/exchange": "/ui/exchange",
        "/ui/exchange/mirror": "/ui/exchange/mirror",
        "/ui/audit": "/ui/audit",
    }


def shot_name(template: str) -> str:
    """A page's screenshot file name: its path without /ui and braces (``declarations-reference``)."""
    words = [w.strip("{}") for w in template.removeprefix("/ui").strip("/").split("/") if w]
    return "-".join(words) or "home"


def test_every_page_of_the_table_is_checked(site: Site) -> None:
    visited = set(urls(site))
    assert set(NOT_PAGES) <= set(page_routes()), "NOT_PAGES names a route the table no longer has"
    assert visited | set(NOT_PAGES) == set(page_routes()), (
        "pages neither checked for accessibility nor left out with a reason: "
        f"{sorted(set(page_routes()) - visited - set(NOT_PAGES))}; stale: {sorted(visited - set(page_routes()))}"
    )
    assert not visited & set(NOT_PAGES)


def _axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => ({target: n.target.join(' '), summary: n.failureSummary}))})))",
        WCAG_TAGS,
    )
    return list(result)


@pytest.mark.chromium
@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("username", ["supervisor", "officer"])
def test_every_page_meets_wcag_21_aa(browser, server: str, site: Site, username: str, lang: str) -> None:  # noqa: F811
    """axe-core finds no WCAG 2.0/2.1 A or AA violation on any page the user may open (in their language)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 860},
        locale="fr-FR" if lang == "fr" else "en-GB",
        extra_http_headers={"Accept-Language": "fr" if lang == "fr" else "en"},
        bypass_csp=True,  # the axe script is injected inline, which the dashboard's own CSP (rightly) forbids
    )
    page = context.new_page()
    page.set_default_timeout(budget(15) * 1000)
    try:
        role = Role.SUPERVISOR if username == "supervisor" else Role.OFFICER
        found: dict[str, list[dict[str, Any]]] = {}
        _sign_in(page, server, site, username)
        for template, url in urls(site).items():
            if url.startswith(("/ui/login", "/verify", "/tariff")):
                continue  # checked signed out below
            if not role_may(role, ROUTES[("GET", template)]):
                continue
            if url.startswith("{first:"):
                listing, selector = url[len("{first:") : -1].split(":", 1)
                page.goto(server + listing)
                url = str(page.locator(selector).first.get_attribute("href"))
            response = page.goto(server + url)
            assert response is not None and response.status == 200, (url, response and response.status)
            if not template.endswith("/print"):  # the printed document keeps its own language
                assert page.locator("html").get_attribute("lang") == lang, url
            if username == "supervisor":  # every page in EN and FR (docs/dashboard.md, "Every page")
                (SHOTS / lang).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / lang / f"{shot_name(template)}.png"), full_page=False)
            violations = _axe_violations(page)
            if violations:
                found[url] = violations
        signed_out = context.browser.new_context(  # type: ignore[union-attr]
            locale="fr-FR" if lang == "fr" else "en-GB",
            extra_http_headers={"Accept-Language": "fr" if lang == "fr" else "en"},
            bypass_csp=True,
        )
        try:
            anonymous = signed_out.new_page()
            anonymous.set_default_timeout(budget(15) * 1000)
            for url in ("/ui/login", "/verify", "/tariff?q=knitted+cotton+T-shirts", "/tariff?code=6109"):
                anonymous.goto(server + url)
                if username == "supervisor":
                    name = shot_name(url.split("?")[0]) + ("-code" if "code=" in url else "")
                    anonymous.screenshot(path=str(SHOTS / lang / f"{name}.png"), full_page=False)
                violations = _axe_violations(anonymous)
                if violations:
                    found[url] = violations
        finally:
            signed_out.close()
        assert not found, "WCAG violations (axe-core):\n" + json.dumps(found, indent=1, ensure_ascii=False)
    finally:
        context.close()


def _sign_in(page: Any, base: str, site: Site, username: str) -> None:
    page.goto(f"{base}/ui/login?method=token&next=%2Fui%2Fqueue%3Flane%3Dred")
    page.fill("#f-username", username)
    page.fill("#f-token", site.tokens[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/queue?lane=red")
