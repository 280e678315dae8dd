"""Transit monitoring rules: one function, ``evaluate``, from a movement and its devices' events (in any order)
to its alerts and status. It is pure and re-runs on the whole history, so late and out-of-order events are placed
by device time and the same history always yields the same alerts (with the same ids).

Rules (thresholds per movement in ``TransitRules``):

* ``corridor_deviation`` — positions outside the corridor buffer and outside every authorised zone for longer than
  ``off_corridor_grace_s`` (the episode runs from the first outside fix to the next inside fix).
* ``long_stop`` — speed under ``stop_speed_kmh`` for longer than ``max_stop_s`` outside authorised zones.
* ``gps_silence`` — no fix for ``gps_silence_s`` (between fixes, or from the last fix until now while in transit).
* ``seal_opened_outside_zone`` — an e-seal opened where no authorised zone covers its position (its own fix or the
  movement's last fix before it, at most ``position_match_s`` older).
* ``seal_tamper``, ``seal_cut``, ``low_battery`` — reported by the seal or tracker.
* ``late_arrival`` — first fix in the destination zone after the time limit, or the time limit passed without one.

Arrival in the destination zone with no seal cut, tamper or opening outside a zone discharges the movement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from opencustoms.iot.alerts import Alert
from opencustoms.iot.events import EventKind
from opencustoms.iot.geo import Corridor, Zone


class TransitRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    off_corridor_grace_s: float = Field(default=300, ge=0, le=86_400)
    max_stop_s: float = Field(default=1800, ge=60, le=7 * 86_400)
    stop_speed_kmh: float = Field(default=3.0, ge=0, le=30)
    gps_silence_s: float = Field(default=900, ge=60, le=7 * 86_400)
    position_match_s: float = Field(default=600, ge=0, le=86_400)


@dataclass
class Movement:
    movement_id: str
    functional_reference_id: str
    vehicle_id: str
    container_ids: list[str]
    seal_device_ids: list[str]
    tracker_device_ids: list[str]
    corridor: Corridor
    departure: Zone
    destination: Zone
    authorised: list[Zone]
    departure_time: dt.datetime
    time_limit: dt.datetime
    rules: TransitRules
    status: str = "in_transit"

    @property
    def device_ids(self) -> list[str]:
        return sorted(set(self.seal_device_ids) | set(self.tracker_device_ids))

    def in_zones(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        out = np.zeros(np.shape(lat), dtype=bool)
        for zone in (self.departure, self.destination, *self.authorised):
            out |= zone.contains(lat, lon)
        return out


@dataclass
class TrackEvent:
    """The fields the rules need from a stored event."""

    device_id: str
    kind: str
    device_time: dt.datetime
    latitude: float | None = None
    longitude: float | None = None
    speed_kmh: float | None = None
    seal_id: str | None = None
    battery_percent: float | None = None


@dataclass
class Outcome:
    alerts: list[Alert]
    status: str
    arrived_at: dt.datetime | None
    positions: int
    timeline: list[dict[str, Any]] = field(default_factory=list)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs (end inclusive) of consecutive True values."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e) - 1) for s, e in zip(changes[::2], changes[1::2], strict=True)]


def _ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def evaluate(movement: Movement, events: list[TrackEvent], now: dt.datetime) -> Outcome:
    m, r = movement, movement.rules
    start = m.departure_time.timestamp()
    alerts: list[Alert] = []

    def alert(kind: str, severity: str, when: float, reason: str, key: str, **evidence: Any) -> None:
        alerts.append(
            Alert(
                "transit",
                m.movement_id,
                kind,
                severity,
                _ts(when),
                reason,
                key,
                {"functional_reference_id": m.functional_reference_id, "vehicle_id": m.vehicle_id, **evidence},
            )
        )

    fixes = [
        e
        for e in events
        if e.latitude is not None
        and e.longitude is not None
        and e.kind == EventKind.POSITION
        and e.device_time.timestamp() >= start
    ]
    fixes.sort(key=lambda e: (e.device_time, e.device_id))
    t = np.array([e.device_time.timestamp() for e in fixes], dtype=float)
    lat = np.array([e.latitude for e in fixes], dtype=float)
    lon = np.array([e.longitude for e in fixes], dtype=float)
    speed = np.array([np.nan if e.speed_kmh is None else e.speed_kmh for e in fixes], dtype=float)

    arrived_at: float | None = None
    if len(t):
        in_zone = m.in_zones(lat, lon)
        in_destination = m.destination.contains(lat, lon)
        if in_destination.any():
            arrived_at = float(t[int(np.argmax(in_destination))])
        # Only the trip up to arrival is watched for deviations and stops.
        watched = t <= (arrived_at if arrived_at is not None else np.inf)
        off = ~m.corridor.inside(lat, lon) & ~in_zone & watched
        for s, e in _runs(off):
            end = t[e + 1] if e + 1 < len(t) else (t[e] if arrived_at is not None else max(t[e], now.timestamp()))
            if end - t[s] >= r.off_corridor_grace_s:
                distance = m.corridor.distance_m(lat[s : e + 1], lon[s : e + 1])
                alert(
                    "corridor_deviation",
                    "high",
                    t[s],
                    f"vehicle {m.vehicle_id} left the corridor for {int(end - t[s])} s (tolerance "
                    f"{int(m.corridor.tolerance_m)} m, grace {int(r.off_corridor_grace_s)} s), up to "
                    f"{int(distance.max())} m away",
                    f"{t[s]:.0f}",
                    started_at=_ts(t[s]).isoformat(),
                    ended_at=_ts(end).isoformat(),
                    max_distance_m=round(float(distance.max()), 1),
                    first_position=[float(lat[s]), float(lon[s])],
                )
        stopped = (np.nan_to_num(speed, nan=np.inf) < r.stop_speed_kmh) & ~in_zone & watched
        for s, e in _runs(stopped):
            end = t[e + 1] if e + 1 < len(t) else max(t[e], now.timestamp() if arrived_at is None else t[e])
            if end - t[s] >= r.max_stop_s:
                alert(
                    "long_stop",
                    "medium",
                    t[s],
                    f"vehicle {m.vehicle_id} stopped for {int((end - t[s]) // 60)} min outside an authorised "
                    f"zone (allowed {int(r.max_stop_s // 60)} min)",
                    f"{t[s]:.0f}",
                    started_at=_ts(t[s]).isoformat(),
                    ended_at=_ts(end).isoformat(),
                    position=[float(lat[s]), float(lon[s])],
                )
        watched_t = t[watched]
        gaps = np.diff(np.concatenate([[start], watched_t]))
        for i in np.flatnonzero(gaps >= r.gps_silence_s):
            before = start if i == 0 else watched_t[i - 1]
            alert(
                "gps_silence",
                "medium",
                before,
                f"no position from vehicle {m.vehicle_id} for {int(gaps[i] // 60)} min "
                f"(allowed {int(r.gps_silence_s // 60)} min)",
                f"{before:.0f}",
                silent_from=_ts(before).isoformat(),
                silent_until=_ts(watched_t[i]).isoformat(),
            )
    last_fix = float(t[-1]) if len(t) else start
    if arrived_at is None and m.status == "in_transit" and now.timestamp() - last_fix >= r.gps_silence_s:
        alert(
            "gps_silence",
            "medium",
            last_fix,
            f"no position from vehicle {m.vehicle_id} since {_ts(last_fix).isoformat()} "
            f"(allowed {int(r.gps_silence_s // 60)} min)",
            f"{last_fix:.0f}",
            silent_from=_ts(last_fix).isoformat(),
            silent_until=None,
        )

    incident = False
    seal_events = sorted((e for e in events if e.kind != EventKind.POSITION), key=lambda e: e.device_time)
    for ev in seal_events:
        when = ev.device_time.timestamp()
        if when < start - 3600:
            continue
        if ev.kind == EventKind.SEAL_OPENED:
            plat, plon, source = ev.latitude, ev.longitude, "the seal's own fix"
            if plat is None and len(t):
                j = int(np.searchsorted(t, when, side="right")) - 1
                if j >= 0 and when - t[j] <= r.position_match_s:
                    plat, plon, source = float(lat[j]), float(lon[j]), f"the vehicle's fix {int(when - t[j])} s before"
            authorised = plat is not None and bool(m.in_zones(np.array([plat]), np.array([plon]))[0])
            if not authorised:
                incident = True
                where = f"at {plat:.5f},{plon:.5f} ({source})" if plat is not None else "with no known position"
                alert(
                    "seal_opened_outside_zone",
                    "critical",
                    when,
                    f"e-seal {ev.seal_id or ev.device_id} on {m.vehicle_id} opened {where}, outside every "
                    "authorised zone",
                    f"{ev.device_id}|{when:.0f}",
                    device_id=ev.device_id,
                    seal_id=ev.seal_id,
                    position=[plat, plon] if plat is not None else None,
                )
        elif ev.kind in (EventKind.SEAL_TAMPER, EventKind.SEAL_CUT):
            incident = True
            kind = "seal_cut" if ev.kind == EventKind.SEAL_CUT else "seal_tamper"
            alert(
                kind,
                "critical" if kind == "seal_cut" else "high",
                when,
                f"e-seal {ev.seal_id or ev.device_id} on {m.vehicle_id} reported "
                f"{'its wire cut' if kind == 'seal_cut' else 'tampering'}",
                f"{ev.device_id}|{when:.0f}",
                device_id=ev.device_id,
                seal_id=ev.seal_id,
            )
        elif ev.kind == EventKind.LOW_BATTERY:
            alert(
                "low_battery",
                "low",
                when,
                f"device {ev.device_id} on {m.vehicle_id} reports a low battery"
                + (f" ({ev.battery_percent:.0f} %)" if ev.battery_percent is not None else ""),
                ev.device_id,
                device_id=ev.device_id,
                battery_percent=ev.battery_percent,
            )

    limit = m.time_limit.timestamp()
    if arrived_at is not None and arrived_at > limit:
        alert(
            "late_arrival",
            "medium",
            arrived_at,
            f"vehicle {m.vehicle_id} arrived {int((arrived_at - limit) // 60)} min after the time limit",
            "arrival",
            arrived_at=_ts(arrived_at).isoformat(),
            time_limit=m.time_limit.isoformat(),
        )
    elif arrived_at is None and now.timestamp() > limit and m.status == "in_transit":
        alert(
            "late_arrival",
            "high",
            limit,
            f"vehicle {m.vehicle_id} has not arrived and the time limit {m.time_limit.isoformat()} has passed",
            "overdue",
            arrived_at=None,
            time_limit=m.time_limit.isoformat(),
        )

    status = m.status
    if arrived_at is not None and status == "in_transit":
        status = "incident" if incident else "discharged"
    elif status == "discharged" and incident:
        status = "incident"
    alerts.sort(key=lambda a: a.observed_at)
    return Outcome(alerts, status, _ts(arrived_at) if arrived_at is not None else None, len(t))
