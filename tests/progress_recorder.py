"""A fake :class:`opencustoms.progress.Progress` that records what a service reported."""

from __future__ import annotations


class Recorder:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None]] = []
        self.done: list[int] = []

    def phase(self, name: str, total: int | None = None) -> None:
        self.phases.append((name, total))
        self.done.append(0)

    def advance(self, n: int = 1) -> None:
        assert self.phases, f"advance({n}) before any phase"
        self.done[-1] += n

    def names(self) -> list[str]:
        return [name for name, _ in self.phases]

    def unfinished(self) -> list[tuple[str, int | None, int]]:
        """Phases with a total whose work was not all reported done (none, when the service reports well)."""
        return [(n, t, d) for (n, t), d in zip(self.phases, self.done, strict=True) if t is not None and d != t]

    def of(self, prefix: str) -> tuple[int | None, int]:
        """(total, done) of the first phase whose name starts with ``prefix``."""
        for (name, total), done in zip(self.phases, self.done, strict=True):
            if name.startswith(prefix):
                return total, done
        raise AssertionError(f"no phase {prefix!r} in {self.names()}")
