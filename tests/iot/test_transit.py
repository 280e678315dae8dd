"""The incremental transit rules (``Tracker``) agree with the full evaluation (``evaluate``) on random event streams:
in order, shuffled, late, redelivered in batches, with ties in time, fixes without position, pre-departure events,
gaps, stops, deviations, seal openings with and without their own position, tamper, cut and low battery."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest

from opencustoms.iot.geo import Corridor, Zone
from opencustoms.iot.transit import Movement, Outcome, Tracker, TrackEvent, TransitRules, evaluate

START = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)
ROUTE = [[4.20, 51.90], [4.30, 51.91], [4.40, 51.90]]  # about 14 km, [longitude, latitude]


def _movement() -> Movement:
    return Movement(
        "MOV-T",
        "REF-T",
        "NL-01-T",
        ["MSCU1234565"],
        ["ES1"],
        ["TR1"],
        Corridor(ROUTE, 200),
        Zone("DEP", {"type": "circle", "latitude": 51.90, "longitude": 4.20, "radius_m": 800}),
        Zone("DST", {"type": "circle", "latitude": 51.90, "longitude": 4.40, "radius_m": 800}),
        [Zone("REST", {"type": "circle", "latitude": 51.91, "longitude": 4.30, "radius_m": 400})],
        START,
        START + dt.timedelta(hours=3),
        TransitRules(off_corridor_grace_s=300, max_stop_s=600, stop_speed_kmh=3, gps_silence_s=900),
    )


def _position(fraction: float, offset_deg: float) -> tuple[float, float]:
    """A point along the route (as a fraction of it) moved north by offset_deg."""
    x = 4.20 + 0.20 * fraction
    y = 51.90 + (0.01 * (x - 4.20) / 0.10 if x <= 4.30 else 0.01 - 0.01 * (x - 4.30) / 0.10)
    return y + offset_deg, x


def _stream(rng: random.Random) -> list[TrackEvent]:
    """One trip: fixes from two devices with deviations, stops, gaps and ties, seal events, some noise."""
    events: list[TrackEvent] = []
    t = START - dt.timedelta(seconds=rng.choice([0, 120]))
    fraction, off, stopped = 0.0, 0.0, False
    arrive = rng.random() < 0.7
    seal_rate = rng.choice([0.0, 0.03, 0.1])
    for _ in range(rng.randint(20, 140)):
        t += dt.timedelta(seconds=rng.choice([0, 0, 5, 30, 60, 60, 120, 240, 400, 1000]))
        if rng.random() < 0.1:
            off = rng.choice([0.0, 0.0, 0.01, -0.02, 0.004])
        if rng.random() < 0.1:
            stopped = not stopped
        if not stopped:
            fraction = min(fraction + rng.uniform(0.0, 0.05), 1.0 if arrive else 0.9)
        lat, lon = _position(fraction, off)
        speed = rng.choice([None, 1.0, 2.5]) if stopped else rng.choice([None, 50.0, 80.0, 3.0])
        device = rng.choice(["TR1", "ES1"])
        if rng.random() < 0.05:
            events.append(TrackEvent(device, "position", t, None, None, speed))  # no fix
        else:
            events.append(TrackEvent(device, "position", t, lat, lon, speed))
        if rng.random() < seal_rate:
            kind = rng.choice(["seal_opened", "seal_opened", "seal_tamper", "seal_cut", "low_battery", "seal_closed"])
            when = t + dt.timedelta(seconds=rng.choice([0, 0, 3, 700]))
            own = kind == "seal_opened" and rng.random() < 0.4
            events.append(
                TrackEvent(
                    "ES1",
                    kind,
                    when,
                    lat if own else None,
                    lon if own else None,
                    None,
                    "SEAL1",
                    rng.choice([None, 9.0]),
                )
            )
    for _ in range(rng.randint(0, 3)):  # before departure (ignored by the rules, also when late)
        when = START - dt.timedelta(seconds=rng.choice([10, 3000, 5000]))
        events.append(TrackEvent("ES1", rng.choice(["position", "seal_opened"]), when, 51.95, 4.25, 0.0, "SEAL1"))
    return events


def _deliveries(rng: random.Random, events: list[TrackEvent]) -> list[list[TrackEvent]]:
    """Batches in one of several delivery patterns."""
    order = list(events)
    pattern = rng.choice(["in_order", "windows", "late_batch", "shuffled"])
    if pattern == "windows":  # order lost within 10-minute windows
        buckets: dict[int, list[TrackEvent]] = {}
        for e in order:
            buckets.setdefault(int(e.device_time.timestamp() // 600), []).append(e)
        for bucket in buckets.values():
            rng.shuffle(bucket)
        order = [e for k in sorted(buckets) for e in buckets[k]]
    elif pattern == "late_batch":  # a device's buffered fixes arrive at the end
        late = [e for e in order if e.device_id == "TR1" and rng.random() < 0.3]
        order = [e for e in order if not any(e is x for x in late)] + late
    elif pattern == "shuffled":
        rng.shuffle(order)
    batches, i = [], 0
    while i < len(order):
        size = rng.choice([1, 1, 2, 5, 17])
        batches.append(order[i : i + size])
        i += size
    return batches


def _same(got: Outcome, want: Outcome) -> None:
    assert [a.id for a in got.alerts] == [a.id for a in want.alerts]
    assert got.alerts == want.alerts  # kind, time, reason and evidence too
    assert (got.status, got.arrived_at, got.positions) == (want.status, want.arrived_at, want.positions)


@pytest.mark.parametrize("seed", range(60))
def test_incremental_and_full_evaluation_agree(seed: int) -> None:
    rng = random.Random(seed)
    movement = _movement()
    events = _stream(rng)
    tracker = Tracker(movement)
    seen: list[TrackEvent] = []
    for batch in _deliveries(rng, events):
        tracker.add(batch)
        seen.extend(batch)
        assert tracker.newest == max(e.device_time for e in seen)
        for status in ("in_transit", "discharged"):
            movement.status = status
            for now in (tracker.newest, START + dt.timedelta(hours=30)):
                _same(tracker.outcome(now), evaluate(movement, seen, now))
    movement.status = "in_transit"
    # a tracker rebuilt from the stored history (a restarted listener) agrees too
    later = START + dt.timedelta(hours=30)
    _same(Tracker(movement, list(seen)).outcome(later), evaluate(movement, seen, later))


def test_the_streams_exercise_every_rule() -> None:
    """The random streams above are not vacuous: between them they raise every transit alert and both outcomes."""
    kinds: set[str] = set()
    statuses: set[str] = set()
    for seed in range(60):
        movement = _movement()
        events = _stream(random.Random(seed))
        outcome = evaluate(movement, events, START + dt.timedelta(hours=30))
        kinds.update(a.kind for a in outcome.alerts)
        statuses.add(outcome.status)
    assert kinds == {
        "corridor_deviation",
        "long_stop",
        "gps_silence",
        "seal_opened_outside_zone",
        "seal_tamper",
        "seal_cut",
        "low_battery",
        "late_arrival",
    }
    assert statuses == {"in_transit", "discharged", "incident"}


def test_in_order_events_never_replay_the_history_and_late_ones_do() -> None:
    movement = _movement()
    fixes = [
        TrackEvent("TR1", "position", START + dt.timedelta(seconds=60 * i), *_position(i / 200, 0.0), 60.0)
        for i in range(1, 150)
    ]
    tracker = Tracker(movement)
    for fix in fixes[:100]:
        tracker.add([fix])
    assert tracker.replays == 0 and tracker.positions == 100
    tracker.add(fixes[110:120])  # a jump forward is still in order
    assert tracker.replays == 0
    tracker.add(fixes[100:110])  # these sort before the newest fix: replay
    assert tracker.replays == 1 and tracker.positions == 120
    # a fix at the same second as the newest, from a device sorting after it, is in order
    tracker.add([dataclasses.replace(fixes[119], device_id="TR2")])
    assert tracker.replays == 1
    now = fixes[119].device_time
    _same(tracker.outcome(now), evaluate(movement, tracker.events, now))


def test_an_opening_without_position_uses_the_newest_fix_before_it() -> None:
    movement = _movement()
    lat, lon = _position(0.25, 0.0)
    tracker = Tracker(movement)
    tracker.add([TrackEvent("TR1", "position", START + dt.timedelta(minutes=10), lat, lon, 50.0)])
    opened = TrackEvent("ES1", "seal_opened", START + dt.timedelta(minutes=12), None, None, None, "SEAL1")
    tracker.add([opened])
    [alert] = tracker.outcome(opened.device_time).alerts
    assert alert.kind == "seal_opened_outside_zone" and "the vehicle's fix 120 s before" in alert.reason
    # the rest area covers the truck's fix one minute before: a late fix there makes the opening authorised
    rest_lat, rest_lon = 51.91, 4.30
    tracker.add([TrackEvent("TR1", "position", START + dt.timedelta(minutes=11), rest_lat, rest_lon, 0.0)])
    assert tracker.replays == 0  # fixes are still in order: only the opening is looked at again
    assert [a.kind for a in tracker.outcome(opened.device_time).alerts] == []


def test_seal_events_in_any_order_never_replay_the_fixes() -> None:
    """A seal event dated after fixes still to come (a device clock ahead, a buffered report) costs no replay."""
    movement = _movement()
    tracker = Tracker(movement)
    ahead = TrackEvent("ES1", "seal_tamper", START + dt.timedelta(hours=2), None, None, None, "SEAL1")
    tracker.add([ahead])
    fixes = [
        TrackEvent("TR1", "position", START + dt.timedelta(seconds=60 * i), *_position(i / 200, 0.0), 60.0)
        for i in range(1, 60)
    ]
    for fix in fixes:
        tracker.add([fix])
    late = TrackEvent("ES1", "low_battery", START + dt.timedelta(minutes=5), None, None, None, "SEAL1", 8.0)
    tracker.add([late])
    assert tracker.replays == 0
    now = fixes[-1].device_time
    _same(tracker.outcome(now), evaluate(movement, tracker.events, now))
    assert [a.kind for a in tracker.outcome(now).alerts] == ["low_battery", "seal_tamper"]
