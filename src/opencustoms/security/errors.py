from __future__ import annotations

from opencustoms.errors import OpenCustomsError


class AuthenticationError(OpenCustomsError):
    status = 401
    title = "Not authenticated"


class PermissionDeniedError(OpenCustomsError):
    status = 403
    title = "Forbidden"


class UserError(OpenCustomsError):
    status = 422
    title = "Invalid user"


class AuditSigningKeyError(OpenCustomsError):
    status = 422
    title = "Audit signing key unusable"
