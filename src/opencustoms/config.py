"""Settings, read from the environment (prefix ``OPENCUSTOMS_``) or a ``.env`` file.

Every setting is documented in docs/operations.md; a test checks that none is missing there.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
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
    public_url: str | None = Field(
        default=None,
        description="The address the public reaches this installation at (e.g. https://customs.gov.example), as "
        "printed in the QR codes of documents (they open <public_url>/verify); unset: the address a page was "
        "requested at, or http://HOST:PORT of `opencustoms serve` for the CLI.",
    )
    max_upload_bytes: int = Field(
        default=200 * 1024 * 1024, description="Largest file the API accepts for a bulk import, in bytes."
    )
    import_batch_size: int = Field(default=1000, description="Declarations written per transaction during an import.")
    # --- security: API tokens and the audit log (docs/security.md) ---
    token_max_days: int = Field(
        default=365,
        ge=1,
        description="Longest validity of an API token, in days, for the whole administration; also the validity of "
        "a token issued without `valid_days`. Tokens always expire; a longer request is refused.",
    )
    audit_sign_interval_minutes: float = Field(
        default=60,
        ge=0,
        description="The API server signs the audit chain's head this often, in minutes, when the signing key file "
        "exists (0: off; `opencustoms audit sign` does it by hand).",
    )
    audit_signing_key_file: Path | None = Field(
        default=None,
        description="File holding the Ed25519 key (base64 of the 32-byte seed, mode 0600) that `opencustoms audit "
        "sign` signs the audit chain's head with, and whose signatures `audit verify` trusts; unset: the "
        "administration key of the ledger, <data_dir>/ledger/keys/administration/log.key.",
    )
    # --- staff sign-in with a password: rules and lockout (docs/security.md, "Password sign-in") ---
    password_min_length: int = Field(
        default=12,
        ge=8,
        le=256,
        description="Fewest characters of a staff password (`opencustoms users password` refuses shorter ones).",
    )
    password_max_failures: int = Field(
        default=5,
        ge=1,
        description="Wrong passwords for one user within OPENCUSTOMS_PASSWORD_FAILURE_WINDOW_MINUTES that lock the "
        "account's password sign-in.",
    )
    password_failure_window_minutes: float = Field(
        default=15, gt=0, description="Window, in minutes, in which failed password sign-ins are counted."
    )
    password_lockout_minutes: float = Field(
        default=15,
        gt=0,
        description="How long, in minutes, password sign-in stays locked after too many failures (API tokens keep "
        "working; `opencustoms users password NAME` unlocks at once).",
    )
    # --- staff sign-in with OpenID Connect (optional; docs/security.md, "OpenID Connect sign-in") ---
    oidc_issuer: str | None = Field(
        default=None,
        description="Issuer URL of the administration's OpenID Connect provider (its discovery document is "
        "<issuer>/.well-known/openid-configuration); unset: no OIDC sign-in.",
    )
    oidc_client_id: str | None = Field(
        default=None, description="Client id registered for OpenCustoms at the provider."
    )
    oidc_client_secret: str | None = Field(
        default=None, description="Client secret at the provider (unset: a public client, PKCE only)."
    )
    oidc_username_claim: str = Field(
        default="preferred_username", description="ID-token claim holding the OpenCustoms username."
    )
    oidc_scope: str = Field(default="openid profile", description="Scopes asked of the provider.")
    oidc_provider_name: str = Field(
        default="your organisation's account", description="How the sign-in page names the provider."
    )
    oidc_new_user_role: str | None = Field(
        default=None,
        description="Role given to a provider's user who has no OpenCustoms account yet, who is then created; unset: "
        "only existing users sign in.",
    )
    oidc_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one request to the provider, seconds.")
    # --- request body limits, enforced by the API's gate before a body is read (docs/security.md) ---
    max_request_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest body of an ordinary API request (JSON), in bytes."
    )
    max_declaration_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest body carrying one declaration (POST /declarations, /risk/decisions, origin checks).",
    )
    max_batch_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        description="Largest JSON batch (ledger entries appended, documents issued), in bytes.",
    )
    max_form_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest dashboard form, in bytes.")
    max_document_bytes: int = Field(
        default=6 * 1024 * 1024,
        ge=1024,
        description="Largest document sent for verification or obfuscation; keep it at or above "
        "OPENCUSTOMS_DOCUMENTS_MAX_UPLOAD_BYTES, whose own refusal names the document's limit.",
    )
    max_event_batch_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest batch of device events (POST /iot/events), in bytes; ingestion refuses a payload over "
        "4 MiB from any transport, so a larger value admits nothing more.",
    )
    max_scan_bytes: int = Field(
        default=8 * 32 * 1024 * 1024 + 1024 * 1024,
        ge=1024,
        description="Largest scan upload or scan package (8 views of at most 32 MiB each, plus metadata), in bytes.",
    )
    # --- the public tariff finder (docs/classification.md) ---
    tariff_searches_per_minute: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="Searches one client address may make on the public tariff finder (/tariff) per minute; "
        "beyond, the page answers 429 until the minute is over.",
    )
    # --- ledger: anchoring checkpoints on an EVM network (optional; docs/ledger.md) ---
    ledger_evm_rpc_url: str | None = Field(
        default=None,
        description="JSON-RPC URL of the EVM node (Hyperledger Besu, a LACChain node) holding the CheckpointAnchor "
        "contract, e.g. http://besu.customs.internal:8545.",
    )
    ledger_evm_contract: str | None = Field(
        default=None,
        description="Address of the CheckpointAnchor contract (printed by `opencustoms ledger anchor-deploy`).",
    )
    ledger_evm_private_key_file: Path | None = Field(
        default=None,
        description="File holding the hex private key of the account that anchors this node's checkpoints "
        "(transactions are signed locally); never the key itself in the environment.",
    )
    ledger_evm_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one JSON-RPC request, seconds.")
    ledger_anchor_every_entries: int = Field(
        default=0,
        ge=0,
        description="`opencustoms ledger serve` anchors the latest checkpoint once the log has grown by this many "
        "entries since the last anchor (0: not by size).",
    )
    ledger_anchor_every_minutes: float = Field(
        default=0,
        ge=0,
        description="`opencustoms ledger serve` anchors the latest checkpoint this many minutes after the last "
        "anchor when the log has grown (0: not by time).",
    )

    map_tile_url: str = Field(
        default="",
        description="Tile URL template of the administration's own map server for the transit and vessel maps "
        "(https://tiles.example/{z}/{x}/{y}.png; {s} stands for a subdomain); empty: the vendored base map.",
    )
    map_tile_attribution: str = Field(default="", description="Credit line the maps show under those tiles.")

    @field_validator("map_tile_url")
    @classmethod
    def _tile_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        # the host goes into the map pages' Content-Security-Policy: a plain host name and port, nothing else
        if (
            parts.scheme not in ("https", "http")
            or not re.fullmatch(r"(\{s\}\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?", parts.netloc)
            or not all(k in value for k in ("{z}", "{x}", "{y}"))
        ):
            raise ValueError(
                f"OPENCUSTOMS_MAP_TILE_URL {value!r} is not a tile URL template; write "
                "https://HOST/{z}/{x}/{y}.png (HOST may start with {s}.), or leave it empty for the built-in base map"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                f"OPENCUSTOMS_PUBLIC_URL {value!r} is not a base address; write https://HOST[:PORT][/PATH], e.g. "
                "https://customs.gov.example"
            )
        return value.strip().rstrip("/")

    @field_validator("oidc_new_user_role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        from opencustoms.security.roles import Role

        if value is not None and value not in {r.value for r in Role}:
            raise ValueError(
                f"OPENCUSTOMS_OIDC_NEW_USER_ROLE {value!r} is not a role; choose from "
                + ", ".join(r.value for r in Role)
            )
        return value

    @field_validator("ledger_evm_contract")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
            raise ValueError(f"OPENCUSTOMS_LEDGER_EVM_CONTRACT {value!r} is not an address (0x + 40 hex digits)")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
