"""Documentation stays true: every setting documented, every flat column documented."""

from __future__ import annotations

from pathlib import Path

from opencustoms.config import Settings
from opencustoms.declarations.layouts import FLAT_COLUMNS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "operations.md").read_text()
    for name in Settings.model_fields:
        assert f"`OPENCUSTOMS_{name.upper()}`" in text, f"OPENCUSTOMS_{name.upper()} is not in docs/operations.md"


def test_every_flat_column_is_documented() -> None:
    text = (DOCS / "import-export.md").read_text()
    for column in FLAT_COLUMNS:
        assert f"| `{column}` |" in text, f"flat column {column} is not in docs/import-export.md"


def test_every_model_field_is_in_the_data_model_doc() -> None:
    from opencustoms import model

    text = (DOCS / "data-model.md").read_text()
    for cls in (
        model.Declaration,
        model.GoodsItem,
        model.Party,
        model.Address,
        model.Transport,
        model.AdditionalDocument,
        model.Preference,
    ):
        for name in cls.model_fields:
            assert f"`{name}`" in text, f"{cls.__name__}.{name} is not in docs/data-model.md"
