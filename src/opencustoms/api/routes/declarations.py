from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, UploadFile
from pydantic import BaseModel, Field

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.declarations import service
from opencustoms.declarations.repository import SearchFilters
from opencustoms.errors import OpenCustomsError
from opencustoms.model import Declaration

router = APIRouter(prefix="/declarations", tags=["declarations"])


class DeclarationView(BaseModel):
    declaration: Declaration
    pseudonymised: bool


class HSText(BaseModel):
    text: str = Field(description="The subheading's text (national 8- and 10-digit codes at 6 digits).")
    edition: str | None = Field(
        description="The HS edition in force on the acceptance date that gave the text (a loaded national edition "
        "replaces the shipped one); null when only another shipped edition has the code."
    )
    lang: str = Field(description="The language of the text: the nomenclature is published in English.")


class NationalElement(BaseModel):
    key: str = Field(description="The national_extensions key, '<country>.<name>'.")
    country: str = Field(description="The country prefix of the key, upper case.")
    name: str = Field(description="The element's name in the asked language (its own name in words if unlisted).")
    value: str


class CodeNames(BaseModel):
    """The declaration's codes by name, in one language (declarations.service.code_names)."""

    lang: Literal["en", "fr"]
    transport_mode: str | None = Field(description="UN/ECE Rec. 19 name of the mode of transport at the border.")
    countries: dict[str, str] = Field(description="Every country code the declaration names that has a name.")
    document_types: dict[str, str] = Field(description="UN/EDIFACT 1001 names of the documents' types known.")
    hs: dict[str, HSText] = Field(description="Each goods item's HS code with its nomenclature text.")
    national: list[NationalElement] = Field(description="The national data elements with their names.")


class DeclarationRead(DeclarationView):
    labels: CodeNames


class DeclarationPage(BaseModel):
    items: list[Declaration]
    total: int
    limit: int
    offset: int
    pseudonymised: bool


class ImportProblem(BaseModel):
    row: int | None
    reference: str | None
    field: str
    value: str | None
    reason: str


class ImportResult(BaseModel):
    import_id: int | None
    source: str
    layout: str
    accepted: int = Field(description="Declarations imported (stored now).")
    already_stored: int = Field(description="Declarations of the file found already stored: not stored again.")
    rejected: int = Field(description="Declarations not stored because of a problem (listed in problems).")
    labels: int
    zeros_restored: int = Field(description="HS codes whose lost leading zero was put back (e.g. 710807000).")
    references_generated: int = Field(description="Declarations given a reference computed from their row.")
    notices: list[str] = Field(description="What the import decided, e.g. the layout recognised from the header.")
    problems: list[ImportProblem]


class UploadTooLargeError(OpenCustomsError):
    status = 413
    title = "Upload too large"


@router.post("", status_code=201, response_model=DeclarationView)
def create_declaration(declaration: Declaration, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Validate and store one declaration (HS codes are checked against the loaded nomenclature)."""
    stored = service.create(platform.engine, identity, declaration)
    return {"declaration": stored, "pseudonymised": False}


@router.get("", response_model=DeclarationPage)
def list_declarations(
    platform: PlatformDep,
    identity: IdentityDep,
    type_code: Literal["import", "export", "transit"] | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    office_id: Annotated[str | None, Query(max_length=17)] = None,
    party_id: Annotated[
        str | None,
        Query(
            max_length=64,
            description="A party's pseudonym (p_ and 24 hex digits, as shown on pseudonymised declarations); the "
            "trader number itself only with the personal-data permission (403 otherwise).",
        ),
    ] = None,
    hs_prefix: Annotated[str | None, Query(pattern=r"^[0-9]{2,10}$")] = None,
    origin_country_code: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    container_id: Annotated[str | None, Query(max_length=11)] = None,
    reference_prefix: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
    purpose: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Search declarations, newest first. Parties are pseudonymised for callers without personal-data rights."""
    filters = SearchFilters(
        type_code,
        date_from,
        date_to,
        office_id,
        party_id,
        hs_prefix,
        origin_country_code.upper() if origin_country_code else None,
        container_id.upper() if container_id else None,
        reference_prefix,
    )
    page = service.search(
        platform.engine, identity, filters, platform.pseudonymiser, limit=limit, offset=offset, purpose=purpose
    )
    return {
        "items": page.items,
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
        "pseudonymised": page.pseudonymised,
    }


@router.get("/{reference}", response_model=DeclarationRead)
def read_declaration(
    reference: str,
    platform: PlatformDep,
    identity: IdentityDep,
    purpose: str | None = None,
    lang: Annotated[
        Literal["en", "fr"], Query(description="The language of `labels`, the codes by name (en or fr).")
    ] = "en",
) -> dict[str, Any]:
    declaration, masked = service.get(platform.engine, identity, reference, platform.pseudonymiser, purpose)
    labels = service.code_names(platform.engine, declaration, lang)
    return {"declaration": declaration, "pseudonymised": masked, "labels": labels}


@router.post("/import", response_model=ImportResult)
async def import_declarations(
    file: UploadFile,
    request: Request,
    platform: PlatformDep,
    identity: IdentityDep,
    format: Literal["csv", "jsonl", "parquet"] | None = None,
    layout: str | None = None,
) -> dict[str, Any]:
    """Bulk import a CSV, JSON Lines or Parquet file. Bad rows are reported, good ones stored."""
    limit = platform.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise UploadTooLargeError(
            f"the upload is {int(declared)} bytes; the limit is {limit} "
            "(OPENCUSTOMS_MAX_UPLOAD_BYTES); split the file or import it with the CLI"
        )
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
        size = 0
        while chunk := await file.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                raise UploadTooLargeError(
                    f"the upload exceeds the limit of {limit} bytes "
                    "(OPENCUSTOMS_MAX_UPLOAD_BYTES); split the file or use the CLI"
                )
            spool.write(chunk)
        spool.seek(0)
        report = service.import_file(
            platform.engine,
            identity,
            spool,
            name=file.filename or "upload",
            fmt=format,
            layout=layout,
            batch_size=platform.settings.import_batch_size,
        )
    return {**report.summary(), "problems": [asdict(p) for p in report.problems]}
