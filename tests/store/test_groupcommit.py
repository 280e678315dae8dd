"""The group-commit machinery the ledger's appends and the risk engine's decisions share (store/groupcommit.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from opencustoms.store import groupcommit
from opencustoms.store.groupcommit import GroupWriter, Pending, Writers


@dataclass
class Job(Pending):
    size: int
    fail: bool = False


class Recorder(GroupWriter[Job]):
    def __init__(self, max_group: int = 10) -> None:
        super().__init__(max_group, weight=lambda job: job.size)
        self.groups: list[list[int]] = []

    def commit(self, group: list[Job]) -> None:
        self.groups.append([job.size for job in group])
        if any(job.fail for job in group):
            raise RuntimeError("disk full")


def test_queued_requests_form_groups_up_to_their_weight_and_every_caller_is_released() -> None:
    writer = Recorder(max_group=5)
    jobs = [Job(size=2) for _ in range(5)]
    for job in jobs:  # queued before the thread starts: grouped as they come, 2+2+2 >= 5, then 2+2
        writer.queue.put(job)
    writer.thread.start()
    for job in jobs:
        job.wait()
    assert writer.groups == [[2, 2, 2], [2, 2]]


def test_a_failed_commit_is_every_callers_error() -> None:
    writer = Recorder()
    jobs = [Job(size=1), Job(size=1, fail=True)]
    for job in jobs:
        writer.queue.put(job)
    writer.thread.start()
    for job in jobs:
        with pytest.raises(RuntimeError, match="disk full"):
            job.wait()


def test_a_writer_stops_when_idle_and_the_next_request_starts_another(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(groupcommit, "IDLE_SECONDS", 0.05)
    writers: Writers[Recorder] = Writers()
    started: list[Recorder] = []

    def start() -> Recorder:
        started.append(Recorder())
        return started[-1]

    writers.submit("db", start, Job(size=1))
    first = writers.get("db")
    assert first is started[0]
    first.thread.join(timeout=10)  # idle: it retires and is forgotten
    assert first.stopped and writers.get("db") is None
    done = threading.Event()
    writers.submit("db", start, Job(size=1, done=done))
    assert done.is_set() and len(started) == 2 and started[1].groups == [[1]]
