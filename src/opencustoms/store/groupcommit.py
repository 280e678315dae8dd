"""Group commit: one writer thread per key commits together the requests that arrive while it is busy.

A durable commit costs a disk flush (SQLite in WAL mode with ``synchronous=FULL``, PostgreSQL's WAL ``fsync``:
milliseconds, whatever it carries). So callers that must not answer before their write is durable do not commit
themselves: each puts its request on the writer's queue and waits; the writer takes everything queued, hands the
group to its ``commit`` (one transaction, written by the pillar) and then releases every caller of the group. While
one group commits the next one queues, so under load one flush serves many requests — the technique of database
logs (PostgreSQL's ``commit_delay``, InnoDB's group commit) applied at the level of a pillar. A lone caller pays one
commit with no added wait. A writer with nothing to do for :data:`IDLE_SECONDS` stops; the next request starts
another.

Used by the ledger's appends (``ledger/writer.py``) and the risk engine's online decisions (``risk/writer.py``);
each says what a group's transaction holds and what a caller gets back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

IDLE_SECONDS = 2.0


@dataclass(kw_only=True)
class Pending:
    """What a caller waits on: released when its group's transaction has ended, with ``error`` set if its request
    was not stored."""

    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def wait(self) -> None:
        self.done.wait()
        if self.error is not None:
            raise self.error


P = TypeVar("P", bound=Pending)


class GroupWriter(Generic[P]):
    """The thread that gathers queued requests into groups (up to ``max_group`` by ``weight``) and commits them.

    Subclasses implement :meth:`commit`, which stores a group (or sets ``error`` on the requests it refuses); an
    exception escaping it is given to every caller of the group that has no error yet."""

    name = "group-writer"

    def __init__(self, max_group: int, weight: Callable[[P], int] = lambda _: 1) -> None:
        self.max_group = max_group
        self.weight = weight
        self.queue: queue.SimpleQueue[P] = queue.SimpleQueue()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._on_idle: Callable[[GroupWriter[P]], bool] = lambda _: True

    def commit(self, group: list[P]) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                if self._on_idle(self):
                    return
                continue
            group, count = [first], self.weight(first)
            while count < self.max_group:
                try:
                    request = self.queue.get_nowait()
                except queue.Empty:
                    break
                group.append(request)
                count += self.weight(request)
            self.run_group(group)

    def run_group(self, group: list[P]) -> None:
        """Commit ``group`` and release its callers, whatever happens."""
        try:
            self.commit(group)
        except BaseException as exc:  # no caller may believe its request stored
            for request in group:
                request.error = request.error or exc
            if not isinstance(exc, Exception):
                raise
        finally:
            for request in group:
                request.done.set()


W = TypeVar("W", bound="GroupWriter[Any]")


class Writers(Generic[W]):
    """The running writer of each key (a database, a log): started on first use, forgotten when it stops idle."""

    def __init__(self) -> None:
        self._writers: dict[Hashable, W] = {}
        self._lock = threading.Lock()

    def submit(self, key: Hashable, start: Callable[[], W], request: Pending) -> None:
        """Queue ``request`` on ``key``'s writer (starting one with ``start()`` if none runs) and wait for it."""
        with self._lock:
            writer = self._writers.get(key)
            if writer is None or writer.stopped:
                writer = start()
                writer._on_idle = lambda w: self._retire(key, w)
                self._writers[key] = writer
                writer.thread.start()
            writer.queue.put(request)
        request.wait()

    def _retire(self, key: Hashable, writer: GroupWriter[Any]) -> bool:
        with self._lock:
            if not writer.queue.empty():
                return False
            writer.stopped = True
            if self._writers.get(key) is writer:
                del self._writers[key]
            return True

    def get(self, key: Hashable) -> W | None:
        with self._lock:
            return self._writers.get(key)
