"""Settings of the documents pillar (environment prefix ``OPENCUSTOMS_DOCUMENTS_``); see docs/documents.md."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
