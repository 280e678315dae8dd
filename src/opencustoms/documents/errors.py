"""Errors of the documents pillar. Each says what was wrong and what to do."""

from __future__ import annotations

from opencustoms.errors import ConflictError, NotFoundError, OpenCustomsError


class DocumentError(OpenCustomsError):
    title = "Document error"


class DocumentFormatError(DocumentError):
    """The input is not a document this pillar can read (malformed JSON, unsupported version, bad shape)."""

    status = 422
    title = "Unreadable document"


class DocumentTooDeepError(DocumentFormatError):
    """JSON nested deeper than any document (refused before parsing)."""


class ObfuscationError(DocumentError):
    status = 422
    title = "Cannot hide these fields"


class TemplateDataError(DocumentError):
    status = 422
    title = "Invalid document data"


class IssuerNotConfiguredError(DocumentError):
    """Issuing refused: this installation's issuer identity is still the placeholder."""

    status = 409
    title = "No issuer identity"


class DocumentNotFoundError(NotFoundError):
    title = "Document not found"


class AlreadyRevokedError(ConflictError):
    title = "Already revoked"


class AlreadyIssuedError(ConflictError):
    title = "Already issued"


class UploadTooLargeError(DocumentError):
    status = 413
    title = "Upload too large"


class EvmUnavailableError(DocumentError):
    status = 503
    title = "EVM network unavailable"


class EvmPublishError(EvmUnavailableError):
    """Recorded in this installation's registry but not on its EVM DocumentStore (the message says how to finish)."""

    title = "Recorded here, not on the EVM store"
