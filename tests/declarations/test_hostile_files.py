"""Hostile files: every import path refuses what it cannot store, names why, and never stores half a declaration.

Each case damages the second goods item of declaration LRN-B in a file of three declarations (LRN-A, LRN-B,
LRN-C, two goods items each). Whatever the path (columnar fast path, row path, JSON Lines, Parquet, the API,
the layouts native / flat / kcs), afterwards:
- every stored declaration has both its goods items;
- every declaration of the file that is not stored is reported with its reference (unless the damage swallowed
  its rows, which the case says);
- importing the corrected file then stores what was refused.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import sample_declaration
from opencustoms.declarations import service
from opencustoms.declarations.errors import ImportFileError
from opencustoms.declarations.formats import MAX_JSON_DEPTH, MAX_JSON_LINE_BYTES
from opencustoms.declarations.importer import ImportReport
from opencustoms.declarations.kcs import KCS_COLUMNS
from opencustoms.declarations.layouts import FLAT_COLUMNS, FlatLayout, Problem
from opencustoms.model import Declaration
from opencustoms.store.tables import declarations, goods_items

REFS = ("LRN-A", "LRN-B", "LRN-C")
DAMAGED = 3  # index of LRN-B's second item row among the data rows


def _rows() -> list[dict]:
    return [r for ref in REFS for r in FlatLayout.to_records(Declaration.model_validate(sample_declaration(ref)))]


def _csv(rows: list[dict], columns: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or list(FLAT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _with(column: str, value: str, columns: list[str] | None = None) -> bytes:
    """The CSV with LRN-B's second item row holding ``value`` in ``column`` (surrogates become raw bytes)."""
    rows = _rows()
    rows[DAMAGED][column] = value
    return _csv(rows, columns).encode("utf-8", "surrogateescape")


def _line(edit: Callable[[str], str], columns: list[str] | None = None) -> bytes:
    """The CSV with LRN-B's second item line edited as text (surrogates become raw bytes)."""
    lines = _csv(_rows(), columns).split("\n")
    lines[1 + DAMAGED] = edit(lines[1 + DAMAGED])
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def _stored(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(declarations.c.functional_reference_id, func.count())
                .join(goods_items, goods_items.c.declaration_id == declarations.c.id)
                .group_by(declarations.c.functional_reference_id)
            ).all()
        )


def _whole_or_nothing(engine, report: ImportReport, *, refused: set[str], swallowed: frozenset[str] = frozenset()):
    stored = _stored(engine)
    assert all(n == 2 for n in stored.values()), f"half-stored declarations: {stored}"
    assert not refused & set(stored), f"{refused} must not be stored: {stored}"
    reported = {p.reference for p in report.problems}
    missing = set(REFS) - set(stored) - swallowed
    assert missing <= reported, f"not stored and not reported by reference: {missing - reported}"
    assert report.accepted == len(stored)
    return stored


def _import(engine, operator, data: bytes, name: str, **options) -> ImportReport:
    return service.import_file(engine, operator, io.BytesIO(data), name=name, **options)


def _reimport_corrected(engine, operator, name: str, data: bytes, before: dict[str, int], **options) -> None:
    again = _import(engine, operator, data, name, **options)
    assert again.accepted == len(REFS) - len(before)
    assert _stored(engine) == dict.fromkeys(REFS, 2)


# --- CSV, flat layout: the fast path and the row path ----------------------------------------------------------

HUGE = "x" * 140_000  # beyond csv.field_size_limit() (131,072)
FLAT_CASES: dict[str, tuple[bytes, str | None]] = {
    # case: (file, field named in LRN-B's report lines, or None when only the reference is certain)
    "field over the csv module's limit": (_with("description", HUGE), None),
    "field over the limit before the reference column": (
        _with("description", HUGE, ["description", *(c for c in FLAT_COLUMNS if c != "description")]),
        None,
    ),
    "not UTF-8 in a name": (_with("description", "Dr\udce9ss"), "description"),
    "not UTF-8 in the reference": (_with("functional_reference_id", "LRN-B\udcff"), None),
    "a field too many": (_line(lambda line: line + ",extra"), None),
    "fields missing": (_line(lambda line: line.split(",", 3)[0] + ",import"), None),
    "blank reference": (_with("functional_reference_id", ""), None),
    "byte-order mark inside the file": (_with("functional_reference_id", "\ufeffLRN-B"), None),
    "NUL in free text": (_with("description", "Dress\x00"), "description"),
    "formula in a code": (_with("hs_code", '=HYPERLINK("http://evil.example","x")'), "hs_code"),
    "quote left open": (_line(lambda line: line.replace(",men's cotton trousers,", ',"never closed,')), None),
}
SWALLOWED = {"quote left open": frozenset({"LRN-C"})}  # its rows are inside the open quote


def test_the_cases_damage_the_file() -> None:
    good = _csv(_rows()).encode()
    for case, (data, _) in FLAT_CASES.items():
        assert data != good, case


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "rows"])
@pytest.mark.parametrize("case", list(FLAT_CASES))
def test_flat_csv_whole_or_nothing(engine, operator, case: str, fast: bool) -> None:
    data, field = FLAT_CASES[case]
    report = _import(engine, operator, data, "hostile.csv", fast=fast)
    before = _whole_or_nothing(engine, report, refused={"LRN-B"}, swallowed=SWALLOWED.get(case, frozenset()))
    assert "LRN-A" in before  # a declaration away from the damage is stored
    if field:
        assert any(p.reference == "LRN-B" and p.field == field for p in report.problems), report.problems
    _reimport_corrected(engine, operator, "fixed.csv", _csv(_rows()).encode(), before, fast=fast)


def test_field_over_the_limit_rejects_its_declaration_by_reference(engine, operator) -> None:
    """Issue #12, defect 9: the row path reported the huge row without a reference and stored LRN-B with one of
    its two items; re-importing the corrected file then said 'already stored'."""
    report = _import(engine, operator, FLAT_CASES["field over the csv module's limit"][0], "x.csv", fast=False)
    assert (report.accepted, report.rejected) == (2, 1)
    assert _stored(engine) == {"LRN-A": 2, "LRN-C": 2}
    huge = [p for p in report.problems if "131,072" in p.reason]
    assert [(p.row, p.reference) for p in huge] == [(5, "LRN-B")]


def test_unknown_row_rejects_both_neighbours(engine, operator) -> None:
    """A damaged row whose reference cannot be read may belong to the declaration before or after it."""
    report = _import(engine, operator, FLAT_CASES["not UTF-8 in the reference"][0], "x.csv", fast=False)
    assert _stored(engine) == {"LRN-A": 2}
    suspects = {p.reference for p in report.problems if "could not be told apart" in p.reason}
    assert suspects == {"LRN-B", "LRN-C"}


def test_problem_report_escapes_formulas(engine, operator, tmp_path: Path) -> None:
    rows = _rows()
    rows[0]["hs_code"] = "=1+2"
    rows[2]["hs_code"] = "@SUM(A1)"
    rows[4]["hs_code"] = "+1"
    rows[5]["description"] = "\t=cmd"
    rows[4]["customs_value_amount"] = "-5"
    report = _import(engine, operator, _csv(rows).encode(), "x.csv")
    path = tmp_path / "problems.csv"
    report.write_csv(path)
    with path.open(newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dangerous == []
    assert "'=1+2" in cells and "'@SUM(A1)" in cells and "'+1" in cells and "'-5" in cells


def test_problem_report_cells() -> None:
    report = ImportReport("x", "flat", problems=[Problem(2, "=A", "f", "\rcmd", "-x")])
    out = io.StringIO()
    report.write_csv(out)
    assert out.getvalue().split("\r\n")[1] == "2,'=A,f,\"'\rcmd\",'-x"


def test_byte_order_mark_at_the_start_is_accepted(engine, operator) -> None:
    for fast in (True, False):
        report = _import(engine, operator, b"\xef\xbb\xbf" + _csv(_rows()).encode(), f"bom{fast}.csv", fast=fast)
        assert report.problems == [] or all("already stored" in p.reason for p in report.problems)
    assert _stored(engine) == dict.fromkeys(REFS, 2)


def test_row_path_with_workers(engine, operator) -> None:
    report = _import(engine, operator, FLAT_CASES["a field too many"][0], "x.csv", fast=False, workers=2)
    _whole_or_nothing(engine, report, refused={"LRN-B"})


# --- JSON Lines, native layout ---------------------------------------------------------------------------------


def _jsonl(edit: Callable[[dict], str | bytes]) -> bytes:
    lines = []
    for ref in REFS:
        data = sample_declaration(ref)
        line = edit(data) if ref == "LRN-B" else json.dumps(data)
        lines.append(line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass"))
    return b"\n".join(lines) + b"\n"


def _nested(data: dict) -> str:
    depth = 100_000
    return json.dumps(data)[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"


JSONL_CASES: dict[str, tuple[bytes, str | None]] = {
    "nested 100,000 deep": (_jsonl(_nested), None),
    "nested just too deep": (
        _jsonl(lambda d: json.dumps({**d, "x": json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)})),
        None,
    ),
    "line over the size limit": (
        _jsonl(lambda d: json.dumps({**d, "note": "x" * (MAX_JSON_LINE_BYTES + 10)})),
        None,
    ),
    "wrong types": (_jsonl(lambda d: json.dumps({**d, "goods_items": "two"})), "goods_items"),
    "number of 10,000 digits": (_jsonl(lambda d: json.dumps(d)[:-1] + ', "n": ' + "9" * 10_000 + "}"), None),
    "not UTF-8": (
        _jsonl(lambda d: json.dumps(d).replace("Tulip", "Tul\udcffip").encode("utf-8", "surrogateescape")),
        None,
    ),
    "NUL escaped": (
        _jsonl(lambda d: json.dumps({**d, "importer": {**d["importer"], "name": "Tulip\x00"}})),
        "importer.name",
    ),
    "lone surrogate escaped": (_jsonl(lambda d: json.dumps(d).replace("Tulip", "Tul\\ud800ip")), "importer.name"),
    "formula in a code": (
        _jsonl(lambda d: json.dumps({**d, "declaration_office_id": "=cmd|' /C calc'!A0" * 2})),
        "declaration_office_id",
    ),
}


JSONL_FIXED = b"".join(json.dumps(sample_declaration(ref)).encode() + b"\n" for ref in REFS)


@pytest.mark.parametrize("case", list(JSONL_CASES))
def test_jsonl_whole_or_nothing(engine, operator, case: str) -> None:
    data, field = JSONL_CASES[case]
    report = _import(engine, operator, data, "hostile.jsonl")
    before = _whole_or_nothing(engine, report, refused={"LRN-B"})
    assert set(before) == {"LRN-A", "LRN-C"}
    [problem] = [p for p in report.problems if p.reference == "LRN-B"][:1]
    if field:
        assert problem.field == field, report.problems
    _reimport_corrected(engine, operator, "fixed.jsonl", JSONL_FIXED, before)


def test_jsonl_not_an_object_and_bom(engine, operator) -> None:
    data = b"\xef\xbb\xbf" + json.dumps(sample_declaration("LRN-A")).encode() + b'\n[1,2]\n"text"\nnull\n'
    report = _import(engine, operator, data, "x.jsonl")
    assert report.accepted == 1 and [p.row for p in report.problems] == [2, 3, 4]


def test_deep_nesting_is_refused_before_parsing(monkeypatch) -> None:
    """The depth check runs before json.loads, which would recurse (and crash under a raised recursion limit)."""
    from opencustoms.declarations import formats

    def no_parse(text: str):
        raise AssertionError("parsed a document that is nested too deep")

    monkeypatch.setattr(formats.json, "loads", no_parse)
    [record] = formats.read_jsonl(io.BytesIO(JSONL_CASES["nested 100,000 deep"][0].split(b"\n")[1]))[1]
    assert record.problem is not None and "nested deeper" in record.problem.reason
    assert record.problem.reference == "LRN-B"


# --- Parquet ---------------------------------------------------------------------------------------------------


def _parquet(rows: list[dict], types: dict | None = None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = types or {}
    columns = {c: [r.get(c) for r in rows] for c in FLAT_COLUMNS}
    arrays = {c: pa.array(v, type=types.get(c, pa.string())) for c, v in columns.items()}
    out = io.BytesIO()
    pq.write_table(pa.table(arrays), out)
    return out.getvalue()


def _text_rows() -> list[dict]:
    return [{k: None if v is None else str(v) for k, v in r.items()} for r in _rows()]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "rows"])
def test_parquet_nul_whole_or_nothing(engine, operator, fast: bool) -> None:
    rows = _text_rows()
    rows[DAMAGED]["description"] = "Dress\x00"
    report = _import(engine, operator, _parquet(rows), "x.parquet", fast=fast)
    before = _whole_or_nothing(engine, report, refused={"LRN-B"})
    assert any(p.reference == "LRN-B" and p.field == "description" for p in report.problems)
    _reimport_corrected(engine, operator, "fixed.parquet", _parquet(_text_rows()), before, fast=fast)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "rows"])
def test_parquet_wrong_column_types(engine, operator, fast: bool) -> None:
    import pyarrow as pa

    rows = _text_rows()
    for r in rows:
        r["hs_code"] = int(r["hs_code"])
        r["container_ids"] = [1, 2]
        r["customs_value_amount"] = [float(r["customs_value_amount"])]
    types = {
        "hs_code": pa.int64(),
        "container_ids": pa.list_(pa.int64()),
        "customs_value_amount": pa.list_(pa.float64()),
    }
    report = _import(engine, operator, _parquet(rows, types), "typed.parquet", fast=fast)
    assert report.accepted == 0 and _stored(engine) == {}
    fields = {(p.reference, p.field) for p in report.problems}
    assert {("LRN-B", "customs_value_amount"), ("LRN-B", "container_ids")} <= fields


def test_not_parquet_is_refused(engine, operator) -> None:
    with pytest.raises(ImportFileError, match="Parquet"):
        _import(engine, operator, b"PAR1" + b"\x00" * 64 + b"PAR1", "x.parquet")


# --- the KCS layout: one row per declaration ------------------------------------------------------------------


def _kcs(rows: list[str]) -> bytes:
    return (",".join(KCS_COLUMNS) + "\n" + "\n".join(rows) + "\n").encode("utf-8", "surrogateescape")


KCS_ROW = "{ref},2020-01-02,10,B,11,21,11,40,DEC1,IMP1,SEL1,COU1,620342,CN,CN,8,A,Y,1.5,{price}"


def test_kcs_damaged_rows_are_reported_by_reference(engine, operator) -> None:
    data = _kcs(
        [
            KCS_ROW.format(ref="K-1", price="100"),
            KCS_ROW.format(ref="K-2", price="100") + ",extra",
            KCS_ROW.format(ref="K-3", price="1\udce900"),
            KCS_ROW.format(ref="K-4", price="100").replace("COU1", "C\x00U1"),
        ]
    )
    report = _import(engine, operator, data, "kcs.csv", layout="kcs")
    assert report.accepted == 1 and _stored(engine) == {"K-1": 1}
    assert {p.reference for p in report.problems} == {"K-2", "K-3", "K-4"}
    fixed = _kcs([KCS_ROW.format(ref=f"K-{i}", price="100") for i in range(1, 5)])
    assert _import(engine, operator, fixed, "kcs.csv", layout="kcs").accepted == 3
    assert _stored(engine) == {f"K-{i}": 1 for i in range(1, 5)}


# --- the API ---------------------------------------------------------------------------------------------------


@pytest.fixture
def client(engine, database_url, tmp_path, operator):
    from fastapi.testclient import TestClient

    from opencustoms.api import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.security import service as security

    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path, max_upload_bytes=1_000_000))
    security.create_user(engine, operator, "olga", None, ["officer"])
    headers = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'olga')}"}
    with TestClient(create_app(platform)) as test_client:
        yield test_client, headers


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("x.csv", FLAT_CASES["not UTF-8 in a name"][0]),
        ("x.csv", FLAT_CASES["blank reference"][0]),
        ("x.csv", FLAT_CASES["NUL in free text"][0]),
        ("x.jsonl", JSONL_CASES["nested 100,000 deep"][0]),
    ],
)
def test_api_import_whole_or_nothing(client, engine, name: str, data: bytes) -> None:
    test_client, headers = client
    r = test_client.post("/declarations/import", files={"file": (name, data)}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "LRN-B" in {p["reference"] for p in body["problems"]}
    stored = _stored(engine)
    assert "LRN-B" not in stored and all(n == 2 for n in stored.values()) and body["accepted"] == len(stored)
    fixed = _csv(_rows()).encode() if name.endswith(".csv") else JSONL_FIXED
    r = test_client.post("/declarations/import", files={"file": (name, fixed)}, headers=headers)
    assert r.status_code == 200 and r.json()["accepted"] == len(REFS) - len(stored)
    assert _stored(engine) == dict.fromkeys(REFS, 2)


# --- the CLI -----------------------------------------------------------------------------------------------------


def test_cli_import_report_and_terminal_are_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`opencustoms import --no-fast --report`: the issue's file stores no half declaration, the report escapes
    formulas, and the terminal table shows cells as text (no Rich markup, no escape sequences)."""
    from typer.testing import CliRunner

    from opencustoms.cli import app
    from opencustoms.config import get_settings
    from opencustoms.store.database import open_database

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    open_database.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["init", "--administration", "NL", "--name", "NL"]).exit_code == 0
        rows = _rows()
        rows[DAMAGED]["description"] = HUGE
        rows[0]["hs_code"] = "=1+2"
        rows[4]["hs_code"] = "[red]x[/red]\x1b[2J"
        source = tmp_path / "hostile.csv"
        source.write_text(_csv(rows))
        result = runner.invoke(app, ["import", str(source), "--no-fast", "--report", "problems.csv"])
        assert result.exit_code == 0, result.output
        assert "0 imported, 0 already stored, 3 rejected" in result.output
        assert "\x1b[2J" not in result.output and "\\x1b" in result.output and "[red]x" in result.output
        report = (tmp_path / "problems.csv").read_text()
        assert "'=1+2" in report and ",=1+2" not in report
        source.write_text(_csv(_rows()))
        result = runner.invoke(app, ["import", str(source), "--no-fast"])
        assert "3 imported, 0 already stored, 0 rejected" in result.output, result.output
    finally:
        get_settings.cache_clear()
        open_database.cache_clear()
