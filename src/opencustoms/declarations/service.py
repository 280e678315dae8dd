"""Public face of declarations: create, read, search, import, export.

Every function takes the acting Identity. Reads by someone without the personal-data permission return
pseudonymised parties (keyed HMAC of the identifier; names and addresses withheld); reads that reveal personal
data are written to the audit log with the declaration reference.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select

from opencustoms.declarations import repository
from opencustoms.declarations.errors import (
    DeclarationNotFoundError,
    DuplicateDeclarationError,
    ImportFileError,
    InspectionError,
)
from opencustoms.declarations.formats import DeclarationWriter, detect_format, open_records
from opencustoms.declarations.importer import ImportReport, finish_import, import_rows, start_import
from opencustoms.declarations.kcs import looks_like_kcs
from opencustoms.declarations.layouts import FLAT_COLUMNS, all_layouts
from opencustoms.declarations.mapping import MappedLayout, Mapping, load_mapping
from opencustoms.declarations.mapping import suggest_mapping as suggest_from_sample
from opencustoms.declarations.repository import SearchFilters
from opencustoms.model import Declaration, Party
from opencustoms.reference import service as reference
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.pseudonyms import Pseudonymiser, is_pseudonym
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record, record_many
from opencustoms.store.database import as_utc
from opencustoms.store.tables import declarations, inspection_results
from opencustoms.wording import labels
from opencustoms.wording import language as wording_language

DEFAULT_LAYOUT = {"csv": "flat", "parquet": "flat", "jsonl": "native"}


@dataclass
class Page:
    items: list[Declaration]
    total: int
    limit: int
    offset: int
    pseudonymised: bool


def validate(engine: Engine, data: dict[str, Any]) -> Declaration:
    """Validate without storing (raises pydantic ValidationError with field-level detail). HS codes are checked
    against the loaded HS edition in force on the acceptance date."""
    nomenclature = reference.nomenclatures(engine).for_date(data.get("acceptance_date"))
    return Declaration.model_validate(data, context={"nomenclature": nomenclature})


def create(engine: Engine, actor: Identity, data: dict[str, Any] | Declaration) -> Declaration:
    actor.require(Permission.DECLARATIONS_WRITE)
    declaration = validate(engine, data if isinstance(data, dict) else data.model_dump(mode="json"))
    with engine.begin() as conn:
        if repository.existing_references(conn, [declaration.functional_reference_id]):
            raise DuplicateDeclarationError(declaration.functional_reference_id)
        repository.insert_rows(conn, [repository.to_rows(declaration)])
        record(conn, actor, "create", "declaration", declaration.functional_reference_id)
    return declaration


def pseudonymise_declaration(declaration: Declaration, pseudonymiser: Pseudonymiser) -> Declaration:
    """A copy whose parties carry only a pseudonym, their country and AEO status."""

    def mask(party: Party | None) -> Party | None:
        if party is None:
            return None
        return Party(
            id=pseudonymiser(party.id),
            country_code=party.country_code or (party.address.country_code if party.address else None),
            aeo_status=party.aeo_status,
        )

    return declaration.model_copy(
        update={
            role: mask(getattr(declaration, role))
            for role in ("declarant", "importer", "exporter", "seller", "carrier")
        }
    )


def _present(
    engine: Engine, actor: Identity, items: list[Declaration], pseudonymiser: Pseudonymiser, purpose: str | None
) -> tuple[list[Declaration], bool]:
    if actor.can(Permission.PERSONAL_DATA_READ):
        with engine.begin() as conn:
            record_many(conn, actor, "read", "declaration", [d.functional_reference_id for d in items], purpose=purpose)
        return items, False
    return [pseudonymise_declaration(d, pseudonymiser) for d in items], True


def get(
    engine: Engine, actor: Identity, reference_id: str, pseudonymiser: Pseudonymiser, purpose: str | None = None
) -> tuple[Declaration, bool]:
    """One declaration, and whether its parties were pseudonymised for this reader."""
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        declaration_id = repository.id_of(conn, reference_id)
        if declaration_id is None:
            raise DeclarationNotFoundError(reference_id)
        [declaration] = repository.load(conn, [declaration_id])
    [shown], masked = _present(engine, actor, [declaration], pseudonymiser, purpose)
    return shown, masked


def search(
    engine: Engine,
    actor: Identity,
    filters: SearchFilters,
    pseudonymiser: Pseudonymiser,
    *,
    limit: int = 50,
    offset: int = 0,
    purpose: str | None = None,
) -> Page:
    actor.require(Permission.DECLARATIONS_READ)
    filters = _reader_filters(engine, actor, filters, pseudonymiser)
    limit = max(1, min(limit, 500))
    with engine.connect() as conn:
        ids, total = repository.search(conn, filters, limit=limit, offset=max(0, offset))
        items = repository.load(conn, ids)
    shown, masked = _present(engine, actor, items, pseudonymiser, purpose)
    return Page(shown, total, limit, offset, masked)


def _reader_filters(
    engine: Engine, actor: Identity, filters: SearchFilters, pseudonymiser: Pseudonymiser
) -> SearchFilters:
    """The filters as this reader may use them. A party is searched by its pseudonym (the ``p_...`` shown on
    pseudonymised declarations); only a reader with the personal-data permission may search by the trader number
    itself — otherwise any list of trader numbers would map to their pseudonyms."""
    if filters.party_ids is not None:
        raise PermissionDeniedError("party_ids is set by the service from a pseudonym", field="party_id")
    party = (filters.party_id or "").strip()
    if not party:
        return replace(filters, party_id=None)
    pseudonym = is_pseudonym(party)
    if not actor.can(Permission.PERSONAL_DATA_READ):
        if not pseudonym:
            raise PermissionDeniedError(
                "without the personal-data permission a party is searched by its pseudonym (p_ and 24 hex digits, "
                "as shown on the declarations you can read), not by a trader number or name",
                field="party_id",
            )
        party_id = None
    else:
        party_id = party  # an officer may give either the number or the pseudonym
    if pseudonym:
        with engine.connect() as conn:
            numbers = repository.parties_with_pseudonym(conn, party, pseudonymiser)
        return replace(filters, party_id=party_id, party_ids=numbers)
    return replace(filters, party_id=party_id)


INSPECTION_OUTCOMES = ("fraud", "compliant")


@dataclass(frozen=True)
class InspectionResult:
    """What an inspection found: the only labels the risk engine learns from."""

    reference: str
    outcome: str
    revenue_recovered: float | None = None
    note: str | None = None
    inspected_on: dt.date | None = None  # when the inspection took place (bulk imports of past results)
    officer: str | None = None  # who inspected, when not the one recording


def record_inspections(
    engine: Engine | Connection, actor: Identity, results: list[InspectionResult], *, source: str = "officer"
) -> int:
    """Store inspection results (one transaction, each audited; given a Connection, in the caller's transaction).
    Raises on the first bad result, storing none."""
    actor.require(Permission.INSPECTIONS_WRITE)
    for r in results:
        if r.outcome not in INSPECTION_OUTCOMES:
            raise InspectionError(
                f"outcome must be one of {', '.join(INSPECTION_OUTCOMES)}, not {r.outcome!r}", field="outcome"
            )
        if r.revenue_recovered is not None and not (math.isfinite(r.revenue_recovered) and r.revenue_recovered >= 0):
            raise InspectionError(
                f"revenue recovered must be a finite amount, zero or more, not {r.revenue_recovered}",
                field="revenue_recovered",
            )
    now = dt.datetime.now(dt.UTC)
    with nullcontext(engine) if isinstance(engine, Connection) else engine.begin() as conn:
        ids = repository.reference_ids(conn, [r.reference for r in results])
        missing = [r.reference for r in results if r.reference not in ids]
        if missing:
            raise DeclarationNotFoundError(missing[0])
        repository.insert_labels(
            conn,
            [
                {
                    "declaration_id": ids[r.reference],
                    "recorded_at": now,
                    "outcome": r.outcome,
                    "revenue_recovered": None if r.revenue_recovered is None else round(r.revenue_recovered, 2),
                    "recorded_by": actor.username,
                    "source": source,
                    "detail": _inspection_detail(r),
                }
                for r in results
            ],
        )
        for r in results:
            record(
                conn,
                actor,
                "inspect",
                "declaration",
                r.reference,
                detail={"outcome": r.outcome, "revenue": r.revenue_recovered, "source": source}
                | ({"inspected_on": r.inspected_on.isoformat()} if r.inspected_on else {}),
            )
    return len(results)


def _inspection_detail(r: InspectionResult) -> dict[str, Any] | None:
    detail = {
        "note": r.note,
        "inspected_on": r.inspected_on.isoformat() if r.inspected_on else None,
        "officer": r.officer,
    }
    return {k: v for k, v in detail.items() if v} or None


def inspection_history(engine: Engine, actor: Identity, reference: str) -> list[dict[str, Any]]:
    """Every inspection result recorded for one declaration, oldest first."""
    actor.require(Permission.DECLARATIONS_READ)
    r = inspection_results.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(r.recorded_at, r.outcome, r.revenue_recovered, r.recorded_by, r.source, r.detail)
            .join(declarations, declarations.c.id == r.declaration_id)
            .where(declarations.c.functional_reference_id == reference)
            .order_by(r.id)
        ).mappings()
        return [{k: as_utc(v) for k, v in row.items()} for row in rows]


def layouts() -> dict[str, str]:
    return {name: layout.description for name, layout in all_layouts().items()}


def import_file(
    engine: Engine,
    actor: Identity,
    source: Path | IO[bytes],
    *,
    name: str | None = None,
    fmt: str | None = None,
    layout: str | None = None,
    mapping: Path | Mapping | None = None,
    batch_size: int = 1000,
    workers: int = 1,
    fast: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a CSV, JSON Lines or Parquet file in one of the layouts (native, flat, kcs, or a plugin's), or any
    CSV/Parquet file through a column ``mapping`` (a TOML file, see :mod:`opencustoms.declarations.mapping`).

    Flat CSV and Parquet files go through the columnar fast path (``fast=False`` forces the row path; both store
    the same declarations and report the same rejects). A CSV or Parquet file imported without a layout whose header
    is a Korea Customs release is imported with the ``kcs`` layout, and the report says so."""
    actor.require(Permission.DECLARATIONS_WRITE)
    display = name or (source.name if isinstance(source, Path) else "upload")
    fmt = detect_format(display, fmt)
    known = all_layouts()
    if layout is not None and layout not in known:
        raise ImportFileError(f"unknown layout {layout!r}; choose one of {', '.join(known)}", field="layout")
    if isinstance(source, Path) and not source.is_file():
        raise ImportFileError(f"no file at {source}; check the path", field="file")
    recognised = False  # a Korea Customs file imported without --layout
    chosen: Any
    if mapping is not None:
        if layout not in (None, "flat") or fmt == "jsonl":
            raise ImportFileError(
                "a column mapping maps a CSV or Parquet file onto the flat layout; leave out --layout "
                f"({layout}) or the mapping",
                field="layout",
            )
        chosen = MappedLayout(mapping if isinstance(mapping, Mapping) else load_mapping(mapping))
        layout_name = "mapped"
    else:
        layout_name = layout or DEFAULT_LAYOUT[fmt]
        if layout is None and fmt in ("csv", "parquet") and looks_like_kcs(_peek_header(source, fmt)):
            layout_name, recognised = "kcs", True
        chosen = known[layout_name]
    nomenclatures = reference.nomenclatures(engine)
    report = None
    written: set[str] = set()
    if fast and layout_name == "flat" and fmt in ("csv", "parquet") and (isinstance(source, Path) or source.seekable()):
        from opencustoms.declarations import columnar

        start = None if isinstance(source, Path) else source.tell()
        report = start_import(engine, display, layout_name, actor.username)
        try:
            columnar.import_flat(engine, source, fmt, report, actor.username, nomenclatures, progress)
        except columnar.FastPathUnavailable as exc:
            # Not readable column-wise (bytes that are not UTF-8, rows of the wrong width): the row path reads it
            # row by row and reports each bad row; declarations already written are not written or reported again.
            written = getattr(exc, "written", set())
            if start is not None:
                source.seek(start)  # type: ignore[union-attr]
        else:
            return _finish(engine, actor, report)
    columns, records = open_records(source, fmt)
    chosen.check_columns(columns)
    if hasattr(chosen, "bind"):
        chosen = chosen.bind(columns)
    report = report or start_import(engine, display, layout_name, actor.username)
    if recognised:
        report.notices.append(
            f"the header is a Korea Customs file ({chosen.release.description}): imported with the kcs layout "
            "(--layout kcs)"
        )
    if isinstance(chosen, MappedLayout):
        unmapped = [c for c in columns or [] if c not in chosen.mapping.columns]
        if unmapped:
            report.notices.append(f"column(s) not in the mapping, not imported: {', '.join(unmapped)}")
    import_rows(
        engine,
        chosen.candidates(records),
        chosen,
        report,
        actor=actor.username,
        nomenclatures=nomenclatures,
        batch_size=batch_size,
        workers=workers,
        progress=progress,
        skip=written,
    )
    return _finish(engine, actor, report)


def _peek_header(source: Path | IO[bytes], fmt: str) -> list[str] | None:
    """The column names of a CSV or Parquet file, read without moving an upload's position; None if unreadable."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            position = None if isinstance(source, Path) else source.tell()
            try:
                return list(pq.ParquetFile(source).schema_arrow.names)
            finally:
                if position is not None:
                    source.seek(position)  # type: ignore[union-attr]
        if isinstance(source, Path):
            with source.open("rb") as handle:
                first = handle.readline(1 << 16)
        else:
            if not source.seekable():
                return None
            position = source.tell()
            first = source.readline(1 << 16)
            source.seek(position)
        import csv

        return [c.strip() for c in next(csv.reader([first.decode("utf-8-sig")]), [])]
    except Exception:  # noqa: BLE001 - unreadable here: the import itself says why
        return None


def suggest_mapping(source: Path, *, fmt: str | None = None, sample: int = 200) -> str:
    """A column mapping (TOML text) proposed from the header and the first ``sample`` rows of a CSV/Parquet file."""
    fmt = detect_format(source.name, fmt)
    if fmt == "jsonl":
        raise ImportFileError("a column mapping is for CSV or Parquet files; JSON Lines use the native layout")
    if not source.is_file():
        raise ImportFileError(f"no file at {source}; check the path", field="file")
    rows = []
    with source.open("rb") as handle:
        columns, records = open_records(handle, fmt)
        for rec in records:
            if rec.values is not None and rec.problem is None:
                rows.append(rec.values)
            if len(rows) >= sample:
                break
    return suggest_from_sample(list(columns or []), rows)


def _finish(engine: Engine, actor: Identity, report: ImportReport) -> ImportReport:
    finish_import(engine, report)
    with engine.begin() as conn:
        record(conn, actor, "import", "import", str(report.import_id), detail=report.summary())
    return report


def count(
    engine: Engine, actor: Identity, filters: SearchFilters | None = None, pseudonymiser: Pseudonymiser | None = None
) -> int:
    actor.require(Permission.DECLARATIONS_READ)
    filters = filters or SearchFilters()
    if filters.party_id or filters.party_ids is not None:
        if pseudonymiser is None:
            raise PermissionDeniedError("counting by party needs the installation's pseudonymiser", field="party_id")
        filters = _reader_filters(engine, actor, filters, pseudonymiser)
    with engine.connect() as conn:
        return len(repository.iter_ids(conn, filters))


def _iter_declarations(engine: Engine, filters: SearchFilters, chunk: int = 1000) -> Iterator[list[Declaration]]:
    with engine.connect() as conn:
        ids = repository.iter_ids(conn, filters)
        for start in range(0, len(ids), chunk):
            yield repository.load(conn, ids[start : start + chunk])


def _national_columns(engine: Engine, filters: SearchFilters) -> list[str]:
    keys: set[str] = set()
    with engine.connect() as conn:
        ids = repository.iter_ids(conn, filters)
        for start in range(0, len(ids), 5000):
            for value in conn.execute(
                select(declarations.c.national_extensions).where(declarations.c.id.in_(ids[start : start + 5000]))
            ).scalars():
                keys.update(value or {})
    return sorted(keys)


def export(
    engine: Engine,
    actor: Identity,
    destination: Path,
    pseudonymiser: Pseudonymiser,
    *,
    fmt: str | None = None,
    filters: SearchFilters | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write declarations to CSV / Parquet (flat layout) or JSON Lines (native). Parties are pseudonymised for
    a reader without the personal-data permission. Returns the number of declarations written."""
    actor.require(Permission.DECLARATIONS_READ)
    fmt = detect_format(destination.name, fmt)
    filters = _reader_filters(engine, actor, filters or SearchFilters(), pseudonymiser)
    masked = not actor.can(Permission.PERSONAL_DATA_READ)
    written = 0
    columns = list(FLAT_COLUMNS) + (_national_columns(engine, filters) if fmt != "jsonl" else [])
    tmp = destination.with_name(destination.name + ".partial")  # the destination appears only when complete
    try:
        with DeclarationWriter(tmp, fmt, columns) as writer:
            for chunk in _iter_declarations(engine, filters):
                writer.write([pseudonymise_declaration(d, pseudonymiser) for d in chunk] if masked else chunk)
                written += len(chunk)
                if progress:
                    progress(len(chunk))
        tmp.replace(destination)
    finally:
        tmp.unlink(missing_ok=True)
    with engine.begin() as conn:
        record(
            conn,
            actor,
            "export",
            "declaration",
            None,
            detail={"destination": destination.name, "format": fmt, "count": written, "pseudonymised": masked},
        )
    return written


def code_names(engine: Engine, declaration: Declaration, lang: str) -> dict[str, Any]:
    """The codes of a declaration by name, in ``lang`` (what the declaration page and ``GET /declarations/{ref}``
    show next to each code; no party data):

    - ``transport_mode``: the UN/ECE Rec. 19 name of the mode at the border (None without transport);
    - ``countries``: every country code the declaration names (goods origin, departure, itinerary, means of
      transport, parties, document issuers) → its name, for the codes that have one (``ZZ`` → not known);
    - ``document_types``: the UN/EDIFACT 1001 names of the additional documents' types the list knows;
    - ``hs``: each goods item's HS code → ``{"text", "edition", "lang"}``, the text of its subheading (national
      8- and 10-digit codes at 6 digits) in the HS edition in force on the acceptance date — a loaded national
      edition replaces the shipped one — else in any shipped edition (``edition`` None); ``lang`` is the language
      of the text (English: the nomenclature is published in English), for readers of other languages;
    - ``national``: the national data elements, each ``{"key", "country", "name", "value"}``, sorted by key.
    """
    lang = wording_language(lang)
    transport = declaration.transport
    codes: set[str] = {g.origin_country_code for g in declaration.goods_items}
    codes.update(doc.issuer_country_code for doc in declaration.additional_documents if doc.issuer_country_code)
    codes.update(p.country_code for p in declaration.parties().values() if p.country_code)
    if transport is not None:
        codes.update(c for c in (transport.departure_country_code, transport.nationality_code) if c)
        codes.update(transport.itinerary_country_codes)
    national = []
    for key, value in sorted(declaration.national_extensions.items()):
        prefix = key.partition(".")[0].upper()
        codes.add(prefix)
        national.append({"key": key, "country": prefix, "name": labels.national_field(key, lang), "value": value})
    countries = {code: name for code in sorted(codes) if (name := labels.country(code, lang)) != code}

    nomenclature = reference.nomenclatures(engine).for_date(declaration.acceptance_date)
    hs: dict[str, dict[str, str | None]] = {}
    for item in declaration.goods_items:
        code = item.hs_code
        entry = nomenclature.entries.get(code[:6]) if nomenclature is not None else None
        if entry is not None:
            hs[code] = {"text": entry.description, "edition": nomenclature.edition if nomenclature else None}
        elif (text := labels.hs_text(code)) is not None:
            hs[code] = {"text": text, "edition": None}
        if code in hs:
            hs[code]["lang"] = labels.HS_LANGUAGE
    documents = {}
    for doc in declaration.additional_documents:
        if (name := labels.label("document_type", doc.type_code, lang)) != doc.type_code:
            documents[doc.type_code] = name
    return {
        "lang": lang,
        "transport_mode": labels.label("transport_mode", transport.mode_code, lang) if transport else None,
        "countries": countries,
        "document_types": documents,
        "hs": hs,
        "national": national,
    }


def schema() -> dict[str, Any]:
    return Declaration.model_json_schema()


def schema_json() -> str:
    return json.dumps(schema(), indent=2)


__all__ = [
    "Page",
    "SearchFilters",
    "ValidationError",
    "code_names",
    "create",
    "export",
    "get",
    "import_file",
    "search",
    "suggest_mapping",
]
