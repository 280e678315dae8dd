"""The misclassification signal: emitted where a description points elsewhere with confidence and the duty differs,
with its evidence and sentences, idempotent, and read by the risk engine as a reason."""

from __future__ import annotations

from typing import Any

import pytest

from opencustoms import signals
from opencustoms.classification import mismatch, service
from opencustoms.classification.errors import ClassificationInputError, ClassificationModelNotFoundError
from opencustoms.declarations import service as declarations
from opencustoms.demo.generator import generate
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity


@pytest.fixture
def analyst() -> Identity:
    return Identity.of("ana", "NL", ["risk_analyst"])


def _history_then_new(platform: Any, operator: Identity) -> dict[str, Any]:
    """400 declarations inspected (the history), then 300 more stored uninspected; returns the new ones' truths."""
    engine = platform.engine
    results = []
    for data, truth in generate(400, seed=21, fraud_rate=0.1, days=100):
        declarations.create(engine, operator, data)
        results.append(
            declarations.InspectionResult(truth.functional_reference_id, "fraud" if truth.fraud else "compliant")
        )
    declarations.record_inspections(engine, operator, results, source="test")
    fresh = {}
    for data, truth in generate(300, seed=22, fraud_rate=0.4, days=20):
        data["functional_reference_id"] = "NEW-" + data["functional_reference_id"]
        declarations.create(engine, operator, data)
        fresh[data["functional_reference_id"]] = truth
    return fresh


def test_signals_point_at_misclassified_items(platform: Any, operator: Identity, analyst: Identity) -> None:
    with pytest.raises(ClassificationModelNotFoundError):
        mismatch.find(platform.engine)
    fresh = _history_then_new(platform, operator)
    row = service.train(platform, analyst, promote=True)
    with pytest.raises(ClassificationInputError):
        mismatch.find(platform.engine, threshold=0.2)
    with pytest.raises(PermissionDeniedError):
        mismatch.check(platform.engine, Identity.of("dpo", "NL", ["data_protection_officer"]))
    found = mismatch.find(platform.engine, list(fresh))
    assert found, "no signal on 300 declarations with injected misclassifications"
    flagged = {s.subject_id for s in found}
    precision = sum(fresh[r].pattern == "misclassification" for r in flagged) / len(flagged)
    assert precision >= 0.5, precision
    first = found[0]
    assert first.kind == mismatch.KIND and first.subject_type is signals.SubjectType.DECLARATION
    ev = first.evidence
    assert ev["declared_code"] != ev["suggested_code"] and ev["confidence"] >= mismatch.DEFAULT_THRESHOLD
    assert ev["declared_duty_rate"] != ev["suggested_duty_rate"] and ev["model_version"] == row["version"]
    assert ev["declared_text"] and ev["suggested_text"]
    french = signals.describe(first.kind, first.evidence, "fr", "")
    assert french.startswith(f"L'article {ev['sequence_number']} est déclaré sous {ev['declared_code']}"), french
    english = signals.describe(first.kind, first.evidence, "en", "")
    assert ev["suggested_code"] in english and english.split(";")[0] == first.reason.split(";")[0]

    summary = mismatch.check(platform.engine, analyst, list(fresh))
    assert summary["new"] == summary["signals"] == len(found)
    assert mismatch.check(platform.engine, analyst, list(fresh))["new"] == 0  # idempotent


def test_the_risk_engine_reads_the_signal_as_a_reason(platform: Any, operator: Identity, analyst: Identity) -> None:
    from opencustoms.risk import service as risk

    fresh = _history_then_new(platform, operator)
    service.train(platform, analyst, promote=True)
    found = [s for s in mismatch.find(platform.engine, list(fresh)) if s.severity is signals.Severity.MEDIUM]
    assert found
    mismatch.check(platform.engine, analyst, list(fresh))
    reference = found[0].subject_id
    decision = risk.decide(platform, Identity.of("sup", "NL", ["supervisor"]), reference)
    text = repr(decision)
    assert mismatch.KIND in text, text[:2000]
    assert decision["lane"] in ("yellow", "red")
