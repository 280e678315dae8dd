"""Helpers of the dashboard tests: the demo installation they run on, and reading a form's CSRF token."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
START = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)
CLOCK = START + dt.timedelta(hours=20)
STORE = "0x" + "ab" * 20
DNS_TXT = '{"customs.example": ["openatts net=ethereum netId=1337 addr=' + STORE + '"]}'
DOCUMENT_ENV = {"OPENCUSTOMS_DOCUMENTS_STORE_ADDRESS": STORE, "OPENCUSTOMS_DOCUMENTS_DNS_TXT": DNS_TXT}
HELD_BACK = "MOV-0003"  # the truck whose seal is opened outside a customs zone


@dataclass
class Site:
    directory: Path
    platform: Any
    tokens: dict[str, str]
    references: dict[str, str] = field(default_factory=dict)
    held_back: list[Any] = field(default_factory=list)
    certificate: str = "COO-2025-0001"
    aeo_number: str = "NLAEO00042"

    @property
    def engine(self) -> Any:
        return self.platform.engine

    def send_held_back(self) -> int:
        """Process the held-back truck's messages (as the IoT listener would) and return the new alert count."""
        from opencustoms.iot import service as iot
        from opencustoms.iot.ingest import Payload, Processor

        processor = Processor(self.engine, movement_loader=iot.load_watched_movements, clock=lambda: CLOCK)
        report = processor.process(
            [
                Payload(m.payload, "mqtt", device_id=m.device_id, device_type=m.device_type, authenticated=True)
                for m in self.held_back
            ]
        )
        return int(report.accepted)


def coo_record(number: str) -> dict[str, Any]:
    return {
        "id": number,
        "issue_date": "2025-02-20",
        "fta": "EU-KR FTA",
        "exporter": {"id": "KR1234567", "name": "Busan Steel Co", "country_code": "KR"},
        "importer": {"id": "NL200000002", "name": "Tulip Trading BV", "country_code": "NL"},
        "goods_items": [
            {
                "sequence_number": 1,
                "hs_code": "731815",
                "description": "steel bolts",
                "origin_country_code": "KR",
                "origin_criterion": "CTC",
            }
        ],
        "issuing_authority": {"name": "Korea Customs Service", "country_code": "KR"},
    }


def build_site(directory: Path) -> Site:
    from rich.console import Console

    from opencustoms.demo import run
    from opencustoms.documents import service as documents
    from opencustoms.iot import service as iot
    from opencustoms.iot import simulator
    from opencustoms.iot.ingest import Payload, Processor
    from opencustoms.ledger import service as ledger
    from opencustoms.ledger.entries import AEOCertificate
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.risk import service as risk
    from opencustoms.security import service as security

    platform, tokens, _report = run.prepare_with_tokens(directory, 400, 3, Console(quiet=True))
    engine = platform.engine
    operator = security.local_operator(run.COUNTRY)
    for username, role in (("supervisor", "supervisor"), ("dpo", "data_protection_officer")):
        security.create_user(engine, operator, username, run.COUNTRY, [role])
        tokens[username] = security.issue_token(engine, operator, username, "web tests", valid_days=1)
    site = Site(directory, platform, tokens)

    sim = simulator.build(engine, operator, START)
    movement = iot.transit_report(engine, operator, HELD_BACK)["movement"]
    held = set(movement["seal_device_ids"]) | set(movement["tracker_device_ids"])
    site.held_back = [m for m in sim.messages if m.device_id in held]
    processor = Processor(engine, movement_loader=iot.load_watched_movements, clock=lambda: CLOCK)
    rest = [m for m in sim.messages if m.device_id not in held]
    for i in range(0, len(rest), 500):
        processor.process(
            [
                Payload(m.payload, "mqtt", device_id=m.device_id, device_type=m.device_type, authenticated=True)
                for m in rest[i : i + 500]
            ]
        )
    iot.analyse_vessels(engine, operator, port_zone_ids=["NLRTM-PORT"])
    site.references["transit"] = movement["functional_reference_id"]

    supervisor = security.authenticate(engine, tokens["supervisor"])
    documents.issue(engine, supervisor, "certificate_of_origin", [coo_record(site.certificate)])

    keystore = KeyStore.for_data_dir(platform.settings.data_dir)
    ledger.init_log(engine, operator, keystore, run.COUNTRY)
    ledger.certify_officer(engine, operator, keystore, operator.username)
    certificate = AEOCertificate.model_validate(
        {
            "certificate_number": site.aeo_number,
            "type": "both",
            "issue_date": "2024-05-02",
            "holder": {
                "name": "Tulip Trading BV",
                "id": "NL200000002",
                "country_code": "NL",
                "address": {"line": "Maasboulevard 1", "city_name": "Rotterdam", "country_code": "NL"},
            },
        }
    )
    ledger.issue(engine, operator, keystore, certificate)
    ledger.change_status(engine, operator, keystore, "aeo.suspended", site.aeo_number, "audit findings")

    risk.save_profile(
        engine,
        operator,
        {
            "id": "fasteners-cn",
            "lane": "red",
            "weight": 1.0,
            "valid_from": "2025-01-01",
            "reason": "Steel fasteners from China: anti-dumping duty",
            "criteria": {"all_of": [{"field": "hs6", "op": "prefix", "value": "7318"}]},
        },
    )
    red = risk.queue(engine, operator, "red", limit=5, filters=risk.QueueFilters(status="awaiting"))
    site.references["red"] = red[0]["reference"]
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return site


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)
