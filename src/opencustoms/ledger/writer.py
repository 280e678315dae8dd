"""Group commit: one writer thread per log commits the appends that arrive together in one durable transaction.

An append is acknowledged only once it is on disk, and a commit costs a disk flush (``fsync``: milliseconds, whatever
it carries). So callers do not commit themselves: each puts its (already signature-checked) batch on the writer's
queue and waits. The writer takes everything queued, checks each batch in turn against the log's state as the
earlier batches of the group left it (a bad batch is refused alone: its caller gets the error, the others go on),
writes the accepted ones — entries, tree nodes, certificates, one signed checkpoint, signals, one audit entry per
batch — and commits once. Only then is every caller of the group released with its receipts, which all carry that
checkpoint. If the commit fails, every caller of the group gets the error and nothing of the group was written.

While one group commits, the next one queues, so under load the cost of a flush is shared by many appends: the
technique of database logs (PostgreSQL's commit_delay, InnoDB's group commit), applied at the level of the ledger.
A lone caller pays one commit, as before; there is no added wait. Several processes appending to one database are
still correct: the writer takes the log's lock in each transaction.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import ingest, logstore
from opencustoms.ledger.entries import SignedEntry
from opencustoms.ledger.errors import LedgerNotFoundError, StoreFailedError
from opencustoms.ledger.keys import KeyStore
from opencustoms.ledger.tables import ledger_checkpoints, ledger_logs
from opencustoms.ledger.verify import Failure, Opened
from opencustoms.security.service import Identity, record, utcnow

IDLE_SECONDS = 2.0  # a writer with nothing to do for this long stops (the next append starts another)
MAX_GROUP_ENTRIES = 100_000


@dataclass
class Request:
    actor: Identity
    entries: Sequence[SignedEntry]
    opened: Sequence[Opened | Failure]
    done: threading.Event = field(default_factory=threading.Event)
    receipts: list[dict[str, Any]] | None = None
    error: BaseException | None = None


class Writer:
    def __init__(self, engine: Engine, keystore: KeyStore) -> None:
        self.engine = engine
        self.keystore = keystore
        self.queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self.stopped = False
        self.groups = 0  # commits made (for tests and benchmarks)
        self.thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with _registry_lock:
                    if self.queue.empty():
                        self.stopped = True
                        if _writers.get(_key(self.engine, self.keystore)) is self:
                            del _writers[_key(self.engine, self.keystore)]
                        return
                continue
            group, count = [first], len(first.entries)
            while count < MAX_GROUP_ENTRIES:
                try:
                    request = self.queue.get_nowait()
                except queue.Empty:
                    break
                group.append(request)
                count += len(request.entries)
            self._commit(group)

    def _commit(self, group: list[Request]) -> None:
        now = utcnow()
        accepted: list[tuple[Request, ingest.Plan]] = []
        try:
            admin = self.keystore.administration_key()
            with self.engine.begin() as conn:
                row = conn.execute(ledger_logs.select().where(ledger_logs.c.role == ingest.OWN)).mappings().first()
                if row is None:
                    raise LedgerNotFoundError("this node has no ledger yet; create it with `opencustoms ledger init`")
                log = ingest.LogRef(row["id"], row["origin"], ingest.OWN)
                state = ingest.LogState(conn, log, logstore.lock(conn, log.id))
                state.preload(conn, [r.opened for r in group])
                for request in group:
                    try:
                        plan = state.plan(request.entries, request.opened)
                    except OpenCustomsError as exc:
                        request.error = exc
                        record(
                            conn,
                            request.actor,
                            "reject",
                            "ledger_log",
                            log.origin,
                            detail={"reason": exc.message[:500], "field": exc.field, "entries": len(request.entries)},
                        )
                        continue
                    state.accept(plan)
                    accepted.append((request, plan))
                if accepted:
                    plans = [p for _, p in accepted]
                    tree = ingest.write(conn, state, plans, now)
                    root = tree.root()
                    cp = notes.sign_checkpoint(log.origin, tree.size, root, admin)
                    conn.execute(
                        ledger_checkpoints.insert().values(
                            log_id=log.id, size=tree.size, root=root, note=cp.note, source="self", observed_at=now
                        )
                    )
                    ingest.emit_signals(conn, log.origin, [i for p in plans for i in p.infos], now)
                    for request, plan in accepted:
                        record(
                            conn,
                            request.actor,
                            "append",
                            "ledger_log",
                            log.origin,
                            detail={
                                "first": plan.first,
                                "count": len(plan.entries),
                                "certificates": sorted(plan.certs)[:50],
                            },
                        )
            # committed: the group is durable
            self.groups += 1
            for request, plan in accepted:
                for info in plan.infos:
                    info["checkpoint"] = cp.note
                request.receipts = plan.infos
        except BaseException as exc:  # the transaction rolled back: nothing of the group was written
            error: BaseException = exc
            if isinstance(exc, SQLAlchemyError):
                error = StoreFailedError(
                    f"the database refused the append ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}); "
                    "nothing was written: try again, and check the database if it persists"
                )
            rejected = [r for r in group if r.error is not None]
            for request in group:
                request.receipts = None
                request.error = request.error or error
            _record_rejections_again(self.engine, rejected)
            if not isinstance(exc, Exception):
                raise
        finally:
            for request in group:
                request.done.set()


def _record_rejections_again(engine: Engine, rejected: list[Request]) -> None:
    """The group's transaction rolled back with its audit entries: record the refusals on their own."""
    try:
        with engine.begin() as conn:
            for request in rejected:
                assert isinstance(request.error, OpenCustomsError)
                record(
                    conn,
                    request.actor,
                    "reject",
                    "ledger_log",
                    None,
                    detail={"reason": request.error.message[:500], "entries": len(request.entries)},
                )
    except SQLAlchemyError:
        pass  # the store is down: the callers get the error; there is nowhere to record it


_writers: dict[tuple[int, str], Writer] = {}
_registry_lock = threading.Lock()


def _key(engine: Engine, keystore: KeyStore) -> tuple[int, str]:
    return id(engine), str(keystore.root)


def submit(
    engine: Engine,
    keystore: KeyStore,
    actor: Identity,
    entries: Sequence[SignedEntry],
    opened: Sequence[Opened | Failure],
) -> list[dict[str, Any]]:
    """Queue a checked batch for the log's writer and wait until it is committed (or refused)."""
    request = Request(actor, entries, opened)
    with _registry_lock:
        writer = _writers.get(_key(engine, keystore))
        if writer is None or writer.stopped or writer.engine is not engine:
            writer = Writer(engine, keystore)
            _writers[_key(engine, keystore)] = writer
            writer.thread.start()
        writer.queue.put(request)
    request.done.wait()
    if request.error is not None:
        raise request.error
    assert request.receipts is not None
    return request.receipts


def writer_for(engine: Engine, keystore: KeyStore) -> Writer | None:
    with _registry_lock:
        return _writers.get(_key(engine, keystore))
