"""Plugin hooks (pluggy, as datasette does): national specifics plug in here instead of forking the core.

A plugin is a module registered under the ``opencustoms`` entry-point group that implements some of these hooks
with ``@hookimpl``. Example in docs/plugins.md.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("opencustoms")
hookimpl = pluggy.HookimplMarker("opencustoms")


class Specs:
    @hookspec
    def opencustoms_import_layouts(self) -> list[Any]:
        """Return layouts (objects with name, description, check_columns, candidates, locate) that map a
        national or vendor file layout into the declaration model."""
        raise NotImplementedError


@lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("opencustoms")
    manager.add_hookspecs(Specs)
    manager.load_setuptools_entrypoints("opencustoms")
    return manager
