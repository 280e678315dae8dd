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
still correct: the writer takes the log's lock in each transaction. The thread, queue and grouping are
``opencustoms.store.groupcommit``, shared with the risk engine's online decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from opencustoms.security.service import Identity, audit_row, record, record_rows, utcnow
from opencustoms.store.bulk import bulk_insert
from opencustoms.store.groupcommit import GroupWriter, Pending, Writers

MAX_GROUP_ENTRIES = 100_000


@dataclass
class Request(Pending):
    actor: Identity
    entries: Sequence[SignedEntry]
    opened: Sequence[Opened | Failure]
    receipts: list[dict[str, Any]] | None = None


class Writer(GroupWriter[Request]):
    name = "ledger-writer"

    def __init__(self, engine: Engine, keystore: KeyStore) -> None:
        super().__init__(MAX_GROUP_ENTRIES, weight=lambda request: len(request.entries))
        self.engine = engine
        self.keystore = keystore
        self.groups = 0  # commits made (for tests and benchmarks)

    def commit(self, group: list[Request]) -> None:
        now = utcnow()
        accepted: list[tuple[Request, ingest.Plan]] = []
        try:
            admin = self.keystore.administration_key()
            with self.engine.begin() as conn:
                # read in each group's transaction (one indexed row): a database restored or initialised again
                # while this writer runs has another own log, which a cached id would write into
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
                    bulk_insert(
                        conn,
                        ledger_checkpoints,
                        [
                            {
                                "log_id": log.id,
                                "size": tree.size,
                                "root": root,
                                "note": cp.note,
                                "source": "self",
                                "observed_at": now,
                            }
                        ],
                    )
                    ingest.emit_signals(conn, log.origin, [i for p in plans for i in p.infos], now)
                    # one audit entry per accepted batch, in one statement for the group
                    record_rows(
                        conn,
                        [
                            audit_row(
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
                            for request, plan in accepted
                        ],
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


_writers: Writers[Writer] = Writers()


def submit(
    engine: Engine,
    keystore: KeyStore,
    actor: Identity,
    entries: Sequence[SignedEntry],
    opened: Sequence[Opened | Failure],
) -> list[dict[str, Any]]:
    """Queue a checked batch for the log's writer and wait until it is committed (or refused)."""
    request = Request(actor, entries, opened)
    _writers.submit((engine, str(keystore.root)), lambda: Writer(engine, keystore), request)
    assert request.receipts is not None
    return request.receipts


def writer_for(engine: Engine, keystore: KeyStore) -> Writer | None:
    return _writers.get((engine, str(keystore.root)))
