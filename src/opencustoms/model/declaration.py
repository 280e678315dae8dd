"""Declaration, goods item, party, transport and document models (pydantic v2).

Field names are the WCO Data Model's, in snake_case; see docs/data-model.md for the element each maps to.
Codes are validated with :mod:`opencustoms.reference.codes`; when a loaded HS nomenclature is passed in the
validation context (``context={"nomenclature": nomenclature}``) HS codes are checked against it too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from opencustoms.reference import codes

CountryCode = Annotated[str, AfterValidator(codes.check_country)]
TradeCountryCode = Annotated[str, AfterValidator(codes.check_trade_country)]  # an ISO code, or ZZ: not known
CurrencyCode = Annotated[str, AfterValidator(codes.check_currency)]
ContainerNumber = Annotated[str, AfterValidator(codes.check_container_number)]
LocationCode = Annotated[str, AfterValidator(codes.check_unlocode)]
ImoNumber = Annotated[str, AfterValidator(codes.check_imo_number)]
Mmsi = Annotated[str, AfterValidator(codes.check_mmsi)]
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Text = Annotated[str, Field(min_length=1, max_length=512)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]


def _storable(value: Any) -> Any:
    """Refuse text that no database stores: PostgreSQL refuses the NUL character (U+0000) in text columns, so
    SQLite must not accept what production would refuse. (Lone surrogates are already refused as invalid text.)"""
    if isinstance(value, str):
        if "\x00" in value:
            raise PydanticCustomError(
                "nul_character",
                "contains the NUL character (U+0000), which cannot be stored; remove it from the source data",
            )
    elif isinstance(value, list):
        for item in value:
            _storable(item)
    return value


class _Model(BaseModel):
    # allow_inf_nan=False: an infinite or NaN mass is refused by name, as the columnar import path refuses it
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=False, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """Every text field (and list of texts) of every model is refused by name when it holds a
        character no database stores (nested models check their own fields)."""
        return _storable(value)


class DeclarationType(StrEnum):
    IMPORT = "import"
    EXPORT = "export"
    TRANSIT = "transit"


class TransportMode(StrEnum):
    """UN/ECE Recommendation 19 mode of transport codes."""

    SEA = "1"
    RAIL = "2"
    ROAD = "3"
    AIR = "4"
    POST = "5"
    MULTIMODAL = "6"
    FIXED_INSTALLATION = "7"
    INLAND_WATERWAY = "8"
    OWN_PROPULSION = "9"


class AEOStatus(StrEnum):
    NONE = "none"
    CERTIFIED = "certified"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Address(_Model):
    line: Text | None = None
    city_name: Text | None = None
    postcode_id: Annotated[str, Field(max_length=17)] | None = None
    country_code: CountryCode


class Party(_Model):
    """A trader or person: importer, exporter, seller, declarant."""

    id: Identifier = Field(description="Trader identification number (e.g. EORI, TIN) as the administration knows it.")
    name: Text | None = None
    address: Address | None = None
    country_code: CountryCode | None = None
    tax_id: Identifier | None = Field(default=None, description="National tax number, where distinct from id.")
    aeo_status: AEOStatus = AEOStatus.NONE
    aeo_certificate_id: Identifier | None = None

    @model_validator(mode="after")
    def _country_from_address(self) -> Party:
        if self.country_code is None and self.address is not None:
            self.country_code = self.address.country_code
        return self


class AdditionalDocument(_Model):
    """A document the declaration refers to: invoice, licence, certificate of origin, transport document."""

    type_code: Annotated[str, Field(min_length=1, max_length=8)] = Field(
        description="Document type, e.g. UN/EDIFACT 1001 code '861' (certificate of origin) or a national code."
    )
    id: Annotated[str, Field(min_length=1, max_length=70)]
    issue_date: dt.date | None = None
    issuer_country_code: CountryCode | None = None


class Preference(_Model):
    """A tariff preference claimed for a goods item, with the document that proves origin."""

    code: Annotated[str, Field(min_length=1, max_length=8)] = Field(
        description="Preference / duty regime code, e.g. '300' (conventional preference under an FTA)."
    )
    agreement: Text | None = Field(default=None, description="The trade agreement, e.g. 'EU-KR FTA'.")
    proving_document_id: Annotated[str, Field(min_length=1, max_length=70)] | None = Field(
        default=None,
        description="id of the certificate of origin (or origin declaration) among the additional documents; "
        "a claim without one is allowed (some regimes accept origin statements) and is itself a risk indicator.",
    )


class Transport(_Model):
    mode_code: TransportMode = Field(description="Mode of transport at the border (UN/ECE Rec. 19).")
    id: Annotated[str, Field(max_length=35)] | None = Field(
        default=None, description="Vehicle registration, flight number or vessel name."
    )
    nationality_code: CountryCode | None = None
    vessel_imo: ImoNumber | None = None
    vessel_mmsi: Mmsi | None = None
    container_ids: list[ContainerNumber] = Field(default_factory=list, max_length=999)
    loading_location: LocationCode | None = None
    unloading_location: LocationCode | None = None
    departure_country_code: TradeCountryCode | None = None
    itinerary_country_codes: list[CountryCode] = Field(default_factory=list, max_length=99)


class GoodsItem(_Model):
    sequence_number: int = Field(ge=1, le=9999)
    hs_code: str = Field(description="HS subheading (6 digits), optionally extended nationally to 8 or 10.")
    description: Text | None = Field(default=None, description="Plain-language description of the goods.")
    quantity: float | None = Field(default=None, ge=0)
    quantity_unit: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$")] | None = Field(
        default=None, description="UN/ECE Rec. 20 unit code, e.g. KGM, NAR, LTR."
    )
    net_mass_kg: float | None = Field(default=None, ge=0)
    gross_mass_kg: float | None = Field(default=None, ge=0)
    customs_value_amount: Money
    customs_value_currency: CurrencyCode
    origin_country_code: TradeCountryCode
    duty_rate: Decimal | None = Field(default=None, ge=0, le=1000, description="Ad valorem duty rate, percent.")
    duty_tax_amount: Money | None = Field(
        default=None, description="Duties and taxes assessed, in the currency of the customs value."
    )
    duty_regime_code: Annotated[str, Field(min_length=1, max_length=8)] | None = Field(
        default=None, description="Duty regime / tax type applied (national code list), e.g. 'A' or 'FEU1'."
    )
    preference: Preference | None = None

    @field_validator("hs_code")
    @classmethod
    def _hs_code(cls, value: str, info: ValidationInfo) -> str:
        nomenclature = info.context.get("nomenclature") if info.context else None
        if nomenclature is not None:
            return str(nomenclature.check(value))
        return codes.check_hs_format(value, min_digits=6)

    @model_validator(mode="after")
    def _masses(self) -> GoodsItem:
        if self.net_mass_kg is not None and self.gross_mass_kg is not None and self.net_mass_kg > self.gross_mass_kg:
            raise ValueError(
                f"net mass {self.net_mass_kg} kg exceeds gross mass {self.gross_mass_kg} kg; gross mass includes "
                "packaging, so it cannot be smaller"
            )
        return self


class Declaration(_Model):
    """A goods declaration: import, export or transit."""

    functional_reference_id: Identifier = Field(
        description="The declaration's reference as its declarant gave it (LRN)."
    )
    type_code: DeclarationType
    acceptance_date: dt.date
    declaration_office_id: Annotated[str, Field(min_length=1, max_length=17)]
    procedure_code: Annotated[str, Field(pattern=r"^[0-9A-Z]{2,7}$")] | None = Field(
        default=None, description="Customs procedure code (requested + previous procedure), e.g. '4000'."
    )
    declarant: Party
    importer: Party | None = None
    exporter: Party | None = None
    seller: Party | None = None
    carrier: Party | None = Field(default=None, description="Carrier or express courier.")
    transport: Transport | None = None
    additional_documents: list[AdditionalDocument] = Field(default_factory=list, max_length=99)
    goods_items: list[GoodsItem] = Field(min_length=1, max_length=999)
    national_extensions: dict[
        Annotated[str, Field(pattern=r"^[a-z]{2}\.[a-z0-9_]{1,40}$")],
        Annotated[str, Field(max_length=200), AfterValidator(_storable)],
    ] = Field(
        default_factory=dict,
        max_length=50,
        description="National data elements with no WCO DM element, keyed '<country>.<name>' "
        "(e.g. 'kr.import_use'); kept, shown and exported, never interpreted by the core.",
    )

    @model_validator(mode="after")
    def _consistency(self) -> Declaration:
        numbers = [g.sequence_number for g in self.goods_items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("goods_items: sequence_number values must be unique within a declaration")
        if self.type_code is DeclarationType.IMPORT and self.importer is None:
            raise ValueError("importer is required on an import declaration")
        if self.type_code is DeclarationType.EXPORT and self.exporter is None:
            raise ValueError("exporter is required on an export declaration")
        document_ids = {d.id for d in self.additional_documents}
        for item in self.goods_items:
            proof = item.preference.proving_document_id if item.preference else None
            if proof is not None and proof not in document_ids:
                raise ValueError(
                    f"goods item {item.sequence_number} claims preference with document "
                    f"{proof!r}, which is not among additional_documents; "
                    "list the certificate of origin there"
                )
        return self

    def parties(self) -> dict[str, Party]:
        """The declaration's parties by role."""
        roles = {
            "declarant": self.declarant,
            "importer": self.importer,
            "exporter": self.exporter,
            "seller": self.seller,
            "carrier": self.carrier,
        }
        return {role: party for role, party in roles.items() if party is not None}

    @property
    def total_customs_value(self) -> Decimal:
        return sum((g.customs_value_amount for g in self.goods_items), Decimal(0))


def json_schema() -> dict[str, Any]:
    return Declaration.model_json_schema()
