"""Issuer identity: OpenAttestation's DNS-TXT convention, resolved from configuration (offline).

An issuer proves it controls a document store by publishing, in its domain's DNS, TXT records such as
``openatts net=ethereum netId=1 addr=0x...``. A verifier reads ``issuers[].identityProof.location`` (v2) or
``openAttestationMetadata.identityProof.identifier`` (v3) and checks that one record there names the document's
store. Sites that run offline keep the records they trust in configuration (OPENCUSTOMS_DOCUMENTS_DNS_TXT[_FILE]).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RECORD = re.compile(r"^openatts\s+(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class DnsTxtRecord:
    net: str
    net_id: str
    addr: str
    dnssec: bool = False


def parse_record(text: str) -> DnsTxtRecord | None:
    """``openatts net=ethereum netId=3 addr=0x...`` → record; anything else → None."""
    match = _RECORD.match(text.strip().strip('"'))
    if not match:
        return None
    fields = dict(part.split("=", 1) for part in match.group(1).split() if "=" in part)
    if not {"net", "netId", "addr"} <= fields.keys():
        return None
    return DnsTxtRecord(fields["net"], fields["netId"], fields["addr"])


class DnsTxtResolver:
    """Looks identities up in a configured mapping {domain: [TXT records]}; no network access."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = {k.lower().rstrip("."): [r for r in map(parse_record, v) if r] for k, v in records.items()}

    def knows(self, domain: str) -> bool:
        return domain.lower().rstrip(".") in self.records

    def binds(self, domain: str, address: str) -> bool:
        return any(r.addr.lower() == address.lower() for r in self.records.get(domain.lower().rstrip("."), []))


@dataclass(frozen=True)
class IssuerIdentity:
    """Who this installation issues as: the name in ``issuers[0].name``, the DNS-TXT domain that binds its store, and
    the store's address. ``domain`` is None until `opencustoms init --identity-domain` (or
    OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN) names one."""

    name: str
    domain: str | None
    store_address: str
    source: str  # where the domain comes from: "settings", "init" or "none"

    @property
    def placeholder(self) -> bool:
        from opencustoms.documents.config import is_placeholder

        return is_placeholder(self.domain)
