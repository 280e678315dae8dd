"""Group commit for online decisions: one writer thread per database commits the decisions that arrive together.

A decision is acknowledged (``POST /risk/decisions/{reference}`` answers 201) only once it is stored with its
reasons, its score-histogram increment and its audit entry, and a durable commit costs a disk flush (SQLite in WAL
mode with ``synchronous=FULL``: milliseconds whatever it carries). So concurrent requests do not commit one by one:
each puts its decision on the writer's queue and waits; the writer takes everything queued, writes every decision of
the group (one audit entry per decision, exactly what a lone commit writes) and commits once; then every caller of
the group is released. If the group's commit fails, each decision of it is tried again alone, so one bad decision is
refused alone and the others are stored. A lone caller pays one commit, as before; there is no added wait. The
thread, queue and grouping are ``opencustoms.store.groupcommit``, shared with the ledger's appends.

Several server processes (``opencustoms serve --workers N``) each have their own writer; the database serialises
their transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from opencustoms.security.service import Identity
from opencustoms.store.groupcommit import GroupWriter, Pending, Writers

MAX_GROUP = 500  # decisions committed together at most

Write = Callable[[Connection, Identity, Sequence[dict[str, Any]], str | None], None]


@dataclass
class Request(Pending):
    actor: Identity
    rows: Sequence[dict[str, Any]]
    model_version: str | None


class Writer(GroupWriter[Request]):
    name = "risk-decision-writer"

    def __init__(self, engine: Engine, write: Write) -> None:
        super().__init__(MAX_GROUP)
        self.engine = engine
        self.write = write
        self.groups = 0  # commits of more than one decision (for tests and benchmarks)
        self.commits = 0

    def commit(self, group: list[Request]) -> None:
        try:
            with self.engine.begin() as conn:
                for request in group:
                    self.write(conn, request.actor, request.rows, request.model_version)
            self.commits += 1
            self.groups += len(group) > 1
            return
        except Exception as exc:  # the transaction rolled back: nothing of the group was written
            if len(group) == 1:
                group[0].error = exc
                return
        for request in group:  # one bad decision must not fail the others: each alone
            try:
                with self.engine.begin() as conn:
                    self.write(conn, request.actor, request.rows, request.model_version)
                self.commits += 1
            except Exception as exc:
                request.error = exc


_writers: Writers[Writer] = Writers()


def submit(
    engine: Engine, write: Write, actor: Identity, rows: Sequence[dict[str, Any]], model_version: str | None
) -> None:
    """Queue decisions for the database's writer and wait until they are committed (or raise why not)."""
    _writers.submit(engine, lambda: Writer(engine, write), Request(actor, rows, model_version))


def writer_for(engine: Engine) -> Writer | None:
    return _writers.get(engine)
