"""The transit and vessel maps' base map: by default the vendored Natural Earth land and borders (world-atlas),
drawn by Leaflet without any request off the server; with OPENCUSTOMS_MAP_TILE_URL, the administration's tile
server, whose origin the page's Content-Security-Policy then admits for images only. A browser test blocks every
request to another origin and counts the land's SVG paths. With OPENCUSTOMS_SCREENSHOTS=1 the two maps are
written to docs/screenshots/map-transit.png and map-vessels.png."""

from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from web_helpers import Site

import opencustoms.web
from opencustoms.context import Platform
from opencustoms.web.core import SECURITY_HEADERS

VENDOR = Path(opencustoms.web.__file__).parent / "static" / "vendor"
MAP_PAGES = ("/ui/transits", "/ui/vessels")
TILES = "https://{s}.tiles.customs.example/osm/{z}/{x}/{y}.png"
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("OPENCUSTOMS_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "opencustoms-screenshots"
)


def _img_src(csp: str) -> str:
    return next(part.strip() for part in csp.split(";") if part.strip().startswith("img-src"))


@pytest.mark.parametrize("path", MAP_PAGES)
def test_map_pages_use_the_vendored_base_map_by_default(client_for, path: str) -> None:
    page = client_for("officer").get(path)
    assert page.status_code == 200
    assert 'data-basemap="/static/vendor/world-atlas-countries-50m.json"' in page.text
    assert "data-tile-url" not in page.text
    assert '<script src="/static/vendor/topojson-client.min.js" defer></script>' in page.text
    assert page.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert _img_src(page.headers["content-security-policy"]) == "img-src 'self' data:"
    legend = page.text[page.text.index('id="map-legend"') :]
    for label in ("Land", "Border between countries", "Customs office", "Port", "Alert (colour: severity)"):
        assert f"</span>{label}</li>" in legend


def test_transit_and_vessel_legends_name_their_own_layers(client_for) -> None:
    client = client_for("officer")
    transit, vessels = client.get("/ui/transits").text, client.get("/ui/vessels").text
    assert "Transit corridor" in transit and "Vessel track" not in transit
    assert "Vessel track" in vessels and "Transit corridor" not in vessels
    french = client.get("/ui/vessels?lang=fr").text
    assert "Légende" in french and "Bureau de douane" in french and "Route du navire" in french


def test_the_vendored_base_map_is_served_with_land_and_countries(client_for) -> None:
    client = client_for(None)  # static files are public, like the rest of /static
    response = client.get("/static/vendor/world-atlas-countries-50m.json")
    assert response.status_code == 200
    world = json.loads(response.content)
    assert world["type"] == "Topology" and {"land", "countries"} <= set(world["objects"])
    assert len(world["objects"]["countries"]["geometries"]) > 200
    script = client.get("/static/vendor/topojson-client.min.js")
    assert script.status_code == 200 and script.content == (VENDOR / "topojson-client.min.js").read_bytes()
    notes = (VENDOR / "VENDOR.md").read_text()
    for name in ("world-atlas-countries-50m.json", "topojson-client.min.js", "world-atlas.LICENSE", "2.0.2", "3.1.0"):
        assert name in notes
    assert (VENDOR / "world-atlas.LICENSE").is_file() and (VENDOR / "topojson-client.LICENSE").is_file()


@pytest.mark.parametrize("path", MAP_PAGES)
def test_a_tile_server_replaces_the_base_map_and_is_admitted_for_images_only(
    client_for, site: Site, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    settings = site.platform.settings.model_copy(
        update={"map_tile_url": TILES, "map_tile_attribution": "© OpenStreetMap contributors"}
    )
    monkeypatch.setattr(site.platform, "settings", settings)
    page = client_for("officer").get(path)
    assert page.status_code == 200
    assert f'data-tile-url="{TILES}"' in page.text and "data-basemap=" not in page.text
    assert 'data-tile-attribution="© OpenStreetMap contributors"' in page.text
    assert "</span>Land</li>" not in page.text  # the tiles draw the land; the legend keeps the customs layers
    csp = page.headers["content-security-policy"]
    assert _img_src(csp) == "img-src 'self' data: https://*.tiles.customs.example"
    others = [p.strip() for p in csp.split(";") if not p.strip().startswith("img-src")]
    assert not any("tiles.customs.example" in p for p in others)  # scripts, styles, fetches: still this server only
    # the JSON views and other pages keep the strict policy
    client = client_for("officer")
    assert (
        client.get("/ui/transits/map.json").headers["content-security-policy"]
        == SECURITY_HEADERS["Content-Security-Policy"]
    )


@pytest.mark.parametrize(
    "value",
    [
        "tiles.example/{z}/{x}/{y}.png",
        "https://tiles.example/map.png",
        "javascript:alert(1)//{z}/{x}/{y}",
        "ftp://t/{z}/{x}/{y}",
        "https://a.example;script-src *;/{z}/{x}/{y}",
        "https://user@a.example/{z}/{x}/{y}",
    ],
)
def test_a_tile_url_that_is_not_a_template_is_refused_naming_the_setting(value: str) -> None:
    from pydantic import ValidationError

    from opencustoms.config import Settings

    with pytest.raises(ValidationError, match="OPENCUSTOMS_MAP_TILE_URL"):
        Settings(map_tile_url=value)
    assert Settings(map_tile_url="").map_tile_url == ""
    assert Settings(map_tile_url=f" {TILES} ").map_tile_url == TILES


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a1b0c3a70000000049454e44ae426082"
)


@contextmanager
def _officer_in_chromium(chromium_path: Path, site: Site, platform: Platform, tiles: str | None = None):  # type: ignore[no-untyped-def]
    """Chromium signed in as the officer against ``platform`` served on a loopback port; every request to another
    origin is aborted, except those to a host ending in ``tiles``, answered with a small PNG (a stand-in tile
    server). Yields (page, base URL, blocked URLs, failed requests, page errors, tile URLs served)."""
    from playwright.sync_api import sync_playwright
    from test_browser_signin import ARGS, _serve

    with contextmanager(_serve)(platform) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
            blocked: list[str] = []
            failed: list[str] = []
            errors: list[str] = []
            served: list[str] = []

            def gate(route) -> None:  # type: ignore[no-untyped-def]
                url = route.request.url
                if url.startswith((base + "/", "data:", "blob:")):
                    route.continue_()
                elif tiles and (urlsplit(url).hostname or "").endswith(tiles):
                    served.append(url)
                    route.fulfill(status=200, content_type="image/png", body=PNG_1X1)
                else:
                    blocked.append(url)
                    route.abort()

            context.route("**/*", gate)
            page = context.new_page()
            page.set_default_timeout(15_000)
            # a request the page itself cancels (a poll cut short by the next page, a tile Leaflet no longer needs
            # after fitting the view) is not a failure; one refused, unreachable or blocked here is
            page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "") else failed.append(r.url))
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/ui/login")
            page.click("text=Sign in with an API token instead")
            page.fill("#f-username", "officer")
            page.fill("#f-token", site.tokens["officer"])
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(re.escape(base) + r"/ui/.*"))
            yield page, base, blocked, failed, errors, served
        finally:
            browser.close()


@pytest.mark.chromium
def test_both_maps_draw_the_base_map_with_every_other_origin_blocked(chromium_path: Path, site: Site) -> None:
    from playwright.sync_api import expect

    with _officer_in_chromium(chromium_path, site, site.platform) as (page, base, blocked, failed, errors, _):
        for path, shot in (("/ui/transits", "map-transit"), ("/ui/vessels", "map-vessels")):
            page.goto(base + path)
            expect(page.locator("#map")).to_have_attribute("data-basemap-drawn", "1", timeout=20_000)
            expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"^[1-9][0-9]*$"), timeout=20_000)
            land = page.locator(".leaflet-basemap-pane path.basemap-land")
            assert land.count() > 0
            assert land.first.get_attribute("d")  # an SVG path with a drawing, not an empty element
            assert page.locator(".leaflet-basemap-pane path.basemap-border").count() > 0
            assert page.locator(".leaflet-bottom .map-legend.leaflet-control").is_visible()
            assert "Customs office" in page.locator(".map-legend").inner_text()
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=False)
            page.click(".map-legend summary")  # the legend folds away from the map
            expect(page.locator(".map-legend li").first).to_be_hidden(timeout=20_000)
        assert blocked == [] and failed == [] and errors == []


@pytest.mark.chromium
def test_with_a_tile_server_the_maps_load_its_tiles_and_nothing_else_from_outside(
    chromium_path: Path, site: Site
) -> None:
    from playwright.sync_api import expect

    from opencustoms.context import Platform

    settings = site.platform.settings.model_copy(update={"map_tile_url": TILES, "map_tile_attribution": "Tiles: NL"})
    with _officer_in_chromium(chromium_path, site, Platform(settings), tiles=".tiles.customs.example") as (
        page,
        base,
        blocked,
        failed,
        errors,
        served,
    ):
        for path in ("/ui/transits", "/ui/vessels"):
            page.goto(base + path)
            expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"^[1-9][0-9]*$"), timeout=20_000)
            expect(page.locator(".leaflet-tile-pane img.leaflet-tile-loaded").first).to_be_attached(timeout=20_000)
            assert page.locator(".basemap-land").count() == 0  # the tiles replace the built-in base map
            assert "Tiles: NL" in page.locator(".leaflet-control-attribution").inner_text()
        # the Content-Security-Policy let the tiles through (a refused image never reaches the network)
        assert served and all(
            re.match(r"https://[abc]\.tiles\.customs\.example/osm/\d+/\d+/\d+\.png$", u) for u in served
        )
        assert blocked == [] and failed == [] and errors == []
