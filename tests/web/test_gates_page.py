"""The gate decisions page (issue #14): what the gate read against what the declarations expect as fields an
officer reads, in English and French (no raw JSON), and a list that refreshes itself except while an officer is
typing a note — in Chromium under the page's own Content-Security-Policy."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_browser import browser, server  # noqa: F401  (fixtures shared with the other browser tests)
from web_helpers import Site

from processes import budget


def test_reads_and_expected_values_are_fields_not_json(client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for("officer")
    english = client.get("/ui/gates", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    text = english.text
    assert '"plates"' not in text and '"declarations"' not in text and "{&#34;" not in text and "pre class" not in text
    assert text.count('<table class="gate-compare">') == 3
    assert "Number plate" in text and "Read at the gate" in text and "Expected by the declarations" in text
    assert "NL-99-XYZ" in text  # the plate read in the plate-mismatch scenario
    assert "DE-UN-123" in text and "No vehicle named." in text  # the unexpected vehicle
    assert '<strong class="alarm-text">Alarm</strong>' in text  # the radiation alarm
    assert re.search(r'href="/ui/declarations/[^"]+"', text)  # the expected declarations link to their page
    french = client.get("/ui/gates", headers={"Accept-Language": "fr"}).text
    assert "Plaque d'immatriculation" in french.replace("&#39;", "'") and "Lu au portique" in french
    assert "Prévu par les déclarations" in french and "Number plate" not in french


def test_decided_gates_say_what_was_decided(client_for) -> None:  # type: ignore[no-untyped-def]
    from web_helpers import csrf_of

    client = client_for("officer")
    page = client.get("/ui/gates")
    first = re.findall(r'id="gate-([0-9a-f-]{36})"', page.text)[0]
    client.post(f"/ui/gates/{first}", data={"csrf_token": csrf_of(page.text), "decision": "inspect"})
    assert "<td>Sent to inspection</td>" in client.get("/ui/gates/rows").text
    assert "<td>Envoyé en inspection</td>" in client.get("/ui/gates/rows", headers={"Accept-Language": "fr"}).text


def test_the_refresh_needs_no_eval(client_for) -> None:  # type: ignore[no-untyped-def]
    rows = client_for("officer").get("/ui/gates/rows").text
    trigger = re.search(r'hx-trigger="([^"]*)"', rows)
    assert trigger and trigger.group(1) == "every 4000ms"  # no [filter]: htmx would need eval, the CSP forbids it
    assert "data-hold-while-editing" in rows


@pytest.mark.chromium
def test_typing_a_note_holds_the_refresh_back(browser, server: str, site: Site) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")  # the CSP applies
    page = context.new_page()
    page.set_default_timeout(budget(15) * 1000)
    refreshes: list[str] = []
    blocked: list[str] = []
    page.on("request", lambda r: refreshes.append(r.url) if "/ui/gates/rows" in r.url else None)
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(f"{server}/ui/login?method=token&next=%2Fui%2Fgates")
        page.fill("#f-username", "officer")
        page.fill("#f-token", site.tokens["officer"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/ui/gates")
        interval = int(str(page.locator("#gate-rows").get_attribute("data-poll-ms")))
        hold = budget(interval * 2.5 / 1000) * 1000  # longer than an interval, longer still on a loaded machine
        wait = budget(interval * 4 / 1000) * 1000

        def refreshed() -> Any:
            return page.expect_response(lambda r: "/ui/gates/rows" in r.url and r.ok, timeout=wait)

        with refreshed():  # nothing has focus: the list refreshes
            pass
        note = page.locator("article.gate input[name=note]").first
        note.click()
        note.type("seal intact, driver waiting")
        page.wait_for_timeout(interval)  # a refresh already on its way when the officer started typing lands
        before = len(refreshes)
        page.wait_for_timeout(hold)
        assert len(refreshes) == before, "the list refreshed while the officer was typing"
        assert note.input_value() == "seal intact, driver waiting"
        page.locator("h1").click()  # focus leaves the field; the note is still there: no refresh either
        page.wait_for_timeout(hold)
        assert len(refreshes) == before and note.input_value() == "seal intact, driver waiting"
        note.fill("")
        page.locator("h1").click()
        with refreshed():  # the field is empty and unfocused again: refreshing resumes
            pass
        assert not blocked, blocked
    finally:
        context.close()
