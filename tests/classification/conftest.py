"""Fixtures of the classification tests."""

from __future__ import annotations

import pytest

from opencustoms.config import Settings
from opencustoms.context import Platform


@pytest.fixture
def platform(engine, database_url, tmp_path):  # type: ignore[no-untyped-def]
    """The platform over the test database (SQLite and PostgreSQL, from the `engine` fixture)."""
    return Platform(Settings(database_url=database_url, data_dir=tmp_path))
