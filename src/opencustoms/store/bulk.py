"""Bulk writes below SQLAlchemy's per-row parameter processing: the hot path of imports, ledger appends, signals.

``insert_tuples`` takes driver-ready tuples (COPY on PostgreSQL, executemany on SQLite); ``bulk_insert`` takes dicts
keyed by column name and converts decimals, dates, timestamps and JSON as SQLAlchemy would bind them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Connection, Date, DateTime, Numeric, Table


def _converter(column: Any, sqlite: bool) -> Any:
    """Driver-ready values for the bulk path: text for decimals, dates and JSON, as SQLAlchemy would bind them."""
    if isinstance(column.type, DateTime):
        return (lambda v: None if v is None else sqlite_timestamp(v)) if sqlite else None
    if isinstance(column.type, Numeric):
        return lambda v: None if v is None else str(v)
    if isinstance(column.type, Date):
        return lambda v: None if v is None or isinstance(v, str) else v.isoformat()
    if isinstance(column.type, JSON):
        return lambda v: None if v is None else json.dumps(v)
    return None


def sqlite_timestamp(value: dt.datetime) -> str:
    """A timestamp as SQLAlchemy stores it in SQLite: naive UTC text."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows without SQLAlchemy's per-row parameter processing (the hot path of an import)."""
    if not rows:
        return
    cols = [c for c in table.columns if c.name in rows[0]]
    names = [c.name for c in cols]
    sqlite = conn.dialect.name == "sqlite"
    converters = [(i, f) for i, c in enumerate(cols) if (f := _converter(c, sqlite)) is not None]
    params = []
    for r in rows:
        row = [r[n] for n in names]
        for i, f in converters:
            row[i] = f(row[i])
        params.append(tuple(row))
    insert_tuples(conn, table.name, names, params)


def insert_tuples(conn: Connection, table: str, names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Driver-level bulk insert of ready tuples: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join([marker] * len(names))})"
    conn.exec_driver_sql(sql, list(rows))
