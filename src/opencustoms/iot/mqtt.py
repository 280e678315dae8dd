"""MQTT ingestion (paho-mqtt 2, MQTT 5) against Mosquitto.

Devices publish to ``opencustoms/<device_type>/<device_id>/events`` at QoS 1. The listener connects with a fixed
client id and ``clean_start=False`` plus a session expiry, so the broker keeps its subscription and queues QoS 1
messages while it is away (a restart of the listener, or of a broker with persistence, loses nothing). Messages are
acknowledged manually, only after the batch holding them is committed: a crash before the commit means the broker
redelivers, and deduplication by (device, event key) turns that at-least-once delivery into exactly-once effects.

The broker authenticates devices (Mosquitto password file, one login per device) and its ACL pins each login to its
own topic (``pattern write opencustoms/+/%u/events``); the listener trusts the device id in the topic, and still
refuses devices that are unknown, disabled or registered with another type.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine

from opencustoms.iot.errors import BrokerUnavailableError
from opencustoms.iot.ingest import IngestReport, Payload, Processor

TOPIC_FILTER = "opencustoms/+/+/events"
DEFAULT_CLIENT_ID = "opencustoms-iot-listener"
SESSION_EXPIRY_S = 7 * 24 * 3600


def topic_for(device_type: str, device_id: str) -> str:
    return f"opencustoms/{device_type}/{device_id}/events"


def parse_topic(topic: str) -> tuple[str, str] | None:
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "opencustoms" or parts[3] != "events" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


@dataclass
class ListenerStats:
    received: int = 0
    batches: int = 0
    report: IngestReport | None = None


def _client(client_id: str, *, clean_start: bool, manual_ack: bool):  # type: ignore[no-untyped-def]
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack
    )
    client._oc_clean_start = clean_start  # type: ignore[attr-defined]
    return client


def _connect(client, host: str, port: int, clean_start: bool, session_expiry_s: int = SESSION_EXPIRY_S) -> None:  # type: ignore[no-untyped-def]
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry_s
    try:
        client.connect(host, port, keepalive=30, clean_start=clean_start, properties=properties)
    except OSError as exc:
        raise BrokerUnavailableError(
            f"cannot reach the MQTT broker at {host}:{port} ({exc}); start Mosquitto or set --host/--port"
        ) from exc


class Listener:
    """Subscribe, batch, process, acknowledge. ``run`` returns when ``stop`` is set, after ``max_messages``, or after
    ``idle_timeout`` seconds without a message."""

    def __init__(
        self,
        engine: Engine,
        processor: Processor,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        client_id: str = DEFAULT_CLIENT_ID,
        batch_size: int = 2000,
        batch_wait_s: float = 0.02,
        sweep_every_s: float = 30.0,
        session_expiry_s: int = SESSION_EXPIRY_S,
        on_batch: Callable[[IngestReport, int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.processor = processor
        self.host, self.port, self.client_id = host, port, client_id
        self.batch_size, self.batch_wait_s, self.sweep_every_s = batch_size, batch_wait_s, sweep_every_s
        self.on_batch = on_batch
        self.session_expiry_s = session_expiry_s
        self.session_expiry_s = session_expiry_s
        self.stop = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._subscribed = threading.Event()
        self.stats = ListenerStats(report=IngestReport())

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if not reason_code.is_failure:
            client.subscribe(TOPIC_FILTER, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        self._subscribed.set()

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        self._queue.put((message.mid, message.qos, message.topic, message.payload, time.time()))

    def run(self, *, max_messages: int | None = None, idle_timeout: float | None = None) -> ListenerStats:
        client = _client(self.client_id, clean_start=False, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        _connect(client, self.host, self.port, clean_start=False, session_expiry_s=self.session_expiry_s)
        client.loop_start()
        self._subscribed.wait(timeout=5)
        last_message = last_sweep = time.monotonic()
        try:
            while not self.stop.is_set():
                batch = []
                try:
                    batch.append(self._queue.get(timeout=0.1))
                except queue.Empty:
                    if idle_timeout is not None and time.monotonic() - last_message >= idle_timeout:
                        break
                    continue
                deadline = time.monotonic() + self.batch_wait_s
                while len(batch) < self.batch_size:
                    remaining = deadline - time.monotonic()
                    try:
                        batch.append(
                            self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait()
                        )
                    except queue.Empty:
                        break
                last_message = time.monotonic()
                self._process(client, batch)
                if time.monotonic() - last_sweep >= self.sweep_every_s:
                    self.processor.sweep()
                    last_sweep = time.monotonic()
                if max_messages is not None and self.stats.received >= max_messages:
                    break
        finally:
            client.loop_stop()
            client.disconnect()
        return self.stats

    def _process(self, client, batch: list) -> None:  # type: ignore[no-untyped-def]
        payloads = []
        for _, _, topic, data, _ in batch:
            parsed = parse_topic(topic)
            if parsed is None:
                payloads.append(Payload(data, "mqtt", device_id=None, authenticated=False))
            else:
                device_type, device_id = parsed
                payloads.append(Payload(data, "mqtt", device_id=device_id, device_type=device_type, authenticated=True))
        report = self.processor.process(payloads)
        for mid, qos, *_ in batch:  # acknowledge only what is committed
            if qos > 0:
                client.ack(mid, qos)
        self.stats.received += len(batch)
        self.stats.batches += 1
        assert self.stats.report is not None
        self.stats.report.merge(report)
        if self.on_batch:
            self.on_batch(report, len(batch))


def publish(
    messages: Iterable[tuple[str, str | bytes]],
    *,
    host: str = "127.0.0.1",
    port: int = 1883,
    qos: int = 1,
    client_id: str = "opencustoms-publisher",
    rate: float | None = None,
) -> int:
    """Publish (topic, payload) pairs and wait until the broker has acknowledged every QoS 1 message."""
    client = _client(client_id, clean_start=True, manual_ack=False)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    _connect(client, host, port, clean_start=True)
    client.loop_start()
    infos = []
    sent = 0
    began = time.monotonic()
    try:
        for topic, payload in messages:
            infos.append(client.publish(topic, payload, qos=qos))
            sent += 1
            if rate:
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
        for info in infos:
            info.wait_for_publish(timeout=60)
    finally:
        client.loop_stop()
        client.disconnect()
    return sent


def broker_reachable(host: str = "127.0.0.1", port: int = 1883, timeout: float = 1.0) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
