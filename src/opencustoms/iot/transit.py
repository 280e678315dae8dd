"""Transit monitoring rules, from a movement and its devices' events (in any order) to its alerts and status.

``evaluate`` is the definition: a pure function over the whole history, so late and out-of-order events are placed by
device time and the same history always yields the same alerts (with the same ids). ``Tracker`` gives the same
outcome incrementally (O(1) per in-order fix; a replay of the fixes only when a fix arrives before the newest one);
the ingestion pipeline uses it, and tests check the two agree on random streams.

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

import bisect
import datetime as dt
import math
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


@dataclass(slots=True)
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


def _finish(alerts: list[Alert]) -> list[Alert]:
    """Sorted by observation time (stable); one alert per id, the last one seen (a device's repeated low-battery
    reports share one id)."""
    alerts.sort(key=lambda a: a.observed_at)
    return list({a.id: a for a in alerts}.values())


# --- the alerts, built the same way by the full and the incremental evaluation ---------------------------------


def _alert(m: Movement, kind: str, severity: str, when: float, reason: str, key: str, **evidence: Any) -> Alert:
    return Alert(
        "transit",
        m.movement_id,
        kind,
        severity,
        _ts(when),
        reason,
        key,
        {"functional_reference_id": m.functional_reference_id, "vehicle_id": m.vehicle_id, **evidence},
    )


def _deviation(m: Movement, start: float, end: float, lat: float, lon: float, max_distance: float) -> Alert:
    r = m.rules
    return _alert(
        m,
        "corridor_deviation",
        "high",
        start,
        f"vehicle {m.vehicle_id} left the corridor for {int(end - start)} s (tolerance "
        f"{int(m.corridor.tolerance_m)} m, grace {int(r.off_corridor_grace_s)} s), up to "
        f"{int(max_distance)} m away",
        f"{start:.0f}",
        started_at=_ts(start).isoformat(),
        ended_at=_ts(end).isoformat(),
        max_distance_m=round(float(max_distance), 1),
        first_position=[float(lat), float(lon)],
        duration_s=int(end - start),
        tolerance_m=int(m.corridor.tolerance_m),
        grace_s=int(r.off_corridor_grace_s),
    )


def _long_stop(m: Movement, start: float, end: float, lat: float, lon: float) -> Alert:
    return _alert(
        m,
        "long_stop",
        "medium",
        start,
        f"vehicle {m.vehicle_id} stopped for {int((end - start) // 60)} min outside an authorised "
        f"zone (allowed {int(m.rules.max_stop_s // 60)} min)",
        f"{start:.0f}",
        started_at=_ts(start).isoformat(),
        ended_at=_ts(end).isoformat(),
        position=[float(lat), float(lon)],
        stopped_min=int((end - start) // 60),
        allowed_min=int(m.rules.max_stop_s // 60),
    )


def _gap(m: Movement, before: float, until: float) -> Alert:
    gap = until - before
    return _alert(
        m,
        "gps_silence",
        "medium",
        before,
        f"no position from vehicle {m.vehicle_id} for {int(gap // 60)} min "
        f"(allowed {int(m.rules.gps_silence_s // 60)} min)",
        f"{before:.0f}",
        silent_from=_ts(before).isoformat(),
        silent_until=_ts(until).isoformat(),
        silent_min=int(gap // 60),
        allowed_min=int(m.rules.gps_silence_s // 60),
    )


def _silent_since(m: Movement, last_fix: float) -> Alert:
    return _alert(
        m,
        "gps_silence",
        "medium",
        last_fix,
        f"no position from vehicle {m.vehicle_id} since {_ts(last_fix).isoformat()} "
        f"(allowed {int(m.rules.gps_silence_s // 60)} min)",
        f"{last_fix:.0f}",
        silent_from=_ts(last_fix).isoformat(),
        silent_until=None,
        allowed_min=int(m.rules.gps_silence_s // 60),
    )


def _seal_alert(
    m: Movement, ev: TrackEvent, when: float, last_fix: tuple[float, float, float] | None
) -> tuple[Alert | None, bool]:
    """The alert one seal event raises (or None) and whether it makes the movement an incident. ``last_fix`` is the
    movement's newest fix (time, latitude, longitude) at or before the event."""
    r = m.rules
    if ev.kind == EventKind.SEAL_OPENED:
        plat, plon, source = ev.latitude, ev.longitude, "the seal's own fix"
        located, fix_age = "seal", None
        if plat is None and last_fix is not None:
            tj, lat_j, lon_j = last_fix
            if when - tj <= r.position_match_s:
                plat, plon, source = lat_j, lon_j, f"the vehicle's fix {int(when - tj)} s before"
                located, fix_age = "vehicle", int(when - tj)
        authorised = plat is not None and bool(m.in_zones(np.array([plat]), np.array([plon]))[0])
        if authorised:
            return None, False
        where = f"at {plat:.5f},{plon:.5f} ({source})" if plat is not None else "with no known position"
        return _alert(
            m,
            "seal_opened_outside_zone",
            "critical",
            when,
            f"e-seal {ev.seal_id or ev.device_id} on {m.vehicle_id} opened {where}, outside every authorised zone",
            f"{ev.device_id}|{when:.0f}",
            device_id=ev.device_id,
            seal_id=ev.seal_id,
            position=[plat, plon] if plat is not None else None,
            seal=ev.seal_id or ev.device_id,
            located_by=located if plat is not None else "none",
            fix_age_s=fix_age,
        ), True
    if ev.kind in (EventKind.SEAL_TAMPER, EventKind.SEAL_CUT):
        kind = "seal_cut" if ev.kind == EventKind.SEAL_CUT else "seal_tamper"
        return _alert(
            m,
            kind,
            "critical" if kind == "seal_cut" else "high",
            when,
            f"e-seal {ev.seal_id or ev.device_id} on {m.vehicle_id} reported "
            f"{'its wire cut' if kind == 'seal_cut' else 'tampering'}",
            f"{ev.device_id}|{when:.0f}",
            device_id=ev.device_id,
            seal_id=ev.seal_id,
            seal=ev.seal_id or ev.device_id,
        ), True
    if ev.kind == EventKind.LOW_BATTERY:
        return _alert(
            m,
            "low_battery",
            "low",
            when,
            f"device {ev.device_id} on {m.vehicle_id} reports a low battery"
            + (f" ({ev.battery_percent:.0f} %)" if ev.battery_percent is not None else ""),
            ev.device_id,
            device_id=ev.device_id,
            battery_percent=ev.battery_percent,
        ), False
    return None, False


def _late(m: Movement, arrived_at: float | None, now: float) -> Alert | None:
    limit = m.time_limit.timestamp()
    if arrived_at is not None and arrived_at > limit:
        return _alert(
            m,
            "late_arrival",
            "medium",
            arrived_at,
            f"vehicle {m.vehicle_id} arrived {int((arrived_at - limit) // 60)} min after the time limit",
            "arrival",
            arrived_at=_ts(arrived_at).isoformat(),
            time_limit=m.time_limit.isoformat(),
            late_min=int((arrived_at - limit) // 60),
        )
    if arrived_at is None and now > limit and m.status == "in_transit":
        return _alert(
            m,
            "late_arrival",
            "high",
            limit,
            f"vehicle {m.vehicle_id} has not arrived and the time limit {m.time_limit.isoformat()} has passed",
            "overdue",
            arrived_at=None,
            time_limit=m.time_limit.isoformat(),
        )
    return None


def _status(m: Movement, arrived_at: float | None, incident: bool) -> str:
    status = m.status
    if arrived_at is not None and status == "in_transit":
        status = "incident" if incident else "discharged"
    elif status == "discharged" and incident:
        status = "incident"
    return status


SEAL_RULE_KINDS = frozenset({EventKind.SEAL_OPENED, EventKind.SEAL_TAMPER, EventKind.SEAL_CUT, EventKind.LOW_BATTERY})


def evaluate(movement: Movement, events: list[TrackEvent], now: dt.datetime) -> Outcome:
    """The reference: every rule over the whole history at once, vectorised. ``Tracker`` gives the same outcome
    with O(1) work per in-order event; tests check that the two agree."""
    m, r = movement, movement.rules
    start = m.departure_time.timestamp()
    alerts: list[Alert] = []
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
                alerts.append(_deviation(m, float(t[s]), float(end), lat[s], lon[s], float(distance.max())))
        stopped = (np.nan_to_num(speed, nan=np.inf) < r.stop_speed_kmh) & ~in_zone & watched
        for s, e in _runs(stopped):
            end = t[e + 1] if e + 1 < len(t) else max(t[e], now.timestamp() if arrived_at is None else t[e])
            if end - t[s] >= r.max_stop_s:
                alerts.append(_long_stop(m, float(t[s]), float(end), lat[s], lon[s]))
        watched_t = t[watched]
        gaps = np.diff(np.concatenate([[start], watched_t]))
        for i in np.flatnonzero(gaps >= r.gps_silence_s):
            alerts.append(_gap(m, float(start if i == 0 else watched_t[i - 1]), float(watched_t[i])))
    last_fix = float(t[-1]) if len(t) else start
    if arrived_at is None and m.status == "in_transit" and now.timestamp() - last_fix >= r.gps_silence_s:
        alerts.append(_silent_since(m, last_fix))

    incident = False
    seal_events = sorted((e for e in events if e.kind != EventKind.POSITION), key=lambda e: e.device_time)
    for ev in seal_events:
        when = ev.device_time.timestamp()
        if when < start - 3600:
            continue
        previous = None
        if ev.kind == EventKind.SEAL_OPENED and ev.latitude is None and len(t):
            j = int(np.searchsorted(t, when, side="right")) - 1
            if j >= 0:
                previous = (float(t[j]), float(lat[j]), float(lon[j]))
        found, bad = _seal_alert(m, ev, when, previous)
        incident = incident or bad
        if found is not None:
            alerts.append(found)

    late = _late(m, arrived_at, now.timestamp())
    if late is not None:
        alerts.append(late)
    return Outcome(
        _finish(alerts), _status(m, arrived_at, incident), _ts(arrived_at) if arrived_at is not None else None, len(t)
    )


# --- incremental evaluation ------------------------------------------------------------------------------------


Geometry = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def coordinates(keyed: list[tuple[tuple[float, str], TrackEvent]]) -> tuple[np.ndarray, np.ndarray]:
    lat = np.fromiter((e.latitude for _, e in keyed), dtype=float, count=len(keyed))  # type: ignore[misc]
    lon = np.fromiter((e.longitude for _, e in keyed), dtype=float, count=len(keyed))  # type: ignore[misc]
    return lat, lon


def fix_geometry(requests: list[tuple[Movement, np.ndarray, np.ndarray]]) -> list[Geometry]:
    """For each (movement, latitudes, longitudes): the points, whether each is in the destination, in any of the
    movement's zones, outside the corridor and every zone, and its distance to the route (0 unless outside).

    Vectorised across movements: the points of every movement sharing a zone or a corridor object (movements loaded
    together share identical corridors) are checked in one call, so a live batch of a few fixes for each of many
    movements costs a handful of numpy/shapely calls rather than several per movement."""
    sizes = [len(lat) for _, lat, _ in requests]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    lat_all = np.concatenate([lat for _, lat, _ in requests]) if requests else np.zeros(0)
    lon_all = np.concatenate([lon for _, _, lon in requests]) if requests else np.zeros(0)
    n = len(lat_all)
    in_destination = np.zeros(n, dtype=bool)
    in_zone = np.zeros(n, dtype=bool)
    by_zone: dict[int, tuple[Zone, list[int], list[int]]] = {}  # zone -> (its object, requests, destination flags)
    by_corridor: dict[int, tuple[Corridor, list[int]]] = {}
    for i, (m, _, _) in enumerate(requests):
        for zone in (m.destination, m.departure, *m.authorised):
            entry = by_zone.setdefault(id(zone), (zone, [], []))
            entry[1].append(i)
            entry[2].append(zone is m.destination)
        by_corridor.setdefault(id(m.corridor), (m.corridor, []))[1].append(i)

    def gather(indices: list[int]) -> np.ndarray:
        return np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in indices])

    for zone, indices, destination in by_zone.values():
        rows = gather(indices)
        inside = zone.contains(lat_all[rows], lon_all[rows])
        in_zone[rows] |= inside
        if any(destination):
            is_destination = np.repeat(np.array(destination), [sizes[i] for i in indices])
            in_destination[rows[is_destination]] |= inside[is_destination]
    outside = ~in_zone
    distance = np.zeros(n)
    for corridor, indices in by_corridor.values():
        rows = gather(indices)
        rows = rows[outside[rows]]
        if len(rows):
            out = ~corridor.inside(lat_all[rows], lon_all[rows])
            outside[rows] = out
            rows = rows[out]
            if len(rows):
                distance[rows] = corridor.distance_m(lat_all[rows], lon_all[rows])
    return [
        (
            lat_all[a:b],
            lon_all[a:b],
            in_destination[a:b],
            in_zone[a:b],
            outside[a:b],
            distance[a:b],
        )
        for a, b in zip(offsets[:-1], offsets[1:], strict=True)
    ]


class Tracker:
    """The rules of one movement, carried forward event by event; ``outcome(now)`` equals
    ``evaluate(movement, events, now)``.

    Fix state: the newest fix, the arrival, the open episode of being off the corridor (start, first position,
    farthest distance so far) and of being stopped, the last watched fix (for GPS gaps), the alerts of closed
    episodes, and the times and positions of all fixes so far (to find the fix before a seal event). A fix that sorts
    at or after the newest fix already seen (by device time, then device id) is O(1) work, its geometry checked with
    the rest of its batch, vectorised; one that sorts before it (late or out of order) makes the tracker replay every
    fix in order, which gives the state the in-order stream would have given.

    Seal events (opened, tamper, cut, low battery) are kept sorted by device time (arrival order for equal times), in
    any arrival order and without a replay: each one's alert depends only on itself and, for an opening without its
    own position, on the newest fix at or before it, found by bisection and recomputed when a fix at or before the
    opening arrives later. Pre-departure events, seal closures and fixes without a position change no rule and are
    only kept.
    """

    def __init__(self, movement: Movement, events: list[TrackEvent] | None = None) -> None:
        self.movement = movement
        self.events: list[TrackEvent] = []
        self.newest: dt.datetime | None = None  # the newest device time of any event (relevant or not)
        self.replays = 0
        self._fixes: list[TrackEvent] = []  # every fix the rules read, in arrival order (for replays)
        self._seals: list[tuple[float, int, TrackEvent]] = []  # (device time, arrival number, event), sorted
        self._seal_results: dict[int, tuple[Alert | None, bool]] = {}  # arrival number -> (alert, incident)
        self._arrivals = 0
        self._start = movement.departure_time.timestamp()
        self._reset_fixes()
        if events:
            self.add(events)

    def _reset_fixes(self) -> None:
        self._last_key: tuple[float, str] | None = None
        self._fix_t: list[float] = []
        self._fix_lat: list[float] = []
        self._fix_lon: list[float] = []
        self._last_watched = self._start
        self.arrived_at: float | None = None
        self._off: list[float] | None = None  # [start, lat, lon, max distance]
        self._stop: list[float] | None = None  # [start, lat, lon]
        self._closed: list[Alert] = []  # deviations, stops and gaps of closed episodes

    @property
    def positions(self) -> int:
        return len(self._fix_t)

    def add(self, events: list[TrackEvent]) -> None:
        """Take new events (any order, duplicates already removed)."""
        fixes = self.take(events)
        if fixes:
            lat, lon = coordinates(fixes)
            self.feed(fixes, fix_geometry([(self.movement, lat, lon)])[0])

    def take(self, events: list[TrackEvent]) -> list[tuple[tuple[float, str], TrackEvent]]:
        """Record new events; return the fixes still to ``feed`` (in order, with their geometry from
        ``fix_geometry``). Late fixes are handled here by a replay, and nothing is returned."""
        if not events:
            return []
        self.events.extend(events)
        newest = max(e.device_time for e in events)
        self.newest = newest if self.newest is None or newest > self.newest else self.newest
        start = self._start
        fixes: list[tuple[tuple[float, str], TrackEvent]] = []
        for e in events:
            t = e.device_time.timestamp()
            if e.kind == EventKind.POSITION:
                if e.latitude is not None and e.longitude is not None and t >= start:
                    fixes.append(((t, e.device_id), e))
            elif e.kind in SEAL_RULE_KINDS and t >= start - 3600:
                self._arrivals += 1
                bisect.insort(self._seals, (t, self._arrivals, e), key=lambda s: (s[0], s[1]))
        if not fixes:
            return []
        fixes.sort(key=lambda item: item[0])  # stable: equal keys stay in arrival order
        self._fixes.extend(e for _, e in fixes)
        if self._last_key is not None and fixes[0][0] < self._last_key:
            self.replay()
            return []
        self._forget_openings_after(fixes[0][0][0])
        return fixes

    def replay(self) -> None:
        """Rebuild the fix state from every fix (after a late or out-of-order one)."""
        self.replays += 1
        self._reset_fixes()
        keyed = [((e.device_time.timestamp(), e.device_id), e) for e in self._fixes]
        keyed.sort(key=lambda item: item[0])
        self._forget_openings_after(-math.inf)
        if keyed:
            lat, lon = coordinates(keyed)
            self.feed(keyed, fix_geometry([(self.movement, lat, lon)])[0])

    def _forget_openings_after(self, t: float) -> None:
        """Openings without their own position at or after ``t`` take a fix that may have changed: recompute them."""
        for when, number, e in reversed(self._seals):
            if when < t:
                break
            if e.kind == EventKind.SEAL_OPENED and e.latitude is None:
                self._seal_results.pop(number, None)

    def feed(self, keyed: list[tuple[tuple[float, str], TrackEvent]], geometry: Geometry) -> None:
        """Carry the state forward over fixes in order (from ``take``) with their geometry."""
        m, r = self.movement, self.movement.rules
        lat, lon, in_destination, in_zone, outside, distance = geometry
        grace, max_stop, stop_speed, silence = r.off_corridor_grace_s, r.max_stop_s, r.stop_speed_kmh, r.gps_silence_s
        for (key, e), lat_i, lon_i, dest_i, zone_i, outside_i, d in zip(
            keyed,
            lat.tolist(),
            lon.tolist(),
            in_destination.tolist(),
            in_zone.tolist(),
            outside.tolist(),
            distance.tolist(),
            strict=True,
        ):
            t = key[0]
            if self.arrived_at is None and dest_i:
                self.arrived_at = t
            watched = self.arrived_at is None or t <= self.arrived_at
            # off the corridor (and outside every zone): an episode runs from the first such fix to the next fix
            off = outside_i and watched
            episode = self._off
            if episode is not None and not off:
                if t - episode[0] >= grace:
                    self._closed.append(_deviation(m, episode[0], t, episode[1], episode[2], episode[3]))
                self._off = None
            elif episode is not None:
                episode[3] = max(episode[3], d)
            if off and self._off is None:
                self._off = [t, lat_i, lon_i, d]
            # stopped outside every zone
            speed = e.speed_kmh
            stopped = speed is not None and speed == speed and speed < stop_speed and not zone_i and watched
            stop = self._stop
            if stop is not None and not stopped:
                if t - stop[0] >= max_stop:
                    self._closed.append(_long_stop(m, stop[0], t, stop[1], stop[2]))
                self._stop = None
            if stopped and self._stop is None:
                self._stop = [t, lat_i, lon_i]
            # GPS gaps between watched fixes
            if watched:
                if t - self._last_watched >= silence:
                    self._closed.append(_gap(m, self._last_watched, t))
                self._last_watched = t
            self._fix_t.append(t)
            self._fix_lat.append(lat_i)
            self._fix_lon.append(lon_i)
        self._last_key = keyed[-1][0]

    def _seal_result(self, when: float, number: int, e: TrackEvent) -> tuple[Alert | None, bool]:
        result = self._seal_results.get(number)
        if result is None:
            previous = None
            if e.kind == EventKind.SEAL_OPENED and e.latitude is None:
                j = bisect.bisect_right(self._fix_t, when) - 1
                if j >= 0:
                    previous = (self._fix_t[j], self._fix_lat[j], self._fix_lon[j])
            result = self._seal_results[number] = _seal_alert(self.movement, e, when, previous)
        return result

    def outcome(self, now: dt.datetime) -> Outcome:
        """The movement's alerts and status as of ``now`` (open episodes end at ``now``)."""
        m, r = self.movement, self.movement.rules
        now_s = now.timestamp()
        arrived = self.arrived_at
        deviations: list[Alert] = []
        stops: list[Alert] = []
        gaps: list[Alert] = []
        for a in self._closed:
            (deviations if a.kind == "corridor_deviation" else stops if a.kind == "long_stop" else gaps).append(a)
        last_fix = self._fix_t[-1] if self._fix_t else None
        if self._off is not None and last_fix is not None:
            end = last_fix if arrived is not None else max(last_fix, now_s)
            if end - self._off[0] >= r.off_corridor_grace_s:
                deviations.append(_deviation(m, self._off[0], end, self._off[1], self._off[2], self._off[3]))
        if self._stop is not None and last_fix is not None:
            end = last_fix if arrived is not None else max(last_fix, now_s)
            if end - self._stop[0] >= r.max_stop_s:
                stops.append(_long_stop(m, self._stop[0], end, self._stop[1], self._stop[2]))
        alerts = [*deviations, *stops, *gaps]
        since = last_fix if last_fix is not None else self._start
        if arrived is None and m.status == "in_transit" and now_s - since >= r.gps_silence_s:
            alerts.append(_silent_since(m, since))
        incident = False
        for when, number, e in self._seals:
            found, bad = self._seal_result(when, number, e)
            incident = incident or bad
            if found is not None:
                alerts.append(found)
        late = _late(m, arrived, now_s)
        if late is not None:
            alerts.append(late)
        return Outcome(
            _finish(alerts),
            _status(m, arrived, incident),
            _ts(arrived) if arrived is not None else None,
            len(self._fix_t),
        )
