from __future__ import annotations

from opencustoms.errors import ConflictError, OpenCustomsError


class MigrationError(OpenCustomsError):
    title = "Installation not moved"


class TargetNotEmptyError(ConflictError):
    title = "Target database not empty"


class LakeError(OpenCustomsError):
    status = 400
    title = "Data lake not written"
