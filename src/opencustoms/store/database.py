"""Engines and schema management.

``open_database(url)`` returns an engine for an initialised database; ``init_database(url)`` applies the
Alembic migrations (creating the SQLite file under ./var/ when needed). SQLite runs in WAL mode with
``synchronous=FULL`` and foreign keys on, so an acknowledged write survives a crash.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from opencustoms.store.errors import DatabaseNotInitialisedError, StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache: bulk imports update several indexes
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def as_utc(value: Any) -> Any:
    """A timestamp read back from the store, made timezone-aware (SQLite returns naive UTC)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_database_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"no database driver for {parsed.get_backend_name()}: install the extra with "
            "`pip install 'opencustoms[postgres]'`"
        ) from exc


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revisions() -> frozenset[str]:
    """The newest migration of every branch. The core schema is one branch; each pillar (risk, ledger, documents,
    iot) keeps its tables on a branch of its own that starts from the core, so pillars never race for a revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def current_revisions(engine: Engine) -> frozenset[str]:
    with engine.connect() as connection:
        return frozenset(MigrationContext.configure(connection).get_current_heads())


def current_revision(engine: Engine) -> str:
    """The applied revisions as one display string (sorted, '+'-joined)."""
    return "+".join(sorted(current_revisions(engine)))


def init_database(url: str) -> Engine:
    """Create or upgrade the schema to the newest migration of every branch; safe to run again."""
    engine = create_database_engine(url)
    command.upgrade(_alembic_config(engine), "heads")
    return engine


@lru_cache(maxsize=8)
def open_database(url: str) -> Engine:
    """An engine for a database whose schema is up to date, or a clear error telling to run `opencustoms init`."""
    engine = create_database_engine(url)
    try:
        revisions = current_revisions(engine)
    except Exception as exc:  # connection refused, bad credentials, unreadable file
        raise StoreError(
            f"cannot open the database at {make_url(normalise_url(url)).render_as_string()}: "
            f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    if revisions != head_revisions():
        raise DatabaseNotInitialisedError(make_url(normalise_url(url)).render_as_string())
    return engine
