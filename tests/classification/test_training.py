"""The HS model learnt from confirmed declarations: what counts as confirmed, the time split, the registry and the
model file, suggestions that follow the history and fall back to the nomenclature texts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from opencustoms.classification import service
from opencustoms.classification.errors import (
    ClassificationDataError,
    ClassificationModelError,
    ClassificationModelNotFoundError,
)
from opencustoms.classification.model import DescriptionModel, combine
from opencustoms.declarations import service as declarations
from opencustoms.demo.generator import generate
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity
from opencustoms.store.tables import audit_log


def _store(engine: Any, operator: Identity, n: int, seed: int = 11) -> dict[str, str]:
    """``n`` generated declarations stored and inspected; returns reference → outcome."""
    results, outcomes = [], {}
    for data, truth in generate(n, seed=seed, fraud_rate=0.3, days=90):
        declarations.create(engine, operator, data)
        outcome = "fraud" if truth.fraud else "compliant"
        outcomes[truth.functional_reference_id] = outcome
        results.append(declarations.InspectionResult(truth.functional_reference_id, outcome))
    declarations.record_inspections(engine, operator, results, source="test")
    return outcomes


@pytest.fixture
def analyst() -> Identity:
    return Identity.of("ana", "NL", ["risk_analyst"])


def test_only_compliant_inspections_confirm_a_code(engine: Any, operator: Identity) -> None:
    assert service.confirmed_descriptions(engine) == []
    outcomes = _store(engine, operator, 60)
    rows = service.confirmed_descriptions(engine)
    compliant = [d for d, t in generate(60, seed=11, fraud_rate=0.3, days=90) if not t.fraud]
    expected = sum(1 for d in compliant for g in d["goods_items"] if g.get("description"))
    assert len(rows) == expected > 0
    assert "fraud" in outcomes.values()  # some declarations were left out
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert all(len(code) == 6 for _, _, code in rows)


def test_split_keeps_whole_days_apart() -> None:
    import datetime as dt

    rows = [(dt.date(2025, 1, 1 + i // 3), f"goods {i}", "010101") for i in range(30)]
    head, tail = service.split_by_date(rows, 0.2)
    assert head and tail and max(r[0] for r in head) < min(r[0] for r in tail)
    assert len(head) + len(tail) == 30


def test_train_register_promote_and_suggest(platform: Any, operator: Identity, analyst: Identity) -> None:
    _store(platform.engine, operator, 400)
    with pytest.raises(PermissionDeniedError):
        service.train(platform, Identity.of("clerk", "NL", ["officer"]))
    row = service.train(platform, analyst)
    assert row["status"] == "candidate" and row["training_rows"] > 100 and row["classes"] > 10
    metrics = row["metrics"]
    assert metrics["held_out_rows"] > 0
    assert metrics["combined"]["hs6_top1"] > metrics["lexical"]["hs6_top1"]
    # no promoted model: suggestions come from the nomenclature texts
    assert service.suggest(platform.engine, ["laptop computers"])["method"] == "lexical"
    with pytest.raises(ClassificationModelNotFoundError):
        service.suggest(platform.engine, ["laptop computers"], method="model")
    service.promote_model(platform.engine, analyst, row["version"])
    [listed] = service.models(platform.engine)
    assert listed["status"] == "promoted" and listed["version"] == row["version"]
    with platform.engine.connect() as conn:
        actions = {
            r.action for r in conn.execute(select(audit_log.c.action).where(audit_log.c.object_id == row["version"]))
        }
    assert {"train", "promote"} <= actions
    wording = service.confirmed_descriptions(platform.engine)[0]
    out = service.suggest(platform.engine, [wording[1]], top_k=3)
    assert out["method"] == "model" and out["model_version"] == row["version"]
    first = out["suggestions"][0][0]
    assert first["code"] == wording[2] and first["source"] == "history"
    assert first["evidence"]["confirmed_declarations"] > 0
    assert first["evidence"]["nearest"][0]["description"] == wording[1].strip().lower()
    # the lexical method stays available on demand
    assert service.suggest(platform.engine, [wording[1]], method="lexical")["method"] == "lexical"
    with pytest.raises(ClassificationModelNotFoundError):
        service.promote_model(platform.engine, analyst, "h0-none")


def test_too_little_history_is_refused(platform: Any, operator: Identity, analyst: Identity) -> None:
    with pytest.raises(ClassificationDataError) as caught:
        service.train(platform, analyst)
    assert caught.value.field == "training_rows"


def _toy_model() -> DescriptionModel:
    texts = ["cotton socks", "knitted cotton socks", "laptop computers", "notebook computers"] * 6
    codes = ["611595", "611595", "847130", "847130"] * 6
    return DescriptionModel().fit(texts, codes)


def test_model_file_round_trip_and_tamper(tmp_path: Any) -> None:
    model = _toy_model()
    path = tmp_path / "m.model"
    digest = model.save(path)
    again = DescriptionModel.load(path, digest)
    assert np.allclose(again.predict_proba(["cotton socks"]), model.predict_proba(["cotton socks"]))
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ClassificationModelError):
        DescriptionModel.load(path, digest)
    import pickle

    path.write_bytes(pickle.dumps({"format": "opencustoms-hs-model-1", "x": print}))
    with pytest.raises(ClassificationModelError):
        DescriptionModel.load(path)


def test_unfamiliar_wording_falls_back_to_the_nomenclature() -> None:
    model = _toy_model()
    sims, _ = model.nearest(["cotton socks", "frozen boneless bovine meat"], 1)
    assert sims[0, 0] > 0.99 and sims[1, 0] < 0.5
    codes = np.asarray(["020230", "611595", "847130"])
    lexical = np.asarray([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05]])
    proba = model.predict_proba(["cotton socks", "frozen boneless bovine meat"])
    scores, share = combine(proba, model.classes_, lexical, codes, sims[:, 0])
    assert share[0] > 0.9 and share[1] < 0.25
    assert codes[np.argmax(scores[0])] == "611595" and codes[np.argmax(scores[1])] == "020230"
