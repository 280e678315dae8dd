"""Scan records: image normalisation and content addressing, bad images, links to declarations and containers,
the review queue (claims, findings, audit, signals, inspection feedback) and the exchange package, on SQLite and
PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from conftest import sample_declaration
from opencustoms import signals
from opencustoms.declarations import service as declarations
from opencustoms.iot import service, simulator
from opencustoms.iot.errors import (
    ScanError,
    ScanExistsError,
    ScanImageTooLargeError,
    ScanNotFoundError,
    ScanReviewConflictError,
)
from opencustoms.reference.errors import InvalidCodeError
from opencustoms.security import service as security
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity
from opencustoms.store.tables import audit_log, inspection_results

SCANNED = "2025-03-04T10:00:00Z"


def png(array: np.ndarray, fmt: str = "PNG", **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **save)
    return buffer.getvalue()


def grey16(width: int = 96, height: int = 48, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65535, (height, width), dtype=np.uint16)


@pytest.fixture
def store(tmp_path) -> service.ScanStore:  # type: ignore[no-untyped-def]
    return service.ScanStore.for_data_dir(tmp_path / "data")


@pytest.fixture
def site(engine, operator) -> Any:  # type: ignore[no-untyped-def]
    declarations.create(engine, operator, sample_declaration("LRN-0001"))
    declarations.create(
        engine, operator, sample_declaration("LRN-0002", transport={"mode_code": "1", "container_ids": ["MSCU1234566"]})
    )
    service.register_device(engine, operator, "XR1", "xray_scanner")
    service.register_device(engine, operator, "ES1", "e_seal")
    for username, role in (("officer", "officer"), ("analyst", "risk_analyst"), ("other", "officer")):
        security.create_user(engine, operator, username, "NL", [role])
    return engine


def who(username: str, role: str) -> Identity:
    return Identity.of(username, "NL", [role])


def scan(store: service.ScanStore, engine: Any, actor: Identity, **changes: Any) -> dict[str, Any]:
    request = {
        "scan_id": "S1",
        "device_id": "XR1",
        "site": "NLRTM-XRAY",
        "scan_type": "dual_energy",
        "scanned_at": SCANNED,
        "functional_reference_ids": ["LRN-0001"],
        "container_ids": ["CSQU3054383"],
        "energy_kev": 6000,
    }
    images = changes.pop("images", None) or {"top": png(grey16()), "side": png(grey16(seed=2))}
    request.update(changes)
    return service.add_scan(engine, actor, store, request, images)


def test_images_are_normalised_to_png_keeping_16_bits_and_stored_by_hash(site, operator, store) -> None:
    a16 = grey16()
    rgb = np.random.default_rng(3).integers(0, 255, (40, 64, 3), dtype=np.uint8)
    grey8 = (np.arange(64 * 40) % 256).astype(np.uint8).reshape(40, 64)
    images = {
        "top": png(a16, "TIFF"),  # 16-bit TIFF → 16-bit PNG, same pixels
        "side": png(rgb, "JPEG", quality=90),  # colour JPEG → RGB PNG
        "grey": png(grey8),
    }
    result = scan(store, site, operator, images=images)
    views = {v["view"]: v for v in result["views"]}
    assert (views["top"]["bit_depth"], views["top"]["mode"], views["top"]["source_format"]) == (16, "I;16", "TIFF")
    assert (views["side"]["bit_depth"], views["side"]["mode"], views["side"]["source_format"]) == (8, "RGB", "JPEG")
    assert (views["grey"]["width"], views["grey"]["height"], views["grey"]["mode"]) == (64, 40, "L")
    data, sha = service.scan_image(site, operator, store, "S1", "top")
    assert hashlib.sha256(data).hexdigest() == sha == views["top"]["sha256"]
    assert store.path(sha).is_file() and store.path(sha).name == f"{sha}.png"
    back = Image.open(io.BytesIO(data))
    assert back.format == "PNG" and back.mode == "I;16"
    assert np.array_equal(np.asarray(back), a16)  # lossless, 16-bit kept
    assert views["top"]["source_sha256"] == hashlib.sha256(images["top"]).hexdigest()
    # the same image in another scan is stored once
    scan(store, site, operator, scan_id="S2", images={"top": png(a16)})
    assert sum(1 for _ in store.root.rglob("*.png")) == 3


def test_bad_images_are_refused_naming_the_view_and_nothing_is_written(site, operator, store) -> None:
    def refused(images: dict[str, bytes], error: type[Exception] = ScanError) -> ScanError:
        with pytest.raises(error) as caught:
            scan(store, site, operator, images=images)
        return caught.value  # type: ignore[return-value]

    assert refused({"top": b"not an image at all"}).field == "views.top"
    assert "empty" in refused({"top": b""}).message
    gif = io.BytesIO()
    Image.fromarray(grey16().astype(np.uint8)).save(gif, "GIF")
    assert "GIF" in refused({"top": gif.getvalue()}).message
    truncated = png(grey16(400, 300))
    assert "corrupt" in refused({"top": truncated[: len(truncated) // 2]}).message
    assert refused({"Top View": png(grey16())}).field == "views"
    assert "16x16" in refused({"top": png(grey16(8, 8))}).message
    floats = io.BytesIO()
    Image.fromarray(np.ones((32, 32), dtype=np.float32)).save(floats, "TIFF")
    assert "floating-point" in refused({"top": floats.getvalue()}).message
    frames = io.BytesIO()
    first = Image.fromarray(grey16())
    first.save(frames, "TIFF", save_all=True, append_images=[Image.fromarray(grey16(seed=9))])
    assert "2 frames" in refused({"top": frames.getvalue()}).message
    big = png(grey16(200, 200, seed=5))
    with pytest.raises(ScanImageTooLargeError) as caught:
        service.add_scan(
            site,
            operator,
            store,
            {"device_id": "XR1", "site": "S", "scanned_at": SCANNED, "container_ids": ["CSQU3054383"]},
            {"top": big},
            max_image_bytes=len(big) - 1,
        )
    assert caught.value.status == 413 and caught.value.field == "views.top"
    assert not list(store.root.rglob("*.png")) if store.root.exists() else True
    with site.connect() as conn:
        assert conn.execute(select(audit_log.c.id).where(audit_log.c.object_type == "scan")).first() is None


def test_links_are_checked(site, operator, store) -> None:
    with pytest.raises(InvalidCodeError) as bad_digit:
        scan(store, site, operator, container_ids=["CSQU3054384"])
    assert bad_digit.value.field == "container_ids" and "check digit" in bad_digit.value.message
    with pytest.raises(ScanError) as unknown:
        scan(store, site, operator, functional_reference_ids=["NOPE-1"])
    assert unknown.value.field == "functional_reference_ids"
    with pytest.raises(ScanError) as device:
        scan(store, site, operator, device_id="ES1")
    assert device.value.field == "device_id" and "xray_scanner" in device.value.message
    with pytest.raises(ScanError) as nothing:
        scan(store, site, operator, functional_reference_ids=[], container_ids=[])
    assert "what was scanned" in nothing.value.message
    with pytest.raises(ScanError) as naive:
        scan(store, site, operator, scanned_at="2025-03-04T10:00:00")
    assert naive.value.field == "scanned_at"
    assert not (store.root.exists() and list(store.root.rglob("*.png")))  # refused scans leave no file behind
    # a container alone finds the declaration that names it; the plate is normalised
    linked = scan(
        store, site, operator, functional_reference_ids=[], container_ids=["mscu 1234566"], vehicle_plate="nl-12-ab"
    )
    assert linked["functional_reference_ids"] == ["LRN-0002"] and linked["container_ids"] == ["MSCU1234566"]
    assert linked["vehicle_plate"] == "NL-12-AB" and linked["status"] == "pending"
    with pytest.raises(ScanExistsError):
        scan(store, site, operator)
    with pytest.raises(PermissionDeniedError):
        scan(store, site, who("analyst", "risk_analyst"), scan_id="S9")


def test_the_xray_scan_event_of_the_device_completes_the_record(site, operator, store) -> None:
    event = {
        "device_id": "XR1",
        "event_id": "x-77",
        "kind": "xray_scan",
        "device_time": "2025-03-04T09:58:00Z",
        "container_id": "CSQU3054383",
        "gate_id": "GATE1",
        "passage_id": "P7",
    }
    report = service.ingest_trusted(site, operator, json.dumps(event), fmt="native_json", replay=True)
    assert report.accepted == 1
    result = scan(
        store, site, operator, scanned_at=None, functional_reference_ids=[], container_ids=[], event_id="x-77"
    )
    assert result["scanned_at"].isoformat() == "2025-03-04T09:58:00+00:00"
    assert result["container_ids"] == ["CSQU3054383"] and result["functional_reference_ids"] == ["LRN-0001"]
    assert result["attributes"]["event"] == {"gate_id": "GATE1", "passage_id": "P7", "id": "x-77"}
    with pytest.raises(ScanError) as missing:
        scan(store, site, operator, scan_id="S3", event_id="x-78")
    assert missing.value.field == "event_id"


def test_review_queue_claims_and_transitions(site, operator, store) -> None:
    officer, other, analyst = who("officer", "officer"), who("other", "officer"), who("analyst", "risk_analyst")
    scan(store, site, operator, scan_id="LATE", scanned_at="2025-03-04T11:00:00Z")
    scan(store, site, operator, scan_id="EARLY", scanned_at="2025-03-04T09:00:00Z", site="OTHER-SITE")
    assert [s["scan_id"] for s in service.scan_queue(site, officer)] == ["EARLY", "LATE"]  # oldest first
    assert [s["scan_id"] for s in service.scan_queue(site, officer, site="OTHER-SITE")] == ["EARLY"]
    assert service.assign_scan(site, officer, "LATE")["assigned_to"] == "officer"
    with pytest.raises(ScanReviewConflictError) as claimed:
        service.assign_scan(site, other, "LATE")
    assert "claimed by officer" in claimed.value.message
    with pytest.raises(ScanReviewConflictError):
        service.record_finding(site, other, "LATE", "clear")
    with pytest.raises(ScanReviewConflictError):
        service.release_scan(site, other, "LATE")
    # a queue manager (risk:manage) may take it over; the reviewer may hand it back
    assert service.assign_scan(site, analyst, "LATE")["assigned_to"] == "analyst"
    service.release_scan(site, analyst, "LATE")
    assert service.get_scan(site, officer, "LATE")["status"] == "pending"
    assert service.scan_queue(site, officer, status="in_review") == []
    with pytest.raises(ScanError) as bad:
        service.record_finding(site, officer, "LATE", "fine")
    assert bad.value.field == "finding"
    with pytest.raises(ScanError) as no_notes:
        service.record_finding(site, officer, "LATE", "suspicious")
    assert no_notes.value.field == "notes"
    with pytest.raises(ScanError) as outside:
        service.record_finding(
            site, officer, "LATE", "suspicious", "dense mass", [{"view": "top", "x": 90, "y": 0, "w": 10, "h": 5}]
        )
    assert outside.value.field == "regions[0]"
    with pytest.raises(ScanError) as no_view:
        service.record_finding(
            site, officer, "LATE", "suspicious", "dense mass", [{"view": "back", "x": 0, "y": 0, "w": 1, "h": 1}]
        )
    assert no_view.value.field == "regions[0].view"
    with pytest.raises(ScanError) as negative:
        service.record_finding(
            site, officer, "LATE", "suspicious", "dense mass", [{"view": "top", "x": -1, "y": 0, "w": 1, "h": 1}]
        )
    assert negative.value.field == "regions[0].x"
    assert service.get_scan(site, officer, "LATE")["status"] == "pending"  # refused findings changed nothing
    done = service.record_finding(
        site,
        officer,
        "LATE",
        "suspicious",
        "dense mass behind pallet 3",
        [{"view": "top", "x": 10, "y": 5, "w": 20, "h": 10}],
    )
    assert done["status"] == "reviewed" and done["inspection_results"] == 0  # nothing until the physical inspection
    with pytest.raises(ScanReviewConflictError) as twice:
        service.record_finding(site, officer, "LATE", "clear")
    assert "already has a finding" in twice.value.message
    reviewed = service.scan_queue(site, officer, status="reviewed", finding="suspicious")
    assert [s["scan_id"] for s in reviewed] == ["LATE"] and reviewed[0]["regions"][0]["w"] == 20
    assert service.scan_counts(site, officer) == {"pending": 1, "in_review": 0, "reviewed": 1}
    with pytest.raises(ScanNotFoundError):
        service.record_finding(site, officer, "NOPE", "clear")
    with pytest.raises(PermissionDeniedError):
        service.record_finding(site, Identity.of("dpo", "NL", ["data_protection_officer"]), "EARLY", "clear")
    with site.connect() as conn:
        actions = [
            (r.actor, r.action)
            for r in conn.execute(
                select(audit_log.c.actor, audit_log.c.action)
                .where(audit_log.c.object_type == "scan", audit_log.c.object_id == "LATE")
                .order_by(audit_log.c.id)
            )
        ]
    assert actions == [
        ("cli", "create"),
        ("officer", "assign"),
        ("analyst", "assign"),
        ("analyst", "release"),
        ("officer", "review"),
    ]


def test_findings_emit_signals_and_feed_the_risk_engine(site, operator, store) -> None:
    analyst = who("analyst", "risk_analyst")
    scan(store, site, operator, scan_id="CLEAR")
    scan(
        store,
        site,
        operator,
        scan_id="BAD",
        functional_reference_ids=["LRN-0002"],
        container_ids=["MSCU1234566"],
        vehicle_plate="NL-12-AB",
    )
    scan(store, site, operator, scan_id="SUS", container_ids=["CSQU3054383"])
    service.record_finding(site, analyst, "CLEAR", "clear")
    bad = service.record_finding(site, analyst, "BAD", "discrepancy", "organic mass hidden in a machine housing")
    service.record_finding(site, who("officer", "officer"), "SUS", "suspicious", "irregular density")
    assert bad["signals"] == 3 and bad["inspection_results"] == 1 and bad["alert_id"]
    found = {
        (s.subject_type.value, s.subject_id, s.severity.value)
        for s in signals.for_subjects(
            site, [("declaration", "LRN-0002"), ("container", "MSCU1234566"), ("vehicle", "NL-12-AB")]
        )
        if s.kind == "iot.scan_finding"
    }
    assert found == {
        ("declaration", "LRN-0002", "critical"),
        ("container", "MSCU1234566", "critical"),
        ("vehicle", "NL-12-AB", "critical"),
    }
    severities = {
        s.severity.value
        for s in signals.for_subjects(site, [("declaration", "LRN-0001")])
        if s.kind == "iot.scan_finding"
    }
    assert severities == {"info", "high"}
    # the analyst's finding in the reader's language (issue #14), from the signal's evidence
    worded = {
        s.evidence["finding"]: signals.describe(s.kind, s.evidence, "fr", s.reason)
        for s in signals.for_subjects(site, [("declaration", "LRN-0001"), ("declaration", "LRN-0002")])
        if s.kind == "iot.scan_finding"
    }
    assert worded == {
        "clear": "Image radioscopique CLEAR examinée : image conforme à la déclaration (LRN-0001, CSQU3054383)",
        "discrepancy": "Image radioscopique BAD : marchandises non conformes à la déclaration ou dissimulation "
        "constatée (LRN-0002, MSCU1234566, NL-12-AB) : « organic mass hidden in a machine housing »",
        "suspicious": "Image radioscopique SUS jugée suspecte, contrôle physique recommandé (LRN-0001, "
        "CSQU3054383) : « irregular density »",
    }
    assert "analyst" not in "".join(worded.values())  # the reviewer's user name is evidence, never text
    history = {
        r["outcome"]: r
        for r in declarations.inspection_history(site, operator, "LRN-0002")
        + declarations.inspection_history(site, operator, "LRN-0001")
    }
    assert set(history) == {"fraud", "compliant"}  # suspicious recorded nothing
    assert history["fraud"]["source"] == "scan_review" and history["fraud"]["recorded_by"] == "analyst"
    assert "scan BAD" in history["fraud"]["detail"]["note"]
    alerts = service.list_alerts(site, operator, context_type="scan")
    assert {(a["context_id"], a["severity"]) for a in alerts} == {("BAD", "critical"), ("SUS", "high")}
    with site.connect() as conn:
        assert conn.execute(select(inspection_results.c.id)).all().__len__() == 2


def test_export_import_round_trip_and_tampering_refused(site, operator, store, tmp_path, engine) -> None:
    scan(store, site, operator, scan_id="EX1", vehicle_plate="NL-12-AB")
    service.record_finding(
        site, operator, "EX1", "suspicious", "dense mass", [{"view": "top", "x": 1, "y": 2, "w": 3, "h": 4}]
    )
    package = service.export_package(site, operator, store, "EX1")
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        names = sorted(archive.namelist())
        document = json.loads(archive.read("scan.json"))
        top = archive.read("views/top.png")
    assert names == ["scan.json", "views/side.png", "views/top.png"]
    assert document["format"] == "opencustoms-scan" and document["version"] == 1
    assert document["review"]["finding"] == "suspicious" and document["exporter"] == {"administration": "NL"}
    assert {v["view"]: v["sha256"] for v in document["views"]}["top"] == hashlib.sha256(top).hexdigest()

    # another administration's installation: a fresh store, the scan arrives under another id space
    other_store = service.ScanStore.for_data_dir(tmp_path / "other")

    def rezip(change) -> bytes:  # type: ignore[no-untyped-def]
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(out, "w") as dst:
            files = {n: src.read(n) for n in src.namelist()}
            change(files)
            for n, data in files.items():
                dst.writestr(n, data)
        return out.getvalue()

    def tamper(files: dict[str, bytes]) -> None:
        array = np.asarray(Image.open(io.BytesIO(files["views/top.png"]))).copy()
        array[0, 0] ^= 1
        files["views/top.png"] = png(array)

    with pytest.raises(ScanError) as altered:
        service.import_package(site, operator, other_store, rezip(tamper))
    assert altered.value.field == "views.top" and "SHA-256" in altered.value.message
    with pytest.raises(ScanError) as extra:
        service.import_package(site, operator, other_store, rezip(lambda f: f.update({"evil.sh": b"rm -rf /"})))
    assert "does not list" in extra.value.message
    with pytest.raises(ScanError) as not_zip:
        service.import_package(site, operator, other_store, b"PK\x03\x04 nonsense")
    assert not_zip.value.field == "package"

    def wrong_format(files: dict[str, bytes]) -> None:
        doc = json.loads(files["scan.json"])
        doc["format"] = "something-else"
        files["scan.json"] = json.dumps(doc).encode()

    with pytest.raises(ScanError) as fmt:
        service.import_package(site, operator, other_store, rezip(wrong_format))
    assert fmt.value.field == "scan.json.format"
    with pytest.raises(ScanExistsError):  # already here
        service.import_package(site, operator, other_store, package)

    def renamed(files: dict[str, bytes]) -> None:
        doc = json.loads(files["scan.json"])
        doc["scan"]["scan_id"] = "EX1-FROM-NL"
        doc["scan"]["functional_reference_ids"] = ["THEIR-REF-9"]
        files["scan.json"] = json.dumps(doc).encode()

    imported = service.import_package(
        site, operator, other_store, rezip(renamed), functional_reference_ids=["LRN-0002"]
    )
    assert imported["source"] == "import" and imported["status"] == "pending" and imported["finding"] is None
    assert imported["origin"]["administration"] == "NL" and imported["origin"]["review"]["finding"] == "suspicious"
    assert imported["origin"]["functional_reference_ids"] == ["THEIR-REF-9"]
    assert imported["functional_reference_ids"] == ["LRN-0002"]
    assert [v["sha256"] for v in imported["views"]] == [
        v["sha256"] for v in service.get_scan(site, operator, "EX1")["views"]
    ]
    data, _ = service.scan_image(site, operator, other_store, "EX1-FROM-NL", "top")
    assert data == top
    with pytest.raises(PermissionDeniedError):
        service.import_package(site, who("analyst", "risk_analyst"), other_store, package)


def test_simulated_container_images_show_the_anomaly(site, operator, store) -> None:
    clean, none = simulator.xray_views(5, anomaly=False)
    dirty, where = simulator.xray_views(5, anomaly=True)
    assert none == {} and where["view"] == "top"
    a = np.asarray(Image.open(io.BytesIO(clean["top"]))).astype(float)
    b = np.asarray(Image.open(io.BytesIO(dirty["top"]))).astype(float)
    box = (slice(where["y"], where["y"] + where["h"]), slice(where["x"], where["x"] + where["w"]))
    assert b[box].mean() < a[box].mean() - 3000  # the concealed mass attenuates
    scans = simulator.build_scans(site, operator, store, simulator_start(), [("LRN-0001", True), ("LRN-0002", False)])
    assert [s["status"] for s in scans] == ["pending", "pending"] and scans[0]["anomaly"]
    assert {v["bit_depth"] for s in scans for v in s["views"]} == {16}


def simulator_start():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime(2025, 3, 4, 8, 0, tzinfo=dt.UTC)


def test_scans_over_the_api(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from opencustoms.api.app import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.store.database import init_database, open_database

    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = init_database(url)
    open_database.cache_clear()
    security.ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    operator = security.local_operator("NL")
    declarations.create(engine, operator, sample_declaration("LRN-0001"))
    service.register_device(engine, operator, "XR1", "xray_scanner")
    tokens = {}
    for username, role in (("gateway", "device"), ("officer", "officer"), ("analyst", "risk_analyst")):
        security.create_user(engine, operator, username, "NL", [role])
        tokens[username] = {"Authorization": f"Bearer {security.issue_token(engine, operator, username)}"}
    client = TestClient(create_app(Platform(Settings(database_url=url, data_dir=tmp_path / "data"))))
    metadata = {
        "scan_id": "API-1",
        "device_id": "XR1",
        "site": "NLRTM-XRAY",
        "scanned_at": SCANNED,
        "functional_reference_ids": ["LRN-0001"],
        "container_ids": ["CSQU3054383"],
    }
    image = png(grey16())
    files = [("top", ("top.tif", png(grey16(), "TIFF"), "image/tiff")), ("side", ("side.png", image, "image/png"))]
    created = client.post("/iot/scans", data={"metadata": json.dumps(metadata)}, files=files, headers=tokens["gateway"])
    assert created.status_code == 201, created.text
    assert created.json() == {"scan_id": "API-1"}  # the device role may upload, not read
    bad = client.post(
        "/iot/scans",
        data={"metadata": json.dumps({**metadata, "scan_id": "API-2", "container_ids": ["CSQU3054384"]})},
        files=files,
        headers=tokens["gateway"],
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "container_ids"
    garbage = client.post(
        "/iot/scans",
        data={"metadata": json.dumps({**metadata, "scan_id": "API-3"})},
        files=[("top", ("top.png", b"GIF89a...", "image/png"))],
        headers=tokens["gateway"],
    )
    assert garbage.status_code == 400 and garbage.json()["errors"][0]["field"] == "views.top"
    assert client.post("/iot/scans", data={"metadata": "{"}, headers=tokens["gateway"]).status_code == 400
    deep = client.post("/iot/scans", data={"metadata": "[" * 100_000}, headers=tokens["gateway"])  # issue #12
    assert deep.status_code == 400 and deep.json()["errors"][0]["field"] == "metadata" and "levels deep" in deep.text
    queue = client.get("/iot/scans", headers=tokens["officer"]).json()
    assert [s["scan_id"] for s in queue] == ["API-1"] and len(queue[0]["views"]) == 2
    view = client.get("/iot/scans/API-1/views/side.png", headers=tokens["officer"])
    assert (
        view.headers["content-type"] == "image/png"
        and view.headers["etag"].strip('"') == hashlib.sha256(view.content).hexdigest()
    )
    assert client.get("/iot/scans/API-1/views/back.png", headers=tokens["officer"]).status_code == 404
    assert client.get("/iot/scans/NOPE", headers=tokens["officer"]).status_code == 404
    claimed = client.post("/iot/scans/API-1/claim", headers=tokens["analyst"])
    assert claimed.status_code == 200 and claimed.json()["assigned_to"] == "analyst"
    conflict = client.post("/iot/scans/API-1/finding", json={"finding": "clear"}, headers=tokens["officer"])
    assert conflict.status_code == 409
    refused = client.post(
        "/iot/scans/API-1/finding",
        json={"finding": "discrepancy", "notes": "x", "regions": [{"view": "top", "x": 0, "y": 0, "w": 999, "h": 1}]},
        headers=tokens["analyst"],
    )
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "regions[0]"
    done = client.post(
        "/iot/scans/API-1/finding",
        json={
            "finding": "discrepancy",
            "notes": "undeclared cartons",
            "regions": [{"view": "top", "x": 1, "y": 1, "w": 9, "h": 9}],
        },
        headers=tokens["analyst"],
    )
    assert done.status_code == 200 and done.json()["inspection_results"] == 1
    package = client.get("/iot/scans/API-1/package", headers=tokens["analyst"])
    assert package.headers["content-type"] == "application/zip"
    again = client.post("/iot/scans/import", content=package.content, headers=tokens["gateway"])
    assert again.status_code == 409  # the same scan id is here already
    assert client.post("/iot/scans/import", content=b"nope", headers=tokens["gateway"]).status_code == 400
    assert (
        client.get(
            "/iot/scans", params={"status": "reviewed", "finding": "discrepancy"}, headers=tokens["officer"]
        ).json()[0]["scan_id"]
        == "API-1"
    )
    engine.dispose()


def test_scan_commands(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from opencustoms.cli import app
    from opencustoms.config import get_settings
    from opencustoms.store.database import open_database

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    get_settings.cache_clear()
    open_database.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    try:
        run("init", "--administration", "NL", "--name", "Dutch Customs")
        (tmp_path / "d.json").write_text(json.dumps(sample_declaration("LRN-0001")))
        run("import", str(tmp_path / "d.json"))
        run("iot", "devices", "add", "XR1", "xray_scanner")
        (tmp_path / "top.tif").write_bytes(png(grey16(), "TIFF"))
        (tmp_path / "side.jpg").write_bytes(png(grey16().astype(np.uint8), "JPEG"))
        base = ["iot", "scan", "add", "--device-id", "XR1", "--site", "NLRTM-XRAY", "--scanned-at", SCANNED]
        out = run(*base, "top=top.tif", "side=side.jpg", "--scan-id", "C1", "--declaration", "LRN-0001")
        assert "scan C1 recorded (pending)" in out and "top 96x48 16-bit" in out and "side 96x48 8-bit" in out
        assert "check digit" in run(*base, "top=top.tif", "--container", "CSQU3054384", code=1)
        assert "views.top" in run(*base, "top=d.json", "--container", "CSQU3054383", code=1)
        assert "C1" in run("iot", "scan", "queue")
        assert "notes" in run("iot", "scan", "review", "C1", "suspicious", code=1)
        assert "VIEW:X,Y,W,H" in run(
            "iot", "scan", "review", "C1", "suspicious", "--notes", "x", "--region", "top:1,2", code=1
        )
        out = run("iot", "scan", "review", "C1", "suspicious", "--notes", "dense mass", "--region", "top:1,2,3,4:mass")
        assert '"finding": "suspicious"' in out
        assert "suspecte" in run("iot", "alerts", "--context-type", "scan", "--lang", "fr")  # issue #14
        assert "suspicious" in run("iot", "alerts", "--context-type", "scan")
        assert "--lang" in run("iot", "alerts", "--lang", "de", code=2)
        shown = json.loads(run("iot", "scan", "show", "C1", "--save-views", "views"))
        assert shown["regions"] == [{"view": "top", "x": 1, "y": 2, "w": 3, "h": 4, "label": "mass"}]
        assert (tmp_path / "views" / "C1-top.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "written" in run("iot", "scan", "export", "C1", "-o", "c1.zip")
        assert "already recorded" in run("iot", "scan", "import", "c1.zip", code=1)
        assert "no file" in run("iot", "scan", "import", "missing.zip", code=1)
    finally:
        get_settings.cache_clear()
        open_database.cache_clear()


def test_a_package_with_a_deeply_nested_scan_json_is_refused(site, operator, store) -> None:
    """Issue #12: the parser recursed once per level of nesting; a hostile scan.json must be refused, not crash."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ScanError) as refused:
        service.import_package(site, operator, store, buffer.getvalue())
    assert refused.value.field == "scan.json" and "levels deep" in refused.value.message
