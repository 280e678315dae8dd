"""The scan review pages through the app (TestClient): the queue, one scan with its images and the declared goods,
claiming, the finding form (CSRF, server-side validation next to the fields, role checks) and what a finding
changes elsewhere (the declaration page, the inspection history, the flagged list)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from web_helpers import Site, csrf_of

from opencustoms.declarations import service as declarations
from opencustoms.iot import service as iot
from opencustoms.security import service as security


def _scans(site: Site) -> list[dict]:
    operator = security.local_operator("NL")
    return iot.scan_queue(site.engine, operator, status="all")


def _anomalous(site: Site) -> dict:
    """A demo scan of a fraudulent declaration (the demo puts the fraud cases first, oldest first)."""
    operator = security.local_operator("NL")
    return iot.scan_queue(site.engine, operator)[0]


def test_queue_lists_the_demo_scans_oldest_first_in_both_languages(client_for, site: Site) -> None:
    client = client_for("officer")
    home = client.get("/ui/queue")
    assert 'href="/ui/scans"' in home.text
    page = client.get("/ui/scans")
    assert page.status_code == 200
    ids = [s["scan_id"] for s in iot.scan_queue(site.engine, security.local_operator("NL"))]
    assert len(ids) == 4 and page.text.index(ids[0]) < page.text.index(ids[-1])
    assert "pending 4" in page.text
    french = client.get("/ui/scans?lang=fr")
    assert "Analyse des images" in french.text and "en attente" in french.text
    client.get("/ui/scans?lang=en")
    filtered = client.get("/ui/scans", params={"site": "ELSEWHERE"})
    assert "No scan here." in filtered.text
    assert client.get("/ui/scans", params={"status": "bogus"}).status_code == 200  # falls back to the open queue


def test_scan_page_shows_the_images_and_the_declared_goods(client_for, site: Site) -> None:
    client = client_for("officer")
    scan = _anomalous(site)
    page = client.get(f"/ui/scans/{scan['scan_id']}")
    assert page.status_code == 200
    reference = scan["functional_reference_ids"][0]
    assert f'href="/ui/declarations/{reference}"' in page.text and "Declared goods" in page.text
    declaration, _ = declarations.get(
        site.engine, security.local_operator("NL"), reference, site.platform.pseudonymiser, "test"
    )
    assert declaration.goods_items[0].hs_code in page.text
    for view in ("top", "side"):
        assert f'src="/ui/scans/{scan["scan_id"]}/views/{view}.png"' in page.text
        shown = client.get(f"/ui/scans/{scan['scan_id']}/views/{view}.png")
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(shown.content))
        assert image.mode == "L"  # windowed to 8 bits for the screen
        assert np.asarray(image).std() > 10  # with contrast, not a flat grey
        full = Image.open(io.BytesIO(client.get(f"/ui/scans/{scan['scan_id']}/views/{view}.png?full=1").content))
        assert full.mode == "I;16"
    assert client.get(f"/ui/scans/{scan['scan_id']}/views/back.png").status_code == 404
    assert client.get("/ui/scans/NOPE").status_code == 404
    anonymous = client_for(None)
    assert anonymous.get(f"/ui/scans/{scan['scan_id']}/views/top.png").status_code == 303  # sign in first


def test_finding_form_validates_checks_csrf_and_feeds_the_declaration(client_for, site: Site) -> None:
    client = client_for("analyst")
    scan = _anomalous(site)
    url = f"/ui/scans/{scan['scan_id']}"
    page = client.get(url)
    token = csrf_of(page.text)
    forged = client.post(f"{url}/finding", data={"finding": "clear", "csrf_token": "forged"})
    assert forged.status_code == 403 and "security token" in forged.text
    empty = client.post(f"{url}/finding", data={"csrf_token": token})
    assert empty.status_code == 422 and 'id="e-finding"' in empty.text
    no_notes = client.post(f"{url}/finding", data={"finding": "discrepancy", "csrf_token": token})
    assert 'id="e-notes"' in no_notes.text and "for the inspecting officer" in no_notes.text
    bad_region = client.post(
        f"{url}/finding",
        data={"finding": "discrepancy", "notes": "mass", "regions": "top 1 2 three 4", "csrf_token": token},
    )
    assert 'id="e-regions"' in bad_region.text and "Line 1" in bad_region.text
    outside = client.post(
        f"{url}/finding",
        data={"finding": "discrepancy", "notes": "mass", "regions": "top 600 10 500 10", "csrf_token": token},
    )
    assert outside.status_code == 422 and 'id="e-regions"' in outside.text and "falls outside" in outside.text
    assert iot.get_scan(site.engine, security.local_operator("NL"), scan["scan_id"])["status"] == "pending"
    done = client.post(
        f"{url}/finding",
        data={
            "finding": "discrepancy",
            "notes": "dense organic mass inside the load",
            "regions": "top 250 40 90 90 dense mass",
            "csrf_token": token,
        },
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/ui/scans?notice=")
    shown = client.get(url)
    assert "dense organic mass inside the load" in shown.text and 'class="roi"' in shown.text
    assert "Record the finding" not in shown.text
    queue = client.get("/ui/scans")
    assert "Findings awaiting a physical inspection" in queue.text and scan["scan_id"] in queue.text
    reference = scan["functional_reference_ids"][0]
    declaration_page = client.get(f"/ui/declarations/{reference}")
    assert (
        f'href="/ui/scans/{scan["scan_id"]}"' in declaration_page.text and "iot.scan_finding" in declaration_page.text
    )
    history = declarations.inspection_history(site.engine, security.local_operator("NL"), reference)
    assert history[-1]["source"] == "scan_review" and history[-1]["outcome"] == "fraud"
    again = client.post(f"{url}/finding", data={"finding": "clear", "csrf_token": token})
    assert again.status_code == 422 and "already has a finding" in again.text


def test_claims_and_roles(client_for, site: Site) -> None:
    scan = _scans(site)[-1]
    url = f"/ui/scans/{scan['scan_id']}"
    officer, analyst, dpo = client_for("officer"), client_for("analyst"), client_for("dpo")
    token = csrf_of(officer.get(url).text)
    claimed = officer.post(f"{url}/claim", data={"action": "claim", "csrf_token": token})
    assert claimed.status_code == 303
    assert "claimed by officer" in analyst.get(url).text
    analyst_token = csrf_of(analyst.get(url).text)
    refused = analyst.post(f"{url}/finding", data={"finding": "clear", "csrf_token": analyst_token})
    assert refused.status_code == 422 and "claimed by officer" in refused.text
    back = officer.post(f"{url}/claim", data={"action": "release", "csrf_token": token})
    assert back.status_code == 303
    assert iot.get_scan(site.engine, security.local_operator("NL"), scan["scan_id"])["status"] == "pending"
    viewing = dpo.get(url)
    assert viewing.status_code == 200 and "needs the permission scans:review" in viewing.text
    forbidden = dpo.post(f"{url}/finding", data={"finding": "clear", "csrf_token": csrf_of(viewing.text)})
    assert forbidden.status_code == 403 and "scans:review" in forbidden.text and "risk_analyst" in forbidden.text
