"""Against the real Mosquitto: QoS 1 with a persistent session loses nothing while the listener is away, and
redelivered or re-published messages have exactly-once effects."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest

from opencustoms.iot import adapters, mqtt, service
from opencustoms.iot.ingest import Processor, device_shards
from opencustoms.security.service import ensure_administration, local_operator
from opencustoms.store.database import init_database
from processes import budget, running, wait_for
from processes import stop as stop_process

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def mq_engine(tmp_path):  # type: ignore[no-untyped-def]
    engine = init_database(f"sqlite:///{tmp_path / 'mq.db'}")
    ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    yield engine
    engine.dispose()


def _lines(device: str, n: int, offset: int = 0) -> list[str]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return [
        adapters.encode_eseal_text(
            device,
            offset + i,
            now - dt.timedelta(seconds=n - i),
            "POS",
            latitude=51.9 + (offset + i) * 1e-4,
            longitude=4.2,
        )
        for i in range(n)
    ]


def test_persistent_session_keeps_messages_published_while_away(mq_engine, broker) -> None:
    host, port = broker
    operator = local_operator("NL")
    device = "ES-" + uuid.uuid4().hex[:8]
    service.register_device(mq_engine, operator, device, "e_seal")
    client_id = "oc-test-" + uuid.uuid4().hex[:8]
    processor = Processor(mq_engine, movement_loader=service.load_watched_movements)

    def listener(ready: threading.Event | None = None) -> mqtt.Listener:
        return mqtt.Listener(
            mq_engine,
            processor,
            host=host,
            port=port,
            client_id=client_id,
            session_expiry_s=120,
            batch_wait_s=0.01,
            on_ready=ready.set if ready else None,
        )

    # 1. first connection creates the session and the subscription
    listener().run(idle_timeout=0.3)
    # 2. while the listener is away, the device publishes 300 messages at QoS 1
    topic = mqtt.topic_for("e_seal", device)
    lines = _lines(device, 300)
    assert mqtt.publish([(topic, line) for line in lines], host=host, port=port) == 300
    # 3. reconnecting with the same client id and clean_start=False delivers every one of them
    stats = listener().run(idle_timeout=5.0)  # generous: a loaded CI machine may pause between deliveries
    assert stats.received == 300 and stats.report is not None and stats.report.accepted == 300
    # 4. live: the device re-sends a third of them (at-least-once) together with new ones while we listen
    ready = threading.Event()
    live = listener(ready)
    thread = threading.Thread(target=lambda: live.run(idle_timeout=5.0))
    thread.start()
    assert ready.wait(timeout=30), "the listener did not connect"
    mqtt.publish([(topic, line) for line in lines[:100] + _lines(device, 50, offset=300)], host=host, port=port)
    thread.join(timeout=30)
    assert live.stats.report is not None
    assert (live.stats.received, live.stats.report.accepted, live.stats.report.duplicates) == (150, 50, 100)
    assert service.stats(mq_engine, operator)["events"] == {"position": 350}


def test_unknown_topics_and_devices_are_quarantined(mq_engine, broker) -> None:
    host, port = broker
    client_id = "oc-test-" + uuid.uuid4().hex[:8]
    processor = Processor(mq_engine)
    mqtt.Listener(mq_engine, processor, host=host, port=port, client_id=client_id, session_expiry_s=60).run(
        idle_timeout=0.3
    )
    ghost = "GHOST-" + uuid.uuid4().hex[:6]
    mqtt.publish([(mqtt.topic_for("e_seal", ghost), _lines(ghost, 1)[0])], host=host, port=port)
    stats = mqtt.Listener(mq_engine, processor, host=host, port=port, client_id=client_id, session_expiry_s=60).run(
        idle_timeout=5.0
    )
    assert stats.report is not None and stats.report.quarantined == {"unknown_device": 1}


def test_several_listener_processes_share_the_devices_each_device_in_one(mq_engine, broker) -> None:
    """`listen --workers 2`: two processes with shared subscriptions to their own devices' topics; every message is
    processed exactly once, and all of a device's messages by the worker that owns it."""
    host, port = broker
    operator = local_operator("NL")
    devices = [f"ES-{uuid.uuid4().hex[:6]}-{n}" for n in range(6)]
    for device in devices:
        service.register_device(mq_engine, operator, device, "e_seal")
    url = mq_engine.url.render_as_string(hide_password=False)
    client_id = "oc-test-" + uuid.uuid4().hex[:8]

    def workers(idle: float) -> list[dict]:
        return mqtt.run_workers(
            url,
            2,
            service.load_watched_movements,
            host=host,
            port=port,
            client_id=client_id,
            session_expiry_s=120,
            batch_wait_s=0.01,
            idle_timeout=idle,
        )

    assert [(r["worker"], r["received"]) for r in workers(0.3)] == [(0, 0), (1, 0)]  # sessions, subscriptions
    per_device = {device: 20 + 5 * n for n, device in enumerate(devices)}
    messages = [(mqtt.topic_for("e_seal", d), line) for d, count in per_device.items() for line in _lines(d, count)]
    assert mqtt.publish(messages, host=host, port=port) == len(messages)
    results = workers(5.0)
    owner = device_shards(devices, [], 2)
    expected = [sum(c for d, c in per_device.items() if owner[d] == k) for k in (0, 1)]
    assert [r["received"] for r in results] == expected
    assert [r["report"]["accepted"] for r in results] == expected
    assert service.stats(mq_engine, operator)["events"] == {"position": len(messages)}


@pytest.fixture
def own_broker(tmp_path):  # type: ignore[no-untyped-def]
    """A Mosquitto of the test's own (persistence on, in tmp_path), so the test may stop and restart it."""
    import getpass
    import os
    import shutil
    import socket
    import subprocess

    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None:
        message = "the mosquitto executable is not installed (apt-get install mosquitto)"
        if os.environ.get("OPENCUSTOMS_REQUIRE_SERVICES") == "1":
            pytest.fail(message + " (OPENCUSTOMS_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {tmp_path}/\nmax_queued_messages 100000\n"
        f"user {getpass.getuser()}\n"  # started as root, Mosquitto would otherwise drop to a user who cannot write here
    )
    with running() as processes:  # every broker started is stopped, even when the first start fails

        def start() -> None:
            broker = processes.start([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
            wait_for(lambda: mqtt.broker_reachable(port=port), "mosquitto to start", timeout=10, watch=[broker])

        def stop() -> None:
            stop_process(processes.started[-1])  # SIGTERM first: mosquitto saves its persistence file on a clean exit

        start()
        yield port, start, stop


def test_broker_restart_loses_nothing_and_the_listener_reconnects(mq_engine, own_broker) -> None:
    """The listener keeps running across a restart of the broker: it reconnects to its persistent session, and the
    messages queued for it meanwhile (the broker keeps them in its persistence file) all arrive, once."""
    import time

    port, start, stop = own_broker
    operator = local_operator("NL")
    device = "ES-" + uuid.uuid4().hex[:8]
    service.register_device(mq_engine, operator, device, "e_seal")
    processor = Processor(mq_engine, movement_loader=service.load_watched_movements)
    ready = threading.Event()
    listener = mqtt.Listener(
        mq_engine,
        processor,
        port=port,
        client_id="oc-test-" + uuid.uuid4().hex[:8],
        session_expiry_s=120,
        reconnect_every_s=0.1,
        on_ready=ready.set,
    )
    thread = threading.Thread(target=lambda: listener.run(idle_timeout=30.0))
    thread.start()
    try:
        assert ready.wait(timeout=budget(30)), "the listener did not connect"
        topic = mqtt.topic_for("e_seal", device)
        lines = _lines(device, 200)
        mqtt.publish([(topic, line) for line in lines[:100]], port=port)
        deadline = time.monotonic() + budget(20)
        while listener.stats.received < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listener.stats.received == 100
        stop()
        start()
        # published while the listener is still reconnecting: queued in its restored session
        mqtt.publish([(topic, line) for line in lines[100:]], port=port)
        deadline = time.monotonic() + budget(20)
        while listener.stats.report.accepted < 200 and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
    finally:
        listener.stop.set()
        thread.join(timeout=30)
    assert listener.reconnections >= 1
    assert listener.stats.report is not None
    # acknowledgements in flight when the broker stopped make it redeliver those messages: counted as duplicates
    assert listener.stats.report.accepted == 200
    assert listener.stats.received == 200 + listener.stats.report.duplicates
    assert service.stats(mq_engine, operator)["events"] == {"position": 200}


def test_alert_bearing_messages_are_processed_before_the_fixes_read_with_them(mq_engine, broker) -> None:
    """A seal opening read together with position reports is processed ahead of them, in a batch of its own (the
    broker sends a client only so many unacknowledged messages at once, 20 by Mosquitto's default: the opening is
    placed within the first of those windows)."""
    host, port = broker
    operator = local_operator("NL")
    device = "ES-" + uuid.uuid4().hex[:8]
    service.register_device(mq_engine, operator, device, "e_seal")
    client_id = "oc-test-" + uuid.uuid4().hex[:8]
    processor = Processor(mq_engine, movement_loader=service.load_watched_movements)
    kw = {"host": host, "port": port, "client_id": client_id, "session_expiry_s": 120, "batch_wait_s": 0.5}
    mqtt.Listener(mq_engine, processor, **kw).run(idle_timeout=0.3)  # type: ignore[arg-type]
    topic = mqtt.topic_for("e_seal", device)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    opening = adapters.encode_eseal_text(device, 10_000, now, "OPN", latitude=None, longitude=None, locked=False)
    lines = _lines(device, 300)
    mqtt.publish([(topic, line) for line in [*lines[:5], opening, *lines[5:]]], host=host, port=port)
    batches: list[tuple[int, dict[str, int]]] = []

    def on_batch(report, n) -> None:  # type: ignore[no-untyped-def]
        batches.append((n, {"accepted": report.accepted}))

    stats = mqtt.Listener(mq_engine, processor, on_batch=on_batch, **kw).run(idle_timeout=5.0)  # type: ignore[arg-type]
    assert stats.received == 301 and stats.report is not None and stats.report.accepted == 301
    assert batches.index((1, {"accepted": 1})) <= 1  # the opening, alone, before the reports read with it
    assert service.stats(mq_engine, operator)["events"] == {"position": 300, "seal_opened": 1}


def test_hostile_payloads_are_quarantined_and_the_listener_goes_on(mq_engine, broker) -> None:
    """Issue #12: a deeply nested JSON payload crashed the listener (and, never acknowledged, would crash it again
    at every restart); a record with a huge extra key was stored as a huge row."""
    host, port = broker
    operator = local_operator("NL")
    device = "FL-" + uuid.uuid4().hex[:8]
    service.register_device(mq_engine, operator, device, "e_seal", attributes={"format": "flespi_json"})
    client_id = "oc-test-" + uuid.uuid4().hex[:8]
    processor = Processor(mq_engine, movement_loader=service.load_watched_movements)
    kw = {"host": host, "port": port, "client_id": client_id, "session_expiry_s": 120, "batch_wait_s": 0.01}
    mqtt.Listener(mq_engine, processor, **kw).run(idle_timeout=0.3)  # type: ignore[arg-type]
    topic = mqtt.topic_for("e_seal", device)
    now = dt.datetime.now(dt.UTC).timestamp()
    record = {"ident": device, "timestamp": now, "position.latitude": 51.9, "position.longitude": 4.2}
    payloads = [
        "[" * 100_000 + "]" * 100_000,
        json.dumps({**record, "timestamp": now - 2, "blob": "x" * 2_000_000}),
        json.dumps({**record, "timestamp": now - 1, "blob": "x" * 5_000_000}),
        json.dumps(record),
    ]
    mqtt.publish([(topic, p) for p in payloads], host=host, port=port)
    stats = mqtt.Listener(mq_engine, processor, **kw).run(idle_timeout=5.0)  # type: ignore[arg-type]
    assert stats.received == 4 and stats.report is not None and stats.report.accepted == 1
    assert stats.report.quarantined == {"too_deep": 1, "invalid_field": 1, "too_large": 1}
    # everything was acknowledged: nothing comes back
    again = mqtt.Listener(mq_engine, processor, **kw).run(idle_timeout=1.0)  # type: ignore[arg-type]
    assert again.received == 0
