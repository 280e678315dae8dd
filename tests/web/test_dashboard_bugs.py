"""The dashboard bugs of issue #14 ("Bugs found"): links of the declaration page that led nowhere, AEO status
from the ledger rather than from the declaration's word, the favicon, number formatting, the verification page's
messages for files that are not documents."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urljoin

from web_helpers import Site, csrf_of


def _red_declaration_with(site: Site, *, holder: str) -> str:
    """The red declaration, its declarant the AEO holder of the site's ledger and every other party declared
    certified under a certificate the ledger does not hold; its documents an invoice, a bill of lading and the
    certificate of origin issued here."""
    reference = site.references["red"]
    with site.engine.begin() as conn:
        (did,) = conn.exec_driver_sql(
            "SELECT id FROM declarations WHERE functional_reference_id = ?", (reference,)
        ).one()
        conn.exec_driver_sql(
            "UPDATE declaration_parties SET aeo_status = 'certified', aeo_certificate_id = 'NLAEO99999' "
            "WHERE declaration_id = ?",
            (did,),
        )
        conn.exec_driver_sql(
            "UPDATE declaration_parties SET party_id = ?, aeo_certificate_id = ? WHERE declaration_id = ? "
            "AND role = 'declarant'",
            (holder, site.aeo_number, did),
        )
        conn.exec_driver_sql("DELETE FROM additional_documents WHERE declaration_id = ?", (did,))
        for position, (type_code, number) in enumerate(
            (("380", "INV-2025-77"), ("705", "BL-RTM-0042"), ("861", site.certificate), ("999", "X-1"))
        ):
            conn.exec_driver_sql(
                "INSERT INTO additional_documents (declaration_id, position, type_code, document_id) "
                "VALUES (?, ?, ?, ?)",
                (did, position, type_code, number),
            )
    return reference


def _hrefs(html: str) -> list[str]:
    return sorted({unescape(h) for h in re.findall(r'href="([^"]+)"', html)})


def test_every_link_of_the_declaration_page_resolves(client_for, site: Site) -> None:
    reference = _red_declaration_with(site, holder="NL200000002")
    client = client_for("supervisor")
    page = client.get(f"/ui/declarations/{reference}")
    assert page.status_code == 200
    html = page.text
    # an issued certificate links to its page; invoices and bills of lading are references, named by their type
    assert f'href="/ui/documents/{site.certificate}"' in html
    assert "/ui/documents/INV-2025-77" not in html and "/ui/documents/BL-RTM-0042" not in html
    assert "Commercial invoice (380) INV-2025-77" in html and "Bill of lading (705) BL-RTM-0042" in html
    assert "document type 999 X-1" in html
    broken = []
    for href in _hrefs(html):
        if href.startswith(("http:", "https:", "#", "mailto:")):
            continue
        target = urljoin(f"http://testserver/ui/declarations/{reference}", href)
        status = client.get(target).status_code
        if status >= 400:
            broken.append((href, status))
    assert not broken, broken


def test_aeo_status_comes_from_the_ledger(client_for, site: Site) -> None:
    reference = _red_declaration_with(site, holder="NL200000002")
    html = client_for("supervisor").get(f"/ui/declarations/{reference}").text
    cells = re.findall(r'<td class="aeo">(.*?)</td>', html, re.S)
    # the declarant holds the ledger's certificate (suspended there): its page, which exists, is linked
    assert any(f'href="/ui/aeo/{site.aeo_number}"' in c and "suspended" in c for c in cells), cells
    # the others were declared certified, but the ledger holds nothing for them
    assert any("no AEO certificate on record" in c and "declared: certified" in c for c in cells), cells
    assert "/ui/aeo?q=" not in html and "NLAEO99999</a>" not in html
    french = client_for("supervisor").get(f"/ui/declarations/{reference}?lang=fr").text
    assert "aucun certificat OEA enregistré" in french


def test_aeo_status_for_a_reader_without_personal_data(client_for, site: Site) -> None:
    reference = _red_declaration_with(site, holder="NL200000002")
    html = client_for("analyst").get(f"/ui/declarations/{reference}").text
    assert "NL200000002" not in html and "Tulip Trading" not in html
    cells = re.findall(r'<td class="aeo">(.*?)</td>', html, re.S)
    assert cells and all("/ui/aeo?q=" not in c for c in cells)


def test_every_page_names_a_favicon_that_is_served(client_for) -> None:
    anonymous, officer = client_for(None), client_for("officer")
    for client, path in ((anonymous, "/ui/login"), (anonymous, "/verify"), (officer, "/ui/queue"), (officer, "/ui/")):
        html = client.get(path).text
        icons = re.findall(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
        assert icons == ["/static/favicon.svg"], (path, icons)
        icon = anonymous.get(icons[0])
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg") and "<script" not in icon.text


def test_numbers_are_written_in_the_readers_language(client_for, site: Site) -> None:
    from opencustoms.web.i18n import format_number

    assert format_number("en", 1234567.5) == "1,234,567.5"
    assert format_number("fr", 1234567.5) == "1\u202f234\u202f567,5"
    assert format_number("fr", 1250, 2) == "1\u202f250,00" and format_number("en", None) == ""
    client = client_for("officer")
    english = client.get("/ui/queue?status=any").text
    french = client.get("/ui/queue?status=any&lang=fr").text
    # customs values above a thousand, with their separators, and no English number left on the French page
    assert re.search(r"<td>\d{1,3}(,\d{3})+\.\d{2} [A-Z]{3}</td>", english)
    assert re.search(r"<td>\d{1,3}(\u202f\d{3})+,\d{2} [A-Z]{3}</td>", french)
    assert not re.search(r"<td>\d{1,3}(,\d{3})+\.\d{2} [A-Z]{3}</td>", french)
    assert re.search(r"\d+,\d\u202f% · ", french)  # probabilities: 87,5 %
    reference = site.references["red"]
    page = client.get(f"/ui/declarations/{reference}?lang=fr").text
    assert re.search(r"<td>\d{1,3}(\u202f\d{3})*,\d{2} [A-Z]{3}</td>", page)
    home = client.get("/ui/?lang=fr").text
    assert "<strong>" in home and not re.search(r"<strong>\d{4,}</strong>", home)


GARBAGE_ANSWERS = {
    "en": "not a readable OpenAttestation document (JSON)",
    "fr": "n'est pas un document OpenAttestation lisible (JSON)",
}


def _verify(client: Any, lang: str, *, file: bytes | None = None, content: str = "") -> Any:
    form = client.get(f"/verify?lang={lang}").text
    files = {"file": ("certificate.json", file, "application/json")} if file is not None else None
    return client.post("/verify", data={"csrf_token": csrf_of(form), "content": content}, files=files)


def test_verification_page_explains_files_that_are_not_documents(client_for) -> None:
    client = client_for(None)
    for lang, words in GARBAGE_ANSWERS.items():
        for garbage in (b"garbage", b"\xff\xfe\x00", b"{", b"[1, 2]", b"   "):
            answer = _verify(client, lang, file=garbage)
            assert answer.status_code == 422, garbage
            assert words in unescape(answer.text), (lang, garbage)
            assert "Expecting" not in answer.text and "malformed JSON" not in answer.text
        empty = _verify(client, lang, file=b"")
        assert empty.status_code == 422 and "Expecting" not in empty.text
        pasted = _verify(client, lang, content="{not json")
        assert pasted.status_code == 422 and "Expecting" not in pasted.text
        assert ("pasted text" if lang == "en" else "texte collé") in unescape(pasted.text)
        qr = client.get(f"/verify?q=garbage&lang={lang}")
        assert qr.status_code == 422 and "Expecting" not in qr.text
        assert ("QR code" if lang == "en" else "code QR") in unescape(qr.text)
        deep = _verify(client, lang, file=b"[" * 5000 + b"]" * 5000)
        assert deep.status_code == 422 and "nested" in unescape(deep.text) or "imbriqué" in unescape(deep.text)
        assert "at byte" not in deep.text
    huge = _verify(client, "fr", file=b'{"a": "' + b"x" * 6_000_000 + b'"}')
    assert huge.status_code == 413
    assert re.search(r"\d\u202f\d{3}", unescape(huge.text))  # the limit written the French way


def test_vessels_are_named_from_their_ais_static_reports(client_for, site: Site) -> None:
    from opencustoms.iot.service import SHIP_TYPE_NAMES
    from opencustoms.web.i18n import DYNAMIC_MESSAGES

    assert set(SHIP_TYPE_NAMES) <= set(DYNAMIC_MESSAGES)
    client = client_for("officer")
    html = client.get("/ui/vessels").text
    # the simulator's type 5 report names 244000001; its MMSI (MID 244) is Dutch; type 70 is a cargo ship
    named = re.search(r"<strong>NORTH SEA TRADER</strong>(.*?)MMSI 244000001", html, re.S)
    assert named and "flag Netherlands (NL)" in named.group(1) and "Cargo ship" in named.group(1)
    assert "IMO 9074729" in named.group(1)
    # a vessel without a static report still shows its flag, then its MMSI
    assert re.search(r"flag Netherlands \(NL\) · <small>MMSI 244000004</small>", html)
    assert "<th>MMSI</th>" not in html
    french = client.get("/ui/vessels?lang=fr").text
    assert "pavillon Pays-Bas (NL)" in french and "· Cargo ·" in french

    reference = site.references["red"]
    with site.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE declarations SET vessel_mmsi = '244000001', transport_mode_code = '1' "
            "WHERE functional_reference_id = ?",
            (reference,),
        )
    page = client.get(f"/ui/declarations/{reference}?lang=en").text
    assert re.search(r"<strong>NORTH SEA TRADER</strong>.*Cargo ship.*MMSI 244000001", page)
