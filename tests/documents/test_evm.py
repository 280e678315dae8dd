"""The DocumentStore contract (Vyper) on an in-process EVM, and the verifier reading status from it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from documents_helpers import SETTINGS, coo_record
from sqlalchemy import Engine

from conftest import require_modules
from opencustoms.documents import openattestation as oa
from opencustoms.documents import service
from opencustoms.documents.config import DocumentSettings
from opencustoms.documents.errors import AlreadyIssuedError, AlreadyRevokedError, DocumentError, DocumentNotFoundError
from opencustoms.documents.verify import Verdict
from opencustoms.security.service import Identity

pytestmark = pytest.mark.evm

ROOT_A = "aa" * 32
ROOT_B = "bb" * 32


def test_shipped_artifact_is_the_compiled_source() -> None:
    require_modules("vyper")
    from opencustoms.documents import evm

    shipped = json.loads(evm.ARTIFACT_PATH.read_text())
    fresh = evm.compile_artifact()
    assert shipped["sourceSha256"] == evm.source_sha256(), "rebuild: python -m opencustoms.documents.evm"
    assert shipped["abi"] == fresh["abi"]
    assert shipped["bytecode"] == fresh["bytecode"]


def test_abi_matches_openattestation_document_store() -> None:
    """The functions and events OpenAttestation's tools call, with their Solidity signatures."""
    from opencustoms.documents.evm import load_artifact

    abi = load_artifact()["abi"]
    signatures = {
        f"{e['name']}({','.join(i['type'] for i in e['inputs'])})": e.get("outputs", [])
        for e in abi
        if e.get("type") in ("function", "event")
    }
    for expected in (
        "issue(bytes32)",
        "bulkIssue(bytes32[])",
        "revoke(bytes32)",
        "bulkRevoke(bytes32[])",
        "isIssued(bytes32)",
        "isRevoked(bytes32)",
        "isIssuedBefore(bytes32,uint256)",
        "isRevokedBefore(bytes32,uint256)",
        "getIssuedBlock(bytes32)",
        "documentIssued(bytes32)",
        "documentRevoked(bytes32)",
        "DocumentIssued(bytes32)",
        "DocumentRevoked(bytes32)",
        "name()",
        "version()",
        "owner()",
        "transferOwnership(address)",
    ):
        assert expected in signatures, expected
    assert [o["type"] for o in signatures["isIssued(bytes32)"]] == ["bool"]
    assert [o["type"] for o in signatures["isRevoked(bytes32)"]] == ["bool"]


def test_issue_revoke_and_read_on_chain(w3: Any) -> None:
    from opencustoms.documents.evm import EvmDocumentStore

    store = EvmDocumentStore.deploy(w3, "Dutch Customs")
    assert store.name() == "Dutch Customs"
    assert store.owner() == w3.eth.accounts[0]
    assert not store.is_issued(ROOT_A)

    tx = store.issue(ROOT_A)
    receipt = w3.eth.get_transaction_receipt(tx)
    events = store.contract.events.DocumentIssued().process_receipt(receipt)
    assert [bytes(e["args"]["document"]).hex() for e in events] == [ROOT_A]
    assert store.is_issued(ROOT_A) and store.is_issued("0x" + ROOT_A.upper())
    assert store.contract.functions.getIssuedBlock(bytes.fromhex(ROOT_A)).call() == receipt["blockNumber"]
    with pytest.raises(AlreadyIssuedError):
        store.issue(ROOT_A)

    roots = [f"{i:064x}" for i in range(1, 6)]
    store.bulk_issue(roots)
    assert all(store.is_issued(r) for r in roots)
    with pytest.raises(AlreadyIssuedError):
        store.bulk_issue([ROOT_B, roots[0]])  # refused before sending: nothing of the batch is issued
    assert not store.is_issued(ROOT_B)

    assert not store.is_revoked(ROOT_B)
    store.revoke(ROOT_B)  # a hash need not be issued to be revoked (a targetHash never is)
    assert store.is_revoked(ROOT_B) and not store.is_revoked(ROOT_A)
    with pytest.raises(AlreadyRevokedError):
        store.revoke(ROOT_B)
    with pytest.raises(DocumentError, match="32-byte hash"):
        store.issue("0x1234")


def test_only_the_owner_issues_and_the_contract_itself_refuses_duplicates(w3: Any) -> None:
    from opencustoms.documents.evm import EvmDocumentStore

    store = EvmDocumentStore.deploy(w3, "Dutch Customs")
    intruder = EvmDocumentStore(w3, store.address, sender=w3.eth.accounts[1])
    with pytest.raises(DocumentError, match="not the owner"):
        intruder.issue(ROOT_A)
    with pytest.raises(DocumentError, match="not the owner"):
        intruder.revoke(ROOT_A)
    assert not store.is_issued(ROOT_A) and not store.is_revoked(ROOT_A)
    # the contract's own check (not only the pre-check in Python): a raw second issue reverts
    store.issue(ROOT_A)
    with pytest.raises(AlreadyIssuedError, match="not been issued can be issued"):
        store._transact("issue", bytes.fromhex(ROOT_A))


def test_signed_transactions_from_a_key_file(w3: Any, tmp_path: Any) -> None:
    """The production path (Besu/LACChain): an account whose key is in a file signs transactions locally."""
    from eth_account import Account
    from web3.middleware import SignAndSendRawMiddlewareBuilder

    from opencustoms.documents.evm import EvmDocumentStore

    account = Account.create()
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**18})
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
    store = EvmDocumentStore.deploy(w3, "Signed store", sender=account.address)
    assert store.owner() == account.address
    store.issue(ROOT_A)
    assert store.is_issued(ROOT_A)


def _evm_settings(address: str) -> DocumentSettings:
    return SETTINGS.model_copy(update={"store_address": address})


def test_verifier_reads_status_from_the_contract(engine: Engine, operator: Identity, w3: Any) -> None:
    from opencustoms.documents.evm import EvmDocumentStore

    store = EvmDocumentStore.deploy(w3, "Dutch Customs")
    settings = _evm_settings(store.address)
    issued = service.issue(engine, operator, "coo", [coo_record("COO-1"), coo_record("COO-2")], settings)
    first, second = issued.documents
    stores = {store.address: store}

    # the root is in the local registry but not yet on the chain: the contract decides
    report = service.verify(engine, first, settings, stores)
    assert report.fragment("status").verdict is Verdict.INVALID
    assert "never issued" in report.fragment("status").reason

    store.issue(issued.merkle_root)
    reports = service.verify_many(engine, [first, second], settings, stores)
    assert [r.valid for r in reports] == [True, True], [r.summary for r in reports]

    store.revoke(first["signature"]["targetHash"])
    report = service.verify(engine, first, settings, stores)
    assert report.fragment("status").verdict is Verdict.INVALID
    assert report.fragment("status").reason.startswith("revoked: the document")
    assert service.verify(engine, second, settings, stores).valid

    store.revoke(issued.merkle_root)  # the whole batch
    report = service.verify(engine, second, settings, stores)
    assert "its whole batch" in report.fragment("status").reason

    # tampering is still caught before status
    tampered = json.loads(json.dumps(second))
    tampered["data"]["fta"] = oa.salt_data("another FTA")
    assert service.verify(engine, tampered, settings, stores).fragment("integrity").verdict is Verdict.INVALID


def test_configured_store_that_does_not_answer_is_an_error_not_a_pass(engine: Engine, operator: Identity) -> None:
    require_modules("web3")
    address = "0x" + "12" * 20
    document = service.issue(engine, operator, "coo", [coo_record()], _evm_settings(address)).documents[0]
    settings = _evm_settings(address).model_copy(
        update={"evm_rpc_url": "http://127.0.0.1:9/", "evm_stores": [address], "evm_timeout_s": 2.0}
    )
    report = service.verify(engine, document, settings)
    status = report.fragment("status")
    assert status.verdict is Verdict.ERROR and not report.valid
    assert "could not be read" in status.reason and "EVM_RPC_URL" in status.reason
    # this administration's own store on that unreachable node: the issue is kept here, the error says what to do
    from opencustoms.documents.errors import EvmPublishError

    with pytest.raises(EvmPublishError, match="not on the EVM store"):
        service.issue(engine, operator, "coo", [coo_record("COO-11")], settings)
    assert service.show(engine, operator, "COO-11")


def test_evm_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="EVM_RPC_URL"):
        DocumentSettings(evm_stores=["0x" + "12" * 20])
    with pytest.raises(ValueError, match="not an address"):
        DocumentSettings(evm_rpc_url="http://127.0.0.1:8545", evm_stores=["0x12"])


def test_address_without_a_contract_is_reported(w3: Any) -> None:
    from opencustoms.documents.errors import EvmUnavailableError
    from opencustoms.documents.evm import EvmDocumentStore

    empty = EvmDocumentStore(w3, "0x" + "34" * 20)
    with pytest.raises(EvmUnavailableError, match="no DocumentStore contract"):
        empty.is_issued(ROOT_A)


def test_issue_and_revoke_publish_to_the_administrations_contract(engine: Engine, operator: Identity, w3: Any) -> None:
    from opencustoms.documents.evm import EvmDocumentStore

    store = EvmDocumentStore.deploy(w3, "Dutch Customs")
    settings = _evm_settings(store.address)
    result = service.issue(engine, operator, "coo", [coo_record("COO-9")], settings, evm_store=store)
    assert result.evm_transaction and store.is_issued(result.merkle_root)
    document = result.documents[0]
    assert service.verify(engine, document, settings, {store.address: store}).valid

    service.revoke(engine, operator, "COO-9", "forged stamp", settings, evm_store=store)
    assert store.is_revoked(document["signature"]["targetHash"])
    report = service.verify(engine, document, settings, {store.address: store})
    assert report.fragment("status").reason.startswith("revoked: the document")


def test_failed_publication_keeps_the_local_issue_and_sync_finishes_it(
    engine: Engine, operator: Identity, w3: Any
) -> None:
    from opencustoms.documents.errors import EvmPublishError
    from opencustoms.documents.evm import EvmDocumentStore

    store = EvmDocumentStore.deploy(w3, "Dutch Customs")
    not_owner = EvmDocumentStore(w3, store.address, sender=w3.eth.accounts[1])
    settings = _evm_settings(store.address)
    with pytest.raises(EvmPublishError, match="evm-sync") as failure:
        service.issue(engine, operator, "coo", [coo_record("COO-10")], settings, evm_store=not_owner)
    root = failure.value.message.split()[1]
    assert service.show(engine, operator, "COO-10")["signature"]["merkleRoot"] == root  # stored here
    assert not store.is_issued(root)

    done = service.sync_evm(engine, operator, root, settings, evm_store=store)
    assert done["issued"] != "already" and store.is_issued(root)
    assert service.sync_evm(engine, operator, root, settings, evm_store=store)["issued"] == "already"
    with pytest.raises(DocumentNotFoundError, match="neither issued nor revoked"):
        service.sync_evm(engine, operator, "cd" * 32, settings, evm_store=store)
    with pytest.raises(DocumentError, match="not an EVM contract"):
        service.sync_evm(engine, operator, root, SETTINGS)
