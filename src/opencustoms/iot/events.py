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

# Bounds of an event's extra attributes (docs/iot.md, "Limits"): an event is refused (quarantined, naming the
# attribute), never truncated. Every other field of an event is a number, a time or a short bounded text, so these
# bound the stored size of an event (its iot_events row) too.
MAX_ATTRIBUTES_BYTES = 16 * 1024  # the attributes as compact UTF-8 JSON
MAX_ATTRIBUTES_DEPTH = 8  # nested objects / arrays, the attributes object itself being level 1
MAX_ATTRIBUTE_KEY = 128  # characters of one key
MAX_ATTRIBUTE_TEXT = 1024  # characters of one text value
SMALL_INT = 10**18  # integers below this need no digit count (at most 20 characters of JSON)


def _scalar_size(node: Any) -> int | str:
    """An upper bound of a scalar's JSON size, or why it is over its bound."""
    kind = type(node)
    if kind is str:
        if len(node) > MAX_ATTRIBUTE_TEXT:
            return (
                f"a text of {len(node):,} characters; texts in attributes are limited to "
                f"{MAX_ATTRIBUTE_TEXT:,} characters (keep bulky data such as images out of device events)"
            )
        return 6 * len(node) + 3  # every character escaped as \uXXXX at worst
    if kind is int and not -SMALL_INT < node < SMALL_INT:
        digits = len(str(abs(node))) if node.bit_length() < 14_000 else MAX_ATTRIBUTE_TEXT + 1
        if digits > MAX_ATTRIBUTE_TEXT:
            return f"a number of more than {MAX_ATTRIBUTE_TEXT:,} digits"
        return digits + 2
    if kind in (int, float, bool, type(None)):
        return 25
    return 6 * len(str(node)) + 3  # anything else is written as its text


def attributes_problem(value: dict[str, Any]) -> str | None:
    """Why these attributes are over the bounds (naming the attribute by its path), or None. One iterative walk (a
    hostile nesting cannot exhaust the stack) that also adds up an upper bound of their JSON size; only attributes
    that might be over the size limit are serialised to measure it exactly."""
    estimate = 0
    containers = (dict, list, tuple)
    stack: list[tuple[str, Any, int]] = [("attributes", value, 1)]
    while stack:
        path, node, depth = stack.pop()
        if depth > MAX_ATTRIBUTES_DEPTH:
            return f"{path}: nested more than {MAX_ATTRIBUTES_DEPTH} levels deep; flatten the attributes"
        if type(node) is dict:
            for key, child in node.items():
                text = key if type(key) is str else str(key)
                if len(text) > MAX_ATTRIBUTE_KEY:
                    return (
                        f"{path}: a key of {len(text):,} characters ({text[:40]!r}...); keys are limited to "
                        f"{MAX_ATTRIBUTE_KEY} characters"
                    )
                estimate += 6 * len(text) + 4
                kind = type(child)
                if kind is float or kind is bool or child is None or (kind is int and -SMALL_INT < child < SMALL_INT):
                    estimate += 25
                    continue
                if isinstance(child, containers):
                    stack.append((f"{path}.{text}", child, depth + 1))
                    continue
                size = _scalar_size(child)
                if type(size) is str:
                    return f"{path}.{text}: {size}"
                estimate += size  # type: ignore[operator]
        else:
            for index, child in enumerate(node):
                if isinstance(child, containers):
                    stack.append((f"{path}[{index}]", child, depth + 1))
                    continue
                size = _scalar_size(child)
                if type(size) is str:
                    return f"{path}[{index}]: {size}"
                estimate += size + 1  # type: ignore[operator]
        estimate += 2
    if estimate <= MAX_ATTRIBUTES_BYTES:
        return None
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_ATTRIBUTES_BYTES:
        return (
            f"the attributes are {size:,} bytes of JSON; the limit is {MAX_ATTRIBUTES_BYTES:,} bytes per event "
            "(send fewer vendor parameters, or bulky data such as images as a scan record)"
        )
    return None


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
    course: float | None = Field(
        default=None, allow_inf_nan=False, description="Course over ground: where it moves, degrees from true north."
    )
    heading: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="True heading: where the bow (or the vehicle's front) points, degrees from true north.",
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
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Anything else the vendor sent: at most {MAX_ATTRIBUTES_BYTES:,} bytes of JSON, "
        f"{MAX_ATTRIBUTES_DEPTH} levels deep, keys of at most {MAX_ATTRIBUTE_KEY} and texts of at most "
        f"{MAX_ATTRIBUTE_TEXT:,} characters.",
    )

    @field_validator("attributes")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = attributes_problem(value)
        if problem:
            raise ValueError(problem)
        return value

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
