"""Shared set-up for the documents benchmarks: a fresh SQLite database under var/bench and realistic certificates
of origin (two goods items, all parties, about 40 salted fields, ~4 KB wrapped)."""

from __future__ import annotations

from typing import Any

from _common import RESULTS, ROOT, WORK, fresh_engine, machine, write  # noqa: F401  (re-exported)


def settings():  # type: ignore[no-untyped-def]
    from opencustoms.documents.config import DocumentSettings

    return DocumentSettings(store_address="0x" + "ab" * 20, identity_domain="customs.nl.example", dns_txt={})


def coo(i: int) -> dict[str, Any]:
    return {
        "id": f"COO-{i:07d}",
        "issue_date": "2025-02-20",
        "fta": "EU-VN FTA",
        "exporter": {
            "id": f"VN{i:09d}",
            "name": f"Saigon Garments {i} Co., Ltd",
            "address_line": "12 Le Loi",
            "city_name": "Ho Chi Minh City",
            "country_code": "VN",
        },
        "producer": {"name": "Binh Duong Textile JSC", "country_code": "VN"},
        "importer": {"id": f"NL{i:09d}", "name": "Tulip Trading BV", "city_name": "Rotterdam", "country_code": "NL"},
        "consignment": {
            "transport_mode_code": "1",
            "transport_means": "EVER GIVEN",
            "departure_date": "2025-02-22",
            "loading_location": "VNSGN",
            "unloading_location": "NLRTM",
            "invoice_number": f"INV-{i}",
        },
        "goods_items": [
            {
                "sequence_number": k,
                "hs_code": "620342",
                "description": "men's cotton trousers",
                "quantity": 500 + k,
                "quantity_unit": "NAR",
                "gross_mass_kg": 320.5,
                "origin_country_code": "VN",
                "origin_criterion": "PSR",
            }
            for k in (1, 2)
        ],
        "issuing_authority": {"name": "VCCI Ho Chi Minh City", "country_code": "VN", "place": "Ho Chi Minh City"},
    }
