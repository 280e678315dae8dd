"""The test harness itself: the Hypothesis profile, load-scaled waits, and process fixtures that always stop what
they started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from processes import budget, running, wait_for, wait_scale

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) is not running either
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def test_hypothesis_runs_without_deadlines_or_slowness_checks() -> None:
    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check


def test_wait_scale_follows_the_override_and_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCUSTOMS_TEST_WAIT_SCALE", "3")
    assert wait_scale() == 3.0 and budget(60) == 180.0
    monkeypatch.setenv("OPENCUSTOMS_TEST_WAIT_SCALE", "three")
    with pytest.raises(ValueError, match="OPENCUSTOMS_TEST_WAIT_SCALE"):
        wait_scale()
    monkeypatch.delenv("OPENCUSTOMS_TEST_WAIT_SCALE")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (15.0, 12.0, 10.0))
    assert wait_scale() == 7.5
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.2, 0.1))
    assert wait_scale() == 1.0  # never shorter than on an idle machine


def test_wait_for_fails_at_once_when_the_watched_process_died() -> None:
    with running() as processes:
        dead = processes.start([sys.executable, "-c", "raise SystemExit(3)"])
        dead.wait(timeout=budget(60))
        with pytest.raises(AssertionError, match="exited with code 3"):
            wait_for(lambda: False, "a node that crashed", timeout=600, watch=[dead])


def test_a_fixture_whose_setup_fails_still_stops_its_process(tmp_path: Path) -> None:
    """The process and its own child (a server's worker) are both gone after the setup raised."""
    child_pid = tmp_path / "child.pid"
    parent = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen({SLEEPER!r})\n"
        f"open({str(child_pid)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    pids: list[int] = []

    def fixture() -> Iterator[None]:
        with running() as processes:
            pids.append(processes.start([sys.executable, "-c", parent]).pid)
            wait_for(lambda: child_pid.exists() and child_pid.read_text(), "the child to start")
            pids.append(int(child_pid.read_text()))
            raise RuntimeError("setup failed: the node did not answer")
            yield  # never reached: the setup failed

    with pytest.raises(RuntimeError, match="setup failed"):
        next(fixture())
    deadline = time.monotonic() + budget(10)
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:  # the orphaned child is reaped by init
        time.sleep(0.05)
    assert [p for p in pids if _alive(p)] == []


def test_a_process_that_ignores_terminate_is_killed() -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
        "time.sleep(600)"
    )
    with running(stop_seconds=0.5) as processes:
        process = processes.start([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    assert process.returncode == -9
