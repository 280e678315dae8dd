from __future__ import annotations

import datetime as dt
import json

import pytest
from iot_helpers import NOW
from sqlalchemy import func, select

from opencustoms import signals
from opencustoms.iot import adapters, service
from opencustoms.iot.errors import DeviceAuthenticationError
from opencustoms.iot.ingest import MAX_PAYLOAD_BYTES, Payload, Processor, device_shards
from opencustoms.iot.tables import iot_events, iot_quarantine


def _register(engine, operator):  # type: ignore[no-untyped-def]
    _, seal_secret = service.register_device(engine, operator, "ES1", "e_seal", attributes={"format": "eseal_text"})
    service.register_device(engine, operator, "CAM1", "plate_camera")
    return seal_secret


def _line(seq: int, when: dt.datetime, lat: float = 51.9, lon: float = 4.2, event: str = "POS", **kw) -> str:  # type: ignore[no-untyped-def]
    return adapters.encode_eseal_text("ES1", seq, when, event, latitude=lat, longitude=lon, speed_kmh=50, **kw)


def test_bad_input_is_quarantined_with_reasons_never_raised(engine, operator, fixed_processor) -> None:
    secret = _register(engine, operator)
    good = _line(1, NOW - dt.timedelta(minutes=5))
    payloads = [
        Payload(good, "http", device_id="ES1", secret=secret),
        Payload(_line(2, NOW), "http", device_id="ES1", secret="ocd_wrong"),
        Payload(_line(3, NOW), "http", device_id="GHOST", secret=secret),
        Payload(_line(4, NOW, lat=95.0), "mqtt", device_id="ES1", authenticated=True),
        Payload(_line(5, NOW, lat=0.0, lon=0.0), "mqtt", device_id="ES1", authenticated=True),
        Payload(_line(6, NOW + dt.timedelta(hours=2)), "mqtt", device_id="ES1", authenticated=True),
        Payload(_line(7, NOW - dt.timedelta(minutes=4), lat=53.5), "mqtt", device_id="ES1", authenticated=True),
        Payload(
            adapters.encode_eseal_text("ES1", 8, NOW, "POS", latitude=51.9, longitude=4.2, speed_kmh=900),
            "mqtt",
            device_id="ES1",
            authenticated=True,
        ),
        Payload("garbage", "mqtt", device_id="ES1", authenticated=True),
        Payload(_line(9, NOW), "mqtt", device_id="CAM1", device_type="plate_camera", authenticated=True),
        Payload(_line(10, NOW), "mqtt", device_id="ES1", device_type="gps_tracker", authenticated=True),
        Payload(
            json.dumps({"device_id": "CAM1", "kind": "seal_opened", "device_time": NOW.isoformat()}),
            "mqtt",
            device_id="CAM1",
            authenticated=True,
        ),
    ]
    report = fixed_processor.process(payloads)
    assert report.accepted == 1
    assert report.quarantined == {
        "bad_credentials": 1,
        "unknown_device": 1,
        "impossible_coordinates": 2,
        "clock_skew": 1,
        "impossible_speed": 2,
        "malformed": 1,
        "device_mismatch": 1,
        "device_type_mismatch": 1,
        "kind_not_allowed": 1,
    }
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(iot_quarantine)).scalar_one() == 11
        assert conn.execute(select(func.count()).select_from(iot_events)).scalar_one() == 1
    quarantine = service.quarantine(engine, operator)
    assert quarantine["by_reason"]["impossible_speed"] == 2


def test_redelivery_and_out_of_order_give_exactly_once_effects(engine, operator, fixed_processor) -> None:
    _register(engine, operator)
    lines = [_line(i, NOW - dt.timedelta(minutes=30 - i), lon=4.2 + i * 0.001) for i in range(10)]
    first = fixed_processor.process([Payload("\n".join(lines[5:]), "mqtt", device_id="ES1", authenticated=True)])
    again = fixed_processor.process(
        [Payload("\n".join(reversed(lines)), "mqtt", device_id="ES1", authenticated=True)] * 2
    )
    assert (first.accepted, again.accepted, again.duplicates) == (5, 5, 15)
    with engine.connect() as conn:
        times = conn.execute(select(iot_events.c.device_time).order_by(iot_events.c.device_time)).scalars().all()
    assert len(times) == 10 and len(set(times)) == 10


def test_http_batch_with_a_wrong_secret_is_refused(engine, operator) -> None:
    secret = _register(engine, operator)
    with pytest.raises(DeviceAuthenticationError):
        service.ingest_device_batch(engine, "ES1", "ocd_nope", _line(1, dt.datetime.now(dt.UTC)))
    report = service.ingest_device_batch(engine, "ES1", secret, _line(1, dt.datetime.now(dt.UTC)))
    assert report.accepted == 1


def test_gate_reads_queue_a_decision_and_emit_signals(engine, operator, fixed_processor) -> None:
    from opencustoms.declarations import service as declarations

    service.register_device(engine, operator, "CAM1", "plate_camera", attributes={"gate_id": "G1"})
    service.register_device(engine, operator, "OCR1", "container_ocr_gate", attributes={"gate_id": "G1"})
    service.register_device(engine, operator, "RPM1", "radiation_portal", attributes={"gate_id": "G1"})
    declarations.create(
        engine,
        operator,
        {
            "functional_reference_id": "IM-1",
            "type_code": "transit",
            "acceptance_date": "2025-03-04",
            "declaration_office_id": "NL000396",
            "declarant": {"id": "NL100000001", "name": "Kade Brokers BV", "country_code": "NL"},
            "transport": {"mode_code": "3", "id": "NL-12-ABC", "container_ids": ["CSQU3054383"]},
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

    def read(device: str, kind: str, **fields) -> Payload:  # type: ignore[no-untyped-def]
        body = {
            "device_id": device,
            "kind": kind,
            "device_time": NOW.isoformat(),
            "passage_id": "P1",
            "event_id": f"{device}-P1",
            **fields,
        }
        return Payload(json.dumps(body), "mqtt", device_id=device, authenticated=True)

    report = fixed_processor.process(
        [
            read("CAM1", "plate_read", plate="NL 99 XYZ", confidence=0.95),
            read("OCR1", "container_read", container_id="CSQU3O54383", confidence=0.9),
            read("RPM1", "radiation_scan", radiation_alarm=True, radiation_level=900),
        ]
    )
    [decision] = service.gate_queue(engine, operator)
    assert {r["code"] for r in decision["reasons"]} == {"plate_mismatch", "radiation_alarm"}
    assert decision["functional_reference_ids"] == ["IM-1"]
    assert decision["reads"]["containers"][0]["number"] == "CSQU3054383"
    assert {a.kind for a in report.alerts} == {"plate_mismatch", "radiation_alarm"}
    found = signals.for_subjects(engine, [(signals.SubjectType.DECLARATION, "IM-1")])
    assert {s.kind for s in found} == {"iot.plate_mismatch", "iot.radiation_alarm"}
    assert service.decide_gate(engine, operator, decision["id"], "inspect")["status"] == "inspect"
    assert service.gate_queue(engine, operator) == []


def test_device_shards_keep_the_devices_of_a_movement_together() -> None:
    devices = [f"D{n:03d}" for n in range(200)]
    movements = [["D001", "D150"], ["D150", "D077"], ["D010", "D011", "D012"]]
    for n in (1, 2, 3):
        owner = device_shards(devices, movements, n)
        assert set(owner) == set(devices) and set(owner.values()) == set(range(n))
        assert owner["D001"] == owner["D150"] == owner["D077"]  # linked through D150
        assert owner["D010"] == owner["D011"] == owner["D012"]
        assert owner == device_shards(list(reversed(devices)), list(reversed(movements)), n)  # order-free
    with pytest.raises(ValueError, match="shard 2 of 2"):
        Processor(None, shard=(2, 2))  # type: ignore[arg-type]


def test_a_seal_clock_running_ahead_raises_one_alert_not_one_silence_per_fix(engine, operator) -> None:
    """A seal opening dated two hours after the tracker's fixes (its clock runs ahead), then more fixes dated before
    it: the opening raises its alert once, and the fixes raise nothing. Judged as of the opening's time, each fix used
    to open a new 'silent since this fix' episode: one gps_silence alert (and three signals) per fix."""
    import numpy as np

    from opencustoms.declarations import service as declarations
    from opencustoms.iot import simulator

    departure = NOW - dt.timedelta(hours=3)
    service.add_zone(engine, operator, "DEP", "departure", "customs_office", simulator.DEPARTURE)
    service.add_zone(engine, operator, "DST", "destination", "customs_office", simulator.DESTINATION)
    service.register_device(engine, operator, "ES1", "e_seal", attributes={"format": "eseal_text"})
    declarations.create(
        engine,
        operator,
        {
            "functional_reference_id": "T-1",
            "type_code": "transit",
            "acceptance_date": departure.date().isoformat(),
            "declaration_office_id": "NL000396",
            "declarant": {"id": "NL100000001", "name": "Kade Brokers BV", "country_code": "NL"},
            "transport": {"mode_code": "3", "id": "NL-01-B"},
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
        operator,
        {
            "movement_id": "M1",
            "functional_reference_id": "T-1",
            "vehicle_id": "NL-01-B",
            "seal_device_ids": ["ES1"],
            "corridor": simulator.CORRIDOR,
            "departure_zone_id": "DEP",
            "destination_zone_id": "DST",
            "departure_time": departure.isoformat(),
            "time_limit": (departure + dt.timedelta(hours=10)).isoformat(),
        },
    )
    processor = Processor(engine, movement_loader=service.load_watched_movements, clock=lambda: NOW, refresh_s=0)
    route = np.array(simulator.CORRIDOR)

    def fix(k: int) -> Payload:
        lat, lon = simulator._interpolate(route, 0.05 + k * 0.002)
        line = adapters.encode_eseal_text(
            "ES1", k, departure + dt.timedelta(minutes=10 + k), "POS", latitude=lat, longitude=lon, speed_kmh=50
        )
        return Payload(line, "mqtt", device_id="ES1", device_type="e_seal", authenticated=True)

    alerts = [a.kind for a in processor.process([fix(k) for k in range(10)]).alerts]
    opening = adapters.encode_eseal_text(
        "ES1", 1000, departure + dt.timedelta(hours=2, minutes=50), "OPN", latitude=None, longitude=None, locked=False
    )
    alerts += [
        a.kind for a in processor.process([Payload(opening, "mqtt", device_id="ES1", authenticated=True)]).alerts
    ]
    for k in range(10, 30):  # one fix a batch, as a live listener sees them
        alerts += [a.kind for a in processor.process([fix(k)]).alerts]
    assert alerts == ["seal_opened_outside_zone"]


def test_an_event_with_huge_attributes_is_quarantined_not_stored(engine, operator, fixed_processor) -> None:
    """Issue #12: a valid flespi record with a 5 MB extra key was stored as a 5 MB row (MQTT and HTTP alike)."""
    service.register_device(engine, operator, "FL1", "e_seal", attributes={"format": "flespi_json"})
    record = {"ident": "FL1", "timestamp": (NOW - dt.timedelta(minutes=1)).timestamp()}
    huge = json.dumps({**record, "position.latitude": 51.9, "position.longitude": 4.2, "blob": "x" * 3_000_000})
    fine = json.dumps({**record, "position.latitude": 51.91, "position.longitude": 4.2, "blob": "x" * 100})
    report = fixed_processor.process(
        [
            Payload(huge, "mqtt", device_id="FL1", authenticated=True),
            Payload(fine, "mqtt", device_id="FL1", authenticated=True),
        ]
    )
    assert report.accepted == 1 and report.quarantined == {"invalid_field": 1}
    assert report.rejections[0]["reason"].startswith("attributes.vendor.blob: a text of 3,000,000 characters")
    # 5 MB: over the limit of one message already
    report = fixed_processor.process(
        [Payload(huge.replace("x" * 3_000_000, "x" * 5_000_000), "mqtt", device_id="FL1", authenticated=True)]
    )
    assert report.quarantined == {"too_large": 1}
    with engine.connect() as conn:
        sizes = [len(json.dumps(p)) for p in conn.execute(select(iot_events.c.payload)).scalars()]
        kept = [len(str(p)) for p in conn.execute(select(iot_quarantine.c.payload)).scalars()]
    assert len(sizes) == 1 and max(sizes) < 1000 and max(kept) <= 8000


def test_a_payload_over_the_message_limit_is_quarantined_whole(engine, operator, fixed_processor) -> None:
    _register(engine, operator)
    big = "\n".join([_line(1, NOW)] * (MAX_PAYLOAD_BYTES // len(_line(1, NOW)) + 1))
    report = fixed_processor.process([Payload(big, "mqtt", device_id="ES1", authenticated=True)])
    assert report.accepted == 0 and report.quarantined == {"too_large": 1}
    assert f"the limit is {MAX_PAYLOAD_BYTES:,} bytes per message" in report.rejections[0]["reason"]


def test_a_deeply_nested_mqtt_payload_is_quarantined_and_the_batch_goes_on(engine, operator, fixed_processor) -> None:
    service.register_device(engine, operator, "GPS1", "gps_tracker")
    fix = {"device_id": "GPS1", "kind": "position", "device_time": (NOW - dt.timedelta(minutes=1)).isoformat()}
    payloads = [
        Payload("[" * 200_000 + "]" * 200_000, "mqtt", device_id="GPS1", authenticated=True),
        Payload(
            '{"device_id": "GPS1", "attributes": ' + "[" * 50 + "]" * 50 + "}",
            "mqtt",
            device_id="GPS1",
            authenticated=True,
        ),
        Payload(json.dumps({**fix, "latitude": 51.9, "longitude": 4.2}), "mqtt", device_id="GPS1", authenticated=True),
    ]
    report = fixed_processor.process(payloads)
    assert report.accepted == 1 and report.quarantined == {"too_deep": 2}
    assert "more than 16 levels deep" in report.rejections[0]["reason"]
