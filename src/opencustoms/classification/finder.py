"""The public tariff finder's view of the nomenclature: chapters by section, a code's path and children, and
suggestions from the nomenclature texts only (never the administration's model: its evidence quotes the
administration's declarations)."""

from __future__ import annotations

from typing import Any

from opencustoms.classification import service
from opencustoms.classification.errors import ClassificationInputError

MAX_QUERY_CHARS = 300  # a trader's description on the public page
SUGGESTIONS = 8


def sections(edition: str = service.DEFAULT_EDITION) -> list[dict[str, Any]]:
    """Every section with its chapters, in order: the tree's first level."""
    nom = service.edition_nomenclature(edition)
    out: dict[str, dict[str, Any]] = {}
    for entry in sorted((e for e in nom.entries.values() if e.level == 2), key=lambda e: e.code):
        section = out.setdefault(
            entry.section,
            {"code": entry.section, "text": service.section_name(entry.section) or "", "chapters": []},
        )
        section["chapters"].append({"code": entry.code, "text": entry.description})
    return list(out.values())


def find(query: str | None, code: str | None, edition: str = service.DEFAULT_EDITION) -> dict[str, Any]:
    """What the page shows: suggestions for ``query``, the path and children of ``code``, or the sections."""
    result: dict[str, Any] = {"query": (query or "").strip(), "code": (code or "").strip(), "edition": edition}
    if result["query"]:
        if len(result["query"]) > MAX_QUERY_CHARS:
            raise ClassificationInputError(
                f"the description has {len(result['query'])} characters; at most {MAX_QUERY_CHARS}", field="q"
            )
        result["suggestions"] = service.suggest_lexical([result["query"]], SUGGESTIONS, edition)[0]
    if result["code"]:
        result["explained"] = service.explain(result["code"], edition)
    if not result["query"] and not result["code"]:
        result["sections"] = sections(edition)
    return result
