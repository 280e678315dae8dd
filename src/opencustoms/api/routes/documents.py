"""Documents: public verification (file, JSON body or QR content), issuing, revoking, hiding fields, printing."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, RootModel
from starlette.concurrency import run_in_threadpool

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.context import Platform
from opencustoms.declarations import service as declarations
from opencustoms.documents import service
from opencustoms.documents.config import get_document_settings
from opencustoms.documents.errors import UploadTooLargeError
from opencustoms.security.service import Identity

router = APIRouter(prefix="/documents", tags=["documents"])


class FragmentView(BaseModel):
    name: str
    verdict: str = Field(description="VALID, INVALID, ERROR or SKIPPED")
    reason: str
    detail: dict[str, Any] = {}


class VerificationView(BaseModel):
    valid: bool
    version: str | None
    fragments: list[FragmentView]
    target_hash: str | None
    merkle_root: str | None
    document_store: str | None
    issuer_name: str | None
    identity_location: str | None
    template: str | None
    document_id: str | None
    hidden_field_count: int
    hidden_fields: list[str] | None
    visible_fields: list[str]
    data: dict[str, Any] | None


class IssueRequest(BaseModel):
    template: str = Field(description="certificate_of_origin, aeo_certificate, licence or quality_certificate")
    records: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


class IssueView(BaseModel):
    merkle_root: str
    template: str
    documents: list[dict[str, Any]]


class RevokeRequest(BaseModel):
    target: str = Field(description="targetHash, merkle root, or a document number issued here")
    reason: str = Field(min_length=1, max_length=500)


class RevocationView(BaseModel):
    hash: str
    revoked_by: str
    reason: str


class ObfuscateRequest(BaseModel):
    document: dict[str, Any]
    fields: list[str] = Field(min_length=1, max_length=500)


class PresentedDocuments(RootModel[dict[str, dict[str, Any]]]):
    """The trader's presented documents: {document_id: wrapped document}."""


Body = TypeVar("Body", bound=BaseModel)


async def _read_limited(request: Request, limit: int, setting: str = "OPENCUSTOMS_DOCUMENTS_MAX_UPLOAD_BYTES") -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadTooLargeError(
            f"the upload is {int(declared)} bytes; the limit is {limit} ({setting}); a wrapped document is a few "
            "kilobytes"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UploadTooLargeError(f"the upload exceeds the limit of {limit} bytes ({setting})")
    return bytes(body)


SMALL_BODY = 64 * 1024  # revoke and evm-sync: a hash or a number and a reason


async def _json_body(
    request: Request, model: type[Body], default: Any = None, issuing: bool = False, small: bool = False
) -> Body:
    """The JSON body read with the documents' limits (size, then nesting depth before parsing, no NaN or duplicate
    keys) instead of FastAPI's parser, which recurses once per nesting level; then validated by ``model``. An empty
    body is ``default`` when one is given. Issuing requests have their own size limit, small requests a fixed one."""
    settings = get_document_settings()
    limit, setting = (
        (settings.max_issue_bytes, "OPENCUSTOMS_DOCUMENTS_MAX_ISSUE_BYTES")
        if issuing
        else (SMALL_BODY, "fixed for this request")
        if small
        else (settings.max_upload_bytes, "OPENCUSTOMS_DOCUMENTS_MAX_UPLOAD_BYTES")
    )
    raw = await _read_limited(request, limit, setting)
    if default is not None and not raw.strip():
        return model.model_validate(default)
    return model.model_validate(service.parse_json(raw, settings, "the request body", max_bytes=limit))


def _body_schema(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """The request body's schema in OpenAPI, for routes that read their body with :func:`_json_body`."""
    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": model.model_json_schema()}}}
    }


@router.post(
    "/verify",
    response_model=VerificationView,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def verify_document(request: Request, platform: PlatformDep) -> dict[str, Any]:
    """Verify a wrapped OpenAttestation document sent as the JSON body. Public: no token needed."""
    settings = get_document_settings()
    raw = await _read_limited(request, settings.max_upload_bytes)
    return service.verify(platform.engine, raw, settings).to_dict()


@router.post("/verify/upload", response_model=VerificationView)
async def verify_upload(file: UploadFile, platform: PlatformDep) -> dict[str, Any]:
    """Verify an uploaded .json file (multipart form). Public: no token needed."""
    settings = get_document_settings()
    limit = settings.max_upload_bytes
    if file.size is not None and file.size > limit:
        raise UploadTooLargeError(
            f"the file is {file.size} bytes; the limit is {limit} (OPENCUSTOMS_DOCUMENTS_MAX_UPLOAD_BYTES)"
        )
    raw = await file.read(limit + 1)
    return service.verify(platform.engine, raw, settings).to_dict()


@router.get("/verify/qr", response_model=VerificationView)
def verify_qr(
    q: Annotated[str, Query(max_length=4000, description="The QR code's payload")], platform: PlatformDep
) -> dict[str, Any]:
    """Verify what a printed certificate's QR code names (the link a phone opens). Public: no token needed."""
    return service.verify_qr(platform.engine, q).to_dict()


@router.post("/obfuscate", openapi_extra=_body_schema(ObfuscateRequest))
async def obfuscate(request: Request) -> dict[str, Any]:
    """Hide fields of a wrapped v2 document (selective disclosure); the result still verifies. Public."""
    body = await _json_body(request, ObfuscateRequest)
    return await run_in_threadpool(service.obfuscate, body.document, body.fields)


@router.post("", status_code=201, response_model=IssueView, openapi_extra=_body_schema(IssueRequest))
async def issue(request: Request, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Issue documents from a template: validate, wrap as one batch, record the root as issued."""
    body = await _json_body(request, IssueRequest, issuing=True)
    result = await run_in_threadpool(service.issue, platform.engine, identity, body.template, body.records)
    return {"merkle_root": result.merkle_root, "template": result.template, "documents": result.documents}


@router.post("/revoke", response_model=list[RevocationView], openapi_extra=_body_schema(RevokeRequest))
async def revoke(request: Request, platform: PlatformDep, identity: IdentityDep) -> list[dict[str, Any]]:
    """Revoke a document (targetHash or number) or a whole batch (merkle root)."""
    body = await _json_body(request, RevokeRequest, small=True)
    done = await run_in_threadpool(service.revoke, platform.engine, identity, body.target, body.reason)
    return [{"hash": r.hash, "revoked_by": r.revoked_by, "reason": r.reason} for r in done]


class EvmSyncRequest(BaseModel):
    hash: str = Field(description="A merkle root issued here, or a hash revoked here, to record on the EVM store")


@router.post("/evm-sync", openapi_extra=_body_schema(EvmSyncRequest))
async def evm_sync(request: Request, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Record on this administration's EVM DocumentStore what the local registry holds for one hash."""
    body = await _json_body(request, EvmSyncRequest, small=True)
    return await run_in_threadpool(service.sync_evm, platform.engine, identity, body.hash)


@router.get("/{key}")
def show(key: str, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """A document issued here, by number or targetHash, as its wrapped JSON."""
    return service.show(platform.engine, identity, key)


Language = Annotated[Literal["en", "fr"], Query(description="Language of the certificate's labels: en or fr.")]


def _public_url(request: Request, platform: Platform) -> str:
    return service.public_base_url(platform.settings, str(request.base_url))


@router.get("/{key}/print", response_class=HTMLResponse)
def print_view(key: str, request: Request, platform: PlatformDep, identity: IdentityDep, lang: Language = "en") -> str:
    """The certificate page to print (HTML with print CSS) with the QR code that opens the public /verify page."""
    return service.render_html(service.show(platform.engine, identity, key), _public_url(request, platform), lang)


@router.get("/{key}/pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def pdf(key: str, request: Request, platform: PlatformDep, identity: IdentityDep, lang: Language = "en") -> Response:
    """The certificate as an A4 PDF with the QR code that opens the public /verify page."""
    document = service.show(platform.engine, identity, key)
    return Response(
        service.render_pdf(document, _public_url(request, platform), lang),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{service.download_name(document, ".pdf")}"'},
    )


@router.get("/{key}/json", response_class=Response, responses={200: {"content": {"application/json": {}}}})
def json_file(key: str, platform: PlatformDep, identity: IdentityDep) -> Response:
    """The wrapped OpenAttestation document as a .json file to keep or hand on (verifiers upload it)."""
    document = service.show(platform.engine, identity, key)
    return Response(
        service.export_json(document),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{service.download_name(document, ".json")}"'},
    )


@router.post("/origin-checks/{reference}", openapi_extra=_body_schema(PresentedDocuments, required=False))
async def check_origin(
    reference: str, request: Request, platform: PlatformDep, identity: IdentityDep
) -> list[dict[str, Any]]:
    """Verify the certificates of origin a stored declaration claims preference with; each outcome becomes a
    signal on the document and the declaration. Optional body: the trader's documents, {document_id: wrapped}."""
    presented = (await _json_body(request, PresentedDocuments, default={})).root or None
    return await run_in_threadpool(_check_origin, platform, identity, reference, presented)


def _check_origin(
    platform: Platform, identity: Identity, reference: str, presented: dict[str, dict[str, Any]] | None
) -> list[dict[str, Any]]:
    declaration, _ = declarations.get(
        platform.engine, identity, reference, platform.pseudonymiser, purpose="origin certificate check"
    )
    return [c.as_answer() for c in service.check_declaration_origin(platform.engine, identity, declaration, presented)]
