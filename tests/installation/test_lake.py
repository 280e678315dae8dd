"""`opencustoms export --lake DIR` (issue #16, the lake): Parquet partitioned by acceptance date, incremental, crash
safe, with its schema, and no personal data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import sample_declaration
from opencustoms.declarations import service as declarations
from opencustoms.installation import lake
from opencustoms.installation import service as installation
from opencustoms.installation.errors import LakeError
from opencustoms.risk import service as risk

TABLES = ("declarations", "goods_items", "inspection_results", "decisions", "signals")


def read(directory: Path, table: str) -> pl.DataFrame:
    return pl.scan_parquet(directory / table / "**" / "*.parquet", hive_partitioning=True).collect()


def _store(platform: Any, operator: Any, references: list[str], month: str = "2025-03-10") -> None:
    for reference in references:
        declarations.create(platform.engine, operator, sample_declaration(reference, acceptance_date=month))


@pytest.fixture
def platform(engine, database_url, tmp_path):  # type: ignore[no-untyped-def]
    from opencustoms.config import Settings
    from opencustoms.context import Platform

    return Platform(Settings(database_url=database_url, data_dir=tmp_path))


def test_the_lake_holds_every_table_partitioned_and_pseudonymised(platform, operator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _store(platform, operator, ["LRN-L1", "LRN-L2"], "2025-03-10")
    _store(platform, operator, ["LRN-L3"], "2025-04-02")
    risk.record_inspection(platform.engine, operator, "LRN-L1", "fraud", 120.0)
    risk.score_backlog(platform, operator, scope="all")
    out = tmp_path / "lake"
    run = installation.export_lake(platform, operator, out)
    assert run["rows"]["declarations"] == 3 and run["rows"]["inspection_results"] == 1
    assert run["rows"]["decisions"] >= 2 and run["rows"]["goods_items"] >= 3
    heads = read(out, "declarations")
    assert sorted(heads["functional_reference_id"].to_list()) == ["LRN-L1", "LRN-L2", "LRN-L3"]
    assert sorted(set(zip(heads["year"].to_list(), heads["month"].to_list(), strict=True))) == [(2025, 3), (2025, 4)]
    assert (out / "declarations" / "year=2025" / "month=4").is_dir()
    items = read(out, "goods_items")
    stored = declarations.get(platform.engine, operator, "LRN-L1", platform.pseudonymiser)[0]
    first = items.filter(pl.col("functional_reference_id") == "LRN-L1").sort("sequence_number").row(0, named=True)
    assert first["hs_code"] == stored.goods_items[0].hs_code
    assert first["customs_value_amount"] == float(stored.goods_items[0].customs_value_amount)
    assert read(out, "inspection_results")["outcome"].to_list() == ["fraud"]
    # parties as the risk engine's pseudonyms; no name, address or trader id anywhere in the lake
    assert heads["importer_id"].str.starts_with("p_").all()
    trader = stored.importer.id if stored.importer else ""
    party = sample_declaration("X")["importer"]
    raw = b"".join(p.read_bytes() for p in out.rglob("*.parquet"))
    for secret in {party["id"], party["name"], party["address"]["line"], trader} - {""}:
        assert secret.encode() not in raw, secret
    described = json.loads((out / "_SCHEMA.json").read_text())
    assert set(described["tables"]) == set(TABLES)
    for table in ("declarations", "goods_items", "decisions"):
        columns = [c[0] for c in described["tables"][table]["columns"]]
        assert read(out, table).columns == [*columns, "year", "month"]


def test_each_run_appends_only_what_changed(platform, operator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lake"
    _store(platform, operator, ["LRN-A1", "LRN-A2"])
    assert installation.export_lake(platform, operator, out)["rows"]["declarations"] == 2
    again = installation.export_lake(platform, operator, out)
    assert again["rows"] == dict.fromkeys(again["rows"], 0)
    _store(platform, operator, ["LRN-A3"])
    risk.record_inspection(platform.engine, operator, "LRN-A1", "compliant")
    third = installation.export_lake(platform, operator, out)
    assert third["rows"]["declarations"] == 1 and third["rows"]["inspection_results"] == 1
    assert sorted(read(out, "declarations")["functional_reference_id"].to_list()) == ["LRN-A1", "LRN-A2", "LRN-A3"]
    state = json.loads((out / lake.STATE).read_text())
    assert [r["run"] for r in state["runs"]] == [run["run"] for run in (state["runs"][0], state["runs"][1], third)]


def test_a_run_killed_half_way_is_exported_again_not_twice(platform, operator, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lake"
    _store(platform, operator, ["LRN-K1"])
    installation.export_lake(platform, operator, out)
    _store(platform, operator, ["LRN-K2", "LRN-K3"])
    writes = []
    real = lake._write_chunk

    def dies_after_the_first_file(directory: Path, table: str, rows: list, run: str, chunk: int) -> None:  # type: ignore[type-arg]
        real(directory, table, rows, run, chunk)
        writes.append(table)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(lake, "_write_chunk", dies_after_the_first_file)
    with pytest.raises(KeyboardInterrupt):
        installation.export_lake(platform, operator, out)
    monkeypatch.setattr(lake, "_write_chunk", real)
    assert writes == ["declarations"]  # a file of an unfinished run is on disk
    run = installation.export_lake(platform, operator, out)
    assert run["removed_unfinished_files"] >= 1 and run["rows"]["declarations"] == 2
    references = read(out, "declarations")["functional_reference_id"].to_list()
    assert sorted(references) == ["LRN-K1", "LRN-K2", "LRN-K3"]  # none twice, none lost


def test_a_damaged_state_is_refused_naming_the_lake(platform, operator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lake"
    out.mkdir()
    (out / lake.STATE).write_text("{not json")
    with pytest.raises(LakeError) as refused:
        installation.export_lake(platform, operator, out)
    assert refused.value.field == "lake" and "_STATE.json" in refused.value.message


def test_the_cli_appends_to_the_lake(platform, operator, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from opencustoms.cli import app

    _store(platform, operator, ["LRN-C1"])
    import importlib

    monkeypatch.setattr(importlib.import_module("opencustoms.cli.main"), "_platform", lambda: platform)
    out = tmp_path / "lake"
    result = CliRunner().invoke(app, ["export", "--lake", str(out)])
    assert result.exit_code == 0, result.output
    assert "declarations 1" in result.output
    assert read(out, "declarations")["functional_reference_id"].to_list() == ["LRN-C1"]
    both = CliRunner().invoke(app, ["export", str(tmp_path / "x.csv"), "--lake", str(out)])
    assert both.exit_code == 2


def test_a_database_not_initialised_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A platform error met before a command's own handling (here: opening the database to find the operator)
    is printed by the `opencustoms` entry point as one line with exit code 1."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "OPENCUSTOMS_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
        "OPENCUSTOMS_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "opencustoms.cli", "export", "--lake", str(tmp_path / "lake")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "opencustoms init" in done.stderr
