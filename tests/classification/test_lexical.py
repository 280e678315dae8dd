"""The lexical HS suggester: documents, scores, suggestions with their path and evidence, input errors."""

from __future__ import annotations

import numpy as np
import pytest

from opencustoms.classification import service
from opencustoms.classification.errors import ClassificationInputError
from opencustoms.classification.lexical import LexicalConfig, LexicalSuggester, subheading_documents
from opencustoms.reference.errors import InvalidCodeError


def test_context_documents_carry_heading_and_chapter_texts() -> None:
    nom = service.edition_nomenclature("2022")
    codes, texts = subheading_documents(nom, context=True)
    plain_codes, plain = subheading_documents(nom, context=False)
    assert codes == plain_codes and all(len(c) == 6 for c in codes)
    doc = texts[codes.index("610910")]
    assert "of cotton" in doc and "Apparel and clothing accessories" in doc
    assert "Apparel" not in plain[codes.index("610910")]


@pytest.mark.parametrize(
    "config",
    [LexicalConfig(), LexicalConfig(char_weight=0.0), LexicalConfig(weighting="bm25", char_weight=0.5)],
    ids=["char", "word-tfidf", "bm25+char"],
)
def test_every_variant_ranks_an_exact_wording_first(config: LexicalConfig) -> None:
    codes = ["010101", "020202", "030303"]
    texts = ["live horses for breeding", "frozen boneless bovine meat", "ball bearings of steel"]
    suggester = LexicalSuggester(config).fit(codes, texts)
    scores = suggester.scores(["frozen bovine meat, boneless", "steel ball bearings"])
    assert scores.shape == (2, 3)
    assert list(np.argmax(scores, axis=1)) == [1, 2]
    assert ((scores >= 0) & (scores <= 1 + 1e-9)).all()


def test_suggestion_has_path_confidence_and_evidence() -> None:
    [suggestions] = service.suggest_lexical(["men's knitted cotton T-shirts"], top_k=3)
    assert len(suggestions) == 3
    first = suggestions[0]
    assert first["code"] == "610910"
    assert [step["level"] for step in first["path"]] == ["section", "chapter", "heading", "subheading"]
    assert first["path"][0] == {"level": "section", "code": "XI", "text": "Textiles and textile articles"}
    assert {"knitted", "cotton"} <= set(first["evidence"]["matched_terms"])
    assert first["evidence"]["matched_texts"][-1] == first["text"]
    confidences = [s["confidence"] for s in suggestions]
    assert confidences == sorted(confidences, reverse=True) and 0 < sum(confidences) <= 1.0001


def test_batch_keeps_order() -> None:
    out = service.suggest_lexical(["frozen boneless bovine meat", "men's knitted cotton T-shirts"], top_k=5)
    assert out[0][0]["code"][:2] == "02" and out[1][0]["code"][:2] == "61"


@pytest.mark.parametrize(
    ("descriptions", "top_k", "field"),
    [
        ([""], 5, "description"),
        (["x" * 2001], 5, "description"),
        (["ok", "  "], 5, "descriptions[1]"),
        (["tea"], 0, "top_k"),
        (["tea"], 21, "top_k"),
    ],
)
def test_bad_input_names_the_field(descriptions: list[str], top_k: int, field: str) -> None:
    with pytest.raises(ClassificationInputError) as caught:
        service.suggest_lexical(descriptions, top_k=top_k)
    assert caught.value.field == field


def test_explain_prints_the_path_and_children() -> None:
    out = service.explain("6109")
    assert [s["code"] for s in out["path"]] == ["XI", "61", "6109"]
    assert {c["code"] for c in out["children"]} == {"610910", "610990"}
    with pytest.raises(InvalidCodeError) as caught:
        service.explain("6199")
    assert caught.value.field == "code"
    with pytest.raises(ClassificationInputError):
        service.explain("6109", edition="2012")
