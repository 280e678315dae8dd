"""The risk service and API on a real store: profiles with audit, online lanes with reasons, feedback, models."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from risk_helpers import PROFILE, decide_stored

from conftest import sample_declaration
from opencustoms.api.app import create_app
from opencustoms.declarations import service as declarations
from opencustoms.declarations.errors import InspectionError
from opencustoms.errors import NotFoundError
from opencustoms.risk import service
from opencustoms.risk.errors import ProfileError, RiskDataError
from opencustoms.security import service as security
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity


def test_profiles_are_versioned_and_audited(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    first = service.save_profile(engine, operator, PROFILE)
    second = service.save_profile(engine, operator, {**PROFILE, "weight": 2.0})
    assert (first["version"], second["version"]) == (1, 2)
    assert [p["weight"] for p in service.list_profiles(engine, operator)] == [2.0]
    service.retire_profile(engine, operator, "laptops-cn", dt.date(2025, 6, 30))
    assert service.list_profiles(engine, operator, on=dt.date(2025, 7, 1)) == []
    assert len(service.profile_history(engine, operator, "laptops-cn")) == 3
    audit = security.read_audit(engine, operator, object_type="risk_profile")
    assert [a["action"] for a in audit] == ["new_version", "new_version", "create"]
    with pytest.raises(ProfileError) as caught:
        service.save_profile(engine, operator, {**PROFILE, "criteria": {"field": "hs6", "op": "gt", "value": 1}})
    assert caught.value.field and caught.value.field.startswith("criteria")
    officer = Identity.of("olga", "NL", ["officer"])
    with pytest.raises(PermissionDeniedError):
        service.save_profile(engine, officer, PROFILE)


def test_online_decision_with_reasons_queue_and_explain(platform, operator) -> None:  # type: ignore[no-untyped-def]
    service.save_profile(platform.engine, operator, PROFILE)
    decision = decide_stored(platform, operator, sample_declaration("LRN-9"))
    assert decision["lane"] == "red"
    assert decision["reasons"][0] == {
        "kind": "profile",
        "text": "Risk profile laptops-cn (version 1) applies: " + PROFILE["reason"],
        "code": "profile",
        "values": {"id": "laptops-cn", "version": "1", "reason": PROFILE["reason"]},
    }
    assert decision["top_reason"] == decision["reasons"][0]["text"]
    french = service.explain(platform.engine, operator, "LRN-9", lang="fr")
    assert (
        french["reasons"][0]["text"] == "Le profil de risque laptops-cn (version 1) s'applique : " + PROFILE["reason"]
    )
    assert decision["model_version"] is None  # no model promoted: profiles, signals and the draw decide
    explained = service.explain(platform.engine, operator, "LRN-9")
    assert explained["lane"] == "red" and explained["reasons"] == decision["reasons"]
    assert [q["reference"] for q in service.queue(platform.engine, operator, "red")] == ["LRN-9"]
    with pytest.raises(RiskDataError) as caught:
        service.assess(platform, operator, sample_declaration("LRN-10", goods_items=[]))
    assert caught.value.field == "goods_items"


def test_inspection_results_feed_training_only_from_inspected(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    for i in range(4):
        declarations.create(engine, operator, sample_declaration(f"LRN-{i}"))
    service.record_inspection(engine, operator, "LRN-0", "fraud", 120.0, note="undervalued laptops")
    service.record_inspection(engine, operator, "LRN-1", "compliant")
    frame = service.stored_frame(engine, labelled_only=True)
    assert sorted(frame["reference"].to_list()) == ["LRN-0", "LRN-1"]
    assert dict(zip(frame["reference"], frame["label"], strict=True)) == {"LRN-0": 1, "LRN-1": 0}
    with pytest.raises(InspectionError, match="outcome"):
        service.record_inspection(engine, operator, "LRN-2", "maybe")
    for bad in (-1.0, float("inf"), float("nan")):  # no label written for any of them
        with pytest.raises(InspectionError, match="revenue recovered must be a finite amount"):
            service.record_inspection(engine, operator, "LRN-2", "fraud", bad)
    with pytest.raises(NotFoundError, match="no declaration with functional_reference_id"):
        service.record_inspection(engine, operator, "LRN-404", "fraud")
    summary = service.score_backlog(platform, operator)  # the inspected ones are history, not today's queue
    assert summary["declarations"] == 2 and sum(summary["lanes"].values()) == 2
    assert service.score_backlog(platform, operator)["declarations"] == 0  # nothing awaits a decision any more
    summary = service.score_backlog(platform, operator, scope="all")  # asked for: the inspected history too
    assert summary["declarations"] == 2 and summary["scope"] == "all"


def test_api_decide_inspect_and_profiles(platform, engine, operator) -> None:  # type: ignore[no-untyped-def]
    security.create_user(engine, operator, "rita", "NL", ["risk_analyst", "officer"])
    headers = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'rita')}"}
    with TestClient(create_app(platform)) as client:
        r = client.post("/risk/profiles", json=PROFILE, headers=headers)
        assert r.status_code == 201, r.text
        r = client.post("/risk/profiles", json={**PROFILE, "lane": "purple"}, headers=headers)
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
        declarations.create(engine, operator, sample_declaration("LRN-A"))
        r = client.post("/risk/decisions/LRN-A", headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["lane"] == "red"
        assert client.get("/risk/decisions/LRN-A", headers=headers).json()["lane"] == "red"
        assert client.get("/risk/queue?lane=red", headers=headers).json()[0]["reference"] == "LRN-A"
        declarations.create(engine, operator, sample_declaration("LRN-B"))
        r = client.post(
            "/risk/inspections",
            json={"reference": "LRN-B", "outcome": "fraud", "revenue_recovered": 10},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        assert client.get("/risk/decisions/LRN-404", headers=headers).status_code == 404
