"""Issue #13, finding 2: files with their own columns import through a mapping (TOML), and `--suggest-map` proposes
one. The two worked examples of docs/import-export.md, generated here: an ASYCUDA-like export and a spreadsheet with
French headers, decimal commas and dates written 31/12/2024."""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opencustoms.declarations import service
from opencustoms.declarations.mapping import MappingError, decimal_comma_number, read_mapping, suggest_mapping
from opencustoms.declarations.repository import SearchFilters
from opencustoms.model import Declaration

ASYCUDA_HEADER = [
    "Office_code", "Reg_number", "Reg_date", "Declarant_code", "Consignee_code", "Item_nbr", "HS_code",
    "Description", "Origin_country", "Export_country", "Mode_of_transport", "Statistical_value", "Currency",
    "Net_mass", "Gross_mass",
]  # fmt: skip
FRENCH_HEADER = [
    "Date de dépôt", "Bureau", "Importateur", "Code SH", "Pays d'origine", "Valeur en douane (EUR)",
    "Masse nette (kg)",
]  # fmt: skip


def asycuda_rows(n: int = 40) -> list[list[str]]:
    rows = []
    for i in range(n):
        for item in (1, 2):  # two goods items per declaration, the declaration's columns repeated
            rows.append([
                "NLRTM01", f"2024-R-{i:06d}", f"2024-12-{1 + i % 28:02d}", "D1000001", f"C{2000000 + i % 7}",
                str(item), ("847130", "610910", "090111")[(i + item) % 3], "goods", ("CN", "VN", "BR")[i % 3],
                ("CN", "SG", "BR")[i % 3], ("SEA", "AIR", "ROAD")[i % 3], f"{1000 + i * 17.25:.2f}", "USD",
                f"{10 + i * 0.5:.1f}", f"{12 + i * 0.5:.1f}",
            ])  # fmt: skip
    return rows


def french_rows(n: int = 40) -> list[list[str]]:
    origins = ("CN", "Chine", "Allemagne", "DE", "Viet Nam")
    return [
        [
            f"{1 + i % 28:02d}/12/2024",
            "FR000730",
            f"FR{12345678900 + i % 5}",
            ("8471.30", "6109.10", "0901.11")[i % 3],
            origins[i % 5],
            f"{1 + i} {234 + i},{i % 100:02d}",
            f"{12 + i},5",
        ]  # fmt: skip
        for i in range(n)
    ]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _write(tmp_path: Path, name: str, header: list[str], rows: list[list[str]]) -> Path:
    path = tmp_path / name
    path.write_bytes(_csv(header, rows))
    return path


def test_asycuda_export_suggested_mapping_imports_as_is(engine, operator, tmp_path: Path, pseudonymiser) -> None:
    path = _write(tmp_path, "asycuda.csv", ASYCUDA_HEADER, asycuda_rows())
    text = service.suggest_mapping(path)
    mapping = tomllib.loads(text)
    assert mapping["columns"] == {
        "Office_code": "declaration_office_id",
        "Reg_number": "functional_reference_id",
        "Reg_date": "acceptance_date",
        "Declarant_code": "declarant_id",
        "Consignee_code": "importer_id",
        "Item_nbr": "sequence_number",
        "HS_code": "hs_code",
        "Description": "description",
        "Origin_country": "origin_country_code",
        "Export_country": "departure_country_code",
        "Mode_of_transport": "transport_mode_code",
        "Statistical_value": "customs_value_amount",
        "Currency": "customs_value_currency",
        "Net_mass": "net_mass_kg",
        "Gross_mass": "gross_mass_kg",
    }
    assert mapping["fixed"] == {"type_code": "import"}
    assert mapping["codes"]["transport_mode_code"] == {"AIR": "4", "ROAD": "3", "SEA": "1"}
    assert mapping["options"] == {}  # ISO dates and decimal points need no option
    report = service.import_file(engine, operator, path, mapping=read_mapping(text))
    assert (report.accepted, report.rejected, report.problems) == (40, 0, [])
    assert report.references_generated == 0 and report.layout == "mapped"
    stored, _ = service.get(engine, operator, "2024-R-000001", pseudonymiser)
    assert stored.transport is not None and stored.transport.mode_code.value == "4"  # AIR
    assert [g.sequence_number for g in stored.goods_items] == [1, 2]
    assert str(stored.goods_items[0].customs_value_amount) == "1017.25"


def test_french_spreadsheet_with_decimal_commas_and_day_first_dates(
    engine, operator, tmp_path: Path, pseudonymiser
) -> None:
    path = _write(tmp_path, "declarations.csv", FRENCH_HEADER, french_rows())
    text = service.suggest_mapping(path)
    mapping = tomllib.loads(text)
    assert mapping["columns"] == {
        "Date de dépôt": "acceptance_date",
        "Bureau": "declaration_office_id",
        "Importateur": ["importer_id", "declarant_id"],  # no declarant column: the importer declares
        "Code SH": "hs_code",
        "Pays d'origine": "origin_country_code",
        "Valeur en douane (EUR)": "customs_value_amount",
        "Masse nette (kg)": "net_mass_kg",
    }
    assert mapping["fixed"] == {"customs_value_currency": "EUR", "type_code": "import"}  # EUR from the header
    assert mapping["options"] == {"date_format": "%d/%m/%Y", "decimal_comma": True}
    assert mapping["codes"]["origin_country_code"] == {"Allemagne": "DE", "Chine": "CN", "Viet Nam": "VN"}
    report = service.import_file(engine, operator, path, mapping=read_mapping(text))
    assert (report.accepted, report.rejected, report.problems) == (40, 0, [])
    assert report.references_generated == 40  # no reference column: one computed per row
    stored = service.search(engine, operator, SearchFilters(), pseudonymiser, limit=100).items
    assert len(stored) == 40 and all(d.functional_reference_id.startswith("ROW-") for d in stored)
    again = service.import_file(engine, operator, path, mapping=read_mapping(text))
    assert (again.accepted, again.already_stored) == (0, 40)
    page = service.search(engine, operator, SearchFilters(), pseudonymiser, limit=100)
    by_value = {str(d.goods_items[0].customs_value_amount): d for d in page.items}
    first: Declaration = by_value["1234.00"]
    assert first.acceptance_date.isoformat() == "2024-12-01" and first.goods_items[0].hs_code == "847130"
    assert first.goods_items[0].net_mass_kg == 12.5 and first.goods_items[0].customs_value_currency == "EUR"
    assert by_value["2235.01"].goods_items[0].origin_country_code == "CN"  # "Chine"


def test_mapping_errors_name_the_mapping_key_and_the_files_column(engine, operator, tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="did you mean 'acceptance_date'") as info:
        read_mapping('[columns]\n"Date de dépôt" = "acceptance_dat"\n')
    assert info.value.field == 'columns."Date de dépôt"'
    with pytest.raises(MappingError, match="is not a section") as info:
        read_mapping("[column]\n")
    with pytest.raises(MappingError, match="options.date_format"):
        read_mapping('[options]\ndate_format = "dd/mm/yyyy"\n')
    with pytest.raises(MappingError, match="not valid TOML"):
        read_mapping("[columns\n")
    path = _write(tmp_path, "f.csv", FRENCH_HEADER, french_rows(3))
    good = service.suggest_mapping(path)
    with pytest.raises(
        MappingError, match="the file has no column 'Pays origine'.*did you mean \"Pays d'origine\""
    ) as info:
        service.import_file(
            engine, operator, path, mapping=read_mapping(good.replace('"Pays d\'origine" =', '"Pays origine" ='))
        )
    assert info.value.field == 'columns."Pays origine"'
    with pytest.raises(MappingError, match="gives no value for customs_value_currency"):
        service.import_file(
            engine, operator, path, mapping=read_mapping(good.replace("customs_value_currency =", "# "))
        )
    rows = french_rows(3)
    rows[0][0] = "2024-12-31"  # not the mapping's date format
    rows[1][4] = "Atlantide"  # a country name the mapping does not translate
    rows[2][5] = "beaucoup"
    report = service.import_file(
        engine, operator, _write(tmp_path, "g.csv", FRENCH_HEADER, rows), mapping=read_mapping(good)
    )
    found = {p.row: p for p in report.problems}
    assert report.rejected == 3
    assert found[2].field == "Date de dépôt" and "options.date_format" in found[2].reason
    assert found[3].field == "Pays d'origine" and "'Atlantide' is not an ISO 3166-1" in found[3].reason
    assert found[4].field == "Valeur en douane (EUR)" and found[4].reason.startswith("'beaucoup' is not an amount")


def test_decimal_comma_numbers() -> None:
    assert decimal_comma_number("1 234,56") == "1234.56"
    assert decimal_comma_number("1.234,56") == "1234.56"
    assert decimal_comma_number("1\u202f234,5") == "1234.5"
    assert decimal_comma_number("12") == "12"


def test_suggestion_marks_what_it_cannot_find() -> None:
    text = suggest_mapping(["Colonne X", "Montant"], [{"Colonne X": "abc", "Montant": "12.50"}])
    data = tomllib.loads(text)
    assert data["columns"] == {"Montant": "customs_value_amount"}  # by the shape of its values
    assert '# "Colonne X" = ""  # not recognised' in text
    assert data["fixed"]["hs_code"] == "" and "REQUIRED" in text


def test_cli_suggest_map_then_import_with_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opencustoms.cli import app
    from opencustoms.config import get_settings
    from opencustoms.store.database import open_database

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "FR")
    get_settings.cache_clear()
    open_database.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["init"]).exit_code == 0
        path = _write(tmp_path, "decl.csv", FRENCH_HEADER, french_rows(10))
        printed = runner.invoke(app, ["import", str(path), "--suggest-map"])
        assert printed.exit_code == 0 and '"Code SH" = "hs_code"' in printed.output
        result = runner.invoke(app, ["import", str(path), "--suggest-map", "--output", "mapping.toml"])
        assert result.exit_code == 0 and (tmp_path / "mapping.toml").read_text() == printed.output
        result = runner.invoke(app, ["import", str(path), "--map", "mapping.toml"])
        assert result.exit_code == 0, result.output
        assert "10 imported, 0 already stored, 0 rejected, 10 references generated" in result.output
        result = runner.invoke(app, ["import", "--help"])
        assert "--suggest-map" in result.output and "--map" in result.output
    finally:
        get_settings.cache_clear()
        open_database.cache_clear()


def test_every_import_option_has_help_text() -> None:
    import typer.main

    from opencustoms.cli import app

    command = typer.main.get_command(app).commands["import"]  # type: ignore[attr-defined]
    assert [p.name for p in command.params if not getattr(p, "help", None)] == []
