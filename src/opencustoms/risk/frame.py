"""The declaration-level frame the risk engine learns and scores on (one row per declaration, polars).

Every source becomes the same columns (:data:`COLUMNS`): a KCS file read directly with polars (fast, for
evaluation), declarations as model dicts (API, store, the demo's frames), or a Parquet/CSV file already in this shape
(``layout="frame"``). A declaration with several goods items is summarised by its largest item (HS code, origin,
duty rate) and its totals (value, mass, duty at stake). Columns starting with ``x_`` are national data elements,
used as categorical features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from opencustoms.declarations.layouts import KCS_TRANSPORT
from opencustoms.risk.errors import RiskDataError

if TYPE_CHECKING:
    from opencustoms.declarations.kcs import KcsRelease

COLUMNS: dict[str, Any] = {
    "reference": pl.Utf8,
    "date": pl.Date,
    "office": pl.Utf8,
    "procedure": pl.Utf8,
    "transport_mode": pl.Utf8,
    "departure": pl.Utf8,
    "origin": pl.Utf8,
    "hs6": pl.Utf8,
    "declarant": pl.Utf8,
    "importer": pl.Utf8,
    "seller": pl.Utf8,
    "carrier": pl.Utf8,
    "aeo": pl.Utf8,
    "duty_rate": pl.Float64,
    "duty_regime": pl.Utf8,
    "preference": pl.Utf8,
    "net_mass": pl.Float64,
    "value": pl.Float64,
    "duty_at_stake": pl.Float64,
    "items": pl.Int32,
    "label": pl.Int8,
    "revenue": pl.Float64,
}
REQUIRED = ("reference", "date", "hs6", "origin", "value")
PARTY_COLUMNS = ("declarant", "importer", "seller", "carrier")
LAYOUTS = ("kcs", "frame", "native", "flat")

_KCS_EXTRA = {
    "Process Type": "x_process_type",
    "Import Type": "x_import_type",
    "Import Use": "x_import_use",
    "Payment Type": "x_payment_type",
    "Country of Origin Indicator": "x_origin_indicator",
}


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast to the canonical schema, add missing optional columns as nulls, check the required ones."""
    _require_columns(frame.columns)
    exprs = []
    for name, dtype in COLUMNS.items():
        if name in frame.columns:
            exprs.append(pl.col(name).cast(dtype, strict=False) if name != "date" else _date(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    extras = [pl.col(c).cast(pl.Utf8) for c in frame.columns if c.startswith("x_")]
    out = frame.select(exprs + extras)
    for name in REQUIRED:
        nulls = out[name].null_count()
        if nulls:
            raise _no_values(name, nulls)
    labels = out["label"].drop_nulls()
    if len(labels) and not labels.is_in([0, 1]).all():
        raise RiskDataError("label must be 0 (compliant) or 1 (fraud)", field="label")
    return out.with_columns(
        pl.col("duty_at_stake").fill_null(pl.col("value") * pl.col("duty_rate").fill_null(0.0) / 100.0),
        pl.col("items").fill_null(1),
    )


# the Python types a value of each polars type already has in a row (bool is not an int here: polars casts it)
_PLAIN: dict[Any, tuple[type, ...]] = {pl.Utf8: (str,), pl.Float64: (float,), pl.Int32: (int,), pl.Int8: (int,)}


def _require_columns(columns: Iterable[str]) -> None:
    present = set(columns)
    missing = [c for c in REQUIRED if c not in present]
    if missing:
        raise RiskDataError(
            f"the declaration frame lacks column(s) {', '.join(missing)}; give at least {', '.join(REQUIRED)}",
            field=missing[0],
        )


def _no_values(name: str, count: int) -> RiskDataError:
    return RiskDataError(
        f"{count} declaration(s) have no {name}; every declaration needs one (fix the file or drop those rows)",
        field=name,
    )


def _in_range(dtype: Any, value: Any) -> bool:
    if dtype == pl.Int8:  # the label: anything but 0 or 1 takes the polars path, which refuses it
        return value in (0, 1)
    return dtype != pl.Int32 or -(2**31) <= value < 2**31


GAP_COLUMNS = ("hs6", "origin")  # codes that may be missing when a declaration is laned with gaps (risk/gaps.py)


def conform_row(row: Mapping[str, Any], *, gaps: bool = False) -> dict[str, Any]:
    """:func:`conform` for one row (online scoring), in plain Python: the dict that
    ``conform(pl.DataFrame([row])).row(0, named=True)`` gives, without building a frame (polars costs about 3 ms for
    one row, this about 10 µs). A value that is not already of its column's type (an int for a float column, a date
    given as text, a number in a national column...) takes the polars path, so every cast stays polars' own
    (tested against :func:`conform` on random rows). ``gaps``: a missing HS code or origin is kept as None (the
    online path lanes it as a gap) instead of refused."""
    _require_columns(row)
    out: dict[str, Any] = {name: row.get(name) for name in COLUMNS}
    extras = {name: value for name, value in row.items() if name.startswith("x_")}
    plain = all(
        value is None or (type(value) in (_PLAIN.get(COLUMNS[name]) or (dt.date,)) and _in_range(COLUMNS[name], value))
        for name, value in out.items()
    ) and all(value is None or type(value) is str for value in extras.values())
    if not plain:
        missing = [name for name in GAP_COLUMNS if gaps and row.get(name) is None]
        data = {**row, **dict.fromkeys(missing, "")}
        return {**conform(pl.DataFrame([data], infer_schema_length=None)).row(0, named=True), **dict.fromkeys(missing)}
    out.update(extras)
    for name in REQUIRED:
        if out[name] is None and not (gaps and name in GAP_COLUMNS):
            raise _no_values(name, 1)
    if out["duty_at_stake"] is None:
        out["duty_at_stake"] = out["value"] * (out["duty_rate"] if out["duty_rate"] is not None else 0.0) / 100.0
    if out["items"] is None:
        out["items"] = 1
    return out


def _date(name: str) -> pl.Expr:
    col = pl.col(name)
    return (
        pl.when(col.cast(pl.Utf8).str.len_chars() > 0)
        .then(col.cast(pl.Utf8).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
        .alias(name)
    )


def read_kcs(path: str | Path) -> pl.DataFrame:
    """A Korea Customs Service file, any published release (English or Korean headers, HS6 or HS10 codes, with or
    without a declaration number), as a frame; Fraud becomes ``label``. Rows are read by the same function as the
    `import --layout kcs` command (:mod:`opencustoms.declarations.kcs`), so both see the same references and codes."""
    path = Path(path)
    if not path.exists():
        raise RiskDataError(f"file {path} does not exist", field="path")
    return conform(_kcs_frame(path, pl.read_csv(path, infer_schema_length=0), typed=True))


# the file's column of each frame column, per layout (for the problems of a file scored row by row)
KCS_SOURCES = {
    "reference": "Declaration ID",
    "date": "Date",
    "office": "Office ID",
    "origin": "Country of Origin",
    "hs6": "HS6 Code",
    "duty_rate": "Tax Rate",
    "net_mass": "Net Mass",
    "value": "Item Price",
    "label": "Fraud",
}
NATIVE_SOURCES = {
    "reference": "functional_reference_id",
    "date": "acceptance_date",
    "office": "declaration_office_id",
    "origin": "origin_country_code",
    "hs6": "hs_code",
    "duty_rate": "duty_rate",
    "net_mass": "net_mass_kg",
    "value": "customs_value_amount",
    "duty_at_stake": "duty_tax_amount",
}


def _kcs_release(path: Path, columns: Sequence[str]) -> KcsRelease:
    from opencustoms.declarations.errors import ImportFileError
    from opencustoms.declarations.kcs import kcs_release

    try:
        return kcs_release([c for c in columns if c != "_row"])
    except ImportFileError as exc:
        raise RiskDataError(f"{path.name}: {exc}", field=exc.field) from exc


def kcs_sources(path: Path, columns: Sequence[str]) -> dict[str, str]:
    """:data:`KCS_SOURCES` as this file names its columns (Korean headers, HS10 codes)."""
    release = _kcs_release(path, columns)
    return {frame: release.column(kcs) for frame, kcs in KCS_SOURCES.items()}


def _kcs_frame(path: Path, raw: pl.DataFrame, *, typed: bool) -> pl.DataFrame:
    """A Korea Customs file of any published release (English or Korean headers, HS6 or HS10 codes, with or without
    a declaration number) read as text, in the frame's columns; numbers cast (strictly) when ``typed``, else left as
    text for :func:`conform_rows` to check row by row. Rows are normalised by the same function as the `import
    --layout kcs` command (:mod:`opencustoms.declarations.kcs`), so both see the same references and codes."""
    release = _kcs_release(path, raw.columns)
    # line numbers as the import reports them (the header is line 1), which the generated references depend on
    rows = raw["_row"].to_list() if "_row" in raw.columns else list(range(2, raw.height + 2))
    columns, _ = release.normalise_columns(raw.drop("_row", strict=False).to_dict(as_series=False), rows)
    text = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Utf8))
    raw = text.with_columns(raw["_row"]) if "_row" in raw.columns else text

    def number(name: str, dtype: Any) -> pl.Expr:
        return pl.col(name).cast(dtype) if typed else pl.col(name)

    mode = pl.col("Mode of Transport")
    frame = raw.select(
        pl.col("Declaration ID").alias("reference"),
        pl.col("Date").alias("date"),
        pl.col("Office ID").alias("office"),
        pl.lit(None, pl.Utf8).alias("procedure"),
        mode.replace_strict(KCS_TRANSPORT, default=mode).alias("transport_mode"),
        pl.col("Country of Departure").alias("departure"),
        pl.col("Country of Origin").alias("origin"),
        pl.col("HS6 Code").str.zfill(6).alias("hs6"),
        pl.col("Declarant ID").alias("declarant"),
        pl.col("Importer ID").alias("importer"),
        pl.col("Seller ID").alias("seller"),
        pl.col("Courier ID").alias("carrier"),
        number("Tax Rate", pl.Float64).alias("duty_rate"),
        pl.col("Tax Type").alias("duty_regime"),
        pl.when(pl.col("Tax Type").str.starts_with("F")).then(pl.col("Tax Type")).alias("preference"),
        number("Net Mass", pl.Float64).alias("net_mass"),
        number("Item Price", pl.Float64).alias("value"),
        (number("Fraud", pl.Int8) if "Fraud" in raw.columns else pl.lit(None, pl.Int8)).alias("label"),
        *[pl.col(src).alias(dst) for src, dst in _KCS_EXTRA.items() if src in raw.columns],
        *([pl.col("_row")] if "_row" in raw.columns else []),
    )
    return frame


def read_frame(path: str | Path, layout: str = "kcs") -> pl.DataFrame:
    """Read a file for the risk engine. ``kcs``: the KCS layout; ``frame``: Parquet/CSV already in :data:`COLUMNS`;
    ``native``: JSON Lines of declarations (the model's field names, one per line); ``flat``: the project's flat
    import layout, CSV or Parquet, one row per goods item (:func:`flat_to_frame`)."""
    path = Path(path)
    if layout not in LAYOUTS:
        raise RiskDataError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}", field="layout")
    if not path.exists():
        raise RiskDataError(f"file {path} does not exist", field="path")
    if layout == "kcs":
        return read_kcs(path)
    if layout == "frame":
        data = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema_length=0)
        return conform(data)
    if layout == "flat":
        return conform(flat_to_frame(path).collect())
    import json

    with path.open(encoding="utf-8") as handle:
        return from_declarations(json.loads(line) for line in handle if line.strip())


# --- a file scored row by row: bad rows reported, the others scored ----------------------------------------


@dataclass(frozen=True)
class RowProblem:
    """A row of a scored file that could not be scored: where (row, the file's column), what (value), why."""

    row: int | None
    reference: str | None
    column: str
    value: str | None
    reason: str


SCORING_REQUIRED = ("reference", "date", "value")  # without these a declaration cannot be scored at all
_NUMBERS = {"duty_rate", "net_mass", "value", "duty_at_stake", "items", "label", "revenue"}


def conform_rows(
    frame: pl.DataFrame, sources: Mapping[str, str] | None = None
) -> tuple[pl.DataFrame, list[RowProblem]]:
    """:func:`conform` for scoring a file: every row that can be scored is kept, every row that cannot is reported
    (its row number from the column ``_row``, the file's column from ``sources``, its value and why) and dropped.
    Cannot be scored: no reference, no acceptance date or one that is not a date, no customs value, a number that is
    not a number, a label other than 0 or 1. Missing or unknown codes (origin, HS code, office) are NOT problems:
    the declaration is scored and laned with that gap as a reason (:mod:`opencustoms.risk.gaps`)."""
    sources = dict(sources or {})
    if "_row" not in frame.columns:
        frame = frame.with_columns(pl.int_range(1, frame.height + 1).alias("_row"))
    for name in ("reference", "date", "value"):
        if name not in frame.columns:
            raise RiskDataError(
                f"the file has no {sources.get(name, name)} column; every declaration needs one to be scored",
                field=sources.get(name, name),
            )
    checks: list[tuple[str, pl.Expr, str]] = []
    schema = frame.schema
    for name in frame.columns:
        if name in _NUMBERS and schema[name] in (pl.Utf8, pl.Object):  # a typed column (Parquet) holds numbers
            text = pl.col(name).cast(pl.Utf8).str.strip_chars()
            checks.append(
                (
                    name,
                    text.is_not_null() & (text != "") & pl.col(name).cast(COLUMNS[name], strict=False).is_null(),
                    "is not a number",
                )
            )
    date_text = pl.col("date").cast(pl.Utf8).str.strip_chars()
    checks.append(
        (
            "date",
            date_text.is_not_null() & (date_text != "") & _date("date").is_null()
            if schema["date"] == pl.Utf8
            else pl.lit(False),
            "is not a date (YYYY-MM-DD)",
        )
    )
    for name in SCORING_REQUIRED:
        text = pl.col(name).cast(pl.Utf8).str.strip_chars()
        missing = text.is_null() | (text == "") if schema[name] == pl.Utf8 else pl.col(name).is_null()
        checks.append((name, missing, "is required to score a declaration"))
    if "label" in frame.columns:
        label = pl.col("label").cast(pl.Int8, strict=False)
        checks.append(("label", label.is_not_null() & ~label.is_in([0, 1]), "must be 0 (compliant) or 1 (fraud)"))
    flags = frame.select(
        pl.col("_row"), *[expr.fill_null(False).alias(f"_bad{i}") for i, (_, expr, _) in enumerate(checks)]
    )
    problems: list[RowProblem] = []
    bad_rows: set[int] = set()
    flagged = flags.filter(pl.any_horizontal(pl.exclude("_row")))
    if flagged.height:
        rows = frame.filter(pl.col("_row").is_in(flagged["_row"].implode()))
        by_row = {r["_row"]: r for r in rows.iter_rows(named=True)}
        for flag in flagged.iter_rows(named=True):
            row = by_row[flag["_row"]]
            bad_rows.add(flag["_row"])
            for i, (name, _, reason) in enumerate(checks):
                if flag[f"_bad{i}"]:
                    value = row.get(name)
                    problems.append(
                        RowProblem(
                            int(flag["_row"]),
                            None if row.get("reference") in (None, "") else str(row["reference"]),
                            sources.get(name, name),
                            None if value is None or value == "" else str(value),
                            reason,
                        )
                    )
    good = frame.filter(~pl.col("_row").is_in(list(bad_rows))) if bad_rows else frame
    problems.sort(key=lambda p: p.row if p.row is not None else 0)
    if good.height == 0:
        return conform_empty(), problems
    # origin and HS code may be missing: the row is scored, the gap becomes a reason
    out = conform(
        good.with_columns(
            *[pl.col(c).fill_null("") if c in good.columns else pl.lit("").alias(c) for c in ("hs6", "origin")]
        )
    )
    return out.with_columns(
        *[
            pl.when(pl.col(c).str.strip_chars() == "").then(None).otherwise(pl.col(c)).alias(c)
            for c in ("hs6", "origin")
        ]
    ), problems


def conform_empty() -> pl.DataFrame:
    """A frame of no declarations, in :data:`COLUMNS`."""
    return pl.DataFrame(schema=COLUMNS)


def read_rows(path: str | Path, layout: str = "kcs") -> tuple[pl.DataFrame, list[RowProblem]]:
    """Read a file to score it row by row: the declarations that can be scored (conformed, as :func:`read_frame`)
    and a problem per row that cannot (:func:`conform_rows`). Row numbers are the file's lines for CSV (the header is
    line 1) and JSON Lines, the row (from 1) for Parquet; in the flat layout a declaration's row is its first goods
    item's, and a goods item with a malformed number makes its declaration's row a problem."""
    path = Path(path)
    if layout not in LAYOUTS:
        raise RiskDataError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}", field="layout")
    if not path.exists():
        raise RiskDataError(f"file {path} does not exist", field="path")
    first = 1 if path.suffix == ".parquet" else 2  # the number of the first data row
    if layout == "kcs":
        raw = pl.read_csv(path, infer_schema_length=0).with_columns(pl.int_range(first, pl.len() + first).alias("_row"))
        return conform_rows(_kcs_frame(path, raw, typed=False), kcs_sources(path, raw.columns))
    if layout == "frame":
        data = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema_length=0)
        return conform_rows(data.with_columns(pl.int_range(first, pl.len() + first).alias("_row")))
    if layout == "flat":
        return _flat_rows(path, first)
    return _native_rows(path)


def _flat_rows(path: Path, first: int) -> tuple[pl.DataFrame, list[RowProblem]]:
    scan = pl.scan_parquet(path) if path.suffix == ".parquet" else pl.scan_csv(path, infer_schema=False)
    scan = scan.with_row_index("_row", offset=first)
    numbers = [
        c
        for c in ("customs_value_amount", "net_mass_kg", "duty_rate", "duty_tax_amount")
        if c in scan.collect_schema().names()
    ]
    items = scan.select("_row", "functional_reference_id", *numbers).collect()
    problems = []
    bad_references: set[str | None] = set()
    for name in numbers:
        text = pl.col(name).cast(pl.Utf8).str.strip_chars()
        bad = items.filter(text.is_not_null() & (text != "") & pl.col(name).cast(pl.Float64, strict=False).is_null())
        for r in bad.iter_rows(named=True):
            problems.append(
                RowProblem(int(r["_row"]), r["functional_reference_id"], name, str(r[name]), "is not a number")
            )
            bad_references.add(r["functional_reference_id"])
    frame = flat_to_frame(path, rows=first).collect()
    frame = frame.with_columns(pl.when(pl.col("_no_value")).then(None).otherwise(pl.col("value")).alias("value"))
    if bad_references:
        frame = frame.filter(~pl.col("reference").is_in([r for r in bad_references if r is not None]))
    good, more = conform_rows(frame, {**NATIVE_SOURCES, "hs6": "hs_code"})
    return good, sorted(problems + more, key=lambda p: p.row or 0)


def _native_rows(path: Path) -> tuple[pl.DataFrame, list[RowProblem]]:
    import json

    rows, problems = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            data: Any = None
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("each line must be one JSON object (a declaration)")
                row = declaration_row(data)
            except (ValueError, TypeError, AttributeError, RiskDataError) as exc:
                reference = data.get("functional_reference_id") if isinstance(data, dict) else None
                column = getattr(exc, "field", None) or "line"
                problems.append(RowProblem(number, reference, column, None, str(exc)))
                continue
            rows.append({**row, "_row": number})
    if not rows:
        return conform_empty(), problems
    good, more = conform_rows(pl.DataFrame(rows, infer_schema_length=None), NATIVE_SOURCES)
    return good, sorted(problems + more, key=lambda p: p.row or 0)


_FLAT_REQUIRED = (
    "functional_reference_id",
    "acceptance_date",
    "hs_code",
    "origin_country_code",
    "customs_value_amount",
)
_FLAT_USED = (
    *_FLAT_REQUIRED,
    "declaration_office_id",
    "procedure_code",
    "transport_mode_code",
    "departure_country_code",
    "declarant_id",
    "declarant_aeo_status",
    "importer_id",
    "importer_aeo_status",
    "seller_id",
    "carrier_id",
    "duty_rate",
    "duty_regime_code",
    "preference_code",
    "net_mass_kg",
    "duty_tax_amount",
)


def flat_to_frame(path: str | Path, rows: int | None = None) -> pl.LazyFrame:
    """The flat import layout (CSV or Parquet, one row per goods item, rows of a declaration together) as frame
    rows, lazily and the same as :func:`declaration_row`: the largest goods item (first on ties) gives HS code,
    origin, duty rate, regime and preference; value, mass and duty at stake are totals (duty at stake from the
    rates when no item states its duty). With ``rows`` (the number of the file's first data row), each declaration
    keeps its first row's number in ``_row``, malformed numbers become missing values and the date stays text
    (:func:`read_rows` reports them)."""
    path = Path(path)
    scan = pl.scan_parquet(path) if path.suffix == ".parquet" else pl.scan_csv(path, infer_schema=False)
    strict = rows is None
    if rows is not None:
        scan = scan.with_row_index("_row", offset=rows)
    columns = scan.collect_schema().names()
    missing = [c for c in _FLAT_REQUIRED if c not in columns]
    if missing:
        raise RiskDataError(
            f"{path.name} is not in the flat layout: column(s) {', '.join(missing)} missing; write it with "
            "`opencustoms export FILE.csv` or choose another --layout",
            field=missing[0],
        )
    f64 = pl.Float64
    text = {c: pl.col(c).cast(pl.Utf8) if c in columns else pl.lit(None, pl.Utf8).alias(c) for c in _FLAT_USED}
    items = scan.select(*text.values(), *([] if strict else ["_row"])).with_columns(
        pl.col("duty_rate").cast(f64, strict=strict),
        pl.col("net_mass_kg").cast(f64, strict=strict),
        pl.col("customs_value_amount").cast(f64, strict=strict).fill_null(0.0).alias("_v"),
        pl.col("duty_tax_amount").cast(f64, strict=strict),
    )
    main = pl.col("_v").arg_max()
    return (
        items.group_by("functional_reference_id", maintain_order=True)
        .agg(
            (
                pl.col("acceptance_date").first().str.slice(0, 10).str.to_date("%Y-%m-%d")
                if strict
                else pl.col("acceptance_date").first()
            ).alias("date"),
            *(
                []
                if strict
                else [pl.col("_row").first(), pl.col("customs_value_amount").is_null().all().alias("_no_value")]
            ),
            pl.col("declaration_office_id").first().alias("office"),
            pl.col("procedure_code").first().alias("procedure"),
            pl.col("transport_mode_code").first().alias("transport_mode"),
            pl.col("departure_country_code").first().alias("departure"),
            pl.col("origin_country_code").get(main).alias("origin"),
            pl.col("hs_code").get(main).str.slice(0, 6).alias("hs6"),
            pl.col("declarant_id").first().alias("declarant"),
            pl.col("importer_id").first().alias("importer"),
            pl.col("seller_id").first().alias("seller"),
            pl.col("carrier_id").first().alias("carrier"),
            pl.when(pl.col("importer_id").first().is_not_null())
            .then(pl.col("importer_aeo_status").first())
            .otherwise(pl.col("declarant_aeo_status").first())
            .fill_null("none")
            .alias("aeo"),
            pl.col("duty_rate").get(main).alias("duty_rate"),
            pl.col("duty_regime_code").get(main).alias("duty_regime"),
            pl.col("preference_code").get(main).alias("preference"),
            pl.when(pl.col("net_mass_kg").is_not_null().any()).then(pl.col("net_mass_kg").sum()).alias("net_mass"),
            pl.col("_v").sum().alias("value"),
            pl.when(pl.col("duty_tax_amount").is_not_null().any())
            .then(pl.col("duty_tax_amount").sum())
            .otherwise((pl.col("_v") * pl.col("duty_rate").fill_null(0.0) / 100.0).sum())
            .alias("duty_at_stake"),
            pl.len().cast(pl.Int32).alias("items"),
        )
        .rename({"functional_reference_id": "reference"})
    )


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def declaration_row(data: Mapping[str, Any]) -> dict[str, Any]:
    """One declaration (a model dict, or a :class:`~opencustoms.model.Declaration` dumped to one) as a frame row."""
    items = data.get("goods_items") or []
    if not items:
        raise RiskDataError(
            f"declaration {data.get('functional_reference_id')!r} has no goods items", field="goods_items"
        )
    values = [_num(i.get("customs_value_amount")) or 0.0 for i in items]
    main = items[max(range(len(items)), key=values.__getitem__)]
    masses = [_num(i.get("net_mass_kg")) for i in items]
    duties = [_num(i.get("duty_tax_amount")) for i in items]
    duty = sum(d for d in duties if d is not None) if any(d is not None for d in duties) else None
    if duty is None:
        duty = sum(v * (_num(i.get("duty_rate")) or 0.0) / 100.0 for v, i in zip(values, items, strict=True))
    transport = data.get("transport") or {}
    parties = {role: data.get(role) or {} for role in ("declarant", "importer", "seller", "carrier")}
    aeo = (parties["importer"] or parties["declarant"]).get("aeo_status") or "none"
    pref = main.get("preference") or {}
    date = data.get("acceptance_date")
    row: dict[str, Any] = {
        "reference": data.get("functional_reference_id"),
        "date": date if isinstance(date, dt.date) else (dt.date.fromisoformat(str(date)[:10]) if date else None),
        "office": data.get("declaration_office_id"),
        "procedure": data.get("procedure_code"),
        "transport_mode": _str(transport.get("mode_code")),
        "departure": transport.get("departure_country_code"),
        "origin": main.get("origin_country_code"),
        "hs6": str(main.get("hs_code") or "")[:6] or None,
        **{role: p.get("id") for role, p in parties.items()},
        "aeo": _str(aeo),
        "duty_rate": _num(main.get("duty_rate")),
        "duty_regime": main.get("duty_regime_code"),
        "preference": pref.get("code"),
        "net_mass": sum(m for m in masses if m is not None) if any(m is not None for m in masses) else None,
        "value": sum(values),
        "duty_at_stake": duty,
        "items": len(items),
    }
    for key, val in (data.get("national_extensions") or {}).items():
        row["x_" + key.replace(".", "_")] = val
    return row


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def from_declarations(
    declarations: Iterable[Mapping[str, Any]], labels: Callable[[str], tuple[int | None, float | None]] | None = None
) -> pl.DataFrame:
    """Declarations as a frame; ``labels(reference) -> (label, revenue)`` adds known outcomes."""
    rows = []
    for data in declarations:
        row = declaration_row(data)
        if labels is not None:
            row["label"], row["revenue"] = labels(row["reference"])
        rows.append(row)
    if not rows:
        raise RiskDataError("no declarations to build a frame from", field="declarations")
    return conform(pl.DataFrame(rows, infer_schema_length=None))


def pseudonymise_parties(frame: pl.DataFrame, pseudonymiser: Callable[[str], str]) -> pl.DataFrame:
    """Replace party identifiers by their keyed pseudonyms (each distinct identifier is hashed once)."""
    if frame.height <= 16:  # a few rows (online scoring): plain Python, one with_columns
        return frame.with_columns(
            pl.Series(col, [None if v is None else pseudonymiser(v) for v in frame[col].to_list()], dtype=pl.Utf8)
            for col in PARTY_COLUMNS
            if col in frame.columns
        )
    out = frame
    for col in PARTY_COLUMNS:
        if col not in frame.columns:
            continue
        distinct = frame[col].drop_nulls().unique()
        mapping = dict(zip(distinct.to_list(), [pseudonymiser(v) for v in distinct.to_list()], strict=True))
        out = out.with_columns(pl.col(col).replace_strict(mapping, default=None, return_dtype=pl.Utf8))
    return out
