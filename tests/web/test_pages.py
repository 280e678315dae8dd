"""Every dashboard page through the app (TestClient, no browser): sign-in, role checks with 403 pages naming the
roles, CSRF refusals, server-side validation with messages next to the fields, and the pages' content."""

from __future__ import annotations

import re

import pytest
from web_helpers import HELD_BACK, Site, csrf_of

from opencustoms.documents import service as documents
from opencustoms.security import service as security


def test_pages_need_sign_in_and_login_rejects_wrong_tokens(client_for, site: Site) -> None:
    anonymous = client_for(None)
    response = anonymous.get("/ui/queue?lane=red")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login?next=%2Fui%2Fqueue")
    page = anonymous.get("/ui/login")
    token = csrf_of(page.text)
    wrong = anonymous.post("/ui/login", data={"username": "officer", "token": "oc_nope", "csrf_token": token})
    assert wrong.status_code == 422 and "unknown API token" in wrong.text
    other = anonymous.post(
        "/ui/login", data={"username": "analyst", "token": site.tokens["officer"], "csrf_token": token}
    )
    assert other.status_code == 422 and "does not belong to this username" in other.text
    empty = anonymous.post("/ui/login", data={"username": "", "token": "", "csrf_token": token})
    assert 'id="e-username"' in empty.text and 'id="e-token"' in empty.text


def test_session_cookie_is_httponly_strict_and_open_redirects_are_refused(client_for, site: Site) -> None:
    client = client_for(None)
    page = client.get("/ui/login")
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    response = client.post(
        "/ui/login",
        data={
            "username": "officer",
            "token": site.tokens["officer"],
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/",
        },
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    assert "Content-Security-Policy" in client.get("/ui/").headers


def test_revoked_token_ends_the_session(client_for, site: Site) -> None:
    client = client_for("officer")
    assert client.get("/ui/queue").status_code == 200
    operator = security.local_operator("NL")
    security.revoke_tokens(site.engine, operator, "officer")
    response = client.get("/ui/queue")
    assert response.status_code == 303 and "problem=" in response.headers["location"]


def test_csrf_refusal(client_for, site: Site) -> None:
    client = client_for("officer")
    reference = site.references["red"]
    response = client.post(f"/ui/declarations/{reference}/inspection", data={"outcome": "fraud"})
    assert response.status_code == 403 and "security token" in response.text
    forged = client.post(f"/ui/declarations/{reference}/inspection", data={"outcome": "fraud", "csrf_token": "x" * 43})
    assert forged.status_code == 403


def test_forbidden_page_names_the_permission_and_roles(client_for) -> None:
    response = client_for("officer").get("/ui/audit")
    assert response.status_code == 403
    assert "audit:read" in response.text
    for role in ("administrator", "data_protection_officer", "supervisor"):
        assert role in response.text
    assert client_for("analyst").get("/ui/documents").status_code == 403
    assert client_for("officer").get("/ui/documents/new").status_code == 403


def test_queue_shows_lanes_with_reasons(client_for, site: Site) -> None:
    response = client_for("officer").get("/ui/queue?lane=red")
    assert response.status_code == 200
    assert site.references["red"] in response.text
    main = re.findall(r'<td class="top-reason">([^<]+)', response.text)
    assert main and all(len(text.split()) > 3 for text in main), main  # the main reason, as a sentence
    french = client_for("officer").get("/ui/queue?lane=red&lang=fr").text
    assert '<span class="lane lane-red">rouge</span>' in french


def test_declaration_detail_and_inspection_form(client_for, site: Site) -> None:
    client = client_for("officer")
    reference = site.references["red"]
    page = client.get(f"/ui/declarations/{reference}")
    assert page.status_code == 200
    for heading in ("Goods items", "Parties", "Signals", "History", "Risk decision"):
        assert heading in page.text
    token = csrf_of(page.text)
    bad = client.post(
        f"/ui/declarations/{reference}/inspection", data={"outcome": "maybe", "revenue": "-3", "csrf_token": token}
    )
    assert bad.status_code == 422
    assert 'id="e-outcome"' in bad.text and 'id="e-revenue"' in bad.text
    good = client.post(
        f"/ui/declarations/{reference}/inspection",
        data={"outcome": "fraud", "revenue": "1250.50", "note": "undervalued", "csrf_token": token},
    )
    assert good.status_code == 303
    after = client.get(good.headers["location"])
    assert "Inspection result recorded." in after.text and "undervalued" in after.text and "1,250.50" in after.text
    labelled = security.read_audit(site.engine, security.local_operator("NL"), object_id=reference, who="officer")
    assert any(a["action"] == "inspect" for a in labelled)


def test_personal_data_only_for_roles_allowed(client_for, site: Site) -> None:
    reference = site.references["red"]
    officer = client_for("officer").get(f"/ui/declarations/{reference}").text
    analyst = client_for("analyst").get(f"/ui/declarations/{reference}").text
    assert "pseudonymised" not in officer and "pseudonymised" in analyst
    assert re.search(r"<td>p_[0-9a-f]{24}</td>", analyst)
    assert not re.search(r"<td>p_[0-9a-f]{24}</td>", officer)


def test_issue_validate_print_and_revoke_a_certificate(client_for, site: Site) -> None:
    client = client_for("supervisor")
    form = client.get("/ui/documents/new")
    token = csrf_of(form.text)
    data = {
        "csrf_token": token,
        "id": "COO-WEB-1",
        "issue_date": "2025-03-01",
        "fta": "EU-KR FTA",
        "exporter.name": "Busan Steel Co",
        "exporter.country_code": "KR",
        "importer.name": "Tulip Trading BV",
        "importer.country_code": "NL",
        "goods_items.0.hs_code": "73AB",
        "goods_items.0.description": "bolts",
        "goods_items.0.origin_country_code": "KR",
        "goods_items.0.origin_criterion": "CTC",
        "issuing_authority.name": "Korea Customs Service",
        "issuing_authority.country_code": "KR",
    }
    bad = client.post("/ui/documents/new", data=data)
    assert bad.status_code == 422 and 'id="e-goods_items-0-hs_code"' in bad.text
    assert 'value="Busan Steel Co"' in bad.text  # the form keeps what was typed
    data["goods_items.0.hs_code"] = "731815"
    issued = client.post("/ui/documents/new", data=data)
    assert issued.status_code == 303 and issued.headers["location"].startswith("/ui/documents/COO-WEB-1")
    shown = client.get("/ui/documents/COO-WEB-1")
    assert "Valid document" in shown.text
    printed = client.get("/ui/documents/COO-WEB-1/print")
    assert printed.status_code == 200 and "data:image/png;base64," in printed.text
    empty = client.post("/ui/documents/COO-WEB-1/revoke", data={"csrf_token": csrf_of(shown.text), "reason": ""})
    assert empty.status_code == 422 and 'id="e-reason"' in empty.text
    revoked = client.post(
        "/ui/documents/COO-WEB-1/revoke", data={"csrf_token": csrf_of(shown.text), "reason": "forged stamp"}
    )
    assert revoked.status_code == 303
    after = client.get("/ui/documents/COO-WEB-1").text
    assert "Not valid" in after and "forged stamp" in after
    assert "revoked" in client.get("/ui/documents").text


def test_public_verification_by_file_qr_and_paste(client_for, site: Site) -> None:
    operator = security.local_operator("NL")
    wrapped = documents.show(site.engine, operator, site.certificate)
    import json

    from opencustoms.documents import render
    from opencustoms.documents.config import get_document_settings

    public = client_for(None)
    page = public.get("/verify")
    assert page.status_code == 200 and "Verify a document" in page.text
    token = csrf_of(page.text)
    body = json.dumps(wrapped).encode()
    by_file = public.post("/verify", data={"csrf_token": token}, files={"file": ("coo.json", body, "application/json")})
    assert by_file.status_code == 200 and "Valid document" in by_file.text
    assert by_file.text.count("verdict-valid") == 3
    link = render.qr_payload(wrapped, get_document_settings().verify_url)
    by_link = public.get("/verify", params={"q": link.split("?q=", 1)[1]})
    assert "Valid document" in by_link.text
    by_paste = public.post("/verify", data={"csrf_token": token, "content": link})
    assert "Valid document" in by_paste.text
    tampered = json.loads(body)
    first = next(k for k in tampered["data"] if k not in ("$template", "issuers"))
    tampered["data"][first] = tampered["data"][first] + "x"
    broken = public.post("/verify", data={"csrf_token": token, "content": json.dumps(tampered)})
    assert "Not valid" in broken.text and "verdict-invalid" in broken.text
    nothing = public.post("/verify", data={"csrf_token": token})
    assert nothing.status_code == 422 and 'id="e-content"' in nothing.text
    garbage = public.post("/verify", data={"csrf_token": token, "content": "hello"})
    assert garbage.status_code == 422 and 'id="e-content"' in garbage.text
    no_csrf = public.post("/verify", data={"content": link})
    assert no_csrf.status_code == 403


@pytest.fixture
def small_upload_limit(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from opencustoms.documents.config import get_document_settings

    monkeypatch.setenv("OPENCUSTOMS_DOCUMENTS_MAX_UPLOAD_BYTES", "2000")
    get_document_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_document_settings.cache_clear()


def test_verification_upload_is_size_limited(client_for, small_upload_limit: None) -> None:
    public = client_for(None)
    token = csrf_of(public.get("/verify").text)
    response = public.post(
        "/verify", data={"csrf_token": token}, files={"file": ("big.json", b"{" + b" " * 5000 + b"}", "text/plain")}
    )
    assert response.status_code == 413 and 'id="e-file"' in response.text


def test_aeo_registry_search_and_history(client_for, site: Site) -> None:
    client = client_for("officer")
    found = client.get("/ui/aeo", params={"q": "tulip"})
    assert found.status_code == 200 and site.aeo_number in found.text and "suspended" in found.text
    detail = client.get(f"/ui/aeo/{site.aeo_number}")
    assert detail.status_code == 200 and "aeo.suspended" in detail.text and "audit findings" in detail.text
    assert "inclusion" in detail.text.lower()
    assert client_for("dpo").get("/ui/aeo").status_code == 403


def test_transit_map_data_and_live_alert(client_for, site: Site) -> None:
    client = client_for("officer")
    assert client.get("/ui/transits").status_code == 200
    before = client.get("/ui/transits/map.json").json()
    assert len(before["movements"]) == 8 and before["zones"]
    assert all(m["corridor"] for m in before["movements"])
    kinds = {a["kind"] for a in before["alerts"]}
    assert "corridor_deviation" in kinds and "seal_opened_outside_zone" not in kinds
    assert all(a["position"] for a in before["alerts"])
    site.send_held_back()
    after = client.get("/ui/transits/map.json").json()
    opened = [a for a in after["alerts"] if a["kind"] == "seal_opened_outside_zone"]
    assert opened and opened[0]["movement_id"] == HELD_BACK
    report = client.get(f"/ui/transits/{HELD_BACK}")
    assert report.status_code == 200 and "seal_opened_outside_zone" in report.text


def test_gate_queue_release_and_inspect(client_for, site: Site) -> None:
    client = client_for("officer")
    page = client.get("/ui/gates")
    assert page.status_code == 200 and "RADIATION ALARM" in page.text
    ids = re.findall(r'id="gate-([0-9a-f-]{36})"', page.text)
    assert len(ids) == 3  # plate mismatch, radiation alarm, unexpected vehicle
    token = csrf_of(page.text)
    bad = client.post(f"/ui/gates/{ids[0]}", data={"csrf_token": token, "decision": "wave"})
    assert bad.status_code == 422 and "Choose release or inspect." in bad.text
    done = client.post(
        f"/ui/gates/{ids[0]}", data={"csrf_token": token, "decision": "inspect"}, headers={"HX-Request": "true"}
    )
    assert done.status_code == 200 and f'id="gate-{ids[0]}"' not in done.text and "inspect" in done.text
    again = client.post(f"/ui/gates/{ids[0]}", data={"csrf_token": token, "decision": "release"})
    assert again.status_code == 422 and "already taken" in again.text
    assert client_for("analyst").post(f"/ui/gates/{ids[1]}", data={"csrf_token": token}).status_code == 403


def test_vessels_page_and_map(client_for) -> None:
    client = client_for("analyst")
    page = client.get("/ui/vessels")
    assert page.status_code == 200 and "ais_gap" in page.text and "vessel_encounter" in page.text
    data = client.get("/ui/vessels/map.json").json()
    assert len(data["vessels"]) >= 3 and all(len(v["track"]) >= 2 for v in data["vessels"])
    kinds = {a["kind"] for a in data["alerts"]}
    assert {"ais_gap", "vessel_encounter"} <= kinds
    analysed = client.post("/ui/vessels/analyse", data={"csrf_token": csrf_of(page.text)})
    assert analysed.status_code == 303 and "vessels+analysed" in analysed.headers["location"].replace("%20", "+")


def test_risk_profiles_create_validate_and_retire(client_for) -> None:
    client = client_for("analyst")
    page = client.get("/ui/risk/profiles")
    assert page.status_code == 200 and "fasteners-cn" in page.text
    token = csrf_of(page.text)
    bad = client.post(
        "/ui/risk/profiles",
        data={
            "csrf_token": token,
            "id": "textiles",
            "lane": "yellow",
            "reason": "",
            "valid_from": "2025-01-01",
            "criteria": "{not json",
        },
    )
    assert 'id="e-criteria"' in bad.text and 'id="e-reason"' in bad.text
    unknown = client.post(
        "/ui/risk/profiles",
        data={
            "csrf_token": token,
            "id": "textiles",
            "lane": "yellow",
            "reason": "Cotton trousers",
            "valid_from": "2025-01-01",
            "criteria": '{"field": "colour", "op": "eq", "value": "red"}',
        },
    )
    assert 'id="e-criteria"' in unknown.text
    saved = client.post(
        "/ui/risk/profiles",
        data={
            "csrf_token": token,
            "id": "textiles",
            "lane": "yellow",
            "reason": "Cotton trousers",
            "valid_from": "2025-01-01",
            "criteria": '{"field": "hs4", "op": "eq", "value": "6203"}',
        },
    )
    assert saved.status_code == 303 and saved.headers["location"].startswith("/ui/risk/profiles/textiles")
    detail = client.get("/ui/risk/profiles/textiles")
    assert "Cotton trousers" in detail.text
    retired = client.post("/ui/risk/profiles/textiles/retire", data={"csrf_token": csrf_of(detail.text)})
    assert retired.status_code == 303
    assert "Profile retired." in client.get(retired.headers["location"]).text
    assert client_for("officer").post("/ui/risk/profiles", data={"csrf_token": token}).status_code == 403


def test_models_page_shows_versions(client_for) -> None:
    page = client_for("analyst").get("/ui/risk/models")
    assert page.status_code == 200 and "promoted" in page.text
    assert client_for("officer").get("/ui/risk/models").status_code == 403


def test_audit_log_for_the_data_protection_officer(client_for, site: Site) -> None:
    reference = site.references["red"]
    client_for("officer").get(f"/ui/declarations/{reference}")
    page = client_for("dpo").get("/ui/audit", params={"object_id": reference})
    assert page.status_code == 200
    assert "officer" in page.text and "dashboard" in page.text  # who read it, and the purpose given


def test_home_and_language_switch(client_for) -> None:
    client = client_for("officer")
    home = client.get("/ui/")
    assert home.status_code == 200 and "Dashboard" in home.text
    french = client.get("/ui/queue?lane=red&lang=fr")
    assert "File de ciblage" in french.text and 'lang="fr"' in french.text
    assert "File de ciblage" in client.get("/ui/queue").text  # the choice is kept in the session
    assert "Connexion" in client_for(None).get("/ui/login", headers={"Accept-Language": "fr-CA,fr;q=0.9"}).text


def test_unknown_pages_and_records_are_html_errors(client_for) -> None:
    client = client_for("officer")
    missing = client.get("/ui/declarations/NOPE-1")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert client.get("/ui/nowhere").status_code == 404
    assert client.get("/declarations/NOPE-1").headers["content-type"] == "application/problem+json"


def test_the_audit_page_verifies_the_chain(client_for, site: Site) -> None:
    """The dashboard's button runs `opencustoms audit verify` for the data-protection officer (and is itself an
    audited action); without audit:read, 403."""
    client = client_for("dpo")
    page = client.get("/ui/audit")
    assert "Verify the chain" in page.text
    checked = client.post("/ui/audit/verify", data={"csrf_token": csrf_of(page.text)})
    assert checked.status_code == 200 and "Audit log intact" in checked.text
    officer = client_for("officer")
    refused = officer.post("/ui/audit/verify", data={"csrf_token": csrf_of(officer.get("/ui/queue").text)})
    assert refused.status_code == 403
