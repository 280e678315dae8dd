from __future__ import annotations

from opencustoms.errors import OpenCustomsError


class StoreError(OpenCustomsError):
    status = 503
    title = "Storage unavailable"


class DatabaseNotInitialisedError(StoreError):
    def __init__(self, url: str) -> None:
        super().__init__(
            f"the database at {url} has no OpenCustoms tables or an older schema; run `opencustoms init` "
            "(it applies the migrations) and try again"
        )
