"""File formats: CSV, JSON Lines and Parquet records in and out.

Readers never stop at a bad row: a row that cannot be decoded (not UTF-8, wrong number of fields, invalid JSON)
comes back as a RawRecord carrying a Problem, and reading goes on. Only a file that cannot be read at all (no
header, not Parquet) raises ImportFileError.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from opencustoms.declarations.errors import ImportFileError
from opencustoms.declarations.layouts import Problem, RawRecord
from opencustoms.jsondepth import too_deep
from opencustoms.model import Declaration

FORMATS = ("csv", "jsonl", "parquet")
_SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def detect_format(name: str, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ImportFileError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", field="format")
        return fmt
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ImportFileError(
            f"cannot tell the format of {Path(name).name!r} from its extension {suffix or '(none)'!r}; the accepted "
            f"extensions are {', '.join(_SUFFIXES)} — rename the file, or give the format, e.g. --format csv "
            "(format=csv in the API)",
            field="format",
        )
    return _SUFFIXES[suffix]


def _undecodable(text: str) -> int | None:
    """Index of the first byte that was not UTF-8 (decoded with surrogateescape), else None."""
    if text.isascii():
        return None
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return i
    return None


def _utf8_problem(row: int, column: str, text: str, at: int) -> Problem:
    byte = ord(text[at]) - 0xDC00
    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return Problem(row, None, column, shown, f"byte 0x{byte:02X} is not UTF-8; re-save the file as UTF-8")


class _Lines:
    """The lines of a text stream, remembering those handed out since ``mark()``: the raw text of the record the
    csv module is reading, kept so that a record it refuses still tells which declaration it belonged to."""

    __slots__ = ("_next", "taken")

    def __init__(self, text: IO[str]) -> None:
        self._next = iter(text).__next__
        self.taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._next()
        self.taken.append(line)
        return line

    def mark(self) -> None:
        self.taken.clear()


_RECOVER_CHARS = 100_000  # below csv.field_size_limit(), so the prefix itself parses


def _readable_prefix(header: list[str], lines: list[str]) -> dict[str, str] | None:
    """The leading cells of a record the csv module refused (a field over its size limit, bad quoting), read from
    its first characters: every cell that ends before the damage, so that the reference can be recovered."""
    text = "".join(lines)[:_RECOVER_CHARS]
    try:
        cells = next(csv.reader([text]), [])
    except csv.Error:
        return None
    complete = cells[:-1] if len(text) == _RECOVER_CHARS else cells  # the last cell may be cut short
    values = dict(zip(header, complete[: len(header)], strict=False))
    return {k: v for k, v in values.items() if _undecodable(v) is None} or None


def read_csv(stream: IO[bytes]) -> tuple[list[str], Iterator[RawRecord]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    lines = _Lines(text)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty; a CSV import needs a header row and data rows") from None
    except csv.Error as exc:
        raise ImportFileError(f"the header row is not valid CSV: {exc}") from exc
    header = [h.strip() for h in header]
    bad = next((h for h in header if _undecodable(h) is not None), None)
    if bad is not None:
        raise ImportFileError("the header row is not UTF-8; re-save the file as UTF-8")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise ImportFileError(f"column {dup!r} appears twice in the header", field=dup)
    width = len(header)

    def records() -> Iterator[RawRecord]:
        while True:
            lines.mark()
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = f"not valid CSV: {exc}"
                if "field larger than field limit" in str(exc):
                    reason = (
                        f"a value is longer than {csv.field_size_limit():,} characters, far beyond any field of a "
                        "declaration (a quote left open swallows the rows after it); correct the row"
                    )
                yield RawRecord(start, _readable_prefix(header, lines.taken), Problem(start, None, "", None, reason))
                continue
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                # Keep what can be read (the reference, usually) so the layout rejects the whole declaration.
                yield RawRecord(
                    line,
                    dict(zip(header, row, strict=False)),
                    Problem(
                        line,
                        None,
                        "",
                        None,
                        f"the row has {len(row)} fields but the header has {width}; a separator inside an unquoted "
                        "value shifts the columns — quote values that contain commas",
                    ),
                )
                continue
            joined = "".join(row)
            if not joined.isascii() and _undecodable(joined) is not None:
                for column, value in zip(header, row, strict=True):
                    at = _undecodable(value)
                    if at is not None:
                        readable = {
                            h: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                            for h, v in zip(header, row, strict=True)
                        }
                        yield RawRecord(line, readable, _utf8_problem(line, column, value, at))
                        break
                continue
            yield RawRecord(line, dict(zip(header, row, strict=True)))

    return header, records()


MAX_JSON_LINE_BYTES = 4 << 20  # a declaration of 999 goods items is well under 1 MiB
MAX_JSON_DEPTH = 20  # a declaration nests 4 deep (declaration > goods_items > item > preference)
_REFERENCE = re.compile(r'"functional_reference_id"\s*:\s*"([A-Za-z0-9][A-Za-z0-9._/-]{0,63})"')


def _json_problem(number: int, text: str, reason: str) -> Problem:
    found = _REFERENCE.search(text)
    return Problem(number, found.group(1) if found else None, "", text[:80], reason)


def _lines(stream: IO[bytes], limit: int) -> Iterator[tuple[bytes, bool]]:
    """The lines of ``stream``, each with whether it was cut at ``limit`` bytes (the rest is skipped unread)."""
    while raw := stream.readline(limit + 1):
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw, False
            continue
        while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
            pass
        yield raw[:limit], True


def read_jsonl(stream: IO[bytes]) -> tuple[None, Iterator[RawRecord]]:
    def records() -> Iterator[RawRecord]:
        for number, (raw, cut) in enumerate(_lines(stream, MAX_JSON_LINE_BYTES), 1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield RawRecord(
                    number,
                    None,
                    _json_problem(
                        number,
                        raw[: exc.start].decode("utf-8", "replace"),
                        f"byte 0x{raw[exc.start]:02X} is not UTF-8; re-save as UTF-8",
                    ),
                )
                continue
            if cut:
                reason = f"the line is longer than {MAX_JSON_LINE_BYTES:,} bytes; one declaration is far smaller"
                yield RawRecord(number, None, _json_problem(number, text, reason))
                continue
            if too_deep(text, MAX_JSON_DEPTH):  # refused before a parser recurses into it
                reason = f"nested deeper than {MAX_JSON_DEPTH} levels; a declaration nests 4 levels deep"
                yield RawRecord(number, None, _json_problem(number, text, reason))
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRecord(
                    number, None, _json_problem(number, text, f"not valid JSON ({exc.msg} at column {exc.colno})")
                )
                continue
            except (ValueError, RecursionError):  # an integer of thousands of digits
                reason = "holds a number too long to be read (thousands of digits); correct the value"
                yield RawRecord(number, None, _json_problem(number, text, reason))
                continue
            if not isinstance(value, dict):
                yield RawRecord(
                    number, None, _json_problem(number, text, "each line must be one JSON object (a declaration)")
                )
                continue
            yield RawRecord(number, value)

    return None, records()


def read_parquet(source: Path | IO[bytes]) -> tuple[list[str], Iterator[RawRecord]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportFileError(f"not a readable Parquet file: {exc}") from exc
    columns = list(parquet.schema_arrow.names)

    def records() -> Iterator[RawRecord]:
        row = 0
        for batch in parquet.iter_batches(batch_size=10_000):
            for values in batch.to_pylist():
                row += 1
                yield RawRecord(row, values)

    return columns, records()


def open_records(source: Path | IO[bytes], fmt: str) -> tuple[list[str] | None, Iterator[RawRecord]]:
    if fmt == "parquet":
        return read_parquet(source)
    stream = source.open("rb") if isinstance(source, Path) else source
    return read_csv(stream) if fmt == "csv" else read_jsonl(stream)


# --- writers -----------------------------------------------------------------------------------------------------


class DeclarationWriter:
    """Writes declarations to one file: flat records for CSV and Parquet, nested JSON for JSON Lines."""

    def __init__(self, path: Path, fmt: str, columns: list[str]) -> None:
        self.path, self.fmt, self.columns = path, fmt, columns
        self._handle: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._schema: Any = None

    def __enter__(self) -> DeclarationWriter:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self._schema = parquet_schema(self.columns)
            self._parquet = pq.ParquetWriter(self.path, self._schema)
        else:
            self._handle = self.path.open("w", newline="", encoding="utf-8")
            if self.fmt == "csv":
                self._csv = csv.DictWriter(self._handle, fieldnames=self.columns, extrasaction="raise")
                self._csv.writeheader()
        return self

    def write(self, declarations: list[Declaration]) -> None:
        from opencustoms.declarations.layouts import FlatLayout

        if self.fmt == "jsonl":
            assert self._handle is not None
            self._handle.writelines(d.model_dump_json(exclude_none=True) + "\n" for d in declarations)
            return
        rows = [r for d in declarations for r in FlatLayout.to_records(d)]
        if self._csv is not None:
            self._csv.writerows(rows)
        elif rows:
            write_parquet_batch(self._parquet, self._schema, rows)

    def __exit__(self, *exc: object) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()


def parquet_schema(columns: list[str]) -> Any:
    import pyarrow as pa

    types = {
        "sequence_number": pa.int32(),
        "quantity": pa.float64(),
        "net_mass_kg": pa.float64(),
        "gross_mass_kg": pa.float64(),
        "customs_value_amount": pa.decimal128(18, 2),
        "duty_tax_amount": pa.decimal128(18, 2),
        "duty_rate": pa.decimal128(9, 4),
    }
    return pa.schema([(c, types.get(c, pa.string())) for c in columns])


def write_parquet_batch(writer: Any, schema: Any, records: list[dict[str, Any]]) -> None:
    import decimal

    import pyarrow as pa

    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for rec in records:
        for name in schema.names:
            columns[name].append(rec.get(name))
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_decimal(field.type):
            values = [None if v is None else decimal.Decimal(v) for v in values]
        arrays.append(pa.array(values, type=field.type))
    writer.write_batch(pa.record_batch(arrays, schema=schema))
