"""Document types, each a pydantic model plus a template name; one mechanism turns any of them into an
OpenAttestation v2 document (``$template``, ``id``, ``issuers`` and the model's fields) and back.

Field names follow the WCO Data Model words used in :mod:`opencustoms.model` (exporter, importer, consignment,
goods items with HS code and origin), in snake_case, as the declarations use them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opencustoms.documents.config import DocumentSettings
from opencustoms.documents.errors import TemplateDataError
from opencustoms.documents.identity import IssuerIdentity
from opencustoms.model.declaration import CountryCode, LocationCode, Text
from opencustoms.reference import codes

DocumentNumber = Annotated[str, Field(min_length=1, max_length=70, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]
Hs = Annotated[str, Field(description="HS subheading, 6 digits, optionally extended nationally to 8 or 10.")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TraderParty(_Model):
    id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Trader identification number (EORI, TIN) where known."
    )
    name: Text
    address_line: Text | None = None
    city_name: Text | None = None
    country_code: CountryCode


class IssuingAuthority(_Model):
    name: Text
    country_code: CountryCode
    place: Text | None = None
    officer: Text | None = Field(default=None, description="Name of the certifying officer.")


class Consignment(_Model):
    transport_mode_code: Annotated[str, Field(pattern=r"^[1-9]$")] | None = Field(
        default=None, description="UN/ECE Rec. 19 mode of transport."
    )
    transport_means: Text | None = Field(default=None, description="Vessel name, flight or vehicle registration.")
    departure_date: dt.date | None = None
    loading_location: LocationCode | None = None
    unloading_location: LocationCode | None = None
    destination_country_code: CountryCode | None = None
    invoice_number: Annotated[str, Field(max_length=70)] | None = None


class OriginCriterion(StrEnum):
    WHOLLY_OBTAINED = "WO"
    PRODUCT_SPECIFIC_RULE = "PSR"
    REGIONAL_VALUE_CONTENT = "RVC"
    CHANGE_IN_TARIFF_CLASSIFICATION = "CTC"
    PRODUCED_EXCLUSIVELY = "PE"


class OriginGoodsItem(_Model):
    sequence_number: int = Field(ge=1, le=999)
    hs_code: Hs
    description: Text
    quantity: float | None = Field(default=None, ge=0)
    quantity_unit: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$")] | None = None
    gross_mass_kg: float | None = Field(default=None, ge=0)
    origin_country_code: CountryCode
    origin_criterion: OriginCriterion = Field(description="How origin was conferred under the agreement's rules.")
    marks_and_numbers: Text | None = None

    @field_validator("hs_code")
    @classmethod
    def _hs(cls, value: str) -> str:
        return codes.check_hs_format(value, min_digits=6)


class CertificateOfOrigin(_Model):
    """A preferential certificate of origin under a free-trade agreement."""

    id: DocumentNumber = Field(description="Certificate number, the id a declaration cites as proving document.")
    issue_date: dt.date
    fta: Text = Field(description="The trade agreement, e.g. 'EU-KR FTA' or 'AANZFTA'.")
    exporter: TraderParty
    producer: TraderParty | None = None
    importer: TraderParty
    consignment: Consignment = Field(default_factory=Consignment)
    goods_items: list[OriginGoodsItem] = Field(min_length=1, max_length=99)
    issuing_authority: IssuingAuthority
    remarks: Text | None = None

    @model_validator(mode="after")
    def _numbers(self) -> CertificateOfOrigin:
        numbers = [g.sequence_number for g in self.goods_items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("goods_items: sequence_number values must be unique")
        return self


class AEOType(StrEnum):
    SECURITY = "AEOS"
    SIMPLIFICATION = "AEOC"
    FULL = "AEOF"


class AEOCertificate(_Model):
    """An Authorized Economic Operator certificate."""

    id: DocumentNumber
    holder: TraderParty
    aeo_type: AEOType
    issue_date: dt.date
    valid_until: dt.date | None = None
    mutual_recognition: list[CountryCode] = Field(
        default_factory=list, max_length=99, description="Administrations recognising it under MRAs."
    )
    issuing_authority: IssuingAuthority

    @model_validator(mode="after")
    def _dates(self) -> AEOCertificate:
        if self.valid_until is not None and self.valid_until < self.issue_date:
            raise ValueError("valid_until is before issue_date")
        return self


class LicenceGoodsItem(_Model):
    hs_code: Hs
    description: Text
    quantity: float | None = Field(default=None, ge=0)
    quantity_unit: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$")] | None = None

    @field_validator("hs_code")
    @classmethod
    def _hs(cls, value: str) -> str:
        return codes.check_hs_format(value, min_digits=6)


class LicenceKind(StrEnum):
    IMPORT = "import"
    EXPORT = "export"
    TRANSIT = "transit"


class Licence(_Model):
    """An import, export or transit licence / permit (e.g. strategic goods, controlled substances)."""

    id: DocumentNumber
    licence_kind: LicenceKind
    regime: Text = Field(description="The control regime, e.g. 'dual-use goods' or 'CITES'.")
    holder: TraderParty
    counterparty: TraderParty | None = None
    goods_items: list[LicenceGoodsItem] = Field(min_length=1, max_length=99)
    valid_from: dt.date
    valid_until: dt.date
    conditions: Text | None = None
    issuing_authority: IssuingAuthority

    @model_validator(mode="after")
    def _dates(self) -> Licence:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class QualityKind(StrEnum):
    QUALITY = "quality"
    SUSTAINABILITY = "sustainability"


class QualityCertificate(_Model):
    """A quality or sustainability certification (standard, scope, goods)."""

    id: DocumentNumber
    certificate_kind: QualityKind
    standard: Text = Field(description="The standard certified against, e.g. 'ISO 9001:2015' or 'RSPO SCC'.")
    scope: Text
    holder: TraderParty
    goods_items: list[LicenceGoodsItem] = Field(default_factory=list, max_length=99)
    issue_date: dt.date
    valid_until: dt.date | None = None
    issuing_authority: IssuingAuthority


@dataclass(frozen=True)
class DocumentTemplate:
    name: str  # written in $template.name
    title: str
    model: type[_Model]
    un_document_code: str  # UN/EDIFACT 1001 code a declaration's additional document uses


TEMPLATES: dict[str, DocumentTemplate] = {
    t.name: t
    for t in (
        DocumentTemplate("CERTIFICATE_OF_ORIGIN", "Certificate of origin", CertificateOfOrigin, "861"),
        DocumentTemplate("AEO_CERTIFICATE", "Authorized Economic Operator certificate", AEOCertificate, "AEO"),
        DocumentTemplate("LICENCE", "Licence / permit", Licence, "911"),
        DocumentTemplate("QUALITY_CERTIFICATE", "Quality / sustainability certificate", QualityCertificate, "QC"),
    )
}
_ALIASES = {
    "certificate_of_origin": "CERTIFICATE_OF_ORIGIN",
    "coo": "CERTIFICATE_OF_ORIGIN",
    "aeo_certificate": "AEO_CERTIFICATE",
    "aeo": "AEO_CERTIFICATE",
    "licence": "LICENCE",
    "license": "LICENCE",
    "permit": "LICENCE",
    "quality_certificate": "QUALITY_CERTIFICATE",
    "quality": "QUALITY_CERTIFICATE",
    "sustainability": "QUALITY_CERTIFICATE",
}
_ENVELOPE = ("$template", "issuers", "recipient", "attachments")


def get_template(name: str) -> DocumentTemplate:
    key = _ALIASES.get(name.lower(), name.upper())
    if key not in TEMPLATES:
        raise TemplateDataError(
            f"unknown document template {name!r}; choose one of {', '.join(sorted(_ALIASES))}", field="template"
        )
    return TEMPLATES[key]


def validate(template: DocumentTemplate, data: dict[str, Any]) -> _Model:
    """The template's model, or TemplateDataError naming the first bad field."""
    try:
        return template.model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "data"
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise TemplateDataError(f"{template.title}: {where}: {message}{more}", field=where) from exc


def to_openattestation(
    template: DocumentTemplate, document: _Model, settings: DocumentSettings, issuer: IssuerIdentity
) -> dict[str, Any]:
    """The raw OpenAttestation v2 data: envelope first (the issuer as ``issuer`` names it), then the model's
    fields."""
    body = document.model_dump(mode="json", exclude_none=True)
    body = {k: v for k, v in body.items() if v not in ([], {})}
    return {
        "$template": {"name": template.name, "type": "EMBEDDED_RENDERER", "url": settings.renderer_url},
        "issuers": [
            {
                "name": issuer.name,
                "documentStore": issuer.store_address,
                "identityProof": {"type": "DNS-TXT", "location": issuer.domain},
            }
        ],
        **body,
    }


def from_openattestation(data: dict[str, Any]) -> tuple[DocumentTemplate, _Model] | None:
    """The template and model behind unsalted data of a document made from one of our templates; None otherwise
    (a foreign document, or one whose hidden fields leave the model incomplete)."""
    template = data.get("$template")
    name = template.get("name") if isinstance(template, dict) else None
    if name not in TEMPLATES:
        return None
    body = {k: v for k, v in data.items() if k not in _ENVELOPE}
    try:
        return TEMPLATES[name], TEMPLATES[name].model.model_validate(body)
    except ValidationError:
        return None
