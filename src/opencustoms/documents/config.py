"""Settings of the documents pillar (environment prefix ``OPENCUSTOMS_DOCUMENTS_``); see docs/documents.md."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from opencustoms.documents.errors import DocumentError

PLACEHOLDER_DOMAIN = "customs.example"  # what an installation without an issuer identity would name: never trusted
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


def check_domain(value: str, name: str) -> str:
    """A DNS domain name (lower case, no trailing dot), or a clear refusal naming the setting or option."""
    domain = value.strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise ValueError(
            f"{name} {value!r} is not a domain name; give the domain whose DNS-TXT records publish this "
            "administration's document store, e.g. customs.gov.example"
        )
    return domain


def is_placeholder(domain: str | None) -> bool:
    """True for no domain and for the placeholder ``customs.example``, which no administration publishes."""
    return domain is None or domain.lower().rstrip(".") == PLACEHOLDER_DOMAIN


class DocumentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENCUSTOMS_DOCUMENTS_", env_file=".env", extra="ignore")

    issuer_name: str | None = Field(
        default=None,
        description="Name written in issuers[0].name of every document issued here; unset: the issuer name recorded "
        "by `opencustoms init --issuer-name` (by default the administration's --name).",
    )
    store_address: str = Field(
        default="0x0000000000000000000000000000000000000000",
        description="Address of this installation's document store, written in issuers[0].documentStore. With an "
        "EVM DocumentStore it is the contract's address; with the local registry any 0x-address the administration "
        "publishes in its DNS-TXT record.",
    )
    identity_domain: str | None = Field(
        default=None,
        description="Domain named in issuers[0].identityProof.location (DNS-TXT), whose openatts record binds this "
        "installation's document store; unset: the domain recorded by `opencustoms init --identity-domain`. Until "
        "one is set, issuing is refused.",
    )
    network: str = Field(default="ethereum", description="'net=' of the openatts DNS-TXT records this store uses.")
    network_id: str = Field(default="1337", description="'netId=' of the openatts DNS-TXT records this store uses.")
    dns_txt_file: Path | None = Field(
        default=None, description="JSON file {domain: [TXT record, ...]} used to resolve issuer identities offline."
    )
    dns_txt: dict[str, list[str]] = Field(
        default_factory=dict, description="The same mapping given inline (JSON in the environment variable)."
    )
    renderer_url: str = Field(
        default="https://customs.example/renderer",
        description="Written in $template.url; OpenAttestation viewers load the renderer there.",
    )
    max_upload_bytes: int = Field(
        default=5 * 1024 * 1024, description="Largest document the verification endpoint accepts, in bytes."
    )
    max_issue_bytes: int = Field(
        default=32 * 1024 * 1024,
        description="Largest body of an issuing request (POST /documents: up to 10,000 records of about 1 KB), in "
        "bytes.",
    )
    max_depth: int = Field(
        default=64,
        ge=8,
        le=200,
        description="Deepest nesting of objects and lists accepted in a document or in records to issue; deeper "
        "input is refused before it is parsed (wrapped OpenAttestation documents are about six levels deep).",
    )
    evm_rpc_url: str | None = Field(
        default=None,
        description="JSON-RPC URL of an EVM node (Hyperledger Besu, a LACChain node) whose DocumentStore contracts "
        "are read for status, e.g. http://besu.customs.internal:8545.",
    )
    evm_stores: list[str] = Field(
        default_factory=list,
        description="Addresses of the DocumentStore contracts on that network whose documents this installation "
        "verifies (JSON list). When this administration's own store_address is listed, its status is read from the "
        "contract instead of the local registry.",
    )
    evm_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one JSON-RPC request, in seconds.")
    evm_private_key_file: Path | None = Field(
        default=None,
        description="File holding the hex private key of the account that owns this administration's DocumentStore "
        "(to issue and revoke on the chain); never the key itself in the environment.",
    )

    @field_validator("identity_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return check_domain(value, "OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN") if value is not None else None

    @model_validator(mode="after")
    def _evm(self) -> DocumentSettings:
        if self.evm_stores and not self.evm_rpc_url:
            raise ValueError(
                "OPENCUSTOMS_DOCUMENTS_EVM_STORES names DocumentStore contracts but OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL "
                "is not set: give the JSON-RPC URL of a node on their network"
            )
        for address in self.evm_stores:
            if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
                raise ValueError(
                    f"OPENCUSTOMS_DOCUMENTS_EVM_STORES: {address!r} is not an address (0x + 40 hex digits)"
                )
        return self

    def txt_records(self) -> dict[str, list[str]]:
        records = {k.lower().rstrip("."): list(v) for k, v in self.dns_txt.items()}
        if self.dns_txt_file is not None:
            try:
                loaded = json.loads(self.dns_txt_file.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise DocumentError(
                    f"cannot read OPENCUSTOMS_DOCUMENTS_DNS_TXT_FILE {self.dns_txt_file}: {exc}; "
                    "it must be a JSON object {domain: [records]}"
                ) from exc
            for domain, values in loaded.items():
                records.setdefault(domain.lower().rstrip("."), []).extend(values)
        return records

    def own_record(self) -> str:
        """The openatts DNS-TXT record this installation's domain publishes for its store."""
        return f"openatts net={self.network} netId={self.network_id} addr={self.store_address}"


@lru_cache(maxsize=1)
def get_document_settings() -> DocumentSettings:
    return DocumentSettings()
