"""Vendor formats → :class:`DeviceEvent`. Each adapter reads one payload (one MQTT message, one uploaded line or
document) and returns, per record, either an event or a :class:`Rejection` saying why the record is unusable.
Adapters never raise on bad input: ingestion quarantines rejections with their reason.

Supported formats (docs/iot.md describes them field by field):

* ``eseal_text`` — the OpenCustoms e-seal line protocol, modelled on the ASCII protocols of GPS trackers and
  e-seals (Queclink ``+RESP:``, Meitrack ``$$``, NMEA): ``$ESEAL,1,<device>,<seq>,<yymmddhhmmss>,<event>,<A|V>,
  <lat>,<lon>,<speed km/h>,<course>,<seal id>,<L|O>,<battery %>[,<k=v;k=v>]*<XOR checksum>``. Several records may
  be sent in one payload, one per line (store-and-forward after a coverage gap).
* ``flespi_json`` — flat dotted keys as flespi and Traccar's JSON forwarders emit (``ident``, ``timestamp``,
  ``position.latitude``, ``lock.state``, ``case.tamper.status``, ...), one object or an array.
* ``native_json`` — :class:`DeviceEvent` version 1 itself, one object or an array (gates, portals, scanners).
* ``nmea_ais`` — AIVDM/AIVDO sentences, multi-sentence messages assembled, optional NMEA 4.10 tag blocks
  (``c:`` gives the receiver's time), decoded by pyais (every message type it knows).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from opencustoms.iot.events import DeviceEvent, EventKind
from opencustoms.jsondepth import too_deep

KNOTS_TO_KMH = 1.852


@dataclass(frozen=True)
class Rejection:
    reason_code: str
    reason: str
    raw: str
    device_id: str | None = None


Decoded = list[DeviceEvent | Rejection]


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_url=False)[:3]:
        loc = ".".join(str(p) for p in e["loc"]) or "payload"
        message = str(e["msg"]).removeprefix("Value error, ")
        parts.append(message if message.startswith(loc) else f"{loc}: {message}")  # some messages name a sub-field
    return "; ".join(parts)


# --- JSON ----------------------------------------------------------------------------------------------------

MAX_JSON_DEPTH = 16  # nested arrays / objects in one JSON payload (an event's attributes: events.MAX_ATTRIBUTES_DEPTH)


def load_json(payload: str) -> Any | Rejection:
    """A JSON payload, or the reason it is unusable (not JSON, nested too deeply, a number too long to convert)."""
    if too_deep(payload, MAX_JSON_DEPTH):  # the parser recurses once per level: refused before it runs
        return Rejection(
            "too_deep",
            f"the JSON payload nests arrays / objects more than {MAX_JSON_DEPTH} levels deep; flatten it",
            payload[:4000],
        )
    try:
        return json.loads(payload)
    except json.JSONDecodeError as exc:
        return Rejection("malformed", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", payload[:4000])
    except (ValueError, RecursionError) as exc:  # an integer of more than 4,300 digits
        reason = "a number has more than 4,300 digits" if "digits" in str(exc) else exc.__class__.__name__
        return Rejection("malformed", f"not usable JSON: {reason}", payload[:4000])


def _event(raw: str, source_device: str | None, **data: Any) -> DeviceEvent | Rejection:
    try:
        return DeviceEvent(**data)
    except ValidationError as exc:
        return Rejection("invalid_field", _validation_reason(exc), raw, source_device)


# --- eseal_text ----------------------------------------------------------------------------------------------

ESEAL_EVENTS = {
    "POS": EventKind.POSITION,
    "LCK": EventKind.SEAL_CLOSED,
    "OPN": EventKind.SEAL_OPENED,
    "TMP": EventKind.SEAL_TAMPER,
    "CUT": EventKind.SEAL_CUT,
    "LBT": EventKind.LOW_BATTERY,
}
ESEAL_FIELDS = (
    "tag",
    "version",
    "device",
    "seq",
    "time",
    "event",
    "fix",
    "lat",
    "lon",
    "speed",
    "course",
    "seal",
    "lock",
    "battery",
)


def nmea_checksum(body: str) -> str:
    """The XOR of the body's bytes as two hex digits, folded in halves as one integer (a few C-level operations
    instead of a Python loop per character)."""
    data = body.encode("ascii", "replace")
    n = len(data)
    value = int.from_bytes(data, "big")
    while n > 1:
        half = n // 2
        value = (value >> (8 * half)) ^ (value & ((1 << (8 * half)) - 1))
        n -= half
    return f"{value:02X}"


def encode_eseal_text(
    device_id: str,
    seq: int,
    when: dt.datetime,
    event: str,
    *,
    latitude: float | None,
    longitude: float | None,
    speed_kmh: float = 0.0,
    course: float = 0.0,
    seal_id: str = "",
    locked: bool = True,
    battery: float = 100.0,
    extra: dict[str, Any] | None = None,
) -> str:
    """One record in the eseal_text protocol (for simulators, tests and vendor integrators)."""
    fix = "A" if latitude is not None and longitude is not None else "V"
    fields = [
        "$ESEAL",
        "1",
        device_id,
        str(seq),
        when.astimezone(dt.UTC).strftime("%y%m%d%H%M%S"),
        event,
        fix,
        f"{latitude:.6f}" if fix == "A" else "",
        f"{longitude:.6f}" if fix == "A" else "",
        f"{speed_kmh:.1f}",
        f"{course:.0f}",
        seal_id,
        "L" if locked else "O",
        f"{battery:.0f}",
    ]
    if extra:
        fields.append(";".join(f"{k}={v}" for k, v in extra.items()))
    body = ",".join(fields)
    return f"{body}*{nmea_checksum(body[1:])}"


def _eseal_record(line: str, received_at: dt.datetime) -> Decoded:
    raw = line
    if not line.startswith("$ESEAL,"):
        return [Rejection("malformed", "an eseal_text record starts with '$ESEAL,'", raw)]
    body, star, checksum = line.rpartition("*")
    if not star:
        return [Rejection("malformed", "missing '*HH' checksum at the end of the record", raw)]
    if nmea_checksum(body[1:]) != checksum.strip().upper():
        return [
            Rejection(
                "bad_checksum",
                f"checksum {checksum.strip()!r} does not match the record "
                f"(expected {nmea_checksum(body[1:])}); the line was corrupted",
                raw,
            )
        ]
    parts = body.split(",")
    if len(parts) not in (len(ESEAL_FIELDS), len(ESEAL_FIELDS) + 1):
        return [
            Rejection(
                "malformed",
                f"an eseal_text record has {len(ESEAL_FIELDS)} fields (plus an optional "
                f"k=v;k=v field); this one has {len(parts)}",
                raw,
            )
        ]
    f = dict(zip(ESEAL_FIELDS, parts, strict=False))
    device_id = f["device"] or None
    if f["version"] != "1":
        return [
            Rejection(
                "unsupported_version", f"eseal_text version {f['version']!r}; only version 1 is known", raw, device_id
            )
        ]
    if f["event"] not in ESEAL_EVENTS:
        return [
            Rejection("malformed", f"event code {f['event']!r} is not one of {', '.join(ESEAL_EVENTS)}", raw, device_id)
        ]
    try:
        stamp = f["time"]
        if len(stamp) != 12 or not stamp.isdigit():
            raise ValueError(stamp)
        when = dt.datetime(
            2000 + int(stamp[0:2]),
            int(stamp[2:4]),
            int(stamp[4:6]),
            int(stamp[6:8]),
            int(stamp[8:10]),
            int(stamp[10:12]),
            tzinfo=dt.UTC,
        )
    except ValueError:
        return [Rejection("malformed", f"time {f['time']!r} is not yymmddhhmmss (UTC)", raw, device_id)]
    extra: dict[str, Any] = {}
    if len(parts) > len(ESEAL_FIELDS) and parts[-1]:
        for item in parts[-1].split(";"):
            key, eq, value = item.partition("=")
            if not eq or not key:
                return [Rejection("malformed", f"extra field item {item!r} is not key=value", raw, device_id)]
            extra[key] = value
    try:
        has_fix = f["fix"] == "A"
        lat = float(f["lat"]) if has_fix else None
        lon = float(f["lon"]) if has_fix else None
        speed = float(f["speed"]) if f["speed"] else None
        course = float(f["course"]) if f["course"] else None
        battery = float(f["battery"]) if f["battery"] else None
    except ValueError as exc:
        return [Rejection("malformed", f"a numeric field is not a number ({exc})", raw, device_id)]
    if f["fix"] not in ("A", "V"):
        return [Rejection("malformed", f"fix flag {f['fix']!r} must be A (valid) or V (no fix)", raw, device_id)]
    if f["lock"] not in ("L", "O"):
        return [Rejection("malformed", f"lock state {f['lock']!r} must be L (locked) or O (open)", raw, device_id)]
    attributes: dict[str, Any] = {"vendor": extra} if extra else {}
    attributes["locked"] = f["lock"] == "L"
    return [
        _event(
            raw,
            device_id,
            device_id=f["device"],
            event_id=f"s{f['seq']}",
            kind=ESEAL_EVENTS[f["event"]],
            device_time=when,
            received_at=received_at,
            latitude=lat,
            longitude=lon,
            speed_kmh=speed,
            course=course,
            seal_id=f["seal"] or None,
            battery_percent=battery,
            attributes=attributes,
        )
    ]


def decode_eseal_text(payload: str, received_at: dt.datetime) -> Decoded:
    out: Decoded = []
    for line in payload.replace("\r", "\n").split("\n"):
        if line.strip():
            out.extend(_eseal_record(line.strip(), received_at))
    return out


# --- flespi_json -----------------------------------------------------------------------------------------------


def _flespi_record(item: Any, received_at: dt.datetime) -> Decoded:
    raw = json.dumps(item, separators=(",", ":"), default=str)[:4000]
    if not isinstance(item, dict):
        return [Rejection("malformed", "each flespi_json record must be a JSON object", raw)]
    ident = item.get("ident")
    if not isinstance(ident, str) or not ident:
        return [Rejection("malformed", "flespi_json record lacks 'ident' (the device id)", raw)]
    ts = item.get("timestamp")
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return [Rejection("malformed", "flespi_json 'timestamp' must be Unix seconds (a number)", raw, ident)]
    try:
        when = dt.datetime.fromtimestamp(float(ts), dt.UTC)
    except (OverflowError, OSError, ValueError):
        return [Rejection("clock_skew", f"timestamp {ts} is not a usable date", raw, ident)]
    seq = item.get("event.seqnum")
    base = f"q{seq}" if isinstance(seq, int) else None
    common: dict[str, Any] = {
        "device_id": ident,
        "device_time": when,
        "received_at": received_at,
        "seal_id": item.get("seal.id"),
        "battery_percent": item.get("battery.level"),
    }
    lat, lon = item.get("position.latitude"), item.get("position.longitude")
    valid = item.get("position.valid", lat is not None and lon is not None)
    position: dict[str, Any] = {}
    if valid and lat is not None and lon is not None:
        position = {
            "latitude": lat,
            "longitude": lon,
            "speed_kmh": item.get("position.speed"),
            "course": item.get("position.direction"),
        }
    known = {
        "ident",
        "timestamp",
        "event.seqnum",
        "seal.id",
        "battery.level",
        "position.latitude",
        "position.longitude",
        "position.valid",
        "position.speed",
        "position.direction",
        "lock.state",
        "case.tamper.status",
        "wire.cut.status",
        "battery.low.status",
    }
    vendor = {k: v for k, v in item.items() if k not in known}
    kinds = [EventKind.POSITION] if position else []
    lock = item.get("lock.state")
    if lock is False:
        kinds.append(EventKind.SEAL_OPENED)
    elif lock is True and item.get("lock.changed") is True:
        kinds.append(EventKind.SEAL_CLOSED)
    if item.get("case.tamper.status") is True:
        kinds.append(EventKind.SEAL_TAMPER)
    if item.get("wire.cut.status") is True:
        kinds.append(EventKind.SEAL_CUT)
    if item.get("battery.low.status") is True:
        kinds.append(EventKind.LOW_BATTERY)
    if not kinds:
        return [
            Rejection("malformed", "flespi_json record carries neither a valid position nor a seal event", raw, ident)
        ]
    attributes: dict[str, Any] = {"vendor": vendor} if vendor else {}
    if isinstance(lock, bool):
        attributes["locked"] = lock
    return [
        _event(
            raw,
            ident,
            **common,
            **position,
            kind=kind,
            attributes=attributes,
            event_id=f"{base}:{kind.value}" if base else None,
        )
        for kind in kinds
    ]


def decode_flespi_json(payload: str, received_at: dt.datetime) -> Decoded:
    data = load_json(payload)
    if isinstance(data, Rejection):
        return [data]
    items = data if isinstance(data, list) else [data]
    return [r for item in items for r in _flespi_record(item, received_at)]


# --- native_json ---------------------------------------------------------------------------------------------


def decode_native_json(payload: str, received_at: dt.datetime) -> Decoded:
    data = load_json(payload)
    if isinstance(data, Rejection):
        return [data]
    out: Decoded = []
    for item in data if isinstance(data, list) else [data]:
        raw = json.dumps(item, separators=(",", ":"), default=str)[:4000]
        if not isinstance(item, dict):
            out.append(Rejection("malformed", "each native_json record must be a JSON object", raw))
            continue
        device_id = item.get("device_id") if isinstance(item.get("device_id"), str) else None
        out.append(_event(raw, device_id, **{**item, "received_at": received_at}))
    return out


# --- nmea_ais ------------------------------------------------------------------------------------------------

AIS_POSITION_TYPES = frozenset({1, 2, 3, 4, 9, 11, 17, 18, 19, 21, 27})
AIS_STATIC_TYPES = frozenset({5, 24})
AIS_UTC_TYPES = frozenset({4, 11})  # base station report, UTC/date response: the station's own UTC time
MAX_AIS_LINE = 1024  # characters of one line: an 82-character sentence with its tag block and receiver metadata
# The sentence up to its checksum, then what some receivers append after it: the US Coast Guard's feed
# (",s36310,d-081,T59.01777335,1428192059"), AIS-catcher and others.
_AIS_SENTENCE = re.compile(rb"^(![A-Z]{2}VD[MO],[^*]*\*[0-9A-Fa-f]{2})(,.*)?$")
# USCG receiver metadata, one field each: s RSSI (receiver units), d signal strength (dBm), t receiver time of day
# (hhmmss.ss), S slot number, T time of arrival within the minute (s), x station counter, r/b/B station id, and
# the receiver's Unix time.
_USCG_FIELDS: tuple[tuple[re.Pattern[str], str, Callable[[str], Any]], ...] = (
    (re.compile(r"s(\d{1,6})"), "rssi", int),
    (re.compile(r"d([-+]?\d{1,4})"), "signal_dbm", int),
    (re.compile(r"t(\d{6}(?:\.\d{1,6})?)"), "time_of_day", str),
    (re.compile(r"S(\d{1,4})"), "slot", int),
    (re.compile(r"T(\d{1,2}(?:\.\d{1,12})?)"), "time_of_arrival_s", float),
    (re.compile(r"x(\d{1,9})"), "station_counter", int),
    (re.compile(r"([rbB][A-Za-z0-9_-]{1,40})"), "station", str),
    (re.compile(r"(\d{9,13})"), "unix_time", int),
)


def split_receiver_metadata(sentence: bytes) -> tuple[bytes, dict[str, Any]]:
    """An AIVDM/AIVDO sentence without what a receiver appended after its ``*hh`` checksum, and that metadata
    (``{}`` when there is none). Known fields are named (``signal_dbm``, ``rssi``, ``slot``, ``time_of_arrival_s``,
    ``station``, ``unix_time``, ...); any other is kept as text in ``other``. pyais would otherwise read the last
    metadata field as the checksum and find it wrong."""
    if sentence[-3:-2] == b"*":  # ends with its checksum: nothing appended (most lines)
        return sentence, {}
    match = _AIS_SENTENCE.match(sentence)
    if match is None or match.group(2) is None:
        return sentence, {}
    meta: dict[str, Any] = {}
    for text in match.group(2)[1:].decode("ascii", "replace").split(","):
        for pattern, name, convert in _USCG_FIELDS:
            found = pattern.fullmatch(text)
            if found is not None and name not in meta:
                meta[name] = convert(found.group(1))
                break
        else:
            if text:
                meta.setdefault("other", []).append(text[:64])
    return match.group(1), meta


def _ais_utc(data: dict[str, Any]) -> dt.datetime | None:
    """The UTC time a type 4 or 11 message carries, or None when it says 'not available' (year 0, month 0, day 0,
    hour 24, minute 60, second 60) or is no date."""
    try:
        return dt.datetime(
            int(data["year"]),
            int(data["month"]),
            int(data["day"]),
            int(data["hour"]),
            int(data["minute"]),
            int(data["second"]),
            tzinfo=dt.UTC,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _unix_time(stamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp / 1000 if stamp > 10**11 else stamp, dt.UTC)


_PLAIN = frozenset({int, float, str, bool, type(None)})


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "value"):  # pyais enums
        return value.value
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


@functools.cache
def _pyais() -> tuple[Any, Any, Any]:
    """pyais, imported on first use (most processes never decode AIS)."""
    from pyais.exceptions import AISBaseException
    from pyais.messages import AISSentence, NMEASentenceFactory

    return AISBaseException, AISSentence, NMEASentenceFactory


@functools.cache
def _ais_layout(cls: Any) -> tuple[Callable[[Any], tuple[Any, ...]], tuple[str, ...], tuple[str, ...]]:
    """Per pyais message class: a C-level getter of its non-spare fields (the keys and order of ``asdict()``), the
    field names, and the fields whose values may need converting to JSON (enums, bytes: those with a converter or
    a bytes type). Plain ints, floats, strings and booleans are taken as they are."""
    import operator

    fields = {f.name: f for f in cls.fields()}
    names = tuple(n for n in cls.__slots__ if not (n in fields and fields[n].metadata.get("is_spare")))
    special = tuple(
        n
        for n in names
        if n not in fields
        or fields[n].metadata.get("to_converter") is not None
        or fields[n].metadata.get("d_type") not in (int, float, bool, str)
    )
    getter = operator.attrgetter(*names)
    return (getter if len(names) > 1 else lambda m: (getter(m),)), names, special


def _ais_fields(decoded: Any) -> dict[str, Any]:
    """``decoded.asdict()`` with JSON-ready values (enums as their numbers, bytes as hex), built in one pass."""
    getter, names, special = _ais_layout(decoded.__class__)
    data = dict(zip(names, getter(decoded), strict=True))
    for name in special:
        value = data[name]
        if type(value) not in _PLAIN:
            data[name] = _jsonable(value)
    return data


def decode_ais_message(
    lines: list[bytes],
    device_id: str,
    received_at: dt.datetime,
    *,
    received_iso: str | None = None,
    raw_lines: list[bytes] | None = None,
    receiver: dict[str, Any] | None = None,
) -> DeviceEvent | Rejection:
    """One assembled AIS message (one or more sentences, tag blocks allowed). ``received_iso`` is
    ``received_at.isoformat()`` when the caller has it (it is part of the event id). ``raw_lines`` are the lines
    as received when ``lines`` are those without the receiver metadata (``split_receiver_metadata``) that
    ``receiver`` holds.

    The event's time (``device_time``) is, by preference: the UTC time a type 4 or 11 message carries; the
    receiver's time from the NMEA tag block (``c:``) or from its metadata (Unix time); the receive time."""
    AISBaseException, AISSentence, NMEASentenceFactory = _pyais()  # noqa: N806 - classes
    shown = raw_lines or lines
    raw = (shown[0] if len(shown) == 1 else b"\n".join(shown)).decode("ascii", "replace")
    receiver = dict(receiver) if receiver else {}
    try:
        if len(lines) == 1:
            message = NMEASentenceFactory.produce(lines[0])
            if not isinstance(message, AISSentence):
                return Rejection("malformed", "not an AIS sentence", raw, device_id)
            if not message.is_valid:
                return Rejection(
                    "bad_checksum", "NMEA checksum does not match the sentence; it was corrupted", raw, device_id
                )
            first = message
        else:
            sentences = [NMEASentenceFactory.produce(line) for line in lines]
            for sentence in sentences:
                if not isinstance(sentence, AISSentence):
                    return Rejection("malformed", "not an AIS sentence", raw, device_id)
            for sentence in sentences:
                if not sentence.is_valid:
                    return Rejection(
                        "bad_checksum", "NMEA checksum does not match the sentence; it was corrupted", raw, device_id
                    )
            message = AISSentence.assemble_from_iterable(sentences)
            first = sentences[0]
        decoded = message.decode()
    except (AISBaseException, ValueError, IndexError, KeyError, TypeError) as exc:
        return Rejection(
            "malformed", f"AIS sentence not decodable: {exc.__class__.__name__}: {exc}"[:500], raw, device_id
        )
    when = received_at
    tag = first.tag_block
    unix = receiver.pop("unix_time", None)
    try:
        if tag is not None:
            tag.init()
            if tag.receiver_timestamp:
                unix = int(tag.receiver_timestamp)
        if unix is not None:
            when = _unix_time(unix)
            receiver["time"] = when.isoformat()
    except (AISBaseException, ValueError, OverflowError, OSError):
        what = "NMEA tag block" if tag is not None else "receiver time after the checksum"
        return Rejection("malformed", f"{what} is unreadable", raw, device_id)
    data = _ais_fields(decoded)
    msg_type = int(data.get("msg_type", 0))
    mmsi = str(data.get("mmsi", "")).zfill(9)
    if msg_type in AIS_UTC_TYPES:
        sent = _ais_utc(data)
        if sent is not None:
            when = sent
    attributes: dict[str, Any] = {"ais": data}
    if receiver:
        attributes["receiver"] = receiver
    fields: dict[str, Any] = {
        "device_id": device_id,
        "device_time": when,
        "received_at": received_at,
        "mmsi": mmsi,
        "attributes": attributes,
    }
    lat, lon = data.get("lat"), data.get("lon")
    if msg_type in AIS_POSITION_TYPES and lat is not None and lon is not None:
        if msg_type == 17:  # pyais returns type 17 (DGNSS broadcast) positions in arc-minutes
            lat, lon = lat / 60.0, lon / 60.0
        if abs(lat) == 91 or abs(lon) == 181:  # AIS 'not available' markers
            return Rejection(
                "no_position", f"AIS type {msg_type} from {mmsi} carries no position (91/181 marker)", raw, device_id
            )
        speed, course, heading = data.get("speed"), data.get("course"), data.get("heading")
        fields.update(
            kind=EventKind.AIS_POSITION,
            latitude=lat,
            longitude=lon,
            speed_kmh=None if speed is None or speed >= 102.3 else round(float(speed) * KNOTS_TO_KMH, 3),
            course=course if isinstance(course, int | float) and 0 <= course < 360 else None,  # 360: not available
            heading=heading if isinstance(heading, int | float) and 0 <= heading < 360 else None,  # 511: n/a
        )
    elif msg_type in AIS_STATIC_TYPES:
        imo = data.get("imo")
        fields.update(
            kind=EventKind.AIS_STATIC, imo=str(imo).zfill(7) if isinstance(imo, int) and 0 < imo < 10_000_000 else None
        )
    else:
        fields["kind"] = EventKind.AIS_OTHER
    stamp_text = received_iso if when is received_at and received_iso else when.isoformat()
    # the raw text includes the receiver's metadata: two receptions of one transmission are two events
    fields["event_id"] = "a:" + hashlib.sha256(f"{raw}{stamp_text}".encode()).hexdigest()[:40]
    return _event(raw, device_id, **fields)


def decode_nmea_ais(payload: str, received_at: dt.datetime, device_id: str = "ais") -> Decoded:
    """AIS sentences, one per line; multi-sentence messages are assembled by (sequence id, channel). Comment
    lines and proprietary sentences ($P...) are skipped."""
    out: Decoded = []
    received_iso = received_at.isoformat()
    pending: dict[tuple[bytes, bytes], list[bytes]] = {}
    pending_meta: dict[tuple[bytes, bytes], tuple[list[bytes], dict[str, Any]]] = {}
    for text_line in payload.splitlines():
        line = text_line.strip()
        if not line or line.startswith("#") or line.startswith("$P"):
            continue
        if len(line) > MAX_AIS_LINE:
            out.append(
                Rejection(
                    "malformed",
                    f"a line of {len(line):,} characters; an AIS sentence with its tag block and receiver metadata "
                    f"has at most {MAX_AIS_LINE:,}",
                    line[:200],
                    device_id,
                )
            )
            continue
        received = line.encode("ascii", "replace")
        prefix, sentence = b"", received
        if received.startswith(b"\\"):  # an NMEA 4.10 tag block: \\...*hh\\ then the sentence
            head, _, sentence = received.rpartition(b"\\")
            prefix = head + b"\\"
        sentence, meta = split_receiver_metadata(sentence)
        data = prefix + sentence if meta else received
        parts = sentence.split(b",")
        if len(parts) < 7 or parts[0][:1] != b"!" or parts[0][-3:] not in (b"VDM", b"VDO"):
            out.append(Rejection("malformed", "not an AIVDM/AIVDO sentence", line, device_id))
            continue
        try:
            count, index = int(parts[1]), int(parts[2])
        except ValueError:
            out.append(Rejection("malformed", "AIS fragment count/number are not numbers", line, device_id))
            continue
        if count == 1:
            out.append(
                decode_ais_message(
                    [data],
                    device_id,
                    received_at,
                    received_iso=received_iso,
                    raw_lines=[received] if meta else None,
                    receiver=meta,
                )
            )
            continue
        key = (parts[3], parts[4])
        group = pending.setdefault(key, [])
        raws, merged = pending_meta.setdefault(key, ([], {}))
        if index == 1:
            group.clear()
            raws.clear()
            merged.clear()
        group.append(data)
        raws.append(received)
        merged.update(meta)  # the fragments' metadata, the last fragment's winning (the message was complete then)
        if index == count:
            out.append(
                decode_ais_message(
                    list(group),
                    device_id,
                    received_at,
                    received_iso=received_iso,
                    raw_lines=list(raws) if merged else None,
                    receiver=dict(merged),
                )
            )
            del pending[key], pending_meta[key]
    for group in pending.values():
        out.append(
            Rejection(
                "incomplete",
                "multi-sentence AIS message missing fragments",
                b"\n".join(group).decode("ascii", "replace"),
                device_id,
            )
        )
    return out


# --- urgency -------------------------------------------------------------------------------------------------

# JSON payloads that may raise an alert at once: a seal opened, tampered with or cut, a low battery (flespi_json
# flags), or a native_json seal event, gate read or radiation scan (the gate decision queue).
_URGENT_JSON = re.compile(
    rb'"lock\.state"\s*:\s*false|\.status"\s*:\s*true'
    rb'|"kind"\s*:\s*"(?:seal_opened|seal_tamper|seal_cut|low_battery|plate_read|container_read|radiation_scan)"'
)


def may_alert(payload: bytes) -> bool:
    """Whether a raw payload may raise an alert by itself (looked at without decoding it): an eseal_text record
    other than a position report (``POS``), or a JSON payload with a seal event, a gate read or a radiation scan.
    The MQTT listener processes such payloads ahead of the position reports read with them, in their own small
    transaction, so an alert does not wait for a large batch of fixes. Only the order changes: the rules place
    events by device time, and a wrong guess here costs nothing but that order."""
    head = payload[:1]
    if head == b"$":
        return payload.count(b",POS,") < payload.count(b"$ESEAL,")
    if head in (b"{", b"["):
        return _URGENT_JSON.search(payload) is not None
    return False


# --- detection -----------------------------------------------------------------------------------------------

FORMATS: dict[str, Callable[[str, dt.datetime], Decoded]] = {
    "eseal_text": decode_eseal_text,
    "flespi_json": decode_flespi_json,
    "native_json": decode_native_json,
    "nmea_ais": decode_nmea_ais,
}


def detect_format(payload: str) -> str | None:
    head = payload.lstrip()[:200]
    if head.startswith("$ESEAL"):
        return "eseal_text"
    if head.startswith(("!AI", "\\")) or head.startswith("$PGHP") or head.startswith("#"):
        return "nmea_ais"
    if head.startswith(("{", "[")):
        return "flespi_json" if '"ident"' in head else "native_json"
    return None


def decode(
    payload: bytes | str, received_at: dt.datetime, *, fmt: str | None = None, device_id: str | None = None
) -> Decoded:
    """Decode a payload in ``fmt`` (detected when not given)."""
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return [Rejection("malformed", "payload is not UTF-8 text", payload[:2000].hex(), device_id)]
    else:
        text = payload
    chosen = fmt or detect_format(text)
    if chosen is None:
        return [
            Rejection(
                "unknown_format",
                "payload is in no known format (eseal_text, flespi_json, native_json, nmea_ais)",
                text[:4000],
                device_id,
            )
        ]
    if chosen not in FORMATS:
        return [
            Rejection(
                "unknown_format",
                f"format {chosen!r} is unknown; choose one of {', '.join(FORMATS)}",
                text[:4000],
                device_id,
            )
        ]
    if chosen == "nmea_ais":
        return decode_nmea_ais(text, received_at, device_id or "ais")
    return FORMATS[chosen](text, received_at)
