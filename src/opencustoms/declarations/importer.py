"""The import pipeline: records -> layout -> validated declarations -> batches written in one transaction each.

A bad record never stops the good ones and is never dropped silently: it becomes a line of the ImportReport
(row, reference, field, value, reason). A batch is written in one transaction, so a failure leaves no
half-written declaration; if a batch fails as a whole (another writer stored the same reference meanwhile),
its declarations are retried one by one so only the culprit is rejected.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError

from opencustoms.declarations import repository
from opencustoms.declarations.layouts import Candidate, Label, Layout, Problem
from opencustoms.model import Declaration
from opencustoms.reference.service import NomenclatureSet
from opencustoms.store.tables import imports

REPORT_COLUMNS = ("row", "reference", "field", "value", "reason")


@dataclass
class ImportReport:
    source: str
    layout: str
    import_id: int | None = None
    accepted: int = 0
    rejected: int = 0
    labels: int = 0
    problems: list[Problem] = field(default_factory=list)

    def write_csv(self, path: Path | IO[str]) -> None:
        handle = path.open("w", newline="", encoding="utf-8") if isinstance(path, Path) else path
        try:
            writer = csv.writer(handle)
            writer.writerow(REPORT_COLUMNS)
            for p in self.problems:
                writer.writerow([p.row, p.reference, p.field, p.value, p.reason])
        finally:
            if isinstance(path, Path):
                handle.close()

    def summary(self) -> dict[str, Any]:
        return {"import_id": self.import_id, "source": self.source, "layout": self.layout,
                "accepted": self.accepted, "rejected": self.rejected, "labels": self.labels,
                "problems": len(self.problems)}


def _reason(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    if error.get("type") == "missing":
        return "is required"
    if error.get("type") == "extra_forbidden":
        return "is not a field of the model; remove it (see `opencustoms schema declaration`)"
    return message


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


def validate(candidates: Iterable[Candidate], layout: Layout, nomenclatures: NomenclatureSet | None = None
             ) -> Iterator[Valid | list[Problem]]:
    """Validated declarations, or the problems of the candidates that failed. HS codes are checked against the
    edition in force on each declaration's acceptance date."""
    for candidate in candidates:
        if candidate.data is None:
            yield candidate.problems
            continue
        nomenclature = nomenclatures.for_date(candidate.data.get("acceptance_date")) if nomenclatures else None
        try:
            yield Valid(Declaration.model_validate(candidate.data, context={"nomenclature": nomenclature}),
                        candidate)
        except ValidationError as exc:
            yield validation_problems(candidate, layout, exc)


def _label_row(label: Label, declaration_id: int, actor: str, now: dt.datetime) -> dict[str, Any]:
    return {"declaration_id": declaration_id, "recorded_at": now, "outcome": label.outcome,
            "revenue_recovered": label.revenue_recovered, "recorded_by": actor, "source": "import",
            "detail": label.detail}


class BatchWriter:
    def __init__(self, engine: Engine, report: ImportReport, actor: str) -> None:
        self.engine, self.report, self.actor = engine, report, actor

    def write(self, batch: list[Valid]) -> None:
        if not batch:
            return
        refs = [v.declaration.functional_reference_id for v in batch]
        try:
            self._write(batch, refs)
        except IntegrityError:
            # Someone else stored one of these references meanwhile: retry one by one.
            for one in batch:
                try:
                    self._write([one], [one.declaration.functional_reference_id])
                except IntegrityError as exc:
                    self._reject(one, "functional_reference_id", f"cannot be stored: {exc.orig}")

    def _reject(self, v: Valid, field_name: str, reason: str) -> None:
        ref = v.declaration.functional_reference_id
        self.report.problems.append(Problem(v.candidate.rows[0], ref, field_name, ref, reason))
        self.report.rejected += 1

    def _write(self, batch: list[Valid], refs: list[str]) -> None:
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            stored = repository.existing_references(conn, refs)
            fresh = [v for v in batch if v.declaration.functional_reference_id not in stored]
            ids = repository.insert_rows(conn, [repository.to_rows(v.declaration, self.report.import_id, now)
                                                for v in fresh])
            labels = [_label_row(v.candidate.label, i, self.actor, now)
                      for v, i in zip(fresh, ids, strict=True) if v.candidate.label is not None]
            repository.insert_labels(conn, labels)
        for v in batch:
            if v.declaration.functional_reference_id in stored:
                self._reject(v, "functional_reference_id",
                             "a declaration with this reference is already stored; references are unique")
        self.report.accepted += len(fresh)
        self.report.labels += len(labels)


def run_import(engine: Engine, candidates: Iterable[Candidate], layout: Layout, *, source: str, actor: str,
               nomenclatures: NomenclatureSet | None = None, batch_size: int = 1000,
               progress: Callable[[int], None] | None = None) -> ImportReport:
    report = ImportReport(source=source, layout=layout.name)
    with engine.begin() as conn:
        report.import_id = conn.execute(insert(imports).values(
            started_at=dt.datetime.now(dt.UTC), actor=actor, source=source[:300], layout=layout.name,
            accepted=0, rejected=0).returning(imports.c.id)).scalar_one()
    writer = BatchWriter(engine, report, actor)
    batch: list[Valid] = []
    for outcome in validate(candidates, layout, nomenclatures):
        if isinstance(outcome, Valid):
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
    with engine.begin() as conn:
        conn.execute(update(imports).where(imports.c.id == report.import_id).values(
            finished_at=dt.datetime.now(dt.UTC), accepted=report.accepted, rejected=report.rejected))
    return report


__all__ = ["ImportReport", "run_import", "validate"]
