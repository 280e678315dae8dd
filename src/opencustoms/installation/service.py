"""Moving a whole installation to another database (`opencustoms migrate --to URL`), e.g. a SQLite pilot to
PostgreSQL production.

The target is initialised with the Alembic migrations, then every table of every pillar (the shared metadata, in
foreign-key order) is copied from one consistent read of the source, in batches, in ONE transaction on the target:
primary keys and every column as stored (JSON, binary keys and signatures, timestamps in UTC), so the audit chain,
the ledger's Merkle tree, the API tokens' hashes and the models' registered file hashes still check out. If
anything fails the target keeps its empty schema. The audit chain's head is set to the source's, PostgreSQL sequences
are moved past the copied ids, and the move itself is the target's newest audit entry.

A target that already holds data is refused (it is not merged into). The files of the installation (models, the
pseudonym key, the ledger's keys, scan images, the lane policy: everything under the data directory) are copied
when a new data directory is given (``data_dir``), and the registered model paths point into it; otherwise they
stay where they are and the report says what the new installation needs.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opencustoms.installation.errors import MigrationError, TargetNotEmptyError
from opencustoms.security.roles import Permission

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, Table

    from opencustoms.context import Platform
    from opencustoms.security.service import Identity

BATCH_ROWS = 5000
Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows in the table


@dataclass
class MoveReport:
    source: str
    target: str
    tables: dict[str, int] = field(default_factory=dict)  # rows copied per table, in copy order
    files: int = 0  # files copied into the new data directory
    data_dir: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "tables": len(self.tables),
            "rows": self.rows,
            "files": self.files,
            "data_dir": self.data_dir,
        }


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    from opencustoms.store.database import normalise_url

    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def _sqlite_files(url: str) -> set[Path]:
    """The files of a SQLite database (with its write-ahead log), which are never copied as data files."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return set()
    base = Path(parsed.database).resolve()
    return {base, *(base.with_name(base.name + suffix) for suffix in ("-wal", "-shm", "-journal"))}


def tables() -> list[Table]:
    """Every table of every pillar, parents before children."""
    from opencustoms.store.registry import load_all_tables
    from opencustoms.store.tables import metadata

    load_all_tables()
    return list(metadata.sorted_tables)


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table (every pillar's), e.g. to compare an installation with the one it was moved to."""
    from sqlalchemy import func, select

    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables()}


def _occupied(conn: Connection) -> list[str]:
    """Tables of the target that already hold rows (the audit chain's head counts only once it has moved)."""
    from sqlalchemy import func, select

    from opencustoms.store.tables import audit_chain_head

    out = []
    for table in tables():
        if table is audit_chain_head:
            moved = conn.execute(select(func.count()).where(audit_chain_head.c.last_id != 0)).scalar_one()
            if moved:
                out.append(table.name)
            continue
        if conn.execute(select(table).limit(1)).first() is not None:
            out.append(table.name)
    return out


def _copy_files(source: Path, target: Path, skip: set[Path]) -> int:
    """Copy the source data directory into ``target`` (modes kept: keys stay 0600 in 0700 directories). A file that
    exists in the target with other content is refused before anything is copied."""
    pairs = []
    for root, _dirs, names in os.walk(source):
        for name in names:
            path = Path(root) / name
            if path.resolve() in skip or path.is_symlink():
                continue
            dest = target / path.relative_to(source)
            if dest.exists() and not filecmp.cmp(path, dest, shallow=False):
                raise MigrationError(
                    f"{dest} already exists with other content than {path}; give an empty data directory with "
                    "--data-dir (the new installation's files must be the source's)",
                    field="data_dir",
                )
            pairs.append((path, dest))
    target.mkdir(parents=True, exist_ok=True)
    shutil.copymode(source, target)
    copied = 0
    for path, dest in pairs:
        for parent in reversed(dest.relative_to(target).parents[:-1]):
            folder = target / parent
            if not folder.exists():
                folder.mkdir()
                shutil.copymode(source / parent, folder)
        if not dest.exists():
            shutil.copy2(path, dest)
            copied += 1
    return copied


def _model_path(value: str, source_dir: Path, target_dir: Path | None, notes: list[str]) -> str:
    """A registered model file's path in the new installation: moved into the new data directory when it was in
    the old one."""
    path = Path(value).resolve()
    if not path.is_relative_to(source_dir):
        notes.append(f"the model file {value} is outside the data directory: keep it at that path")
        return value
    if target_dir is None:
        return value
    return str(target_dir / path.relative_to(source_dir))


def _notes(platform: Platform, target_dir: Path | None) -> list[str]:
    """What the new installation needs that is not in the database nor in the data directory."""
    settings = platform.settings
    source_dir = Path(settings.data_dir).resolve()
    notes = []
    if target_dir is None:
        notes.append(
            f"the installation's files stay in {settings.data_dir} (models, pseudonym key, ledger keys, scan images): "
            "run the new installation with OPENCUSTOMS_DATA_DIR pointing there, or move again with --data-dir"
        )
    if settings.pseudonym_key:
        notes.append(
            "OPENCUSTOMS_PSEUDONYM_KEY is set: give the new installation the same value, or every pseudonym changes"
        )
    for name in ("audit_signing_key_file", "ledger_evm_private_key_file"):
        value = getattr(settings, name)
        if value is not None and not Path(value).resolve().is_relative_to(source_dir):
            notes.append(f"OPENCUSTOMS_{name.upper()} points outside the data directory ({value}): copy that file")
    return notes


def _fixers(table: Table, source_dir: Path, target_dir: Path | None, notes: list[str]) -> list[tuple[str, Any]]:
    """Per-column changes on the way: timestamps made UTC-aware (SQLite gives them back naive), model paths."""
    from sqlalchemy import DateTime

    from opencustoms.store.database import as_utc

    out: list[tuple[str, Any]] = [
        (c.name, as_utc) for c in table.columns if isinstance(c.type, DateTime) and c.type.timezone
    ]
    if table.name in ("risk_models", "classification_models"):  # files under the data directory move with it
        out.append(("path", lambda v: _model_path(v, source_dir, target_dir, notes)))
    return out


def _reset_sequences(conn: Connection, copied: list[Table]) -> None:
    """PostgreSQL: move every serial column's sequence past the copied ids."""
    from sqlalchemy import Integer, text

    for table in copied:
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            ).scalar()
            if sequence:
                conn.execute(
                    text(
                        f'SELECT setval(:s, COALESCE(MAX("{column.name}"), 1), MAX("{column.name}") IS NOT NULL) '
                        f'FROM "{table.name}"'
                    ),
                    {"s": sequence},
                )


def _copy_table(
    src: Connection,
    dst: Connection,
    table: Table,
    fixers: list[tuple[str, Any]],
    total: int,
    batch_rows: int,
    progress: Progress | None,
) -> int:
    from sqlalchemy import select

    from opencustoms.store.bulk import bulk_insert

    statement = select(table).order_by(*table.primary_key.columns)
    done = 0
    result = src.execution_options(yield_per=batch_rows).execute(statement).mappings()
    for part in result.partitions():
        rows = [dict(r) for r in part]
        for row in rows:
            for name, fix in fixers:
                if row[name] is not None:
                    row[name] = fix(row[name])
        bulk_insert(dst, table, rows)
        done += len(rows)
        if progress:
            progress(table.name, done, total)
    return done


def migrate(
    platform: Platform,
    actor: Identity,
    target_url: str,
    *,
    data_dir: Path | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> MoveReport:
    """Copy this installation (the database of ``platform``) into the empty database at ``target_url``, and its
    data directory into ``data_dir`` when given. See the module's docstring."""
    from sqlalchemy import func, select, update

    from opencustoms.security.service import record
    from opencustoms.store.database import init_database, normalise_url
    from opencustoms.store.tables import audit_chain_head

    actor.require(Permission.USERS_MANAGE)
    source_url = normalise_url(platform.settings.database_url)
    target_url = normalise_url(target_url)
    if _shown(source_url) == _shown(target_url) or (
        _sqlite_files(source_url) and _sqlite_files(source_url) == _sqlite_files(target_url)
    ):
        raise MigrationError(
            f"the target {_shown(target_url)} is this installation's own database; give another database with --to",
            field="to",
        )
    source = platform.engine  # refuses a source whose schema is not up to date: `opencustoms init` first
    source_dir = Path(platform.settings.data_dir).resolve()
    target_dir = Path(data_dir) if data_dir is not None else None
    if target_dir is not None and target_dir.resolve() == source_dir:
        target_dir = None
    if target_dir is not None and target_dir.resolve().is_relative_to(source_dir):
        raise MigrationError(
            f"--data-dir {target_dir} is inside this installation's data directory {source_dir}; give a directory "
            "outside it",
            field="data_dir",
        )
    report = MoveReport(_shown(source_url), _shown(target_url), notes=_notes(platform, target_dir))
    target = init_database(target_url)
    try:
        with target.connect() as conn:
            occupied = _occupied(conn)
        if occupied:
            raise TargetNotEmptyError(
                f"the target {report.target} already holds data ({', '.join(occupied[:5])}"
                + (f" and {len(occupied) - 5} more tables" if len(occupied) > 5 else "")
                + "); moving never merges into an installation: give a new, empty database with --to (migrate creates "
                "the tables itself; do not run `opencustoms init` on it first)",
                field="to",
            )
        if target_dir is not None:
            skip = _sqlite_files(source_url) | _sqlite_files(target_url)
            if source_dir.is_dir():
                report.files = _copy_files(source_dir, target_dir, skip)
            report.data_dir = str(target_dir)
        order = tables()
        isolation = {"isolation_level": "REPEATABLE READ"} if source.dialect.name == "postgresql" else {}
        with source.connect().execution_options(**isolation) as src, src.begin(), target.begin() as dst:
            totals = {t.name: src.execute(select(func.count()).select_from(t)).scalar_one() for t in order}
            for table in order:
                if table is audit_chain_head:  # one row the migrations created: it takes the source's head
                    head = src.execute(select(audit_chain_head).where(audit_chain_head.c.id == 1)).mappings().one()
                    dst.execute(
                        update(audit_chain_head)
                        .where(audit_chain_head.c.id == 1)
                        .values(last_id=head["last_id"], last_hash=head["last_hash"], entries=head["entries"])
                    )
                    report.tables[table.name] = 1
                    if progress:
                        progress(table.name, 1, 1)
                    continue
                fixers = _fixers(table, source_dir, target_dir, report.notes)
                report.tables[table.name] = _copy_table(
                    src, dst, table, fixers, totals[table.name], batch_rows, progress
                )
                if progress and not totals[table.name]:
                    progress(table.name, 0, 0)
            if dst.dialect.name == "postgresql":
                _reset_sequences(dst, order)
            record(
                dst,
                actor,
                "migrate",
                "installation",
                None,
                detail={"from": report.source, "tables": len(report.tables), "rows": report.rows},
            )
    finally:
        target.dispose()
    return report


def export_lake(platform: Platform, actor: Identity, directory: Path, progress: Any = None) -> dict[str, Any]:
    """Append what changed since the last export to the declarations data lake in ``directory`` (Parquet,
    partitioned by acceptance date, pseudonymised): :mod:`opencustoms.installation.lake`."""
    from opencustoms.installation import lake

    return lake.export_lake(platform, actor, directory, progress)
