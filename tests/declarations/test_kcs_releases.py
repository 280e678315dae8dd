"""Issue #13, finding 1: every published release of the Korea Customs files imports, and the risk engine reads them
the same way. The releases are made in the test from a few hundred rows of the shared file (never committed):
- ``hs10``: the May-2022 English release: no Declaration ID, HS10 Code instead of HS6 Code, leading zeros lost;
- ``korean``: Korean headers, the declaration number first, HS10 codes, leading zeros lost.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from conftest import shared_data
from opencustoms.declarations import service
from opencustoms.declarations.errors import ImportFileError
from opencustoms.declarations.kcs import KOREAN_HEADERS, critical, kcs_release, restore_zero
from opencustoms.risk.frame import read_kcs
from opencustoms.store.tables import declarations, goods_items, inspection_results

ROWS = 300
ENGLISH_HS10 = [
    "Date",
    "Office ID",
    "Process Type",
    "Import Type",
    "Import Use",
    "Payment Type",
    "Mode of Transport",
    "Declarant ID",
    "Importer ID",
    "Seller ID",
    "Courier ID",
    "HS10 Code",
    "Country of Departure",
    "Country of Origin",
    "Tax Rate",
    "Tax Type",
    "Country of Origin Indicator",
    "Net Mass",
    "Item Price",
    "Fraud",
    "Critical Fraud",
]
KOREAN = list(KOREAN_HEADERS)


def _shared_rows() -> list[dict[str, str]]:
    with shared_data("kcs", "df_syn_train_eng.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # a sample spread over the file, with codes starting with 0 (the ones that lose it) among them
    picked = rows[:: len(rows) // ROWS][:ROWS]
    assert sum(r["HS6 Code"].startswith("0") for r in picked) > 5
    return picked


def _hs10(row: dict[str, str], n: int) -> str:
    """HS6 -> an HS10 code by appending digits, then read as a number upstream (the leading zero lost)."""
    return str(int(row["HS6 Code"] + f"{n % 100:02d}10"))


def release_file(kind: str, rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if kind == "hs10":
        writer.writerow(ENGLISH_HS10)
        for n, r in enumerate(rows):
            writer.writerow([_hs10(r, n) if c == "HS10 Code" else r[c] for c in ENGLISH_HS10])
    elif kind == "korean":
        english = ["Declaration ID", *ENGLISH_HS10]
        writer.writerow(KOREAN)
        for n, r in enumerate(rows):
            writer.writerow([_hs10(r, n) if c == "HS10 Code" else r[c] for c in english])
    else:
        writer.writerow(list(rows[0]))
        writer.writerows(r.values() for r in rows)
    return out.getvalue().encode()


def _stored(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(declarations.c.functional_reference_id, goods_items.c.hs_code).join(
                    goods_items, goods_items.c.declaration_id == declarations.c.id
                )
            ).all()
        )


@pytest.mark.parametrize("kind", ["hs10", "korean"])
def test_published_releases_import_and_reimport_without_duplicates(engine, operator, tmp_path: Path, kind: str) -> None:
    rows = _shared_rows()
    baseline = service.import_file(engine, operator, io.BytesIO(release_file("eng", rows)), name="e.csv", layout="kcs")
    zeros = sum(r["HS6 Code"].startswith("0") for r in rows)
    assert baseline.zeros_restored == 0 and baseline.references_generated == 0
    from opencustoms.store.database import init_database

    engine2 = init_database(f"sqlite:///{tmp_path / f'{kind}.db'}")
    data = release_file(kind, rows)
    report = service.import_file(engine2, operator, io.BytesIO(data), name=f"{kind}.csv", layout="kcs")
    # the same rows are accepted and rejected as from the file with IDs and HS6 codes
    assert (report.accepted, report.rejected) == (baseline.accepted, baseline.rejected), report.problems[:3]
    assert report.accepted >= ROWS - 10
    assert report.zeros_restored == zeros  # every code that lost its zero got it back, and it is said
    assert f"leading zero restored on {zeros} HS codes" in report.headline()
    assert report.references_generated == (ROWS if kind == "hs10" else 0)
    stored = _stored(engine2)
    assert all(len(code) == 10 for code in stored.values())
    assert sorted(code[:6] for code in stored.values()) == sorted(_stored(engine).values())
    again = service.import_file(engine2, operator, io.BytesIO(data), name=f"{kind}.csv", layout="kcs")
    assert (again.accepted, again.already_stored, again.rejected) == (0, report.accepted, report.rejected)
    assert _stored(engine2) == stored  # the generated references are stable: nothing stored twice
    engine2.dispose()


def test_critical_fraud_is_read_as_published(engine, operator) -> None:
    """0 none, 1 fraud, 2 critical fraud: only 2 marks an inspection result critical (1 used to)."""
    rows = _shared_rows()[:60]
    for n, r in enumerate(rows):
        r["Fraud"], r["Critical Fraud"] = ("1", str(1 + n % 2)) if n % 3 == 0 else ("0", "0")
    report = service.import_file(engine, operator, io.BytesIO(release_file("eng", rows)), name="k.csv", layout="kcs")
    with engine.connect() as conn:
        results = conn.execute(
            select(
                declarations.c.functional_reference_id, inspection_results.c.outcome, inspection_results.c.detail
            ).join(declarations, declarations.c.id == inspection_results.c.declaration_id)
        ).all()
    assert len(results) == report.accepted
    expected = {r["Declaration ID"]: r["Critical Fraud"] == "2" for r in rows}
    assert {ref: detail["critical"] for ref, _, detail in results} == {ref: expected[ref] for ref, _, _ in results}
    assert any(detail["critical"] for _, _, detail in results)
    assert not any(detail["critical"] for ref, _, detail in results if expected[ref] is False)
    assert critical("2") and not critical("1") and not critical("0") and not critical(None)


def test_problems_name_the_files_own_column_in_plain_words(engine, operator) -> None:
    rows = _shared_rows()[:20]
    rows[3]["Country of Origin"] = "ZZZ"
    rows[5]["Net Mass"] = "heavy"
    report = service.import_file(engine, operator, io.BytesIO(release_file("korean", rows)), name="k.csv", layout="kcs")
    found = {(p.row, p.field): p.reason for p in report.problems}
    assert "'ZZZ' is not an ISO 3166-1" in found[5, "원산지국가코드"]
    assert found[7, "신고중량(KG)"].startswith("'heavy' is not a number")
    assert not any("Input should" in p.reason or "should match pattern" in p.reason for p in report.problems)
    assert all(p.field in KOREAN for p in report.problems)  # the file's columns, never the model's fields


def test_hs_codes_one_digit_short_get_their_zero_back() -> None:
    assert restore_zero("710807000", 10) == ("0710807000", 1)
    assert restore_zero("710807000.0", 10) == ("0710807000", 1)
    assert restore_zero("71080", 6) == ("071080", 1)
    assert restore_zero("0710807000", 10) == ("0710807000", 0)
    assert restore_zero("7108070", 10) == ("7108070", 0)  # two digits short: not guessed, the model reports it


def test_a_file_that_is_no_release_is_refused_naming_the_column() -> None:
    with pytest.raises(ImportFileError, match="HS6 Code or HS10 Code") as info:
        kcs_release([c for c in ENGLISH_HS10 if c != "HS10 Code"])
    assert info.value.field == "HS6 Code or HS10 Code"


@pytest.mark.parametrize("kind", ["hs10", "korean"])
def test_risk_reader_reads_every_release_as_the_import_does(engine, operator, tmp_path: Path, kind: str) -> None:
    rows = _shared_rows()
    original = tmp_path / "eng.csv"
    original.write_bytes(release_file("eng", rows))
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(release_file(kind, rows))
    expected, frame = read_kcs(original), read_kcs(path)
    assert frame["hs6"].to_list() == expected["hs6"].to_list()
    assert frame["label"].to_list() == expected["label"].to_list()
    assert frame["value"].to_list() == expected["value"].to_list()
    service.import_file(engine, operator, path, layout="kcs")
    stored = set(_stored(engine))
    assert stored and stored <= set(frame["reference"].to_list())  # same references: feedback finds them


def test_import_without_layout_recognises_a_korea_customs_file(engine, operator) -> None:
    data = release_file("korean", _shared_rows()[:30])
    report = service.import_file(engine, operator, io.BytesIO(data), name="k.csv")
    assert report.layout == "kcs" and report.accepted >= 28
    assert any("Korea Customs" in n and "--layout kcs" in n for n in report.notices)


def test_txt_is_refused_unless_the_format_is_given(engine, operator, tmp_path: Path) -> None:
    data = release_file("eng", _shared_rows()[:10])
    with pytest.raises(ImportFileError, match=r"\.csv, \.jsonl.*--format csv") as info:
        service.import_file(engine, operator, io.BytesIO(data), name="k.txt", layout="kcs")
    assert info.value.field == "format"
    report = service.import_file(engine, operator, io.BytesIO(data), name="k.txt", layout="kcs", fmt="csv")
    assert report.accepted >= 9


@pytest.mark.slow
def test_risk_train_learns_from_a_published_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`risk train --train FILE --layout kcs` on the Korean HS10 release (zeros lost)."""
    from opencustoms.cli import app
    from opencustoms.config import get_settings
    from opencustoms.store.database import open_database

    with shared_data("kcs", "df_syn_train_eng.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:800]
    path = tmp_path / "korean.csv"
    path.write_bytes(release_file("korean", rows))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    get_settings.cache_clear()
    open_database.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["init"]).exit_code == 0
        result = runner.invoke(app, ["risk", "train", "--train", str(path), "--layout", "kcs"])
        assert result.exit_code == 0, result.output
        assert "trained on 800 declarations" in result.output
    finally:
        get_settings.cache_clear()
        open_database.cache_clear()
