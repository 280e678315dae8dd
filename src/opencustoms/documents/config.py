"""Settings of the documents pillar (environment prefix ``OPENCUSTOMS_DOCUMENTS_``); see docs/documents.md."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from opencustoms.documents.errors import DocumentError


class DocumentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENCUSTOMS_DOCUMENTS_", env_file=".env", extra="ignore")

    issuer_name: str = Field(
        default="Customs administration", description="Name written in issuers[0].name of every document issued here."
    )
    store_address: str = Field(
        default="0x0000000000000000000000000000000000000000",
        description="Address of this installation's document store, written in issuers[0].documentStore. With an "
        "EVM DocumentStore it is the contract's address; with the local registry any 0x-address the administration "
        "publishes in its DNS-TXT record.",
    )
    identity_domain: str = Field(
        default="customs.example", description="Domain named in issuers[0].identityProof.location (DNS-TXT)."
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
    verify_url: str = Field(
        default="http://127.0.0.1:8000/documents/verify/qr",
        description="Public verification address encoded in the QR code of printed documents.",
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
        # this installation's own identity is always known
        own = f"openatts net={self.network} netId={self.network_id} addr={self.store_address}"
        records.setdefault(self.identity_domain.lower().rstrip("."), [])
        if own not in records[self.identity_domain.lower().rstrip(".")]:
            records[self.identity_domain.lower().rstrip(".")].append(own)
        return records


@lru_cache(maxsize=1)
def get_document_settings() -> DocumentSettings:
    return DocumentSettings()
