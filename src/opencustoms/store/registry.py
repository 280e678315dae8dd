"""Where the core finds the pillars' pieces without importing a pillar by name in its own code.

Each pillar (risk, ledger, documents, iot) may provide ``opencustoms.<pillar>.tables`` (tables on the shared
metadata), ``opencustoms.api.routes.<pillar>`` (a ``router``) and ``opencustoms.cli.<pillar>`` (a Typer ``app``);
its ``opencustoms.<pillar>.service`` may have ``warm(platform)``, which the API server calls at start-up.
A module that exists is imported (and its import errors surface); a module that does not exist is skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

PILLARS = ("risk", "ledger", "documents", "iot", "classification", "exchange")


def pillar_module(name: str) -> ModuleType | None:
    parent = name.rpartition(".")[0]
    if parent and importlib.util.find_spec(parent) is None:
        return None
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def load_all_tables() -> None:
    """Register every pillar's tables on ``opencustoms.store.tables.metadata``."""
    for pillar in PILLARS:
        pillar_module(f"opencustoms.{pillar}.tables")
