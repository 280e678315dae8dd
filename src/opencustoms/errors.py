"""The root of every OpenCustoms error.

Each package has its own ``errors.py`` whose exceptions derive from :class:`OpenCustomsError`. A message says
what was wrong and what to do about it; ``field`` names the offending input where there is one, so adapters can
turn it into an RFC 9457 problem (API), a report line (import) or a one-line message (CLI).
"""

from __future__ import annotations


class OpenCustomsError(Exception):
    """Base class. ``status`` is the HTTP status an adapter should answer with."""

    status: int = 400
    title: str = "Bad request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFoundError(OpenCustomsError):
    status = 404
    title = "Not found"


class ConflictError(OpenCustomsError):
    status = 409
    title = "Conflict"


class ConfigurationError(OpenCustomsError):
    status = 500
    title = "Configuration error"
