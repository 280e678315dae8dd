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
import select
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from opencustoms.context import settle_heap
from opencustoms.iot.adapters import may_alert
from opencustoms.iot.errors import BrokerUnavailableError
from opencustoms.iot.ingest import IngestReport, Payload, Processor

TOPIC_FILTER = "opencustoms/+/+/events"
DEFAULT_CLIENT_ID = "opencustoms-iot-listener"
SESSION_EXPIRY_S = 7 * 24 * 3600


SETTLE_EVERY_S = 60.0


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
    first_message_at: float | None = None  # wall clock: the first message taken off the socket
    last_commit_at: float | None = None  # wall clock: the last batch committed

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "batches": self.batches,
            "first_message_at": self.first_message_at,
            "last_commit_at": self.last_commit_at,
            "report": self.report.summary() if self.report is not None else None,
        }


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


class _BufferedSocket:
    """The listener's socket as paho sees it: one ``recv`` of up to 256 KiB from the kernel serves many packets.
    paho reads every packet in three ``recv`` calls (command byte, remaining length, body); with QoS 1 messages of
    ~150 bytes arriving thousands a second, those system calls and the ``select`` before each packet cost as much
    as the rest of the receive path. ``pending()`` is what paho and the listener's loop ask before waiting in
    ``select`` (paho asks it of TLS sockets for the same reason)."""

    CHUNK = 256 * 1024

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._offset = 0

    def recv(self, bufsize: int) -> bytes:
        if self._offset >= len(self._buffer):
            data = self._sock.recv(max(bufsize, self.CHUNK))  # raises BlockingIOError when nothing is there
            if len(data) <= bufsize:
                self._buffer, self._offset = b"", 0
                return data  # type: ignore[no-any-return]
            self._buffer, self._offset = data, 0
        end = self._offset + bufsize
        out = self._buffer[self._offset : end]
        self._offset = min(end, len(self._buffer))
        return out

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._buffer) - self._offset + (inner() if inner is not None else 0)

    def send(self, data: bytes) -> int:
        return self._sock.send(data)  # type: ignore[no-any-return]

    def fileno(self) -> int:
        return self._sock.fileno()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _ConnectionLost(Exception):
    pass


def _wrap(client) -> None:  # type: ignore[no-untyped-def]
    """Put the socket paho opened behind a :class:`_BufferedSocket` (after connect and every reconnect)."""
    sock = getattr(client, "_sock", None)
    if sock is not None and not isinstance(sock, _BufferedSocket):
        client._sock = _BufferedSocket(sock)


def _pump(client, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    """Drive paho's network from the calling thread (its external-loop API): write what it has queued, wait up to
    ``timeout`` for input, read every packet already received. True when something was read. Raises
    ``_ConnectionLost``."""
    sock = client.socket()
    if sock is None:
        raise _ConnectionLost
    if client.want_write() and client.loop_write() != 0:
        raise _ConnectionLost
    if not sock.pending():
        readable, _, _ = select.select([sock], [], [], timeout)
        if not readable:
            return False
    while True:  # the buffered socket holds many packets; paho reads one per call
        if client.loop_read() != 0 or client.socket() is None:
            raise _ConnectionLost
        if not sock.pending():
            break
    if client.want_write() and client.loop_write() != 0:
        raise _ConnectionLost
    return True


class Listener:
    """Subscribe, batch, process, acknowledge. ``run`` returns when ``stop`` is set, after ``max_messages``, or after
    ``idle_timeout`` seconds without a message.

    One thread does everything (paho's external-loop API: ``loop_read``/``loop_write``/``loop_misc`` around our own
    ``select``); a network thread beside the pipeline (paho's ``loop_start``) would fight it for the GIL, each packet
    it reads waiting for the interpreter's switch interval while a batch is processed. Each round:

    * read what the socket holds (up to ``read_ahead`` messages held, for at most ``read_window_s``); when it is
      empty and fewer than ``batch_size`` position reports are held, wait for more only until ``batch_wait_s``
      after the oldest one held was read;
    * payloads that may raise an alert by themselves (``adapters.may_alert``: seal events, gate reads, radiation
      scans) are processed first, in a batch of their own; otherwise the next batch of the rest, of ``batch_size``
      at most and fewer if that many would take longer than ``max_batch_s`` at the cost per event measured so far;
    * commit, then acknowledge the batch's messages.

    So batches grow only while the pipeline is busy, an alert does not wait behind a backlog of position reports,
    and nothing is acknowledged before it is committed. The broker sends a client only so many unacknowledged
    messages (Mosquitto's ``max_inflight_messages``, 20 by default): set it to 0 (no limit) so the listener can read
    ahead. On a lost connection the messages held are dropped (the broker redelivers them to the persistent session)
    and the listener reconnects every ``reconnect_every_s``."""

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
        on_ready: Callable[[], None] | None = None,
        reconnect_every_s: float = 1.0,
        read_ahead: int = 20_000,
        read_window_s: float = 0.05,
        max_batch_s: float = 0.1,
    ) -> None:
        self.engine = engine
        self.processor = processor
        self.host, self.port, self.client_id = host, port, client_id
        self.batch_size, self.batch_wait_s, self.sweep_every_s = batch_size, batch_wait_s, sweep_every_s
        self.on_batch = on_batch
        self.on_ready = on_ready  # called once connected, subscribed and warmed up
        self.session_expiry_s = session_expiry_s
        self.reconnect_every_s = reconnect_every_s
        self.read_ahead, self.read_window_s = max(read_ahead, batch_size), read_window_s
        self.max_batch_s = max_batch_s
        self._per_event_s = 50e-6  # processing time per event, learnt from the batches
        self.stop = threading.Event()
        self._inbox: list[tuple[int, int, str, bytes, float]] = []
        self._urgent: list[tuple[int, int, str, bytes, float]] = []  # payloads that may raise an alert
        self._subscribed = False
        self._connected = False
        self.stats = ListenerStats(report=IngestReport())
        self.shard = processor.shard
        self._topics: set[str] = set()  # sharded: the per-device subscriptions held
        self._pending: set[int] = set()  # subscribe requests not acknowledged yet
        self._synced_version = -1
        self.reconnections = 0

    @property
    def share_group(self) -> str | None:
        """The MQTT 5 shared-subscription group of this worker's shard: named after its client id
        (``<client_id>-kofn``), so another deployment, or an earlier run with other client ids whose sessions
        linger, never takes a share of this one's messages."""
        if self.shard is None:
            return None
        return "".join("_" if ch in "/+#" else ch for ch in self.client_id)

    # --- paho callbacks (called from loop_read, in the listener's thread) --------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            return
        if self.shard is None:
            _, mid = client.subscribe(TOPIC_FILTER, qos=1)
            if mid is not None:
                self._pending.add(mid)
        else:  # a reconnection: hold the same subscriptions again (the session normally kept them)
            topics, self._topics = sorted(self._topics), set()
            self._subscribe(client, topics)
        self._connected = True
        if not self._pending:
            self._subscribed = True

    def _subscribe(self, client, topics: list[str]) -> None:  # type: ignore[no-untyped-def]
        for start in range(0, len(topics), 500):
            chunk = topics[start : start + 500]
            _, mid = client.subscribe([(t, 1) for t in chunk])
            if mid is not None:
                self._pending.add(mid)
            self._topics.update(chunk)

    def _sync_subscriptions(self, client) -> None:  # type: ignore[no-untyped-def]
        """Sharded: hold one shared subscription per device this worker owns (new devices and movements move
        devices between workers; the registry is re-read every ``refresh_s``)."""
        if self.shard is None or self.processor.version == self._synced_version:
            return
        self._synced_version = self.processor.version
        wanted = {f"$share/{self.share_group}/{topic_for(t.value, d)}" for d, t in self.processor.owned.items()}
        add, drop = sorted(wanted - self._topics), sorted(self._topics - wanted)
        self._topics -= set(drop)
        if drop:
            client.unsubscribe(drop)
        self._subscribe(client, add)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        self._pending.discard(mid)
        if not self._pending:
            self._subscribed = True

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        payload = message.payload
        item = (message.mid, message.qos, message.topic, payload, time.time())
        (self._urgent if may_alert(payload) else self._inbox).append(item)

    # --- the network, driven from this thread ------------------------------------------------------------------

    def _pump(self, client, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        return _pump(client, timeout)

    def _batch_limit(self) -> int:
        """How many position reports to process in the next batch: ``batch_size``, or fewer when a batch that large
        would take longer than ``max_batch_s`` at the recently measured cost per event. A long batch delays every
        message read meanwhile, alert-bearing ones included; below ~100 events a batch's fixed costs (commit, one
        evaluation per movement touched) would dominate."""
        return max(100, min(self.batch_size, int(self.max_batch_s / max(self._per_event_s, 1e-6))))

    def _read_ahead(self, client) -> None:  # type: ignore[no-untyped-def]
        """Read what the socket holds, up to ``read_ahead`` messages held and for at most ``read_window_s``, so that
        payloads which may raise an alert are seen (and go first) even while a backlog of position reports waits.
        When the socket is empty and the batch not full, wait for more only until ``batch_wait_s`` after the oldest
        message held was read (never when an alert-bearing payload is waiting)."""
        window_end = time.monotonic() + self.read_window_s
        while len(self._inbox) + len(self._urgent) < self.read_ahead and time.monotonic() < window_end:
            if self._pump(client, 0):
                continue
            if self._urgent or not self._inbox or len(self._inbox) >= self.batch_size:
                return
            wait = min(self._inbox[0][4] + self.batch_wait_s - time.time(), window_end - time.monotonic())
            if wait <= 0 or not self._pump(client, wait):
                return

    def _open(self, client) -> None:  # type: ignore[no-untyped-def]
        """Connect (first time) and wrap the socket paho opened."""
        _connect(client, self.host, self.port, clean_start=False, session_expiry_s=self.session_expiry_s)
        _wrap(client)

    def _reconnect(self, client) -> None:  # type: ignore[no-untyped-def]
        """The broker went away: forget the messages read but not processed (the broker redelivers them to the
        persistent session; acknowledging them by their old packet ids on a new connection would be wrong), then
        reconnect every ``reconnect_every_s`` until it answers or ``stop`` is set."""
        self._inbox.clear()
        self._urgent.clear()
        self._connected = self._subscribed = False
        while not self.stop.is_set():
            try:
                client.reconnect()
            except OSError:
                self.stop.wait(self.reconnect_every_s)
                continue
            _wrap(client)
            self.reconnections += 1
            return

    def _wait_until(self, client, condition: Callable[[], bool], timeout: float) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline and not self.stop.is_set():
            try:
                self._pump(client, 0.05)
            except _ConnectionLost:
                self._reconnect(client)

    def run(self, *, max_messages: int | None = None, idle_timeout: float | None = None) -> ListenerStats:
        client = _client(self.client_id, clean_start=False, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.processor.maybe_refresh()  # registry, movements and their histories loaded before the first message
        settle_heap()
        last_settle = time.monotonic()
        self._open(client)
        self._wait_until(client, lambda: self._connected, 10)
        if self.shard is not None:
            self._sync_subscriptions(client)
            if not self._pending:
                self._subscribed = True
        self._wait_until(client, lambda: self._subscribed, 10)
        if self.on_ready:
            self.on_ready()
        last_message = last_sweep = last_misc = time.monotonic()
        try:
            while not self.stop.is_set():
                try:
                    self._pump(client, 0 if self._inbox or self._urgent else 0.1)
                    self._read_ahead(client)
                except _ConnectionLost:
                    self._reconnect(client)
                    continue
                now = time.monotonic()
                if now - last_misc >= 1.0:
                    client.loop_misc()  # keep-alive pings
                    last_misc = now
                if not self._inbox and not self._urgent:
                    if idle_timeout is not None and now - last_message >= idle_timeout:
                        break
                    if self.shard is not None:
                        self.processor.maybe_refresh()
                        self._sync_subscriptions(client)
                    continue
                last_message = now
                # payloads that may raise an alert go first, in a batch of their own
                if self._urgent:
                    batch, self._urgent = self._urgent[: self.batch_size], self._urgent[self.batch_size :]
                    self._process(client, batch)
                else:
                    size = self._batch_limit()
                    batch, self._inbox = self._inbox[:size], self._inbox[size:]
                    began = time.perf_counter()
                    self._process(client, batch)
                    if len(batch) >= 50:  # learn the cost of an event from batches large enough to show it
                        per_event = (time.perf_counter() - began) / len(batch)
                        self._per_event_s = 0.8 * self._per_event_s + 0.2 * per_event
                try:
                    if client.want_write() and client.loop_write() != 0:  # the acknowledgements
                        raise _ConnectionLost
                except _ConnectionLost:
                    self._reconnect(client)
                self._sync_subscriptions(client)
                if time.monotonic() - last_sweep >= self.sweep_every_s:
                    self.processor.sweep()
                    last_sweep = time.monotonic()
                if time.monotonic() - last_settle >= SETTLE_EVERY_S:
                    settle_heap()
                    last_settle = time.monotonic()
                if max_messages is not None and self.stats.received >= max_messages:
                    break
        finally:
            client.disconnect()  # written at once (no network thread); unprocessed messages stay unacknowledged
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
        if self.stats.first_message_at is None:
            self.stats.first_message_at = batch[0][4]
        report = self.processor.process(payloads)
        self.stats.last_commit_at = report.committed_at
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
    """Publish (topic, payload) pairs and wait until the broker has acknowledged every QoS 1 message. ``rate``:
    messages per second at most. One thread drives the network (as in :class:`Listener`), so a message leaves when
    ``publish`` is called rather than when a network thread next gets the GIL."""
    client = _client(client_id, clean_start=True, manual_ack=False)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    _connect(client, host, port, clean_start=True)
    _wrap(client)
    infos = []
    sent = 0
    try:
        deadline = time.monotonic() + 10
        while not client.is_connected():
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(f"the MQTT broker at {host}:{port} did not accept the connection")
            _pump(client, 0.05)
        began = time.monotonic()
        for topic, payload in messages:
            infos.append(client.publish(topic, payload, qos=qos))
            sent += 1
            if rate:
                while (ahead := sent / rate - (time.monotonic() - began)) > 0:
                    _pump(client, ahead)  # acknowledgements are read while waiting
            if sent % 20 == 0:
                _pump(client, 0)
        deadline = time.monotonic() + 60
        while not all(info.is_published() for info in infos) and time.monotonic() < deadline:
            _pump(client, 0.05)
    except _ConnectionLost as exc:
        raise BrokerUnavailableError(f"lost the connection to the MQTT broker at {host}:{port}") from exc
    finally:
        client.disconnect()
    return sent


def broker_reachable(host: str = "127.0.0.1", port: int = 1883, timeout: float = 1.0) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _worker(
    url: str,
    shard: tuple[int, int],
    movement_loader: Callable[[Any, Any], list[Any]],
    options: dict[str, Any],
    run_options: dict[str, Any],
    on_alert: Callable[[Any], None] | None,
    on_ready: Callable[[int], None] | None,
    results: Any,
) -> None:
    """One listener process of ``run_workers`` (a fresh interpreter: its own engine, pipeline and MQTT session)."""
    from opencustoms.store.database import open_database

    engine = open_database(url)

    def on_batch(report: IngestReport, n: int) -> None:
        for alert in report.alerts:
            on_alert(alert)  # type: ignore[misc]

    processor = Processor(engine, movement_loader=movement_loader, shard=shard)
    listener = Listener(
        engine,
        processor,
        on_batch=on_batch if on_alert else None,
        on_ready=(lambda: on_ready(shard[0])) if on_ready else None,
        **options,
    )
    try:
        stats = listener.run(**run_options)
    except KeyboardInterrupt:
        stats = listener.stats
    results.put({"worker": shard[0], **stats.as_dict()})
    engine.dispose()


def run_workers(
    url: str,
    workers: int,
    movement_loader: Callable[[Any, Any], list[Any]],
    *,
    host: str = "127.0.0.1",
    port: int = 1883,
    client_id: str = DEFAULT_CLIENT_ID,
    session_expiry_s: int = SESSION_EXPIRY_S,
    batch_size: int = 2000,
    batch_wait_s: float = 0.02,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
    on_alert: Callable[[Any], None] | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``workers`` listener processes, worker k subscribing (client id and shared subscription group
    ``<client_id>-kofn``, persistent session) to the topics of the devices ``device_shards`` gives it.
    Returns, per worker, ``ListenerStats.as_dict()`` with ``worker`` (k) once they all stop (``max_messages`` and
    ``idle_timeout`` apply to each worker). ``movement_loader``, ``on_alert`` (each alert, after its batch commits) and
    ``on_ready`` (worker k connected, subscribed and warmed up) must be module-level functions (they are sent to the
    worker processes)."""
    import multiprocessing

    if workers < 1:
        raise ValueError("workers must be 1 or more")
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = []
    for k in range(workers):
        options = {
            "host": host,
            "port": port,
            "client_id": f"{client_id}-{k}of{workers}",
            "session_expiry_s": session_expiry_s,
            "batch_size": batch_size,
            "batch_wait_s": batch_wait_s,
        }
        run_options = {"max_messages": max_messages, "idle_timeout": idle_timeout}
        process = context.Process(
            target=_worker,
            args=(url, (k, workers), movement_loader, options, run_options, on_alert, on_ready, results),
            name=f"opencustoms-iot-listener-{k}of{workers}",
        )
        process.start()
        processes.append(process)
    out: list[dict[str, Any]] = []
    try:
        while len(out) < workers:  # read before joining: a child exits only once its result is read
            try:
                out.append(results.get(timeout=0.5))
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    break
    finally:
        for process in processes:
            process.join(timeout=30)
    failed = [p.name for p in processes if p.exitcode not in (0, None)]
    if failed:
        raise BrokerUnavailableError(f"listener processes {', '.join(failed)} failed; see their output above")
    return sorted(out, key=lambda r: r["worker"])
