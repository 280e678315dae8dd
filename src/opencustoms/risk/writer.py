"""Group commit for online decisions: one writer thread per database commits the decisions that arrive together.

A decision is acknowledged (``POST /risk/decisions`` answers 201) only once it is stored with its reasons, its
score-histogram increment and its audit entry, and a durable commit costs a disk flush (SQLite in WAL mode with
``synchronous=FULL``: milliseconds whatever it carries). So concurrent requests do not commit one by one: each puts
its decision on the writer's queue and waits; the writer takes everything queued, writes every decision of the group
(one audit entry per decision, exactly what a lone commit writes) and commits once; then every caller of the group
is released. If the group's commit fails, each decision of it is tried again alone, so one bad decision is refused
alone and the others are stored. A lone caller pays one commit, as before; there is no added wait. The idea and
shape are those of the ledger's writer (``opencustoms.ledger.writer``).

Several server processes (``opencustoms serve --workers N``) each have their own writer; the database serialises
their transactions.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from opencustoms.security.service import Identity

IDLE_SECONDS = 2.0  # a writer with nothing to do for this long stops (the next decision starts another)
MAX_GROUP = 500  # decisions committed together at most

Write = Callable[[Connection, Identity, Sequence[dict[str, Any]], str | None], None]


@dataclass
class Request:
    actor: Identity
    rows: Sequence[dict[str, Any]]
    model_version: str | None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class Writer:
    def __init__(self, engine: Engine, write: Write) -> None:
        self.engine = engine
        self.write = write
        self.queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self.stopped = False
        self.groups = 0  # commits of more than one decision (for tests and benchmarks)
        self.commits = 0
        self.thread = threading.Thread(target=self._run, name="risk-decision-writer", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with _registry_lock:
                    if self.queue.empty():
                        self.stopped = True
                        if _writers.get(id(self.engine)) is self:
                            del _writers[id(self.engine)]
                        return
                continue
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    group.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(group)
            except BaseException as exc:  # interrupted: no caller may believe its decision stored
                for request in group:
                    request.error = request.error or exc
                raise
            finally:
                for request in group:
                    request.done.set()

    def _commit(self, group: list[Request]) -> None:
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


_writers: dict[int, Writer] = {}
_registry_lock = threading.Lock()


def submit(
    engine: Engine, write: Write, actor: Identity, rows: Sequence[dict[str, Any]], model_version: str | None
) -> None:
    """Queue decisions for the database's writer and wait until they are committed (or raise why not)."""
    request = Request(actor, rows, model_version)
    with _registry_lock:
        writer = _writers.get(id(engine))
        if writer is None or writer.stopped or writer.engine is not engine:
            writer = Writer(engine, write)
            _writers[id(engine)] = writer
            writer.thread.start()
        writer.queue.put(request)
    request.done.wait()
    if request.error is not None:
        raise request.error


def writer_for(engine: Engine) -> Writer | None:
    with _registry_lock:
        return _writers.get(id(engine))
