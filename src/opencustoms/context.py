"""What every adapter needs: settings, the database engine and the pseudonymiser, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine

from opencustoms.config import Settings, get_settings
from opencustoms.security.pseudonyms import Pseudonymiser, load_key
from opencustoms.store.database import init_database, open_database


@dataclass
class Platform:
    settings: Settings

    @classmethod
    def from_environment(cls) -> Platform:
        return cls(get_settings())

    @cached_property
    def engine(self) -> Engine:
        return open_database(self.settings.database_url)

    @cached_property
    def pseudonymiser(self) -> Pseudonymiser:
        return Pseudonymiser(load_key(self.settings))

    def initialise(self) -> Engine:
        engine = init_database(self.settings.database_url)
        open_database.cache_clear()
        self.__dict__.pop("engine", None)
        return engine
