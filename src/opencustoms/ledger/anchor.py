"""Anchoring checkpoints on an EVM network (Hyperledger Besu, LACChain): the CheckpointAnchor contract and the
ledger's use of it.

An administration that wants a blockchain records its log's signed checkpoints in a Vyper contract
(``contracts/CheckpointAnchor.vy``): per log origin, the tree size, the root hash and the SHA-256 of the checkpoint
note as the log signed it, with tree sizes that only grow. Only accounts the contract's owner authorised for a log
may anchor it. Anyone holding a copy of the log — this node, or a partner replicating it — can then check that the
log still has, at every anchored size, the anchored root (``verify_anchors``): a history rewritten after it was
anchored is caught against the chain, even by a partner that first saw the log after the rewrite.

Document roots are not anchored here: the documents pillar records them on its OpenAttestation-compatible
DocumentStore contract, which OpenAttestation's verifiers read. Both contracts share ``opencustoms.evm``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from opencustoms import evm
from opencustoms.config import Settings, get_settings
from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import logstore
from opencustoms.ledger.errors import AnchorError, AnchorUnavailableError, LedgerError, LedgerNotFoundError
from opencustoms.ledger.ingest import OWN
from opencustoms.ledger.logs import Log, get_log, latest_note, own_log, raise_alarm
from opencustoms.ledger.tables import ledger_anchors, ledger_checkpoints, ledger_logs
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record, utcnow
from opencustoms.store.database import as_utc

if TYPE_CHECKING:
    from web3 import Web3

CONTRACTS = Path(__file__).resolve().parent / "contracts"
ARTIFACT = evm.Artifact(CONTRACTS, "CheckpointAnchor", AnchorError, "python -m opencustoms.ledger.anchor")
RPC_SETTING = "OPENCUSTOMS_LEDGER_EVM_RPC_URL"
CONTRACT_SETTING = "OPENCUSTOMS_LEDGER_EVM_CONTRACT"
KEY_SETTING = "OPENCUSTOMS_LEDGER_EVM_PRIVATE_KEY_FILE"


def log_signed_note(note: str, origin: str) -> str:
    """A checkpoint note as the log signed it: its text and the log's own signature line, without any witness
    cosignature (Ed25519 signatures are deterministic, so every holder of the checkpoint gets the same text)."""
    text, signatures = notes.split_note(note)
    own = [raw for name, raw in signatures if name == origin]
    if not own:
        raise AnchorError(f"the checkpoint carries no signature of {origin}", field="checkpoint")
    return text + "\n" + f"{notes.DASH} {origin} {base64.b64encode(own[0]).decode()}\n"


def checkpoint_hash(note: str, origin: str) -> bytes:
    """SHA-256 of the checkpoint note as the log signed it (``log_signed_note``): what the chain records."""
    return hashlib.sha256(log_signed_note(note, origin).encode()).digest()


class CheckpointAnchor(evm.Contract):
    """One CheckpointAnchor contract on one network."""

    ARTIFACT = ARTIFACT
    error = AnchorError
    unavailable = AnchorUnavailableError
    rpc_setting = RPC_SETTING
    key_setting = KEY_SETTING

    @classmethod
    def deploy(cls, w3: Web3, name: str, sender: str | None = None) -> CheckpointAnchor:
        """Deploy a new contract owned by ``sender`` (default: the connection's account)."""
        contract: CheckpointAnchor = cls.deploy_contract(w3, name[:100], sender=sender)
        return contract

    @staticmethod
    def log_id(origin: str) -> bytes:
        web3 = evm.web3_module(AnchorUnavailableError)
        return bytes(web3.Web3.keccak(text=origin))

    def owner(self) -> str:
        return str(self._call("owner"))

    def may_anchor(self, origin: str, account: str) -> bool:
        return bool(self._call("submitters", self.log_id(origin), account))

    def set_submitter(self, origin: str, account: str, allowed: bool = True) -> str:
        """(Owner) let ``account`` anchor the log ``origin``, or stop it; returns the transaction hash."""
        web3 = evm.web3_module(AnchorUnavailableError)
        if not web3.Web3.is_address(account):
            raise AnchorError(f"{account!r} is not an EVM address (0x + 40 hex digits)", field="submitter")
        receipt = self._transact("setSubmitter", origin, web3.Web3.to_checksum_address(account), allowed)
        if receipt["status"] != 1 or not self.events(receipt, "SubmitterChanged"):
            raise AnchorError(f"transaction {receipt['transactionHash'].hex()} did not change the submitter")
        return str(receipt["transactionHash"].hex())

    def anchor(self, origin: str, size: int, root: bytes, cp_hash: bytes) -> dict[str, Any]:
        """Record a checkpoint; returns the transaction hash, block and sender, confirmed from the receipt's event."""
        receipt = self._transact("anchor", origin, size, root, cp_hash)
        events = [e for e in self.events(receipt, "CheckpointAnchored") if int(e["args"]["treeSize"]) == size]
        if receipt["status"] != 1 or not events or bytes(events[0]["args"]["rootHash"]) != root:
            raise AnchorError(f"transaction {receipt['transactionHash'].hex()} did not record the anchor of {size}")
        return {
            "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
            "block_number": int(receipt["blockNumber"]),
            "submitter": str(events[0]["args"]["submitter"]),
        }

    def latest_size(self, origin: str) -> int:
        return int(self._call("latestSize", self.log_id(origin)))

    def count(self, origin: str) -> int:
        return int(self._call("anchorCount", self.log_id(origin)))

    def anchor_at(self, origin: str, size: int) -> dict[str, Any] | None:
        """The anchor of ``origin`` at tree size ``size``, or None."""
        lid = self.log_id(origin)
        if not self._call("isAnchored", lid, size):
            return None
        root, cp_hash, block, timestamp, submitter = self._call("anchorAt", lid, size)
        return {
            "size": size,
            "root": bytes(root),
            "checkpoint_hash": bytes(cp_hash),
            "block_number": int(block),
            "timestamp": int(timestamp),
            "submitter": str(submitter),
        }

    def anchors(self, origin: str, last: int | None = None) -> list[dict[str, Any]]:
        """Every anchor of ``origin`` in order (or the ``last`` ones), read by index (no event history needed)."""
        lid = self.log_id(origin)
        count = self.count(origin)
        start = 0 if last is None else max(0, count - last)
        out = []
        for n in range(start, count):
            size = int(self._call("anchorSize", lid, n))
            found = self.anchor_at(origin, size)
            if found is not None:
                out.append(found)
        return out

    @classmethod
    def refused(cls, what: str, reason: str) -> OpenCustomsError:
        if "must grow" in reason:
            return AnchorError(
                f"{what} refused by the contract: {reason}; a checkpoint at least as large is already anchored",
                field="size",
            )
        return super().refused(what, reason)


# --- configuration --------------------------------------------------------------------------------------------------


def connect(settings: Settings) -> Web3:
    if not settings.ledger_evm_rpc_url:
        raise AnchorError(f"set {RPC_SETTING} to the JSON-RPC URL of the EVM node", field="ledger_evm_rpc_url")
    return evm.connect(
        settings.ledger_evm_rpc_url,
        settings.ledger_evm_timeout_s,
        settings.ledger_evm_private_key_file,
        error=AnchorError,
        unavailable=AnchorUnavailableError,
        key_field="ledger_evm_private_key_file",
    )


def configured_contract(settings: Settings | None = None) -> CheckpointAnchor:
    """The CheckpointAnchor of the settings (RPC URL, contract address, key file)."""
    settings = settings or get_settings()
    if not settings.ledger_evm_contract:
        raise AnchorError(
            f"set {CONTRACT_SETTING} to the CheckpointAnchor contract's address (deploy one with "
            "`opencustoms ledger anchor-deploy`)",
            field="ledger_evm_contract",
        )
    return CheckpointAnchor(connect(settings), settings.ledger_evm_contract)


def anchoring_configured(settings: Settings) -> bool:
    return bool(settings.ledger_evm_rpc_url and settings.ledger_evm_contract)


def _contract(contract: CheckpointAnchor | None, settings: Settings | None) -> CheckpointAnchor:
    return contract if contract is not None else configured_contract(settings)


# --- the service's functions ---------------------------------------------------------------------------------------


def deploy_anchor_contract(
    engine: Engine,
    actor: Identity,
    name: str,
    settings: Settings | None = None,
    *,
    w3: Web3 | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """Deploy a CheckpointAnchor owned by the configured account, and authorise that account to anchor this node's
    log; returns the address (set it as OPENCUSTOMS_LEDGER_EVM_CONTRACT)."""
    actor.require(Permission.USERS_MANAGE)
    log = own_log(engine)
    w3 = w3 if w3 is not None else connect(settings or get_settings())
    contract = CheckpointAnchor.deploy(w3, name, sender=sender)
    account = contract.sender or CheckpointAnchor._default_sender(w3)
    contract.set_submitter(log.origin, account, True)
    with engine.begin() as conn:
        record(
            conn,
            actor,
            "deploy",
            "ledger_anchor_contract",
            contract.address,
            detail={"name": name, "owner": account, "origin": log.origin},
        )
    return {"address": contract.address, "owner": account, "origin": log.origin}


def set_submitter(
    engine: Engine,
    actor: Identity,
    origin: str,
    account: str,
    allowed: bool = True,
    *,
    contract: CheckpointAnchor | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """(The contract's owner) authorise an account to anchor the log ``origin``, or withdraw it — for a contract
    shared by several administrations."""
    actor.require(Permission.USERS_MANAGE)
    anchor_contract = _contract(contract, settings)
    notes.verifier_key(origin, bytes(32))  # validates the log name
    tx = anchor_contract.set_submitter(origin, account, allowed)
    with engine.begin() as conn:
        record(
            conn,
            actor,
            "authorise" if allowed else "deauthorise",
            "ledger_anchor_submitter",
            account,
            detail={"origin": origin, "contract": anchor_contract.address, "tx_hash": tx},
        )
    return {"origin": origin, "submitter": account, "allowed": allowed, "tx_hash": tx}


def _last_anchor(engine: Engine, log_id: int, contract: str | None = None) -> dict[str, Any] | None:
    query = select(ledger_anchors).where(ledger_anchors.c.log_id == log_id)
    if contract is not None:
        query = query.where(ledger_anchors.c.contract == contract)
    with engine.connect() as conn:
        row = conn.execute(query.order_by(ledger_anchors.c.size.desc()).limit(1)).mappings().first()
    return None if row is None else dict(row)


def anchor(
    engine: Engine,
    actor: Identity,
    *,
    contract: CheckpointAnchor | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Anchor this node's latest signed checkpoint, if it is newer than the last one anchored (here or on the
    chain); the transaction is recorded in ``ledger_anchors`` and audited. Returns what was done."""
    actor.require(Permission.LEDGER_WRITE)
    anchor_contract = _contract(contract, settings)
    with engine.connect() as conn:
        log = get_log(conn)
        note = latest_note(conn, log.id)
    if note is None:
        raise LedgerNotFoundError("this node's log has no checkpoint yet; create it with `opencustoms ledger init`")
    cp = notes.open_checkpoint(note, log.origin, log.public_key)
    last = _last_anchor(engine, log.id, anchor_contract.address)
    on_chain = anchor_contract.latest_size(log.origin)
    done = max(on_chain, int(last["size"]) if last else 0)
    result: dict[str, Any] = {"origin": log.origin, "contract": anchor_contract.address, "size": cp.size}
    if cp.size == 0 or cp.size <= done:
        result.update(anchored=False, reason=f"checkpoint {cp.size} is not newer than the anchored {done}")
        return result
    cp_hash = checkpoint_hash(cp.note, log.origin)
    sent = anchor_contract.anchor(log.origin, cp.size, cp.root, cp_hash)
    chain = evm.chain_id(anchor_contract.w3, AnchorUnavailableError)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            ledger_anchors.insert().values(
                log_id=log.id,
                size=cp.size,
                root=cp.root,
                checkpoint_hash=cp_hash,
                chain_id=chain,
                contract=anchor_contract.address,
                tx_hash=sent["tx_hash"],
                block_number=sent["block_number"],
                submitter=sent["submitter"],
                anchored_at=now,
            )
        )
        record(
            conn,
            actor,
            "anchor",
            "ledger_log",
            log.origin,
            detail={"size": cp.size, "contract": anchor_contract.address, "chain_id": chain, **sent},
        )
    result.update(
        anchored=True, root=cp.root.hex(), checkpoint_hash=cp_hash.hex(), chain_id=chain, anchored_at=now, **sent
    )
    return result


def anchor_if_due(
    engine: Engine,
    actor: Identity,
    settings: Settings,
    *,
    contract: CheckpointAnchor | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any] | None:
    """Anchor when the settings say it is time: the log grew by ``ledger_anchor_every_entries`` entries since the
    last anchor, or ``ledger_anchor_every_minutes`` passed since it and the log grew. None when not due."""
    every_entries, every_minutes = settings.ledger_anchor_every_entries, settings.ledger_anchor_every_minutes
    if not every_entries and not every_minutes:
        return None
    log = own_log(engine)
    last = _last_anchor(engine, log.id)
    anchored = int(last["size"]) if last else 0
    grown = log.size - anchored
    if grown <= 0:
        return None
    now = now or utcnow()
    due = bool(every_entries and grown >= every_entries)
    if every_minutes and not due:
        due = last is None or now - as_utc(last["anchored_at"]) >= dt.timedelta(minutes=every_minutes)
    if not due:
        return None
    return anchor(engine, actor, contract=contract, settings=settings)


def _public(row: Any, origin: str) -> dict[str, Any]:
    return {
        "origin": origin,
        "size": int(row["size"]),
        "root": bytes(row["root"]).hex(),
        "checkpoint_hash": bytes(row["checkpoint_hash"]).hex(),
        "chain_id": int(row["chain_id"]),
        "contract": row["contract"],
        "tx_hash": row["tx_hash"],
        "block_number": int(row["block_number"]),
        "submitter": row["submitter"],
        "anchored_at": as_utc(row["anchored_at"]),
    }


def anchors(engine: Engine, actor: Identity, limit: int = 100) -> list[dict[str, Any]]:
    """The anchors this node submitted (newest first), from its own records (no chain access)."""
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        rows = conn.execute(
            select(ledger_anchors, ledger_logs.c.origin)
            .join(ledger_logs, ledger_logs.c.id == ledger_anchors.c.log_id)
            .order_by(ledger_anchors.c.id.desc())
            .limit(max(1, min(limit, 10_000)))
        ).mappings()
        return [_public(r, r["origin"]) for r in rows]


def latest_anchor(engine: Engine, actor: Identity) -> dict[str, Any] | None:
    """This node's latest anchor and how far the log has grown since (for the dashboard); None if never anchored."""
    actor.require(Permission.LEDGER_READ)
    with engine.connect() as conn:
        row = conn.execute(
            select(ledger_logs.c.id, ledger_logs.c.origin, ledger_logs.c.size).where(ledger_logs.c.role == OWN)
        ).first()
    if row is None:
        return None
    last = _last_anchor(engine, row.id)
    if last is None:
        return None
    out = _public(last, row.origin)
    out["entries_since"] = int(row.size) - out["size"]
    return out


def _check_log(
    engine: Engine, actor: Identity, contract: CheckpointAnchor, log: Log, last: int | None
) -> dict[str, Any]:
    """Compare one log held here with its anchors on the chain (and with the anchors recorded here)."""
    report: dict[str, Any] = {
        "origin": log.origin,
        "role": log.role,
        "size": log.size,
        "anchors": 0,
        "checked": 0,
        "pending": 0,
        "problems": [],
    }
    on_chain = contract.anchors(log.origin, last)
    report["anchors"] = len(on_chain)
    by_size = {a["size"]: a for a in on_chain}
    with engine.connect() as conn:
        held = {
            int(size): str(note)
            for size, note in conn.execute(
                select(ledger_checkpoints.c.size, ledger_checkpoints.c.note).where(
                    ledger_checkpoints.c.log_id == log.id
                )
            )
        }
        for a in on_chain:
            size = a["size"]
            if size > log.size:
                if log.role == OWN:
                    report["problems"].append(
                        f"the chain anchors size {size} (block {a['block_number']}) but this node's log has only "
                        f"{log.size} entries: entries were lost; rebuild the log from a partner "
                        "(`opencustoms ledger restore-from-partner`) before appending"
                    )
                else:
                    report["pending"] += 1  # not pulled yet
                continue
            try:
                ours = logstore.root_at(conn, log.id, size)
            except LedgerError as exc:
                report["problems"].append(f"size {size}: {exc.message}")
                continue
            report["checked"] += 1
            if ours != a["root"]:
                report["problems"].append(
                    f"at size {size} the chain anchors root {a['root'].hex()[:16]}... (block {a['block_number']}) "
                    f"but the log held here has {ours.hex()[:16]}...: the history was rewritten after it was anchored"
                )
            elif size in held and checkpoint_hash(held[size], log.origin) != a["checkpoint_hash"]:
                report["problems"].append(
                    f"at size {size} the anchored checkpoint hash differs from the checkpoint held here"
                )
        recorded = conn.execute(
            select(ledger_anchors.c.size, ledger_anchors.c.root, ledger_anchors.c.tx_hash).where(
                ledger_anchors.c.log_id == log.id, ledger_anchors.c.contract == contract.address
            )
        ).all()
    for size, root, tx in recorded:
        found = by_size.get(int(size)) if last is None else contract.anchor_at(log.origin, int(size))
        if found is None or found["root"] != bytes(root):
            report["problems"].append(
                f"this node recorded anchoring size {size} (transaction {tx}) but the contract "
                f"{'holds another root' if found else 'has no anchor'} at that size: wrong network or contract?"
            )
    for problem in report["problems"]:
        raise_alarm(engine, actor, log.origin, "anchor_mismatch", problem, detail={"contract": contract.address})
    report["ok"] = not report["problems"]
    return report


def verify_anchors(
    engine: Engine,
    actor: Identity,
    origin: str | None = None,
    *,
    last: int | None = None,
    contract: CheckpointAnchor | None = None,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Check every log held here (this node's and its partners', or only ``origin``) against its anchors on the
    chain: at each anchored size the log must have the anchored root. A mismatch raises an alarm (stored, audited,
    a critical signal). ``last`` checks only the most recent anchors of each log."""
    actor.require(Permission.LEDGER_READ)
    if last is not None and last < 1:
        raise AnchorError("give --last 1 or more (or leave it out to check every anchor)", field="last")
    anchor_contract = _contract(contract, settings)
    with engine.connect() as conn:
        if origin:
            logs = [get_log(conn, origin)]
        else:
            origins = conn.execute(select(ledger_logs.c.origin).order_by(ledger_logs.c.id)).scalars().all()
            logs = [get_log(conn, o) for o in origins]
    if not logs:
        raise LedgerNotFoundError("this node holds no log yet; create it with `opencustoms ledger init`")
    reports = [_check_log(engine, actor, anchor_contract, log, last) for log in logs]
    with engine.begin() as conn:
        record(
            conn,
            actor,
            "verify_anchors",
            "ledger_anchor_contract",
            anchor_contract.address,
            detail={"logs": len(reports), "problems": sum(len(r["problems"]) for r in reports)},
        )
    return reports


def main() -> None:  # pragma: no cover - a maintainer's command
    """Rebuild contracts/CheckpointAnchor.json from contracts/CheckpointAnchor.vy."""
    print(ARTIFACT.write())


if __name__ == "__main__":  # pragma: no cover
    main()
