"""Every signal's reason in the reader's language (issue #14): the sentence catalogue is complete (every kind the
code emits has a sentence and a name, in every language, with the same placeholders), and the sentences written
from real emissions (the ledger's AEO statuses and partner alarms, transit rules, vessel rules, gate verdicts)
say what the stored English reason says — in French too, with parties and certificates still masked per reader."""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path
from typing import Any

import pytest

from opencustoms import signals, wording
from opencustoms.signals import ReaderView, describe, kind_label

SRC = Path(signals.__file__).parent
SENTENCES = wording.catalogue(str(signals.SENTENCES))
NAMES = wording.catalogue(str(signals.KIND_NAMES))
MISSING = "<no sentence>"


def sentence_kinds() -> set[str]:
    """The kinds signals.toml writes (a variant ``kind#...`` is its kind; ``kind.findings`` are parts of one)."""
    return {key.partition("#")[0] for key in SENTENCES.entries if ".findings" not in key}


def emitted_kinds() -> set[str]:
    """Every signal kind the pillars emit, read from their code: the ledger's AEO statuses and partner alarms, the
    documents' verdicts, the IoT rules' alert kinds (transit, vessels, gates, scans)."""
    from opencustoms.documents.service import _SEVERITY as VERDICTS
    from opencustoms.ledger.entries import AEOStatus

    kinds = {f"ledger.aeo_{status.value}" for status in AEOStatus}
    kinds |= {f"documents.origin_certificate_{verdict}" for verdict in VERDICTS}
    ledger = "\n".join(p.read_text() for p in (SRC / "ledger").glob("*.py"))
    alarms = set(re.findall(r'raise_alarm\(\s*engine,\s*actor,\s*[\w.]+,\s*"(\w+)"', ledger))
    assert {"fork", "replay", "split_view", "bad_signature", "bad_copy", "anchor_mismatch"} <= alarms
    kinds |= {f"ledger.partner_{kind}" for kind in alarms}
    iot = {p.name: p.read_text() for p in (SRC / "iot").glob("*.py")}
    found = set(re.findall(r'_alert\(\s*m,\s*(?:kind|"(\w+)")', iot["transit.py"]))
    found |= set(re.findall(r'kind = "(\w+)" if .* else "(\w+)"', iot["transit.py"])[0])
    found |= set(re.findall(r'Alert\(\s*"(?:vessel|scan)",\s*[\w.]+,\s*"(\w+)"', iot["vessels.py"] + iot["scans.py"]))
    found |= set(re.findall(r'"code": "(\w+)"', iot["gates.py"]))
    found |= {c for pair in re.findall(r'code = "(\w+)" if .* else "(\w+)"', iot["gates.py"]) for c in pair}
    found.discard("")
    assert len(found) >= 20, found  # the patterns still find the rules
    from opencustoms.classification.mismatch import KIND as MISCLASSIFICATION

    exchange = (SRC / "exchange" / "matching.py").read_text()
    mirror = set(re.findall(r'"(exchange\.\w+)"', exchange))
    assert len(mirror) >= 6, mirror  # the pattern still finds the discrepancy kinds
    return kinds | {f"iot.{kind}" for kind in found} | {MISCLASSIFICATION} | mirror


def test_the_catalogues_have_every_language_and_the_same_placeholders() -> None:
    assert SENTENCES.problems() == []
    assert NAMES.problems() == []


def test_every_emitted_kind_has_a_sentence_and_a_name() -> None:
    emitted = emitted_kinds()
    assert len(emitted) >= 38
    assert emitted - sentence_kinds() == set(), "kinds without a sentence in wording/signals.toml"
    assert emitted - set(NAMES.entries) == set(), "kinds without a name in wording/signal_kinds.toml"
    assert sentence_kinds() - emitted == set(), "sentences of kinds nothing emits"
    assert set(NAMES.entries) - emitted == set(), "names of kinds nothing emits"


def test_no_template_names_a_person() -> None:
    """Templates name parties and certificates only through evidence placeholders that become tokens."""
    for key in SENTENCES.entries:
        for lang in wording.LANGUAGES:
            assert "reviewed_by" not in SENTENCES.placeholders(key, lang), key  # the analyst's user name


def test_kind_labels() -> None:
    assert kind_label("ledger.aeo_suspended", "en") == "AEO certificate suspended"
    assert kind_label("ledger.aeo_suspended", "fr") == "Certificat OEA suspendu"
    assert kind_label("iot.plate_mismatch", "fr") == "Plaque lue non conforme à la déclaration"
    assert kind_label("acme.new_rule", "fr") == "acme.new_rule"  # a kind without a name shows as its code
    assert kind_label("ledger.aeo_revoked", "de") == "AEO certificate revoked"  # no German yet: English


def test_without_a_template_or_its_values_the_stored_reason_is_shown() -> None:
    assert describe("acme.new_rule", {"x": 1}, "fr", "stored") == "stored"
    # a signal stored before its emitter recorded the values (the old transit evidence)
    old = {"functional_reference_id": "REF", "vehicle_id": "NL-01-T", "started_at": "2025-03-03T08:00:00+00:00"}
    assert describe("iot.corridor_deviation", old, "fr", "vehicle NL-01-T left the corridor") == (
        "vehicle NL-01-T left the corridor"
    )
    # a condition "name=" needs the emitter to have recorded the key: old radiation alarms keep their text
    assert describe("iot.radiation_alarm", {}, "fr", "radiation portal alarm (level 3)") == (
        "radiation portal alarm (level 3)"
    )
    assert describe("iot.radiation_alarm", {"level": None}, "fr", "x") == (
        "Alarme du portique de détection de la radioactivité"
    )


# --- the ledger ----------------------------------------------------------------------------------------------


def _aeo_info(kind: str, status: str, index: int = 7) -> dict[str, Any]:
    return {
        "index": index,
        "leaf_hash": "ab" * 32,
        "kind": kind,
        "status": status,
        "certificate_number": "NLAEO00042",
        "holder_id": "NL200000002",
        "effective_date": "2026-11-30",
        "tree_size": index + 1,
        "root": "cd" * 32,
    }


@pytest.mark.parametrize(
    ("kind", "status", "english", "french"),
    [
        ("aeo.suspended", "suspended", "is suspended", "est suspendu"),
        ("aeo.revoked", "revoked", "is revoked", "est retiré"),
        ("aeo.issued", "certified", "is certified (issued)", "est valide (délivré)"),
        ("aeo.reinstated", "certified", "is certified again (reinstated)", "est de nouveau valide (rétabli)"),
    ],
)
def test_aeo_statuses_from_the_ledger(kind: str, status: str, english: str, french: str) -> None:
    from opencustoms.ledger.ingest import aeo_signals

    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    emitted = aeo_signals("DE", [_aeo_info(kind, status)], now)
    assert len(emitted) == 2 and {s.kind for s in emitted} == {f"ledger.aeo_{status}"}
    signal = emitted[0]
    assert describe(signal.kind, signal.evidence, "en", MISSING) == (
        f"AEO certificate {{certificate:NLAEO00042}} of {{party:NL200000002}} (DE) {english}"
    )
    assert describe(signal.kind, signal.evidence, "fr", MISSING) == (
        f"Le certificat OEA {{certificate:NLAEO00042}} de {{party:NL200000002}} (DE) {french}"
    )
    # each reader's view fills the tokens: the name for a reader who may see it, a pseudonym for the others
    names = {"NL200000002": "Tulip Trading BV"}
    holders = {"NLAEO00042": "NL200000002"}
    seeing = ReaderView(masked=False, names=names, holders=holders)
    assert seeing.describe(signal, "fr") == (
        f"Le certificat OEA NLAEO00042 de Tulip Trading BV (NL200000002) (DE) {french}"
    )
    assert seeing.revealed
    masked = ReaderView(masked=True, pseudonymiser=lambda v: "P-" + str(len(v)), names=names, holders=holders)
    text = masked.describe(signal, "fr")
    assert text == f"Le certificat OEA P-10 de P-11 (DE) {french}"
    assert "Tulip" not in text and "NL200000002" not in text and "NLAEO00042" not in text
    assert not masked.revealed
    # the reader's view of the whole signal carries the sentence in the page's language
    assert masked.signal(signal, "fr").reason == text
    assert masked.signal(signal).reason.startswith("AEO certificate P-10 of P-11 (DE) is")  # stored text


def test_partner_alarms_from_the_ledger(engine: Any, operator: Any) -> None:
    from opencustoms.ledger.logs import raise_alarm

    raise_alarm(
        engine, operator, "DE", "replay", "the partner offered checkpoint 3, older than 9", held="h", offered="o"
    )
    raise_alarm(engine, operator, "DE", "split_view", "BE holds checkpoint 4 of DE ...", reported_by="BE", offered="x")
    found = {s.kind: s for s in signals.for_subjects(engine, [("administration", "DE")])}
    assert set(found) == {"ledger.partner_replay", "ledger.partner_split_view"}
    replay, split = found["ledger.partner_replay"], found["ledger.partner_split_view"]
    assert describe(replay.kind, replay.evidence, "fr", MISSING) == (
        "Journal partenaire DE : il a proposé un point de contrôle plus ancien que celui que ce nœud détient "
        "(point de contrôle rejoué)"
    )
    assert describe(split.kind, split.evidence, "en", MISSING) == (
        "Partner log DE: BE holds a checkpoint that is not on the history this node verified (a split view)"
    )


# --- IoT rules -----------------------------------------------------------------------------------------------


def test_every_transit_alert_is_written_in_both_languages() -> None:
    """The transit rules on random trips (the streams of the transit tests raise every rule): each alert's signal
    evidence gives a sentence in English and in French, with the alert's own figures."""
    from test_transit import START
    from test_transit import _movement as movement
    from test_transit import _stream as stream

    from opencustoms.iot.ingest import alert_evidence
    from opencustoms.iot.transit import evaluate

    seen: dict[str, set[str]] = {}
    for seed in range(60):
        for alert in evaluate(movement(), stream(random.Random(seed)), START + dt.timedelta(hours=30)).alerts:
            evidence = alert_evidence(alert)
            english = describe(f"iot.{alert.kind}", evidence, "en", MISSING)
            french = describe(f"iot.{alert.kind}", evidence, "fr", MISSING)
            assert MISSING not in (english, french), (alert.kind, alert.evidence)
            assert "{" not in english + french and "NL-01-T" in french
            variant = "no_position" if "sans position" in french else "open" if "depuis le" in french else ""
            seen.setdefault(alert.kind, set()).add(variant)
            if alert.kind == "corridor_deviation":  # the figures of the stored reason, as French writes them
                figures = re.search(r"for (\d+) s \(tolerance (\d+) m, grace (\d+) s\), up to (\d+) m", alert.reason)
                assert figures is not None
                duration = wording.number("fr", int(figures[1]))
                assert f"pendant {duration} s (tolérance {figures[2]} m, délai de grâce {figures[3]} s)" in french
            if alert.kind == "late_arrival" and alert.evidence["arrived_at"] is None:
                assert "n'est pas arrivé et le délai (2025-03-03 11:00 UTC) est dépassé" in french
    assert set(seen) == {
        "corridor_deviation",
        "long_stop",
        "gps_silence",
        "seal_opened_outside_zone",
        "seal_tamper",
        "seal_cut",
        "low_battery",
        "late_arrival",
    }


def test_vessel_alerts_are_written_in_both_languages() -> None:
    from opencustoms.iot.ingest import alert_evidence
    from opencustoms.iot.vessels import Track, analyse

    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()
    together = [(t0 + 600 * i, 51.5, 3.0 + 0.0001 * i, 0.5) for i in range(19)]  # 3 h side by side, 0.5 knots
    after_gap = [(t0 + 600 * 18 + 13 * 3600, 51.9, 3.4, 10.0), (t0 + 600 * 19 + 13 * 3600, 51.9, 3.41, 10.0)]
    tracks = [
        Track.build("244000001", together + after_gap),
        Track.build("244000002", [(t, lat + 0.001, lon, sog) for t, lat, lon, sog in together]),
    ]
    alerts = analyse(tracks, []).alerts
    by_kind = {(a.kind, a.context_id): a for a in alerts}
    assert {k for k, _ in by_kind} == {"ais_gap", "vessel_loitering", "vessel_encounter"}
    french = {key: describe(f"iot.{a.kind}", alert_evidence(a), "fr", MISSING) for key, a in by_kind.items()}
    assert french[("ais_gap", "244000001")] == (
        "Le navire 244000001 n'a émis aucune position AIS pendant 13 h et a réapparu à 28,2 milles marins"
    )
    assert "Le navire 244000001 a stationné 3 h hors d'un port" in french[("vessel_loitering", "244000001")]
    assert french[("vessel_encounter", "244000002")].startswith(
        "Le navire 244000002 est resté à moins de 500 m du navire 244000001 pendant"
    )
    gap = by_kind[("ais_gap", "244000001")]
    assert describe("iot.ais_gap", alert_evidence(gap), "en", MISSING) == (
        "Vessel 244000001 sent no AIS position for 13 h and reappeared 28.2 nautical miles away"
    )
    assert "13.0 h" in gap.reason and "28.2 nautical miles" in gap.reason  # the stored reason agrees


def test_gate_reasons_are_written_in_both_languages() -> None:
    from opencustoms.iot.gates import judge_passage
    from opencustoms.iot.service import worded_gate_reasons

    expected = {"MSCU1234566": {"functional_reference_id": "REF-1", "vehicle_id": "NL-01-AB"}}
    verdict = judge_passage(
        [("NL-99-XYZ", 0.62)],
        [("MSCU1234566", 0.95), ("CSQU3054383", 0.99), ("MSCU1234567", 0.9), ("XXXX0000000", 0.9), ("ABC", 0.9)],
        [(True, 3.2)],
        expected,
        [],
    )
    french = [(r["code"], r["text"]) for r in worded_gate_reasons(verdict.reasons, "fr")]
    assert french == [
        ("low_confidence_read", "Plaque NL-99-XYZ lue avec une confiance de 0,62 < 0,8"),
        (
            "container_number_ambiguous",
            "Numéro de conteneur lu MSCU1234567 : chiffre de contrôle erroné ; 3 corrections sont possibles",
        ),
        ("container_number_unreadable", "Numéro de conteneur lu XXXX0000000 : sans la forme d'un numéro ISO 6346"),
        (
            "container_number_unreadable",
            "Numéro de conteneur lu ABC : 3 caractères ; un numéro de conteneur en compte 11",
        ),
        ("container_not_declared", "Aucune déclaration n'attend le conteneur CSQU3054383"),
        ("plate_mismatch", "Plaque lue NL-99-XYZ ; les déclarations attendent NL-01-AB"),
        ("radiation_alarm", "Alarme du portique de détection de la radioactivité (niveau 3,2)"),
    ]
    english = {r["code"]: r["text"] for r in worded_gate_reasons(verdict.reasons, "en")}
    assert english["plate_mismatch"] == "Plate read NL-99-XYZ; the declarations expect NL-01-AB"
    # a decision stored before reasons carried their values keeps its English detail
    old = [{"code": "plate_mismatch", "detail": "plate read X; the declarations expect Y"}]
    assert worded_gate_reasons(old, "fr")[0]["text"] == "plate read X; the declarations expect Y"
    # an unexpected vehicle: with no container read, or with containers no declaration expects
    alone = judge_passage([("DE-UN-123", 0.99)], [], [], {}, [])
    assert worded_gate_reasons(alone.reasons, "fr")[0]["text"] == (
        "Aucune déclaration ne mentionne le véhicule DE-UN-123 et aucun conteneur n'a été lu"
    )
    unknown = judge_passage([("DE-UN-123", 0.99)], [("CSQU3054383", 0.99)], [], {}, [])
    assert worded_gate_reasons(unknown.reasons, "fr")[-1]["text"] == (
        "Aucune déclaration ne mentionne le véhicule DE-UN-123 ni ses conteneurs"
    )
