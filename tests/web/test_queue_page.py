"""The officers' queue page (issue #13): today's work by default, filters with messages next to them, the score as a
percentage and a band in English and French, the importer masked by role."""

from __future__ import annotations

import re

from web_helpers import Site

from opencustoms.risk import service as risk
from opencustoms.security import service as security


def test_queue_shows_what_awaits_with_percentages_bands_and_the_importer(client_for, site: Site) -> None:
    page = client_for("officer").get("/ui/queue?lane=red")
    assert page.status_code == 200
    operator = security.local_operator("NL")
    awaiting = risk.queue(site.engine, operator, "red", filters=risk.QueueFilters(status="awaiting"), limit=1000)
    inspected = risk.queue(site.engine, operator, "red", filters=risk.QueueFilters(status="inspected"), limit=1000)
    assert awaiting and all(r["reference"] in page.text for r in awaiting[:20])
    assert not any(f">{r['reference']}<" in page.text for r in inspected)  # yesterday's history is not listed
    assert re.search(r"\d+\.\d%|&gt; 99\.9%", page.text) and re.search(r"· (very high|high|medium|low)<", page.text)
    assert "1.000" not in page.text
    every = client_for("officer").get("/ui/queue?lane=red&status=any").text
    assert all(f">{r['reference']}<" in every for r in inspected[:5])


def test_queue_filters_are_validated_next_to_the_field(client_for) -> None:
    client = client_for("officer")
    bad = client.get("/ui/queue?hs_chapter=8&date_from=yesterday")
    assert bad.status_code == 422
    assert 'id="e-hs_chapter"' in bad.text and "two digits" in bad.text
    assert 'id="e-date_from"' in bad.text and "YYYY-MM-DD" in bad.text
    french = client.get("/ui/queue?origin=CHN&lang=fr")
    assert french.status_code == 422 and "deux lettres" in french.text
    fine = client.get("/ui/queue?status=any&hs_chapter=73&lang=fr")
    assert fine.status_code == 200 and "en attente" in fine.text


def test_queue_shows_pseudonyms_to_readers_without_personal_data(client_for, site: Site) -> None:
    officer = client_for("officer").get("/ui/queue?status=any").text
    analyst = client_for("analyst").get("/ui/queue?status=any").text
    assert re.search(r"<td>p_[0-9a-f]{24}</td>", analyst)
    assert not re.search(r"<td>p_[0-9a-f]{24}</td>", officer)
    names = set(re.findall(r"<td>([^<]+) \([A-Z]{2}[0-9A-Z]+\)</td>", officer))
    assert names and not any(name in analyst for name in names)
