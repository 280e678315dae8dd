"""Online decisions: profiles cached between requests and reloaded on change (also when another process changes
them), decisions stored by group commit with one audit entry each, a bad decision refused alone."""

from __future__ import annotations

import datetime as dt
import gc
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from risk_helpers import PROFILE, SMALL, decide_stored, store_inspected
from sqlalchemy import Connection, func, insert, select

from conftest import sample_declaration
from opencustoms.api.app import create_app
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.risk import service
from opencustoms.risk import writer as decision_writer
from opencustoms.risk.errors import RiskModelError
from opencustoms.risk.tables import risk_decisions, risk_models
from opencustoms.security import service as security
from opencustoms.security.service import Identity
from opencustoms.store.tables import audit_log


def profile_reasons(decision: dict[str, Any]) -> list[str]:
    return [r["text"] for r in decision["reasons"] if r["kind"] == "profile"]


def test_profile_changes_reach_cached_online_decisions(platform, database_url, tmp_path, operator) -> None:  # type: ignore[no-untyped-def]
    assert profile_reasons(decide_stored(platform, operator, sample_declaration("LRN-1"))) == []
    service.save_profile(platform.engine, operator, PROFILE)
    decision = decide_stored(platform, operator, sample_declaration("LRN-2"))
    assert decision["lane"] == "red"
    assert profile_reasons(decision) == ["Risk profile laptops-cn (version 1) applies: " + PROFILE["reason"]]
    # another process (its own engine and caches) adds a version: this one sees it at its next decision
    other = Platform(Settings(database_url=database_url, data_dir=tmp_path))
    service.save_profile(other.engine, operator, {**PROFILE, "lane": "yellow", "reason": "Laptops: check papers"})
    decision = decide_stored(platform, operator, sample_declaration("LRN-3"))
    assert profile_reasons(decision) == ["profile laptops-cn@2: Laptops: check papers"]
    service.retire_profile(platform.engine, operator, "laptops-cn", on=dt.date(2025, 1, 31))
    assert profile_reasons(decide_stored(platform, operator, sample_declaration("LRN-4"))) == []


def test_concurrent_decisions_are_all_stored_with_their_audit(platform, operator) -> None:  # type: ignore[no-untyped-def]
    service.save_profile(platform.engine, operator, PROFILE)
    references = [f"LRN-C{i}" for i in range(12)]
    answers: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def one(reference: str) -> None:
        try:
            answers[reference] = decide_stored(platform, operator, sample_declaration(reference))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(r,)) for r in references]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for reference in references:  # acknowledged means committed: stored exactly as answered
        stored = service.explain(platform.engine, operator, reference)
        assert stored["lane"] == answers[reference]["lane"] and stored["reasons"] == answers[reference]["reasons"]
    audit = security.read_audit(platform.engine, operator, object_type="risk_decision", limit=100)
    assert sorted(a["object_id"] for a in audit if a["action"] == "decide") == sorted(references)
    writer = decision_writer.writer_for(platform.engine)
    assert writer is not None and writer.commits <= len(references)


def test_a_bad_decision_in_a_group_is_refused_alone(platform) -> None:  # type: ignore[no-untyped-def]
    actor = Identity.of("olga", "NL", ["officer"])

    def write(conn: Connection, who: Identity, rows: Any, version: str | None) -> None:
        conn.execute(insert(risk_decisions), list(rows))
        security.record(conn, who, "decide", "risk_decision", rows[0]["reference"])
        if rows[0]["reference"] == "BAD":
            raise ValueError("refused")

    def row(reference: str) -> dict[str, Any]:
        return {
            "reference": reference,
            "decided_at": security.utcnow(),
            "lane": "green",
            "score": None,
            "model_version": None,
            "random_draw": 0.5,
            "reasons": [],
        }

    writer = decision_writer.Writer(platform.engine, write)
    requests = [decision_writer.Request(actor, [row(r)], None) for r in ("G1", "BAD", "G2")]
    for request in requests:  # queued before the thread starts: one group
        writer.queue.put(request)
    writer.thread.start()
    for request in requests:
        assert request.done.wait(30)
    assert [type(r.error).__name__ if r.error else None for r in requests] == [None, "ValueError", None]
    with platform.engine.connect() as conn:
        stored = sorted(conn.execute(select(risk_decisions.c.reference)).scalars())
        audited = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.object_type == "risk_decision")
        ).scalar()
    assert stored == ["G1", "G2"] and audited == 2
    assert writer.commits == 2  # the group failed as a whole, then each good decision alone


def test_a_server_has_the_promoted_model_ready_before_its_first_request(platform, operator) -> None:  # type: ignore[no-untyped-def]
    store_inspected(platform.engine, operator, 120)
    service.train_model(platform, operator, None, None, promote=True, params=SMALL)
    service._online_cache.pop(id(platform.engine), None)
    gc.unfreeze()
    with TestClient(create_app(platform)):  # start-up done, no request yet
        cached = service._online_cache.get(id(platform.engine))
        assert cached is not None and cached.model is not None
        model = cached.model[1]
        assert model.builder_ is not None and model.builder_.lookup_ is not None and model.paths_ is not None
        assert gc.get_freeze_count() > 0  # and out of the collector's way


def test_a_promoted_model_that_cannot_load_does_not_stop_the_api(platform, operator) -> None:  # type: ignore[no-untyped-def]
    store_inspected(platform.engine, operator, 120)
    version = service.train_model(platform, operator, None, None, promote=True, params=SMALL)["version"]
    with platform.engine.connect() as conn:
        path = conn.execute(select(risk_models.c.path).where(risk_models.c.version == version)).scalar_one()
    Path(path).unlink()
    service._online_cache.pop(id(platform.engine), None)
    with TestClient(create_app(platform)) as client:  # starts: only the risk engine is affected
        assert client.get("/health").status_code == 200
        with pytest.raises(RiskModelError, match="is missing; retrain or roll back"):
            decide_stored(platform, operator, sample_declaration("LRN-MISSING"))


def test_warming_leaves_a_database_without_tables_to_the_first_request(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bare = Platform(Settings(database_url=f"sqlite:///{tmp_path / 'bare.db'}", data_dir=tmp_path))
    cached = len(service._online_cache)
    service.warm(bare)  # no error at start-up: the first request says what is missing
    assert len(service._online_cache) == cached
