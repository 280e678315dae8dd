from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from conftest import sample_declaration
from opencustoms import signals
from opencustoms.model import Declaration
from opencustoms.signals import Severity, Signal, SubjectType

NOW = dt.datetime(2025, 3, 4, 12, 0, tzinfo=dt.UTC)


def _signal(subject_type: SubjectType, subject_id: str, **kw) -> Signal:
    return Signal(
        kind="iot.test",
        subject_type=subject_type,
        subject_id=subject_id,
        severity=Severity.HIGH,
        source="iot",
        reason="test",
        observed_at=NOW,
        **kw,
    )


def test_signals_reach_the_declarations_they_concern(engine) -> None:
    declaration = Declaration.model_validate(sample_declaration())
    concerning = [
        _signal(SubjectType.CONTAINER, "CSQU3054383"),
        _signal(SubjectType.PARTY, "NL200000002"),
        _signal(SubjectType.CERTIFICATE, "NLAEOF0001"),
        _signal(SubjectType.DOCUMENT, "COO-2025-77"),
        _signal(SubjectType.VESSEL, "9811000"),
        _signal(SubjectType.DECLARATION, "LRN-0001"),
    ]
    unrelated = [_signal(SubjectType.CONTAINER, "TGHU0000000"), _signal(SubjectType.PARTY, "SOMEONE")]
    assert signals.emit(engine, concerning + unrelated) == 8
    assert signals.emit(engine, concerning) == 0  # idempotent by id
    found = signals.for_declaration(engine, declaration)
    assert {s.id for s in found} == {s.id for s in concerning}
    assert found[0].observed_at == NOW


def test_signals_are_validated() -> None:
    with pytest.raises(ValidationError):
        Signal(
            kind="no-dot",
            subject_type="party",
            subject_id="x",
            severity="high",
            source="iot",
            reason="r",
            observed_at=NOW,
        )
    with pytest.raises(ValidationError):
        _signal(SubjectType.PARTY, "")


def test_stored_declarations_get_the_signals_for_declaration_gives(engine, operator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import random

    from opencustoms.declarations import service as declarations
    from opencustoms.demo.generator import generate

    stored = [Declaration.model_validate(sample_declaration())]
    for data, _truth in generate(40, seed=3, country="NL"):
        stored.append(Declaration.model_validate(data))
    for declaration in stored:
        declarations.create(engine, operator, declaration.model_dump(mode="json"))
    rng = random.Random(1)
    subjects = sorted({pair for d in stored for pair in signals.subjects_of(d)})
    chosen = rng.sample(subjects, len(subjects) // 2)
    emitted = [
        _signal(t, i).model_copy(update={"observed_at": NOW + dt.timedelta(minutes=rng.randint(0, 5))})
        for t, i in chosen
    ]
    emitted += [_signal(SubjectType.VEHICLE, "EVER GIVEN"), _signal(SubjectType.PARTY, "NOBODY")]
    signals.emit(engine, emitted)
    monkeypatch.setattr(signals, "STORED_CHUNK", 7)  # several chunks
    references = [d.functional_reference_id for d in stored]
    found = signals.for_stored(engine, [*references, "NOT-STORED"])
    assert "NOT-STORED" not in found
    for declaration in stored:
        expected = [s.id for s in signals.for_declaration(engine, declaration)]
        assert [s.id for s in found.get(declaration.functional_reference_id, [])] == expected
    assert sum(map(len, found.values())) > 20


def test_one_event_about_several_subjects_counts_once() -> None:
    evidence = {"alert_id": "a-1"}
    about_declaration = _signal(SubjectType.DECLARATION, "LRN-0001", evidence=evidence)
    about_container = _signal(SubjectType.CONTAINER, "CSQU3054383", evidence=evidence)
    other_event = _signal(SubjectType.CONTAINER, "CSQU3054383", evidence={"alert_id": "a-2"})
    assert signals.distinct([about_declaration, about_container, other_event]) == [about_declaration, other_event]


def test_texts_name_parties_through_the_readers_view(pseudonymiser) -> None:  # type: ignore[no-untyped-def]
    text = (
        f"AEO certificate {signals.certificate_token('NLAEOF0001')} of {signals.party_token('NL200000002')} "
        "(NL) is revoked (revoked)"
    )
    names = {"NL200000002": "Tulip Trading BV"}
    holders = {"NLAEOF0001": "NL200000002"}
    full = signals.ReaderView(masked=False, pseudonymiser=pseudonymiser, names=names, holders=holders)
    assert full.text(text) == "AEO certificate NLAEOF0001 of Tulip Trading BV (NL200000002) (NL) is revoked (revoked)"
    assert full.revealed
    masked = signals.ReaderView(masked=True, pseudonymiser=pseudonymiser, names=names, holders=holders)
    assert masked.text(text) == (
        f"AEO certificate {pseudonymiser('NLAEOF0001')} of {pseudonymiser('NL200000002')} (NL) is revoked (revoked)"
    )
    assert not masked.revealed
    # a text stored before tokens: the holder found by the certificate, whatever name the ledger held
    legacy = "signal ledger.aeo_revoked (high): AEO certificate NLAEOF0001 of Tulip Trading B.V. (NL) is revoked (x)"
    assert masked.text(legacy) == (
        "signal ledger.aeo_revoked (high): AEO certificate "
        f"{pseudonymiser('NLAEOF0001')} of {pseudonymiser('NL200000002')} (NL) is revoked (x)"
    )
    unknown = signals.ReaderView(masked=True, pseudonymiser=pseudonymiser)
    assert "Tulip" not in unknown.text(legacy) and signals.WITHHELD in unknown.text(legacy)
    # names and ids a masked reader knows are cleared from any other old text
    assert masked.text("importer Tulip Trading BV, NL200000002") == (
        f"importer {pseudonymiser('NL200000002')}, {pseudonymiser('NL200000002')}"
    )
    signal = _signal(SubjectType.PARTY, "NL200000002", evidence={"holder_id": "NL200000002", "index": 3})
    shown = masked.signal(signal)
    assert shown.subject_id == pseudonymiser("NL200000002")
    assert shown.evidence == {"holder_id": pseudonymiser("NL200000002"), "index": 3}


def test_a_reader_shown_an_old_name_counts_as_a_revealing_read(pseudonymiser) -> None:  # type: ignore[no-untyped-def]
    view = signals.ReaderView(masked=False, pseudonymiser=pseudonymiser, names={"NL200000002": "Tulip Trading BV"})
    assert view.text("lane: importer Tulip Trading BV") == "lane: importer Tulip Trading BV"
    assert view.revealed
    other = signals.ReaderView(masked=False, pseudonymiser=pseudonymiser, names={"NL200000002": "Tulip Trading BV"})
    assert other.text("random selection: draw 0.001") == "random selection: draw 0.001" and not other.revealed
