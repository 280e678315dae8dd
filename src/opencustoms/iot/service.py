"""Public face of the IoT pillar: devices and their secrets, zones, transit movements and their reports, ingestion
(HTTP batches, files, MQTT through ``opencustoms.iot.mqtt``), quarantine, alerts, the gate decision queue and
vessel analysis. Functions that act for a person take the acting ``Identity`` and audit the change."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any
from weakref import WeakKeyDictionary

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, Engine, func, insert, select, update

from opencustoms import signals
from opencustoms.iot import scans
from opencustoms.iot import vessels as vessel_rules
from opencustoms.iot.errors import (
    DeviceAuthenticationError,
    DeviceExistsError,
    DeviceNotFoundError,
    GateDecisionClosedError,
    GateDecisionNotFoundError,
    IotError,
    TransitExistsError,
    TransitNotFoundError,
    ZoneNotFoundError,
)
from opencustoms.iot.events import DeviceType, EventKind
from opencustoms.iot.geo import Corridor, Zone, zone_geometry
from opencustoms.iot.ingest import (
    IngestReport,
    Payload,
    Processor,
    alert_row,
    alert_signals,
    alert_text,
    hash_secret,
    utcnow,
)
from opencustoms.iot.tables import (
    iot_alerts,
    iot_devices,
    iot_events,
    iot_gate_decisions,
    iot_quarantine,
    iot_transits,
    iot_zones,
)
from opencustoms.iot.transit import Movement, TransitRules
from opencustoms.progress import Progress, or_none
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record
from opencustoms.store.database import as_utc
from opencustoms.store.tables import declarations

SECRET_PREFIX = "ocd_"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def _utc(value: dt.datetime) -> dt.datetime:
    """A stored time as an aware UTC datetime (SQLite returns naive ones)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _require_any(actor: Identity, *permissions: Permission) -> None:
    """Pass when the actor holds any of the permissions; otherwise the error names the first."""
    if not any(actor.can(p) for p in permissions):
        actor.require(permissions[0])


def _check_id(value: str, field: str) -> str:
    if not _ID_RE.match(value):
        raise IotError(f"{field} {value!r} must be 1-64 characters: letters, digits, '.', '_', ':' or '-'", field=field)
    return value


# --- devices -------------------------------------------------------------------------------------------------


def register_device(
    engine: Engine,
    actor: Identity,
    device_id: str,
    device_type: str,
    *,
    label: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """Register a device; returns it and its secret (shown once; only its SHA-256 is stored)."""
    actor.require(Permission.DEVICES_MANAGE)
    _check_id(device_id, "device_id")
    try:
        kind = DeviceType(device_type)
    except ValueError as exc:
        raise IotError(
            f"device_type {device_type!r} is unknown; choose one of {', '.join(t.value for t in DeviceType)}",
            field="device_type",
        ) from exc
    attributes = dict(attributes or {})
    fmt = attributes.get("format")
    from opencustoms.iot.adapters import FORMATS

    if fmt is not None and fmt not in FORMATS:
        raise IotError(f"format {fmt!r} is unknown; choose one of {', '.join(FORMATS)}", field="attributes.format")
    secret = SECRET_PREFIX + secrets.token_urlsafe(24)
    with engine.begin() as conn:
        if conn.execute(select(iot_devices.c.device_id).where(iot_devices.c.device_id == device_id)).first():
            raise DeviceExistsError(device_id)
        conn.execute(
            insert(iot_devices).values(
                device_id=device_id,
                device_type=kind.value,
                label=label,
                secret_hash=hash_secret(secret),
                active=True,
                attributes=attributes,
                created_at=utcnow(),
            )
        )
        record(conn, actor, "register", "device", device_id, detail={"device_type": kind.value})
    return {
        "device_id": device_id,
        "device_type": kind.value,
        "label": label,
        "active": True,
        "attributes": attributes,
    }, secret


def rotate_secret(engine: Engine, actor: Identity, device_id: str) -> str:
    actor.require(Permission.DEVICES_MANAGE)
    secret = SECRET_PREFIX + secrets.token_urlsafe(24)
    with engine.begin() as conn:
        result = conn.execute(
            update(iot_devices).where(iot_devices.c.device_id == device_id).values(secret_hash=hash_secret(secret))
        )
        if result.rowcount == 0:
            raise DeviceNotFoundError(device_id)
        record(conn, actor, "rotate_secret", "device", device_id)
    return secret


def set_device_active(engine: Engine, actor: Identity, device_id: str, active: bool) -> None:
    actor.require(Permission.DEVICES_MANAGE)
    with engine.begin() as conn:
        result = conn.execute(update(iot_devices).where(iot_devices.c.device_id == device_id).values(active=active))
        if result.rowcount == 0:
            raise DeviceNotFoundError(device_id)
        record(conn, actor, "enable" if active else "disable", "device", device_id)


def list_devices(engine: Engine, actor: Identity) -> list[dict[str, Any]]:
    actor.require(Permission.DEVICES_MANAGE)
    with engine.connect() as conn:
        rows = conn.execute(select(iot_devices).order_by(iot_devices.c.device_id)).mappings().all()
    return [{k: v for k, v in r.items() if k != "secret_hash"} for r in rows]


# --- zones ---------------------------------------------------------------------------------------------------

ZONE_TYPES = ("customs_office", "port", "border_crossing", "authorised_place", "gate")


def add_zone(
    engine: Engine, actor: Identity, zone_id: str, name: str, zone_type: str, geometry: dict[str, Any]
) -> dict[str, Any]:
    """A geofence: ``{"type": "circle", "latitude", "longitude", "radius_m"}`` or ``{"type": "polygon",
    "coordinates": [[lon, lat], ...]}``."""
    actor.require(Permission.DEVICES_MANAGE)
    _check_id(zone_id, "zone_id")
    if zone_type not in ZONE_TYPES:
        raise IotError(f"zone_type {zone_type!r} is unknown; choose one of {', '.join(ZONE_TYPES)}", field="zone_type")
    try:
        geometry = zone_geometry(geometry)
    except (KeyError, TypeError, ValueError) as exc:
        raise IotError(f"zone geometry: {exc}", field="geometry") from exc
    with engine.begin() as conn:
        if conn.execute(select(iot_zones.c.zone_id).where(iot_zones.c.zone_id == zone_id)).first():
            raise IotError(f"zone {zone_id!r} already exists; choose another zone_id", field="zone_id")
        conn.execute(
            insert(iot_zones).values(
                zone_id=zone_id, name=name, zone_type=zone_type, geometry=geometry, created_at=utcnow()
            )
        )
        record(conn, actor, "create", "zone", zone_id)
    return {"zone_id": zone_id, "name": name, "zone_type": zone_type, "geometry": geometry}


def list_zones(engine: Engine, actor: Identity) -> list[dict[str, Any]]:
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(iot_zones).order_by(iot_zones.c.zone_id)).mappings()]


def _zones(conn: Connection, ids: list[str]) -> dict[str, Zone]:
    rows = conn.execute(select(iot_zones.c.zone_id, iot_zones.c.geometry).where(iot_zones.c.zone_id.in_(ids)))
    return {r.zone_id: Zone(r.zone_id, r.geometry) for r in rows}


# --- transit movements ---------------------------------------------------------------------------------------


class TransitRequest(BaseModel):
    """A transit movement to watch."""

    model_config = ConfigDict(extra="forbid")

    movement_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
    functional_reference_id: Annotated[str, Field(min_length=1, max_length=64)]
    vehicle_id: Annotated[str, Field(min_length=1, max_length=35)]
    container_ids: list[str] = Field(default_factory=list)
    seal_device_ids: list[str] = Field(min_length=1, description="E-seals on the load (registered e_seal devices).")
    tracker_device_ids: list[str] = Field(default_factory=list, description="GPS trackers on the vehicle.")
    corridor: list[tuple[float, float]] = Field(min_length=2, description="Route points as [longitude, latitude].")
    tolerance_m: float = Field(default=500, ge=10, le=50_000)
    departure_zone_id: str
    destination_zone_id: str
    authorised_zone_ids: list[str] = Field(default_factory=list)
    departure_time: dt.datetime
    time_limit: dt.datetime
    rules: TransitRules = Field(default_factory=TransitRules)

    @model_validator(mode="after")
    def _times(self) -> TransitRequest:
        if self.departure_time.tzinfo is None or self.time_limit.tzinfo is None:
            raise ValueError("departure_time and time_limit need a time zone (e.g. '2025-03-04T08:00:00Z')")
        if self.time_limit <= self.departure_time:
            raise ValueError("time_limit must be after departure_time")
        return self


def create_transit(engine: Engine, actor: Identity, request: TransitRequest | dict[str, Any]) -> dict[str, Any]:
    actor.require(Permission.DECLARATIONS_WRITE)
    req = request if isinstance(request, TransitRequest) else TransitRequest.model_validate(request)
    try:
        corridor = Corridor([list(p) for p in req.corridor], req.tolerance_m)
    except ValueError as exc:
        raise IotError(f"corridor: {exc}", field="corridor") from exc
    from opencustoms.reference.codes import check_container_number

    containers = [check_container_number(c, "container_ids") for c in req.container_ids]
    with engine.begin() as conn:
        if conn.execute(
            select(iot_transits.c.movement_id).where(iot_transits.c.movement_id == req.movement_id)
        ).first():
            raise TransitExistsError(req.movement_id)
        if not conn.execute(
            select(declarations.c.id).where(declarations.c.functional_reference_id == req.functional_reference_id)
        ).first():
            raise IotError(
                f"no declaration {req.functional_reference_id!r}; lodge the transit declaration first",
                field="functional_reference_id",
            )
        zone_ids = [req.departure_zone_id, req.destination_zone_id, *req.authorised_zone_ids]
        known = _zones(conn, zone_ids)
        for zid in zone_ids:
            if zid not in known:
                raise ZoneNotFoundError(zid)
        devices = {
            r.device_id: r.device_type
            for r in conn.execute(
                select(iot_devices.c.device_id, iot_devices.c.device_type).where(
                    iot_devices.c.device_id.in_(req.seal_device_ids + req.tracker_device_ids)
                )
            )
        }
        for field, ids, allowed in (
            ("seal_device_ids", req.seal_device_ids, {"e_seal"}),
            ("tracker_device_ids", req.tracker_device_ids, {"gps_tracker", "e_seal"}),
        ):
            for device_id in ids:
                if device_id not in devices:
                    raise IotError(f"device {device_id!r} is not registered", field=field)
                if devices[device_id] not in allowed:
                    raise IotError(
                        f"device {device_id!r} is a {devices[device_id]}, not a {' or '.join(allowed)}", field=field
                    )
        conn.execute(
            insert(iot_transits).values(
                movement_id=req.movement_id,
                functional_reference_id=req.functional_reference_id,
                vehicle_id=req.vehicle_id,
                container_ids=containers,
                seal_device_ids=req.seal_device_ids,
                tracker_device_ids=req.tracker_device_ids,
                corridor=[list(p) for p in req.corridor],
                tolerance_m=req.tolerance_m,
                departure_zone_id=req.departure_zone_id,
                destination_zone_id=req.destination_zone_id,
                authorised_zone_ids=req.authorised_zone_ids,
                departure_time=req.departure_time,
                time_limit=req.time_limit,
                rules=req.rules.model_dump(),
                status="in_transit",
                created_at=utcnow(),
            )
        )
        record(
            conn,
            actor,
            "create",
            "transit",
            req.movement_id,
            detail={"functional_reference_id": req.functional_reference_id},
        )
    _invalidate(engine)
    return {
        "movement_id": req.movement_id,
        "status": "in_transit",
        "corridor_length_m": round(corridor.length_m),
        "projection_error_bound": round(corridor.error_bound, 5),
    }


def _movement(
    conn: Connection,
    row: Any,
    zones: dict[str, Zone] | None = None,
    corridors: dict[tuple[str, float], Corridor] | None = None,
) -> Movement:
    ids = [row.departure_zone_id, row.destination_zone_id, *row.authorised_zone_ids]
    zones = zones if zones is not None else _zones(conn, ids)
    corridors = corridors if corridors is not None else {}
    key = _corridor_key(row.corridor, row.tolerance_m)
    corridor = corridors.get(key)
    if corridor is None:
        corridor = corridors[key] = Corridor(row.corridor, row.tolerance_m)
    return Movement(
        row.movement_id,
        row.functional_reference_id,
        row.vehicle_id,
        list(row.container_ids),
        list(row.seal_device_ids),
        list(row.tracker_device_ids),
        corridor,
        zones[row.departure_zone_id],
        zones[row.destination_zone_id],
        [zones[z] for z in row.authorised_zone_ids],
        _utc(row.departure_time),
        _utc(row.time_limit),
        TransitRules(**row.rules),
        row.status,
    )


def load_watched_movements(conn: Connection, known: dict[str, Movement] | None = None) -> list[Movement]:
    """Movements the rules watch: in transit, or closed in the last 7 days (a late event may still change them).
    Movements in ``known`` are returned as they are (movements are not edited after creation), so a refresh only
    reads and builds the new ones; movements on one route share one corridor object (and its checks)."""
    known = known or {}
    since = utcnow() - dt.timedelta(days=7)
    watched = (iot_transits.c.status == "in_transit") | (iot_transits.c.closed_at >= since)
    ids = list(conn.execute(select(iot_transits.c.movement_id).where(watched)).scalars())
    new = [i for i in ids if i not in known]
    rows: list[Any] = []
    for start in range(0, len(new), 500):
        chunk = new[start : start + 500]
        rows.extend(conn.execute(select(iot_transits).where(iot_transits.c.movement_id.in_(chunk))).all())
    zone_ids = {z for r in rows for z in [r.departure_zone_id, r.destination_zone_id, *r.authorised_zone_ids]}
    zones = _zones(conn, list(zone_ids)) if zone_ids else {}
    corridors = {
        _corridor_key(m.corridor.coordinates.tolist(), m.corridor.tolerance_m): m.corridor for m in known.values()
    }
    fresh = {r.movement_id: _movement(conn, r, zones, corridors) for r in rows}
    return [known[i] if i in known else fresh[i] for i in ids]


def _corridor_key(coordinates: Any, tolerance_m: float) -> tuple[str, float]:
    return json.dumps([[float(x), float(y)] for x, y in coordinates]), float(tolerance_m)


def list_transits(engine: Engine, actor: Identity, status: str | None = None) -> list[dict[str, Any]]:
    actor.require(Permission.DECLARATIONS_READ)
    query = select(iot_transits).order_by(iot_transits.c.departure_time)
    if status:
        query = query.where(iot_transits.c.status == status)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                select(iot_alerts.c.context_id, func.count())
                .where(iot_alerts.c.context_type == "transit")
                .group_by(iot_alerts.c.context_id)
            ).all()
        )
        return [
            {
                "movement_id": r.movement_id,
                "functional_reference_id": r.functional_reference_id,
                "vehicle_id": r.vehicle_id,
                "status": r.status,
                "departure_time": as_utc(r.departure_time),
                "time_limit": as_utc(r.time_limit),
                "arrived_at": as_utc(r.arrived_at),
                "alerts": counts.get(r.movement_id, 0),
            }
            for r in conn.execute(query)
        ]


def transit_report(engine: Engine, actor: Identity, movement_id: str, lang: str | None = None) -> dict[str, Any]:
    """Everything about one movement: its definition, status, alerts (with ``lang``, worded for that reader:
    :func:`worded_alert`) and every event of its devices in device-time order."""
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        row = conn.execute(select(iot_transits).where(iot_transits.c.movement_id == movement_id)).first()
        if row is None:
            raise TransitNotFoundError(movement_id)
        devices = list(dict.fromkeys([*row.seal_device_ids, *row.tracker_device_ids]))
        events = (
            conn.execute(
                select(iot_events)
                .where(
                    iot_events.c.device_id.in_(devices),
                    iot_events.c.device_time >= _utc(row.departure_time) - dt.timedelta(hours=1),
                )
                .order_by(iot_events.c.device_time, iot_events.c.id)
            )
            .mappings()
            .all()
        )
        alerts = (
            conn.execute(
                select(iot_alerts)
                .where(iot_alerts.c.context_type == "transit", iot_alerts.c.context_id == movement_id)
                .order_by(iot_alerts.c.observed_at)
            )
            .mappings()
            .all()
        )
    movement = {k: (as_utc(v) if isinstance(v, dt.datetime) else v) for k, v in row._mapping.items()}
    return {
        "movement": movement,
        "alerts": [
            worded_alert({k: (as_utc(v) if isinstance(v, dt.datetime) else v) for k, v in a.items()}, lang)
            for a in alerts
        ],
        "events": [
            {
                "device_id": e["device_id"],
                "kind": e["kind"],
                "device_time": as_utc(e["device_time"]),
                "received_at": as_utc(e["received_at"]),
                "latitude": e["latitude"],
                "longitude": e["longitude"],
                "speed_kmh": e["speed_kmh"],
                **(e["payload"] or {}),
            }
            for e in events
        ],
        "summary": {
            "events": len(events),
            "positions": sum(1 for e in events if e["kind"] == "position"),
            "alerts": dict(Counter(a["kind"] for a in alerts)),
            "status": row.status,
        },
    }


# --- ingestion -----------------------------------------------------------------------------------------------

_processors: WeakKeyDictionary[Engine, Processor] = WeakKeyDictionary()


def processor(engine: Engine, **options: Any) -> Processor:
    """The shared pipeline for this engine (one per process); options apply when it is first made."""
    proc = _processors.get(engine)
    if proc is None:
        proc = Processor(engine, movement_loader=load_watched_movements, **options)
        _processors[engine] = proc
    return proc


def _invalidate(engine: Engine) -> None:
    proc = _processors.get(engine)
    if proc is not None:
        proc.refresh()


def ingest_device_batch(
    engine: Engine, device_id: str, secret: str, body: bytes | str, fmt: str | None = None
) -> IngestReport:
    """A device (or its vendor's gateway, holding that device's secret) uploads a batch over HTTP. A wrong secret
    quarantines the batch and raises; anything else unusable is quarantined record by record."""
    report = processor(engine).process([Payload(body, "http", device_id=device_id, secret=secret, fmt=fmt)])
    if report.quarantined.get("bad_credentials") or report.quarantined.get("unknown_device") and not report.accepted:
        raise DeviceAuthenticationError(
            f"device {device_id!r} and this secret do not match a registered, active "
            "device; check the device id and secret (rotate it with `opencustoms iot "
            "devices rotate`)",
            field="device_id",
        )
    return report


def ingest_trusted(
    engine: Engine,
    actor: Identity,
    body: bytes | str,
    *,
    fmt: str | None = None,
    device_id: str | None = None,
    transport: str = "http",
    replay: bool = False,
) -> IngestReport:
    """Events forwarded by an authenticated gateway or operator (permission device_events:write); each event must
    still come from a registered, active device. ``replay`` accepts old device times (archives, AIS replays)."""
    _require_any(actor, Permission.DEVICE_EVENTS_WRITE, Permission.DEVICES_MANAGE)
    proc = processor(engine)
    saved = proc.max_age_s
    proc.max_age_s = None if replay else saved
    try:
        return proc.process([Payload(body, transport, device_id=device_id, authenticated=True, fmt=fmt)])
    finally:
        proc.max_age_s = saved


def ingest_simulated(engine: Engine, actor: Identity, messages: Sequence[Any]) -> IngestReport:
    """Feed simulator messages (``opencustoms.iot.simulator.Message``) as if each device had sent them itself:
    the demo's live data and `opencustoms iot simulate`."""
    _require_any(actor, Permission.DEVICE_EVENTS_WRITE, Permission.DEVICES_MANAGE)
    return processor(engine).process(
        [
            Payload(m.payload, "simulator", device_id=m.device_id, device_type=m.device_type, authenticated=True)
            for m in messages
        ]
    )


def ingest_file(
    engine: Engine,
    actor: Identity,
    path: Path,
    *,
    fmt: str | None = None,
    device_id: str | None = None,
    replay: bool = False,
    chunk_lines: int = 2000,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest a file of device messages (AIS receiver logs, e-seal archives...) by chunks of ``chunk_lines``;
    ``progress`` hears the chunks as they are stored."""
    progress = or_none(progress)
    if not path.is_file():
        raise IotError(f"no file at {path}; check the path", field="file")
    report = IngestReport()
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if fmt in ("native_json", "flespi_json") or (fmt is None and lines and lines[0].lstrip()[:1] in "{["):
        # JSON documents: one per line (JSON Lines) or the whole file
        try:
            import json

            json.loads(lines[0]) if lines else None
            chunks = ["[" + ",".join(lines[i : i + chunk_lines]) + "]" for i in range(0, len(lines), chunk_lines)]
        except ValueError:
            chunks = [path.read_text(encoding="utf-8", errors="replace")]
    else:
        chunks = ["\n".join(lines[i : i + chunk_lines]) for i in range(0, len(lines), chunk_lines)]
    progress.phase(f"ingesting {path.name} (chunks of {chunk_lines} lines)", len(chunks))
    for chunk in chunks:
        report.merge(
            ingest_trusted(engine, actor, chunk, fmt=fmt, device_id=device_id, transport="file", replay=replay)
        )
        progress.advance(1)
    return report


def sweep(engine: Engine, actor: Identity, now: dt.datetime | None = None) -> IngestReport:
    """Re-check every watched movement at ``now``: GPS silence and overdue arrivals need no new event."""
    _require_any(actor, Permission.DEVICES_MANAGE, Permission.DEVICE_EVENTS_WRITE, Permission.RISK_MANAGE)
    return processor(engine).sweep(now)


def quarantine(engine: Engine, actor: Identity, limit: int = 50) -> dict[str, Any]:
    actor.require(Permission.DEVICES_MANAGE)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                select(iot_quarantine.c.reason_code, func.count()).group_by(iot_quarantine.c.reason_code)
            ).all()
        )
        recent = (
            conn.execute(select(iot_quarantine).order_by(iot_quarantine.c.id.desc()).limit(max(1, min(limit, 1000))))
            .mappings()
            .all()
        )
    return {"total": sum(counts.values()), "by_reason": counts, "recent": [dict(r) for r in recent]}


def stats(engine: Engine, actor: Identity) -> dict[str, Any]:
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        return {
            "devices": conn.execute(select(func.count()).select_from(iot_devices)).scalar_one(),
            "events": dict(conn.execute(select(iot_events.c.kind, func.count()).group_by(iot_events.c.kind)).all()),
            "quarantined": dict(
                conn.execute(
                    select(iot_quarantine.c.reason_code, func.count()).group_by(iot_quarantine.c.reason_code)
                ).all()
            ),
            "alerts": dict(conn.execute(select(iot_alerts.c.kind, func.count()).group_by(iot_alerts.c.kind)).all()),
            "transits": dict(
                conn.execute(select(iot_transits.c.status, func.count()).group_by(iot_transits.c.status)).all()
            ),
            "gate_decisions": dict(
                conn.execute(
                    select(iot_gate_decisions.c.status, func.count()).group_by(iot_gate_decisions.c.status)
                ).all()
            ),
        }


def list_alerts(
    engine: Engine,
    actor: Identity,
    *,
    context_type: str | None = None,
    context_id: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    lang: str | None = None,
) -> list[dict[str, Any]]:
    """Stored alerts, newest first; with ``lang``, each with its reason written in that language (``text``) and
    its kind in words (``kind_label``)."""
    actor.require(Permission.DECLARATIONS_READ)
    query = select(iot_alerts).order_by(iot_alerts.c.observed_at.desc()).limit(max(1, min(limit, 10_000)))
    for column, value in (
        (iot_alerts.c.context_type, context_type),
        (iot_alerts.c.context_id, context_id),
        (iot_alerts.c.kind, kind),
    ):
        if value:
            query = query.where(column == value)
    with engine.connect() as conn:
        return [
            worded_alert({k: (as_utc(v) if isinstance(v, dt.datetime) else v) for k, v in r.items()}, lang)
            for r in conn.execute(query).mappings()
        ]


def worded_alert(alert: dict[str, Any], lang: str | None) -> dict[str, Any]:
    """A stored alert with, for a reader of ``lang``, its reason in that language (``text``: the sentence of its
    signal kind, :func:`opencustoms.signals.describe`, else the stored English reason) and its kind in words."""
    if lang:
        alert["text"] = alert_text(alert, lang)
        alert["kind_label"] = signals.kind_label(f"iot.{alert['kind']}", lang)
    return alert


def worded_gate_reasons(reasons: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """A gate decision's reasons, each with its sentence in ``lang`` (``text``) and its code in words (``label``);
    reasons stored before their values were recorded keep their English detail."""
    return [
        {
            **r,
            "text": signals.describe(f"iot.{r.get('code')}", r.get("values") or {}, lang, r.get("detail") or ""),
            "label": signals.kind_label(f"iot.{r.get('code')}", lang),
        }
        for r in reasons
    ]


# --- gate decision queue ---------------------------------------------------------------------------------------


def gate_queue(
    engine: Engine, actor: Identity, status: str | None = "pending", lang: str | None = None
) -> list[dict[str, Any]]:
    """Gate decisions in order of arrival; with ``lang``, each reason with its sentence in that language."""
    actor.require(Permission.DECLARATIONS_READ)
    query = select(iot_gate_decisions).order_by(iot_gate_decisions.c.created_at)
    if status:
        query = query.where(iot_gate_decisions.c.status == status)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    if lang:
        for row in rows:
            row["reasons"] = worded_gate_reasons(row.get("reasons") or [], lang)
    return rows


def decide_gate(engine: Engine, actor: Identity, decision_id: str, decision: str, note: str | None = None) -> dict:
    """An officer releases the vehicle or sends it to inspection."""
    actor.require(Permission.INSPECTIONS_WRITE)
    if decision not in ("release", "inspect"):
        raise IotError(f"decision {decision!r} must be 'release' or 'inspect'", field="decision")
    status = "released" if decision == "release" else "inspect"
    with engine.begin() as conn:
        row = conn.execute(select(iot_gate_decisions).where(iot_gate_decisions.c.id == decision_id)).first()
        if row is None:
            raise GateDecisionNotFoundError(decision_id)
        if row.status != "pending":
            raise GateDecisionClosedError(
                f"gate decision {decision_id} was already taken ({row.status} by {row.decided_by})", field="decision_id"
            )
        conn.execute(
            update(iot_gate_decisions)
            .where(iot_gate_decisions.c.id == decision_id)
            .values(status=status, decided_at=utcnow(), decided_by=actor.username, note=note)
        )
        record(conn, actor, decision, "gate_decision", decision_id, detail={"note": note})
    return {"id": decision_id, "status": status, "decided_by": actor.username}


# --- vessels -------------------------------------------------------------------------------------------------


def analyse_vessels(
    engine: Engine,
    actor: Identity,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    port_zone_ids: list[str] | None = None,
    settings: vessel_rules.VesselSettings | None = None,
) -> dict[str, Any]:
    """Build AIS tracks from stored positions, find gaps, encounters, loitering and port calls, store the alerts and
    emit signals on the vessels and on the declarations that name them (by MMSI or IMO)."""
    _require_any(actor, Permission.RISK_MANAGE, Permission.DEVICES_MANAGE)
    e = iot_events.c
    query = select(e.subject_id, e.kind, e.device_time, e.latitude, e.longitude, e.speed_kmh, e.payload).where(
        e.kind.in_([EventKind.AIS_POSITION.value, EventKind.AIS_STATIC.value])
    )
    if since:
        query = query.where(e.device_time >= since)
    if until:
        query = query.where(e.device_time <= until)
    rows: dict[str, list[tuple[float, float, float, float | None]]] = {}
    imo: dict[str, str] = {}
    with engine.connect() as conn:
        for r in conn.execute(query):
            if r.kind == EventKind.AIS_STATIC.value:
                if (r.payload or {}).get("imo"):
                    imo[r.subject_id] = r.payload["imo"]
                continue
            sog = None if r.speed_kmh is None else r.speed_kmh / vessel_rules.KMH_PER_KNOT
            rows.setdefault(r.subject_id, []).append((_utc(r.device_time).timestamp(), r.latitude, r.longitude, sog))
        ports = list(_zones(conn, port_zone_ids or []).values())
        if port_zone_ids:
            for zid in port_zone_ids:
                if zid not in {z.zone_id for z in ports}:
                    raise ZoneNotFoundError(zid)
    tracks = [vessel_rules.Track.build(m, pts, imo.get(m)) for m, pts in sorted(rows.items())]
    result = vessel_rules.analyse(tracks, ports, settings)
    now = utcnow()
    with engine.begin() as conn:
        links = _declarations_for_vessels(conn, {t.mmsi: t.imo for t in tracks})
        ids = [a.id for a in result.alerts]
        known = set(conn.execute(select(iot_alerts.c.id).where(iot_alerts.c.id.in_(ids))).scalars()) if ids else set()
        new = [a for a in result.alerts if a.id not in known]
        if new:
            conn.execute(insert(iot_alerts), [alert_row(a, now) for a in new])
            sigs = []
            for a in new:
                subjects = [(signals.SubjectType.VESSEL, a.context_id)]
                subjects += [(signals.SubjectType.DECLARATION, ref) for ref in links.get(a.context_id, [])]
                sigs += alert_signals(a, subjects)
            signals.emit(conn, sigs)
    return {
        "vessels": len(tracks),
        "positions": sum(len(t.t) for t in tracks),
        "alerts": [alert_row(a, now) | {"declarations": links.get(a.context_id, [])} for a in result.alerts],
        "new_alerts": len(new),
        "port_calls": result.port_calls,
    }


def _declarations_for_vessels(conn: Connection, vessels: dict[str, str | None]) -> dict[str, list[str]]:
    if not vessels:
        return {}
    d = declarations.c
    mmsis = list(vessels)
    imos = [i for i in vessels.values() if i]
    rows = conn.execute(
        select(d.functional_reference_id, d.vessel_mmsi, d.vessel_imo).where(
            d.vessel_mmsi.in_(mmsis) | (d.vessel_imo.in_(imos) if imos else False)
        )
    )
    out: dict[str, list[str]] = {}
    by_imo = {i: m for m, i in vessels.items() if i}
    for r in rows:
        for mmsi in {r.vessel_mmsi if r.vessel_mmsi in vessels else None, by_imo.get(r.vessel_imo)}:
            if mmsi is not None:
                out.setdefault(str(mmsi), []).append(r.functional_reference_id)
    return out


def event_schema() -> dict[str, Any]:
    from opencustoms.iot.events import event_json_schema

    return event_json_schema()


def map_state(engine: Engine, actor: Identity, *, limit: int = 500) -> dict[str, Any]:
    """What the transit map draws: zones, each movement's corridor and latest position, newest movements first."""

    actor.require(Permission.DECLARATIONS_READ)
    t, e = iot_transits.c, iot_events.c
    with engine.connect() as conn:
        zones = [
            dict(r)
            for r in conn.execute(
                select(iot_zones.c.zone_id, iot_zones.c.name, iot_zones.c.zone_type, iot_zones.c.geometry)
            ).mappings()
        ]
        movements = conn.execute(select(iot_transits).order_by(t.departure_time.desc()).limit(limit)).all()
        out = []
        for m in movements:
            devices = list(dict.fromkeys([*m.tracker_device_ids, *m.seal_device_ids]))
            last = (
                conn.execute(
                    select(e.latitude, e.longitude, e.device_time, e.speed_kmh)
                    .where(e.device_id.in_(devices), e.latitude.is_not(None))
                    .order_by(e.device_time.desc())
                    .limit(1)
                ).first()
                if devices
                else None
            )
            out.append(
                {
                    "movement_id": m.movement_id,
                    "reference": m.functional_reference_id,
                    "vehicle_id": m.vehicle_id,
                    "status": m.status,
                    "corridor": m.corridor,
                    "tolerance_m": m.tolerance_m,
                    "position": [last.latitude, last.longitude] if last else None,
                    "position_time": as_utc(last.device_time) if last else None,
                    "speed_kmh": last.speed_kmh if last else None,
                }
            )
    return {"zones": zones, "movements": out}


def vessel_tracks(engine: Engine, actor: Identity, *, points_per_vessel: int = 400) -> list[dict[str, Any]]:
    """Stored AIS positions per vessel (MMSI), thinned to at most ``points_per_vessel`` points each."""

    actor.require(Permission.DECLARATIONS_READ)
    e = iot_events.c
    tracks: dict[str, list[tuple[Any, float, float, float | None]]] = {}
    with engine.connect() as conn:
        for r in conn.execute(
            select(e.subject_id, e.device_time, e.latitude, e.longitude, e.speed_kmh)
            .where(e.kind == "ais_position", e.latitude.is_not(None))
            .order_by(e.subject_id, e.device_time)
        ):
            tracks.setdefault(str(r.subject_id), []).append((r.device_time, r.latitude, r.longitude, r.speed_kmh))
    out = []
    for mmsi, points in tracks.items():
        step = max(1, len(points) // points_per_vessel)
        kept = points[::step]
        if kept[-1] is not points[-1]:
            kept.append(points[-1])
        out.append(
            {
                "mmsi": mmsi,
                "positions": len(points),
                "first": as_utc(points[0][0]),
                "last": as_utc(points[-1][0]),
                "track": [[round(p[1], 5), round(p[2], 5)] for p in kept],
                "speed_kmh": points[-1][3],
            }
        )
    return out


# AIS ship and cargo type (ITU-R M.1371, message 5 field "ship_type"): the kind of vessel in words
_SHIP_TYPES_EXACT = {
    30: "Fishing vessel",
    31: "Tug",
    32: "Tug",
    33: "Dredger",
    34: "Diving vessel",
    35: "Military vessel",
    36: "Sailing vessel",
    37: "Pleasure craft",
    50: "Pilot vessel",
    51: "Search and rescue vessel",
    52: "Tug",
    53: "Port tender",
    54: "Anti-pollution vessel",
    55: "Law enforcement vessel",
    58: "Medical transport",
}
_SHIP_TYPES_BY_TENS = {
    2: "Wing in ground craft",
    4: "High-speed craft",
    6: "Passenger ship",
    7: "Cargo ship",
    8: "Tanker",
    9: "Other type of ship",
}
SHIP_TYPE_NAMES = tuple(sorted({*_SHIP_TYPES_EXACT.values(), *_SHIP_TYPES_BY_TENS.values()}))


def ship_type_name(code: Any) -> str | None:
    """The AIS ship type code in words (``70`` → "Cargo ship"); None when not given or not available (0)."""
    if not isinstance(code, int) or not 0 < code < 100:
        return None
    return _SHIP_TYPES_EXACT.get(code) or _SHIP_TYPES_BY_TENS.get(code // 10)


def vessel_flag(mmsi: str) -> str | None:
    """The flag state (ISO country code) of a ship's MMSI, from its Maritime Identification Digits."""
    from pyais.util import get_country

    if not (mmsi.isdigit() and len(mmsi) == 9 and mmsi[0] in "234567"):  # ship stations only
        return None
    code, _name = get_country(int(mmsi))
    return None if code in ("", "NA") else code


def vessel_identities(engine: Engine, actor: Identity, mmsis: Iterable[str | None]) -> dict[str, dict[str, Any]]:
    """For each of ``mmsis``, what the vessel's static reports (AIS types 5 and 24) told: name, IMO number, call
    sign, ship type in words, and its flag from the MMSI (an MMSI never heard in a static report has its flag
    only). The newest report wins field by field. Only the asked vessels' reports are read."""
    actor.require(Permission.DECLARATIONS_READ)
    wanted = sorted({str(m) for m in mmsis if m})
    out: dict[str, dict[str, Any]] = {m: {"mmsi": m, "flag": vessel_flag(m)} for m in wanted}
    if not wanted:
        return out
    e = iot_events.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(e.subject_id, e.payload)
            .where(e.kind == EventKind.AIS_STATIC.value, e.subject_id.in_(wanted))
            .order_by(e.device_time)
        )
        for r in rows:
            ais = ((r.payload or {}).get("attributes") or {}).get("ais") or {}
            known = out[str(r.subject_id)]
            name = str(ais.get("shipname") or "").strip(" @")
            if name:
                known["name"] = name
            if (r.payload or {}).get("imo"):
                known["imo"] = r.payload["imo"]
            callsign = str(ais.get("callsign") or "").strip(" @")
            if callsign:
                known["callsign"] = callsign
            kind = ship_type_name(ais.get("ship_type"))
            if kind:
                known["ship_type"] = kind
    return out


# --- scan records (X-ray / CT) and their review queue: opencustoms.iot.scans ---------------------------------

FINDINGS = scans.FINDINGS
SCAN_TYPES = scans.SCAN_TYPES
Region = scans.Region
ScanRequest = scans.ScanRequest
ScanStore = scans.ScanStore
add_scan = scans.add_scan
assign_scan = scans.assign_scan
export_package = scans.export_package
get_scan = scans.get_scan
import_package = scans.import_package
load_scan_json = scans.load_json_part
normalise_image = scans.normalise_image
record_finding = scans.record_finding
release_scan = scans.release_scan
scan_counts = scans.scan_counts
scan_image = scans.scan_image
scan_display = scans.scan_display
scan_queue = scans.scan_queue
scans_for_declaration = scans.scans_for_declaration
