from __future__ import annotations

from opencustoms.errors import OpenCustomsError


class InvalidCodeError(OpenCustomsError, ValueError):
    """A code (HS, country, currency, container number, UN/LOCODE) is not valid.

    Derives from ValueError too, so pydantic validators turn it into a field-level validation error.
    """

    status = 422
    title = "Invalid code"


class NomenclatureFileError(OpenCustomsError):
    """An HS nomenclature file cannot be read."""

    status = 422
    title = "Unreadable nomenclature file"
