from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from conftest import sample_declaration
from opencustoms.model import Declaration


def errors_of(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Declaration.model_validate(data)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in info.value.errors()]


def test_sample_is_valid_and_normalised() -> None:
    d = Declaration.model_validate(sample_declaration())
    assert d.goods_items[1].hs_code == "62034235"
    assert d.importer is not None and d.importer.country_code == "NL"  # taken from the address
    assert str(d.total_customs_value) == "51000.00"
    assert set(d.parties()) == {"declarant", "importer", "seller"}


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        (("goods_items", 0, "hs_code"), "84713", "goods_items.0.hs_code", "not an HS code"),
        (("goods_items", 0, "hs_code"), "770000", "goods_items.0.hs_code", "chapter 77"),
        (("goods_items", 0, "origin_country_code"), "XX", "goods_items.0.origin_country_code", "ISO 3166-1"),
        (("goods_items", 0, "customs_value_currency"), "EURO", "goods_items.0.customs_value_currency", "ISO 4217"),
        (("goods_items", 0, "customs_value_amount"), "-5", "goods_items.0.customs_value_amount", "greater than"),
        (("transport", "container_ids", 0), "MSCU1234567", "transport.container_ids.0", "should be 6"),
        (("transport", "vessel_imo"), "9811001", "transport.vessel_imo", "check digit"),
        (("transport", "loading_location"), "CN-SZX1", "transport.loading_location", "UN/LOCODE"),
        (("goods_items", 0, "net_mass_kg"), "inf", "goods_items.0.net_mass_kg", "finite number"),
        (("goods_items", 0, "gross_mass_kg"), "NaN", "goods_items.0.gross_mass_kg", "finite number"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(path: tuple, value: str, field: str, words: str) -> None:
    data = copy.deepcopy(sample_declaration())
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    found = errors_of(data)
    assert any(loc == field and words in msg for loc, msg in found), found


def test_missing_required_field() -> None:
    data = sample_declaration()
    del data["declarant"]
    assert ("declarant", "Field required") in errors_of(data)


def test_import_needs_an_importer() -> None:
    data = sample_declaration()
    del data["importer"]
    assert any("importer is required" in msg for _, msg in errors_of(data))


def test_preference_must_point_at_a_listed_document() -> None:
    data = sample_declaration()
    data["goods_items"][1]["preference"]["proving_document_id"] = "COO-MISSING"
    assert any("not among additional_documents" in msg for _, msg in errors_of(data))


def test_net_mass_cannot_exceed_gross_mass() -> None:
    data = sample_declaration()
    data["goods_items"][0]["net_mass_kg"] = 999.0
    assert any("exceeds gross mass" in msg for _, msg in errors_of(data))


def test_duplicate_item_numbers_and_unknown_fields_are_refused() -> None:
    data = sample_declaration()
    data["goods_items"][1]["sequence_number"] = 1
    assert any("unique" in msg for _, msg in errors_of(data))
    data = sample_declaration(colour="red")
    assert ("colour", "Extra inputs are not permitted") in errors_of(data)


def test_national_extensions_are_namespaced() -> None:
    assert Declaration.model_validate(sample_declaration(national_extensions={"kr.import_use": "21"}))
    assert errors_of(sample_declaration(national_extensions={"import use": "21"}))


def test_hs_code_checked_against_a_nomenclature_in_context() -> None:
    from opencustoms.reference.hs import HSEntry, Nomenclature

    nomenclature = Nomenclature(
        "2022",
        [
            HSEntry("84", "machines", None, 2, "XVI"),
            HSEntry("8471", "computers", "84", 4, "XVI"),
            HSEntry("847130", "portable", "8471", 6, "XVI"),
        ],
    )
    data = sample_declaration()
    data["goods_items"] = data["goods_items"][:1]
    assert Declaration.model_validate(data, context={"nomenclature": nomenclature})
    data["goods_items"][0]["hs_code"] = "847141"
    with pytest.raises(ValidationError, match="847141 is not in HS 2022"):
        Declaration.model_validate(data, context={"nomenclature": nomenclature})


def test_json_schema_has_wco_names() -> None:
    schema = Declaration.model_json_schema()
    assert "functional_reference_id" in schema["properties"]
    assert "GoodsItem" in schema["$defs"]


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        (("importer", "name"), ("importer", "name")),
        (("importer", "address", "line"), ("importer", "address", "line")),
        (("importer", "address", "city_name"), ("importer", "address", "city_name")),
        (("importer", "address", "postcode_id"), ("importer", "address", "postcode_id")),
        (("goods_items", 0, "description"), ("goods_items", 0, "description")),
        (("goods_items", 0, "duty_regime_code"), ("goods_items", 0, "duty_regime_code")),
        (("declaration_office_id",), ("declaration_office_id",)),
        (("transport", "id"), ("transport", "id")),
        (("national_extensions", "nl.note"), ("national_extensions", "nl.note")),
    ],
)
def test_nul_is_refused_in_every_text_field_by_name(path: tuple, loc: tuple) -> None:
    """Issue #12, defect 11: a NUL in a party name was accepted (and stored on SQLite; PostgreSQL refuses it)."""
    data = sample_declaration()
    data.setdefault("transport", {"mode_code": "1"})
    data.setdefault("national_extensions", {})
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "AB\x00C"
    with pytest.raises(ValidationError) as refused:
        Declaration.model_validate(data)
    errors = [e for e in refused.value.errors() if e["loc"] == loc]
    assert errors and "NUL" in errors[0]["msg"], refused.value.errors()
