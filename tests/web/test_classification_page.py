"""The analyst's classification page: the misclassification signals with their sentence in the reader's language,
and the HS model versions for readers with risk:manage."""

from __future__ import annotations

import datetime as dt
from html import unescape

from web_helpers import Site

from opencustoms import signals
from opencustoms.classification import mismatch


def _signal(site: Site) -> str:
    reference = site.references["red"]
    evidence = {
        "sequence_number": 1,
        "declared_code": "847150",
        "declared_text": "Processing units",
        "description": "laptop computers",
        "suggested_code": "847130",
        "suggested_text": "Portable automatic data processing machines",
        "confidence": 0.93,
        "confidence_percent": 93,
        "declared_duty_rate": 0.0,
        "suggested_duty_rate": 3.5,
        "duty_at_stake": 42.0,
        "model_version": "h-test",
    }
    signals.emit(
        site.engine,
        [
            signals.Signal(
                kind=mismatch.KIND,
                subject_type=signals.SubjectType.DECLARATION,
                subject_id=reference,
                severity=signals.Severity.MEDIUM,
                source="classification",
                reason="Goods item 1 is declared under 847150 but its description points to 847130",
                evidence=evidence,
                observed_at=dt.datetime.now(dt.UTC),
            )
        ],
    )
    return reference


def test_signals_in_english_and_french(client_for, site: Site) -> None:
    officer = client_for("officer")
    empty = unescape(officer.get("/ui/classification?lang=en").text)
    assert "No misclassification signal yet." in empty and "HS models" not in empty  # officers: no models
    reference = _signal(site)
    page = unescape(officer.get("/ui/classification?lang=en").text)
    assert f'href="/ui/declarations/{reference}"' in page and "847130" in page
    assert "points to 847130 (93% confidence)" in page
    french = unescape(officer.get("/ui/classification?lang=fr").text)
    assert "Signaux d'erreur de classement" in french and "désigne plutôt 847130 (confiance 93 %)" in french


def test_analysts_see_the_hs_models(client_for, site: Site) -> None:
    page = unescape(client_for("analyst").get("/ui/classification?lang=en").text)
    assert "HS models" in page
