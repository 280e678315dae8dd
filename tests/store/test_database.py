from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from opencustoms.store.database import init_database, open_database
from opencustoms.store.errors import DatabaseNotInitialisedError, StoreError
from opencustoms.store.registry import load_all_tables
from opencustoms.store.tables import audit_log, metadata


def test_migrations_create_exactly_the_tables(engine) -> None:
    load_all_tables()
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_init_is_idempotent(database_url: str) -> None:
    init_database(database_url)
    init_database(database_url)
    open_database.cache_clear()
    assert open_database(database_url) is not None


def test_uninitialised_database_gets_a_clear_error(tmp_path) -> None:
    open_database.cache_clear()
    with pytest.raises(DatabaseNotInitialisedError, match="opencustoms init"):
        open_database(f"sqlite:///{tmp_path / 'empty.db'}")


def test_unreachable_database_gets_a_clear_error() -> None:
    open_database.cache_clear()
    with pytest.raises(StoreError, match="cannot open the database"):
        open_database("postgresql://nobody@127.0.0.1:1/none")


def test_audit_log_is_append_only(engine) -> None:
    import datetime as dt

    with engine.begin() as conn:
        conn.execute(insert(audit_log).values(at=dt.datetime.now(dt.UTC), actor="t", action="read", object_type="x"))
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_log")).scalar_one() == "t"
