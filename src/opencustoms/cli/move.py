"""Root commands that bring data in bulk or move the installation: `opencustoms import-inspections FILE` and
`opencustoms migrate --to URL` (registered by :mod:`opencustoms.cli.main`). They only parse options and call a
service: :mod:`opencustoms.risk.service` and :mod:`opencustoms.installation.service`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from opencustoms.errors import OpenCustomsError


def import_inspections(
    file: Annotated[Path, typer.Argument(help="CSV, JSON Lines or Parquet file of inspection results.")],
    map_file: Annotated[
        Path | None,
        typer.Option("--map", help='TOML file whose [columns] table renames the file\'s columns: "Column" = "field".'),
    ] = None,
    format: Annotated[str | None, typer.Option(help="csv, jsonl or parquet (default: from the extension).")] = None,
    report: Annotated[Path | None, typer.Option(help="Write the problems to this CSV file.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Results recorded per transaction.")] = 1000,
) -> None:
    """Record past inspection results in bulk (reference, outcome, date; revenue, officer, findings).

    The risk model learns from them. Importing the same file again records nothing twice (one result per
    declaration and inspection date). Bad rows and rows for unknown declarations are reported; good rows are stored.
    """
    from opencustoms.cli.main import _fail, _operator, _platform, console, err, show_problems
    from opencustoms.cli.progress import RichProgress
    from opencustoms.risk import service as risk

    platform = _platform()
    try:
        with RichProgress(err, console) as bar:
            bar.phase(f"recording inspection results from {file.name}", None)
            result = risk.import_inspections(
                platform.engine,
                _operator(platform),
                file,
                map_file=map_file,
                fmt=format,
                batch_size=batch_size,
                progress=bar.advance,
            )
    except OpenCustomsError as exc:
        _fail(exc)
    bar.finish(
        f"{file.name}: {result.recorded} inspection results recorded, {result.already_recorded} already recorded, "
        f"{result.rejected} rejected"
    )
    show_problems([(p.row, p.reference, p.field, p.value, p.reason) for p in result.problems])
    if report:
        result.write_csv(report)
        console.print(f"problem report written to {report}")


def migrate(
    to: Annotated[
        str, typer.Option("--to", help="Database URL of the new installation, e.g. postgresql://user@host/db (empty).")
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory of the new installation: the files (models, keys, scans) are copied there."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1_000_000, help="Rows read and written at a time.")] = 5000,
) -> None:
    """Move this whole installation (every table: declarations, inspections, decisions, models, profiles, ledger,
    documents, IoT records, users and tokens, audit log) into an empty database, e.g. SQLite to PostgreSQL.

    The source is OPENCUSTOMS_DATABASE_URL; stop the API and listeners first. Nothing is written to the target
    unless everything is copied."""
    from opencustoms.cli.main import _fail, _operator, _platform, console, err
    from opencustoms.cli.progress import RichProgress
    from opencustoms.installation import service as installation

    platform = _platform()
    counters: dict[str, Callable[[int, int], None]] = {}
    bar = RichProgress(err, console)

    def advance(table: str, done: int, total: int) -> None:
        counters.setdefault(table, bar.counter(table))(done, total)

    try:
        with bar:
            result = installation.migrate(
                platform, _operator(platform), to, data_dir=data_dir, batch_rows=batch_size, progress=advance
            )
    except OpenCustomsError as exc:
        _fail(exc)
    for note in result.notes:
        err.print(f"[yellow]note[/yellow]: {note}")
    bar.finish(
        f"moved {result.rows:,} rows of {len(result.tables)} tables from {result.source} to {result.target}"
        + (f", {result.files} file{'' if result.files == 1 else 's'} to {result.data_dir}" if result.data_dir else "")
        + "; check it with `opencustoms audit verify` and `opencustoms ledger verify` there"
    )
