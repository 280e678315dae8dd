"""One way for a long job to say how far it is: services take an optional ``progress`` (a :class:`Progress`),
announce each phase with its total (None when unknown) and advance it as work is done. The CLI passes a Rich
bar (:mod:`opencustoms.cli.progress`); the API and tests pass nothing (:data:`NO_PROGRESS`) or a recorder.

This module imports nothing heavy: the CLI imports it at start-up.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    def phase(self, name: str, total: int | None = None) -> None:
        """A new phase starts (``name`` in officers' words, e.g. "reading files"); ``total`` units to do."""

    def advance(self, n: int = 1) -> None:
        """``n`` more units of the current phase are done."""


class NoProgress:
    """Reports nothing (the API, library use)."""

    def phase(self, name: str, total: int | None = None) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None


NO_PROGRESS: Progress = NoProgress()


def or_none(progress: Progress | None) -> Progress:
    """``progress``, or the silent one when None was given."""
    return NO_PROGRESS if progress is None else progress
