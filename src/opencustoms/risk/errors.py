"""Errors of the risk engine. Each message says what was wrong and what to do next."""

from __future__ import annotations

from opencustoms.errors import ConflictError, NotFoundError, OpenCustomsError


class RiskError(OpenCustomsError):
    title = "Risk engine error"


class RiskDataError(RiskError):
    """Input data that the risk engine cannot use as it is (missing columns, empty split, no fraud...)."""

    title = "Unusable risk data"


class RiskModelError(RiskError):
    """A model file that cannot be used (other format version, altered file, unknown version)."""

    title = "Unusable risk model"


class ProfileError(RiskError):
    title = "Invalid risk profile"


class ProfileNotFoundError(NotFoundError):
    title = "Risk profile not found"


class ModelNotFoundError(NotFoundError):
    title = "Risk model not found"


class DecisionNotFoundError(NotFoundError):
    title = "Risk decision not found"


class ProfileConflictError(ConflictError):
    title = "Risk profile conflict"
