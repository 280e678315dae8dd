"""The CLI's surface: it starts without the heavy libraries, every command answers --help, every option and
argument says what it is for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import opencustoms
from opencustoms.cli import app

# What a command that does not need them must not pay for at start-up (seconds of CPU between them).
HEAVY = ("lightgbm", "sklearn", "scipy", "polars", "numpy", "web3", "fpdf", "fastapi", "sqlalchemy", "alembic")


def _imported_after(*args: str) -> dict[str, object]:
    """Run the CLI with ``args`` in a fresh interpreter; which heavy modules it imported, and its exit code."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from opencustoms.cli import app
        try:
            app({list(args)!r}, prog_name="opencustoms")
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
        heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
        print("\\n" + json.dumps({{"code": code, "heavy": heavy}}))
        """
    )
    src = str(Path(opencustoms.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["risk", "--help"],
        ["risk", "train", "--help"],
        ["ledger", "--help"],
        ["iot", "--help"],
        ["documents", "--help"],
        ["demo", "--help"],
    ],
)
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    result = _imported_after(*args)
    assert result == {"code": 0, "heavy": []}


def test_reference_check_imports_no_heavy_library() -> None:
    """A code check is arithmetic on the code: no database, no data frames."""
    assert _imported_after("reference", "check", "container", "MSCU1234566") == {"code": 0, "heavy": []}
    assert _imported_after("reference", "check", "container", "MSCU1234565") == {"code": 1, "heavy": []}


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group of the click tree (Typer's click: duck-typed, it may be a vendored copy)."""
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_walk_sees_every_pillar() -> None:
    paths = {p for p, _ in COMMANDS}
    assert {("import",), ("risk", "train"), ("ledger", "restore-from-partner"), ("iot", "ingest")} <= paths
    assert {("documents", "verify"), ("iot", "scan", "import"), ("risk", "models", "drift")} <= paths


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "opencustoms")
def test_every_command_answers_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="opencustoms")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{' '.join(path) or 'opencustoms'} {param.opts[0] if param.param_type_name == 'option' else param.name}"
        for path, command in COMMANDS
        for param in command.params
        if not (getattr(param, "help", None) or "").strip()
    ]
    assert missing == []


def test_the_cli_default_holdout_is_the_service_default() -> None:
    import inspect

    from opencustoms.cli import risk as risk_cli
    from opencustoms.risk import service

    assert risk_cli.HOLDOUT == service.HOLDOUT
    assert inspect.signature(service.train_model).parameters["holdout"].default == risk_cli.HOLDOUT
