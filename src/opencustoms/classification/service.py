"""Public face of tariff classification: HS6 suggestions for goods descriptions, and a code's path explained.

A suggestion carries the code, a confidence, its path (section › chapter › heading › subheading, with their texts) and
its evidence: the description's words found in the nomenclature texts, and, where the administration's own model made
it, the model's version. See docs/classification.md.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from opencustoms.classification.errors import ClassificationInputError
from opencustoms.classification.lexical import DEFAULT_CONFIG, LexicalConfig, LexicalSuggester, subheading_documents
from opencustoms.reference.hs import Nomenclature
from opencustoms.reference.service import bundled_nomenclature, section_name

MAX_DESCRIPTION_CHARS = 2000
MAX_TOP_K = 20
DEFAULT_EDITION = "2022"
# Temperature of the softmax that turns lexical similarities into a confidence. The lexical method has no labelled
# data to calibrate on: its confidence ranks suggestions and shows how far ahead the first is; it is not a probability.
LEXICAL_TEMPERATURE = 0.03

_lexical: dict[tuple[str, LexicalConfig], LexicalSuggester] = {}
_lock = threading.Lock()


def edition_nomenclature(edition: str = DEFAULT_EDITION) -> Nomenclature:
    nom = bundled_nomenclature(edition)
    if nom is None:
        raise ClassificationInputError(
            f"HS edition {edition} is not shipped for classification; use 2022 or 2017", field="edition"
        )
    return nom


def lexical_suggester(edition: str = DEFAULT_EDITION, config: LexicalConfig = DEFAULT_CONFIG) -> LexicalSuggester:
    """The fitted lexical suggester of an edition (fitted once per process, about a second)."""
    key = (edition, config)
    with _lock:
        if key not in _lexical:
            codes, texts = subheading_documents(edition_nomenclature(edition), context=config.context)
            _lexical[key] = LexicalSuggester(config).fit(codes, texts)
        return _lexical[key]


def check_descriptions(descriptions: list[str]) -> list[str]:
    cleaned = []
    for i, text in enumerate(descriptions):
        value = (text or "").strip()
        field = "description" if len(descriptions) == 1 else f"descriptions[{i}]"
        if not value:
            raise ClassificationInputError("the goods description is empty; describe the goods in words", field=field)
        if len(value) > MAX_DESCRIPTION_CHARS:
            raise ClassificationInputError(
                f"the goods description has {len(value)} characters; at most {MAX_DESCRIPTION_CHARS}", field=field
            )
        cleaned.append(value)
    return cleaned


def path(code: str, edition: str = DEFAULT_EDITION) -> list[dict[str, str]]:
    """Section › chapter › heading › subheading of an HS code, each with its text."""
    nom = edition_nomenclature(edition)
    lineage = nom.lineage(code)
    section = lineage[0].section
    out = [{"level": "section", "code": section, "text": section_name(section) or ""}]
    names = {2: "chapter", 4: "heading", 6: "subheading"}
    out += [{"level": names.get(e.level, str(e.level)), "code": e.code, "text": e.description} for e in lineage]
    return out


def explain(code: str, edition: str = DEFAULT_EDITION) -> dict[str, Any]:
    """A code's path and the subheadings under it (what `hs explain` prints)."""
    nom = edition_nomenclature(edition)
    value = nom.check(code, field="code")
    lineage = nom.lineage(value)
    return {
        "code": value,
        "edition": nom.edition,
        "path": path(value, edition),
        "children": [{"code": e.code, "text": e.description} for e in nom.children(lineage[-1].code)],
        "attribution": "HS descriptors: World Customs Organization; data: UN Comtrade via datasets/harmonized-system",
    }


def _softmax(row: np.ndarray, temperature: float) -> np.ndarray:
    z = (row - row.max()) / temperature
    e = np.exp(z)
    return np.asarray(e / e.sum())


def suggest_lexical(
    descriptions: list[str], top_k: int = 5, edition: str = DEFAULT_EDITION, config: LexicalConfig = DEFAULT_CONFIG
) -> list[list[dict[str, Any]]]:
    """Top-k HS6 per description from the nomenclature texts alone (no training)."""
    descriptions = check_descriptions(descriptions)
    top_k = check_top_k(top_k)
    suggester = lexical_suggester(edition, config)
    scores = suggester.scores(descriptions)
    out = []
    for text, row in zip(descriptions, scores, strict=True):
        confidence = _softmax(row, LEXICAL_TEMPERATURE)
        best = np.argsort(-row)[:top_k]
        out.append(
            [
                _suggestion(
                    str(suggester.codes_[i]),
                    float(confidence[i]),
                    float(row[i]),
                    edition,
                    "nomenclature",
                    suggester.matched_terms(text, int(i)),
                )
                for i in best
            ]
        )
    return out


def check_top_k(top_k: int) -> int:
    if not 1 <= top_k <= MAX_TOP_K:
        raise ClassificationInputError(f"top_k must be between 1 and {MAX_TOP_K}; got {top_k}", field="top_k")
    return top_k


def _suggestion(
    code: str, confidence: float, score: float, edition: str, source: str, terms: list[str], **extra: Any
) -> dict[str, Any]:
    steps = path(code, edition)
    return {
        "code": code,
        "text": steps[-1]["text"],
        "confidence": round(confidence, 4),
        "score": round(score, 4),
        "source": source,
        "path": steps,
        "evidence": {"matched_terms": terms, "matched_texts": [s["text"] for s in steps[1:]], **extra},
    }
