"""The import pipeline: records -> layout -> validated declarations -> batches written in one transaction each.

A bad record never stops the good ones and is never dropped silently: it becomes a line of the ImportReport
(row, reference, field, value, reason). A batch is written in one transaction, so a failure leaves no
half-written declaration; if a batch fails as a whole (another writer stored the same reference meanwhile),
its declarations are retried one by one so only the culprit is rejected.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError

from opencustoms.declarations import repository
from opencustoms.declarations.layouts import Candidate, Label, Layout, Problem
from opencustoms.declarations.messages import plain_reason
from opencustoms.model import Declaration
from opencustoms.reference.service import NomenclatureSet
from opencustoms.store.tables import imports

if TYPE_CHECKING:
    import polars as pl

REPORT_COLUMNS = ("row", "reference", "field", "value", "reason")


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def write_problem_csv(
    path: Path | IO[str], problems: Iterable[Sequence[Any]], columns: Sequence[str] = REPORT_COLUMNS
) -> None:
    """Problems of a file as CSV for a spreadsheet, one line each (row, reference, the file's column, value,
    reason): the import's, the inspection import's and the scored file's reports. Cells come from the file, so a
    cell that a spreadsheet would run as a formula is escaped (:func:`spreadsheet_cell`)."""
    handle = path.open("w", newline="", encoding="utf-8") if isinstance(path, Path) else path
    try:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for cells in problems:
            writer.writerow([spreadsheet_cell(x) for x in cells])
    finally:
        if isinstance(path, Path):
            handle.close()


def spreadsheet_cell(value: object) -> object:
    """A cell safe to open in a spreadsheet (OWASP, CSV injection): text starting with = + - @, a tab or a carriage
    return is prefixed with a single quote, so the spreadsheet shows it as text instead of running it as a formula.
    Numbers stay numbers; other text is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def spreadsheet_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`spreadsheet_cell` over every text column of a polars frame written as CSV for people to open."""
    import polars as pl

    trigger = "^[" + "".join("\\" + c if c in "-\\" else c for c in FORMULA_TRIGGERS) + "]"
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(trigger)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


_CONTROL = {**{i: f"\\x{i:02x}" for i in range(0x20)}, 0x7F: "\\x7f", **{i: f"\\x{i:02x}" for i in range(0x80, 0xA0)}}


def terminal_text(value: object) -> str:
    """A report cell as shown in a terminal: control characters (an escape sequence that would move the cursor or
    rewrite the screen, a carriage return that hides what came before) written out as ``\\x1b``."""
    return "" if value is None else str(value).translate(_CONTROL)


@dataclass
class ImportReport:
    source: str
    layout: str
    import_id: int | None = None
    accepted: int = 0
    rejected: int = 0
    already_stored: int = 0  # declarations of the file found already stored: not imported again, not an error
    labels: int = 0
    zeros_restored: int = 0  # HS codes whose lost leading zero was put back (KCS files)
    references_generated: int = 0  # declarations given a reference computed from the row (files without one)
    notices: list[str] = field(default_factory=list)  # what the import decided for the user (e.g. the layout)
    problems: list[Problem] = field(default_factory=list)

    def count_notes(self, notes: dict[str, int] | None) -> None:
        if notes:
            self.zeros_restored += notes.get("zeros_restored", 0)
            self.references_generated += notes.get("references_generated", 0)

    def headline(self) -> str:
        """The counts in one line, as the CLI prints them."""
        parts = [f"{self.accepted} imported", f"{self.already_stored} already stored", f"{self.rejected} rejected"]
        if self.labels:
            parts.append(f"{self.labels} inspection results")
        if self.zeros_restored:
            parts.append(f"leading zero restored on {self.zeros_restored} HS code{'s' * (self.zeros_restored != 1)}")
        if self.references_generated:
            parts.append(f"{self.references_generated} references generated from the rows")
        return ", ".join(parts)

    def write_csv(self, path: Path | IO[str]) -> None:
        """The problems as CSV for a spreadsheet (:func:`write_problem_csv`)."""
        write_problem_csv(path, ((p.row, p.reference, p.field, p.value, p.reason) for p in self.problems))

    def summary(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "source": self.source,
            "layout": self.layout,
            "accepted": self.accepted,
            "already_stored": self.already_stored,
            "rejected": self.rejected,
            "labels": self.labels,
            "zeros_restored": self.zeros_restored,
            "references_generated": self.references_generated,
            "notices": list(self.notices),
            "problems": len(self.problems),
        }


def _reason(error: Any) -> str:
    return plain_reason(error)


def validation_problems(candidate: Candidate, layout: Layout, exc: ValidationError) -> list[Problem]:
    out = []
    for error in exc.errors(include_url=False):
        row, name = layout.locate(candidate, tuple(error.get("loc", ())))
        value = error.get("input")
        shown = None if isinstance(value, dict | list) or value is None else str(value)
        out.append(Problem(row, candidate.reference, name, shown, _reason(error)))
    return out


@dataclass(slots=True)
class Valid:
    declaration: Declaration
    candidate: Candidate


def validate(
    candidates: Iterable[Candidate], layout: Layout, nomenclatures: NomenclatureSet | None = None
) -> Iterator[Valid | list[Problem]]:
    """Validated declarations, or the problems of the candidates that failed. HS codes are checked against the
    edition in force on each declaration's acceptance date."""
    for candidate in candidates:
        if candidate.data is None:
            yield candidate.problems
            continue
        nomenclature = nomenclatures.for_date(candidate.data.get("acceptance_date")) if nomenclatures else None
        try:
            yield Valid(Declaration.model_validate(candidate.data, context={"nomenclature": nomenclature}), candidate)
        except ValidationError as exc:
            yield validation_problems(candidate, layout, exc)


@dataclass(slots=True)
class Prepared:
    """A valid declaration turned into table rows, ready for the writer."""

    reference: str
    row: int | None
    rows: repository.DeclarationRows
    label: Label | None


def prepare(
    candidates: Iterable[Candidate], layout: Layout, nomenclatures: NomenclatureSet | None
) -> Iterator[Prepared | list[Problem]]:
    for outcome in validate(candidates, layout, nomenclatures):
        if isinstance(outcome, Valid):
            d = outcome.declaration
            yield Prepared(
                d.functional_reference_id, outcome.candidate.rows[0], repository.to_rows(d), outcome.candidate.label
            )
        else:
            yield outcome


# --- parallel preparation ---------------------------------------------------------------------------------------

_worker_state: dict[str, Any] = {}


def _init_worker(layout: Layout, nomenclatures: NomenclatureSet | None) -> None:
    _worker_state["layout"], _worker_state["nomenclatures"] = layout, nomenclatures


def _prepare_chunk(chunk: list[Candidate]) -> list[Prepared | list[Problem]]:
    return list(prepare(chunk, _worker_state["layout"], _worker_state["nomenclatures"]))


def _chunks(items: Iterable[Candidate], size: int) -> Iterator[list[Candidate]]:
    chunk: list[Candidate] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prepare_parallel(
    candidates: Iterable[Candidate],
    layout: Layout,
    nomenclatures: NomenclatureSet | None,
    workers: int,
    chunk_size: int = 500,
) -> Iterator[Prepared | list[Problem]]:
    """``prepare`` spread over worker processes, results in input order, a bounded number of chunks in flight."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(layout, nomenclatures)
    ) as pool:
        pending: deque[Future[list[Prepared | list[Problem]]]] = deque()
        for chunk in _chunks(candidates, chunk_size):
            pending.append(pool.submit(_prepare_chunk, chunk))
            if len(pending) >= workers * 3:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


# --- writing ----------------------------------------------------------------------------------------------------


def _label_row(label: Label, declaration_id: int, actor: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "declaration_id": declaration_id,
        "recorded_at": now,
        "outcome": label.outcome,
        "revenue_recovered": label.revenue_recovered,
        "recorded_by": actor,
        "source": "import",
        "detail": label.detail,
    }


class BatchWriter:
    def __init__(self, engine: Engine, report: ImportReport, actor: str) -> None:
        self.engine, self.report, self.actor = engine, report, actor

    def write(self, batch: list[Prepared]) -> None:
        if not batch:
            return
        try:
            self._write(batch)
        except IntegrityError:
            # Someone else stored one of these references meanwhile: retry one by one.
            for one in batch:
                try:
                    self._write([one])
                except IntegrityError as exc:
                    self._reject(one, f"cannot be stored: {exc.orig}")

    def _reject(self, p: Prepared, reason: str) -> None:
        self.report.problems.append(Problem(p.row, p.reference, "functional_reference_id", p.reference, reason))
        self.report.rejected += 1

    def _write(self, batch: list[Prepared]) -> None:
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            stored = repository.existing_references(conn, [p.reference for p in batch])
            fresh = [p for p in batch if p.reference not in stored]
            for p in fresh:
                p.rows.declaration["import_id"] = self.report.import_id
                p.rows.declaration["created_at"] = now
            ids = repository.insert_rows(conn, [p.rows for p in fresh])
            labels = [
                _label_row(p.label, i, self.actor, now) for p, i in zip(fresh, ids, strict=True) if p.label is not None
            ]
            repository.insert_labels(conn, labels)
        # already stored (an earlier import of the same file, or of a file that overlaps): not stored twice, and
        # not an error either — counted apart from the rejected declarations
        self.report.already_stored += len(batch) - len(fresh)
        self.report.accepted += len(fresh)
        self.report.labels += len(labels)


def start_import(engine: Engine, source: str, layout: str, actor: str) -> ImportReport:
    report = ImportReport(source=source, layout=layout)
    with engine.begin() as conn:
        report.import_id = conn.execute(
            insert(imports)
            .values(
                started_at=dt.datetime.now(dt.UTC),
                actor=actor,
                source=source[:300],
                layout=layout,
                accepted=0,
                rejected=0,
            )
            .returning(imports.c.id)
        ).scalar_one()
    return report


def finish_import(engine: Engine, report: ImportReport) -> ImportReport:
    with engine.begin() as conn:
        conn.execute(
            update(imports)
            .where(imports.c.id == report.import_id)
            .values(finished_at=dt.datetime.now(dt.UTC), accepted=report.accepted, rejected=report.rejected)
        )
    return report


def _counted(candidates: Iterable[Candidate], report: ImportReport) -> Iterator[Candidate]:
    for candidate in candidates:
        report.count_notes(candidate.notes)
        yield candidate


def import_rows(
    engine: Engine,
    candidates: Iterable[Candidate],
    layout: Layout,
    report: ImportReport,
    *,
    actor: str,
    nomenclatures: NomenclatureSet | None = None,
    batch_size: int = 1000,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    skip: set[str] | None = None,
) -> None:
    """The row path: validate each declaration with the model and write in batches. ``workers`` > 1 validates in
    that many processes while this one writes. References in ``skip`` were already written by this import."""
    if skip:
        candidates = (c for c in candidates if c.reference not in skip)
    candidates = _counted(candidates, report)
    writer = BatchWriter(engine, report, actor)
    outcomes = (
        prepare_parallel(candidates, layout, nomenclatures, workers)
        if workers > 1
        else prepare(candidates, layout, nomenclatures)
    )
    batch: list[Prepared] = []
    for outcome in outcomes:
        if isinstance(outcome, Prepared):
            batch.append(outcome)
            if len(batch) >= batch_size:
                writer.write(batch)
                if progress:
                    progress(len(batch))
                batch = []
        else:
            report.problems.extend(outcome)
            report.rejected += 1
    writer.write(batch)
    if progress and batch:
        progress(len(batch))


def run_import(
    engine: Engine,
    candidates: Iterable[Candidate],
    layout: Layout,
    *,
    source: str,
    actor: str,
    nomenclatures: NomenclatureSet | None = None,
    batch_size: int = 1000,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = start_import(engine, source, layout.name, actor)
    import_rows(
        engine,
        candidates,
        layout,
        report,
        actor=actor,
        nomenclatures=nomenclatures,
        batch_size=batch_size,
        workers=workers,
        progress=progress,
    )
    return finish_import(engine, report)


__all__ = ["ImportReport", "prepare", "run_import", "spreadsheet_cell", "terminal_text", "validate"]
