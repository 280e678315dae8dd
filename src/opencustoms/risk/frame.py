"""The declaration-level frame the risk engine learns and scores on (one row per declaration, polars).

Every source becomes the same columns (:data:`COLUMNS`): a KCS file read directly with polars (fast, for
evaluation), declarations as model dicts (API, store, demo generator), or a Parquet/CSV file already in this shape
(``layout="frame"``). A declaration with several goods items is summarised by its largest item (HS code, origin,
duty rate) and its totals (value, mass, duty at stake). Columns starting with ``x_`` are national data elements,
used as categorical features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from opencustoms.declarations.layouts import KCS_TRANSPORT
from opencustoms.risk.errors import RiskDataError

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


def conform_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`conform` for one row (online scoring), in plain Python: the dict that
    ``conform(pl.DataFrame([row])).row(0, named=True)`` gives, without building a frame (polars costs about 3 ms for
    one row, this about 10 µs). A value that is not already of its column's type (an int for a float column, a date
    given as text, a number in a national column...) takes the polars path, so every cast stays polars' own
    (tested against :func:`conform` on random rows)."""
    _require_columns(row)
    out: dict[str, Any] = {name: row.get(name) for name in COLUMNS}
    extras = {name: value for name, value in row.items() if name.startswith("x_")}
    plain = all(
        value is None or (type(value) in (_PLAIN.get(COLUMNS[name]) or (dt.date,)) and _in_range(COLUMNS[name], value))
        for name, value in out.items()
    ) and all(value is None or type(value) is str for value in extras.values())
    if not plain:
        return conform(pl.DataFrame([dict(row)], infer_schema_length=None)).row(0, named=True)
    out.update(extras)
    for name in REQUIRED:
        if out[name] is None:
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
    from opencustoms.declarations.errors import ImportFileError
    from opencustoms.declarations.kcs import kcs_release

    path = Path(path)
    if not path.exists():
        raise RiskDataError(f"file {path} does not exist", field="path")
    raw = pl.read_csv(path, infer_schema_length=0)  # everything as text: codes keep their leading zeros
    try:
        release = kcs_release(raw.columns)
    except ImportFileError as exc:
        raise RiskDataError(f"{path.name}: {exc}", field=exc.field) from exc
    # line numbers as the import reports them (the header is line 1), which the generated references depend on
    columns, _ = release.normalise_columns(raw.to_dict(as_series=False), range(2, raw.height + 2))
    raw = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Utf8))
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
        pl.col("Tax Rate").cast(pl.Float64).alias("duty_rate"),
        pl.col("Tax Type").alias("duty_regime"),
        pl.when(pl.col("Tax Type").str.starts_with("F")).then(pl.col("Tax Type")).alias("preference"),
        pl.col("Net Mass").cast(pl.Float64).alias("net_mass"),
        pl.col("Item Price").cast(pl.Float64).alias("value"),
        (pl.col("Fraud").cast(pl.Int8) if "Fraud" in raw.columns else pl.lit(None, pl.Int8)).alias("label"),
        *[pl.col(src).alias(dst) for src, dst in _KCS_EXTRA.items() if src in raw.columns],
    )
    return conform(frame)


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


def flat_to_frame(path: str | Path) -> pl.LazyFrame:
    """The flat import layout (CSV or Parquet, one row per goods item, rows of a declaration together) as frame
    rows, lazily and the same as :func:`declaration_row`: the largest goods item (first on ties) gives HS code,
    origin, duty rate, regime and preference; value, mass and duty at stake are totals (duty at stake from the
    rates when no item states its duty)."""
    path = Path(path)
    scan = pl.scan_parquet(path) if path.suffix == ".parquet" else pl.scan_csv(path, infer_schema=False)
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
    items = scan.select(*text.values()).with_columns(
        pl.col("duty_rate").cast(f64),
        pl.col("net_mass_kg").cast(f64),
        pl.col("customs_value_amount").cast(f64).fill_null(0.0).alias("_v"),
        pl.col("duty_tax_amount").cast(f64),
    )
    main = pl.col("_v").arg_max()
    return (
        items.group_by("functional_reference_id", maintain_order=True)
        .agg(
            pl.col("acceptance_date").first().str.slice(0, 10).str.to_date("%Y-%m-%d").alias("date"),
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


def demo_frame(
    n: int, *, seed: int = 0, start: dt.date = dt.date(2025, 1, 1), days: int = 365, fraud_rate: float = 0.08
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` declarations of the seeded demo generator as a frame (label and revenue filled in), and the truth
    (reference, pattern, revenue) beside it."""
    from opencustoms.demo.generator import generate

    rows, truth = [], []
    for data, gt in generate(n, seed=seed, start=start, days=days, fraud_rate=fraud_rate):
        row = declaration_row(data)
        row["label"] = int(gt.fraud)
        row["revenue"] = float(gt.revenue_at_stake if isinstance(gt.revenue_at_stake, Decimal) else 0)
        rows.append(row)
        truth.append({"reference": gt.functional_reference_id, "pattern": gt.pattern})
    return conform(pl.DataFrame(rows, infer_schema_length=None)), pl.DataFrame(
        truth, schema={"reference": pl.Utf8, "pattern": pl.Utf8}
    )


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
