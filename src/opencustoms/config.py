"""Settings, read from the environment (prefix ``OPENCUSTOMS_``) or a ``.env`` file.

Every setting is documented in docs/operations.md; a test checks that none is missing there.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENCUSTOMS_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/opencustoms.db",
        description="SQLAlchemy URL of the database. SQLite file under ./var/ by default; "
        "postgresql+psycopg://user@host/db in production.",
    )
    data_dir: Path = Field(default=Path("var"), description="Where the installation keeps its files and secrets.")
    pseudonym_key: str | None = Field(
        default=None,
        description="Secret for pseudonymising identifiers (HMAC-SHA256). When unset, a random key is created "
        "once in <data_dir>/pseudonym.key and kept there.",
    )
    administration: str | None = Field(
        default=None,
        description="Code of the administration this installation belongs to (e.g. its ISO 3166-1 country code); "
        "unset: the one administration registered by `opencustoms init`.",
    )
    host: str = Field(default="127.0.0.1", description="Address `opencustoms serve` binds to.")
    port: int = Field(default=8000, description="Port `opencustoms serve` listens on.")
    max_upload_bytes: int = Field(
        default=200 * 1024 * 1024, description="Largest file the API accepts for a bulk import, in bytes."
    )
    import_batch_size: int = Field(default=1000, description="Declarations written per transaction during an import.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
