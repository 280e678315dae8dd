"""EVM plumbing shared by the pillars that write to an EVM network (documents' DocumentStore, the ledger's
CheckpointAnchor): connecting by JSON-RPC (Besu, LACChain) with transactions signed locally from a key file, the
compiled contract artifacts shipped with the package, deploying, calling and transacting with clear errors.

A contract is written in Vyper and compiled once, offline and in-process, into a JSON artifact (ABI, bytecode,
compiler version, SHA-256 of the source) that ships beside its source (:class:`Artifact`): running needs web3.py and
an RPC endpoint, neither vyper nor the internet. A test per contract checks that the artifact matches the source.

web3.py is optional (the ``evm`` extra) and imported only when a chain is used; without it every entry point raises
an error saying what to install. Every EVM library is imported through :func:`evm_import`, which keeps the process's
recursion limit: py_ecc (loaded by web3 and eth-account) and py-evm raise it for the whole process at import (to
100,000), after which CPython's JSON parser and pydantic overflow the C stack on deeply nested input (a segfault
instead of a refusal). Each pillar keeps its own errors: :class:`Contract` and :func:`connect` take the
error classes to raise (``error`` for refusals and bad input, ``unavailable`` for a node that does not answer) and
the names of the settings to mention in messages, so a documents error stays a ``DocumentError``.

Writes are confirmed from each transaction's own receipt (its events), never from ``get_logs`` over the chain's
history (slow on eth-tester, and unnecessary).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from opencustoms.errors import OpenCustomsError

if TYPE_CHECKING:  # web3 is imported only when a chain is used
    from web3 import Web3

ZERO_ADDRESS = "0x" + "00" * 20


class EvmError(OpenCustomsError):
    """A refusal by a contract, a failed transaction or bad EVM input (address, key file)."""

    status = 422
    title = "EVM transaction refused"


class EvmUnavailableError(EvmError):
    """The EVM node does not answer, web3.py is missing, or no contract is deployed at the address."""

    status = 503
    title = "EVM network unavailable"


ErrorClass = type[OpenCustomsError]


@contextlib.contextmanager
def recursion_limit_kept() -> Iterator[None]:
    """Restore the process's recursion limit after the block, whatever an import inside it set (py_ecc and py-evm
    raise it process-wide when imported)."""
    limit = sys.getrecursionlimit()
    try:
        yield
    finally:
        if sys.getrecursionlimit() != limit:
            sys.setrecursionlimit(limit)


def evm_import(name: str) -> Any:
    """Import an EVM library module (``web3``, ``web3.exceptions``, ``eth_account``, ``eth_tester`` ...) without
    letting it change the process's recursion limit. ImportError passes through."""
    with recursion_limit_kept():
        return importlib.import_module(name)


def web3_module(unavailable: ErrorClass = EvmUnavailableError) -> Any:
    """The web3 package, or ``unavailable`` saying how to install it."""
    try:
        web3 = evm_import("web3")
    except ImportError as exc:
        raise unavailable(
            "EVM networks need web3.py (pip install 'opencustoms[evm]' or 'web3>=7'); it is not installed here"
        ) from exc
    return web3


class Artifact:
    """A Vyper contract's source and its compiled JSON artifact (``<name>.vy`` and ``<name>.json`` in one folder)."""

    def __init__(self, folder: Path, name: str, error: ErrorClass = EvmError, rebuild: str = "") -> None:
        self.name = name
        self.source_path = folder / f"{name}.vy"
        self.path = folder / f"{name}.json"
        self.error = error
        self.rebuild = rebuild  # the command that rebuilds the artifact, for messages
        self._loaded: dict[str, Any] | None = None

    def source_sha256(self) -> str:
        return hashlib.sha256(self.source_path.read_bytes()).hexdigest()

    def compile(self) -> dict[str, Any]:
        """Compile the source with vyper (in-process, offline): ABI, bytecode, compiler version, source hash."""
        try:
            vyper = evm_import("vyper")
        except ImportError as exc:
            raise self.error(
                f"compiling the {self.name} contract needs vyper 0.4 (pip install 'vyper>=0.4.3,<0.5'); running it "
                f"does not: the compiled contract ships as {self.path.name}"
            ) from exc
        out = vyper.compile_code(self.source_path.read_text(), output_formats=["abi", "bytecode", "bytecode_runtime"])
        return {
            "contractName": self.name,
            "compiler": f"vyper {vyper.__version__}",
            "sourceSha256": self.source_sha256(),
            "abi": out["abi"],
            "bytecode": out["bytecode"],
            "deployedBytecode": out["bytecode_runtime"],
        }

    def load(self) -> dict[str, Any]:
        """The compiled contract shipped with the package (no compiler, no network); read once."""
        if self._loaded is None:
            try:
                self._loaded = json.loads(self.path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise self.error(
                    f"cannot read the compiled {self.name} contract {self.path.name}: {exc}; rebuild it with "
                    f"'{self.rebuild or 'python -m <its module>'}'"
                ) from exc
        assert self._loaded is not None
        return self._loaded

    def write(self) -> str:
        """Rebuild the artifact from the source (a maintainer's step); returns what was written."""
        self.path.write_text(json.dumps(self.compile(), indent=2) + "\n")
        self._loaded = None
        return f"wrote {self.path} ({self.source_sha256()[:12]})"


@functools.cache
def transport_errors() -> tuple[type[BaseException], ...]:
    """What a node that does not answer raises (web3's own errors, requests', sockets'); imports web3 on first use,
    not when this module is imported."""
    errors: list[type[BaseException]] = [OSError]
    try:
        exceptions = evm_import("web3.exceptions")
        errors += [exceptions.ProviderConnectionError, exceptions.TimeExhausted]
        errors.append(evm_import("requests").exceptions.RequestException)
    except ImportError:  # pragma: no cover - without web3 no contract is ever built
        pass
    return tuple(errors)


def revert_reason(exc: BaseException) -> str | None:
    """The revert message of a failed transaction or call (web3's ContractLogicError on a node, eth-tester's
    TransactionFailed in tests), or None for any other failure."""
    failures: tuple[type[BaseException], ...] = (evm_import("web3.exceptions").ContractLogicError,)
    with contextlib.suppress(ImportError):  # eth-tester is a test dependency
        failures += (evm_import("eth_tester.exceptions").TransactionFailed,)
    if not isinstance(exc, failures):
        return None
    text = str(exc.args[0] if exc.args else exc)
    return text.split("execution reverted:", 1)[-1].strip() or text


def connect(
    rpc_url: str,
    timeout_s: float = 10.0,
    private_key_file: Path | None = None,
    *,
    error: ErrorClass = EvmError,
    unavailable: ErrorClass = EvmUnavailableError,
    key_field: str = "evm_private_key_file",
) -> Web3:
    """A Web3 connection to an EVM node by JSON-RPC over HTTP (Besu, LACChain), with proof-of-authority block
    headers accepted and, when a key file is given, transactions signed locally by that key's account (the key
    stays in its file, never in the environment)."""
    web3 = web3_module(unavailable)
    ExtraDataToPOAMiddleware = evm_import("web3.middleware").ExtraDataToPOAMiddleware  # noqa: N806

    if not rpc_url.startswith(("http://", "https://")):
        raise error(f"EVM RPC URL {rpc_url!r} must start with http:// or https://", field="evm_rpc_url")
    w3 = web3.Web3(web3.Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    if private_key_file is not None:
        use_key_file(w3, private_key_file, error=error, key_field=key_field)
    return w3


def use_key_file(w3: Web3, private_key_file: Path, *, error: ErrorClass = EvmError, key_field: str = "key") -> str:
    """Sign this connection's transactions locally with the key in ``private_key_file``; returns its address."""
    Account = evm_import("eth_account").Account  # noqa: N806
    SignAndSendRawMiddlewareBuilder = evm_import("web3.middleware").SignAndSendRawMiddlewareBuilder  # noqa: N806

    try:
        account = Account.from_key(Path(private_key_file).read_text().strip())
    except (OSError, ValueError) as exc:
        raise error(
            f"cannot read an EVM private key from {private_key_file}: {exc.__class__.__name__}; the file must "
            "hold one hex private key (0x + 64 hex digits)",
            field=key_field,
        ) from exc
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
    w3.eth.default_account = account.address
    return str(account.address)


def bytes32(value: str | bytes, field: str, error: ErrorClass = EvmError) -> bytes:
    """32 bytes from raw bytes or 64 hex digits (with or without 0x)."""
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.lower().removeprefix("0x")
        try:
            raw = bytes.fromhex(text) if len(text) == 64 else b""
        except ValueError:
            raw = b""
    if len(raw) != 32:
        raise error(f"{value!r} is not a 32-byte hash (64 hexadecimal digits, optionally with 0x)", field=field)
    return raw


class Contract:
    """One deployed contract on one network, called through web3.py. Subclasses set the artifact, the error
    classes and the names of the settings that messages mention; ``refused`` maps a revert to an error."""

    ARTIFACT: ClassVar[Artifact]
    error: ClassVar[ErrorClass] = EvmError
    unavailable: ClassVar[ErrorClass] = EvmUnavailableError
    rpc_setting: ClassVar[str] = "the EVM RPC URL setting"
    key_setting: ClassVar[str] = "the EVM private key file setting"

    def __init__(self, w3: Web3, address: str, sender: str | None = None) -> None:
        web3 = web3_module(self.unavailable)
        if not isinstance(address, str) or not web3.Web3.is_address(address):
            raise self.error(f"{address!r} is not an EVM address (0x + 40 hex digits)", field="address")
        self.w3 = w3
        self.address: str = web3.Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=self.ARTIFACT.load()["abi"])
        self.sender = sender

    @classmethod
    def deploy_contract(cls, w3: Web3, *args: Any, sender: str | None = None) -> Any:
        """Deploy a new instance (constructor ``args``) from ``sender`` (default: the connection's account)."""
        artifact = cls.ARTIFACT.load()
        sender = sender or cls._default_sender(w3)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = cls._wait_for(w3, lambda: factory.constructor(*args).transact({"from": sender}), "deploying")
        if receipt["status"] != 1 or not receipt.get("contractAddress"):
            raise cls.error(
                f"the {cls.ARTIFACT.name} deployment failed (transaction {receipt['transactionHash'].hex()})"
            )
        return cls(w3, receipt["contractAddress"], sender)

    # --- calls and transactions -----------------------------------------------------------------------------------

    def _call(self, function: str, *args: Any) -> Any:
        DecodingError = evm_import("eth_abi.exceptions").DecodingError  # noqa: N806
        BadFunctionCallOutput = evm_import("web3.exceptions").BadFunctionCallOutput  # noqa: N806

        try:
            return getattr(self.contract.functions, function)(*args).call()
        except transport_errors() as exc:
            raise self._unreachable(f"{function} on {self.address}", exc) from exc
        except (BadFunctionCallOutput, DecodingError) as exc:  # an address without code answers with empty data
            raise self.unavailable(
                f"{self.address} answers {function} with no data: no {self.ARTIFACT.name} contract is deployed at "
                f"that address on this network (check the address and {self.rpc_setting})"
            ) from exc
        except Exception as exc:
            reason = revert_reason(exc)
            if reason is None:
                raise
            raise self.refused(f"{function} on {self.address}", reason) from exc

    def _transact(self, function: str, *args: Any) -> Any:
        """Send a transaction from the sender and wait for its receipt; a revert becomes ``refused``'s error."""
        sender = self.sender or self._default_sender(self.w3)
        return self._wait_for(
            self.w3,
            lambda: getattr(self.contract.functions, function)(*args).transact({"from": sender}),
            f"{function} on {self.address}",
        )

    def events(self, receipt: Any, event: str) -> list[Any]:
        """The ``event`` logs this contract emitted in a transaction (read from its receipt)."""
        return list(getattr(self.contract.events, event)().process_receipt(receipt))

    @classmethod
    def refused(cls, what: str, reason: str) -> OpenCustomsError:
        """The error for a revert; subclasses recognise their contract's messages first."""
        if "not the owner" in reason or "not authorised" in reason:
            return cls.error(
                f"{what} refused by the contract: {reason}; set {cls.key_setting} to the key of an account the "
                "contract accepts",
                field="sender",
            )
        return cls.error(f"{what} refused by the contract: {reason}")

    @classmethod
    def _unreachable(cls, what: str, exc: BaseException) -> OpenCustomsError:
        return cls.unavailable(
            f"{what}: the EVM node did not answer ({exc.__class__.__name__}: {str(exc)[:200]}); check "
            f"{cls.rpc_setting} and that the node is running"
        )

    @classmethod
    def _wait_for(cls, w3: Web3, send: Callable[[], Any], what: str) -> Any:
        try:
            tx = send()
            return w3.eth.wait_for_transaction_receipt(tx, timeout=120)
        except transport_errors() as exc:
            raise cls._unreachable(what, exc) from exc
        except Exception as exc:
            reason = revert_reason(exc)
            if reason is None:
                raise
            raise cls.refused(what, reason) from exc

    @classmethod
    def _default_sender(cls, w3: Web3) -> str:
        default = w3.eth.default_account
        if isinstance(default, str) and default:
            return default
        try:
            accounts = w3.eth.accounts
        except transport_errors() as exc:
            raise cls._unreachable("listing accounts", exc) from exc
        if not accounts:
            raise cls.error(f"no account to send the transaction from: set {cls.key_setting}", field="sender")
        return str(accounts[0])


def chain_id(w3: Web3, unavailable: ErrorClass = EvmUnavailableError) -> int:
    try:
        return int(w3.eth.chain_id)
    except transport_errors() as exc:
        raise unavailable(f"reading the chain id: the EVM node did not answer ({exc.__class__.__name__})") from exc


def require_unique(values: Sequence[bytes], field: str, error: ErrorClass = EvmError) -> None:
    if len(set(values)) != len(values):
        raise error(f"the same {field} appears twice in one transaction", field=field)
