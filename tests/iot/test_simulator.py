"""Each simulated scenario produces exactly its expected alerts, through the whole pipeline, also when messages
arrive shuffled and twice (at-least-once, out of order)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import pytest

from opencustoms import signals
from opencustoms.iot import service, simulator
from opencustoms.iot.ingest import Payload, Processor
from opencustoms.security.service import ensure_administration, local_operator
from opencustoms.store.database import init_database

START = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)
CLOCK = START + dt.timedelta(hours=20)


@pytest.fixture
def sim_engine(tmp_path):  # type: ignore[no-untyped-def]
    engine = init_database(f"sqlite:///{tmp_path / 'sim.db'}")
    ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    yield engine
    engine.dispose()


def _alerts_by_context(engine, operator) -> dict[tuple[str, str], set[str]]:  # type: ignore[no-untyped-def]
    got: dict[tuple[str, str], set[str]] = defaultdict(set)
    for a in service.list_alerts(engine, operator, limit=10_000):
        got[(a["context_type"], a["context_id"])].add(a["kind"])
    return got


@pytest.mark.parametrize("shuffled", [False, True])
def test_every_scenario_gives_its_expected_alerts(sim_engine, shuffled: bool) -> None:
    operator = local_operator("NL")
    sim = simulator.build(sim_engine, operator, START)
    messages = list(sim.messages)
    if shuffled:  # a third redelivered, and order lost within 5-minute windows of device time
        messages = messages + messages[: len(messages) // 3]
        windows: dict[int, list[simulator.Message]] = defaultdict(list)
        for m in messages:
            windows[int(m.device_time.timestamp() // 300)].append(m)
        rng = random.Random(3)
        for window in windows.values():
            rng.shuffle(window)
        messages = [m for key in sorted(windows) for m in windows[key]]
    processor = Processor(sim_engine, movement_loader=service.load_watched_movements, clock=lambda: CLOCK)
    for i in range(0, len(messages), 97):  # batches of uneven size
        processor.process(
            [
                Payload(m.payload, "mqtt", device_id=m.device_id, device_type=m.device_type, authenticated=True)
                for m in messages[i : i + 97]
            ]
        )
    vessels = service.analyse_vessels(sim_engine, operator, port_zone_ids=["NLRTM-PORT"])
    got = _alerts_by_context(sim_engine, operator)
    for movement, expected in sim.expected_transit.items():
        assert got.get(("transit", movement), set()) == expected, movement
    statuses = {t["movement_id"]: t["status"] for t in service.list_transits(sim_engine, operator)}
    assert statuses == sim.expected_status
    for passage, expected in sim.expected_gate.items():
        assert got.get(("gate", passage), set()) == expected, passage
    for mmsi, expected in sim.expected_vessel.items():
        assert got.get(("vessel", mmsi), set()) == expected, mmsi
    assert vessels["positions"] > 300
    # signals reach the declarations concerned, once each
    opened = service.transit_report(sim_engine, operator, "MOV-0003")
    reference = opened["movement"]["functional_reference_id"]
    kinds = [s.kind for s in signals.for_subjects(sim_engine, [(signals.SubjectType.DECLARATION, reference)])]
    assert kinds == ["iot.seal_opened_outside_zone"]
    assert opened["summary"]["status"] == "incident" and opened["summary"]["positions"] > 100
    times = [e["device_time"] for e in opened["events"]]
    assert times == sorted(times)


def test_sweep_finds_silence_and_overdue_without_new_events(sim_engine) -> None:
    operator = local_operator("NL")
    sim = simulator.build(sim_engine, operator, START, vessels=False)
    processor = Processor(sim_engine, movement_loader=service.load_watched_movements, clock=lambda: CLOCK)
    first_hour = [m for m in sim.messages if m.device_time < START + dt.timedelta(hours=1)]
    processor.process([Payload(m.payload, "mqtt", device_id=m.device_id, authenticated=True) for m in first_hour])
    early = processor.sweep(START + dt.timedelta(minutes=65)).alerts
    assert {a.context_id for a in early if a.kind == "gps_silence"} == {"MOV-0005"}  # the silent truck
    processor.sweep(START + dt.timedelta(hours=5))
    got = _alerts_by_context(sim_engine, operator)
    for movement in sim.expected_transit:
        assert {"gps_silence", "late_arrival"} <= got[("transit", movement)], movement


def test_two_sharded_pipelines_give_the_same_alerts(sim_engine) -> None:
    """Workers of `listen --workers 2`: each pipeline owns half of the devices (a movement's devices together),
    watches only their movements and gets only their messages; together they raise every expected alert."""
    operator = local_operator("NL")
    sim = simulator.build(sim_engine, operator, START, vessels=False)
    pipelines = [
        Processor(sim_engine, movement_loader=service.load_watched_movements, clock=lambda: CLOCK, shard=(k, 2))
        for k in (0, 1)
    ]
    for p in pipelines:
        p.refresh()
    owned = [set(p.owned) for p in pipelines]
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    movements = [set(p._movements) for p in pipelines]
    assert movements[0] and movements[1] and movements[0] | movements[1] == set(sim.expected_transit)
    for k, p in enumerate(pipelines):
        mine = [m for m in sim.messages if m.device_id in owned[k]]
        for i in range(0, len(mine), 97):
            p.process(
                [
                    Payload(m.payload, "mqtt", device_id=m.device_id, device_type=m.device_type, authenticated=True)
                    for m in mine[i : i + 97]
                ]
            )
    got = _alerts_by_context(sim_engine, operator)
    for movement, expected in sim.expected_transit.items():
        assert got.get(("transit", movement), set()) == expected, movement
    for passage, expected in sim.expected_gate.items():
        assert got.get(("gate", passage), set()) == expected, passage
