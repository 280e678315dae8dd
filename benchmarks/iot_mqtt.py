"""Events/s from Mosquitto through decoding, checks, storage and transit rules (target ≥ 15,000/s), and the p99
event-to-alert latency at 5,000 events/s (target ≤ 200 ms). Needs Mosquitto at 127.0.0.1:1883.

Set-up: 200 transit movements on the simulator's corridor, each with one e-seal sending eseal_text fixes.
1. Throughput: 60,000 QoS 1 messages are queued in the listeners' persistent sessions while they are away; the
   listeners then drain them (batches, one transaction each, manual acks after commit); the rate is messages / wall
   time. Measured with one listener in this process, then with two listener processes (`run_workers`, each owning
   half of the devices), on fresh backlogs, in the same run.
2. Latency: a publisher process sends 5,000 messages/s for 10 s while the listener(s) run; 200 of them are seal
   openings outside any zone. Latency = alert committed - message published (both on this machine's clock); with
   one listener it is split into published → read off the listener's socket, and read → committed."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time
import uuid
from pathlib import Path

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
    (max_queued_messages), which would drop most of the backlog this benchmark queues, and sends a client only 20
    unacknowledged messages at a time (max_inflight_messages; 0 = no limit, as docs/iot.md recommends for the
    listener, which acknowledges after each commit and reads ahead for alert-bearing messages)."""
    import shutil
    import subprocess

    from _common import WORK

    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    WORK.mkdir(parents=True, exist_ok=True)
    conf = WORK / "mosquitto-bench.conf"
    conf.write_text(
        f"listener {PORT} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 1000000\nmax_inflight_messages 0\n"
    )
    from processes import stop, wait_for

    process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: mqtt.broker_reachable(port=PORT), "mosquitto", 5, watch=[process])
    except AssertionError as exc:
        stop(process)
        raise SystemExit(f"could not start mosquitto for the benchmark: {exc}") from None
    return process


def main() -> int:
    process = broker()
    try:
        return run()
    finally:
        from processes import stop

        stop(process)


def drain(engine, client_id: str, workers: int) -> tuple[int, float, int]:  # type: ignore[no-untyped-def]
    """Drain the queued backlog with ``workers`` listener processes (1: in this process); (messages, seconds from
    the first message received to the last batch committed, events stored)."""
    kw = {"port": PORT, "client_id": client_id, "session_expiry_s": 600, "batch_size": 5000}
    if workers == 1:
        processor = Processor(engine, movement_loader=service.load_watched_movements)
        results = [mqtt.Listener(engine, processor, **kw).run(idle_timeout=1.0).as_dict()]  # type: ignore[arg-type]
    else:
        url = engine.url.render_as_string(hide_password=False)
        results = mqtt.run_workers(url, workers, service.load_watched_movements, idle_timeout=1.0, **kw)
    seconds = max(r["last_commit_at"] for r in results) - min(r["first_message_at"] for r in results)
    return sum(r["received"] for r in results), seconds, sum(r["report"]["accepted"] for r in results)


def publisher(messages, opened: set[int], rate: float, results) -> None:  # type: ignore[no-untyped-def]
    """The devices, in a process of their own: publish at ``rate`` and report when each seal opening was sent."""
    sent: dict[str, float] = {}

    def stamped():  # type: ignore[no-untyped-def]
        for i, (topic, payload) in enumerate(messages):
            if i in opened:
                sent[topic.split("/")[2]] = time.time()
            yield topic, payload

    began = time.perf_counter()
    mqtt.publish(stamped(), port=PORT, client_id="oc-bench-pub2", rate=rate)
    results.put((len(messages) / (time.perf_counter() - began), sent))


def run() -> int:

    engine = fresh_engine("iot_mqtt")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)
    began = time.perf_counter()
    setup(engine, start)
    print(f"set-up: {MOVEMENTS} movements in {time.perf_counter() - began:.1f} s")
    url = engine.url.render_as_string(hide_password=False)
    throughput: dict[int, dict[str, float]] = {}
    for phase, workers in enumerate(WORKERS):
        client_id = "oc-bench-" + uuid.uuid4().hex[:8]
        # connect once so the sessions and subscriptions exist, then queue the backlog while they are away
        began = time.perf_counter()
        if workers == 1:
            processor = Processor(engine, movement_loader=service.load_watched_movements)
            mqtt.Listener(engine, processor, port=PORT, client_id=client_id, session_expiry_s=600).run(idle_timeout=0.3)
        else:
            mqtt.run_workers(
                url,
                workers,
                service.load_watched_movements,
                port=PORT,
                client_id=client_id,
                session_expiry_s=600,
                idle_timeout=0.3,
            )
        backlog = fixes(start, BACKLOG, first_seq=phase * BACKLOG // MOVEMENTS)
        began = time.perf_counter()
        mqtt.publish(backlog, port=PORT, client_id="oc-bench-pub")
        publish_s = time.perf_counter() - began
        received, seconds, stored = drain(engine, client_id, workers)
        throughput[workers] = {
            "messages": received,
            "seconds": seconds,
            "events_per_s": received / seconds,
            "stored": stored,
            "load_average_1m": os.getloadavg()[0],
        }
        print(
            f"throughput, {workers} listener process(es): {received:,} messages in {seconds:.2f} s = "
            f"{received / seconds:,.0f} events/s ({stored:,} stored; publishing took {publish_s:.1f} s; "
            f"load {os.getloadavg()[0]:.1f})"
        )

    # latency at 5,000 events/s: the devices publish from another process while the listener(s) run
    first = len(WORKERS) * BACKLOG // MOVEMENTS
    latency = {}
    for phase, workers in enumerate(WORKERS):
        latency[workers] = measure_latency(engine, start, first + phase * 250, phase, workers)
    write(
        "iot_mqtt",
        {
            "movements": MOVEMENTS,
            "backlog_messages": BACKLOG,
            "throughput": {str(k): v for k, v in throughput.items()},
            "latency": {str(k): v for k, v in latency.items()},
            "events_per_s": max(v["events_per_s"] for v in throughput.values()),
            "target_events_per_s": 15_000,
            "latency_p99_ms": min(v["p99_ms"] for v in latency.values()),
            "target_p99_ms": 200,
        },
    )
    return 0


def record_alert(alert) -> None:  # type: ignore[no-untyped-def]
    """on_alert of the worker processes (called right after the batch raising it commits)."""
    if alert.kind == "seal_opened_outside_zone":
        with open(os.environ["OC_BENCH_ALERT_LOG"], "a") as log:
            log.write(f"{alert.evidence['device_id']} {time.time()}\n")


def record_ready(worker: int) -> None:
    """on_ready of the worker processes."""
    with open(os.environ["OC_BENCH_ALERT_LOG"] + f".ready{worker}", "w") as flag:
        flag.write("ready\n")


def measure_latency(engine, start: dt.datetime, first_seq: int, phase: int, workers: int) -> dict:  # type: ignore[no-untyped-def]
    import multiprocessing

    from _common import WORK

    live = fixes(start, 50_000, first_seq=first_seq)
    opened = {k * MOVEMENTS + k for k in range(MOVEMENTS) if k * MOVEMENTS + k < len(live)}  # each seal once
    messages = []
    for i, (topic, payload) in enumerate(live):
        if i in opened:
            device = topic.split("/")[2]
            when = start + dt.timedelta(hours=2, minutes=phase)
            payload = adapters.encode_eseal_text(
                device, 900_000 + 100_000 * phase + i, when, "OPN", latitude=None, longitude=None, locked=False
            )
        messages.append((topic, payload))
    committed: dict[str, float] = {}
    received: dict[str, float] = {}
    client_id = "oc-bench-" + uuid.uuid4().hex[:8]
    kw = {"port": PORT, "client_id": client_id, "session_expiry_s": 600, "batch_wait_s": 0.005, "batch_size": 2000}
    log = WORK / f"alerts-{phase}.log"
    log.unlink(missing_ok=True)
    if workers == 1:

        def on_batch(report, n):  # type: ignore[no-untyped-def]
            for a in report.alerts:
                if a.kind == "seal_opened_outside_zone":
                    committed[a.evidence["device_id"]] = report.committed_at

        processor = Processor(engine, movement_loader=service.load_watched_movements)
        ready = threading.Event()
        listener = mqtt.Listener(engine, processor, on_batch=on_batch, on_ready=ready.set, **kw)  # type: ignore[arg-type]
        taken = listener._on_message

        def on_message(client, userdata, message):  # type: ignore[no-untyped-def]
            # when the listener read each seal opening off its socket: splits the latency into transport and pipeline
            if b",OPN," in message.payload:
                received[message.topic.split("/")[2]] = time.time()
            taken(client, userdata, message)

        listener._on_message = on_message  # type: ignore[method-assign]
        thread = threading.Thread(target=lambda: listener.run(idle_timeout=10.0))
        thread.start()
        ready.wait(timeout=120)
    else:
        os.environ["OC_BENCH_ALERT_LOG"] = str(log)
        url = engine.url.render_as_string(hide_password=False)
        thread = threading.Thread(
            target=lambda: mqtt.run_workers(
                url,
                workers,
                service.load_watched_movements,
                idle_timeout=10.0,
                on_alert=record_alert,
                on_ready=record_ready,
                **kw,
            )
        )
        thread.start()
        flags = [Path(f"{log}.ready{k}") for k in range(workers)]
        for _ in range(1200):
            if all(f.exists() for f in flags):
                break
            time.sleep(0.1)
        for f in flags:
            f.unlink(missing_ok=True)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    pub = context.Process(target=publisher, args=(messages, opened, 5000.0, results))
    pub.start()
    rate, sent = results.get(timeout=300)
    pub.join()
    thread.join(timeout=120)
    if workers > 1:
        for line in log.read_text().splitlines():
            device, at = line.split()
            committed[device] = float(at)
    lat_ms = np.array([committed[d] - sent[d] for d in sent if d in committed]) * 1000
    p50, p99, worst = (
        (np.percentile(lat_ms, 50), np.percentile(lat_ms, 99), lat_ms.max()) if len(lat_ms) else (float("nan"),) * 3
    )
    print(
        f"latency, {workers} listener process(es), at {rate:,.0f} events/s: {len(lat_ms)} alerts, p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms, max {worst:.0f} ms (target p99 ≤ 200 ms; load {os.getloadavg()[0]:.1f})"
    )
    split = {}
    if received:  # one listener: publish → read by the listener (devices, broker, socket) and read → committed
        both = [d for d in sent if d in committed and d in received]
        transport = np.array([received[d] - sent[d] for d in both]) * 1000
        pipeline = np.array([committed[d] - received[d] for d in both]) * 1000
        split = {
            "transport_p50_ms": float(np.percentile(transport, 50)),
            "transport_p99_ms": float(np.percentile(transport, 99)),
            "pipeline_p50_ms": float(np.percentile(pipeline, 50)),
            "pipeline_p99_ms": float(np.percentile(pipeline, 99)),
        }
        print(
            f"  of which published → read by the listener p50 {split['transport_p50_ms']:.0f} ms, "
            f"p99 {split['transport_p99_ms']:.0f} ms; read → alert committed p50 {split['pipeline_p50_ms']:.0f} ms, "
            f"p99 {split['pipeline_p99_ms']:.0f} ms"
        )
    return {
        **split,
        "rate": rate,
        "alerts": int(len(lat_ms)),
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": worst,
        "load_average_1m": os.getloadavg()[0],
    }


WORKERS = (1, 2)
BACKLOG = 60_000


if __name__ == "__main__":
    sys.exit(main())
