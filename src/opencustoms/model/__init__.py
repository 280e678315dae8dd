"""The one data model: declarations, goods items, parties, transport, documents. Names follow the WCO Data Model;
docs/data-model.md maps each field to its WCO element."""

from opencustoms.model.declaration import (
    AdditionalDocument,
    Address,
    AEOStatus,
    Declaration,
    DeclarationType,
    GoodsItem,
    Party,
    Preference,
    Transport,
    TransportMode,
)

__all__ = [
    "AEOStatus",
    "AdditionalDocument",
    "Address",
    "Declaration",
    "DeclarationType",
    "GoodsItem",
    "Party",
    "Preference",
    "Transport",
    "TransportMode",
]
