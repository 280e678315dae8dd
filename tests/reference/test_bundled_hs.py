"""Issue #13, finding 4: the HS nomenclature ships in the package, so a new installation checks HS codes against the
edition in force without a `reference load-hs` step; `load-hs` still replaces an edition."""

from __future__ import annotations

import gzip
import io
from importlib import resources

import pytest
from pydantic import ValidationError

from conftest import sample_declaration, shared_data
from opencustoms.declarations import service as declarations
from opencustoms.reference import service as reference
from opencustoms.reference.errors import InvalidCodeError
from opencustoms.reference.hs import AGGREGATE_CODES, read_hs_csv


def test_the_package_ships_both_editions_with_their_attribution() -> None:
    data = resources.files("opencustoms.reference").joinpath("data")
    source = data.joinpath("SOURCE.md").read_text(encoding="utf-8")
    assert "ODC-PDDL-1.0" in source and "UN Comtrade" in source and "World Customs Organization" in source
    assert "datasets/harmonized-system" in source
    assert gzip.decompress(data.joinpath("sections.csv.gz").read_bytes()).decode("utf-8-sig").startswith("section,")
    counts = {e: reference.bundled_nomenclature(e).counts() for e in ("2017", "2022")}  # type: ignore[union-attr]
    assert counts["2022"] == {2: 96, 4: 1228, 6: 5612} and counts["2017"] == {2: 96, 4: 1222, 6: 5387}
    for edition in ("2017", "2022"):
        codes = reference.bundled_nomenclature(edition).entries  # type: ignore[union-attr]
        assert not AGGREGATE_CODES & set(codes)  # Comtrade's TOTAL, 99, 9999, 999999 dropped at load
    assert reference.bundled_nomenclature("1996") is None


def test_a_fresh_database_checks_hs_codes_without_load_hs(engine, operator) -> None:
    assert reference.editions(engine) == []  # nothing loaded into this database
    assert reference.available_editions(engine) == ["2017", "2022"]
    unknown = sample_declaration("LRN-X")
    unknown["goods_items"][0]["hs_code"] = "847199"  # format and chapter fine; no such subheading in HS 2022
    with pytest.raises(ValidationError, match="847199 is not in HS 2022"):
        declarations.create(engine, operator, unknown)
    # the edition in force on the acceptance date: 030510 exists in HS 2017 only
    old = sample_declaration("LRN-2017", acceptance_date="2020-06-30")
    old["goods_items"][0]["hs_code"] = "030510"
    assert declarations.create(engine, operator, old).functional_reference_id == "LRN-2017"
    new = sample_declaration("LRN-2022")
    new["goods_items"][0]["hs_code"] = "030510"
    with pytest.raises(ValidationError, match="030510 is not in HS 2022"):
        declarations.create(engine, operator, new)
    described = reference.describe_hs(engine, "8471.30")
    assert described["edition"] == "2022" and described["section"] == "XVI"
    assert described["section_name"].startswith("Machinery and mechanical appliances")
    assert reference.count_codes(engine) == {"2017": 6705, "2022": 6936}


@pytest.mark.parametrize("fast", [True, False])
def test_an_import_on_a_fresh_database_checks_hs_codes(engine, operator, fast: bool) -> None:
    from opencustoms.declarations.layouts import FlatLayout
    from opencustoms.model import Declaration

    rows = FlatLayout.to_records(Declaration.model_validate(sample_declaration("LRN-1")))
    rows[0]["hs_code"] = "847199"
    header = list(rows[0])
    text = ",".join(header) + "\n" + "\n".join(",".join(f'"{r[c] or ""}"' for c in header) for r in rows) + "\n"
    report = declarations.import_file(engine, operator, io.BytesIO(text.encode()), name="x.csv", fast=fast)
    assert report.rejected == 1 and report.problems[0].field == "hs_code"
    assert "847199 is not in HS 2022" in report.problems[0].reason


def test_load_hs_replaces_the_shipped_edition(engine, operator, tmp_path) -> None:
    path = shared_data("hs", "harmonized-system-2022.csv")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    trimmed = tmp_path / "hs-2022.csv"
    trimmed.write_text("\n".join(line for line in lines if not line.split(",")[1].startswith("8471")) + "\n")
    assert len(read_hs_csv(trimmed)) < len(read_hs_csv(path))
    reference.load_hs(engine, operator, trimmed, "2022")
    assert reference.editions(engine) == ["2022"]
    with pytest.raises(InvalidCodeError):
        reference.nomenclature(engine, "2022").check("847130")  # type: ignore[union-attr]
    assert reference.nomenclature(engine, "2017").check("847130") == "847130"  # the shipped 2017 still there


def test_pyproject_ships_the_data_files() -> None:
    """A wheel carries the shipped editions and the synonyms table: every data file matches a package-data pattern."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["opencustoms"]
    package = root / "src" / "opencustoms"
    files = [
        p.relative_to(package).as_posix()
        for folder in ("reference/data", "declarations/data")
        for p in (package / folder).iterdir()
    ]
    assert len(files) >= 5
    assert [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)] == []
