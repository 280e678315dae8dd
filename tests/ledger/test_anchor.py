"""Anchoring checkpoints on an EVM network: the CheckpointAnchor contract (Vyper) on eth-tester, the ledger service
anchoring its log and catching a rewritten history against the chain (here and at a partner)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ledger_testnodes import LEDGER_OFFICER, certificate, connect, make_node, rewrite_history
from sqlalchemy import Engine, select

from conftest import require_modules
from opencustoms import signals
from opencustoms.api import create_app
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.ledger import service
from opencustoms.ledger.errors import AnchorError
from opencustoms.ledger.tables import ledger_anchors
from opencustoms.security.service import Identity
from opencustoms.store.database import open_database

pytestmark = pytest.mark.evm
ORIGIN = "opencustoms/NL/aeo"


def _deploy(w3: Any, engine: Engine, actor: Identity) -> Any:
    from opencustoms.ledger.anchor import CheckpointAnchor

    deployed = service.deploy_anchor_contract(engine, actor, "Test anchors", w3=w3)
    return CheckpointAnchor(w3, deployed["address"])


def test_shipped_artifact_is_the_compiled_source() -> None:
    require_modules("vyper")
    from opencustoms.ledger.anchor import ARTIFACT

    shipped = json.loads(ARTIFACT.path.read_text())
    fresh = ARTIFACT.compile()
    assert shipped["sourceSha256"] == ARTIFACT.source_sha256(), "rebuild: python -m opencustoms.ledger.anchor"
    assert shipped["abi"] == fresh["abi"]
    assert shipped["bytecode"] == fresh["bytecode"]


def test_contract_records_anchors_grows_monotonically_and_refuses_strangers(w3: Any) -> None:
    from opencustoms.ledger.anchor import CheckpointAnchor

    contract = CheckpointAnchor.deploy(w3, "Consortium anchors")
    owner, other, stranger = w3.eth.accounts[:3]
    assert contract.owner() == owner
    root_a, root_b = b"\xaa" * 32, b"\xbb" * 32
    # nobody may anchor a log, not even the owner, until the owner authorises an account for it
    with pytest.raises(AnchorError, match="not authorised"):
        contract.anchor(ORIGIN, 3, root_a, b"\x01" * 32)
    contract.set_submitter(ORIGIN, owner)
    sent = contract.anchor(ORIGIN, 3, root_a, b"\x01" * 32)
    assert sent["submitter"] == owner and sent["tx_hash"].startswith("0x")
    receipt = w3.eth.get_transaction_receipt(sent["tx_hash"])
    (event,) = contract.events(receipt, "CheckpointAnchored")
    assert event["args"]["origin"] == ORIGIN and event["args"]["treeSize"] == 3
    assert bytes(event["args"]["logId"]) == CheckpointAnchor.log_id(ORIGIN) == contract._call("logId", ORIGIN)
    # the same size again, or a smaller one: refused by the contract itself
    for size in (3, 2):
        with pytest.raises(AnchorError, match="tree size must grow"):
            contract.anchor(ORIGIN, size, root_b, b"\x02" * 32)
    contract.anchor(ORIGIN, 7, root_b, b"\x02" * 32)
    assert contract.latest_size(ORIGIN) == 7 and contract.count(ORIGIN) == 2
    assert [(a["size"], a["root"]) for a in contract.anchors(ORIGIN)] == [(3, root_a), (7, root_b)]
    assert [a["size"] for a in contract.anchors(ORIGIN, last=1)] == [7]
    assert contract.anchor_at(ORIGIN, 3)["block_number"] == receipt["blockNumber"]
    assert contract.anchor_at(ORIGIN, 5) is None
    assert contract._call("latest", CheckpointAnchor.log_id(ORIGIN))[0] == 7
    # an account authorised for one log cannot anchor another; a non-owner cannot authorise
    contract.set_submitter("opencustoms/BR/aeo", other)
    as_other = CheckpointAnchor(w3, contract.address, sender=other)
    with pytest.raises(AnchorError, match="not authorised"):
        as_other.anchor(ORIGIN, 9, root_a, b"\x03" * 32)
    as_other.anchor("opencustoms/BR/aeo", 1, root_a, b"\x03" * 32)
    as_stranger = CheckpointAnchor(w3, contract.address, sender=stranger)
    with pytest.raises(AnchorError, match="not the owner"):
        as_stranger.set_submitter(ORIGIN, stranger)
    assert not contract.may_anchor(ORIGIN, stranger)
    contract.set_submitter(ORIGIN, owner, False)
    with pytest.raises(AnchorError, match="not authorised"):
        contract.anchor(ORIGIN, 10, root_a, b"\x04" * 32)
    with pytest.raises(AnchorError, match="not an EVM address"):
        CheckpointAnchor(w3, "0x1234")


def test_address_without_a_contract_is_unavailable(w3: Any) -> None:
    from opencustoms.ledger.anchor import CheckpointAnchor
    from opencustoms.ledger.errors import AnchorUnavailableError

    with pytest.raises(AnchorUnavailableError, match="no CheckpointAnchor contract"):
        CheckpointAnchor(w3, "0x" + "34" * 20).latest_size(ORIGIN)


def test_node_anchors_its_latest_checkpoint_once(engine: Engine, operator: Identity, ledger, w3: Any) -> None:  # type: ignore[no-untyped-def]
    _, keys = ledger
    contract = _deploy(w3, engine, operator)
    service.issue(engine, LEDGER_OFFICER, keys, certificate("NLAEO00001"))
    first = service.anchor(engine, LEDGER_OFFICER, contract=contract)
    assert first["anchored"] and first["size"] == 2
    cp = service.latest_checkpoint(engine)
    from opencustoms.ledger.anchor import checkpoint_hash

    on_chain = contract.anchor_at(ORIGIN, 2)
    assert on_chain["root"] == cp.root and on_chain["checkpoint_hash"] == checkpoint_hash(cp.note, ORIGIN)
    again = service.anchor(engine, LEDGER_OFFICER, contract=contract)
    assert not again["anchored"] and "not newer" in again["reason"]
    service.change_status(engine, LEDGER_OFFICER, keys, "suspend", "NLAEO00001", "audit")
    second = service.anchor(engine, LEDGER_OFFICER, contract=contract)
    assert second["anchored"] and second["size"] == 3 and second["block_number"] > first["block_number"]
    with engine.connect() as conn:
        rows = conn.execute(select(ledger_anchors.c.size, ledger_anchors.c.tx_hash).order_by(ledger_anchors.c.id)).all()
    assert [(r.size, r.tx_hash) for r in rows] == [(2, first["tx_hash"]), (3, second["tx_hash"])]
    listed = service.anchors(engine, LEDGER_OFFICER)
    assert [a["size"] for a in listed] == [3, 2] and listed[0]["chain_id"] == w3.eth.chain_id
    latest = service.latest_anchor(engine, LEDGER_OFFICER)
    assert latest is not None and latest["size"] == 3 and latest["entries_since"] == 0
    (report,) = service.verify_anchors(engine, LEDGER_OFFICER, contract=contract)
    assert report["ok"] and report["checked"] == 2 and report["anchors"] == 2
    from opencustoms.store.tables import audit_log

    with engine.connect() as conn:
        actions = [a for a in conn.execute(select(audit_log.c.action)).scalars() if "anchor" in a]
    assert actions.count("anchor") == 2 and "verify_anchors" in actions


def test_a_reader_cannot_anchor(engine: Engine, operator: Identity, ledger, w3: Any) -> None:  # type: ignore[no-untyped-def]
    from opencustoms.errors import OpenCustomsError
    from opencustoms.security.roles import Role

    contract = _deploy(w3, engine, operator)
    analyst = Identity.of("analyst", "NL", [Role.RISK_ANALYST])
    with pytest.raises(OpenCustomsError) as refused:
        service.anchor(engine, analyst, contract=contract)
    assert refused.value.status == 403
    assert contract.count(ORIGIN) == 0


def test_periodic_anchoring_by_entries_and_minutes(engine: Engine, operator: Identity, ledger, w3: Any) -> None:  # type: ignore[no-untyped-def]
    _, keys = ledger
    contract = _deploy(w3, engine, operator)
    by_entries = Settings(ledger_anchor_every_entries=3)
    assert service.anchor_if_due(engine, operator, Settings(), contract=contract) is None  # off
    assert service.anchor_if_due(engine, operator, by_entries, contract=contract) is None  # 1 entry < 3
    for i in range(2):
        service.issue(engine, LEDGER_OFFICER, keys, certificate(f"NLAEO0000{i}"))
    done = service.anchor_if_due(engine, operator, by_entries, contract=contract)
    assert done is not None and done["anchored"] and done["size"] == 3
    service.issue(engine, LEDGER_OFFICER, keys, certificate("NLAEO00009"))
    by_minutes = Settings(ledger_anchor_every_minutes=10)
    assert service.anchor_if_due(engine, operator, by_minutes, contract=contract) is None  # too soon
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    done = service.anchor_if_due(engine, operator, by_minutes, contract=contract, now=later)
    assert done is not None and done["size"] == 4
    assert service.anchor_if_due(engine, operator, by_minutes, contract=contract, now=later) is None  # no growth


def test_settings_and_messages_without_a_network(engine: Engine, operator: Identity, ledger) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AnchorError, match="OPENCUSTOMS_LEDGER_EVM_CONTRACT"):
        service.anchor(engine, operator, settings=Settings())
    with pytest.raises(AnchorError, match="OPENCUSTOMS_LEDGER_EVM_RPC_URL"):
        service.anchor(engine, operator, settings=Settings(ledger_evm_contract="0x" + "12" * 20))
    with pytest.raises(ValueError, match="ledger_evm_contract"):
        Settings(ledger_evm_contract="0x12")
    with pytest.raises(ValueError, match="ledger_anchor_every_entries"):
        Settings(ledger_anchor_every_entries=-1)


def test_unreachable_node_is_a_clear_503(engine: Engine, operator: Identity, ledger) -> None:  # type: ignore[no-untyped-def]
    require_modules("web3")
    from opencustoms.ledger.errors import AnchorUnavailableError

    settings = Settings(
        ledger_evm_rpc_url="http://127.0.0.1:9/", ledger_evm_contract="0x" + "12" * 20, ledger_evm_timeout_s=2
    )
    with pytest.raises(AnchorUnavailableError, match="OPENCUSTOMS_LEDGER_EVM_RPC_URL") as failure:
        service.anchor(engine, operator, settings=settings)
    assert failure.value.status == 503
    with pytest.raises(AnchorError, match="http:// or https://"):
        service.anchor(engine, operator, settings=settings.model_copy(update={"ledger_evm_rpc_url": "besu:8545"}))


def _client(node: Any, token: str) -> TestClient:
    settings = Settings(database_url=node.url, data_dir=node.data_dir, administration=node.code)
    return TestClient(
        create_app(Platform(settings)),
        base_url=f"http://{node.code.lower()}.test",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_rewritten_history_is_caught_against_the_chain_here_and_at_a_partner(tmp_path, w3: Any) -> None:  # type: ignore[no-untyped-def]
    from opencustoms.ledger.anchor import CheckpointAnchor

    ar, br = make_node(tmp_path, "AR"), make_node(tmp_path, "BR")
    try:
        token = connect(ar, br, None)
        clients = {ar.origin: _client(ar, token)}
        deployed = service.deploy_anchor_contract(ar.engine, ar.operator, "AR anchors", w3=w3)
        contract = CheckpointAnchor(w3, deployed["address"])
        for n in ("ARAEO00001", "ARAEO00002", "ARAEO00003"):
            service.issue(ar.engine, ar.officer, ar.keys, certificate(n))
        assert service.anchor(ar.engine, ar.officer, contract=contract)["size"] == 4
        (clean,) = service.verify_anchors(ar.engine, ar.operator, contract=contract)
        assert clean["ok"]

        # Argentina's operator rewrites entry 1 and re-signs: its own check against the chain fails
        rewrite_history(ar, 1)
        (mine,) = service.verify_anchors(ar.engine, ar.operator, contract=contract)
        assert not mine["ok"] and "rewritten" in mine["problems"][0]
        assert [a["kind"] for a in service.alarms(ar.engine, ar.operator)] == ["anchor_mismatch"]
        # Brazil first sees Argentina's log after the rewrite: the pull alone cannot tell, the chain can
        service.pull(br.engine, br.operator, br.keys, ar.origin, clients=clients)
        reports = {r["origin"]: r for r in service.verify_anchors(br.engine, br.operator, contract=contract)}
        assert reports[br.origin]["anchors"] == 0 and reports[br.origin]["ok"]
        assert not reports[ar.origin]["ok"] and "rewritten after it was anchored" in reports[ar.origin]["problems"][0]
        assert [a["kind"] for a in service.alarms(br.engine, br.operator, ar.origin)] == ["anchor_mismatch"]
        critical = signals.for_subjects(br.engine, [(signals.SubjectType.ADMINISTRATION, ar.origin)])
        assert critical and critical[0].kind == "ledger.partner_anchor_mismatch"
    finally:
        open_database.cache_clear()


def test_anchor_routes_and_the_aeo_page(tmp_path, w3: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The API and the dashboard reach the service (the contract comes from the settings; here eth-tester's)."""
    from opencustoms.ledger import anchor as anchoring
    from opencustoms.security.service import create_user, issue_token

    node = make_node(tmp_path, "NL")
    try:
        deployed = service.deploy_anchor_contract(node.engine, node.operator, "NL anchors", w3=w3)
        contract = anchoring.CheckpointAnchor(w3, deployed["address"])
        monkeypatch.setattr(anchoring, "configured_contract", lambda settings=None: contract)
        create_user(node.engine, node.operator, "officer1", "NL", ["supervisor"])
        api = _client(node, issue_token(node.engine, node.operator, "officer1"))
        assert api.post("/ledger/certificates", json=certificate("NLAEO00001").model_dump(mode="json")).is_success
        done = api.post("/ledger/anchors")
        assert done.status_code == 200 and done.json()["anchored"] and done.json()["size"] == 2
        assert api.post("/ledger/anchors").json()["anchored"] is False
        assert [a["size"] for a in api.get("/ledger/anchors").json()] == [2]
        verified = api.post("/ledger/anchors/verify")
        assert verified.status_code == 200 and all(r["ok"] for r in verified.json())
        assert api.post("/ledger/anchors/verify", params={"last": 0}).status_code == 422
        from web_helpers import csrf_of

        token = issue_token(node.engine, node.operator, "officer1")
        browser = TestClient(create_app(Platform(Settings(database_url=node.url, data_dir=node.data_dir))))
        login = browser.get("/ui/login")
        data = {"username": "officer1", "token": token, "csrf_token": csrf_of(login.text), "next": "/ui/"}
        assert browser.post("/ui/login", data=data, follow_redirects=False).status_code == 303
        page = browser.get("/ui/aeo")
        assert page.status_code == 200 and "anchored in block" in page.text
        assert deployed["address"] in page.text and done.json()["tx_hash"] in page.text
        assert "ancré dans le bloc" in browser.get("/ui/aeo", params={"lang": "fr"}).text
    finally:
        open_database.cache_clear()
