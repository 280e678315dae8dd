"""Interface strings in English and French, with room for more languages.

A small gettext-like catalogue: the English text is the message id; each other language maps it to its
translation (``%(name)s`` placeholders are filled after translating). A test checks that every message the templates
and pages use has a translation in every language, and that no translation is left over. To add a language, add
its catalogue module-level dict below and its code to ``LANGUAGES``.
"""

from __future__ import annotations

from typing import Any

from opencustoms import wording
from opencustoms.web.catalogue_fr import FR

LANGUAGES = wording.LANGUAGES
CATALOGUES: dict[str, dict[str, str]] = {"en": {}, "fr": FR}


def gettext(lang: str, message: str, **values: Any) -> str:
    text = CATALOGUES.get(lang, {}).get(message, message)
    return text % values if values else text


def format_number(lang: str, value: Any, decimals: int | None = None) -> str:
    """``value`` written the way readers of ``lang`` write numbers (:func:`opencustoms.wording.number`)."""
    return wording.number(lang, value, decimals)


localise_percent = wording.localise_percent


negotiate = wording.negotiate


# Messages shown through a variable (``_(outcome)``), which a scan of the templates cannot find.
DYNAMIC_MESSAGES = (
    # the exchange page: a received record's match status and method (opencustoms.exchange.service)
    "matched",
    "unmatched",
    "not_declared",
    "ucr",
    "fraud",
    "compliant",
    "declarant",
    "importer",
    "exporter",
    "seller",
    "carrier",
    "certified",
    "suspended",
    "revoked",
    "reinstated",
    "integrity",
    "status",
    "identity",
    "plate_mismatch",
    "plate_confusable",
    "unexpected_vehicle",
    "container_not_declared",
    "container_number_ambiguous",
    "container_number_unreadable",
    "low_confidence_read",
    "radiation_alarm",
    "under",
    "over",
    # the queue: statuses and score bands (opencustoms.risk.service.QUEUE_STATUSES, opencustoms.risk.scores.BANDS)
    "awaiting",
    "inspected",
    "released",
    "any",
    "very high",
    "high",
    "medium",
    "low",
    # what a signal is about (opencustoms.signals.SubjectType; "vehicle" is translated for the gate pages)
    "declaration",
    "party",
    "container",
    "certificate",
    "document",
    "vessel",
    "administration",
    # the declaration's type (opencustoms.model.DeclarationType)
    "import",
    "export",
    "transit",
    # AIS ship types in words (opencustoms.iot.service.SHIP_TYPE_NAMES)
    "Anti-pollution vessel",
    "Cargo ship",
    "Dredger",
    "Diving vessel",
    "Fishing vessel",
    "High-speed craft",
    "Law enforcement vessel",
    "Medical transport",
    "Military vessel",
    "Other type of ship",
    "Passenger ship",
    "Pilot vessel",
    "Pleasure craft",
    "Port tender",
    "Sailing vessel",
    "Search and rescue vessel",
    "Tanker",
    "Tug",
    "Wing in ground craft",
)
