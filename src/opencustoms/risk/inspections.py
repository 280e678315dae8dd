"""Bringing inspection history in bulk (`opencustoms import-inspections FILE`, POST /risk/inspections/batch).

An administration's years of inspection results (its legacy system's export) become the labels the risk model
learns from. Each result goes through the same recording as `risk inspect` (permission inspections:write, the
same checks, one audit entry per result), in batches of one transaction each.

Columns (CSV header, JSON Lines keys or Parquet columns; a ``--map`` TOML file renames others):
``reference`` (the declaration's functional reference), ``outcome`` (fraud or compliant; also 1/0, yes/no,
true/false and a few words), ``date`` (the day of the inspection, YYYY-MM-DD), and optionally ``revenue`` (amount
recovered), ``officer`` and ``findings``.

Importing the same file again records nothing twice: a result is already recorded when the declaration already
has a result for the same inspection date (the ``date`` of an imported result; the day it was recorded for one
entered by an officer). Bad rows and rows whose declaration is not stored are reported with row, column and
reason; the good rows are recorded.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from opencustoms.declarations.errors import ImportFileError
from opencustoms.declarations.layouts import Problem
from opencustoms.security.roles import Permission

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from opencustoms.declarations.service import InspectionResult
    from opencustoms.security.service import Identity

FIELDS = ("reference", "outcome", "revenue", "date", "officer", "findings")
REQUIRED = ("reference", "outcome", "date")
ALIASES = {  # column names understood without a mapping (compared in lower case)
    "reference": ("reference", "functional_reference_id", "declaration", "declaration_reference", "ref"),
    "outcome": ("outcome", "result", "label", "fraud"),
    "revenue": ("revenue", "revenue_recovered", "amount_recovered"),
    "date": ("date", "inspected_on", "inspection_date"),
    "officer": ("officer", "inspector", "inspected_by"),
    "findings": ("findings", "finding", "note", "notes", "remarks"),
}
OUTCOMES = {
    **dict.fromkeys(("fraud", "1", "yes", "y", "true", "t", "non-compliant", "noncompliant", "positive"), "fraud"),
    **dict.fromkeys(("compliant", "0", "no", "n", "false", "f", "clean", "negative"), "compliant"),
}
SOURCE = "import"  # inspection_results.source of imported results
MAX_TEXT = 2000  # longest officer or findings text kept


@dataclass
class InspectionImportReport:
    source: str
    rows: int = 0
    recorded: int = 0
    already_recorded: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)

    def write_csv(self, path: Path | IO[str]) -> None:
        """The problems as CSV, the same columns as `opencustoms import --report` (cells safe for spreadsheets)."""
        from opencustoms.declarations.importer import write_problem_csv

        write_problem_csv(path, ((p.row, p.reference, p.field, p.value, p.reason) for p in self.problems))

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "recorded": self.recorded,
            "already_recorded": self.already_recorded,
            "rejected": self.rejected,
            "problems": len(self.problems),
        }


# --- the column mapping (--map) --------------------------------------------------------------------------------


def read_column_map(path: Path) -> dict[str, str]:
    """The ``[columns]`` table of a TOML mapping file: file column → field (one of :data:`FIELDS`)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"cannot read the mapping file {path}: {exc}", field="map") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ImportFileError(f"the mapping file {path} is not valid TOML: {exc}", field="map") from exc
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ImportFileError(
            f'the mapping file {path} has no [columns] table; write one line per column: "File column" = "field"',
            field="map",
        )
    out = {}
    for column, target in columns.items():
        if target not in FIELDS:
            raise ImportFileError(
                f"the mapping file {path} maps {column!r} to {target!r}; the fields are {', '.join(FIELDS)}",
                field=f"columns.{column}",
            )
        out[str(column)] = str(target)
    return out


def resolve_columns(header: Iterable[str], mapping: dict[str, str] | None = None) -> dict[str, str]:
    """Field → file column: the mapping's columns first, then columns named like a field (or an alias of one)."""
    header = list(header)
    out: dict[str, str] = {}
    for column, target in (mapping or {}).items():
        if column in header:
            out.setdefault(target, column)
    for column in header:
        name = column.strip().lower()
        for target, aliases in ALIASES.items():
            if target not in out and name in aliases and column not in (mapping or {}):
                out[target] = column
    return out


def _check_columns(columns: dict[str, str], header: Sequence[str], mapping: dict[str, str] | None) -> None:
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        unmatched = [c for c in (mapping or {}) if c not in header]
        hint = f"; the mapping names columns the file does not have: {', '.join(unmatched)}" if unmatched else ""
        raise ImportFileError(
            f"the file has no {' or '.join(repr(f) for f in missing)} column (it has: {', '.join(header) or 'none'})"
            f'{hint}; rename the column or map it with --map (a [columns] table: "File column" = "{missing[0]}")',
            field=missing[0],
        )


# --- one row -----------------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _outcome(value: Any) -> str | None:
    if isinstance(value, bool):
        return "fraud" if value else "compliant"
    text = _text(value)
    return OUTCOMES.get(text.lower()) if text else None


def _revenue(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    amount = float(value) if isinstance(value, int | float) else float(str(value).strip().replace(",", "."))
    if not math.isfinite(amount) or amount < 0:
        raise ValueError
    return amount


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    return dt.datetime.fromisoformat(text).date() if len(text) > 10 else dt.date.fromisoformat(text)


def parse_row(
    row: int, values: dict[str, Any], columns: dict[str, str], today: dt.date
) -> tuple[InspectionResult | None, list[Problem]]:
    """One record of the file as an inspection result, or the problems that keep it out (column named as in the
    file)."""
    from opencustoms.declarations.service import InspectionResult

    def cell(name: str) -> Any:
        return values.get(columns[name]) if name in columns else None

    def shown(value: Any) -> str | None:
        return None if value is None else str(value)[:200]

    reference = _text(cell("reference"))
    problems: list[Problem] = []

    def problem(name: str, reason: str) -> None:
        problems.append(Problem(row, reference, columns.get(name, name), shown(cell(name)), reason))

    if reference is None:
        problem("reference", "is empty; give the declaration's reference (its functional reference id)")
    elif len(reference) > 70:
        problem("reference", "is longer than 70 characters; it is not a declaration reference")
    outcome = _outcome(cell("outcome"))
    if outcome is None:
        problem("outcome", "is not an outcome: write fraud or compliant (also 1/0, yes/no, true/false)")
    revenue = None
    if _text(cell("revenue")) is not None:
        try:
            revenue = _revenue(cell("revenue"))
        except (TypeError, ValueError, OverflowError):
            problem("revenue", "is not an amount: write the revenue recovered as a number, zero or more (e.g. 1250.50)")
    inspected_on = None
    if _text(cell("date")) is None:
        problem("date", "is empty; give the day of the inspection as YYYY-MM-DD")
    else:
        try:
            inspected_on = _date(cell("date"))
        except (TypeError, ValueError):
            problem("date", "is not a date: write the day of the inspection as YYYY-MM-DD")
        else:
            if inspected_on > today:
                problem("date", "is in the future; give the day the inspection took place")
    officer, findings = _text(cell("officer")), _text(cell("findings"))
    for name, text in (("officer", officer), ("findings", findings)):
        if text is not None and len(text) > MAX_TEXT:
            problem(name, f"is longer than {MAX_TEXT} characters; shorten it")
    if problems:
        return None, problems
    assert reference is not None and outcome is not None
    return InspectionResult(reference, outcome, revenue, findings, inspected_on, officer), []


# --- the import --------------------------------------------------------------------------------------------------


def _recorded_keys(conn: Any, ids: Iterable[int]) -> set[tuple[int, str]]:
    """(declaration id, inspection day) of the results already stored for these declarations."""
    from sqlalchemy import select

    from opencustoms.store.database import as_utc
    from opencustoms.store.tables import inspection_results as r

    keys = set()
    ids = list(ids)
    for start in range(0, len(ids), 5000):
        rows = conn.execute(
            select(r.c.declaration_id, r.c.recorded_at, r.c.detail).where(
                r.c.declaration_id.in_(ids[start : start + 5000])
            )
        )
        for declaration_id, recorded_at, detail in rows:
            day = (detail or {}).get("inspected_on") if isinstance(detail, dict) else None
            keys.add((declaration_id, day or as_utc(recorded_at).date().isoformat()))
    return keys


def record_batch(
    engine: Engine,
    actor: Identity,
    batch: Sequence[tuple[int, InspectionResult]],
    report: InspectionImportReport,
    reference_column: str = "reference",
) -> None:
    """Record one batch (row number, result) in one transaction: unknown declarations and results already
    recorded are left out (the first reported, the second counted)."""
    from sqlalchemy import select

    from opencustoms.declarations import service as declarations
    from opencustoms.store.tables import declarations as declarations_table

    d = declarations_table.c
    references = sorted({r.reference for _, r in batch})
    with engine.begin() as conn:
        ids: dict[str, int] = {}
        for start in range(0, len(references), 5000):
            chunk = references[start : start + 5000]
            ids.update(
                conn.execute(select(d.functional_reference_id, d.id).where(d.functional_reference_id.in_(chunk))).all()
            )
        seen = _recorded_keys(conn, ids.values())
        new = []
        for row, result in batch:
            if result.reference not in ids:
                report.rejected += 1
                report.problems.append(
                    Problem(
                        row,
                        result.reference,
                        reference_column,
                        result.reference,
                        "no stored declaration has this reference; import the declaration first (opencustoms import)",
                    )
                )
                continue
            key = (ids[result.reference], result.inspected_on.isoformat() if result.inspected_on else "")
            if key in seen:
                report.already_recorded += 1
                continue
            seen.add(key)
            new.append(result)
        if new:
            declarations.record_inspections(conn, actor, new, source=SOURCE)
        report.recorded += len(new)


def import_inspections(
    engine: Engine,
    actor: Identity,
    source: Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> InspectionImportReport:
    """Record the inspection results of a CSV, JSON Lines or Parquet file (see the module's docstring)."""
    from opencustoms.declarations.formats import detect_format, open_records

    actor.require(Permission.INSPECTIONS_WRITE)
    fmt = detect_format(source.name, fmt)
    if not source.is_file():
        raise ImportFileError(f"no file at {source}", field="file")
    header, records = open_records(source, fmt)
    report = InspectionImportReport(source.name)
    columns: dict[str, str] | None = resolve_columns(header, mapping) if header is not None else None
    if header is not None and columns is not None:
        _check_columns(columns, header, mapping)
    today = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)  # a day of slack for time zones
    batch: list[tuple[int, InspectionResult]] = []
    for record in records:
        report.rows += 1
        if record.problem is not None or record.values is None:
            report.rejected += 1
            if record.problem is not None:
                report.problems.append(record.problem)
            continue
        if columns is None or header is None:  # JSON Lines: the keys of each record
            keys = list(record.values)
            row_columns = resolve_columns(keys, mapping)
            missing = [f for f in REQUIRED if f not in row_columns]
            if missing:
                report.rejected += 1
                reason = f"has no {missing[0]!r} key; add it or map it with --map"
                report.problems.append(Problem(record.row, None, missing[0], None, reason))
                continue
        else:
            row_columns = columns
        result, problems = parse_row(record.row, record.values, row_columns, today)
        if result is None:
            report.rejected += 1
            report.problems.extend(problems)
            continue
        batch.append((record.row, result))
        if len(batch) >= batch_size:
            record_batch(engine, actor, batch, report, row_columns.get("reference", "reference"))
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        record_batch(engine, actor, batch, report, (columns or {}).get("reference", "reference"))
        if progress:
            progress(len(batch))
    return report


def import_records(
    engine: Engine, actor: Identity, records: Sequence[dict[str, Any]], *, name: str = "request"
) -> InspectionImportReport:
    """A batch of results given as records with the field names (the API's JSON body), recorded as a file is."""
    actor.require(Permission.INSPECTIONS_WRITE)
    report = InspectionImportReport(name)
    today = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    columns = {f: f for f in FIELDS}
    batch = []
    for number, values in enumerate(records, 1):
        report.rows += 1
        result, problems = parse_row(number, values, columns, today)
        if result is None:
            report.rejected += 1
            report.problems.extend(problems)
        else:
            batch.append((number, result))
    if batch:
        record_batch(engine, actor, batch, report)
    return report
