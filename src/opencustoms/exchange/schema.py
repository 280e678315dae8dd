"""The message one administration sends another for each export declaration: a documented, versioned subset of
the WCO Data Model (docs/exchange.md maps every field to its WCO class).

Version ``opencustoms.exchange.export/1``. A message is the envelope (:class:`ExchangeMessage`: id, sender,
receiver, time of issue) around one :class:`ExportRecord`. What a partner receives beyond the always-sent core
(the export declaration's reference, its acceptance date, each goods item's sequence number and HS6) is what the
agreement with that partner names, by the groups of :data:`FIELD_GROUPS` (data minimisation): a field outside
them is sent as null. Unknown fields are refused (``extra="forbid"``): a receiver of an older version refuses a
newer message rather than silently dropping what it does not understand.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opencustoms.model.declaration import (
    ContainerNumber,
    CountryCode,
    CurrencyCode,
    Identifier,
    ImoNumber,
    LocationCode,
    Text,
    TradeCountryCode,
    TransportMode,
)

SCHEMA: Literal["opencustoms.exchange.export/1"] = "opencustoms.exchange.export/1"

# group -> (what it carries, in words). The core below is always sent; each group is sent only when the agreement
# with the receiving partner names it.
FIELD_GROUPS: dict[str, str] = {
    "ucr": "the Unique Consignment Reference (WCO DM UCR)",
    "exporter": "the exporter's identifier and country",
    "exporter.name": "the exporter's name (personal data)",
    "consignee": "the consignee's identifier and country",
    "consignee.name": "the consignee's name (personal data)",
    "transport": "the border transport means: mode, identity, vessel IMO, places of loading and unloading",
    "containers": "the transport equipment (ISO 6346 container numbers)",
    "goods.description": "each goods item's description",
    "goods.quantity": "each goods item's quantity and unit",
    "goods.net_mass": "each goods item's net mass in kilograms",
    "goods.value": "each goods item's statistical (FOB) value and its currency",
    "goods.origin": "each goods item's country of origin",
}
CORE = ("message_id", "sender", "receiver", "issued_at", "functional_reference_id", "acceptance_date", "hs6")
# what a new agreement sends unless told otherwise: everything but the parties' names
DEFAULT_FIELDS = tuple(g for g in FIELD_GROUPS if not g.endswith(".name"))

Code = Annotated[str, Field(pattern=r"^[A-Z]{2,8}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ExchangedParty(_Model):
    """WCO DM Exporter / Consignee: identification, name, country."""

    id: Identifier | None = None
    name: Text | None = None
    country_code: CountryCode | None = None


class ExchangedTransport(_Model):
    """WCO DM BorderTransportMeans, with the places of loading and unloading."""

    mode_code: TransportMode | None = None
    id: Annotated[str, Field(max_length=35)] | None = None
    vessel_imo: ImoNumber | None = None
    loading_location: LocationCode | None = None
    unloading_location: LocationCode | None = None


class ExchangedGoodsItem(_Model):
    """WCO DM GovernmentAgencyGoodsItem: classification (HS6), measures, statistical value, origin."""

    sequence_number: int = Field(ge=1, le=9999)
    hs6: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    description: Text | None = None
    quantity: float | None = Field(default=None, ge=0)
    quantity_unit: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$")] | None = None
    net_mass_kg: float | None = Field(default=None, ge=0)
    value_amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)] | None = Field(
        default=None, description="The statistical value at the exporting border (FOB)."
    )
    value_currency: CurrencyCode | None = None
    origin_country_code: TradeCountryCode | None = None


class ExportRecord(_Model):
    """One export declaration as the exporting administration accepted it."""

    functional_reference_id: Identifier = Field(description="The export declaration's reference (LRN / MRN).")
    acceptance_date: dt.date
    ucr: Annotated[str, Field(min_length=1, max_length=35)] | None = None
    export_country_code: CountryCode
    destination_country_code: CountryCode | None = None
    exporter: ExchangedParty | None = None
    consignee: ExchangedParty | None = None
    transport: ExchangedTransport | None = None
    container_ids: list[ContainerNumber] | None = Field(default=None, max_length=999)
    goods_items: list[ExchangedGoodsItem] = Field(min_length=1, max_length=999)


class ExchangeMessage(_Model):
    schema_: Literal["opencustoms.exchange.export/1"] = Field(default=SCHEMA, alias="schema")
    message_id: Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    sender: Code
    receiver: Code
    issued_at: dt.datetime
    record: ExportRecord

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_fields(fields: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The agreement's groups, in the catalogue's order; ValueError naming an unknown one."""
    unknown = sorted(set(fields) - FIELD_GROUPS.keys())
    if unknown:
        raise ValueError(f"unknown field group(s) {', '.join(unknown)}; choose from {', '.join(FIELD_GROUPS)}")
    return tuple(g for g in FIELD_GROUPS if g in set(fields))


def minimise(record: ExportRecord, fields: tuple[str, ...] | list[str]) -> ExportRecord:
    """The record with only what the agreement's groups allow (the core is always kept)."""
    allowed = set(fields)

    def party(p: ExchangedParty | None, group: str) -> ExchangedParty | None:
        if p is None or group not in allowed:
            return None
        return p.model_copy(update={"name": p.name if f"{group}.name" in allowed else None})

    def item(g: ExchangedGoodsItem) -> ExchangedGoodsItem:
        update: dict[str, Any] = {}
        if "goods.description" not in allowed:
            update["description"] = None
        if "goods.quantity" not in allowed:
            update |= {"quantity": None, "quantity_unit": None}
        if "goods.net_mass" not in allowed:
            update["net_mass_kg"] = None
        if "goods.value" not in allowed:
            update |= {"value_amount": None, "value_currency": None}
        if "goods.origin" not in allowed:
            update["origin_country_code"] = None
        return g.model_copy(update=update)

    return record.model_copy(
        update={
            "ucr": record.ucr if "ucr" in allowed else None,
            "exporter": party(record.exporter, "exporter"),
            "consignee": party(record.consignee, "consignee"),
            "transport": record.transport if "transport" in allowed else None,
            "container_ids": record.container_ids if "containers" in allowed else None,
            "goods_items": [item(g) for g in record.goods_items],
        }
    )
