from __future__ import annotations

import datetime as dt
import json
import re

from iot_helpers import NOW
from pyais import encode_dict

from conftest import shared_data
from opencustoms.iot import adapters
from opencustoms.iot.adapters import Rejection
from opencustoms.iot.events import DeviceEvent, EventKind
from opencustoms.jsondepth import too_deep


def test_eseal_text_round_trip() -> None:
    line = adapters.encode_eseal_text(
        "ES1",
        42,
        NOW,
        "OPN",
        latitude=51.5,
        longitude=4.25,
        speed_kmh=12.5,
        seal_id="SEAL1",
        locked=False,
        battery=55,
        extra={"shock": 3},
    )
    [event] = adapters.decode(line, NOW)
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.event_id, event.device_time) == (EventKind.SEAL_OPENED, "s42", NOW)
    assert (event.latitude, event.longitude, event.speed_kmh, event.seal_id) == (51.5, 4.25, 12.5, "SEAL1")
    assert event.attributes == {"vendor": {"shock": "3"}, "locked": False}


def test_eseal_text_rejects_with_reasons() -> None:
    good = adapters.encode_eseal_text("ES1", 1, NOW, "POS", latitude=51.5, longitude=4.25)
    corrupted = good.replace("51.5", "52.5")
    no_fix = adapters.encode_eseal_text("ES1", 2, NOW, "POS", latitude=None, longitude=None)
    short = "$ESEAL,1,ES1"
    short += "*" + adapters.nmea_checksum(short[1:])
    results = adapters.decode("\n".join([corrupted, short, good.split("*")[0], no_fix]), NOW)
    assert [r.reason_code for r in results[:3]] == ["bad_checksum", "malformed", "malformed"]
    assert isinstance(results[3], DeviceEvent) and results[3].latitude is None
    body = "$ESEAL,1,ES1,3,250304120000,XXX,A,1,1,0,0,S,L,90"
    [bad_code] = adapters.decode(f"{body}*{adapters.nmea_checksum(body[1:])}", NOW)
    assert isinstance(bad_code, Rejection) and "XXX" in bad_code.reason


def test_flespi_json_yields_position_and_seal_events() -> None:
    payload = json.dumps(
        [
            {
                "ident": "GPS1",
                "timestamp": NOW.timestamp(),
                "event.seqnum": 7,
                "position.latitude": 51.0,
                "position.longitude": 5.0,
                "position.speed": 80,
                "lock.state": False,
                "wire.cut.status": True,
                "can.rpm": 1200,
            },
            {"ident": "GPS1"},
            "x",
        ]
    )
    results = adapters.decode(payload, NOW)
    kinds = [r.kind for r in results if isinstance(r, DeviceEvent)]
    assert kinds == [EventKind.POSITION, EventKind.SEAL_OPENED, EventKind.SEAL_CUT]
    assert results[0].event_id == "q7:position" and results[0].attributes["vendor"] == {"can.rpm": 1200}
    assert [r.reason_code for r in results if isinstance(r, Rejection)] == ["malformed", "malformed"]
    [not_json] = adapters.decode("{nope", NOW, fmt="flespi_json")
    assert not_json.reason_code == "malformed" and "not JSON" in not_json.reason


def test_native_json_names_the_bad_field() -> None:
    [bad] = adapters.decode(
        json.dumps({"device_id": "CAM1", "kind": "plate_read", "device_time": NOW.isoformat(), "confidence": 3}), NOW
    )
    assert bad.reason_code == "invalid_field" and bad.reason.startswith("confidence")
    for field in ("speed_kmh", "heading", "radiation_level"):  # NaN and infinity are not readings
        for value in (float("nan"), float("inf")):
            event = {"device_id": "GPS1", "kind": "position", "device_time": NOW.isoformat(), field: value}
            [bad] = adapters.decode(json.dumps({**event, "latitude": 51.9, "longitude": 4.1}), NOW)
            assert bad.reason_code == "invalid_field" and bad.reason.startswith(field), bad


def test_ais_shared_samples_decode_or_are_rejected_with_a_reason() -> None:
    from collections import Counter

    path = shared_data("ais", "nmea_data_sample.txt")
    results = adapters.decode(path.read_text(), NOW, fmt="nmea_ais", device_id="RX")
    kinds = Counter(r.kind if isinstance(r, DeviceEvent) else r.reason_code for r in results)
    assert kinds[EventKind.AIS_POSITION] > 700
    assert set(kinds) - set(EventKind) <= {"malformed", "incomplete", "no_position"}
    positions = [r for r in results if isinstance(r, DeviceEvent) and r.kind == EventKind.AIS_POSITION]
    assert all(-90 <= r.latitude <= 90 and -180 <= r.longitude <= 180 for r in positions)
    tagged = adapters.decode(shared_data("ais", "tagblock_readme.nmea").read_text(), NOW, device_id="RX")
    assert all(isinstance(r, DeviceEvent) and r.device_time.year == 2022 for r in tagged)


def test_ais_type17_positions_are_converted_from_arc_minutes() -> None:
    [sentence] = encode_dict(
        {"type": 17, "mmsi": 2734450, "lon": 4.5 * 60, "lat": 52.0 * 60, "data": b""}, talker_id="AI"
    )
    [event] = adapters.decode(sentence, NOW, device_id="RX")
    assert event.kind == EventKind.AIS_POSITION and (event.latitude, event.longitude) == (52.0, 4.5)


def test_ais_multi_sentence_and_tag_block_time() -> None:
    sentences = encode_dict({"type": 5, "mmsi": 244000001, "imo": 9074729, "shipname": "TRADER"}, talker_id="AI")
    assert len(sentences) == 2
    stamp = int(dt.datetime(2024, 1, 2, tzinfo=dt.UTC).timestamp())
    tag = f"c:{stamp}"
    lines = [f"\\{tag}*{adapters.nmea_checksum(tag)}\\{sentences[0]}", sentences[1]]
    [event] = adapters.decode("\n".join(lines), NOW, device_id="RX")
    assert event.kind == EventKind.AIS_STATIC and event.imo == "9074729" and event.mmsi == "244000001"
    assert event.device_time == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    [incomplete] = adapters.decode(sentences[0], NOW, device_id="RX")
    assert incomplete.reason_code == "incomplete"


def test_unknown_format_is_rejected() -> None:
    [r] = adapters.decode("hello", NOW)
    assert r.reason_code == "unknown_format"
    [r] = adapters.decode(b"\xff\xfe", NOW)
    assert r.reason_code == "malformed"


def test_eseal_text_constraints_name_the_field() -> None:
    line = adapters.encode_eseal_text("ES1", 9, NOW, "LBT", latitude=None, longitude=None, battery=150)
    [bad] = adapters.decode(line, NOW)
    assert (
        isinstance(bad, Rejection) and bad.reason_code == "invalid_field" and bad.reason.startswith("battery_percent")
    )
    line = adapters.encode_eseal_text("ES1", 10, NOW, "POS", latitude=51.5, longitude=4.2, seal_id="S" * 65)
    [long_seal] = adapters.decode(line, NOW)
    assert isinstance(long_seal, Rejection) and long_seal.reason.startswith("seal_id")


def test_may_alert_picks_seal_events_and_gate_reads_without_decoding() -> None:
    def eseal(event: str) -> bytes:
        return adapters.encode_eseal_text("ES1", 1, NOW, event, latitude=None, longitude=None).encode()

    assert not adapters.may_alert(eseal("POS"))
    assert all(adapters.may_alert(eseal(code)) for code in ("OPN", "TMP", "CUT", "LBT"))
    assert adapters.may_alert(eseal("POS") + b"\n" + eseal("OPN"))  # a buffered record among fixes
    assert adapters.may_alert(b'{"ident": "T1", "timestamp": 1, "lock.state": false}')
    assert adapters.may_alert(b'[{"ident": "T1", "case.tamper.status":true}]')
    assert not adapters.may_alert(b'{"ident": "T1", "timestamp": 1, "lock.state": true, "position.latitude": 52}')
    assert adapters.may_alert(json.dumps({"device_id": "CAM1", "kind": "plate_read"}).encode())
    assert not adapters.may_alert(json.dumps({"device_id": "T1", "kind": "position"}).encode())
    assert not adapters.may_alert(b"!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C")


def test_nmea_checksum_matches_a_byte_by_byte_xor() -> None:
    for body in ("", "A", "GPGGA,1", "ESEAL,1,ES0001,17,250301080000,POS,A,51.900000,4.200000,60.0,0,,L,100" * 3):
        expected = 0
        for ch in body.encode():
            expected ^= ch
        assert adapters.nmea_checksum(body) == f"{expected:02X}"


def test_ais_attributes_are_those_of_pyais_asdict_as_json() -> None:
    from pyais import decode as pyais_decode

    lines = [
        line
        for line in shared_data("ais", "nmea_data_sample.txt").read_text().splitlines()
        if line.startswith("!AIVDM,1,1")
    ][:300]
    checked = 0
    for line in lines:
        [event] = adapters.decode(line, NOW, fmt="nmea_ais", device_id="RX")
        if isinstance(event, Rejection):
            continue
        expected = json.loads(json.dumps(pyais_decode(line).asdict(), default=lambda v: v.hex()))
        assert json.loads(json.dumps(event.attributes["ais"])) == expected
        checked += 1
    assert checked > 250


# --- receiver metadata after the checksum, course and heading, the UTC time of types 4 and 11 (issue #12) -------

USCG = ",s36310,d-081,T59.01777335,1428192059"  # the US Coast Guard feed's layout after '*hh'


def _with_metadata(text: str, metadata: str = USCG) -> str:
    sentence = re.compile(r"![A-Z]{2}VD[MO],.*\*[0-9A-F]{2}$")  # also after a tag block
    return "\n".join(line + metadata if sentence.search(line) else line for line in text.splitlines())


def test_ais_receiver_metadata_after_the_checksum_is_accepted_and_kept() -> None:
    [event] = adapters.decode("!AIVDM,1,1,,B,:6TMCD1GOS60,0*5B,s36310,d-081,T59.01777335", NOW, device_id="RX")
    assert isinstance(event, DeviceEvent), event
    assert event.attributes["ais"]["msg_type"] == 10
    assert event.attributes["receiver"] == {"rssi": 36310, "signal_dbm": -81, "time_of_arrival_s": 59.01777335}
    assert event.device_time == NOW  # no receiver time in this one: the receive time
    # the receiver's Unix time, when it sends one, is the time of the event (as a tag block's c: is)
    stamp = int((NOW - dt.timedelta(minutes=3)).timestamp())
    [timed] = adapters.decode(f"!AIVDM,1,1,,B,:6TMCD1GOS60,0*5B,d-081,rRX42,{stamp}", NOW, device_id="RX")
    assert timed.device_time == NOW - dt.timedelta(minutes=3)
    assert timed.attributes["receiver"]["station"] == "rRX42" and timed.attributes["receiver"]["signal_dbm"] == -81
    # a corrupted sentence is still refused: the checksum covers the sentence, the metadata only follows it
    [corrupt] = adapters.decode("!AIVDM,1,1,,B,:6TMCD1GOS61,0*5B,s36310,d-081", NOW, device_id="RX")
    assert isinstance(corrupt, Rejection) and corrupt.reason_code == "bad_checksum"


def test_ais_shared_samples_with_receiver_metadata_decode_as_without() -> None:
    for name in ("nmea_data_sample.txt", "sample.ais", "tagblock_readme.nmea", "gatehouse.nmea"):
        text = shared_data("ais", name).read_text()
        plain = adapters.decode(text, NOW, fmt="nmea_ais", device_id="RX")
        meta = adapters.decode(_with_metadata(text), NOW, fmt="nmea_ais", device_id="RX")
        decoded = [e for e in plain if isinstance(e, DeviceEvent)]
        assert len(decoded) > 0
        assert [type(r).__name__ for r in meta] == [type(r).__name__ for r in plain], name
        for a, b in zip(decoded, [e for e in meta if isinstance(e, DeviceEvent)], strict=True):
            assert a.attributes["ais"] == b.attributes["ais"] and (a.latitude, a.longitude) == (b.latitude, b.longitude)
            assert b.attributes["receiver"]["signal_dbm"] == -81


def test_ais_types_11_17_21_and_multi_sentence_messages_with_metadata() -> None:
    messages = {
        11: {
            "msg_type": 11,
            "mmsi": 244000001,
            "year": 2025,
            "month": 3,
            "day": 4,
            "hour": 11,
            "minute": 59,
            "second": 30,
            "lon": 4.5,
            "lat": 52.0,
        },
        17: {"type": 17, "mmsi": 2734450, "lon": 4.5 * 60, "lat": 52.0 * 60, "data": b""},
        21: {"type": 21, "mmsi": 992446000, "aid_type": 1, "name": "BUOY", "lon": 4.5, "lat": 52.0},
    }
    for msg_type, fields in messages.items():
        [sentence] = encode_dict(fields, talker_id="AI")
        [event] = adapters.decode(sentence + USCG, NOW, device_id="RX")
        assert isinstance(event, DeviceEvent), (msg_type, event)
        assert event.attributes["ais"]["msg_type"] == msg_type and event.kind == EventKind.AIS_POSITION
        assert (event.latitude, event.longitude) == (52.0, 4.5)
    # a two-sentence type 5 with metadata after each fragment: assembled, the last fragment's receiver time kept
    first, second = encode_dict({"type": 5, "mmsi": 244000001, "imo": 9074729, "shipname": "TRADER"}, talker_id="AI")
    stamp = int(dt.datetime(2025, 3, 4, 11, 0, tzinfo=dt.UTC).timestamp())
    lines = [f"{first},s100,d-070,{stamp - 1}", f"{second},s101,d-072,T1.5,{stamp}"]
    [event] = adapters.decode("\n".join(lines), NOW, device_id="RX")
    assert isinstance(event, DeviceEvent), event
    assert event.kind == EventKind.AIS_STATIC and event.imo == "9074729"
    assert event.device_time == dt.datetime(2025, 3, 4, 11, 0, tzinfo=dt.UTC)
    assert (
        event.attributes["receiver"]["signal_dbm"] == -72 and event.attributes["receiver"]["time_of_arrival_s"] == 1.5
    )


def test_ais_course_over_ground_and_true_heading_are_two_fields() -> None:
    [sentence] = encode_dict(
        {"type": 1, "mmsi": 244000001, "lon": 4.5, "lat": 52.0, "speed": 10, "course": 123.4, "heading": 120},
        talker_id="AI",
    )
    [event] = adapters.decode(sentence, NOW, device_id="RX")
    assert (event.course, event.heading) == (123.4, 120)
    [sentence] = encode_dict(
        {"type": 1, "mmsi": 244000001, "lon": 4.5, "lat": 52.0, "speed": 10, "course": 360, "heading": 511},
        talker_id="AI",
    )
    [event] = adapters.decode(sentence, NOW, device_id="RX")
    assert (event.course, event.heading) == (None, None)  # 360 and 511: not available
    # an e-seal's course and a flespi direction are courses over ground too
    [seal] = adapters.decode(
        adapters.encode_eseal_text("ES1", 1, NOW, "POS", latitude=51.9, longitude=4.2, course=87), NOW
    )
    assert (seal.course, seal.heading) == (87, None)


def test_ais_types_4_and_11_take_their_own_utc_time() -> None:
    sent = dt.datetime(2025, 3, 4, 11, 58, 7, tzinfo=dt.UTC)
    for msg_type in (4, 11):
        fields = {
            "msg_type": msg_type,
            "mmsi": 2655194,
            "lon": 4.5,
            "lat": 52.0,
            "year": sent.year,
            "month": sent.month,
            "day": sent.day,
            "hour": sent.hour,
            "minute": sent.minute,
            "second": sent.second,
        }
        [sentence] = encode_dict(fields, talker_id="AI")
        [event] = adapters.decode(sentence, NOW, device_id="RX")
        assert event.attributes["ais"]["msg_type"] == msg_type and event.device_time == sent, event
        # ... also when the receiver stamped it (its time is kept beside)
        [stamped] = adapters.decode(sentence + f",d-090,{int(NOW.timestamp())}", NOW, device_id="RX")
        assert stamped.device_time == sent and stamped.attributes["receiver"]["time"] == NOW.isoformat()
        # 'not available' (year 0, hour 24, minute 60, second 60): the receive time
        unknown = {**fields, "year": 0, "month": 0, "day": 0, "hour": 24, "minute": 60, "second": 60}
        [event] = adapters.decode(encode_dict(unknown, talker_id="AI")[0], NOW, device_id="RX")
        assert event.device_time == NOW


def test_ais_overlong_lines_are_refused_without_decoding() -> None:
    [r] = adapters.decode("!AIVDM,1,1,,B," + "1" * 5000 + ",0*00", NOW, fmt="nmea_ais", device_id="RX")
    assert r.reason_code == "malformed" and "1,024" in r.reason and len(r.raw) <= 200


# --- hostile JSON (issue #12) ----------------------------------------------------------------------------------


def test_deeply_nested_json_is_refused_before_parsing() -> None:
    for payload in ("[" * 100_000 + "]" * 100_000, "[" * 100_000, '{"ident":"X","a":' + "{" * 5000):
        for fmt in ("flespi_json", "native_json", None):
            [r] = adapters.decode(payload, NOW, fmt=fmt)
            assert isinstance(r, Rejection) and r.reason_code == "too_deep", (fmt, r)
    # brackets inside strings do not count
    [event] = adapters.decode(
        json.dumps(
            {
                "device_id": "GPS1",
                "kind": "position",
                "device_time": NOW.isoformat(),
                "latitude": 51.9,
                "longitude": 4.1,
                "attributes": {"note": "[" * 500},
            }
        ),
        NOW,
    )
    assert isinstance(event, DeviceEvent)
    assert too_deep("[" * 17, adapters.MAX_JSON_DEPTH) and not too_deep("[" * 16 + "]" * 16, adapters.MAX_JSON_DEPTH)


def test_json_with_an_integer_too_long_to_convert_is_quarantined_not_raised() -> None:
    [r] = adapters.decode('{"ident": "X", "timestamp": 1' + "0" * 5000 + "}", NOW, fmt="flespi_json")
    assert r.reason_code == "malformed" and "4,300 digits" in r.reason


def test_a_flespi_record_with_a_huge_vendor_key_is_refused_naming_it() -> None:
    record = {"ident": "ES1", "timestamp": NOW.timestamp(), "position.latitude": 51.9, "position.longitude": 4.2}
    [r] = adapters.decode(json.dumps({**record, "can.blob": "x" * 5_000_000}), NOW)
    assert isinstance(r, Rejection) and r.reason_code == "invalid_field"
    assert r.reason.startswith("attributes.vendor.can.blob: a text of 5,000,000 characters") and len(r.raw) <= 4000
    many = {f"param.{i}": "y" * 1000 for i in range(20)}  # each text allowed, together over the size limit
    [r] = adapters.decode(json.dumps({**record, **many}), NOW)
    assert r.reason_code == "invalid_field" and "the limit is 16,384 bytes per event" in r.reason
    [ok] = adapters.decode(json.dumps({**record, "param.1": "y" * 1000}), NOW)
    assert isinstance(ok, DeviceEvent)
