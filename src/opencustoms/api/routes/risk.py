"""Risk engine endpoints: online lanes with reasons, queue, explanations, inspection results, profiles, models.

Permissions (security/access.py, enforced by the API gate and again by the service): deciding (POST
/risk/decisions/{reference}, POST /risk/backlog) needs decisions:write; the what-if (POST /risk/what-if),
GET /risk/decisions/{reference} and GET /risk/queue need declarations:read."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from opencustoms.api.deps import IdentityDep, LanguageDep, PlatformDep
from opencustoms.model import Declaration
from opencustoms.risk import service

router = APIRouter(prefix="/risk", tags=["risk"])
# why personal data is read (audited with the read); the audit log keeps at most 200 characters
Purpose = Annotated[str | None, Query(max_length=200)]


class Contribution(BaseModel):
    feature: str = Field(description="The model's feature (machine name).")
    value: float | None = Field(description="The feature's value for this declaration.")
    contribution: float = Field(description="How much it raised the model's score (log-odds).")
    code: str | None = Field(default=None, description="The sentence's entry in risk/data/reasons.toml.")
    values: dict[str, Any] | None = Field(default=None, description="The evidence in the sentence, as data.")
    text: str | None = Field(default=None, description="The evidence as a sentence, in the Accept-Language asked.")
    strength: Literal["strong", "raises", "slight"] | None = None
    strength_text: str | None = Field(default=None, description="The strength in words (the reader's language).")
    share: float | None = Field(default=None, description="Its weight against the largest one, in [0, 1].")


class Reason(BaseModel):
    kind: str = Field(description="profile, signal, missing_data, random, aeo, lane or model.")
    text: str = Field(description="The reason as a sentence, in the language of the Accept-Language header (en, fr).")
    code: str | None = Field(default=None, description="Its entry in risk/data/reasons.toml (None: shown as stored).")
    values: dict[str, Any] | None = Field(default=None, description="The values the sentence states, as data.")
    contributions: list[Contribution] | None = None


class Decision(BaseModel):
    reference: str
    lane: Literal["green", "yellow", "red", "blue"]
    score: float | None = Field(description="Probability of fraud, in [0, 1] (None without a model).")
    score_percent: float | None = Field(default=None, description="The probability as a percentage, one decimal.")
    band: Literal["very high", "high", "medium", "low"] | None = Field(
        default=None, description="very high (from 75%), high (50%), medium (20%), low."
    )
    model_version: str | None
    random_draw: float
    reasons: list[Reason]
    top_reason: str | None = Field(default=None, description="The one reason a queue shows.")
    price: dict[str, Any] | None = Field(
        default=None,
        description="GET /risk/decisions/{reference}: the unit value against the price reference the model used "
        "(code, values, text in the Accept-Language asked); null without a model.",
    )


class Importer(BaseModel):
    id: str | None = Field(description="Trader id with personal_data:read, else its pseudonym.")
    name: str | None = Field(description="Only with personal_data:read.")


class QueueRow(Decision):
    rank_score: float | None = Field(default=None, description="Raw model score: the order where probabilities tie.")
    status: Literal["awaiting", "inspected", "released"]
    officer: str | None
    acceptance_date: dt.date
    office: str
    hs_code: str | None = None
    origin: str | None = None
    value: float | None = None
    currency: str | None = None
    importer: Importer | None = None
    decided_at: dt.datetime


class AssignmentIn(BaseModel):
    officer: str | None = Field(
        min_length=1, max_length=64, description="The officer's user name; null takes the assignment back."
    )


class InspectionIn(BaseModel):
    reference: str = Field(min_length=1, max_length=64)
    outcome: Literal["fraud", "compliant"]
    revenue_recovered: float | None = Field(default=None, ge=0)
    note: str | None = Field(default=None, max_length=2000)


@router.post("/decisions/{reference}", response_model=Decision, status_code=201)
def decide(
    reference: str, platform: PlatformDep, identity: IdentityDep, lang: LanguageDep, purpose: Purpose = None
) -> dict[str, Any]:
    """Lane the stored declaration ``reference`` online and store the decision (decisions:write): its lane and
    every reason (profiles, model contributions, signals, draw). 404 when no declaration has that reference."""
    return service.decide(platform, identity, reference, purpose=purpose, lang=lang)


@router.post("/what-if", response_model=Decision)
def what_if(
    declaration: Declaration, platform: PlatformDep, identity: IdentityDep, lang: LanguageDep, purpose: Purpose = None
) -> dict[str, Any]:
    """What-if (declarations:read): the lane and reasons this declaration would get online. Nothing is stored,
    whatever its reference: a stored declaration's lane changes only through POST /risk/decisions/{reference}."""
    return service.assess(platform, identity, declaration, purpose=purpose, lang=lang)


@router.get("/decisions/{reference}", response_model=Decision)
def explain(
    reference: str, platform: PlatformDep, identity: IdentityDep, lang: LanguageDep, purpose: Purpose = None
) -> dict[str, Any]:
    """The latest decision about a declaration, with its reasons as sentences in the Accept-Language asked (en,
    fr) beside their machine fields (parties masked without personal_data:read)."""
    return service.explain(
        platform.engine, identity, reference, pseudonymiser=platform.pseudonymiser, purpose=purpose, lang=lang
    )


@router.post("/backlog")
def score_backlog(
    platform: PlatformDep,
    identity: IdentityDep,
    seed: int = 0,
    scope: Literal["awaiting", "rescore", "all"] = "awaiting",
) -> dict[str, Any]:
    """Decide the stored declarations that await a decision, with their signals (decisions:write). ``scope``:
    awaiting (no decision, not inspected), rescore (also those laned red/yellow/blue and not inspected yet), all
    (every declaration without a decision, inspected ones included)."""
    return service.score_backlog(platform, identity, seed=seed, scope=scope)


@router.get("/queue", response_model=list[QueueRow])
def queue(
    platform: PlatformDep,
    identity: IdentityDep,
    lane: Literal["green", "yellow", "red", "blue"] | None = None,
    status: Literal["awaiting", "inspected", "released", "any"] = "awaiting",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    office: Annotated[str | None, Query(min_length=1, max_length=17)] = None,
    officer: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    hs_chapter: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
    origin: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    purpose: Purpose = None,
    lang: LanguageDep = "en",
) -> list[dict[str, Any]]:
    """The officers' queue, most likely fraud first (probability, then the raw model score): by default what
    awaits inspection in every lane. Each row: lane, ``score`` (probability in [0, 1]), ``score_percent``,
    ``band``, status, assigned officer, HS code, origin, importer (a pseudonym without personal_data:read), value
    and the top reason."""
    filters = service.QueueFilters(
        lane=lane,
        status=None if status == "any" else status,
        date_from=date_from,
        date_to=date_to,
        office=office,
        officer=officer,
        hs_chapter=hs_chapter,
        origin=origin,
    )
    return service.queue(
        platform.engine,
        identity,
        limit=limit,
        offset=offset,
        filters=filters,
        pseudonymiser=platform.pseudonymiser,
        purpose=purpose,
        lang=lang,
    )


@router.post("/assignments/{reference}")
def assign(reference: str, body: AssignmentIn, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Assign a queued declaration to an officer, or take it back (``officer`` null); decisions:write, audited.
    404 when no declaration has that reference; 400 naming ``officer`` when no active user has that name."""
    return service.assign(platform.engine, identity, reference, body.officer)


@router.post("/inspections", status_code=201)
def record_inspection(body: InspectionIn, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Record what an inspection found; retraining learns only from these."""
    return service.record_inspection(
        platform.engine, identity, body.reference, body.outcome, body.revenue_recovered, note=body.note
    )


class InspectionRecord(BaseModel):
    reference: str | None = Field(default=None, max_length=200)
    outcome: str | int | bool | None = None
    revenue: float | str | None = None
    date: str | None = Field(default=None, max_length=40)
    officer: str | None = Field(default=None, max_length=4000)
    findings: str | None = Field(default=None, max_length=4000)


class InspectionBatchIn(BaseModel):
    results: list[InspectionRecord] = Field(min_length=1, max_length=10_000)


@router.post("/inspections/batch")
def record_inspections_batch(body: InspectionBatchIn, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Record many past inspection results (reference, outcome, date; revenue, officer, findings), as
    `opencustoms import-inspections` does: results already recorded (same declaration and date) are skipped, bad
    ones and those for unknown declarations come back as problems (``row`` is the 1-based position in
    ``results``); the good ones are stored."""
    report = service.record_inspections_batch(
        platform.engine, identity, [r.model_dump(exclude_none=True) for r in body.results]
    )
    return report.summary() | {
        "problems": [
            {"row": p.row, "reference": p.reference, "field": p.field, "value": p.value, "reason": p.reason}
            for p in report.problems
        ]
    }


@router.get("/profiles")
def list_profiles(platform: PlatformDep, identity: IdentityDep, on: dt.date | None = None) -> list[dict[str, Any]]:
    return service.list_profiles(platform.engine, identity, on)


@router.post("/profiles", status_code=201)
def save_profile(body: dict[str, Any], platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Add a profile or a new version of one: {id, lane, weight, reason, criteria, valid_from, valid_to}."""
    return service.save_profile(platform.engine, identity, body)


@router.get("/profiles/{profile_id}")
def profile_history(profile_id: str, platform: PlatformDep, identity: IdentityDep) -> list[dict[str, Any]]:
    """Every version of a profile, oldest first."""
    return service.profile_history(platform.engine, identity, profile_id)


@router.post("/profiles/{profile_id}/retire")
def retire_profile(
    profile_id: str, platform: PlatformDep, identity: IdentityDep, on: dt.date | None = None
) -> dict[str, Any]:
    return service.retire_profile(platform.engine, identity, profile_id, on)


@router.get("/models")
def list_models(platform: PlatformDep, identity: IdentityDep) -> list[dict[str, Any]]:
    return service.list_models(platform.engine, identity)


@router.get("/models/{version}/report")
def model_report(version: str, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """A model version with its evaluation report (precision@n% and recall@n% curves of the model, rules-only,
    random and perfect selection on held-out data, AUC, top features by gain) and its drift since promotion."""
    return service.model_report(platform.engine, identity, version)


@router.get("/models/{version}/drift")
def model_drift(version: str, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """PSI of what the version scored since its promotion against its reference scores, with both histograms."""
    return service.score_drift(platform.engine, identity, version)


@router.get("/valuation/flags")
def valuation_flags(
    platform: PlatformDep,
    identity: IdentityDep,
    since: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    window_days: Annotated[int, Query(ge=1, le=3650)] = 365,
    min_sample: Annotated[int, Query(ge=3, le=10_000)] = 10,
) -> dict[str, Any]:
    """Under- and over-valued goods items of stored import declarations accepted since ``since`` (default: the
    newest 30 days), each with its reference band, sample size, level and period. Declared values are unchanged."""
    return service.valuation_flags_stored(
        platform.engine, identity, since=since, limit=limit, window_days=window_days, min_sample=min_sample
    )


@router.post("/models/{version}/promote")
def promote_model(version: str, platform: PlatformDep, identity: IdentityDep) -> dict[str, str]:
    service.promote_model(platform.engine, identity, version)
    return {"version": version, "status": "promoted"}


@router.post("/models/rollback")
def rollback_model(platform: PlatformDep, identity: IdentityDep) -> dict[str, str]:
    return {"version": service.rollback_model(platform.engine, identity), "status": "promoted"}
