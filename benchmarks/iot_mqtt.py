"""Events/s from Mosquitto through decoding, checks, storage and transit rules (target ≥ 15,000/s), and the p99
event-to-alert latency at 5,000 events/s (target ≤ 200 ms). Needs Mosquitto at 127.0.0.1:1883.

Set-up: 200 transit movements on the simulator's corridor, each with one e-seal sending eseal_text fixes.
1. Throughput: 60,000 QoS 1 messages are queued in the listener's persistent session while it is away; the listener
   then drains them (batches, one transaction each, manual acks after commit); the rate is messages / wall time.
2. Latency: a publisher sends 5,000 messages/s for 10 s while the listener runs; 200 of them are seal openings
   outside any zone. Latency = alert committed - message published (both on this machine's clock)."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
import uuid

import numpy as np

from _common import fresh_engine, write
from opencustoms.iot import adapters, mqtt, service, simulator
from opencustoms.iot.ingest import Processor
from opencustoms.security.service import local_operator

MOVEMENTS = 200


def setup(engine, start: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    from opencustoms.declarations import service as declarations

    op = local_operator("NL")
    service.add_zone(engine, op, "DEP", "departure", "customs_office", simulator.DEPARTURE)
    service.add_zone(engine, op, "DST", "destination", "customs_office", simulator.DESTINATION)
    for n in range(MOVEMENTS):
        service.register_device(engine, op, f"ES{n:04d}", "e_seal", attributes={"format": "eseal_text"})
        declarations.create(
            engine,
            op,
            {
                "functional_reference_id": f"B-{n:04d}",
                "type_code": "transit",
                "acceptance_date": start.date().isoformat(),
                "declaration_office_id": "NL000396",
                "declarant": {"id": "NL100000001", "name": "Kade Brokers BV", "country_code": "NL"},
                "transport": {"mode_code": "3", "id": f"NL-{n:04d}-B"},
                "goods_items": [
                    {
                        "sequence_number": 1,
                        "hs_code": "847130",
                        "customs_value_amount": "100.00",
                        "customs_value_currency": "EUR",
                        "origin_country_code": "CN",
                    }
                ],
            },
        )
        service.create_transit(
            engine,
            op,
            {
                "movement_id": f"M{n:04d}",
                "functional_reference_id": f"B-{n:04d}",
                "vehicle_id": f"NL-{n:04d}-B",
                "seal_device_ids": [f"ES{n:04d}"],
                "corridor": simulator.CORRIDOR,
                "departure_zone_id": "DEP",
                "destination_zone_id": "DST",
                "departure_time": start.isoformat(),
                "time_limit": (start + dt.timedelta(hours=10)).isoformat(),
            },
        )


def fixes(start: dt.datetime, count: int, first_seq: int = 0) -> list[tuple[str, str]]:
    route = np.array(simulator.CORRIDOR)
    out = []
    per_device = count // MOVEMENTS
    for k in range(per_device):
        when = start + dt.timedelta(seconds=5 * (first_seq + k))
        lat, lon = simulator._interpolate(route, min((first_seq + k) / 20000, 0.9))
        for n in range(MOVEMENTS):
            device = f"ES{n:04d}"
            out.append(
                (
                    mqtt.topic_for("e_seal", device),
                    adapters.encode_eseal_text(
                        device, first_seq + k, when, "POS", latitude=lat, longitude=lon, speed_kmh=60
                    ),
                )
            )
    return out


PORT = 18831


def broker():  # type: ignore[no-untyped-def]
    """A Mosquitto of our own for the run: the Debian default keeps only 1,000 queued messages per offline client
    (max_queued_messages), which would drop most of the backlog this benchmark queues."""
    import shutil
    import subprocess

    from _common import WORK

    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    WORK.mkdir(parents=True, exist_ok=True)
    conf = WORK / "mosquitto-bench.conf"
    conf.write_text(
        f"listener {PORT} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 1000000\nmax_inflight_messages 1000\n"
    )
    process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if mqtt.broker_reachable(port=PORT):
            return process
        time.sleep(0.1)
    process.kill()
    raise SystemExit("could not start mosquitto for the benchmark")


def main() -> int:
    process = broker()
    try:
        return run()
    finally:
        process.terminate()
        process.wait(timeout=10)


def run() -> int:
    engine = fresh_engine("iot_mqtt")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)
    began = time.perf_counter()
    setup(engine, start)
    print(f"set-up: {MOVEMENTS} movements in {time.perf_counter() - began:.1f} s")
    client_id = "oc-bench-" + uuid.uuid4().hex[:8]
    processor = Processor(engine, movement_loader=service.load_watched_movements)

    def listener(**kw):  # type: ignore[no-untyped-def]
        return mqtt.Listener(engine, processor, port=PORT, client_id=client_id, session_expiry_s=600, **kw)

    listener().run(idle_timeout=0.3)
    backlog = fixes(start, 60_000)
    began = time.perf_counter()
    mqtt.publish(backlog, port=PORT, client_id="oc-bench-pub")
    publish_s = time.perf_counter() - began
    began = time.perf_counter()
    stats = listener(batch_size=5000).run(idle_timeout=1.0)
    drain_s = time.perf_counter() - began - 1.0  # minus the idle timeout that ends the run
    throughput = stats.received / drain_s
    assert stats.report is not None
    print(
        f"throughput: {stats.received:,} messages in {drain_s:.2f} s = {throughput:,.0f} events/s "
        f"({stats.report.accepted:,} stored, {stats.batches} batches; publishing took {publish_s:.1f} s)"
    )

    # latency at 5,000 events/s
    live = fixes(start, 50_000, first_seq=300)
    sent: dict[str, float] = {}
    opened = {k * MOVEMENTS + k for k in range(MOVEMENTS) if k * MOVEMENTS + k < len(live)}  # each seal once
    messages = []
    for i, (topic, payload) in enumerate(live):
        if i in opened:
            device = topic.split("/")[2]
            payload = adapters.encode_eseal_text(
                device, 900_000 + i, start + dt.timedelta(hours=2), "OPN", latitude=None, longitude=None, locked=False
            )
        messages.append((topic, payload))
    latencies: list[float] = []
    publish_times: dict[int, float] = {}

    def on_batch(report, n):  # type: ignore[no-untyped-def]
        for a in report.alerts:
            if a.kind == "seal_opened_outside_zone":
                latencies.append(report.committed_at - sent[a.evidence["device_id"]])

    run = listener(batch_wait_s=0.005, batch_size=2000, on_batch=on_batch)
    thread = threading.Thread(target=lambda: run.run(idle_timeout=2.0))
    thread.start()
    time.sleep(0.5)

    def stamped():  # type: ignore[no-untyped-def]
        for i, (topic, payload) in enumerate(messages):
            if i in opened:
                sent[topic.split("/")[2]] = time.time()
            publish_times[i] = 0
            yield topic, payload

    began = time.perf_counter()
    mqtt.publish(stamped(), port=PORT, client_id="oc-bench-pub2", rate=5000)
    rate = len(messages) / (time.perf_counter() - began)
    thread.join(timeout=120)
    lat_ms = np.array(latencies) * 1000
    p50, p99, worst = (
        (np.percentile(lat_ms, 50), np.percentile(lat_ms, 99), lat_ms.max()) if len(lat_ms) else (float("nan"),) * 3
    )
    print(
        f"latency at {rate:,.0f} events/s: {len(lat_ms)} alerts, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {worst:.0f} ms (target p99 ≤ 200 ms)"
    )
    write(
        "iot_mqtt",
        {
            "movements": MOVEMENTS,
            "throughput_messages": stats.received,
            "throughput_s": drain_s,
            "events_per_s": throughput,
            "target_events_per_s": 15_000,
            "latency_rate": rate,
            "alerts_measured": int(len(lat_ms)),
            "latency_p50_ms": p50,
            "latency_p99_ms": p99,
            "latency_max_ms": worst,
            "target_p99_ms": 200,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
