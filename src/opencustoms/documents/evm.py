"""Status on an EVM network: a DocumentStore-compatible contract (``contracts/DocumentStore.vy``) through web3.py.

The contract has the function names, argument types, events and revert messages of OpenAttestation's Solidity
DocumentStore (issue, bulkIssue, revoke, bulkRevoke, isIssued, isRevoked, ...), so OpenAttestation's verifier
reads its status and ours reads theirs. Its ABI and bytecode are compiled once (vyper, in-process, offline) into
``contracts/DocumentStore.json``, which ships with the package: running needs web3.py and an RPC endpoint, neither
vyper nor the internet. ``python -m opencustoms.documents.evm`` rebuilds the artifact after a change to the source;
a test checks that the two agree.

:class:`EvmDocumentStore` answers ``is_issued`` / ``is_revoked`` as the verifier's status source (see
:class:`opencustoms.documents.registry.StatusSource`) and issues and revokes as the contract's owner, reading what
happened from each transaction's receipt (its events), not from ``get_logs`` over the chain's history.
Networks: eth-tester (py-evm) in tests; Hyperledger Besu or LACChain (a Besu network) by JSON-RPC URL in production
(``OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL``; transactions signed locally with the key in
``OPENCUSTOMS_DOCUMENTS_EVM_PRIVATE_KEY_FILE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opencustoms import evm
from opencustoms.documents.errors import AlreadyIssuedError, AlreadyRevokedError, DocumentError, EvmUnavailableError
from opencustoms.documents.registry import normalise_hash
from opencustoms.errors import OpenCustomsError

if TYPE_CHECKING:  # web3 is imported only when an EVM store is used
    from web3 import Web3

CONTRACTS = Path(__file__).resolve().parent / "contracts"
ARTIFACT = evm.Artifact(CONTRACTS, "DocumentStore", DocumentError, "python -m opencustoms.documents.evm")
SOURCE_PATH = ARTIFACT.source_path
ARTIFACT_PATH = ARTIFACT.path
MAX_BULK = 1024  # DynArray bound of bulkIssue / bulkRevoke in the contract
RPC_SETTING = "OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL"
KEY_SETTING = "OPENCUSTOMS_DOCUMENTS_EVM_PRIVATE_KEY_FILE"


def source_sha256() -> str:
    return ARTIFACT.source_sha256()


def compile_artifact() -> dict[str, Any]:
    """Compile the contract with vyper (in-process, offline): ABI, bytecode, compiler version, source hash."""
    return ARTIFACT.compile()


def load_artifact() -> dict[str, Any]:
    """The compiled contract shipped with the package (no compiler, no network)."""
    return ARTIFACT.load()


def _bytes32(value: str, field: str) -> bytes:
    return bytes.fromhex(normalise_hash(value, field))


def connect(rpc_url: str, timeout_s: float = 10.0, private_key_file: Path | None = None) -> Web3:
    """A Web3 connection to an EVM node by JSON-RPC over HTTP (Besu, LACChain), with proof-of-authority block
    headers accepted and, when a key file is given, transactions signed locally by that key's account
    (``opencustoms.evm.connect`` with the documents pillar's errors)."""
    return evm.connect(rpc_url, timeout_s, private_key_file, error=DocumentError, unavailable=EvmUnavailableError)


class EvmDocumentStore(evm.Contract):
    """One DocumentStore contract on one network: the verifier's status source, and the owner's issue/revoke."""

    ARTIFACT = ARTIFACT
    error = DocumentError
    unavailable = EvmUnavailableError
    rpc_setting = RPC_SETTING
    key_setting = KEY_SETTING

    @classmethod
    def deploy(cls, w3: Web3, name: str, sender: str | None = None) -> EvmDocumentStore:
        """Deploy a new store owned by ``sender`` (default: the connection's default account or first account)."""
        store: EvmDocumentStore = cls.deploy_contract(w3, name[:100], sender=sender)
        return store

    @classmethod
    def refused(cls, what: str, reason: str) -> OpenCustomsError:
        if "not been issued" in reason:
            return AlreadyIssuedError(f"{what} refused by the contract: {reason}")
        if "revoked previously" in reason:
            return AlreadyRevokedError(f"{what} refused by the contract: {reason}")
        if "not the owner" in reason:
            return DocumentError(
                f"{what} refused by the contract: {reason}; only the store's owner may issue and revoke "
                f"(set {KEY_SETTING} to the owner's key)",
                field="sender",
            )
        return super().refused(what, reason)

    # --- reads: the verifier's StatusSource ----------------------------------------------------------------------

    def is_issued(self, merkle_root: str) -> bool:
        return bool(self._call("isIssued", _bytes32(merkle_root, "merkle_root")))

    def is_revoked(self, hash_: str) -> bool:
        return bool(self._call("isRevoked", _bytes32(hash_, "hash")))

    def owner(self) -> str:
        return str(self._call("owner"))

    def name(self) -> str:
        return str(self._call("name"))

    # --- writes (the owner) ---------------------------------------------------------------------------------------

    def issue(self, merkle_root: str) -> str:
        """Issue one batch root; returns the transaction hash. A root is issued once."""
        root = _bytes32(merkle_root, "merkle_root")
        if self.is_issued(merkle_root):
            raise AlreadyIssuedError(f"merkle root {root.hex()} is already issued in store {self.address}")
        receipt = self._transact("issue", root)
        self._expect_events(receipt, "DocumentIssued", [root])
        return str(receipt["transactionHash"].hex())

    def bulk_issue(self, merkle_roots: Sequence[str]) -> list[str]:
        """Issue several roots, in transactions of up to 1,024; returns the transaction hashes."""
        roots = [_bytes32(r, "merkle_root") for r in merkle_roots]
        if len(set(roots)) != len(roots):
            raise DocumentError("the same merkle root appears twice in one issuance", field="merkle_root")
        for root in roots:
            if self.is_issued(root.hex()):
                raise AlreadyIssuedError(f"merkle root {root.hex()} is already issued in store {self.address}")
        out = []
        for i in range(0, len(roots), MAX_BULK):
            chunk = roots[i : i + MAX_BULK]
            receipt = self._transact("bulkIssue", chunk)
            self._expect_events(receipt, "DocumentIssued", chunk)
            out.append(str(receipt["transactionHash"].hex()))
        return out

    def revoke(self, hash_: str) -> str:
        """Revoke a document (its targetHash), a proof node or a whole batch (its root); returns the transaction."""
        value = _bytes32(hash_, "hash")
        if self.is_revoked(hash_):
            raise AlreadyRevokedError(f"{value.hex()} is already revoked in store {self.address}")
        receipt = self._transact("revoke", value)
        self._expect_events(receipt, "DocumentRevoked", [value])
        return str(receipt["transactionHash"].hex())

    def _expect_events(self, receipt: Any, event: str, documents: Sequence[bytes]) -> None:
        """Confirm from the receipt's own logs that the contract emitted the event for every document."""
        seen = {bytes(log["args"]["document"]) for log in self.events(receipt, event)}
        missing = [d.hex() for d in documents if d not in seen]
        if receipt["status"] != 1 or missing:
            raise DocumentError(
                f"transaction {receipt['transactionHash'].hex()} did not record {event} for "
                f"{', '.join(missing[:3]) or 'its documents'}"
            )


class LazyEvmStore:
    """A configured store that connects on first use, so building a verifier never touches the network and an
    unreachable node makes the status check ERROR (never a crash, never a pass)."""

    def __init__(self, rpc_url: str, address: str, timeout_s: float = 10.0) -> None:
        self.rpc_url, self.address, self.timeout_s = rpc_url, address, timeout_s
        self._store: EvmDocumentStore | None = None

    def _get(self) -> EvmDocumentStore:
        if self._store is None:
            self._store = EvmDocumentStore(connect(self.rpc_url, self.timeout_s), self.address)
        return self._store

    def is_issued(self, merkle_root: str) -> bool:
        return self._get().is_issued(merkle_root)

    def is_revoked(self, hash_: str) -> bool:
        return self._get().is_revoked(hash_)


def main() -> None:  # pragma: no cover - a maintainer's command
    """Rebuild contracts/DocumentStore.json from contracts/DocumentStore.vy."""
    print(ARTIFACT.write())


if __name__ == "__main__":  # pragma: no cover
    main()
