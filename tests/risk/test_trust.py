"""Issue #12 on the risk engine: who may lane a declaration, what a reader sees of the parties a reason names, and
the batch paths laning with the signals as the online path does."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from risk_helpers import PROFILE
from sqlalchemy import func, insert, select

from conftest import sample_declaration
from opencustoms import signals
from opencustoms.api.app import create_app
from opencustoms.declarations import service as declarations
from opencustoms.declarations.errors import DeclarationNotFoundError
from opencustoms.ledger import ingest as ledger_ingest
from opencustoms.risk import service
from opencustoms.risk.tables import risk_decisions
from opencustoms.security import service as security
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.roles import ROLE_PERMISSIONS, Permission, Role
from opencustoms.security.service import Identity
from opencustoms.store.tables import audit_log
from opencustoms.store.tables import signals as signals_table

NAME, TRADER, CERTIFICATE = "Tulip Trading BV", "NL200000002", "NLAEOF0001"  # the sample importer
OBSERVED = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)

ANALYST = Identity.of("rita", "NL", [Role.RISK_ANALYST])
SUPERVISOR = Identity.of("sam", "NL", [Role.SUPERVISOR])
OFFICER = Identity.of("olga", "NL", [Role.OFFICER])
DPO = Identity.of("dora", "NL", [Role.DATA_PROTECTION_OFFICER])
ADMINISTRATOR = Identity.of("adam", "NL", [Role.ADMINISTRATOR])


def decisions_of(engine: Any, reference: str | None = None) -> int:
    query = select(func.count()).select_from(risk_decisions)
    if reference is not None:
        query = query.where(risk_decisions.c.reference == reference)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def token_for(engine: Any, operator: Identity, username: str, role: str) -> dict[str, str]:
    security.create_user(engine, operator, username, "NL", [role])
    return {"Authorization": f"Bearer {security.issue_token(engine, operator, username)}"}


# --- 1. laning needs decisions:write, and lanes only stored declarations --------------------------------------


def test_decisions_write_goes_to_those_who_lane() -> None:
    holders = {role for role, granted in ROLE_PERMISSIONS.items() if Permission.DECISIONS_WRITE in granted}
    assert holders == {Role.SUPERVISOR, Role.RISK_ANALYST}
    assert Permission.DECISIONS_WRITE.value == "decisions:write"


def test_only_decisions_write_lanes_a_stored_declaration(platform, operator) -> None:  # type: ignore[no-untyped-def]
    declarations.create(platform.engine, operator, sample_declaration("LRN-P"))
    for reader in (OFFICER, DPO, ADMINISTRATOR):
        with pytest.raises(PermissionDeniedError, match="decisions:write"):
            service.decide(platform, reader, "LRN-P")
        with pytest.raises(PermissionDeniedError, match="decisions:write"):
            service.score_backlog(platform, reader)
    assert decisions_of(platform.engine) == 0
    assert service.decide(platform, ANALYST, "LRN-P")["reference"] == "LRN-P"
    with pytest.raises(DeclarationNotFoundError):
        service.decide(platform, SUPERVISOR, "LRN-NOT-STORED")
    assert decisions_of(platform.engine) == 1


def test_an_altered_copy_cannot_move_a_stored_red_declaration(platform, engine, operator) -> None:  # type: ignore[no-untyped-def]
    service.save_profile(engine, operator, PROFILE)
    declarations.create(engine, operator, sample_declaration("LRN-RED"))
    analyst = token_for(engine, operator, "rita", "risk_analyst")
    headers = {
        role: token_for(engine, operator, name, role)
        for name, role in (("dora", "data_protection_officer"), ("adam", "administrator"), ("olga", "officer"))
    }
    altered = sample_declaration("LRN-RED")
    for item in altered["goods_items"]:
        item["hs_code"], item["origin_country_code"] = "620342", "TR"  # no longer the profile's laptops from China
    with TestClient(create_app(platform)) as client:
        first = client.post("/risk/decisions/LRN-RED", headers=analyst)
        assert first.status_code == 201 and first.json()["lane"] == "red", first.text
        for auth in headers.values():
            # the old shape (a body posted to /risk/decisions) is gone; deciding needs decisions:write
            assert client.post("/risk/decisions", json=altered, headers=auth).status_code in (404, 405)
            r = client.post("/risk/decisions/LRN-RED", headers=auth)
            assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
            assert client.post("/risk/backlog", headers=auth).status_code == 403
            # a what-if of the altered copy: answered, nothing stored under the stored declaration's reference
            what_if = client.post("/risk/what-if", json=altered, headers=auth)
            assert what_if.status_code == 200, what_if.text
            assert what_if.json()["lane"] != "red"
        # a what-if of a declaration that is not stored does not reach the queue either
        assert client.post("/risk/what-if", json=sample_declaration("LRN-GHOST"), headers=analyst).status_code == 200
        assert client.get("/risk/decisions/LRN-RED", headers=analyst).json()["lane"] == "red"
        assert [q["reference"] for q in client.get("/risk/queue?lane=red", headers=analyst).json()] == ["LRN-RED"]
        missing = client.post("/risk/decisions/LRN-GHOST", headers=analyst)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
        assert "LRN-GHOST" in missing.json()["detail"]
    assert decisions_of(engine) == 1 and decisions_of(engine, "LRN-GHOST") == 0


# --- 2. reasons name parties through the reader's view --------------------------------------------------------


def aeo_info(status: str = "revoked", index: int = 7) -> dict[str, Any]:
    return {
        "index": index,
        "leaf_hash": "ab" * 32,
        "kind": f"aeo.{status}",
        "status": status,
        "certificate_number": CERTIFICATE,
        "holder_id": TRADER,
        "holder_name": NAME,
        "effective_date": "2025-02-28",
        "tree_size": index + 1,
        "root": "cd" * 32,
        "reason": "audit findings: director Jan de Vries (passport NX1234567)",
    }


def emit_revoked(engine: Any) -> None:
    with engine.begin() as conn:
        assert ledger_ingest.emit_signals(conn, "NL", [aeo_info()], OBSERVED) == 2  # certificate and holder


def shown(decision: dict[str, Any]) -> str:
    return json.dumps(decision["reasons"])


def revealing_reads(engine: Any, username: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(audit_log.c.object_id).where(
                    audit_log.c.actor == username,
                    audit_log.c.action == "read",
                    audit_log.c.object_type == "risk_decision",
                )
            ).scalars()
        )


def test_no_name_is_stored_in_a_signal_or_a_reason(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    emit_revoked(engine)
    declarations.create(engine, operator, sample_declaration("LRN-AEO"))
    service.decide(platform, SUPERVISOR, "LRN-AEO")
    with engine.connect() as conn:
        stored = [r for r in conn.execute(select(signals_table.c.reason)).scalars()]
        reasons = json.dumps(list(conn.execute(select(risk_decisions.c.reasons)).scalars()))
    assert stored and all(NAME not in r for r in stored) and NAME not in reasons
    # nor the officer's free text, which may name people no reader's view can mask (found by review)
    assert not any("Jan de Vries" in r or "NX1234567" in r for r in stored) and "Jan de Vries" not in reasons
    assert all(signals.party_token(TRADER) in r and signals.certificate_token(CERTIFICATE) in r for r in stored)
    # the model form of the same signals says the same
    [model] = {s.reason for s in ledger_ingest.aeo_signals("NL", [aeo_info()], OBSERVED)}
    assert model == stored[0]


def test_pseudonymised_readers_see_pseudonyms_in_reasons_and_the_signal_once(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine, pseudonym = platform.engine, platform.pseudonymiser
    emit_revoked(engine)
    declarations.create(engine, operator, sample_declaration("LRN-AEO"))
    decided = service.decide(platform, ANALYST, "LRN-AEO")
    assert decided["lane"] == "red"
    for decision in (
        decided,
        service.explain(engine, ANALYST, "LRN-AEO", pseudonymiser=pseudonym),
        *service.queue(engine, ANALYST, "red", pseudonymiser=pseudonym),
        *service.decision_history(engine, ANALYST, "LRN-AEO", pseudonymiser=pseudonym),
    ):
        text = shown(decision)
        assert NAME not in text and TRADER not in text and CERTIFICATE not in text
        assert pseudonym(TRADER) in text and pseudonym(CERTIFICATE) in text
        assert [r["kind"] for r in decision["reasons"]].count("signal") == 1  # one event, one reason
    # without the installation's pseudonymiser, nothing is shown rather than the trader
    bare = shown(service.explain(engine, ANALYST, "LRN-AEO"))
    assert TRADER not in bare and signals.WITHHELD in bare
    [found] = service.declaration_signals(engine, ANALYST, "LRN-AEO", pseudonymiser=pseudonym)
    assert TRADER not in found.model_dump_json() and CERTIFICATE not in found.model_dump_json()
    assert revealing_reads(engine, "rita") == []  # nothing personal shown: nothing to audit


def test_readers_with_personal_data_see_the_name_and_the_read_is_audited(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    emit_revoked(engine)
    declarations.create(engine, operator, sample_declaration("LRN-AEO"))
    decided = service.decide(platform, SUPERVISOR, "LRN-AEO")
    assert f"{NAME} ({TRADER})" in shown(decided) and CERTIFICATE in shown(decided)
    assert revealing_reads(engine, "sam") == ["LRN-AEO"]
    explained = service.explain(engine, DPO, "LRN-AEO", pseudonymiser=platform.pseudonymiser, purpose="complaint 12")
    assert f"{NAME} ({TRADER})" in shown(explained)
    assert [r["kind"] for r in explained["reasons"]].count("signal") == 1
    assert revealing_reads(engine, "dora") == ["LRN-AEO"]


def test_decisions_and_signals_stored_before_tokens_do_not_leak(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine, pseudonym = platform.engine, platform.pseudonymiser
    declarations.create(engine, operator, sample_declaration("LRN-OLD"))
    old = f"AEO certificate {CERTIFICATE} of Tulip Trading B.V. (NL) is revoked (revoked: audit findings)"
    with engine.begin() as conn:
        for subject_type, subject_id in (("certificate", CERTIFICATE), ("party", TRADER)):
            conn.execute(
                insert(signals_table).values(
                    id=f"old-{subject_type}",
                    kind="ledger.aeo_revoked",
                    subject_type=subject_type,
                    subject_id=subject_id,
                    severity="high",
                    source="ledger",
                    reason=old,
                    evidence={"holder_id": TRADER, "certificate_number": CERTIFICATE},
                    observed_at=OBSERVED,
                    recorded_at=OBSERVED,
                )
            )
        reason = {"kind": "signal", "text": f"signal ledger.aeo_revoked (high): {old}"}
        conn.execute(
            insert(risk_decisions).values(
                reference="LRN-OLD",
                decided_at=OBSERVED,
                lane="red",
                score=None,
                model_version=None,
                random_draw=0.5,
                reasons=[reason, reason, {"kind": "lane", "text": f"importer {NAME} ({TRADER})"}],
            )
        )
    masked = shown(service.explain(engine, ANALYST, "LRN-OLD", pseudonymiser=pseudonym))
    assert "Tulip" not in masked and TRADER not in masked and CERTIFICATE not in masked
    assert masked.count("ledger.aeo_revoked") == 1 and pseudonym(TRADER) in masked
    [found] = service.declaration_signals(engine, ANALYST, "LRN-OLD", pseudonymiser=pseudonym)
    assert "Tulip" not in found.model_dump_json() and TRADER not in found.model_dump_json()
    full = shown(service.explain(engine, SUPERVISOR, "LRN-OLD", pseudonymiser=pseudonym))
    assert f"{NAME} ({TRADER})" in full


def test_the_dashboard_declaration_page_masks_reasons_and_signals(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    emit_revoked(engine)
    declarations.create(engine, operator, sample_declaration("LRN-AEO"))
    service.decide(platform, SUPERVISOR, "LRN-AEO")
    security.create_user(engine, operator, "rita", "NL", ["risk_analyst"])
    token = security.issue_token(engine, operator, "rita")
    with TestClient(create_app(platform), follow_redirects=False) as client:
        login = client.get("/ui/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf is not None
        client.post("/ui/login", data={"username": "rita", "token": token, "csrf_token": csrf[1], "next": "/ui/"})
        for url in ("/ui/declarations/LRN-AEO", "/ui/queue?lane=red"):
            page = client.get(url)
            assert page.status_code == 200, page.text
            assert "is revoked" in page.text  # the signal's sentence
            assert "Tulip" not in page.text and TRADER not in page.text and CERTIFICATE not in page.text
            assert platform.pseudonymiser(TRADER) in page.text


# --- 3. every path lanes with the signals --------------------------------------------------------------------


def seal_cut(engine: Any, reference: str, container: str) -> None:
    """One e-seal event, emitted (as IoT does) about the declaration and about its container."""
    signals.emit(
        engine,
        [
            signals.Signal(
                id=f"seal-{subject_type}-{reference}",
                kind="iot.seal_opened_outside_zone",
                subject_type=subject_type,
                subject_id=subject_id,
                severity="critical",
                source="iot",
                reason="e-seal opened outside a customs zone",
                evidence={"alert_id": f"alert-{reference}"},
                observed_at=OBSERVED,
            )
            for subject_type, subject_id in (("declaration", reference), ("container", container))
        ],
    )


def signal_reasons(reasons: list[Any]) -> list[str]:
    """The signal reasons as the engine stores them ("signal KIND (SEVERITY): REASON"), from stored texts or from
    reasons said for a reader (their values)."""
    texts = [
        "signal {kind} ({severity}): {reason}".format(**r["values"])
        if isinstance(r, dict) and r["kind"] == "signal"
        else r
        if isinstance(r, str)
        else ""
        for r in reasons
    ]
    return [t for t in texts if t.startswith("signal ")]


def test_backlog_file_and_online_paths_lane_with_the_same_signals(platform, operator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    data = sample_declaration("LRN-SEAL")
    data["goods_items"] = [{**data["goods_items"][1], "sequence_number": 1}]  # no profile hits: only the signal
    data["importer"] = {**data["importer"], "aeo_status": "none", "aeo_certificate_id": None}
    others = [sample_declaration(f"LRN-Q{i}", goods_items=data["goods_items"]) for i in range(3)]
    for other in others:  # on another container than the one whose seal was cut
        other["transport"] = {**other["transport"], "container_ids": ["MSKU1234565"]}
    for d in (data, *others):
        declarations.create(engine, operator, d)
    seal_cut(engine, "LRN-SEAL", "CSQU3054383")
    expected = ["signal iot.seal_opened_outside_zone (critical): e-seal opened outside a customs zone"]
    service.score_backlog(platform, ANALYST)  # the batch path over the stored backlog
    backlog = service.explain(engine, ANALYST, "LRN-SEAL")
    assert backlog["lane"] == "red" and signal_reasons(backlog["reasons"]) == expected
    assert not any("no profile hit or signal" in r["text"] for r in backlog["reasons"])
    for reference in ("LRN-Q0", "LRN-Q1", "LRN-Q2"):  # the others have no signal
        assert not signal_reasons(service.explain(engine, ANALYST, reference)["reasons"])
    path = tmp_path / "declarations.jsonl"
    path.write_text(json.dumps(data) + "\n")
    output = tmp_path / "lanes.jsonl"
    service.score_file(platform, ANALYST, path, layout="native", output=output)  # the batch path over a file
    [from_file] = [json.loads(line) for line in output.read_text().splitlines()]
    assert from_file["lane"] == "red" and signal_reasons(from_file["reasons"]) == expected
    online = service.assess(platform, ANALYST, data)  # the online path, what-if and stored
    assert online["lane"] == "red" and signal_reasons(online["reasons"]) == expected
    stored = service.decide(platform, ANALYST, "LRN-SEAL")
    assert stored["lane"] == "red" and signal_reasons(stored["reasons"]) == expected


def test_the_routes_name_their_permission_before_the_service_runs(platform, engine, operator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    called: list[str] = []
    monkeypatch.setattr(service, "decide", lambda *a, **k: called.append("decide"))
    monkeypatch.setattr(service, "score_backlog", lambda *a, **k: called.append("backlog"))
    monkeypatch.setattr(service, "explain", lambda *a, **k: called.append("explain"))
    dpo = token_for(engine, operator, "dora", "data_protection_officer")
    device = token_for(engine, operator, "gate", "device")
    with TestClient(create_app(platform)) as client:
        assert client.post("/risk/decisions/LRN-1", headers=dpo).status_code == 403
        assert client.post("/risk/backlog", headers=dpo).status_code == 403
        assert client.get("/risk/decisions/LRN-1", headers=device).status_code == 403
        assert client.post("/risk/what-if", json=sample_declaration(), headers=device).status_code == 403
    assert called == []


def test_a_decisions_csv_quotes_text_a_spreadsheet_would_run(platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`risk score FILE --output lanes.csv` is opened in spreadsheets: a reference (or any text) starting with = + - @
    is written behind a single quote, as the import's problem report is (issue #12, 11: formula injection)."""
    import csv

    path = tmp_path / "declarations.jsonl"
    path.write_text(json.dumps(sample_declaration("=HYPERLINK(1)")) + "\n" + json.dumps(sample_declaration("LRN-OK")))
    output = tmp_path / "lanes.csv"
    service.score_file(platform, ANALYST, path, layout="native", output=output)
    references = sorted(row["reference"] for row in csv.DictReader(output.open()))
    assert references == ["'=HYPERLINK(1)", "LRN-OK"]


def test_a_what_if_does_not_turn_trader_ids_into_pseudonyms_and_history(platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A reader without personal_data:read who writes a trader id into a what-if body (or a file to score) gets no
    signal looked up by that id: otherwise any list of trader ids maps to pseudonyms and AEO history, which the
    party search refuses (found by review). A reader with the permission gets them, as online."""
    emit_revoked(platform.engine)  # about TRADER and CERTIFICATE; no stored declaration names them
    body = sample_declaration("LRN-PROBE")
    body["importer"] = {**body["importer"], "id": TRADER, "aeo_certificate_id": CERTIFICATE}
    probed = service.assess(platform, ANALYST, body)
    assert not signal_reasons(probed["reasons"])
    assert platform.pseudonymiser(TRADER) not in shown(probed)
    assert signal_reasons(service.assess(platform, SUPERVISOR, body)["reasons"])  # personal data: as online
    path = tmp_path / "probe.jsonl"
    path.write_text(json.dumps(body) + "\n")
    output = tmp_path / "lanes.jsonl"
    service.score_file(platform, ANALYST, path, layout="native", output=output)
    assert "ledger.aeo" not in output.read_text() and platform.pseudonymiser(TRADER) not in output.read_text()
