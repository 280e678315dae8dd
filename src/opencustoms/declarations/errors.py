from __future__ import annotations

from opencustoms.errors import ConflictError, NotFoundError, OpenCustomsError


class DeclarationNotFoundError(NotFoundError):
    def __init__(self, reference: str) -> None:
        super().__init__(
            f"no declaration with functional_reference_id {reference!r}; list them with "
            "GET /declarations or `opencustoms export`",
            field="functional_reference_id",
        )


class DuplicateDeclarationError(ConflictError):
    def __init__(self, reference: str) -> None:
        super().__init__(
            f"a declaration with functional_reference_id {reference!r} is already stored; "
            "references are unique — use a new one, or amend the stored declaration",
            field="functional_reference_id",
        )


class ImportFileError(OpenCustomsError):
    """The file as a whole cannot be imported (unknown format, wrong header); no row was read."""

    status = 422
    title = "Unreadable import file"


class InspectionError(OpenCustomsError):
    status = 422
    title = "Invalid inspection result"
