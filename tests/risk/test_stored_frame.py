"""The stored-backlog frame read by narrow SQL queries equals the frame rebuilt through the declaration model."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import sample_declaration
from opencustoms.declarations import service as declarations
from opencustoms.demo.generator import generate
from opencustoms.risk import service
from opencustoms.risk.errors import RiskDataError


def test_narrow_queries_give_the_same_frame_as_the_model_path(platform, operator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    with pytest.raises(RiskDataError, match="no stored declarations"):
        service.stored_frame(engine)
    references = []
    for data, truth in generate(150, seed=11, fraud_rate=0.3, days=60):
        declarations.create(engine, operator, data)
        references.append(truth.functional_reference_id)
    # edge cases the generator may not make: no transport (departure then unknown), national data elements,
    # several items with a tie on value, an item without mass or duty
    odd = sample_declaration("LRN-ODD-1", national_extensions={"nl.channel": "B", "nl.zone": "7"})
    odd.pop("transport")
    item = dict(odd["goods_items"][0])
    odd["goods_items"] = [
        item,
        {**item, "sequence_number": 2, "hs_code": "850440", "net_mass_kg": None, "duty_tax_amount": None},
    ]
    declarations.create(engine, operator, odd)
    results = [
        declarations.InspectionResult(r, "fraud" if i % 3 == 0 else "compliant", None)
        for i, r in enumerate(references[:60])
    ]
    declarations.record_inspections(engine, operator, results, source="test")
    # inspected again: the latest outcome is the label
    declarations.record_inspections(
        engine, operator, [declarations.InspectionResult(references[1], "fraud", 250.0)], source="test"
    )
    # a decision: out of the backlog
    service.decide(platform, operator, next(generate(1, seed=11, days=60))[0]["functional_reference_id"])
    monkeypatch.setattr(service, "STORED_CHUNK", 37)  # several chunks, boundaries inside the id range
    for options in ({}, {"labelled_only": True}, {"without_decision": True}):
        narrow = service.stored_frame(engine, **options)
        reference = service.stored_frame_from_models(engine, **options)
        assert_frame_equal(narrow, reference, check_exact=True)
    every = service.stored_frame(engine)
    assert every.height == 151
    assert every.filter(pl.col("reference") == references[1])["label"].to_list() == [1]
    assert every.filter(pl.col("reference") == "LRN-ODD-1")["departure"].to_list() == [None]
    assert "x_nl_channel" in every.columns
    assert service.stored_frame(engine, labelled_only=True).height == 60
    assert service.stored_frame(engine, without_decision=True).height == 150
