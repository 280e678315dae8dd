"""The CLI's :class:`opencustoms.progress.Progress`: a Rich bar on stderr (phase, bar, done / total, elapsed, time
left), shown only when stderr is a terminal, and the one-line summary every long job ends with."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class RichProgress:
    """Use as a context manager around the service call; ``phase`` starts a new line of the bar (the previous
    phase is marked done), ``advance`` moves it, ``finish`` prints the summary with the time taken."""

    def __init__(self, err: Console, out: Console | None = None) -> None:
        self.err = err
        self.out = out or err
        self.started = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self.phases: list[str] = []

    def __enter__(self) -> RichProgress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("elapsed,"),
            TimeRemainingColumn(),  # -:--:-- while the total is unknown
            TextColumn("left"),
            console=self.err,
            transient=False,
            disable=not self.err.is_terminal,
        )
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._close_phase()
        if self._bar is not None:
            self._bar.stop()

    def _close_phase(self) -> None:
        if self._bar is not None and self._task is not None:
            task = self._bar.tasks[-1]
            if task.total is None:  # an open-ended phase: what was done is its total
                self._bar.update(self._task, total=task.completed)
            else:
                self._bar.update(self._task, completed=task.total)

    def phase(self, name: str, total: int | None = None) -> None:
        self.phases.append(name)
        if self._bar is None:
            return
        self._close_phase()
        self._task = self._bar.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)

    def counter(self, name: str) -> Callable[[int, int], None]:
        """For services that report ``progress(done, total)``: the phase ``name`` starts at the first report and
        advances by what each report adds."""
        seen = {"done": 0, "started": False}

        def report(done: int, total: int) -> None:
            if not seen["started"]:
                self.phase(name, total)
                seen["started"] = True
            self.advance(done - int(seen["done"]))
            seen["done"] = done

        return report

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def finish(self, summary: str) -> None:
        """The job's one-line summary, with the time it took."""
        self.out.print(f"{summary} ({_duration(self.seconds)})", markup=False, highlight=False, soft_wrap=True)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
