"""A module imported on first use: the CLI names the services it calls without paying for their libraries
(polars, LightGBM, SQLAlchemy, web3...) until a command runs.

Usage, with the real import kept for the type checker::

    if TYPE_CHECKING:
        from opencustoms.risk import service
    else:
        service = lazy_module("opencustoms.risk.service")
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name``; the first attribute read imports it (later reads are a dictionary look-up)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._module(), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    return LazyModule(name)
