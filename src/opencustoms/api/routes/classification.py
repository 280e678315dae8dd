"""`/hs/...`: HS suggestions for goods descriptions, a code's path, the HS model versions. Logic lives in
opencustoms.classification.service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from opencustoms.api.deps import IdentityDep, PlatformDep
from opencustoms.classification import service

router = APIRouter(prefix="/hs", tags=["classification"])

MAX_BATCH = 100  # descriptions per request: a declaration's goods items at a time

Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=service.MAX_DESCRIPTION_CHARS)
]


class SuggestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    descriptions: list[Description] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"Goods descriptions (1 to {MAX_BATCH}, each 1 to {service.MAX_DESCRIPTION_CHARS} characters).",
    )
    top_k: int = Field(default=5, ge=1, le=service.MAX_TOP_K, description="Suggestions per description.")
    method: Literal["auto", "lexical", "model"] = Field(
        default="auto",
        description="auto: the promoted HS model with the nomenclature as fallback, else the nomenclature; "
        "lexical: the nomenclature texts only; model: require a promoted model (404 otherwise).",
    )


@router.post("/suggest")
def suggest(body: SuggestRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Top-k HS6 subheadings per description, each with a confidence, its path and its evidence."""
    return service.suggest(platform.engine, body.descriptions, body.top_k, method=body.method, actor=identity)


@router.get("/explain/{code}")
def explain(code: str, identity: IdentityDep, edition: Literal["2022", "2017"] = "2022") -> dict[str, Any]:
    """An HS code's path (section › chapter › heading › subheading) with the texts, and the codes under it."""
    return service.explain(code, edition)


@router.get("/models")
def models(platform: PlatformDep, identity: IdentityDep) -> list[dict[str, Any]]:
    """The HS model versions, newest first, with their held-out metrics."""
    return service.models(platform.engine, identity)


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    promote: bool = Field(default=False, description="Put the new version in service at once.")
    holdout: float = Field(default=service.HOLDOUT, gt=0, lt=1, description="Newest share held out to evaluate.")
    seed: int = Field(default=0, ge=0, description="Random seed of the training.")


@router.post("/models")
def train(body: TrainRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Train an HS model version on the confirmed goods descriptions (compliant inspections)."""
    return service.train(platform, identity, promote=body.promote, holdout=body.holdout, seed=body.seed)


@router.post("/models/{version}/promote")
def promote(version: str, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Put an HS model version in service; the previous one is retired."""
    service.promote_model(platform.engine, identity, version)
    return {"version": version, "status": "promoted"}


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    references: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=10_000, description="Declarations to check (omit: every stored declaration)."
    )
    threshold: float = Field(default=0.6, ge=0.5, lt=1, description="Confidence the description must give.")


@router.post("/signals")
def check(body: CheckRequest, platform: PlatformDep, identity: IdentityDep) -> dict[str, Any]:
    """Emit the misclassification signals (classification.description_mismatch); idempotent."""
    from opencustoms.classification import mismatch

    return mismatch.check(platform.engine, identity, body.references, threshold=body.threshold)
