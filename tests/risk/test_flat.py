"""The flat import layout (one row per goods item) read by the risk engine: `read_frame(path, "flat")`."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from opencustoms.cli import app
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.declarations.layouts import FLAT_COLUMNS, FlatLayout
from opencustoms.demo.generator import generate
from opencustoms.model import Declaration
from opencustoms.risk.errors import RiskDataError
from opencustoms.risk.frame import from_declarations, read_frame


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    declarations = [Declaration.model_validate(data) for data, _ in generate(60, seed=5, country="NL")]
    rows = [r for d in declarations for r in FlatLayout.to_records(d)]
    assert len(rows) > len(declarations)  # some declarations have several goods items
    path = tmp_path_factory.mktemp("flat") / "declarations.csv"
    pl.DataFrame(rows, schema={c: pl.Utf8 for c in FLAT_COLUMNS}, strict=False).write_csv(path)
    return path, from_declarations(d.model_dump(mode="json") for d in declarations)


def test_flat_csv_and_parquet_read_as_from_declarations(flat: tuple[Path, pl.DataFrame]) -> None:
    path, expected = flat
    assert_frame_equal(read_frame(path, "flat"), expected, check_exact=False, rel_tol=1e-9)
    parquet = path.with_suffix(".parquet")
    numbers = ("customs_value_amount", "net_mass_kg", "duty_rate", "duty_tax_amount")  # typed, codes stay text
    pl.read_csv(path, infer_schema=False).with_columns(pl.col(numbers).cast(pl.Float64)).write_parquet(parquet)
    assert_frame_equal(read_frame(parquet, "flat"), expected, check_exact=False, rel_tol=1e-9)


def test_flat_file_without_a_required_column_is_refused(flat: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    path, _ = flat
    broken = tmp_path / "broken.csv"
    pl.read_csv(path, infer_schema=False).drop("hs_code").write_csv(broken)
    with pytest.raises(RiskDataError, match="hs_code missing") as caught:
        read_frame(broken, "flat")
    assert caught.value.field == "hs_code"


def test_cli_scores_a_flat_file(flat, engine, database_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path, expected = flat
    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path))
    monkeypatch.setattr("opencustoms.cli.risk._platform", lambda: platform)
    out = tmp_path / "decisions.parquet"
    result = CliRunner().invoke(app, ["risk", "score", str(path), "--layout", "flat", "--output", str(out)])
    assert result.exit_code == 0, result.output
    decisions = pl.read_parquet(out)
    assert decisions["reference"].to_list() == expected["reference"].to_list()
    assert (decisions["reasons"].list.len() > 0).all()


def test_a_scored_file_can_carry_its_reasons_as_sentences(flat, engine, database_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`risk score FILE --output lanes.csv --lang fr`: each decision also with its reasons said in French (the
    export an analyst hands on), the engine's reasons kept beside them."""
    import csv

    path, expected = flat
    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path))
    monkeypatch.setattr("opencustoms.cli.risk._platform", lambda: platform)
    out = tmp_path / "decisions.csv"
    result = CliRunner().invoke(
        app, ["risk", "score", str(path), "--layout", "flat", "--output", str(out), "--lang", "fr"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["reference"] for r in rows] == expected["reference"].to_list()
    assert all(r["explanation"] and r["top_reason"] for r in rows)
    assert any("Mainlevée" in r["explanation"] or "voie" in r["explanation"] for r in rows)
    refused = CliRunner().invoke(app, ["risk", "score", "--backlog", "--lang", "fr"])
    assert refused.exit_code == 2
