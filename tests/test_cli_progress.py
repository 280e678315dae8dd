"""The CLI's progress bar (opencustoms.cli.progress): phases with done / total on a terminal, nothing on a pipe, and
the one-line summary with the time taken either way."""

from __future__ import annotations

import io
import re

from rich.console import Console

from opencustoms.cli.progress import RichProgress, _duration
from opencustoms.progress import NO_PROGRESS, Progress


def _consoles(terminal: bool) -> tuple[Console, io.StringIO, Console, io.StringIO]:
    err_text, out_text = io.StringIO(), io.StringIO()
    err = Console(file=err_text, force_terminal=terminal, width=120, color_system=None)
    out = Console(file=out_text, force_terminal=False, width=120)
    return err, err_text, out, out_text


def test_on_a_terminal_each_phase_shows_its_done_and_total() -> None:
    err, err_text, out, out_text = _consoles(terminal=True)
    with RichProgress(err, out) as progress:
        progress.phase("reading files", 2)
        progress.advance(2)
        progress.phase("fitting the model (boosting rounds)", 60)
        progress.advance(59)  # the last round unreported: the phase is still shown complete when the next starts
        progress.phase("saving the model")
        progress.advance(1)
    progress.finish("model m1 trained on 160 declarations")
    shown = err_text.getvalue()
    assert "reading files" in shown and "2/2" in shown
    assert "fitting the model (boosting rounds)" in shown and "60/60" in shown
    assert "saving the model" in shown and "1/1" in shown  # an open-ended phase ends with what was done
    assert re.fullmatch(r"model m1 trained on 160 declarations \(\d+\.\d s\)\n", out_text.getvalue())
    assert progress.phases == ["reading files", "fitting the model (boosting rounds)", "saving the model"]


def test_on_a_pipe_no_bar_is_drawn_but_the_summary_is_printed() -> None:
    err, err_text, out, out_text = _consoles(terminal=False)
    with RichProgress(err, out) as progress:
        progress.phase("scoring", 10)
        progress.advance(10)
    progress.finish("10 declarations scored")
    assert err_text.getvalue() == ""
    assert out_text.getvalue().startswith("10 declarations scored (")


def test_both_implementations_follow_the_protocol() -> None:
    err, _, out, _ = _consoles(terminal=False)
    assert isinstance(RichProgress(err, out), Progress) and isinstance(NO_PROGRESS, Progress)
    NO_PROGRESS.phase("anything", 3)
    NO_PROGRESS.advance(3)


def test_durations_read_as_people_say_them() -> None:
    assert _duration(4.24) == "4.2 s"
    assert _duration(452) == "7 min 32 s"
    assert _duration(7300) == "2 h 01 min"


def test_a_done_and_total_callback_becomes_a_phase() -> None:
    """Services that report progress(done, total) (audit and ledger verification) feed the same bar."""
    err, err_text, out, _ = _consoles(terminal=True)
    with RichProgress(err, out) as progress:
        report = progress.counter("verifying the log (entries)")
        for done in (0, 400, 1000, 1200):
            report(done, 1200)
    assert progress.phases == ["verifying the log (entries)"]
    assert "1200/1200" in err_text.getvalue()
