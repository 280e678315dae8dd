"""`opencustoms export --lake DIR`: the installation's declarations as a data lake for the analytics an administration
already runs (Spark, Hive, Trino, DuckDB, polars): Parquet, one folder per table, partitioned Hive-style by the
acceptance date (``year=2025/month=3``), with its schema in ``_SCHEMA.json`` (``installation/data/lake.toml``: the
WCO Data Model names of the flat layout).

**Incremental.** Each run appends only what changed since the previous one: new declarations (with their goods
items), new inspection results, new decisions (by their ids) and new signals (by the time they were recorded, then
id). ``_STATE.json`` records where each table stopped and every run. A run writes its files under its own name
(``part-<run>-<chunk>-<n>.parquet``) and records itself in ``_STATE.json`` last, atomically: the files of a run that
did not finish (a crash, a kill) are removed by the next run, which exports the same rows again — nothing is
exported twice, nothing is lost.

**No personal data.** Parties are written as the installation's keyed pseudonyms (the identifiers the risk engine
uses); names, addresses and trader ids stay in the database; signals' subjects, reasons and evidence are rendered as
a reader without the personal-data permission sees them. The export is audited.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opencustoms.installation.errors import LakeError
from opencustoms.progress import Progress, or_none
from opencustoms.security.roles import Permission

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Connection

    from opencustoms.context import Platform
    from opencustoms.security.service import Identity

SCHEMA_FILE = Path(__file__).parent / "data" / "lake.toml"
STATE = "_STATE.json"
CHUNK = 20_000  # declarations (or rows) per written chunk
PARTY_ROLES = ("importer", "declarant", "exporter", "seller", "carrier")


@cache
def schema() -> dict[str, Any]:
    """The lake's tables, columns (name, Arrow type, meaning) and partition column."""
    with SCHEMA_FILE.open("rb") as handle:
        return tomllib.load(handle)


def _arrow_type(name: str) -> pa.DataType:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "date32": pa.date32(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "list<string>": pa.list_(pa.string()),
        "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
    }
    return types[name]


def arrow_schema(table: str) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([(name, _arrow_type(kind)) for name, kind, _ in schema()["tables"][table]["columns"]])


def _read_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE
    if not path.exists():
        return {"version": schema()["version"], "watermarks": {}, "runs": []}
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LakeError(
            f"{path} cannot be read ({exc}); it records what was exported: restore it or export to a new folder",
            field="lake",
        ) from exc
    if state.get("version") != schema()["version"]:
        raise LakeError(
            f"{directory} holds a lake of schema version {state.get('version')}, this platform writes version "
            f"{schema()['version']}: export to a new folder",
            field="lake",
        )
    return state


def _write_state(directory: Path, state: dict[str, Any]) -> None:
    tmp = directory / (STATE + ".partial")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, directory / STATE)


def _remove_unfinished(directory: Path, state: dict[str, Any]) -> int:
    """Files of runs that never recorded themselves (killed half-way): removed, their rows are exported again."""
    finished = {run["run"] for run in state["runs"]}
    removed = 0
    for path in directory.glob("*/year=*/month=*/part-*.parquet"):
        run = path.name.split("-")[1]
        if run not in finished:
            path.unlink()
            removed += 1
    return removed


def _write_chunk(directory: Path, table: str, rows: list[dict[str, Any]], run: str, chunk: int) -> None:
    """Rows of one table appended to its partitions (year, month of the table's partition column)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    if not rows:
        return
    key = schema()["tables"][table]["partition"]
    data = pa.Table.from_pylist(rows, schema=arrow_schema(table))
    when = [r[key] for r in rows]
    data = data.append_column("year", pa.array([w.year for w in when], pa.int32()))
    data = data.append_column("month", pa.array([w.month for w in when], pa.int32()))
    ds.write_dataset(
        data,
        directory / table,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("year", pa.int32()), ("month", pa.int32())]), flavor="hive"),
        basename_template=f"part-{run}-{chunk}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _declaration_chunks(
    conn: Connection, after: int, pseudonymiser: Any
) -> Iterator[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(last id, declaration rows, goods item rows) for the declarations stored after id ``after``."""
    from sqlalchemy import select

    from opencustoms.store.tables import declaration_containers, declaration_parties, declarations, goods_items

    d, p, g, c = declarations.c, declaration_parties.c, goods_items.c, declaration_containers.c
    last = after
    while True:
        heads = conn.execute(select(declarations).where(d.id > last).order_by(d.id).limit(CHUNK)).mappings().all()
        if not heads:
            return
        low, high = heads[0]["id"], heads[-1]["id"]
        parties: dict[int, dict[str, Any]] = {}
        for party in conn.execute(
            select(p.declaration_id, p.role, p.party_id, p.aeo_status).where(p.declaration_id.between(low, high))
        ):
            parties.setdefault(party.declaration_id, {})[party.role] = (pseudonymiser(party.party_id), party.aeo_status)
        containers: dict[int, list[str]] = {}
        for box in conn.execute(
            select(c.declaration_id, c.container_id)
            .where(c.declaration_id.between(low, high))
            .order_by(c.declaration_id, c.position)
        ):
            containers.setdefault(box.declaration_id, []).append(box.container_id)
        by_id = {h["id"]: h for h in heads}
        rows = []
        for h in heads:
            row = {
                name: h[name]
                for name in (
                    "functional_reference_id",
                    "type_code",
                    "acceptance_date",
                    "declaration_office_id",
                    "procedure_code",
                    "transport_mode_code",
                    "transport_identification_id",
                    "transport_nationality_code",
                    "vessel_imo",
                    "vessel_mmsi",
                    "loading_location",
                    "unloading_location",
                    "departure_country_code",
                )
            }
            found = parties.get(h["id"], {})
            for role in PARTY_ROLES:
                row[f"{role}_id"] = found.get(role, (None, None))[0]
            row["importer_aeo_status"] = found.get("importer", (None, None))[1]
            row["declarant_aeo_status"] = found.get("declarant", (None, None))[1]
            row["container_ids"] = containers.get(h["id"], [])
            row["national_extensions"] = json.dumps(h["national_extensions"]) if h["national_extensions"] else None
            rows.append(row)
        items = []
        for r in conn.execute(
            select(goods_items).where(g.declaration_id.between(low, high)).order_by(g.declaration_id, g.sequence_number)
        ).mappings():
            head = by_id.get(r["declaration_id"])
            if head is None:
                continue
            items.append(
                {
                    "functional_reference_id": head["functional_reference_id"],
                    "acceptance_date": head["acceptance_date"],
                    "sequence_number": r["sequence_number"],
                    "hs_code": r["hs_code"],
                    "description": r["description"],
                    "quantity": r["quantity"],
                    "quantity_unit": r["quantity_unit"],
                    "net_mass_kg": r["net_mass_kg"],
                    "gross_mass_kg": r["gross_mass_kg"],
                    "customs_value_amount": _float(r["customs_value_amount"]),
                    "customs_value_currency": r["customs_value_currency"],
                    "origin_country_code": r["origin_country_code"],
                    "duty_rate": _float(r["duty_rate"]),
                    "duty_tax_amount": _float(r["duty_tax_amount"]),
                    "duty_regime_code": r["duty_regime_code"],
                    "preference_code": r["preference_code"],
                }
            )
        last = high
        yield last, rows, items


def _by_id_chunks(
    conn: Connection, table: str, after: int, pseudonymiser: Any
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(last id, rows) of inspection results or decisions stored after id ``after``, with their declaration's
    reference and acceptance date."""
    from sqlalchemy import select

    from opencustoms.risk.tables import risk_decisions
    from opencustoms.signals import ReaderView
    from opencustoms.store.tables import declarations, inspection_results

    d = declarations.c
    view = ReaderView(masked=True, pseudonymiser=pseudonymiser)
    last = after
    while True:
        if table == "inspection_results":
            i = inspection_results.c
            query = (
                select(inspection_results, d.functional_reference_id, d.acceptance_date)
                .join(declarations, d.id == i.declaration_id)
                .where(i.id > last)
                .order_by(i.id)
                .limit(CHUNK)
            )
        else:
            r_ = risk_decisions.c
            query = (
                select(risk_decisions, d.acceptance_date)
                .join(declarations, d.functional_reference_id == r_.reference)
                .where(r_.id > last)
                .order_by(r_.id)
                .limit(CHUNK)
            )
        found = conn.execute(query).mappings().all()
        if not found:
            return
        rows = []
        for r in found:
            if table == "inspection_results":
                rows.append(
                    {
                        "functional_reference_id": r["functional_reference_id"],
                        "acceptance_date": r["acceptance_date"],
                        "result_id": r["id"],
                        "recorded_at": r["recorded_at"],
                        "outcome": r["outcome"],
                        "revenue_recovered": _float(r["revenue_recovered"]),
                        "source": r["source"],
                    }
                )
            else:
                reasons = [{**reason, "text": view.text(str(reason.get("text", "")))} for reason in r["reasons"] or []]
                rows.append(
                    {
                        "functional_reference_id": r["reference"],
                        "acceptance_date": r["acceptance_date"],
                        "decision_id": r["id"],
                        "decided_at": r["decided_at"],
                        "lane": r["lane"],
                        "score": r["score"],
                        "rank_score": r["rank_score"],
                        "model_version": r["model_version"],
                        "random_draw": r["random_draw"],
                        "reasons": json.dumps(reasons),
                    }
                )
        last = found[-1]["id"]
        yield last, rows


def _signal_chunks(
    conn: Connection, after: tuple[str, str] | None, pseudonymiser: Any
) -> Iterator[tuple[tuple[str, str], list[dict[str, Any]]]]:
    """((recorded_at, id) of the last, rows) of the signals recorded after ``after``."""
    from sqlalchemy import and_, or_, select

    from opencustoms.signals import ReaderView
    from opencustoms.store.database import as_utc
    from opencustoms.store.tables import signals

    s = signals.c
    view = ReaderView(masked=True, pseudonymiser=pseudonymiser)
    mark = after
    while True:
        query = select(signals).order_by(s.recorded_at, s.id).limit(CHUNK)
        if mark is not None:
            when = dt.datetime.fromisoformat(mark[0])
            query = query.where(or_(s.recorded_at > when, and_(s.recorded_at == when, s.id > mark[1])))
        found = conn.execute(query).mappings().all()
        if not found:
            return
        rows = [
            {
                "signal_id": r["id"],
                "kind": r["kind"],
                "subject_type": r["subject_type"],
                "subject_id": view.subject(r["subject_type"], r["subject_id"]),
                "severity": r["severity"],
                "source": r["source"],
                "reason": view.text(r["reason"]),
                "evidence": json.dumps(view.evidence(r["evidence"] or {}), default=str),
                "observed_at": as_utc(r["observed_at"]),
                "recorded_at": as_utc(r["recorded_at"]),
            }
            for r in found
        ]
        last = found[-1]
        mark = (last["recorded_at"].isoformat(), last["id"])  # as the database gives it back, to compare alike
        yield mark, rows


def export_lake(
    platform: Platform, actor: Identity, directory: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Append what changed since the last export to the lake in ``directory`` (created if new). Returns the run:
    its id, the rows written per table, the files of unfinished earlier runs removed."""
    from sqlalchemy import func, select

    from opencustoms.risk.tables import risk_decisions
    from opencustoms.security.service import record
    from opencustoms.store.tables import declarations, inspection_results

    actor.require(Permission.DECLARATIONS_READ)
    progress = or_none(progress)
    directory.mkdir(parents=True, exist_ok=True)
    state = _read_state(directory)
    removed = _remove_unfinished(directory, state)
    run = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + uuid.uuid4().hex[:6]
    marks = dict(state["watermarks"])
    written: dict[str, int] = {}
    pseudonymiser = platform.pseudonymiser
    engine = platform.engine
    with engine.connect() as conn:  # one consistent read where the database gives one
        after = int(marks.get("declarations", 0))
        total = (
            conn.execute(select(func.count()).select_from(declarations).where(declarations.c.id > after)).scalar() or 0
        )
        progress.phase("declarations and goods items", int(total))
        written["declarations"] = written["goods_items"] = 0
        for chunk, (last, rows, items) in enumerate(_declaration_chunks(conn, after, pseudonymiser)):
            _write_chunk(directory, "declarations", rows, run, chunk)
            _write_chunk(directory, "goods_items", items, run, chunk)
            written["declarations"] += len(rows)
            written["goods_items"] += len(items)
            marks["declarations"] = last
            progress.advance(len(rows))
        for table, source in (("inspection_results", inspection_results), ("decisions", risk_decisions)):
            after = int(marks.get(table, 0))
            total = conn.execute(select(func.count()).select_from(source).where(source.c.id > after)).scalar() or 0
            progress.phase(table.replace("_", " "), int(total))
            written[table] = 0
            for chunk, (last, rows) in enumerate(_by_id_chunks(conn, table, after, pseudonymiser)):
                _write_chunk(directory, table, rows, run, chunk)
                written[table] += len(rows)
                marks[table] = last
                progress.advance(len(rows))
        signal_mark = tuple(marks["signals"]) if marks.get("signals") else None
        progress.phase("signals", None)
        written["signals"] = 0
        for chunk, (mark, rows) in enumerate(_signal_chunks(conn, signal_mark, pseudonymiser)):  # type: ignore[arg-type]
            _write_chunk(directory, "signals", rows, run, chunk)
            written["signals"] += len(rows)
            marks["signals"] = list(mark)
            progress.advance(len(rows))
    (directory / "_SCHEMA.json").write_text(json.dumps(schema(), indent=1) + "\n")
    summary = {
        "run": run,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "rows": written,
        "removed_unfinished_files": removed,
    }
    state["watermarks"] = marks
    state["runs"] = [*state["runs"], summary]
    _write_state(directory, state)  # the run counts from here
    with engine.begin() as conn:
        record(conn, actor, "export", "lake", directory.name, detail={"run": run, "rows": written})
    return summary
