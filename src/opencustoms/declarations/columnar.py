"""The columnar fast path for bulk imports of the flat layout (CSV and Parquet).

A whole batch of goods-item rows is checked at once with polars expressions that are *at least as strict* as the
pydantic model. Declarations whose rows pass every check are turned into table rows column by column and written
without building a Python object per declaration. Every declaration that fails any check — or that the fast checks
cannot judge (lowercase codes, HS codes written with dots, exotic number formats) — goes through the ordinary row
path (layout + pydantic), so its report lines are exactly those of the row path. A differential test checks that
both paths store the same declarations and reject the same ones.

Files the fast reader cannot parse as a whole (bytes that are not UTF-8, rows with the wrong number of fields) are
left to the row path entirely: it reports such rows one by one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl
from sqlalchemy import Engine

from opencustoms.declarations import repository
from opencustoms.declarations.importer import BatchWriter, ImportReport, prepare
from opencustoms.declarations.layouts import (
    DECLARATION_COLUMNS,
    FLAT_COLUMNS,
    HEAD_COLUMNS,
    ITEM_COLUMNS,
    PARTY_FIELDS,
    PARTY_ROLES,
    TRANSPORT_COLUMNS,
    FlatLayout,
    RawRecord,
    is_national_column,
)
from opencustoms.model.declaration import AEOStatus, DeclarationType, TransportMode
from opencustoms.reference.codes import COUNTRY_CODES, CURRENCY_CODES, HS_CHAPTERS, LETTER_VALUES, TRADE_COUNTRY_CODES
from opencustoms.reference.service import NomenclatureSet
from opencustoms.store.bulk import insert_tuples, sqlite_timestamp

BATCH_ROWS = 50_000
_NATIONAL_KEY = re.compile(r"^[a-z]{2}\.[a-z0-9_]{1,40}$")
_IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$"
_MONEY = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"
_COUNTRIES = sorted(COUNTRY_CODES)
_TRADE_COUNTRIES = sorted(TRADE_COUNTRY_CODES)


class FastPathUnavailable(Exception):
    """The file cannot be read column-wise; the caller uses the row path for all of it."""


# --- reading ------------------------------------------------------------------------------------------------------


def _csv_header(source: Path | IO[bytes]) -> list[str]:
    import csv
    import io

    if isinstance(source, Path):
        with source.open("rb") as handle:
            first = handle.readline()
    else:
        position = source.tell()
        first = source.readline()
        source.seek(position)
    try:
        return next(csv.reader(io.StringIO(first.decode("utf-8-sig"))))
    except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
        raise FastPathUnavailable(f"unreadable header: {exc}") from exc


def read_batches(source: Path | IO[bytes], fmt: str) -> tuple[list[str], Iterator[pl.DataFrame]]:
    """The columns, and all-text batches of the file with a ``__row`` column (the line or record number the row
    path reports)."""
    import pyarrow as pa

    if fmt == "csv":
        header = _csv_header(source)
        return [h.strip() for h in header], _csv_batches(source, header)
    try:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FastPathUnavailable(str(exc)) from exc
    return list(parquet.schema_arrow.names), _parquet_batches(parquet)


def _csv_batches(source: Path | IO[bytes], header: list[str]) -> Iterator[pl.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=8 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
            # faster without quoted line breaks; a file that has them fails here and the row path takes over
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise FastPathUnavailable(str(exc)) from exc
    next_line = 2  # the header is line 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise FastPathUnavailable(str(exc)) from exc
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.rename({c: c.strip() for c in frame.columns})
        # a quoted value spanning lines moves the row numbers on, as csv.reader counts them
        spans = frame.select(
            (pl.sum_horizontal(pl.col(c).str.count_matches("\n") for c in frame.columns) + 1).cum_sum().alias("end")
        ).to_series()
        frame = frame.with_columns((spans + (next_line - 1)).cast(pl.Int64).alias("__row"))
        if frame.height:
            next_line += int(spans[-1])
        yield frame


def _parquet_batches(parquet: Any) -> Iterator[pl.DataFrame]:
    row = 1
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        try:
            frame = frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns)
        except pl.exceptions.PolarsError as exc:  # lists, structs, bytes: the row path reports them by field
            raise FastPathUnavailable(f"a column cannot be read as text: {exc}") from exc
        frame = frame.with_columns(pl.int_range(row, row + frame.height, dtype=pl.Int64).alias("__row"))
        row += frame.height
        yield frame


# --- checks -------------------------------------------------------------------------------------------------------


def _clean(frame: pl.DataFrame) -> pl.DataFrame:
    """Strip every text cell; blank cells become null, as the row path does."""
    columns = [c for c in frame.columns if c != "__row"]
    return frame.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in columns)


def _in(column: str, values: list[str]) -> pl.Expr:
    return pl.col(column).is_in(values)


def _optional(column: str, ok: pl.Expr) -> pl.Expr:
    return pl.col(column).is_null() | ok


def _length(column: str, most: int) -> pl.Expr:
    return _optional(column, pl.col(column).str.len_chars() <= most)


def _matches(column: str, pattern: str) -> pl.Expr:
    return _optional(column, pl.col(column).str.contains(pattern))


def _country(column: str) -> pl.Expr:
    return _optional(column, _in(column, _COUNTRIES))


def _iso6346(expr: pl.Expr) -> pl.Expr:
    """True when every whitespace-separated container number in the cell is a valid, uppercase ISO 6346 number."""
    numbers = expr.str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    value = pl.element()
    weights = [1 << i for i in range(10)]
    total = pl.lit(0, dtype=pl.Int64)
    for i in range(10):
        ch = value.str.slice(i, 1)
        if i < 4:
            digit = ch.replace_strict(LETTER_VALUES, default=None, return_dtype=pl.Int64)
        else:
            digit = ch.cast(pl.Int64, strict=False)
        total = total + digit * weights[i]
    good = value.str.contains(r"^[A-Z]{3}[UJZ][0-9]{7}$") & (
        (total % 11 % 10) == value.str.slice(10, 1).cast(pl.Int64, strict=False)
    )
    return numbers.list.eval(good.fill_null(False)).list.all() & (numbers.list.len() <= 999)


def _imo(column: str) -> pl.Expr:
    col = pl.col(column)
    digits = [col.str.slice(i, 1).cast(pl.Int64, strict=False) for i in range(7)]
    check = sum(d * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True)) % 10
    return _optional(column, col.str.contains(r"^[0-9]{7}$") & (check == digits[6]))


def _locode(column: str) -> pl.Expr:
    return _optional(
        column, pl.col(column).str.contains(r"^[A-Z]{2}[A-Z2-9]{3}$") & pl.col(column).str.slice(0, 2).is_in(_COUNTRIES)
    )


def _countries_list(column: str, most: int) -> pl.Expr:
    items = pl.col(column).str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    return _optional(column, items.list.eval(pl.element().is_in(_COUNTRIES)).list.all() & (items.list.len() <= most))


def _non_negative(column: str) -> pl.Expr:
    value = pl.col(column).cast(pl.Float64, strict=False)
    return _optional(column, pl.col(column).str.contains(r"^[0-9]+(\.[0-9]+)?$") & value.is_finite())


def _documents(column: str) -> pl.Expr:
    """type_code:id[:issue_date[:issuer_country]] separated by ';', every part well formed and unpadded."""
    part = r"[^:;\s](?:[^:;]*[^:;\s])?"
    one = rf"{part}:{part}(?::[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?::[A-Z]{{2}})?)?"
    docs = pl.col(column).str.split(";")
    fields = docs.list.eval(pl.element().str.split(":"))
    type_ok = fields.list.eval(pl.element().list.get(0, null_on_oob=True).str.len_chars() <= 8).list.all()
    id_ok = fields.list.eval(pl.element().list.get(1, null_on_oob=True).str.len_chars() <= 70).list.all()
    dates_ok = fields.list.eval(
        pl.element().list.get(2, null_on_oob=True).str.to_date("%Y-%m-%d", strict=False).is_not_null()
        | pl.element().list.get(2, null_on_oob=True).is_null()
    ).list.all()
    issuer_ok = fields.list.eval(
        pl.element().list.get(3, null_on_oob=True).is_in(_COUNTRIES)
        | pl.element().list.get(3, null_on_oob=True).is_null()
    ).list.all()
    return _optional(
        column,
        pl.col(column).str.contains(rf"^{one}(;{one})*$")
        & type_ok
        & id_ok
        & dates_ok
        & issuer_ok
        & (docs.list.len() <= 99),
    )


def _hs_known(nomenclatures: NomenclatureSet | None) -> pl.Expr:
    hs = pl.col("hs_code")
    shape = hs.str.contains(r"^[0-9]{6}([0-9]{2}|[0-9]{4})?$") & hs.str.slice(0, 2).is_in(sorted(HS_CHAPTERS))
    if not nomenclatures:
        return shape
    year = pl.col("acceptance_date").str.slice(0, 4).cast(pl.Int64, strict=False)
    editions = list(nomenclatures.editions.items())
    subheadings = {e: sorted(c for c in n.entries if len(c) == 6) for e, n in editions}
    known = hs.str.slice(0, 6).is_in(subheadings[editions[0][0]])  # the oldest edition before its own year
    for edition, _ in editions:
        known = pl.when(year >= int(edition)).then(hs.str.slice(0, 6).is_in(subheadings[edition])).otherwise(known)
    return shape & known


def row_checks(frame: pl.DataFrame, nomenclatures: NomenclatureSet | None) -> pl.Expr:
    """One boolean per row: every field of the row (declaration columns included) passes the strict checks."""
    checks: list[pl.Expr] = [
        pl.col("functional_reference_id").is_not_null(),
        _matches("functional_reference_id", _IDENTIFIER),
        _in("type_code", [t.value for t in DeclarationType]),
        pl.col("acceptance_date").str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        & pl.col("acceptance_date").str.to_date("%Y-%m-%d", strict=False).is_not_null(),
        pl.col("declaration_office_id").is_not_null() & _length("declaration_office_id", 17),
        _matches("procedure_code", r"^[0-9A-Z]{2,7}$"),
        pl.col("declarant_id").is_not_null(),
        (pl.col("type_code") != "import") | pl.col("importer_id").is_not_null(),
        (pl.col("type_code") != "export") | pl.col("exporter_id").is_not_null(),
    ]
    for role in PARTY_ROLES:
        c = {f: f"{role}_{f}" for f in PARTY_FIELDS}
        anything = pl.any_horizontal(pl.col(x).is_not_null() for x in c.values())
        address = pl.any_horizontal(pl.col(c[x]).is_not_null() for x in ("address_line", "city_name", "postcode_id"))
        checks += [
            ~anything | pl.col(c["id"]).is_not_null(),
            _matches(c["id"], _IDENTIFIER),
            _length(c["name"], 512),
            _length(c["address_line"], 512),
            _length(c["city_name"], 512),
            _length(c["postcode_id"], 17),
            _country(c["country_code"]),
            ~address | pl.col(c["country_code"]).is_not_null(),
            _matches(c["tax_id"], _IDENTIFIER),
            _optional(c["aeo_status"], _in(c["aeo_status"], list(AEOStatus))),
            _matches(c["aeo_certificate_id"], _IDENTIFIER),
        ]
    transport_any = pl.any_horizontal(pl.col(x).is_not_null() for x in TRANSPORT_COLUMNS)
    checks += [
        ~transport_any | _in("transport_mode_code", [m.value for m in TransportMode]),
        _length("transport_id", 35),
        _country("transport_nationality_code"),
        _imo("vessel_imo"),
        _matches("vessel_mmsi", r"^[0-9]{9}$"),
        _optional("container_ids", _iso6346(pl.col("container_ids"))),
        _locode("loading_location"),
        _locode("unloading_location"),
        _optional("departure_country_code", _in("departure_country_code", _TRADE_COUNTRIES)),
        _countries_list("itinerary_country_codes", 99),
        _documents("additional_documents"),
        # goods item
        _matches("sequence_number", r"^[1-9][0-9]{0,3}$"),
        pl.col("hs_code").is_not_null() & _hs_known(nomenclatures),
        _length("description", 512),
        _non_negative("quantity"),
        _matches("quantity_unit", r"^[A-Z0-9]{2,3}$"),
        _non_negative("net_mass_kg"),
        _non_negative("gross_mass_kg"),
        pl.col("net_mass_kg").is_null()
        | pl.col("gross_mass_kg").is_null()
        | (
            pl.col("net_mass_kg").cast(pl.Float64, strict=False)
            <= pl.col("gross_mass_kg").cast(pl.Float64, strict=False)
        ),
        pl.col("customs_value_amount").is_not_null() & _matches("customs_value_amount", _MONEY),
        pl.col("customs_value_currency").is_in(sorted(CURRENCY_CODES)),
        pl.col("origin_country_code").is_in(_TRADE_COUNTRIES),
        _optional(
            "duty_rate",
            pl.col("duty_rate").str.contains(r"^[0-9]{1,4}(\.[0-9]{1,4})?$")
            & (pl.col("duty_rate").cast(pl.Float64, strict=False) <= 1000),
        ),
        _matches("duty_tax_amount", _MONEY),
        _length("duty_regime_code", 8),
        # a preference needs its code; its proving document must be listed on the declaration
        (pl.col("preference_agreement").is_null() & pl.col("preference_proving_document_id").is_null())
        | pl.col("preference_code").is_not_null(),
        _length("preference_code", 8),
        _length("preference_agreement", 512),
        _length("preference_proving_document_id", 70),
        pl.col("preference_proving_document_id").is_null()
        | pl.col("additional_documents")
        .str.split(";")
        .list.eval(pl.element().str.split(":").list.get(1, null_on_oob=True))
        .list.contains(pl.col("preference_proving_document_id"))
        .fill_null(False),
    ]
    # a NUL character is refused by the model (PostgreSQL cannot store it): leave such rows to the row path
    checks += [
        _optional(c, ~pl.col(c).str.contains("\x00", literal=True))
        for c in frame.columns
        if c != "__row" and frame.schema[c] == pl.String
    ]
    national = [c for c in frame.columns if is_national_column(c)]
    for column in national:
        checks.append(_length(column, 200) if _NATIONAL_KEY.match(column) else pl.col(column).is_null())
    if len(national) > 50:
        checks.append(pl.sum_horizontal(pl.col(c).is_not_null() for c in national) <= 50)
    return pl.all_horizontal(checks).fill_null(False)


def good_declarations(frame: pl.DataFrame, nomenclatures: NomenclatureSet | None, already_seen: pl.Series) -> pl.Series:
    """Per row: does its whole declaration pass the fast checks (rows consecutive, reference new, declaration
    columns identical on every item row, unique item numbers)?"""
    reference = pl.col("functional_reference_id")
    group_start = (reference != reference.shift(1)).fill_null(True)
    head = [c for c in HEAD_COLUMNS if c in frame.columns] + [c for c in frame.columns if is_national_column(c)]
    checked = frame.with_columns(
        row_checks(frame, nomenclatures).alias("__ok"),
        group_start.cum_sum().alias("__group"),
    )
    sequence = pl.col("sequence_number").cast(pl.Int64, strict=False).fill_null(pl.int_range(1, pl.len() + 1))
    verdict = (
        checked.group_by("__group", maintain_order=True)
        .agg(
            pl.col("__ok").all().alias("ok"),
            reference.first().alias("reference"),
            pl.col("__row").len().alias("n"),
            *(pl.col(c).n_unique().alias(f"__u_{c}") for c in head),
            sequence.n_unique().alias("__seq_unique"),
        )
        .with_columns(
            (
                pl.col("ok")
                & pl.all_horizontal(pl.col(f"__u_{c}") == 1 for c in head)
                & (pl.col("__seq_unique") == pl.col("n"))
                # a reference met twice in this batch (rows not consecutive) or in an earlier batch
                & (pl.col("reference").is_first_distinct())
                & ~pl.col("reference").is_duplicated()
                & ~pl.col("reference").is_in(already_seen.implode())
                & (pl.col("n") <= 999)
            ).alias("good")
        )
    )
    return checked.join(verdict.select("__group", "good"), on="__group", how="left", maintain_order="left")["good"]


# --- table rows from columns --------------------------------------------------------------------------------------


def _documents_frame(heads: pl.DataFrame) -> pl.DataFrame:
    docs = heads.select("declaration_id", pl.col("additional_documents").str.split(";").alias("d")).explode("d")
    docs = docs.filter(pl.col("d").is_not_null()).with_columns(
        pl.int_range(1, pl.len() + 1).over("declaration_id").alias("position"), pl.col("d").str.split(":").alias("p")
    )
    return docs.select(
        "declaration_id",
        "position",
        pl.col("p").list.get(0).alias("type_code"),
        pl.col("p").list.get(1).alias("document_id"),
        pl.col("p").list.get(2, null_on_oob=True).alias("issue_date"),
        pl.col("p").list.get(3, null_on_oob=True).alias("issuer_country_code"),
    )


def write_frame(conn: Any, frame: pl.DataFrame, import_id: int | None, now: dt.datetime) -> int:
    """Write the declarations of ``frame`` (all rows passed the fast checks) in the caller's transaction."""
    national = [c for c in frame.columns if is_national_column(c)]
    heads = frame.unique("functional_reference_id", keep="first", maintain_order=True)
    itinerary = pl.col("itinerary_country_codes").str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    head_rows = heads.select(
        *(pl.col(c) for c in DECLARATION_COLUMNS),
        pl.col("transport_mode_code"),
        pl.col("transport_id").alias("transport_identification_id"),
        pl.col("transport_nationality_code"),
        pl.col("vessel_imo"),
        pl.col("vessel_mmsi"),
        pl.col("loading_location"),
        pl.col("unloading_location"),
        pl.col("departure_country_code"),
        pl.when(pl.col("itinerary_country_codes").is_null())
        .then(None)  # codes are [A-Z]{2}: nothing to escape
        .otherwise(pl.concat_str([pl.lit('["'), itinerary.list.join('", "'), pl.lit('"]')]))
        .alias("itinerary_country_codes"),
    )
    names = list(head_rows.columns)
    rows = head_rows.rows()
    extensions: list[str | None] = [None] * len(rows)
    if national:
        for i, values in enumerate(heads.select(national).rows()):
            present = {k: v for k, v in zip(national, values, strict=True) if v is not None}
            extensions[i] = json.dumps(present) if present else None
    stamp = sqlite_timestamp(now) if conn.dialect.name == "sqlite" else now
    insert_tuples(
        conn,
        "declarations",
        names + ["national_extensions", "import_id", "created_at"],
        [(*r, e, import_id, stamp) for r, e in zip(rows, extensions, strict=True)],
    )
    ids = repository.reference_ids(conn, heads["functional_reference_id"].to_list())
    id_frame = pl.DataFrame(
        {"functional_reference_id": list(ids), "declaration_id": list(ids.values())},
        schema={"functional_reference_id": pl.String, "declaration_id": pl.Int64},
    )
    frame = frame.join(id_frame, on="functional_reference_id", how="left", maintain_order="left")
    heads = heads.join(id_frame, on="functional_reference_id", how="left", maintain_order="left")

    parties = []
    for role in PARTY_ROLES:
        c = {f: f"{role}_{f}" for f in PARTY_FIELDS}
        has_address = pl.any_horizontal(
            pl.col(c[x]).is_not_null() for x in ("address_line", "city_name", "postcode_id")
        )
        parties.append(
            heads.filter(pl.col(c["id"]).is_not_null()).select(
                "declaration_id",
                pl.lit(role).alias("role"),
                pl.col(c["id"]).alias("party_id"),
                pl.col(c["name"]).alias("name"),
                pl.col(c["address_line"]).alias("address_line"),
                pl.col(c["city_name"]).alias("city_name"),
                pl.col(c["postcode_id"]).alias("postcode_id"),
                pl.when(has_address).then(pl.col(c["country_code"])).otherwise(None).alias("address_country_code"),
                pl.col(c["country_code"]).alias("country_code"),
                pl.col(c["tax_id"]).alias("tax_id"),
                pl.col(c["aeo_status"]).fill_null(AEOStatus.NONE.value).alias("aeo_status"),
                pl.col(c["aeo_certificate_id"]).alias("aeo_certificate_id"),
            )
        )
    party_rows = pl.concat(parties)
    insert_tuples(conn, "declaration_parties", party_rows.columns, party_rows.rows())

    items = frame.select(
        "declaration_id",
        pl.col("sequence_number")
        .cast(pl.Int64)
        .fill_null(pl.int_range(1, pl.len() + 1).over("declaration_id"))
        .alias("sequence_number"),
        pl.col("hs_code"),
        pl.col("description"),
        pl.col("quantity").cast(pl.Float64),
        pl.col("quantity_unit"),
        pl.col("net_mass_kg").cast(pl.Float64),
        pl.col("gross_mass_kg").cast(pl.Float64),
        *(pl.col(c) for c in ITEM_COLUMNS[7:]),
    )
    insert_tuples(conn, "goods_items", items.columns, items.rows())

    containers = (
        heads.select("declaration_id", pl.col("container_ids").str.split(" ").alias("container_id"))
        .explode("container_id")
        .filter(pl.col("container_id").is_not_null() & (pl.col("container_id") != ""))
        .with_columns(pl.int_range(1, pl.len() + 1).over("declaration_id").alias("position"))
        .select("declaration_id", "position", "container_id")
    )
    insert_tuples(conn, "declaration_containers", containers.columns, containers.rows())
    documents = _documents_frame(heads)
    insert_tuples(conn, "additional_documents", documents.columns, documents.rows())
    return heads.height


# --- the pipeline -------------------------------------------------------------------------------------------------


def import_flat(
    engine: Engine,
    source: Path | IO[bytes],
    fmt: str,
    report: ImportReport,
    actor: str,
    nomenclatures: NomenclatureSet | None,
    progress: Callable[[int], None] | None = None,
) -> set[str]:
    """Import a flat CSV/Parquet file into ``report`` (whose import row exists); returns the references written.

    Reading and checking the next batch (polars and pyarrow, which release the GIL) runs in a second thread while
    this one writes the current batch. Raises FastPathUnavailable when the file cannot be read column-wise; the
    references written before that are in the exception's ``written`` attribute, so the row path can carry on
    without reporting them twice."""
    layout = FlatLayout()
    writer = BatchWriter(engine, report, actor)
    written: set[str] = set()
    columns, batches = read_batches(source, fmt)
    layout.check_columns(columns)
    try:
        for checked in _prefetch(_checked_batches(batches, nomenclatures)):
            _write_batch(engine, checked, report, writer, layout, nomenclatures, written, progress)
    except FastPathUnavailable as exc:
        exc.written = written  # type: ignore[attr-defined]
        raise
    return written


def _prefetch(items: Iterator[_Checked], depth: int = 2) -> Iterator[_Checked]:
    """Produce ``items`` in a background thread, up to ``depth`` ahead; its exceptions surface here."""
    import queue
    import threading

    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put(("item", item), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            box.put(("error", exc))

    thread = threading.Thread(target=produce, name="columnar-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=5)


class _Checked:
    """One batch read and checked: the raw rows, the cleaned rows, which rows are fast-path declarations, and the
    first row of each of its references that already appeared in an earlier batch."""

    __slots__ = ("raw", "clean", "good", "prior")

    def __init__(self, raw: pl.DataFrame, clean: pl.DataFrame, good: pl.Series, prior: dict[str, int]) -> None:
        self.raw, self.clean, self.good, self.prior = raw, clean, good, prior


def _checked_batches(batches: Iterator[pl.DataFrame], nomenclatures: NomenclatureSet | None) -> Iterator[_Checked]:
    seen: dict[str, int] = {}  # first row of every reference met so far (a set lookup per batch, not a join)
    carry: pl.DataFrame | None = None

    def check(raw: pl.DataFrame) -> _Checked:
        clean = _clean(_with_all_columns(raw))
        reference = clean["functional_reference_id"]
        if reference.null_count() or not reference.str.contains(_IDENTIFIER).all():
            # A row without a valid reference may belong to the declaration before or after it: the row path
            # rejects both neighbours with it. Nothing of this batch has been written yet.
            raise FastPathUnavailable("a row has no valid functional_reference_id")
        firsts = (
            clean.filter(pl.col("functional_reference_id").is_not_null())
            .group_by("functional_reference_id", maintain_order=True)
            .agg(pl.col("__row").min())
            .rows()
        )
        prior = {reference: seen[reference] for reference, _ in firsts if reference in seen}
        good = good_declarations(clean, nomenclatures, pl.Series(list(prior), dtype=pl.String))
        for reference, row in firsts:
            seen.setdefault(reference, row)
        return _Checked(raw, clean, good, prior)

    for frame in batches:
        if carry is not None:
            frame = pl.concat([carry, frame], how="diagonal_relaxed")
        # the last declaration may go on in the next batch: keep its rows until then
        reference = frame["functional_reference_id"]
        others = (reference != reference[-1]).fill_null(True)
        last_other = frame.height - 1 - int(others.reverse().arg_max() or 0) if others.any() else -1
        carry, frame = frame.slice(last_other + 1), frame.slice(0, last_other + 1)
        if frame.height:
            yield check(frame)
    if carry is not None and carry.height:
        yield check(carry)


def _with_all_columns(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in FLAT_COLUMNS if c not in frame.columns]
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing) if missing else frame


def _write_batch(
    engine: Engine,
    checked: _Checked,
    report: ImportReport,
    writer: BatchWriter,
    layout: FlatLayout,
    nomenclatures: NomenclatureSet | None,
    written: set[str],
    progress: Callable[[int], None] | None,
) -> None:
    raw, frame, good = checked.raw, checked.clean, checked.good
    fast, slow_rows = frame.filter(good), raw.filter(~good)["__row"]
    if fast.height:
        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:
            stored = repository.existing_references(conn, fast["functional_reference_id"].unique().to_list())
            if stored:  # already in the database: the row path reports them
                again = pl.col("functional_reference_id").is_in(pl.Series(sorted(stored), dtype=pl.String).implode())
                slow_rows = pl.concat([slow_rows, fast.filter(again)["__row"]])
                fast = fast.filter(~again)
            count = write_frame(conn, fast, report.import_id, now) if fast.height else 0
        report.accepted += count
        written.update(fast["functional_reference_id"].unique().to_list())
        if progress:
            progress(count)
    if slow_rows.len():
        slow = raw.filter(pl.col("__row").is_in(slow_rows.implode())).sort("__row")
        prior = dict(checked.prior)  # the layout adds to it as it goes
        records = (RawRecord(int(values.pop("__row")), values) for values in slow.iter_rows(named=True))
        batch = []
        for outcome in prepare(layout.candidates(records, seen=prior), layout, nomenclatures):
            if isinstance(outcome, list):
                report.problems.extend(outcome)
                report.rejected += 1
            else:
                batch.append(outcome)
        writer.write(batch)
        written.update(p.reference for p in batch)
        if progress and batch:
            progress(len(batch))


__all__ = ["FastPathUnavailable", "import_flat"]
