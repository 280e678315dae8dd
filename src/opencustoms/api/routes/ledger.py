"""The ledger over HTTP: officers' actions, queries, and what partner nodes pull (entries, checkpoints, proofs)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.context import Platform
from opencustoms.ledger import service
from opencustoms.ledger.entries import AEOCertificate, SignedEntry
from opencustoms.ledger.keys import KeyStore

router = APIRouter(prefix="/ledger", tags=["ledger"])


def _keys(platform: Platform) -> KeyStore:
    return KeyStore.for_data_dir(platform.settings.data_dir)


class StatusChange(BaseModel):
    action: Literal["suspend", "revoke", "reinstate"]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    effective_date: dt.date | None = None


class Amendment(BaseModel):
    certificate: AEOCertificate
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    effective_date: dt.date | None = None


class Batch(BaseModel):
    entries: Annotated[list[SignedEntry], Field(min_length=1, max_length=100_000)]


@router.get("/key")
def verifier_key(platform: PlatformDep, identity: IdentityDep) -> dict[str, str]:
    """This node's verifier key (give it to partners: `opencustoms ledger partner-add`)."""
    return service.verifier_key(platform.engine, identity)


@router.get("/checkpoint")
def checkpoint(
    platform: PlatformDep,
    identity: IdentityDep,
    origin: str | None = None,
    after: Annotated[int | None, Query(ge=0, description="long poll: wait until the log is larger than this")] = None,
    wait: Annotated[float, Query(ge=0, le=service.MAX_WAIT_S, description="seconds to wait at most")] = 0.0,
) -> dict[str, Any]:
    """The latest signed checkpoint of this node's log (or of a partner's log it holds); with ``after`` and
    ``wait``, a long poll that answers as soon as the log grows past ``after`` (partners following the log)."""
    return service.checkpoint(platform.engine, identity, origin, after=after, wait=wait)


@router.get("/entries")
def entries(
    platform: PlatformDep,
    identity: IdentityDep,
    start: Annotated[int, Query(ge=0, le=2**62)],
    end: Annotated[int, Query(ge=1)],
    origin: str | None = None,
) -> Response:
    """Entries [start, end) (at most 10,000). Their content only for callers with ledger:replicate (partner
    administrations, officers), restricted content only for the partners it is shared with; others get the leaves."""
    # written by orjson straight from the service's plain dicts: a page is thousands of entries, and FastAPI's
    # validation and encoding of them cost more than reading them
    entries = service.entries(platform.engine, identity, start, end, origin)
    return Response(orjson.dumps({"entries": entries}), media_type="application/json")


@router.post("/entries", status_code=201)
def append(batch: Batch, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Append entries signed elsewhere (officer keys certified in this log); all or nothing."""
    return service.append_batch(platform.engine, identity, _keys(platform), batch.entries)


@router.get("/consistency")
def consistency(
    platform: PlatformDep,
    identity: IdentityDep,
    first: Annotated[int, Query(ge=0, le=2**62)],
    second: Annotated[int, Query(ge=0, le=2**62)],
    origin: str | None = None,
) -> dict[str, Any]:
    return service.consistency(platform.engine, identity, first, second, origin)


@router.get("/inclusion")
def inclusion(
    platform: PlatformDep,
    identity: IdentityDep,
    index: Annotated[int, Query(ge=0, le=2**62)],
    size: Annotated[int, Query(ge=1)],
    origin: str | None = None,
) -> dict[str, Any]:
    return service.inclusion(platform.engine, identity, index, size, origin)


@router.get("/witness")
def witness(platform: PlatformDep, identity: IdentityDep, origin: str) -> dict[str, str]:
    """The latest checkpoint of ``origin`` this node verified, cosigned by this node."""
    return {"origin": origin, "checkpoint": service.witnessed(platform.engine, identity, origin)}


@router.post("/certificates", status_code=201)
def issue(certificate: AEOCertificate, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Record a new AEO certificate, signed with the calling officer's ledger key."""
    return service.issue(platform.engine, identity, _keys(platform), certificate)


@router.put("/certificates/{number}")
def amend(number: str, amendment: Amendment, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.amend(
        platform.engine,
        identity,
        _keys(platform),
        amendment.certificate,
        amendment.reason,
        amendment.effective_date,
        certificate_number=number,
    )


@router.post("/certificates/{number}/status")
def change_status(number: str, change: StatusChange, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    return service.change_status(
        platform.engine, identity, _keys(platform), change.action, number, change.reason, change.effective_date
    )


@router.get("/certificates/{number}")
def status(
    number: str,
    platform: PlatformDep,
    identity: IdentityDep,
    origin: str | None = None,
    as_of: dt.date | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    """Current status of a certificate, or its status on ``as_of``; the holder pseudonymised for readers without
    personal_data:read (or ledger:replicate)."""
    return service.status(
        platform.engine,
        identity,
        number,
        origin=origin,
        as_of=as_of,
        pseudonymiser=platform.pseudonymiser,
        purpose=purpose,
    )


@router.get("/certificates/{number}/history")
def history(
    number: str, platform: PlatformDep, identity: IdentityDep, origin: str | None = None, purpose: str | None = None
) -> dict[str, Any]:
    """Every entry of the certificate with its inclusion proof against the latest checkpoint; the entries' content
    only for callers with ledger:replicate, the leaves for others."""
    return service.history(platform.engine, identity, number, origin=origin, purpose=purpose)


@router.get("/holders/{holder_id}/certificates")
def certificates_of(
    holder_id: str, platform: PlatformDep, identity: IdentityDep, purpose: str | None = None
) -> list[dict[str, Any]]:
    """Every certificate of a holder, by its pseudonym (p_...) or, with personal_data:read, by trader id."""
    return service.certificates_of(platform.engine, identity, holder_id, platform.pseudonymiser, purpose=purpose)


@router.get("/logs")
def logs(platform: PlatformDep, identity: IdentityDep) -> list[dict[str, Any]]:
    return service.logs(platform.engine, identity)


@router.post("/partners/pull")
def pull(platform: PlatformDep, identity: IdentityDep, origin: str) -> dict[str, Any]:
    """Pull and verify a partner's new entries now (also done by `opencustoms ledger serve --poll`)."""
    return service.pull(platform.engine, identity, _keys(platform), origin)


@router.get("/alarms")
def alarms(platform: PlatformDep, identity: IdentityDep, origin: str | None = None) -> list[dict[str, Any]]:
    return service.alarms(platform.engine, identity, origin)


@router.post("/anchors")
def anchor(platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Anchor this node's latest checkpoint on the EVM network (OPENCUSTOMS_LEDGER_EVM_*), if newer than the last."""
    return service.anchor(platform.engine, identity, settings=platform.settings)


@router.get("/anchors")
def anchors(
    platform: PlatformDep, identity: IdentityDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> list[dict[str, Any]]:
    """The anchors this node submitted, newest first (from its records)."""
    return service.anchors(platform.engine, identity, limit)


@router.post("/anchors/verify")
def verify_anchors(
    platform: PlatformDep,
    identity: IdentityDep,
    origin: str | None = None,
    last: Annotated[int | None, Query(ge=1)] = None,
) -> list[dict[str, Any]]:
    """Check every log held here (or ``origin``) against its anchors on the chain; mismatches raise alarms."""
    return service.verify_anchors(platform.engine, identity, origin, last=last, settings=platform.settings)


class Restore(BaseModel):
    partner: Annotated[str, Field(min_length=2, max_length=128)]
    origin: Annotated[str | None, Field(max_length=128)] = None


@router.post("/restore")
def restore(request: Restore, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Rebuild this node's lost log from a partner's copy (administrators; see docs/ledger.md, Runbook)."""
    return service.restore_from_partner(
        platform.engine, identity, _keys(platform), request.partner, origin=request.origin
    )
