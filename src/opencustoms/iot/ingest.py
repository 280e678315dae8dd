"""The ingestion pipeline shared by MQTT, HTTP and file import.

payloads → adapters (decode) → checks (device known, active, authenticated, allowed kind, possible coordinates and
speed, clock) → quarantine or store (deduplicated by (device, event key)) → rules (transit movements, gate
passages) → alerts → signals, all in one transaction per batch. Nothing here raises on bad input: every unusable
record ends in ``iot_quarantine`` with a reason code and is counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from opencustoms import signals
from opencustoms.declarations.repository import insert_tuples, sqlite_timestamp
from opencustoms.iot import adapters
from opencustoms.iot.alerts import Alert
from opencustoms.iot.events import ALLOWED_KINDS, DeviceEvent, DeviceType, EventKind
from opencustoms.iot.gates import judge_passage
from opencustoms.iot.geo import EARTH_RADIUS_M, check_coordinates
from opencustoms.iot.tables import iot_alerts, iot_devices, iot_events, iot_gate_decisions, iot_quarantine, iot_transits
from opencustoms.iot.transit import Movement, Tracker, TrackEvent, coordinates, fix_geometry
from opencustoms.store.database import as_utc

ROAD_MAX_SPEED_KMH = 250.0
ROAD_MAX_IMPLIED_KMH = 300.0
SEA_MAX_SPEED_KMH = 100 * 1.852
# One message (MQTT) or one uploaded batch (HTTP) as received; files imported by an operator are read in chunks of
# lines instead. Larger payloads are quarantined whole ('too_large'), their first 8,000 characters kept.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_REPORTED_REJECTIONS = 20  # the reasons an ingestion report lists (all are counted and quarantined)
GATE_KINDS = frozenset({EventKind.PLATE_READ, EventKind.CONTAINER_READ, EventKind.RADIATION_SCAN})
# iot_events columns written per event, and the DeviceEvent fields kept in its JSON payload
EVENT_COLUMNS = (
    "device_id",
    "event_key",
    "schema_version",
    "kind",
    "device_time",
    "received_at",
    "latitude",
    "longitude",
    "speed_kmh",
    "subject_id",
    "payload",
)
PAYLOAD_FIELDS = tuple(
    n
    for n in DeviceEvent.model_fields
    if n not in {"device_id", "kind", "device_time", "received_at", "latitude", "longitude", "speed_kmh"}
)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Payload:
    """One message as it arrived. ``device_id``/``device_type`` come from the MQTT topic or the HTTP request;
    ``secret`` is the device's secret (HTTP); ``authenticated`` is True when the transport has already proven the
    sender (the MQTT broker's per-device login, or an operator importing a file)."""

    data: bytes | str
    transport: str
    device_id: str | None = None
    device_type: str | None = None
    secret: str | None = None
    authenticated: bool = False
    fmt: str | None = None
    received_at: dt.datetime | None = None


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    alerts: list[Alert] = field(default_factory=list)
    gate_decisions: list[str] = field(default_factory=list)
    committed_at: float = 0.0
    rejections: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_REPORTED_REJECTIONS, with reasons

    def merge(self, other: IngestReport) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined.update(other.quarantined)
        self.rejections.extend(other.rejections[: MAX_REPORTED_REJECTIONS - len(self.rejections)])
        self.alerts.extend(other.alerts)
        self.gate_decisions.extend(other.gate_decisions)

    def summary(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": sum(self.quarantined.values()),
            "quarantine_reasons": dict(self.quarantined),
            "rejections": self.rejections,
            "alerts": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "context_type": a.context_type,
                    "context_id": a.context_id,
                    "severity": a.severity,
                    "reason": a.reason,
                }
                for a in self.alerts
            ],
            "gate_decisions": self.gate_decisions,
        }


@dataclass
class _Device:
    device_id: str
    device_type: DeviceType
    secret_hash: str
    active: bool
    attributes: dict[str, Any]


@dataclass
class _MovementState:
    tracker: Tracker
    known_alerts: set[str]
    status: str
    arrived_at: dt.datetime | None
    newest_fix: dt.datetime | None = None  # device time of the newest position report

    @property
    def movement(self) -> Movement:
        return self.tracker.movement


def alert_row(a: Alert, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": a.id,
        "context_type": a.context_type,
        "context_id": a.context_id,
        "kind": a.kind,
        "severity": a.severity,
        "observed_at": a.observed_at,
        "reason": a.reason,
        "evidence": a.evidence,
        "created_at": now,
    }


def alert_evidence(a: Alert | Mapping[str, Any]) -> dict[str, Any]:
    """The evidence of an alert's signals (an alert, or a stored alert's row): its id, its context and what its
    rule recorded (the values the signal's sentence is written from, :func:`opencustoms.signals.describe`)."""
    if isinstance(a, Alert):
        return {"alert_id": a.id, a.context_type: a.context_id, **a.evidence}
    return {"alert_id": a["id"], a["context_type"]: a["context_id"], **(a.get("evidence") or {})}


def alert_text(a: Mapping[str, Any], lang: str) -> str:
    """A stored alert's reason in ``lang`` (its stored English reason when its kind has no sentence or the alert
    predates the values)."""
    return signals.describe(f"iot.{a['kind']}", alert_evidence(a), lang, a.get("reason") or a["kind"])


def alert_signals(a: Alert, subjects: Iterable[tuple[signals.SubjectType, str]]) -> list[signals.Signal]:
    out = []
    for subject_type, subject_id in dict.fromkeys(subjects):
        if subject_id:
            out.append(
                signals.Signal(
                    id=a.signal_id(subject_type.value, subject_id),
                    kind=f"iot.{a.kind}",
                    subject_type=subject_type,
                    subject_id=subject_id[:128],
                    severity=signals.Severity(a.severity),
                    source="iot",
                    reason=a.reason[:2000],
                    evidence=alert_evidence(a),
                    observed_at=a.observed_at,
                )
            )
    return out


class Processor:
    """Stateful pipeline for one ingesting process (the MQTT listener, the API, a CLI import). It caches the device
    registry and the active transit movements with their event histories; the database stays the truth, and
    ``refresh()`` reloads the caches."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_future_skew_s: float = 300,
        max_age_s: float | None = 30 * 86_400,
        refresh_s: float = 5.0,
        clock: Callable[[], dt.datetime] = utcnow,
        movement_loader: Callable[[Connection, dict[str, Movement]], list[Movement]] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        """``shard=(k, n)``: this pipeline is worker k of n (``opencustoms iot listen --workers n``); it owns the
        devices ``device_shards`` gives to k, watches only their movements, and its listener subscribes only to their
        topics, so every event of a movement goes through one worker, in order."""
        if shard is not None and not 0 <= shard[0] < shard[1]:
            raise ValueError(f"shard {shard[0]} of {shard[1]}: the index must be in 0..{shard[1] - 1}")
        self.shard = shard
        self.owned: dict[str, DeviceType] = {}  # device id -> type, the devices this pipeline owns
        self.version = 0  # incremented by every refresh
        self.engine = engine
        self.max_future_skew_s = max_future_skew_s
        self.max_age_s = max_age_s
        self.refresh_s = refresh_s
        self.clock = clock
        self._movement_loader = movement_loader
        self._devices: dict[str, _Device] = {}
        self._movements: dict[str, _MovementState] = {}
        self._by_device: dict[str, list[str]] = {}
        self._last_fix: dict[tuple[str, str | None], tuple[float, float, float]] = {}
        self._loaded: dict[str, Movement] = {}
        self._loaded_at = -1e18
        self._last_stamp: tuple[dt.datetime | None, str] = (None, "")

    # --- caches ----------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        with self.engine.connect() as conn:
            self._devices = {
                r.device_id: _Device(
                    r.device_id, DeviceType(r.device_type), r.secret_hash, r.active, r.attributes or {}
                )
                for r in conn.execute(
                    select(
                        iot_devices.c.device_id,
                        iot_devices.c.device_type,
                        iot_devices.c.secret_hash,
                        iot_devices.c.active,
                        iot_devices.c.attributes,
                    )
                )
            }
            movements = self._movement_loader(conn, self._loaded) if self._movement_loader else []
        self._loaded = {m.movement_id: m for m in movements}  # all watched, also other shards' (reused next time)
        if self.shard is not None:
            k, n = self.shard
            assignment = device_shards(self._devices, [m.device_ids for m in movements], n)
            movements = [m for m in movements if all(assignment.get(d) == k for d in m.device_ids)]
            self.owned = {d: dev.device_type for d, dev in self._devices.items() if assignment[d] == k}
        else:
            self.owned = {d: dev.device_type for d, dev in self._devices.items()}
        fresh: dict[str, _MovementState] = {}
        for m in movements:
            old = self._movements.get(m.movement_id)
            fresh[m.movement_id] = old if old is not None else self._load_state(m)
            fresh[m.movement_id].tracker.movement = m  # movements are not edited after creation: same rules
        self._movements = fresh
        self._by_device = {}
        for mid, state in fresh.items():
            for device_id in state.movement.device_ids:
                self._by_device.setdefault(device_id, []).append(mid)
        self._loaded_at = time.monotonic()
        self.version += 1

    def maybe_refresh(self) -> None:
        if time.monotonic() - self._loaded_at >= self.refresh_s:
            self.refresh()

    def _load_state(self, m: Movement) -> _MovementState:
        since = m.departure_time - dt.timedelta(hours=1)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    iot_events.c.device_id,
                    iot_events.c.kind,
                    iot_events.c.device_time,
                    iot_events.c.latitude,
                    iot_events.c.longitude,
                    iot_events.c.speed_kmh,
                    iot_events.c.payload,
                ).where(iot_events.c.device_id.in_(m.device_ids), iot_events.c.device_time >= since)
            )
            events = [
                TrackEvent(
                    r.device_id,
                    r.kind,
                    as_utc(r.device_time) or r.device_time,
                    r.latitude,
                    r.longitude,
                    r.speed_kmh,
                    (r.payload or {}).get("seal_id"),
                    (r.payload or {}).get("battery_percent"),
                )
                for r in rows
            ]
            known = set(
                conn.execute(
                    select(iot_alerts.c.id).where(
                        iot_alerts.c.context_type == "transit", iot_alerts.c.context_id == m.movement_id
                    )
                ).scalars()
            )
            row = conn.execute(
                select(iot_transits.c.status, iot_transits.c.arrived_at).where(
                    iot_transits.c.movement_id == m.movement_id
                )
            ).first()
        status = row.status if row else m.status
        fixes = [
            e.device_time
            for e in events
            if e.kind == EventKind.POSITION and e.latitude is not None and e.longitude is not None
        ]
        return _MovementState(
            Tracker(m, events), known, status, as_utc(row.arrived_at) if row else None, max(fixes, default=None)
        )

    # --- the pipeline ----------------------------------------------------------------------------------------

    def process(self, payloads: Sequence[Payload]) -> IngestReport:
        self.maybe_refresh()
        report = IngestReport()
        now = self.clock()
        quarantine: list[dict[str, Any]] = []
        accepted: dict[tuple[str, str], DeviceEvent] = {}

        def reject(p: Payload, code: str, reason: str, raw: str, device_id: str | None) -> None:
            report.quarantined[code] += 1
            if len(report.rejections) < MAX_REPORTED_REJECTIONS:
                report.rejections.append({"reason_code": code, "reason": reason[:2000], "device_id": device_id})
            quarantine.append(
                {
                    "received_at": now,
                    "transport": p.transport,
                    "device_id": device_id,
                    "reason_code": code,
                    "reason": reason[:2000],
                    "payload": raw[:8000],
                }
            )

        for p in payloads:
            received = p.received_at or now
            if p.transport != "file" and len(p.data) > MAX_PAYLOAD_BYTES:
                head = p.data[:8000]
                reject(
                    p,
                    "too_large",
                    f"the payload is {len(p.data):,} bytes; the limit is {MAX_PAYLOAD_BYTES:,} bytes per "
                    f"{'message' if p.transport == 'mqtt' else 'batch'}: send smaller batches",
                    head if isinstance(head, str) else head.decode("utf-8", "replace"),
                    p.device_id,
                )
                continue
            raw_text = p.data if isinstance(p.data, str) else p.data.decode("utf-8", "replace")
            sender = self._devices.get(p.device_id) if p.device_id else None
            if p.device_id and sender is None:
                reject(p, "unknown_device", f"device {p.device_id!r} is not registered", raw_text, p.device_id)
                continue
            if not p.authenticated:
                if sender is None or p.secret is None:
                    reject(
                        p,
                        "bad_credentials",
                        "the payload is not authenticated: send the device id and its secret",
                        raw_text,
                        p.device_id,
                    )
                    continue
                if not hmac.compare_digest(sender.secret_hash, hash_secret(p.secret)):
                    reject(p, "bad_credentials", f"wrong secret for device {p.device_id!r}", raw_text, p.device_id)
                    continue
            if sender is not None and p.device_type and p.device_type != sender.device_type.value:
                reject(
                    p,
                    "device_type_mismatch",
                    f"device {sender.device_id!r} is registered as {sender.device_type.value}, not {p.device_type}",
                    raw_text,
                    p.device_id,
                )
                continue
            fmt = p.fmt or (sender.attributes.get("format") if sender else None)
            for item in adapters.decode(p.data, received, fmt=fmt, device_id=p.device_id):
                if isinstance(item, adapters.Rejection):
                    reject(p, item.reason_code, item.reason, item.raw, item.device_id or p.device_id)
                    continue
                problem = self._check(item, sender, received)
                if problem is not None:
                    reject(p, problem[0], problem[1], item.model_dump_json(exclude_none=True), item.device_id)
                    continue
                key = (item.device_id, item.key())
                if key in accepted:
                    report.duplicates += 1
                    continue
                accepted[key] = item
                self._remember_fixes([item])

        with self.engine.begin() as conn:
            if quarantine:
                conn.execute(insert(iot_quarantine), quarantine)
            if accepted:
                known = self._existing(conn, list(accepted))
                report.duplicates += len(known)
                fresh = {k: e for k, e in accepted.items() if k not in known}
                if fresh:
                    sqlite = conn.dialect.name == "sqlite"
                    insert_tuples(
                        conn, "iot_events", EVENT_COLUMNS, [self._row(k[1], e, sqlite) for k, e in fresh.items()]
                    )
                    last_seen: dict[str, dt.datetime] = {}
                    for e in fresh.values():
                        last_seen[e.device_id] = max(last_seen.get(e.device_id, now), e.received_at or now)
                    # driver level, like the events: SQLAlchemy's per-row parameter processing cost more than the
                    # UPDATE itself (one row per device of the batch)
                    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
                    conn.exec_driver_sql(
                        f"UPDATE iot_devices SET last_seen_at = {marker} WHERE device_id = {marker}",
                        [(self._timestamp(t, sqlite), d) for d, t in last_seen.items()],
                    )
                report.accepted = len(fresh)
                self._run_transit_rules(conn, list(fresh.values()), report, now)
                self._run_gate_rules(conn, list(fresh.values()), report, now)
        report.committed_at = time.time()
        return report

    def _check(self, e: DeviceEvent, sender: _Device | None, received: dt.datetime) -> tuple[str, str] | None:
        device = self._devices.get(e.device_id)
        if device is None:
            return "unknown_device", f"device {e.device_id!r} is not registered"
        if sender is not None and sender.device_id != e.device_id:
            return "device_mismatch", (
                f"device {sender.device_id!r} sent an event for device {e.device_id!r}; "
                "a device may only report for itself"
            )
        if not device.active:
            return "device_disabled", f"device {e.device_id!r} is disabled"
        if e.kind not in ALLOWED_KINDS[device.device_type]:
            return "kind_not_allowed", f"a {device.device_type.value} cannot send {e.kind.value} events"
        skew = (e.device_time - received).total_seconds()
        if skew > self.max_future_skew_s:
            return "clock_skew", (
                f"device time {e.device_time.isoformat()} is {int(skew)} s ahead of the receive "
                f"time (allowed {int(self.max_future_skew_s)} s); set the device clock (GPS/NTP)"
            )
        if self.max_age_s is not None and -skew > self.max_age_s:
            return "clock_skew", (
                f"device time {e.device_time.isoformat()} is {int(-skew // 86400)} days before the "
                "receive time; the clock is wrong or the event is too old to act on"
            )
        if (e.latitude is None) != (e.longitude is None):
            return "impossible_coordinates", "latitude and longitude must come together"
        if e.has_position:
            problem = check_coordinates(e.latitude, e.longitude)  # type: ignore[arg-type]
            if problem:
                return "impossible_coordinates", problem
            sea = device.device_type == DeviceType.AIS_RECEIVER
            limit = SEA_MAX_SPEED_KMH if sea else ROAD_MAX_SPEED_KMH
            if e.speed_kmh is not None and not 0 <= e.speed_kmh <= limit:
                return "impossible_speed", f"reported speed {e.speed_kmh} km/h is outside 0..{limit:.0f}"
            previous = self._last_fix.get((e.device_id, e.mmsi))
            if previous is not None:
                t0, lat0, lon0 = previous
                seconds = abs(e.device_time.timestamp() - t0)
                metres = _haversine(lat0, lon0, e.latitude, e.longitude)  # type: ignore[arg-type]
                implied = metres / max(seconds, 1.0) * 3.6
                if metres > 1000 and implied > (SEA_MAX_SPEED_KMH * 1.5 if sea else ROAD_MAX_IMPLIED_KMH):
                    return "impossible_speed", (
                        f"{int(metres)} m from the previous fix in {seconds:.0f} s implies {implied:.0f} km/h"
                    )
        return None

    def _remember_fixes(self, events: Iterable[DeviceEvent]) -> None:
        for e in events:
            if e.has_position:
                key = (e.device_id, e.mmsi)
                t = e.device_time.timestamp()
                previous = self._last_fix.get(key)
                if previous is None or t >= previous[0]:
                    self._last_fix[key] = (t, e.latitude, e.longitude)  # type: ignore[assignment]

    @staticmethod
    def _existing(conn: Connection, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (device, event key) pairs already stored (driver-level query: this runs for every batch)."""
        found: set[tuple[str, str]] = set()
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            devices = sorted({d for d, _ in chunk})
            event_keys = [k for _, k in chunk]
            sql = (
                "SELECT device_id, event_key FROM iot_events WHERE device_id IN ("
                + ", ".join([marker] * len(devices))
                + ") AND event_key IN ("
                + ", ".join([marker] * len(event_keys))
                + ")"
            )
            found.update((d, k) for d, k in conn.exec_driver_sql(sql, (*devices, *event_keys)))
        return found & set(keys)

    def _row(self, key: str, e: DeviceEvent, sqlite: bool) -> tuple[Any, ...]:
        """One iot_events row as driver-ready values, in ``EVENT_COLUMNS`` order."""
        subject = e.seal_id or e.mmsi or e.plate or e.container_id
        if e.kind in GATE_KINDS and e.passage_id:
            subject = self._passage_key(e)
        values = e.__dict__
        payload = {n: values[n] for n in PAYLOAD_FIELDS if values[n] is not None}
        if not payload.get("attributes"):
            payload.pop("attributes", None)
        try:
            text = json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError):  # not plain JSON (NaN, a foreign type): pydantic's JSON conversion decides
            payload = e.model_dump(mode="json", exclude_none=True, include=set(PAYLOAD_FIELDS))
            if not payload.get("attributes"):
                payload.pop("attributes", None)
            text = json.dumps(payload)
        return (
            e.device_id,
            key,
            e.schema_version,
            e.kind.value,
            self._timestamp(e.device_time, sqlite),
            self._timestamp(e.received_at, sqlite) if e.received_at is not None else None,
            e.latitude,
            e.longitude,
            e.speed_kmh,
            subject,
            text,
        )

    def _timestamp(self, value: dt.datetime, sqlite: bool) -> dt.datetime | str:
        """A timestamp as the driver takes it (SQLite: text as SQLAlchemy writes it). The events of one MQTT batch
        share one receive time: its text is kept."""
        if not sqlite:
            return value
        if value is self._last_stamp[0]:
            return self._last_stamp[1]
        if value.tzinfo is dt.UTC:
            text = value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        else:
            text = sqlite_timestamp(value)
        self._last_stamp = (value, text)
        return text

    def _passage_key(self, e: DeviceEvent) -> str:
        device = self._devices.get(e.device_id)
        gate = e.gate_id or (device.attributes.get("gate_id") if device else None) or e.device_id
        return f"{gate}/{e.passage_id}"[:64]

    # --- transit rules ---------------------------------------------------------------------------------------

    def _run_transit_rules(
        self, conn: Connection, events: list[DeviceEvent], report: IngestReport, now: dt.datetime
    ) -> None:
        touched: dict[str, list[TrackEvent]] = {}
        for e in events:
            mids = self._by_device.get(e.device_id)
            if not mids:
                continue
            track = TrackEvent(
                e.device_id,
                e.kind.value,
                e.device_time,
                e.latitude,
                e.longitude,
                e.speed_kmh,
                e.seal_id,
                e.battery_percent,
            )
            for mid in mids:
                touched.setdefault(mid, []).append(track)
        feeds = []
        for mid in sorted(touched):
            state = self._movements[mid]
            fixes = state.tracker.take(touched[mid])
            if fixes:
                feeds.append((state, fixes, *coordinates(fixes)))
        geometry = fix_geometry([(state.movement, lat, lon) for state, _, lat, lon in feeds])  # all at once
        for (state, fixes, _, _), g in zip(feeds, geometry, strict=True):
            state.tracker.feed(fixes, g)
        for mid in sorted(touched):
            # Event-driven evaluation looks at the movement as of its newest fix (its newest event while it has no
            # fix): a backlog delivered late must not look like a silence, and neither may a seal event whose clock
            # runs ahead of the tracker's: judged at such an event's time, every later fix before it would open a
            # new "silent since this fix" episode, one alert per fix. Silences and overdue arrivals as of the wall
            # clock are the sweep's job.
            state = self._movements[mid]
            for t in touched[mid]:
                fix = t.kind == EventKind.POSITION and t.latitude is not None and t.longitude is not None
                if fix and (state.newest_fix is None or t.device_time > state.newest_fix):
                    state.newest_fix = t.device_time
            assert state.tracker.newest is not None
            self._evaluate(conn, state, report, min(state.newest_fix or state.tracker.newest, now))

    def sweep(self, now: dt.datetime | None = None) -> IngestReport:
        """Re-evaluate every active movement at ``now`` (GPS silence and overdue arrivals need no event)."""
        self.refresh()
        report = IngestReport()
        now = now or self.clock()
        with self.engine.begin() as conn:
            for mid in sorted(self._movements):
                self._evaluate(conn, self._movements[mid], report, now)
        report.committed_at = time.time()
        return report

    def _evaluate(self, conn: Connection, state: _MovementState, report: IngestReport, now: dt.datetime) -> None:
        m = state.movement
        m.status = state.status
        outcome = state.tracker.outcome(now)
        fresh = [a for a in outcome.alerts if a.id not in state.known_alerts]
        if fresh:
            self._store_alerts(
                conn,
                fresh,
                now,
                lambda a: [
                    (signals.SubjectType.DECLARATION, m.functional_reference_id),
                    (signals.SubjectType.VEHICLE, m.vehicle_id),
                    *((signals.SubjectType.CONTAINER, c) for c in m.container_ids),
                ],
            )
            state.known_alerts.update(a.id for a in fresh)
            report.alerts.extend(fresh)
        if outcome.status != state.status or outcome.arrived_at != state.arrived_at:
            values: dict[str, Any] = {"status": outcome.status, "arrived_at": outcome.arrived_at}
            if outcome.status != "in_transit" and state.status == "in_transit":
                values["closed_at"] = now
            conn.execute(update(iot_transits).where(iot_transits.c.movement_id == m.movement_id).values(**values))
            state.status, state.arrived_at = outcome.status, outcome.arrived_at

    @staticmethod
    def _store_alerts(
        conn: Connection,
        alerts: list[Alert],
        now: dt.datetime,
        subjects: Callable[[Alert], list[tuple[signals.SubjectType, str]]],
    ) -> None:
        ids = [a.id for a in alerts]
        known = set(conn.execute(select(iot_alerts.c.id).where(iot_alerts.c.id.in_(ids))).scalars())
        new = [a for a in {a.id: a for a in alerts}.values() if a.id not in known]
        if new:
            conn.execute(insert(iot_alerts), [alert_row(a, now) for a in new])
            signals.emit(conn, [s for a in new for s in alert_signals(a, subjects(a))])

    # --- gate rules --------------------------------------------------------------------------------------------

    def _run_gate_rules(
        self, conn: Connection, events: list[DeviceEvent], report: IngestReport, now: dt.datetime
    ) -> None:
        passages = sorted({self._passage_key(e) for e in events if e.kind in GATE_KINDS and e.passage_id})
        for passage in passages:
            rows = conn.execute(
                select(iot_events.c.kind, iot_events.c.payload)
                .where(iot_events.c.subject_id == passage, iot_events.c.kind.in_([k.value for k in GATE_KINDS]))
                .order_by(iot_events.c.id)
            ).all()
            plates = [
                (r.payload["plate"], r.payload.get("confidence"))
                for r in rows
                if r.kind == EventKind.PLATE_READ and r.payload.get("plate")
            ]
            containers = [
                (r.payload["container_id"], r.payload.get("confidence"))
                for r in rows
                if r.kind == EventKind.CONTAINER_READ and r.payload.get("container_id")
            ]
            radiation = [
                (bool(r.payload.get("radiation_alarm")), r.payload.get("radiation_level"))
                for r in rows
                if r.kind == EventKind.RADIATION_SCAN
            ]
            from opencustoms.iot.gates import correct_container_number, normalise_plate

            numbers = {n for c, _ in containers for n in [correct_container_number(c).number] if n}
            declared = _declarations_for_containers(conn, numbers)
            by_plate = _declarations_for_plates(conn, [normalise_plate(p) for p, _ in plates])
            verdict = judge_passage(plates, containers, radiation, declared, by_plate)
            gate_id, _, passage_id = passage.partition("/")
            if not verdict.needs_officer:
                continue
            decision_id = _decision_id(gate_id, passage_id)
            existing = conn.execute(
                select(iot_gate_decisions.c.status).where(iot_gate_decisions.c.id == decision_id)
            ).first()
            values = {
                "reasons": verdict.reasons,
                "reads": verdict.reads,
                "expected": verdict.expected,
                "functional_reference_ids": verdict.functional_reference_ids,
            }
            if existing is None:
                conn.execute(
                    insert(iot_gate_decisions).values(
                        id=decision_id,
                        gate_id=gate_id,
                        passage_id=passage_id,
                        status="pending",
                        created_at=now,
                        **values,
                    )
                )
            elif existing.status == "pending":
                conn.execute(update(iot_gate_decisions).where(iot_gate_decisions.c.id == decision_id).values(**values))
            report.gate_decisions.append(decision_id)
            severity = {
                "radiation_alarm": "critical",
                "plate_mismatch": "high",
                "unexpected_vehicle": "high",
                "container_not_declared": "high",
            }
            alerts = [
                Alert(
                    "gate",
                    passage,
                    reason["code"],
                    severity.get(reason["code"], "medium"),
                    now,
                    reason["detail"],
                    reason["code"],
                    {
                        "gate_id": gate_id,
                        "passage_id": passage_id,
                        "decision_id": decision_id,
                        **reason.get("values", {}),
                    },
                )
                for reason in verdict.reasons
            ]
            subjects = [(signals.SubjectType.DECLARATION, ref) for ref in verdict.functional_reference_ids]
            subjects += [(signals.SubjectType.CONTAINER, n) for n in sorted(numbers)]
            subjects += [(signals.SubjectType.VEHICLE, normalise_plate(p)) for p, _ in plates]
            self._store_alerts(conn, alerts, now, lambda a, s=subjects: s)  # type: ignore[misc]
            report.alerts.extend(alerts)


def device_shards(devices: Iterable[str], movements: Iterable[Sequence[str]], n: int) -> dict[str, int]:
    """Which of n workers owns each device: devices that share a movement (its e-seals and trackers, transitively)
    form one group, owned by the worker crc32(smallest device id of the group) mod n. Deterministic, so every worker
    computes the same split from the same registry."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for d in devices:
        root(d)
    for group in movements:
        for d in group[1:]:
            a, b = root(group[0]), root(d)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {d: zlib.crc32(root(d).encode()) % n for d in list(parent)}


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Scalar great-circle distance in metres (math, not numpy: this runs once per fix)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def _decision_id(gate_id: str, passage_id: str) -> str:
    import uuid

    from opencustoms.iot.alerts import NAMESPACE

    return str(uuid.uuid5(NAMESPACE, f"gate-decision|{gate_id}|{passage_id}"))


def _declarations_for_containers(conn: Connection, numbers: set[str]) -> dict[str, dict[str, Any]]:
    """Declarations expecting these containers (the newest one per container), via the declarations repository."""
    from opencustoms.declarations import repository
    from opencustoms.declarations.repository import SearchFilters

    out: dict[str, dict[str, Any]] = {}
    for number in sorted(numbers):
        ids, _ = repository.search(conn, SearchFilters(container_id=number), limit=1, offset=0)
        if ids:
            [declaration] = repository.load(conn, ids[:1])
            transport = declaration.transport
            out[number] = {
                "functional_reference_id": declaration.functional_reference_id,
                "vehicle_id": transport.id if transport is not None else None,
                "container_id": number,
            }
    return out


def _declarations_for_plates(conn: Connection, plates: list[str]) -> list[str]:
    from opencustoms.store.tables import declarations

    plates = [p for p in plates if p]
    if not plates:
        return []
    from sqlalchemy import func

    d = declarations.c
    plain = func.replace(func.replace(func.upper(d.transport_identification_id), "-", ""), " ", "")
    rows = conn.execute(
        select(d.functional_reference_id).where(d.transport_identification_id.is_not(None), plain.in_(plates)).limit(20)
    )
    return [r.functional_reference_id for r in rows]
