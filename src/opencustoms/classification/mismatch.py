"""The misclassification signal: a goods item whose description points, with enough confidence, to another HS6
than the declared one, where the two codes' usual duty rates differ.

The usual duty rate of a code is the median rate of the administration's confirmed goods items of that code (the
platform holds no tariff yet). A signal ``classification.description_mismatch`` on the declaration carries the
evidence (item, declared code and text, description, suggested code and text, confidence, both rates, the duty at
stake) and reaches the risk engine as a reason: severity ``medium`` (the yellow lane by default) when the suggested
code's duty is higher — revenue at stake — and ``low`` (a reason only) when it is lower.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, exists, select

from opencustoms import signals
from opencustoms.classification import service
from opencustoms.classification.errors import ClassificationInputError, ClassificationModelNotFoundError
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, utcnow
from opencustoms.store.tables import declarations, goods_items, inspection_results

KIND = "classification.description_mismatch"
SOURCE = "classification"
DEFAULT_THRESHOLD = 0.6  # the suggested code's combined confidence; the declared code's must be below 1 − this


def usual_duty_rates(engine: Engine) -> dict[str, float]:
    """Median ad valorem duty rate (percent) per HS6 over the confirmed goods items (compliant inspections)."""
    d, g, i = declarations.c, goods_items.c, inspection_results.c
    compliant = exists().where(and_(i.declaration_id == d.id, i.outcome == "compliant"))
    fraud = exists().where(and_(i.declaration_id == d.id, i.outcome == "fraud"))
    query = (
        select(g.hs_code, g.duty_rate)
        .join(declarations, g.declaration_id == d.id)
        .where(compliant, ~fraud, g.duty_rate.is_not(None))
    )
    rates: dict[str, list[float]] = defaultdict(list)
    with engine.connect() as conn:
        for code, rate in conn.execute(query):
            rates[str(code)[:6]].append(float(rate))
    return {code: statistics.median(values) for code, values in rates.items()}


def _items(engine: Engine, references: list[str] | None) -> list[dict[str, Any]]:
    d, g = declarations.c, goods_items.c
    query = (
        select(
            d.functional_reference_id, g.sequence_number, g.hs_code, g.description, g.customs_value_amount, g.duty_rate
        )
        .join(goods_items, g.declaration_id == d.id)
        .where(g.description.is_not(None))
        .order_by(d.id, g.sequence_number)
    )
    if references is not None:
        query = query.where(d.functional_reference_id.in_(references))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query) if str(r.description).strip()]


def find(
    engine: Engine, references: list[str] | None = None, *, threshold: float = DEFAULT_THRESHOLD
) -> list[signals.Signal]:
    """The misclassification signals of the stored goods items (of ``references``, or all), not stored."""
    if not 0.5 <= threshold < 1:
        raise ClassificationInputError(f"the threshold must be in [0.5, 1), not {threshold}", field="threshold")
    loaded = service.promoted_model(engine)
    if loaded is None:
        raise ClassificationModelNotFoundError(
            "the misclassification signal needs the administration's HS model; train one with "
            "`opencustoms hs train --promote`",
            field="model",
        )
    version, model = loaded
    items = _items(engine, references)
    if not items:
        return []
    rates = usual_duty_rates(engine)
    nomenclature = service.edition_nomenclature()
    suggester = service.lexical_suggester()
    column = {str(c): i for i, c in enumerate(suggester.codes_)}
    found: list[signals.Signal] = []
    for start in range(0, len(items), 2000):
        chunk = items[start : start + 2000]
        scores, _ = service.combined_scores(model, [str(it["description"]) for it in chunk])
        best = np.argmax(scores, axis=1)
        for it, row, top in zip(chunk, scores, best, strict=True):
            declared, suggested = str(it["hs_code"])[:6], str(suggester.codes_[top])
            confidence = float(row[top])
            declared_score = float(row[column[declared]]) if declared in column else 0.0
            if suggested == declared or confidence < threshold or declared_score > 1 - threshold:
                continue
            declared_rate = float(it["duty_rate"]) if it["duty_rate"] is not None else rates.get(declared)
            suggested_rate = rates.get(suggested)
            if declared_rate is None or suggested_rate is None or suggested_rate == declared_rate:
                continue
            value = float(it["customs_value_amount"] or 0)
            at_stake = round(value * (suggested_rate - declared_rate) / 100, 2)
            found.append(
                _signal(
                    it, declared, suggested, confidence, declared_rate, suggested_rate, at_stake, version, nomenclature
                )
            )
    return found


def _text(nomenclature: Any, code: str) -> str:
    entry = nomenclature.entries.get(code)
    return entry.description if entry is not None else ""


def _signal(
    item: dict[str, Any],
    declared: str,
    suggested: str,
    confidence: float,
    declared_rate: float,
    suggested_rate: float,
    at_stake: float,
    version: str,
    nomenclature: Any,
) -> signals.Signal:
    reference, sequence = str(item["functional_reference_id"]), int(item["sequence_number"])
    description = str(item["description"])
    # one signal per goods item, model version and codes: a re-run does not double-count
    key = f"{KIND}|{reference}|{sequence}|{declared}|{suggested}|{version}"
    evidence = {
        "sequence_number": sequence,
        "declared_code": declared,
        "declared_text": _text(nomenclature, declared),
        "description": description,
        "suggested_code": suggested,
        "suggested_text": _text(nomenclature, suggested),
        "confidence": round(confidence, 3),
        "confidence_percent": round(100 * confidence),
        "declared_duty_rate": declared_rate,
        "suggested_duty_rate": suggested_rate,
        "duty_at_stake": at_stake,
        "model_version": version,
    }
    reason = (
        f'Goods item {sequence} is declared under {declared} but its description "{description}" points to '
        f"{suggested} ({round(100 * confidence)}% confidence); usual duty {declared_rate:g}% declared against "
        f"{suggested_rate:g}%, {at_stake:+,.2f} at stake"
    )
    return signals.Signal(
        id=str(uuid_from(key)),
        kind=KIND,
        subject_type=signals.SubjectType.DECLARATION,
        subject_id=reference,
        severity=signals.Severity.MEDIUM if suggested_rate > declared_rate else signals.Severity.LOW,
        source=SOURCE,
        reason=reason[:2000],
        evidence=evidence,
        observed_at=utcnow(),
    )


def uuid_from(key: str) -> str:
    import uuid

    return str(uuid.UUID(hashlib.sha256(key.encode()).hexdigest()[:32]))


def check(
    engine: Engine, actor: Identity, references: list[str] | None = None, *, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """Find and store the misclassification signals (idempotent: a re-run stores nothing new)."""
    actor.require(Permission.DECISIONS_WRITE)
    found = find(engine, references, threshold=threshold)
    stored = signals.emit(engine, found)
    return {
        "signals": len(found),
        "new": stored,
        "declarations": len({s.subject_id for s in found}),
        "revenue_at_stake": round(sum(max(0.0, float(s.evidence["duty_at_stake"])) for s in found), 2),
    }


def recent(engine: Engine, actor: Identity, *, limit: int = 200, lang: str = "en") -> list[dict[str, Any]]:
    """The latest misclassification signals, newest first, each with its sentence in ``lang``. Their evidence holds
    codes, rates and the goods description, never a party: no masking is needed."""
    from opencustoms.store.tables import signals as signals_table

    actor.require(Permission.DECLARATIONS_READ)
    if not 1 <= limit <= 1000:
        raise ClassificationInputError(f"limit must be between 1 and 1000, not {limit}", field="limit")
    t = signals_table.c
    query = select(signals_table).where(t.kind == KIND).order_by(t.observed_at.desc(), t.id).limit(limit)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [
        {
            "reference": r["subject_id"],
            "severity": r["severity"],
            "observed_at": r["observed_at"],
            "evidence": r["evidence"] or {},
            "sentence": signals.describe(KIND, r["evidence"] or {}, lang, r["reason"]),
        }
        for r in rows
    ]
