"""What several risk tests share."""

from __future__ import annotations

from typing import Any

from opencustoms.declarations import service as declarations
from opencustoms.demo.generator import generate
from opencustoms.security.service import Identity

PROFILE = {
    "id": "laptops-cn",
    "lane": "red",
    "weight": 1.0,
    "valid_from": "2025-01-01",
    "reason": "Laptops from China declared below the market price",
    "criteria": {
        "all_of": [{"field": "hs6", "op": "prefix", "value": "8471"}, {"field": "origin", "op": "eq", "value": "CN"}]
    },
}


def store_inspected(engine: Any, operator: Identity, n: int, *, seed: int = 5) -> list[str]:
    """``n`` generated declarations stored, every one inspected (outcome from the generator's truth)."""
    results, references = [], []
    for data, truth in generate(n, seed=seed, fraud_rate=0.3, days=120):
        declarations.create(engine, operator, data)
        references.append(truth.functional_reference_id)
        results.append(
            declarations.InspectionResult(truth.functional_reference_id, "fraud" if truth.fraud else "compliant")
        )
    declarations.record_inspections(engine, operator, results, source="test")
    return references


def decide_stored(platform: Any, operator: Identity, data: dict[str, Any]) -> dict[str, Any]:
    """Store a declaration, then lane it online by its reference (decisions are taken on stored declarations)."""
    from opencustoms.risk import service

    declarations.create(platform.engine, operator, data)
    return service.decide(platform, operator, data["functional_reference_id"])


SMALL = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "verbose": -1}  # a model trained in seconds
