"""The exchange between administrations over HTTP: agreements, the outbox, the inbox partners deliver to, and
matching (docs/exchange.md). Each route calls opencustoms.exchange.service; partners and this administration's
key come from the ledger's registry and key store."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.context import Platform
from opencustoms.exchange import service
from opencustoms.ledger import service as ledger
from opencustoms.ledger.keys import KeyStore

router = APIRouter(prefix="/exchange", tags=["exchange"])


def _keys(platform: Platform) -> KeyStore:
    return KeyStore.for_data_dir(platform.settings.data_dir)


def _partners(platform: Platform) -> dict[str, service.Partner]:
    return service.directory(ledger.partner_directory(platform.engine, _keys(platform)))


class AgreementBody(BaseModel):
    country_code: Annotated[str, Field(min_length=2, max_length=2, description="Destination country of the exports.")]
    fields: Annotated[list[str], Field(max_length=32, description="Field groups the partner may receive.")] | None = (
        None
    )
    active: bool = True


class QueueBody(BaseModel):
    partner_code: Annotated[str, Field(pattern=r"^[A-Za-z]{2,8}$")]
    references: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=10_000)] | None = None
    since: dt.date | None = None


@router.get("/partners")
def partners(platform: PlatformDep, identity: IdentityDep) -> list[dict[str, Any]]:
    """The ledger's registered partner administrations, with their key id and agreement."""
    return service.partner_list(platform.engine, identity, _partners(platform))


@router.get("/agreements")
def agreements(platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Every agreement, and the field groups an agreement may name."""
    return {"agreements": service.agreements(platform.engine, identity), "field_groups": service.field_groups()}


@router.put("/agreements/{partner_code}")
def set_agreement(
    partner_code: str, body: AgreementBody, platform: PlatformDep, identity: IdentityDep
) -> dict[str, Any]:
    """Create or replace the agreement with a registered partner (data minimisation: what it may receive)."""
    return service.set_agreement(
        platform.engine, identity, _partners(platform), partner_code, body.country_code, body.fields, body.active
    )


@router.post("/outbox", status_code=201)
def queue(body: QueueBody, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Sign and store messages for our export declarations destined to the partner (sent by /outbox/deliver)."""
    key = ledger.signing_key(_keys(platform))
    return service.queue(
        platform.engine,
        identity,
        key,
        _partners(platform),
        body.partner_code,
        references=body.references,
        since=body.since,
    )


@router.post("/outbox/deliver")
def deliver(platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """One delivery round: send the due messages, record acknowledgements, schedule retries."""
    return service.deliver(platform.engine, identity, _partners(platform))


@router.get("/outbox")
def outbox(
    platform: PlatformDep,
    identity: IdentityDep,
    status: Literal["pending", "acknowledged", "refused"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Messages queued for partners, newest first (without their signed bodies)."""
    return service.outbox(platform.engine, identity, status=status, limit=limit)


@router.post(
    "/inbox",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/jose": {"schema": {"type": "string", "description": "a compact JWS"}}},
        }
    },
)
async def receive(request: Request, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """A partner delivers one signed message (compact JWS, `Content-Type: application/jose`); answered with the
    acknowledgement (message id, digest, accepted or duplicate) or a 4xx saying why it was refused."""
    text = (await request.body()).decode("utf-8", "replace")
    return await run_in_threadpool(
        service.receive, platform.engine, identity, _partners(platform), platform.administration_code, text
    )


@router.post(
    "/inbox/batch",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["messages"],
                        "properties": {"messages": {"type": "array", "items": {"type": "string"}, "maxItems": 1000}},
                    }
                }
            },
        }
    },
)
async def receive_batch(request: Request, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """A partner delivers up to 1,000 signed messages at once (`{"messages": ["<compact JWS>", ...]}`); answered
    with one result per message, in order: its acknowledgement, or `refused` with the status and field."""
    body = await request.body()
    return await run_in_threadpool(
        lambda: service.receive_batch(
            platform.engine,
            identity,
            _partners(platform),
            platform.administration_code,
            service.parse_batch(body),
        )
    )


@router.get("/inbox")
def inbox(
    platform: PlatformDep,
    identity: IdentityDep,
    sender: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,8}$")] = None,
    match_status: Literal["matched", "unmatched", "not_declared"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Received export records with their match; parties pseudonymised without personal_data:read."""
    return service.inbox(
        platform.engine,
        identity,
        platform.pseudonymiser,
        sender=sender,
        match_status=match_status,
        limit=limit,
        offset=offset,
    )


@router.post("/matches")
def run_matching(
    platform: PlatformDep,
    identity: IdentityDep,
    sender: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,8}$")] = None,
) -> dict[str, Any]:
    """Match unmatched received records to our imports; discrepancies become `exchange.*` signals."""
    return service.run_matching(platform.engine, identity, sender=sender)


@router.get("/mirror")
def mirror_statistics(
    platform: PlatformDep,
    identity: IdentityDep,
    partner: Annotated[str, Query(pattern=r"^[A-Za-z]{2,8}$", description="The partner administration's code.")],
    annual: Annotated[bool, Query(description="By year instead of by month.")] = False,
    top: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Our imports from the partner's country against its exports to us (the records it sent), by HS6 and month,
    ranked by the value at stake."""
    return service.mirror_statistics(platform.engine, identity, partner, annual=annual, top=top)
