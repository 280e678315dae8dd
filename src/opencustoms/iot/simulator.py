"""A seeded simulator for the demo and the tests: trucks under transit on a corridor with e-seals (some deviating,
stopping, going silent, opened, cut, late), a gate with a mismatched plate, an OCR-confused container number, an
unexpected vehicle and a radiation alarm, and vessels (AIS) meeting at sea. Each scenario states the alerts it must
produce, so a test can compare expected with actual.

``build(engine, actor, start)`` registers the devices, zones, declarations and movements and returns a
``Simulation`` whose ``payloads`` are the messages the devices would send (vendor formats, with topics for MQTT).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opencustoms.iot import adapters
from opencustoms.iot.events import DeviceType
from opencustoms.reference.codes import iso6346_check_digit
from opencustoms.security.service import Identity

# Rotterdam port exit to the Venlo inland customs office, a real-shaped road corridor (longitude, latitude).
CORRIDOR = [(4.20, 51.90), (4.60, 51.84), (5.05, 51.70), (5.50, 51.62), (5.95, 51.45), (6.17, 51.37)]
DEPARTURE: dict[str, Any] = {"type": "circle", "latitude": 51.90, "longitude": 4.20, "radius_m": 1500}
DESTINATION: dict[str, Any] = {"type": "circle", "latitude": 51.37, "longitude": 6.17, "radius_m": 1500}
PORT: dict[str, Any] = {"type": "circle", "latitude": 51.95, "longitude": 4.05, "radius_m": 4000}

TRUCK_SCENARIOS: dict[str, set[str]] = {
    "normal": set(),
    "deviating": {"corridor_deviation"},
    "opened": {"seal_opened_outside_zone"},
    "stopping": {"long_stop"},
    "silent": {"gps_silence"},
    "cut": {"seal_cut"},
    "late": {"late_arrival", "long_stop"},  # parked for five hours on the way
    "low_battery": {"low_battery"},
}
TRUCK_STATUS = {
    "normal": "discharged",
    "deviating": "discharged",
    "opened": "incident",
    "stopping": "discharged",
    "silent": "discharged",
    "cut": "incident",
    "late": "discharged",
    "low_battery": "discharged",
}
GATE_SCENARIOS: dict[str, set[str]] = {
    "clean": set(),
    "plate_mismatch": {"plate_mismatch"},
    "radiation": {"radiation_alarm"},
    "ocr_confused": set(),  # OCR read 'CSQU3O54383' corrected by the check digit, then matched
    "unexpected": {"unexpected_vehicle"},
}


def container_number(owner: str, serial: int) -> str:
    first = f"{owner}U{serial:06d}"
    return first + str(iso6346_check_digit(first))


def topic(device_type: str, device_id: str) -> str:
    return f"opencustoms/{device_type}/{device_id}/events"


@dataclass
class Message:
    device_id: str
    device_type: str
    payload: str
    device_time: dt.datetime

    @property
    def topic(self) -> str:
        return topic(self.device_type, self.device_id)


@dataclass
class Simulation:
    start: dt.datetime
    end: dt.datetime
    messages: list[Message] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    expected_transit: dict[str, set[str]] = field(default_factory=dict)
    expected_status: dict[str, str] = field(default_factory=dict)
    expected_gate: dict[str, set[str]] = field(default_factory=dict)
    expected_vessel: dict[str, set[str]] = field(default_factory=dict)
    ais_lines: list[str] = field(default_factory=list)


def _interpolate(route: np.ndarray, fraction: float) -> tuple[float, float]:
    seg = np.hypot(np.diff(route[:, 0]) * math.cos(math.radians(51.6)), np.diff(route[:, 1]))
    cum = np.concatenate([[0], np.cumsum(seg)])
    target = fraction * cum[-1]
    i = min(int(np.searchsorted(cum, target, side="right")) - 1, len(seg) - 1)
    w = (target - cum[i]) / seg[i]
    lon, lat = route[i] + (route[i + 1] - route[i]) * w
    return float(lat), float(lon)


def _truck_track(scenario: str, start: dt.datetime, rng: random.Random) -> list[dict[str, Any]]:
    """Fixes every 60 s along the corridor, shaped by the scenario."""
    route = np.array(CORRIDOR)
    minutes = 150 if scenario != "late" else 420
    points = []
    t = start
    for k in range(minutes + 1):
        fraction = k / minutes
        lat, lon = _interpolate(route, fraction)
        speed = 60.0 + rng.uniform(-5, 5)
        if scenario == "deviating" and 50 <= k < 70:
            lat += 0.03  # about 3.3 km north of the route for 20 minutes
        if scenario == "stopping" and 60 <= k < 100:
            lat, lon = _interpolate(route, 60 / minutes)
            speed = 0.0
        if scenario == "late" and 100 <= k < 400:
            lat, lon = _interpolate(route, 100 / minutes)
            speed = 0.0
            if k % 10:
                continue  # a parked truck reports every 10 min
        if scenario == "silent" and 40 <= k < 75:
            continue
        points.append({"time": t + dt.timedelta(minutes=k), "lat": lat, "lon": lon, "speed": speed})
    return points


def truck_messages(
    n: int, scenario: str, seal: str, tracker: str, departure: dt.datetime, rng: random.Random
) -> tuple[list[Message], dt.datetime]:
    """What truck ``n``'s e-seal and GPS tracker send on a trip of ``scenario`` (one of TRUCK_SCENARIOS) along the
    corridor from ``departure``: the seal locked before leaving, fixes every minute (the seal's every ten), the
    scenario's seal event halfway, the seal opened at the destination. Returns the messages and the last one's time."""
    messages: list[Message] = []
    track = _truck_track(scenario, departure, rng)
    seq = 0
    sealed_msg = adapters.encode_eseal_text(
        seal,
        seq,
        departure - dt.timedelta(minutes=5),
        "LCK",
        latitude=DEPARTURE["latitude"],
        longitude=DEPARTURE["longitude"],
        seal_id=f"SEAL{n:06d}",
        battery=90,
    )
    messages.append(Message(seal, "e_seal", sealed_msg, departure - dt.timedelta(minutes=5)))
    for i, p in enumerate(track):
        body = {
            "ident": tracker,
            "timestamp": p["time"].timestamp(),
            "event.seqnum": i,
            "position.latitude": round(p["lat"], 6),
            "position.longitude": round(p["lon"], 6),
            "position.speed": round(p["speed"], 1),
            "position.direction": 110,
            "position.valid": True,
        }
        messages.append(Message(tracker, "gps_tracker", json.dumps(body), p["time"]))
        if i % 10 == 0:  # the seal reports its own fix every 10 minutes
            seq += 1
            messages.append(
                Message(
                    seal,
                    "e_seal",
                    adapters.encode_eseal_text(
                        seal,
                        seq,
                        p["time"],
                        "POS",
                        latitude=p["lat"],
                        longitude=p["lon"],
                        speed_kmh=p["speed"],
                        seal_id=f"SEAL{n:06d}",
                        battery=80,
                    ),
                    p["time"],
                )
            )
    middle = track[len(track) // 2]
    extra = {"opened": "OPN", "cut": "CUT", "low_battery": "LBT"}.get(scenario)
    if extra:
        seq += 1
        when = middle["time"] + dt.timedelta(seconds=20)
        messages.append(
            Message(
                seal,
                "e_seal",
                adapters.encode_eseal_text(
                    seal,
                    seq,
                    when,
                    extra,
                    latitude=None,
                    longitude=None,
                    seal_id=f"SEAL{n:06d}",
                    locked=extra not in ("OPN", "CUT"),
                    battery=12 if extra == "LBT" else 80,
                ),
                when,
            )
        )
    end = track[-1]["time"]
    seq += 1
    messages.append(
        Message(
            seal,
            "e_seal",
            adapters.encode_eseal_text(
                seal,
                seq,
                end + dt.timedelta(minutes=2),
                "OPN",
                latitude=DESTINATION["latitude"],
                longitude=DESTINATION["longitude"],
                seal_id=f"SEAL{n:06d}",
                locked=False,
            ),
            end + dt.timedelta(minutes=2),
        )
    )
    return messages, end + dt.timedelta(minutes=2)


def gate_messages(
    gate_id: str,
    passage: str,
    when: dt.datetime,
    devices: tuple[str, str, str],
    read_plate: str,
    read_container: str | None,
    radiation_alarm: bool = False,
) -> list[Message]:
    """One passage through a gate: what its plate camera, container OCR and radiation portal (``devices``, in that
    order) send (no container read when ``read_container`` is None)."""
    camera, ocr, portal = devices
    messages: list[Message] = []
    common = {"gate_id": gate_id, "passage_id": passage, "device_time": when.isoformat()}
    messages.append(
        Message(
            camera,
            "plate_camera",
            json.dumps(
                {
                    **common,
                    "device_id": camera,
                    "event_id": f"{passage}-lpr",
                    "kind": "plate_read",
                    "plate": read_plate,
                    "confidence": 0.97,
                }
            ),
            when,
        )
    )
    if read_container:
        messages.append(
            Message(
                ocr,
                "container_ocr_gate",
                json.dumps(
                    {
                        **common,
                        "device_id": ocr,
                        "event_id": f"{passage}-ocr",
                        "kind": "container_read",
                        "container_id": read_container,
                        "confidence": 0.91,
                    }
                ),
                when,
            )
        )
    messages.append(
        Message(
            portal,
            "radiation_portal",
            json.dumps(
                {
                    **common,
                    "device_id": portal,
                    "event_id": f"{passage}-rpm",
                    "kind": "radiation_scan",
                    "radiation_alarm": radiation_alarm,
                    "radiation_level": 850.0 if radiation_alarm else 110.0,
                }
            ),
            when,
        )
    )
    return messages


def build(
    engine: Any,
    actor: Identity,
    start: dt.datetime,
    *,
    seed: int = 7,
    trucks_per_scenario: int = 1,
    vessels: bool = True,
) -> Simulation:
    from opencustoms.declarations import service as declarations
    from opencustoms.iot import service

    rng = random.Random(seed)
    sim = Simulation(start, start)
    for zone_id, name, kind, geometry in (
        ("NLRTM-EXIT", "Rotterdam port exit", "customs_office", DEPARTURE),
        ("NLVEN-OFFICE", "Venlo inland office", "customs_office", DESTINATION),
        ("NLRTM-PORT", "Port of Rotterdam", "port", PORT),
    ):
        service.add_zone(engine, actor, zone_id, name, kind, geometry)

    def device(device_id: str, kind: DeviceType, **attributes: Any) -> str:
        _, secret = service.register_device(engine, actor, device_id, kind.value, attributes=attributes)
        sim.secrets[device_id] = secret
        return device_id

    def declaration(reference: str, plate: str, containers: list[str], **transport: Any) -> None:
        declarations.create(
            engine,
            actor,
            {
                "functional_reference_id": reference,
                "type_code": "transit",
                "acceptance_date": start.date().isoformat(),
                "declaration_office_id": "NL000396",
                "procedure_code": "8000",
                "declarant": {"id": "NL100000001", "name": "Kade Brokers BV", "country_code": "NL"},
                "transport": {"mode_code": "3", "id": plate, "container_ids": containers, **transport},
                "goods_items": [
                    {
                        "sequence_number": 1,
                        "hs_code": "847130",
                        "description": "laptops",
                        "customs_value_amount": "45000.00",
                        "customs_value_currency": "EUR",
                        "origin_country_code": "CN",
                        "gross_mass_kg": 2600.0,
                        "net_mass_kg": 2200.0,
                    }
                ],
            },
        )

    n = 0
    for scenario in TRUCK_SCENARIOS:
        for copy in range(trucks_per_scenario):
            n += 1
            plate = f"NL-{10 + n:02d}-TRK"
            container = container_number("TRK", 100 * n + copy)
            seal = device(f"ESEAL-{n:04d}", DeviceType.E_SEAL, format="eseal_text")
            tracker = device(f"GPS-{n:04d}", DeviceType.GPS_TRACKER, format="flespi_json")
            reference = f"TR-{start:%y%m%d}-{n:04d}"
            declaration(reference, plate, [container])
            movement = f"MOV-{n:04d}"
            departure = start
            service.create_transit(
                engine,
                actor,
                {
                    "movement_id": movement,
                    "functional_reference_id": reference,
                    "vehicle_id": plate,
                    "container_ids": [container],
                    "seal_device_ids": [seal],
                    "tracker_device_ids": [tracker],
                    "corridor": CORRIDOR,
                    "tolerance_m": 500,
                    "departure_zone_id": "NLRTM-EXIT",
                    "destination_zone_id": "NLVEN-OFFICE",
                    "departure_time": departure.isoformat(),
                    "time_limit": (departure + dt.timedelta(hours=4)).isoformat(),
                    "rules": {"gps_silence_s": 1200, "max_stop_s": 1800, "off_corridor_grace_s": 300},
                },
            )
            sim.expected_transit[movement] = TRUCK_SCENARIOS[scenario]
            sim.expected_status[movement] = TRUCK_STATUS[scenario]
            messages, end = truck_messages(n, scenario, seal, tracker, departure, rng)
            sim.messages += messages
            sim.end = max(sim.end, end)

    # --- the gate ---------------------------------------------------------------------------------------------
    camera = device("GATE1-LPR", DeviceType.PLATE_CAMERA, gate_id="GATE1", format="native_json")
    ocr = device("GATE1-OCR", DeviceType.CONTAINER_OCR_GATE, gate_id="GATE1", format="native_json")
    portal = device("GATE1-RPM", DeviceType.RADIATION_PORTAL, gate_id="GATE1", format="native_json")
    gate_time = start + dt.timedelta(minutes=30)
    for k, scenario in enumerate(GATE_SCENARIOS):
        plate = f"NL-{60 + k:02d}-GTE"
        container = container_number("CSQ", 305438 + k)
        declaration(f"IM-{start:%y%m%d}-G{k}", plate, [container])
        passage = f"P{k:04d}"
        when = gate_time + dt.timedelta(minutes=k)
        read_plate = {"plate_mismatch": "NL-99-XYZ", "unexpected": "DE-UN-123"}.get(scenario, plate)
        read_container: str | None = container
        if scenario == "ocr_confused":
            read_container = container[:5] + container[5:].replace("0", "O", 1) if "0" in container[5:] else container
        if scenario == "unexpected":
            read_container = None
        sim.expected_gate[f"GATE1/{passage}"] = GATE_SCENARIOS[scenario]
        sim.messages += gate_messages(
            "GATE1", passage, when, (camera, ocr, portal), read_plate, read_container, scenario == "radiation"
        )

    if vessels:
        device("AIS-RX1", DeviceType.AIS_RECEIVER, format="nmea_ais")
        sim.ais_lines, sim.expected_vessel = ais_scenario(start)
        # a realistic receiver uploads a few hundred sentences per message
        for i in range(0, len(sim.ais_lines), 200):
            sim.messages.append(Message("AIS-RX1", "ais_receiver", "\n".join(sim.ais_lines[i : i + 200]), start))
    sim.messages.sort(key=lambda m: m.device_time)
    return sim


def _tag(sentence: str, when: dt.datetime) -> str:
    body = f"c:{int(when.timestamp())}"
    return f"\\{body}*{adapters.nmea_checksum(body)}\\{sentence}"


def ais_position_lines(mmsi: int, when: dt.datetime, lat: float, lon: float, speed: float) -> list[str]:
    """A position report (AIS type 1) as a receiver logs it: NMEA sentences with a tag block giving ``when``."""
    from pyais import encode_dict

    return [
        _tag(sentence, when)
        for sentence in encode_dict(
            {"type": 1, "mmsi": mmsi, "lat": lat, "lon": lon, "speed": speed, "course": 90, "heading": 90},
            talker_id="AI",
        )
    ]


def ais_static_lines(
    mmsi: int, when: dt.datetime, imo: int, name: str, callsign: str, ship_type: int = 70
) -> list[str]:
    """A static and voyage report (AIS type 5) naming the vessel, as a receiver logs it."""
    from pyais import encode_dict

    return [
        _tag(sentence, when)
        for sentence in encode_dict(
            {"type": 5, "mmsi": mmsi, "imo": imo, "shipname": name, "callsign": callsign, "ship_type": ship_type},
            talker_id="AI",
        )
    ]


def ais_scenario(start: dt.datetime) -> tuple[list[str], dict[str, set[str]]]:
    """Two vessels meeting at sea for 3 h at 0.5 knots (an encounter, and both loiter), one vessel silent for 13 h
    (a gap), and one transiting normally; positions every 10 minutes, with tag-block receive times."""
    from pyais import encode_dict

    lines: list[str] = []

    def report(mmsi: int, when: dt.datetime, lat: float, lon: float, speed: float) -> None:
        lines.extend(ais_position_lines(mmsi, when, lat, lon, speed))

    steps = 6 * 18  # 18 hours every 10 minutes
    for k in range(steps):
        when = start + dt.timedelta(minutes=10 * k)
        # 244000001 and 244000002 drift together 50 km off the coast between hours 4 and 7
        for mmsi, offset, heading in ((244000001, 0.0, 1), (244000002, 0.002, -1)):
            if 24 <= k < 42:
                report(mmsi, when, 52.30 + offset, 3.50 + 0.0001 * (k - 24), 0.5)
            else:  # approaching from opposite sides, leaving in opposite directions
                moved = (k - 24) if k < 24 else (k - 41)
                report(mmsi, when, 52.30 + offset + heading * moved * 0.01, 3.50 + 0.0017 * (k >= 42), 10.0)
        # 244000003 transits steadily, then goes dark for 13 hours
        if not 12 <= k < 12 + 78:
            report(244000003, when, 51.80, 2.5 + k * 0.02, 12.0)
        # 244000004 steams across
        report(244000004, when, 51.60, 2.0 + k * 0.025, 15.0)
    # a type 5 static message linking 244000001 to its IMO number
    for sentence in encode_dict(
        {
            "type": 5,
            "mmsi": 244000001,
            "imo": 9074729,
            "shipname": "NORTH SEA TRADER",
            "callsign": "PD1234",
            "ship_type": 70,
        },
        talker_id="AI",
    ):
        lines.append(_tag(sentence, start))
    expected = {
        "244000001": {"vessel_encounter", "vessel_loitering"},
        "244000002": {"vessel_encounter", "vessel_loitering"},
        "244000003": {"ais_gap"},
        "244000004": set(),
    }
    return lines, expected


# --- X-ray scans -----------------------------------------------------------------------------------------------

SCANNER_ID = "XRAY-1"
SCAN_SITE = "NLRTM-XRAY"


def xray_views(seed: int, anomaly: bool, width: int = 640, height: int = 200) -> tuple[dict[str, bytes], dict]:
    """Synthetic 16-bit transmission images of a loaded 40-foot container (bright: little attenuation), a top and
    a side view; with ``anomaly`` a dense, irregular mass sits inside the load (concealment). Returns the PNG views
    and, for an anomaly, where it is (``{"view", "x", "y", "w", "h"}`` on the top view)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    views: dict[str, bytes] = {}
    where: dict[str, Any] = {}
    pallets = int(rng.integers(6, 11))
    for view, h in (("top", height), ("side", int(height * 1.2))):
        image = np.full((h, width), 58_000.0)
        top, bottom, left, right = int(h * 0.1), int(h * 0.9), int(width * 0.03), int(width * 0.97)
        image[top:bottom, left:right] -= 9_000  # the container's walls and floor
        image[top : top + 3, left:right] -= 14_000
        image[bottom - 3 : bottom, left:right] -= 14_000
        image[top:bottom, left : left + 4] -= 16_000
        image[top:bottom, right - 4 : right] -= 16_000
        span = (right - left - 20) / pallets
        for p in range(pallets):  # goods on pallets, a regular density per pallet
            x0 = int(left + 10 + p * span)
            x1 = int(x0 + span * 0.86)
            y0 = int(top + 8 + rng.integers(0, max(1, (bottom - top) // 6)))
            image[y0 : bottom - 6, x0:x1] -= float(rng.uniform(12_000, 20_000))
            for row in range(y0, bottom - 6, 12):  # cartons
                image[row : row + 1, x0:x1] -= 2_500
        if anomaly:
            cx, cy = int(left + (right - left) * rng.uniform(0.35, 0.65)), int((top + bottom) / 2)
            rx, ry = int(width * 0.05), int(h * 0.13)
            yy, xx = np.ogrid[:h, :width]
            wobble = 1 + 0.25 * np.sin(np.arctan2(yy - cy, xx - cx) * 5)
            blob = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= wobble
            image[blob] -= 16_000
            if view == "top":
                where = {"view": "top", "x": cx - 2 * rx, "y": cy - 2 * ry, "w": 4 * rx, "h": 4 * ry}
        image += rng.normal(0, 600, image.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(image, 0, 65_535).astype(np.uint16)).save(buffer, "PNG")
        views[view] = buffer.getvalue()
    return views, where


def build_scans(
    engine: Any,
    actor: Identity,
    store: Any,
    start: dt.datetime,
    cases: list[tuple[str, bool]],
    *,
    register_scanner: bool = True,
) -> list[dict[str, Any]]:
    """Scan records for the demo's review queue: one scan per (declaration reference, anomaly) case, linked to the
    declaration and its containers, with a top and a side view. Returns the recorded scans (plus where the anomaly
    is, under ``anomaly``)."""
    from sqlalchemy import select

    from opencustoms.iot import service
    from opencustoms.store.tables import declaration_containers, declarations

    if register_scanner:
        service.register_device(
            engine, actor, SCANNER_ID, DeviceType.XRAY_SCANNER.value, label="Port exit drive-through X-ray"
        )
    out = []
    for k, (reference, anomaly) in enumerate(cases):
        with engine.connect() as conn:
            containers = list(
                conn.execute(
                    select(declaration_containers.c.container_id)
                    .join(declarations, declarations.c.id == declaration_containers.c.declaration_id)
                    .where(declarations.c.functional_reference_id == reference)
                    .order_by(declaration_containers.c.position)
                ).scalars()
            )
        views, where = xray_views(1000 + k, anomaly)
        scan = service.add_scan(
            engine,
            actor,
            store,
            {
                "scan_id": f"SCAN-{start:%y%m%d}-{k + 1:03d}",
                "device_id": SCANNER_ID,
                "site": SCAN_SITE,
                "scan_type": "dual_energy" if k % 2 else "xray_transmission",
                "scanned_at": (start + dt.timedelta(minutes=7 * k)).isoformat(),
                "functional_reference_ids": [reference],
                "container_ids": containers[:2],
                "energy_kev": 6000.0,
                "dose_ugy": 12.0,
                "operator": "scanner-operator-1",
            },
            views,
        )
        out.append({**scan, "anomaly": where or None})
    return out
