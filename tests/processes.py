"""Processes started by tests and benchmarks: waits that scale with what the machine is doing, and stopping that
always happens.

* :func:`wait_scale` — how much longer than on an idle machine a wait may take: the one-minute load average per
  CPU (at least 1, at most ``MAX_SCALE``), or ``OPENCUSTOMS_TEST_WAIT_SCALE`` when set (e.g. 3 on a slow CI
  runner). A wait of 60 s on a machine with a load of 15 on 2 CPUs becomes 7.5 minutes.
* :func:`wait_for` — poll until a check holds, within a budget scaled by :func:`wait_scale`; fails at once, with
  the process's exit code, when a process it watches has died.
* :func:`running` — a context manager whose :meth:`Processes.start` starts each process in its own process group;
  leaving the block (normally, on a failed setup, on an interrupt) terminates every group started, then kills
  what did not stop. Fixtures put their whole setup inside it::

      @pytest.fixture
      def node(tmp_path):
          with running() as processes:
              server = processes.start([...])
              wait_for(lambda: answers(port), "the node to start", watch=[server])
              yield server

Only the standard library: benchmarks import it too (``sys.path`` gets ``tests/``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

MAX_SCALE = 10.0
STOP_SECONDS = 10.0  # a terminated process gets this long (scaled) to exit before it is killed


def wait_scale() -> float:
    """How much longer than on an idle machine waits may take now."""
    override = os.environ.get("OPENCUSTOMS_TEST_WAIT_SCALE")
    if override:
        try:
            return max(0.1, float(override))
        except ValueError:
            raise ValueError(
                f"OPENCUSTOMS_TEST_WAIT_SCALE={override!r} is not a number; write e.g. 3 (waits three times longer)"
            ) from None
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return 1.0
    return min(MAX_SCALE, max(1.0, load / (os.cpu_count() or 1)))


def budget(seconds: float) -> float:
    """``seconds`` on an idle machine, scaled to the current load."""
    return seconds * wait_scale()


def wait_for(
    check: Callable[[], Any],
    what: str,
    timeout: float = 60.0,
    *,
    watch: Iterable[subprocess.Popen[Any]] = (),
    interval: float = 0.1,
    ignore: tuple[type[BaseException], ...] = (Exception,),
) -> Any:
    """Poll ``check`` until it returns something true (returned); exceptions in ``ignore`` count as "not yet".
    ``timeout`` is the idle-machine budget (scaled by :func:`wait_scale`, re-read while waiting: the load may
    grow). Raises AssertionError naming ``what`` on time-out, or at once when a process in ``watch`` exited."""
    started = time.monotonic()
    watched = list(watch)
    while True:
        try:
            result = check()
            if result:
                return result
        except ignore:
            pass
        for process in watched:
            if process.poll() is not None:
                raise AssertionError(
                    f"waiting for {what}: process {process.pid} ({_name(process)}) exited with code "
                    f"{process.returncode}"
                )
        waited = time.monotonic() - started
        if waited > budget(timeout):
            raise AssertionError(
                f"timed out after {waited:.0f} s waiting for {what} (budget {timeout:g} s x load scale "
                f"{wait_scale():.1f}; set OPENCUSTOMS_TEST_WAIT_SCALE to allow more)"
            )
        time.sleep(interval)


def _name(process: subprocess.Popen[Any]) -> str:
    args = process.args
    parts = [str(a) for a in args] if isinstance(args, Sequence) and not isinstance(args, str | bytes) else [str(args)]
    return " ".join(parts)[:120]


def stop(process: subprocess.Popen[Any], *, timeout: float = STOP_SECONDS) -> int:
    """Terminate ``process`` and its process group (SIGTERM), kill them (SIGKILL) if they do not exit within
    ``timeout`` (scaled); returns the exit code. Safe to call on a process that already exited."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=budget(timeout))
    _signal_group(process, signal.SIGKILL)  # what is left of the group (children of a stopped process too)
    if process.poll() is None:
        process.wait(timeout=budget(timeout))
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    return process.returncode


def kill(process: subprocess.Popen[Any]) -> int:
    """SIGKILL the process and its group at once (a crash: no shutdown), and reap it."""
    _signal_group(process, signal.SIGKILL)
    return process.wait(timeout=budget(STOP_SECONDS))


def _signal_group(process: subprocess.Popen[Any], sig: int) -> None:
    try:
        if getattr(process, "_own_group", False):
            os.killpg(process.pid, sig)  # the group's id is the leader's pid (start_new_session)
        elif process.poll() is None:
            process.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


class Processes:
    """The processes a fixture or benchmark started; :func:`running` stops them all on the way out."""

    def __init__(self, stop_seconds: float = STOP_SECONDS) -> None:
        self.started: list[subprocess.Popen[Any]] = []
        self.stop_seconds = stop_seconds

    def start(self, args: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
        """``subprocess.Popen(args, **popen)`` in a new session (its own process group, so that its children are
        stopped with it), remembered for stopping."""
        process: subprocess.Popen[Any] = subprocess.Popen(args, start_new_session=True, **popen)
        process._own_group = True  # type: ignore[attr-defined]
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        """Terminate every group at once (they shut down in parallel), then wait for and kill each."""
        for process in self.started:
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        errors: list[BaseException] = []
        for process in reversed(self.started):
            try:
                stop(process, timeout=self.stop_seconds)
            except BaseException as exc:  # noqa: BLE001 - stop the others first, raise after
                errors.append(exc)
        if errors:
            raise errors[0]


@contextlib.contextmanager
def running(stop_seconds: float = STOP_SECONDS) -> Iterator[Processes]:
    """A :class:`Processes` whose processes are all stopped when the block is left, however it is left (each gets
    ``stop_seconds``, scaled, to exit after SIGTERM before SIGKILL)."""
    processes = Processes(stop_seconds)
    try:
        yield processes
    finally:
        processes.stop_all()
