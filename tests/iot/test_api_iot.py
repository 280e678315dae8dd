from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from opencustoms.api.app import create_app
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.iot import adapters
from opencustoms.iot.ingest import MAX_PAYLOAD_BYTES
from opencustoms.security import service as security
from opencustoms.security.service import ensure_administration
from opencustoms.store.database import init_database, open_database


def test_devices_upload_and_quarantine_over_http(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = init_database(url)
    open_database.cache_clear()
    ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    operator = security.local_operator("NL")
    security.create_user(engine, operator, "admin", "NL", ["administrator"])
    security.create_user(engine, operator, "gateway", "NL", ["device"])
    admin = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'admin')}"}
    gateway = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'gateway')}"}
    client = TestClient(create_app(Platform(Settings(database_url=url, data_dir=tmp_path))))

    created = client.post("/iot/devices", json={"device_id": "ES1", "device_type": "e_seal"}, headers=admin)
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert (
        client.post("/iot/devices", json={"device_id": "X", "device_type": "toaster"}, headers=admin).json()["errors"][
            0
        ]["field"]
        == "device_type"
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = "\n".join(
        [
            adapters.encode_eseal_text("ES1", 1, now, "POS", latitude=51.9, longitude=4.2),
            adapters.encode_eseal_text("ES1", 2, now, "POS", latitude=91.0, longitude=4.2),
        ]
    )
    ok = client.post("/iot/events", content=body, headers={"Authorization": f"Bearer {secret}", "X-Device-Id": "ES1"})
    assert ok.status_code == 200 and ok.json()["accepted"] == 1
    assert ok.json()["quarantine_reasons"] == {"impossible_coordinates": 1}
    again = client.post("/iot/events", content=body, headers=gateway)
    assert again.json()["duplicates"] == 1
    denied = client.post("/iot/events", content=body, headers={"Authorization": "Bearer ocd_x", "X-Device-Id": "ES1"})
    assert denied.status_code == 401 and denied.headers["content-type"].startswith("application/problem+json")
    quarantine = client.get("/iot/quarantine", headers=admin).json()
    assert quarantine["by_reason"] == {"impossible_coordinates": 2, "bad_credentials": 1}
    assert client.get("/iot/schema/event").json()["properties"]["device_time"]
    assert client.get("/iot/transits/none", headers=admin).status_code == 404


def test_event_uploads_are_bounded_per_batch_and_per_event(tmp_path) -> None:
    """Issue #12: a batch over the limit is refused (413) before it is read whole; an event whose attributes are
    over their bounds is quarantined and the answer names the attribute."""
    from opencustoms.iot import service

    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = init_database(url)
    open_database.cache_clear()
    ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    operator = security.local_operator("NL")
    _, secret = service.register_device(engine, operator, "FL1", "e_seal", attributes={"format": "flespi_json"})
    client = TestClient(create_app(Platform(Settings(database_url=url, data_dir=tmp_path))))
    device = {"Authorization": f"Bearer {secret}", "X-Device-Id": "FL1"}
    now = dt.datetime.now(dt.UTC).timestamp()
    record = {"ident": "FL1", "timestamp": now, "position.latitude": 51.9, "position.longitude": 4.2}

    too_big = client.post("/iot/events", content=b"[" + b" " * MAX_PAYLOAD_BYTES + b"]", headers=device)
    assert too_big.status_code == 413 and too_big.headers["content-type"].startswith("application/problem+json")
    assert "OPENCUSTOMS_MAX_EVENT_BATCH_BYTES" in too_big.json()["detail"]

    answer = client.post(
        "/iot/events", json=[record, {**record, "timestamp": now - 1, "blob": "x" * 100_000}], headers=device
    )
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    [rejection] = answer.json()["rejections"]
    assert rejection["reason_code"] == "invalid_field" and rejection["reason"].startswith("attributes.vendor.blob")
