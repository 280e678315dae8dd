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

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opencustoms.documents.errors import (
    AlreadyIssuedError,
    AlreadyRevokedError,
    DocumentError,
    EvmUnavailableError,
)
from opencustoms.documents.registry import normalise_hash

if TYPE_CHECKING:  # web3 is imported only when an EVM store is used
    from web3 import Web3

CONTRACTS = Path(__file__).resolve().parent / "contracts"
SOURCE_PATH = CONTRACTS / "DocumentStore.vy"
ARTIFACT_PATH = CONTRACTS / "DocumentStore.json"
MAX_BULK = 1024  # DynArray bound of bulkIssue / bulkRevoke in the contract


def source_sha256() -> str:
    return hashlib.sha256(SOURCE_PATH.read_bytes()).hexdigest()


def compile_artifact() -> dict[str, Any]:
    """Compile the contract with vyper (in-process, offline): ABI, bytecode, compiler version, source hash."""
    try:
        import vyper
    except ImportError as exc:
        raise DocumentError(
            "compiling the DocumentStore contract needs vyper 0.4 (pip install 'vyper>=0.4.3,<0.5'); running it "
            "does not: the compiled contract ships as contracts/DocumentStore.json"
        ) from exc
    out = vyper.compile_code(SOURCE_PATH.read_text(), output_formats=["abi", "bytecode", "bytecode_runtime"])
    return {
        "contractName": "DocumentStore",
        "compiler": f"vyper {vyper.__version__}",
        "sourceSha256": source_sha256(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "deployedBytecode": out["bytecode_runtime"],
    }


@lru_cache(maxsize=1)
def load_artifact() -> dict[str, Any]:
    """The compiled contract shipped with the package (no compiler, no network)."""
    try:
        artifact: dict[str, Any] = json.loads(ARTIFACT_PATH.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DocumentError(
            f"cannot read the compiled DocumentStore contract {ARTIFACT_PATH.name}: {exc}; rebuild it with "
            "'python -m opencustoms.documents.evm'"
        ) from exc
    return artifact


def _bytes32(value: str, field: str) -> bytes:
    return bytes.fromhex(normalise_hash(value, field))


def _web3() -> Any:
    try:
        import web3
    except ImportError as exc:
        raise EvmUnavailableError(
            "EVM document stores need web3.py (pip install 'web3>=7'); it is not installed here"
        ) from exc
    return web3


def connect(rpc_url: str, timeout_s: float = 10.0, private_key_file: Path | None = None) -> Web3:
    """A Web3 connection to an EVM node by JSON-RPC over HTTP (Besu, LACChain), with proof-of-authority block
    headers accepted and, when a key file is given, transactions signed locally by that key's account."""
    web3 = _web3()
    from web3.middleware import ExtraDataToPOAMiddleware, SignAndSendRawMiddlewareBuilder

    w3 = web3.Web3(web3.Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    if private_key_file is not None:
        from eth_account import Account

        try:
            key = private_key_file.read_text().strip()
            account = Account.from_key(key)
        except (OSError, ValueError) as exc:
            raise DocumentError(
                f"cannot read an EVM private key from {private_key_file}: {exc.__class__.__name__}; the file must "
                "hold one hex private key (0x + 64 hex digits)",
                field="evm_private_key_file",
            ) from exc
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
        w3.eth.default_account = account.address
    return w3


def _unreachable(what: str, exc: BaseException) -> EvmUnavailableError:
    return EvmUnavailableError(
        f"{what}: the EVM node did not answer ({exc.__class__.__name__}: {str(exc)[:200]}); check "
        "OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL and that the node is running"
    )


class EvmDocumentStore:
    """One DocumentStore contract on one network: the verifier's status source, and the owner's issue/revoke."""

    def __init__(self, w3: Web3, address: str, sender: str | None = None) -> None:
        web3 = _web3()
        if not web3.Web3.is_address(address):
            raise DocumentError(f"{address!r} is not an EVM address (0x + 40 hex digits)", field="address")
        self.w3 = w3
        self.address = web3.Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=load_artifact()["abi"])
        self.sender = sender

    @classmethod
    def deploy(cls, w3: Web3, name: str, sender: str | None = None) -> EvmDocumentStore:
        """Deploy a new store owned by ``sender`` (default: the connection's default account or first account)."""
        artifact = load_artifact()
        sender = sender or _default_sender(w3)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = _wait(w3, lambda: factory.constructor(name[:100]).transact({"from": sender}), "deploying")
        if receipt["status"] != 1 or not receipt.get("contractAddress"):
            raise DocumentError(f"the DocumentStore deployment failed (transaction {receipt['transactionHash'].hex()})")
        return cls(w3, receipt["contractAddress"], sender)

    # --- reads: the verifier's StatusSource ----------------------------------------------------------------------

    def is_issued(self, merkle_root: str) -> bool:
        return bool(self._call("isIssued", _bytes32(merkle_root, "merkle_root")))

    def is_revoked(self, hash_: str) -> bool:
        return bool(self._call("isRevoked", _bytes32(hash_, "hash")))

    def owner(self) -> str:
        return str(self._call("owner"))

    def name(self) -> str:
        return str(self._call("name"))

    def _call(self, function: str, *args: Any) -> Any:
        from eth_abi.exceptions import DecodingError
        from web3.exceptions import BadFunctionCallOutput

        try:
            return getattr(self.contract.functions, function)(*args).call()
        except _TRANSPORT_ERRORS as exc:
            raise _unreachable(f"{function} on store {self.address}", exc) from exc
        except (BadFunctionCallOutput, DecodingError) as exc:  # an address without code answers with empty data
            raise EvmUnavailableError(
                f"{self.address} answers {function} with no data: no DocumentStore contract is deployed at that "
                "address on this network (check the address and OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL)"
            ) from exc

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

    def _transact(self, function: str, *args: Any) -> Any:
        sender = self.sender or _default_sender(self.w3)
        return _wait(
            self.w3,
            lambda: getattr(self.contract.functions, function)(*args).transact({"from": sender}),
            f"{function} on store {self.address}",
        )

    def _expect_events(self, receipt: Any, event: str, documents: Sequence[bytes]) -> None:
        """Confirm from the receipt's own logs that the contract emitted the event for every document."""
        logs = getattr(self.contract.events, event)().process_receipt(receipt)
        seen = {bytes(log["args"]["document"]) for log in logs}
        missing = [d.hex() for d in documents if d not in seen]
        if receipt["status"] != 1 or missing:
            raise DocumentError(
                f"transaction {receipt['transactionHash'].hex()} did not record {event} for "
                f"{', '.join(missing[:3]) or 'its documents'}"
            )


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What a node that does not answer raises (web3's own errors, requests', sockets')."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from web3.exceptions import ProviderConnectionError, TimeExhausted

        errors += [ProviderConnectionError, TimeExhausted]
        import requests

        errors.append(requests.exceptions.RequestException)
    except ImportError:  # pragma: no cover - without web3 no store is ever built
        pass
    return tuple(errors)


_TRANSPORT_ERRORS = _transport_errors()


def _revert_reason(exc: BaseException) -> str | None:
    """The revert message of a failed transaction (web3's ContractLogicError on a node, eth-tester's
    TransactionFailed in tests), or None for any other failure."""
    from web3.exceptions import ContractLogicError

    failures: tuple[type[BaseException], ...] = (ContractLogicError,)
    try:
        from eth_tester.exceptions import TransactionFailed

        failures += (TransactionFailed,)
    except ImportError:  # eth-tester is a test dependency
        pass
    if not isinstance(exc, failures):
        return None
    text = str(exc.args[0] if exc.args else exc)
    return text.split("execution reverted:", 1)[-1].strip() or text


def _wait(w3: Web3, send: Any, what: str) -> Any:
    try:
        tx = send()
        return w3.eth.wait_for_transaction_receipt(tx, timeout=120)
    except _TRANSPORT_ERRORS as exc:
        raise _unreachable(what, exc) from exc
    except Exception as exc:
        reason = _revert_reason(exc)
        if reason is None:
            raise
        if "not been issued" in reason:
            raise AlreadyIssuedError(f"{what} refused by the contract: {reason}") from exc
        if "revoked previously" in reason:
            raise AlreadyRevokedError(f"{what} refused by the contract: {reason}") from exc
        if "not the owner" in reason:
            raise DocumentError(
                f"{what} refused by the contract: {reason}; only the store's owner may issue and revoke "
                "(set OPENCUSTOMS_DOCUMENTS_EVM_PRIVATE_KEY_FILE to the owner's key)",
                field="sender",
            ) from exc
        raise DocumentError(f"{what} refused by the contract: {reason}") from exc


def _default_sender(w3: Web3) -> str:
    default = w3.eth.default_account
    if isinstance(default, str) and default:
        return default
    try:
        accounts = w3.eth.accounts
    except _TRANSPORT_ERRORS as exc:
        raise _unreachable("listing accounts", exc) from exc
    if not accounts:
        raise DocumentError(
            "no account to send the transaction from: set OPENCUSTOMS_DOCUMENTS_EVM_PRIVATE_KEY_FILE",
            field="sender",
        )
    return str(accounts[0])


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
    ARTIFACT_PATH.write_text(json.dumps(compile_artifact(), indent=2) + "\n")
    print(f"wrote {ARTIFACT_PATH} ({source_sha256()[:12]})")


if __name__ == "__main__":  # pragma: no cover
    main()
