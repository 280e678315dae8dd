"""IoT endpoints: devices, zones, transit movements, event upload, quarantine, alerts, gate queue, vessels."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, Field

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.iot import service
from opencustoms.iot.errors import DeviceAuthenticationError
from opencustoms.security import service as security

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
def transit_report(movement_id: str, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """The full event report of one movement: definition, status, alerts, every event in device-time order."""
    return service.transit_report(platform.engine, identity, movement_id)


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
    body = await request.body()
    if len(body) > platform.settings.max_upload_bytes:
        raise DeviceAuthenticationError("the batch is larger than OPENCUSTOMS_MAX_UPLOAD_BYTES; split it")
    token = (authorization or "").removeprefix("Bearer ").strip()
    if token.startswith(service.SECRET_PREFIX):
        if not x_device_id:
            raise DeviceAuthenticationError(
                "a device secret needs the X-Device-Id header naming the device", field="X-Device-Id"
            )
        report = service.ingest_device_batch(platform.engine, x_device_id, token, body, fmt=format)
    elif token:
        identity = security.authenticate(platform.engine, token)
        report = service.ingest_trusted(platform.engine, identity, body, fmt=format, device_id=x_device_id)
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
    context_type: str | None = None,
    context_id: str | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    return service.list_alerts(
        platform.engine, identity, context_type=context_type, context_id=context_id, kind=kind, limit=limit
    )


@router.get("/stats")
def stats(platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.stats(platform.engine, identity)


@router.get("/gate/queue")
def gate_queue(
    platform: PlatformDep, identity: IdentityDep, status: Literal["pending", "released", "inspect"] | None = "pending"
) -> list[dict[str, Any]]:
    return service.gate_queue(platform.engine, identity, status)


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
