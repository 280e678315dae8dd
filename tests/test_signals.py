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
