"""The demo generator's tables are data files (``opencustoms/demo/data/*.toml``) that ship in the wheel."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

from opencustoms.demo import generator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "opencustoms" / "demo" / "data"


def test_every_data_file_is_read_and_ships_in_the_wheel() -> None:
    assert sorted(p.stem for p in DATA.glob("*.toml")) == sorted(generator.DATA_FILES)
    assert sorted(p.name for p in DATA.iterdir() if p.suffix != ".toml") == []
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["opencustoms"]
    files = [p.relative_to(DATA.parents[1]).as_posix() for p in DATA.iterdir()]
    assert [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)] == []


def test_data_is_read_once_with_arrays_as_tuples() -> None:
    first = generator.load_data("catalogue")
    assert generator.load_data("catalogue") is first  # cached
    assert len(first["goods"]) == len(generator.CATALOGUE) == 114
    assert isinstance(generator.CATALOGUE[0].descriptions, tuple)
    assert isinstance(generator.SEA_PORTS["CN"], tuple) and isinstance(generator.AIRLINES["CN"][0], tuple)
    with pytest.raises(ValueError, match="no demo data file 'tariff'"):
        generator.load_data("tariff")


def test_tables_keep_their_shapes() -> None:
    assert generator.TRADE_DEFENCE[("871200", "CN")] == 48.5
    assert generator.PREFERENCES_EU["TR"] == ("300", "EU-Turkey Customs Union", "cu")
    assert generator.SERVICE_OF["DJ"] == "ISC" and generator.TRANSHIPMENT_HUBS["EU"] == ()
    assert generator.SELLER_HUBS["CN"] == ("HK", 0.12)
    assert generator._FLAGS[0] == ("PA", (351, 352, 353, 354, 355, 356, 357, 370, 371, 372, 373), 18)
    assert len(generator.EU27) == 27 and generator._EUROZONE < generator.EU27 < generator._EUROPE_ROAD
    assert generator._DOMESTIC["NL"][0] == "B.V." and generator._DOMESTIC_DEFAULT[2] == "5d"
    for good in generator.CATALOGUE:
        assert all(isinstance(v, float) for v in (good.unit_price, good.lot, good.air_share, good.packing))
        assert good.origins and all(isinstance(w, float) for _, w in good.origins)


def test_a_catalogue_entry_with_a_misspelt_or_missing_field_is_refused() -> None:
    entry = dict(generator.load_data("catalogue")["goods"][0])
    assert generator._good(entry) == generator.CATALOGUE[0]
    with pytest.raises(ValueError, match="goods 847130: unknown field air_shar"):
        generator._good({**entry, "air_shar": 0.5})
    without_lot = {k: v for k, v in entry.items() if k != "lot"}
    with pytest.raises(ValueError, match="missing field lot"):
        generator._good(without_lot)
