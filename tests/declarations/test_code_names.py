"""A declaration's codes by name (declarations.service.code_names): what the declaration page and the API show next
to each code, in English and French."""

from __future__ import annotations

from pathlib import Path

from conftest import sample_declaration
from opencustoms.declarations import service as declarations
from opencustoms.model import Declaration
from opencustoms.reference import service as reference
from opencustoms.wording import labels


def _declaration(**changes: object) -> Declaration:
    return Declaration.model_validate(sample_declaration(**changes))


def test_codes_by_name_in_english_and_french(engine) -> None:
    declaration = _declaration(national_extensions={"kr.import_use": "21", "xx.permit_number": "P-7"})
    english = declarations.code_names(engine, declaration, "en")
    french = declarations.code_names(engine, declaration, "fr")

    assert english["transport_mode"] == "maritime transport" and french["transport_mode"] == "transport maritime"
    assert english["document_types"] == {"861": "Certificate of origin"}
    assert french["document_types"] == {"861": "Certificat d'origine"}
    # origin, departure, itinerary, parties and the document's issuer, each named once; XX (from a national key) has
    # no name and is left out, so the page shows the code alone
    assert english["countries"] == {"CN": "China", "KR": "South Korea", "NL": "Netherlands", "SG": "Singapore"}
    assert french["countries"]["CN"] == "Chine" and french["countries"]["NL"] == "Pays-Bas"
    # the HS text of the edition in force on 2025-03-04 (the shipped HS 2022); a national code at its subheading
    assert english["hs"]["847130"]["edition"] == "2022" and english["hs"]["847130"]["lang"] == "en"
    assert english["hs"]["847130"]["text"].startswith("Automatic data processing machines; portable")
    assert english["hs"]["62034235"]["text"] == labels.hs_text("620342")
    assert french["hs"] == english["hs"]  # the nomenclature is English: French readers get it marked as such
    assert english["national"] == [
        {"key": "kr.import_use", "country": "KR", "name": "Import use", "value": "21"},
        {"key": "xx.permit_number", "country": "XX", "name": "Permit number", "value": "P-7"},
    ]
    assert french["national"][0]["name"] == "Usage de l'importation"


def test_unknown_codes_are_left_as_codes(engine) -> None:
    data = sample_declaration(acceptance_date="2019-05-01")
    data["additional_documents"][0]["type_code"] = "N935"
    data["goods_items"][0]["origin_country_code"] = "ZZ"
    del data["transport"]
    names = declarations.code_names(engine, Declaration.model_validate(data), "fr")
    assert names["transport_mode"] is None and names["document_types"] == {} and names["national"] == []
    assert names["countries"]["ZZ"] == "inconnu"
    assert names["hs"]["847130"]["edition"] == "2017"  # the edition in force in 2019


def test_a_loaded_edition_in_force_gives_its_text(engine, operator, tmp_path: Path) -> None:
    national = tmp_path / "hs-2025.csv"
    national.write_text(
        "section,hscode,description,parent,level\n"
        "XVI,84,Machinery,TOTAL,2\n"
        "XVI,8471,Computers,84,4\n"
        'XVI,847130,"Portable computers, national edition",8471,6\n',
        encoding="utf-8",
    )
    reference.load_hs(engine, operator, national, "2025")
    names = declarations.code_names(engine, _declaration(), "en")
    assert names["hs"]["847130"] == {"text": "Portable computers, national edition", "edition": "2025", "lang": "en"}
    # a code the edition in force lacks falls back to the shipped text, with no edition named
    assert names["hs"]["62034235"] == {"text": labels.hs_text("620342"), "edition": None, "lang": "en"}
    before = declarations.code_names(engine, _declaration(acceptance_date="2024-12-31"), "en")
    assert before["hs"]["847130"]["edition"] == "2022"
