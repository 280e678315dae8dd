"""The one device-event schema (version 1) every adapter produces.

An event carries the device's own clock (``device_time``) and the platform's (``received_at``): rules place events
by device time, so late and out-of-order deliveries land where they happened; the receive time is kept to measure
delay and to detect clock skew. ``event_id`` is the device's own message id when it has one (sequence number,
message UUID); otherwise ingestion derives one from a hash of the content, so a redelivered message is recognised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1


class DeviceType(StrEnum):
    E_SEAL = "e_seal"
    GPS_TRACKER = "gps_tracker"
    PLATE_CAMERA = "plate_camera"
    CONTAINER_OCR_GATE = "container_ocr_gate"
    RFID_READER = "rfid_reader"
    RADIATION_PORTAL = "radiation_portal"
    XRAY_SCANNER = "xray_scanner"
    AIS_RECEIVER = "ais_receiver"


class EventKind(StrEnum):
    POSITION = "position"  # a GPS fix (trackers, e-seals with GPS)
    SEAL_CLOSED = "seal_closed"  # armed / locked
    SEAL_OPENED = "seal_opened"  # opened with or without authorisation
    SEAL_TAMPER = "seal_tamper"  # tamper switch, shock, wire resistance change
    SEAL_CUT = "seal_cut"  # the wire or bolt is cut
    LOW_BATTERY = "low_battery"
    PLATE_READ = "plate_read"  # number-plate recognition
    CONTAINER_READ = "container_read"  # container-number OCR
    RFID_READ = "rfid_read"
    RADIATION_SCAN = "radiation_scan"  # a portal passage, alarm or not
    XRAY_SCAN = "xray_scan"  # scan metadata; the images go to a scan record (iot/scans.py, event_id links them)
    AIS_POSITION = "ais_position"  # AIS types 1-3, 4, 9, 11, 17, 18, 19, 21, 27 positions
    AIS_STATIC = "ais_static"  # AIS identity / voyage data (types 5, 24, ...)
    AIS_OTHER = "ais_other"  # any other decoded AIS message


SEAL_KINDS = frozenset(
    {EventKind.SEAL_CLOSED, EventKind.SEAL_OPENED, EventKind.SEAL_TAMPER, EventKind.SEAL_CUT, EventKind.LOW_BATTERY}
)

# Which kinds each device type may send (ingestion quarantines the rest as 'kind_not_allowed').
ALLOWED_KINDS: dict[DeviceType, frozenset[EventKind]] = {
    DeviceType.E_SEAL: frozenset({EventKind.POSITION, *SEAL_KINDS}),
    DeviceType.GPS_TRACKER: frozenset({EventKind.POSITION, EventKind.LOW_BATTERY, EventKind.SEAL_TAMPER}),
    DeviceType.PLATE_CAMERA: frozenset({EventKind.PLATE_READ}),
    DeviceType.CONTAINER_OCR_GATE: frozenset({EventKind.CONTAINER_READ, EventKind.PLATE_READ}),
    DeviceType.RFID_READER: frozenset({EventKind.RFID_READ}),
    DeviceType.RADIATION_PORTAL: frozenset({EventKind.RADIATION_SCAN}),
    DeviceType.XRAY_SCANNER: frozenset({EventKind.XRAY_SCAN}),
    DeviceType.AIS_RECEIVER: frozenset({EventKind.AIS_POSITION, EventKind.AIS_STATIC, EventKind.AIS_OTHER}),
}

Text64 = Annotated[str, Field(min_length=1, max_length=64)]


class DeviceEvent(BaseModel):
    """One event from one device, whatever its vendor format was."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    device_id: Text64
    event_id: Text64 | None = Field(default=None, description="The device's own message id; a content hash if absent.")
    kind: EventKind
    device_time: dt.datetime = Field(description="When it happened, by the device's clock (UTC).")
    received_at: dt.datetime | None = Field(default=None, description="When the platform received it (UTC).")
    latitude: float | None = Field(default=None, description="WGS 84 degrees, north positive.")
    longitude: float | None = Field(default=None, description="WGS 84 degrees, east positive.")
    speed_kmh: float | None = Field(
        default=None, allow_inf_nan=False, description="Ground speed in km/h (AIS knots are converted)."
    )
    heading: float | None = Field(
        default=None, allow_inf_nan=False, description="Course over ground, degrees from north."
    )
    seal_id: str | None = Field(default=None, max_length=64, description="E-seal identifier (ISO 18185 tag id).")
    battery_percent: float | None = Field(default=None, ge=0, le=100)
    plate: str | None = Field(default=None, max_length=35, description="Vehicle registration as read.")
    container_id: str | None = Field(default=None, max_length=16, description="Container number as read.")
    confidence: float | None = Field(default=None, ge=0, le=1, description="OCR / recognition confidence 0..1.")
    passage_id: str | None = Field(default=None, max_length=64, description="Gate transaction the read belongs to.")
    gate_id: str | None = Field(default=None, max_length=64)
    radiation_alarm: bool | None = None
    radiation_level: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="Gross counts or dose rate, device unit."
    )
    mmsi: str | None = Field(default=None, max_length=9)
    imo: str | None = Field(default=None, max_length=7)
    attributes: dict[str, Any] = Field(default_factory=dict, description="Anything else the vendor sent.")

    @field_validator("device_time", "received_at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None or value.tzinfo is dt.UTC:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def key(self) -> str:
        """The deduplication key within the device: its event id, or a hash of the content without receive time."""
        if self.event_id:
            return self.event_id
        data = self.model_dump(mode="json", exclude={"received_at", "event_id"})
        return "h:" + hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:40]

    @property
    def has_position(self) -> bool:
        return self.latitude is not None and self.longitude is not None


def event_json_schema() -> dict[str, Any]:
    return DeviceEvent.model_json_schema()
