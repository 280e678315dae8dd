"""Alembic environment: the engine comes from ``opencustoms.store.database`` (never from alembic.ini)."""

from __future__ import annotations

from alembic import context

from opencustoms.store.registry import load_all_tables
from opencustoms.store.tables import metadata

load_all_tables()

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
