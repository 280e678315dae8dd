from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
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


def _one_entry(engine) -> None:
    from opencustoms.security.service import local_operator, record

    with engine.begin() as conn:
        record(conn, local_operator("NL"), "read", "x", "1")


def test_audit_log_is_append_only(engine) -> None:
    _one_entry(engine)
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_log")).scalar_one() == "cli"


def test_audit_log_refuses_replace_and_truncate(engine) -> None:
    """SQLite fires no DELETE trigger for REPLACE (it rewrote an entry); PostgreSQL allowed TRUNCATE."""
    _one_entry(engine)
    with engine.connect() as conn:
        row = conn.execute(select(audit_log)).mappings().one()
    values = {**row, "actor": "mallory"}
    columns = ", ".join(values)
    placeholders = ", ".join(f":{c}" for c in values)
    if engine.dialect.name == "sqlite":
        statements = [
            f"INSERT OR REPLACE INTO audit_log ({columns}) VALUES ({placeholders})",
            f"REPLACE INTO audit_log ({columns}) VALUES ({placeholders})",
        ]
    else:
        statements = [
            f"INSERT INTO audit_log ({columns}) VALUES ({placeholders}) ON CONFLICT (id) DO UPDATE SET actor = "
            "'mallory'",
            "TRUNCATE audit_log",
            "TRUNCATE audit_chain_head",
            "TRUNCATE audit_signed_heads",
        ]
    for statement in statements:
        params = {**values, "detail": None, "at": row["at"]}
        with pytest.raises(DBAPIError, match="append-only|cannot be"), engine.begin() as conn:
            conn.execute(text(statement), params)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_log")).scalar_one() == "cli"
    with pytest.raises(DBAPIError, match="cannot be deleted"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_chain_head"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_chain_head")).scalar_one() == 1


def test_migration_0002_chains_existing_entries_and_gives_tokens_an_expiry(tmp_path) -> None:
    """Entries written before the chain existed are chained by the migration; a token without expiry gets one."""
    import datetime as dt
    import json

    from alembic import command

    from opencustoms.security import audit
    from opencustoms.store.database import _alembic_config, create_database_engine

    engine = create_database_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(engine), "0001")
    now = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, object_type, object_id, detail) VALUES (:at, 'cli', "
                    "'read', 'declaration', :o, :d)"
                ),
                {"at": now.replace(tzinfo=None), "o": f"D{i}", "d": json.dumps({"rows": i, "name": "Café"})},
            )
        conn.execute(text("INSERT INTO administrations VALUES ('NL', 'x', 'NL', :at)"), {"at": now})
        conn.execute(
            text(
                "INSERT INTO users (username, administration_code, roles, active, created_at) VALUES "
                "('olga', 'NL', '[\"officer\"]', 1, :at)"
            ),
            {"at": now},
        )
        conn.execute(
            text("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (1, :h, :at)"),
            {"h": "a" * 64, "at": now},
        )
    command.upgrade(_alembic_config(engine), "heads")
    result = audit.verify(engine)
    assert result.ok and result.entries == 3 and result.last_id == 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT expires_at FROM api_tokens")).scalar_one() is not None
        first = conn.execute(select(audit_log).where(audit_log.c.id == 1)).mappings().one()
    assert first["prev_hash"] == audit.GENESIS
    assert first["entry_hash"] == audit.chain_hash(audit.GENESIS, dict(first))
    engine.dispose()
