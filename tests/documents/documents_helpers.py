"""Shared data for the documents tests (a helper module, not a test file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opencustoms.documents.config import DocumentSettings

FIXTURES = Path(__file__).with_name("fixtures") / "oa"
STORE = "0x" + "ab" * 20
SETTINGS = DocumentSettings(
    store_address=STORE,
    identity_domain="customs.nl.example",
    issuer_name="Dutch Customs",
    dns_txt={},
)


def coo_record(number: str = "COO-2025-77", **changes: Any) -> dict[str, Any]:
    """A certificate of origin matching tests/conftest.py's sample_declaration goods item 2."""
    data: dict[str, Any] = {
        "id": number,
        "issue_date": "2025-02-20",
        "fta": "test FTA",
        "exporter": {
            "id": "CN300000003",
            "name": "Shenzhen Widgets Ltd",
            "address_line": "1 Keji Road",
            "city_name": "Shenzhen",
            "country_code": "CN",
        },
        "importer": {"id": "NL200000002", "name": "Tulip Trading BV", "country_code": "NL"},
        "consignment": {
            "transport_mode_code": "1",
            "transport_means": "EVER GIVEN",
            "loading_location": "CNSZX",
            "unloading_location": "NLRTM",
            "departure_date": "2025-02-22",
        },
        "goods_items": [
            {
                "sequence_number": 1,
                "hs_code": "620342",
                "description": "men's cotton trousers",
                "quantity": 500,
                "quantity_unit": "NAR",
                "gross_mass_kg": 320.5,
                "origin_country_code": "CN",
                "origin_criterion": "PSR",
            }
        ],
        "issuing_authority": {"name": "CCPIT Shenzhen", "country_code": "CN", "place": "Shenzhen"},
    }
    data.update(changes)
    return data
