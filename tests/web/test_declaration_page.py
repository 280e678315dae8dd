"""The declaration page names its codes in the reader's language: transport mode (UN/ECE Rec. 19), document types
(UN/EDIFACT 1001), countries, the HS text of each goods item, and the national data elements."""

from __future__ import annotations

from html import unescape

from web_helpers import Site

from opencustoms.declarations import service as declarations
from opencustoms.security import service as security

REFERENCE = "LRN-NAMES-1"


def _store(site: Site) -> None:
    data = {
        "functional_reference_id": REFERENCE,
        "type_code": "import",
        "acceptance_date": "2025-03-04",
        "declaration_office_id": "NL000396",
        "procedure_code": "4000",
        "declarant": {"id": "NL100000001", "name": "Kade Brokers BV", "country_code": "NL"},
        "importer": {"id": "NL200000002", "name": "Tulip Trading BV", "country_code": "NL"},
        "seller": {"id": "CN300000003", "name": "Shenzhen Widgets Ltd", "country_code": "CN"},
        "transport": {
            "mode_code": "3",
            "id": "AB-123-C",
            "nationality_code": "PL",
            "departure_country_code": "DE",
            "itinerary_country_codes": ["DE", "NL"],
        },
        "additional_documents": [
            {"type_code": "730", "id": "CMR-77", "issue_date": "2025-03-01", "issuer_country_code": "DE"},
            {"type_code": "N935", "id": "NAT-1"},
        ],
        "goods_items": [
            {
                "sequence_number": 1,
                "hs_code": "7318150000",
                "description": "bolts",
                "customs_value_amount": "1200.00",
                "customs_value_currency": "EUR",
                "origin_country_code": "CN",
            }
        ],
        "national_extensions": {"kr.import_use": "21", "nl.permit_number": "P-7"},
    }
    declarations.create(site.engine, security.local_operator("NL"), data)


def test_codes_by_name_in_english(client_for, site: Site) -> None:
    _store(site)
    page = unescape(client_for("officer").get(f"/ui/declarations/{REFERENCE}?lang=en").text)
    assert "mode road transport (3)" in page
    assert "nationality Poland (PL)" in page and "→" not in page  # no loading or unloading place declared
    assert "country of departure Germany (DE)" in page and "itinerary Germany (DE), Netherlands (NL)" in page
    assert "Road consignment note (730)" in page and "document type N935" in page
    assert "<td>China (CN)</td>" in page  # the goods' origin; the seller's country too
    assert "Iron or steel; threaded screws and bolts" in page
    assert 'class="hs-text">' in page  # English text on an English page: no language mark
    assert "National data" in page and "Import use" in page and "kr.import_use" in page and "<td>21</td>" in page
    assert "Permit number" in page and "P-7" in page
    assert "<td>South Korea (KR)</td>" in page
    assert "Tulip Trading BV" in page  # the officer reads personal data


def test_codes_by_name_in_french_and_for_readers_of_pseudonyms(client_for, site: Site) -> None:
    _store(site)
    page = unescape(client_for("officer").get(f"/ui/declarations/{REFERENCE}?lang=fr").text)
    assert "mode transport routier (3)" in page
    assert "pays de départ Allemagne (DE)" in page and "nationalité Pologne (PL)" in page
    assert "Lettre de voiture routière (CMR) (730)" in page and "type de document N935" in page
    assert "<td>Chine (CN)</td>" in page
    # the nomenclature is English: its text is marked so screen readers pronounce it as English
    assert '<small class="hs-text" lang="en">Iron or steel; threaded screws and bolts' in page
    assert "Données nationales" in page and "Usage de l'importation" in page and "<td>Corée du Sud (KR)</td>" in page
    assert '<p class="meta">importation · ' in page

    analyst = unescape(client_for("analyst").get(f"/ui/declarations/{REFERENCE}?lang=en").text)
    assert "pseudonymised" in analyst
    for name in ("Tulip Trading BV", "Kade Brokers BV", "Shenzhen Widgets Ltd"):
        assert name not in analyst
    assert "<td>Netherlands (NL)</td>" in analyst and "Import use" in analyst and "road transport (3)" in analyst


def test_goods_items_show_hs_suggestions(client_for, site: Site) -> None:
    _store(site)
    data = {
        "functional_reference_id": "LRN-HS-2",
        "type_code": "import",
        "acceptance_date": "2025-03-04",
        "declaration_office_id": "NL000396",
        "declarant": {"id": "NL100000001", "name": "Kade Brokers BV", "country_code": "NL"},
        "importer": {"id": "NL200000002", "name": "Tulip Trading BV", "country_code": "NL"},
        "goods_items": [
            {
                "sequence_number": 1,
                "hs_code": "847130",
                "description": "men's knitted cotton T-shirts",
                "customs_value_amount": "900.00",
                "customs_value_currency": "EUR",
                "origin_country_code": "BD",
            },
            {
                "sequence_number": 2,
                "hs_code": "610910",
                "customs_value_amount": "100.00",
                "customs_value_currency": "EUR",
                "origin_country_code": "BD",
            },
        ],
    }
    declarations.create(site.engine, security.local_operator("NL"), data)
    officer = client_for("officer")
    page = unescape(officer.get("/ui/declarations/LRN-HS-2?lang=en").text)
    assert "Suggested HS codes" in page
    cells = page.split('<td class="hs-suggestions">')[1:]
    assert len(cells) == 2
    assert "the description points elsewhere" in cells[0] and "610910 (" in cells[0]
    assert cells[1].startswith("</td>")  # no description: no suggestion
    bolts = unescape(officer.get(f"/ui/declarations/{REFERENCE}?lang=fr").text)
    assert "Codes SH suggérés" in bolts and "731815 (" in bolts.split('<td class="hs-suggestions">')[1]
