"""The `opencustoms` command: :mod:`opencustoms.cli.main` holds the root commands, one module per pillar the rest."""

from opencustoms.cli.main import app, main

__all__ = ["app", "main"]
