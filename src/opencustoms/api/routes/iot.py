"""IoT endpoints: devices, zones, transit movements, event upload, quarantine, alerts, gate queue, vessels, scan
records and their review queue."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from opencustoms.api.deps import IdentityDep, LanguageDep, PlatformDep
from opencustoms.api.gate import IDENTITY_KEY
from opencustoms.iot import service
from opencustoms.iot.errors import (
    DeviceAuthenticationError,
    ScanError,
    ScanImageTooLargeError,
)

router = APIRouter(prefix="/iot", tags=["iot"])


class DeviceRequest(BaseModel):
    device_id: str
    device_type: str
    label: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="e.g. format, gate_id.")


class ZoneRequest(BaseModel):
    zone_id: str
    name: str
    zone_type: str
    geometry: dict[str, Any]


class DecisionRequest(BaseModel):
    decision: Literal["release", "inspect"]
    note: str | None = None


class VesselRequest(BaseModel):
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    port_zone_ids: list[str] = Field(default_factory=list)


@router.post("/devices", status_code=201)
def register_device(body: DeviceRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Register a device. The answer carries its secret once; store it on the device."""
    device, secret = service.register_device(
        platform.engine, identity, body.device_id, body.device_type, label=body.label, attributes=body.attributes
    )
    return {"device": device, "secret": secret}


@router.get("/devices")
def list_devices(platform: PlatformDep, identity: IdentityDep) -> list[dict[str, Any]]:
    return service.list_devices(platform.engine, identity)


@router.post("/zones", status_code=201)
def add_zone(body: ZoneRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.add_zone(platform.engine, identity, body.zone_id, body.name, body.zone_type, body.geometry)


@router.post("/transits", status_code=201)
def create_transit(body: service.TransitRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.create_transit(platform.engine, identity, body)


@router.get("/transits")
def list_transits(platform: PlatformDep, identity: IdentityDep, status: str | None = None) -> list[dict[str, Any]]:
    return service.list_transits(platform.engine, identity, status)


@router.get("/transits/{movement_id}")
def transit_report(movement_id: str, platform: PlatformDep, identity: IdentityDep, lang: LanguageDep) -> dict[str, Any]:
    """The full event report of one movement: definition, status, alerts (each with ``text``, its reason in the
    Accept-Language language, and ``kind_label``), every event in device-time order."""
    return service.transit_report(platform.engine, identity, movement_id, lang=lang)


@router.post("/events")
async def upload_events(
    request: Request,
    platform: PlatformDep,
    authorization: Annotated[str | None, Header()] = None,
    x_device_id: Annotated[str | None, Header()] = None,
    format: Annotated[str | None, Query(description="eseal_text, flespi_json, native_json or nmea_ais")] = None,
) -> dict[str, Any]:
    """Batch upload. A device sends ``X-Device-Id`` and ``Authorization: Bearer ocd_...`` (its own secret); a gateway
    sends ``Authorization: Bearer oc_...`` (a user with device_events:write) for events of registered devices."""
    body = await request.body()  # the gate has refused a body over OPENCUSTOMS_MAX_EVENT_BATCH_BYTES
    token = (authorization or "").removeprefix("Bearer ").strip()
    identity = request.scope.get(IDENTITY_KEY)  # a gateway user's token, authenticated by the gate
    if identity is not None:
        report = service.ingest_trusted(platform.engine, identity, body, fmt=format, device_id=x_device_id)
    elif token.startswith(service.SECRET_PREFIX) and x_device_id:  # the gate asked for X-Device-Id already
        report = service.ingest_device_batch(platform.engine, x_device_id, token, body, fmt=format)
    else:
        raise DeviceAuthenticationError(
            "send 'Authorization: Bearer ocd_...' with X-Device-Id (a device) or 'Bearer oc_...' (a gateway user)"
        )
    return report.summary()


@router.get("/quarantine")
def quarantine(
    platform: PlatformDep, identity: IdentityDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> dict[str, Any]:
    return service.quarantine(platform.engine, identity, limit)


@router.get("/alerts")
def alerts(
    platform: PlatformDep,
    identity: IdentityDep,
    lang: LanguageDep,
    context_type: str | None = None,
    context_id: str | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Stored alerts, newest first; each with ``text``, its reason in the Accept-Language language (en, fr), and
    ``kind_label``, its kind in words (``reason`` stays the stored English text)."""
    return service.list_alerts(
        platform.engine, identity, context_type=context_type, context_id=context_id, kind=kind, limit=limit, lang=lang
    )


@router.get("/stats")
def stats(platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.stats(platform.engine, identity)


@router.get("/gate/queue")
def gate_queue(
    platform: PlatformDep,
    identity: IdentityDep,
    lang: LanguageDep,
    status: Literal["pending", "released", "inspect"] | None = "pending",
) -> list[dict[str, Any]]:
    """Gate decisions; each reason with ``text``, its sentence in the Accept-Language language (en, fr)."""
    return service.gate_queue(platform.engine, identity, status, lang=lang)


@router.post("/gate/decisions/{decision_id}")
def decide(decision_id: str, body: DecisionRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.decide_gate(platform.engine, identity, decision_id, body.decision, body.note)


@router.post("/vessels/analyse")
def analyse_vessels(body: VesselRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.analyse_vessels(
        platform.engine, identity, since=body.since, until=body.until, port_zone_ids=body.port_zone_ids
    )


@router.post("/sweep")
def sweep(platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Re-check every watched movement now (GPS silence, overdue arrivals)."""
    return service.sweep(platform.engine, identity).summary()


@router.get("/schema/event")
def event_schema() -> dict[str, Any]:
    """JSON Schema of the device event (version 1), the native_json format."""
    return service.event_schema()


# --- scan records ------------------------------------------------------------------------------------------------


class ClaimRequest(BaseModel):
    assignee: str | None = Field(default=None, description="Who reviews it; yourself when absent.")


class FindingRequest(BaseModel):
    finding: Literal["clear", "suspicious", "discrepancy"]
    notes: str | None = Field(default=None, max_length=4000)
    regions: list[dict[str, Any]] = Field(default_factory=list, description="[{view, x, y, w, h, label?}] in pixels.")


def _scans(platform: Any) -> service.ScanStore:
    return service.ScanStore.for_data_dir(platform.settings.data_dir)


def _too_big(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise ScanImageTooLargeError(f"the request is {int(length):,} bytes; the limit is {limit:,}", field="body")


@router.post("/scans", status_code=201)
async def add_scan(request: Request, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Record a scan: multipart/form-data with a ``metadata`` part (JSON: device_id, site, scan_type, scanned_at,
    functional_reference_ids, container_ids, vehicle_plate, energy_kev, dose_ugy, operator, event_id, attributes)
    and one file part per view, named by the view (``top``, ``side``, ...): PNG, TIFF or JPEG, stored as PNG."""
    from opencustoms.iot import scans

    _too_big(request, scans.MAX_PACKAGE_BYTES)
    form = await request.form(max_files=scans.MAX_VIEWS, max_fields=scans.MAX_VIEWS + 4)
    images: dict[str, bytes] = {}
    metadata: Any = None
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name in images:
                raise ScanError(f"two files for view {name!r}; send one image per view", field="views")
            images[name] = await value.read(scans.MAX_IMAGE_BYTES + 1)
        elif name == "metadata":
            metadata = service.load_scan_json(value, "metadata")
        else:
            raise ScanError(f"unexpected form field {name!r}: send 'metadata' and one file per view", field=name)
    if not isinstance(metadata, dict):
        raise ScanError("send the scan's metadata as a JSON object in a part named 'metadata'", field="metadata")
    return service.add_scan(platform.engine, identity, _scans(platform), metadata, images)


@router.get("/scans")
def scan_queue(
    platform: PlatformDep,
    identity: IdentityDep,
    status: Literal["open", "pending", "in_review", "reviewed", "all"] = "open",
    site: str | None = None,
    finding: Literal["clear", "suspicious", "discrepancy"] | None = None,
    reference: Annotated[str | None, Query(description="A declaration's functional reference id.")] = None,
    container: str | None = None,
    assigned_to: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The review queue: open scans oldest first (reviewed ones newest first), with their views."""
    return service.scan_queue(
        platform.engine,
        identity,
        status=status,
        site=site,
        finding=finding,
        reference=reference,
        container=container,
        assigned_to=assigned_to,
        limit=limit,
    )


@router.post("/scans/import", status_code=201)
async def import_scan(
    request: Request,
    platform: PlatformDep,
    identity: IdentityDep,
    functional_reference_id: Annotated[
        list[str] | None, Query(description="This administration's declarations the scan belongs to.")
    ] = None,
) -> dict[str, Any]:
    """Import a scan package (the zip from GET /iot/scans/{id}/package) sent as the request body; every view's
    SHA-256 is checked."""
    from opencustoms.iot import scans

    _too_big(request, scans.MAX_PACKAGE_BYTES)
    body = await request.body()
    return service.import_package(
        platform.engine, identity, _scans(platform), body, functional_reference_ids=functional_reference_id or []
    )


@router.get("/scans/{scan_id}")
def get_scan(scan_id: str, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.get_scan(platform.engine, identity, scan_id)


@router.get("/scans/{scan_id}/views/{view}.png", response_class=Response)
def scan_view(scan_id: str, view: str, platform: PlatformDep, identity: IdentityDep) -> Response:
    """One view as PNG (16-bit grayscale images stay 16-bit); the ETag is its SHA-256."""
    data, sha = service.scan_image(platform.engine, identity, _scans(platform), scan_id, view)
    return Response(
        data, media_type="image/png", headers={"ETag": f'"{sha}"', "Cache-Control": "private, max-age=86400"}
    )


@router.post("/scans/{scan_id}/claim")
def claim_scan(
    scan_id: str, platform: PlatformDep, identity: IdentityDep, body: ClaimRequest | None = None
) -> dict[str, Any]:
    return service.assign_scan(platform.engine, identity, scan_id, body.assignee if body else None)


@router.post("/scans/{scan_id}/release")
def release_scan(scan_id: str, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.release_scan(platform.engine, identity, scan_id)


@router.post("/scans/{scan_id}/finding")
def record_finding(scan_id: str, body: FindingRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """The analyst's finding: clear, suspicious (notes required) or discrepancy (notes required)."""
    return service.record_finding(platform.engine, identity, scan_id, body.finding, body.notes, body.regions)


@router.get("/scans/{scan_id}/package", response_class=Response)
def export_scan(scan_id: str, platform: PlatformDep, identity: IdentityDep) -> Response:
    """The scan as one zip (scan.json + views/<view>.png) for another administration."""
    data = service.export_package(platform.engine, identity, _scans(platform), scan_id)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{scan_id}.scan.zip"'},
    )
