"""Errors of the classification pillar. Each message says what was wrong and what to do next."""

from __future__ import annotations

from opencustoms.errors import NotFoundError, OpenCustomsError


class ClassificationError(OpenCustomsError):
    title = "Classification error"


class ClassificationInputError(ClassificationError):
    """A description or option the suggester cannot use (empty, too long, unknown method)."""

    title = "Unusable goods description"


class ClassificationDataError(ClassificationError):
    """Too little confirmed history to train a model on."""

    title = "Too little classification history"


class ClassificationModelError(ClassificationError):
    """A model file that cannot be used (other format version, altered file)."""

    title = "Unusable classification model"


class ClassificationModelNotFoundError(NotFoundError):
    title = "Classification model not found"
