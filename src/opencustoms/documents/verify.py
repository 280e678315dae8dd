"""Verification in three fragments, as OpenAttestation's verifier (oa-verify) reports them.

- **integrity**: the fields hash to targetHash and the proof leads to the merkle root;
- **status**: the merkle root is issued in the document's store and neither the document, any intermediate node of
  its proof, nor the root is revoked (DocumentStore semantics);
- **identity**: the store is bound to the issuer's domain by an ``openatts`` DNS-TXT record.

Each fragment is VALID, INVALID, ERROR (could not be decided: unknown store, unsupported method) or SKIPPED (does
not apply). A document is valid only when all three are VALID: an ERROR is never read as a pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select

from opencustoms.documents import jsoninput
from opencustoms.documents import openattestation as oa
from opencustoms.documents.config import PLACEHOLDER_DOMAIN, DocumentSettings, is_placeholder
from opencustoms.documents.errors import DocumentError, DocumentFormatError
from opencustoms.documents.identity import DnsTxtResolver, IssuerIdentity
from opencustoms.documents.registry import LocalRegistry, Revocation, StatusSource
from opencustoms.documents.tables import issued_documents


class Verdict(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Fragment:
    name: str
    verdict: Verdict
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerificationReport:
    valid: bool
    version: str | None
    fragments: list[Fragment]
    target_hash: str | None = None
    merkle_root: str | None = None
    document_store: str | None = None
    issuer_name: str | None = None
    identity_location: str | None = None
    template: str | None = None
    document_id: str | None = None
    hidden_field_count: int = 0
    hidden_fields: list[str] | None = None
    visible_fields: list[str] = field(default_factory=list)
    data: dict[str, Any] | None = None

    def fragment(self, name: str) -> Fragment:
        return next(f for f in self.fragments if f.name == name)

    @property
    def summary(self) -> str:
        return ", ".join(f"{f.name} {f.verdict.value}" for f in self.fragments)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data. Shallow: ``data`` and the lists are the report's own (fresh per
        verification), not copies, which ``dataclasses.asdict`` would deep-copy at a cost per field."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["fragments"] = [
            {"name": f.name, "verdict": f.verdict.value, "reason": f.reason, "detail": f.detail} for f in self.fragments
        ]
        return out


@dataclass(frozen=True)
class _Issuer:
    name: str | None
    method: str | None  # DOCUMENT_STORE, TOKEN_REGISTRY, DID, or None
    address: str | None
    identity_type: str | None
    identity_location: str | None
    store_field: str = "data.issuers.0.documentStore"  # where the document names them, for messages
    identity_field: str = "data.issuers.0.identityProof"


_ISSUER_KEYS = ("name", "id", "documentStore", "certificateStore", "tokenRegistry", "identityProof")


def _text(value: Any) -> str | None:
    """A field the verifier reads as text: the text, or None when it is missing or of another JSON type (a number,
    list or object where OpenAttestation has a string never names a store, an issuer or a domain)."""
    return value if isinstance(value, str) and value else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _issuers(document: dict[str, Any], version: str) -> list[_Issuer]:
    """The issuers a document names, each field typed (wrong JSON types read as absent, so the fragments say what
    is missing instead of crashing)."""
    if version == "2.0":
        raw = _object(document.get("data")).get("issuers")
        out = []
        for index, salted in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(salted, dict):
                continue
            # only the keys read below are unsalted (the rest of an issuer can be large and is not needed)
            issuer: dict[str, Any] = {k: oa.unsalt_data(salted[k]) for k in _ISSUER_KEYS if k in salted}
            proof = _object(issuer.get("identityProof"))
            store = _text(issuer.get("documentStore")) or _text(issuer.get("certificateStore"))
            method: str | None
            address: str | None
            if store:
                method, address = "DOCUMENT_STORE", store
            elif _text(issuer.get("tokenRegistry")):
                method, address = "TOKEN_REGISTRY", _text(issuer.get("tokenRegistry"))
            elif proof.get("type") in ("DID", "DNS-DID"):
                method, address = "DID", _text(issuer.get("id"))
            else:
                method, address = None, None
            out.append(
                _Issuer(
                    _text(issuer.get("name")),
                    method,
                    address,
                    _text(proof.get("type")),
                    _text(proof.get("location")),
                    f"data.issuers.{index}.documentStore",
                    f"data.issuers.{index}.identityProof",
                )
            )
        return out
    meta = _object(document.get("openAttestationMetadata"))
    v3_proof = _object(meta.get("proof"))
    identity = _object(meta.get("identityProof"))
    v3_issuer = _object(document.get("issuer"))
    return [
        _Issuer(
            _text(v3_issuer.get("name")),
            _text(v3_proof.get("method")),
            _text(v3_proof.get("value")),
            _text(identity.get("type")),
            _text(identity.get("identifier")),
            "openAttestationMetadata.proof",
            "openAttestationMetadata.identityProof",
        )
    ]


class Verifier:
    """Verifies documents against this installation's registry, optional EVM stores and the configured identities."""

    def __init__(
        self,
        engine: Engine,
        settings: DocumentSettings,
        stores: Mapping[str, StatusSource] | None = None,
        own: IssuerIdentity | None = None,
    ) -> None:
        """``own`` is this installation's issuer identity: its domain is trusted for its own store without a
        configured record, unless it is still the placeholder. The placeholder domain is never trusted, even when
        records for it are configured: every unconfigured installation would name it."""
        self.engine = engine
        self.settings = settings
        self.registry = LocalRegistry(engine)
        self.stores: dict[str, StatusSource] = {settings.store_address.lower(): self.registry}
        self.stores.update({k.lower(): v for k, v in (stores or {}).items()})
        records = {k: v for k, v in settings.txt_records().items() if not is_placeholder(k)}
        self.own_domain: str | None = None
        if own is not None and own.domain and not own.placeholder:
            self.own_domain = own.domain.lower().rstrip(".")
            own_records = records.setdefault(self.own_domain, [])
            if settings.own_record() not in own_records:
                own_records.append(settings.own_record())
        self.resolver = DnsTxtResolver(records)

    # --- fragments -------------------------------------------------------------------------------------------------

    def _status(
        self,
        issuers: list[_Issuer],
        integrity: oa.IntegrityResult,
        hashes: list[str],
        issued: set[str] | None = None,
        revoked: dict[str, Revocation] | None = None,
    ) -> Fragment:
        if not issuers:
            return Fragment("status", Verdict.ERROR, "the document names no issuer, so no store can be asked")
        if integrity.merkle_root is None or integrity.target_hash is None:
            return Fragment("status", Verdict.ERROR, "the document carries no valid targetHash / merkleRoot to look up")
        for issuer in issuers:
            if issuer.method == "TOKEN_REGISTRY":
                return Fragment(
                    "status",
                    Verdict.ERROR,
                    "transferable records (token registries) are not supported by this verifier",
                    {"address": issuer.address},
                )
            if issuer.method == "DID":
                return Fragment(
                    "status",
                    Verdict.ERROR,
                    "DID-signed documents are not supported by this verifier; verify them with OpenAttestation's tools",
                    {"did": issuer.address},
                )
            if issuer.method != "DOCUMENT_STORE" or not issuer.address:
                return Fragment(
                    "status",
                    Verdict.ERROR,
                    f"issuer {issuer.name!r} names no document store ({issuer.store_field}: a DOCUMENT_STORE address)",
                )
            source = self.stores.get(issuer.address.lower())
            if source is None:
                return Fragment(
                    "status",
                    Verdict.ERROR,
                    f"document store {issuer.address} is not known to this "
                    "installation (not this administration's registry nor a configured EVM store); its "
                    "status cannot be checked offline",
                    {"address": issuer.address},
                )
            local = source is self.registry and issued is not None and revoked is not None
            try:
                hit = self._store_status(source, local, issuer.address, integrity, hashes, issued, revoked)
            except DocumentError as exc:  # e.g. the EVM node does not answer: undecided, never a pass
                return Fragment(
                    "status",
                    Verdict.ERROR,
                    f"the status in store {issuer.address} could not be read: {exc.message}",
                    {"address": issuer.address},
                )
            if hit is not None:
                return hit
        return Fragment(
            "status",
            Verdict.VALID,
            "issued and not revoked in " + ", ".join(sorted({i.address or "" for i in issuers})),
        )

    def _store_status(
        self,
        source: StatusSource,
        local: bool,
        address: str,
        integrity: oa.IntegrityResult,
        hashes: list[str],
        issued: set[str] | None,
        revoked: dict[str, Revocation] | None,
    ) -> Fragment | None:
        """INVALID when the root is not issued in this store or a hash is revoked there; None when it is fine."""
        root = integrity.merkle_root
        is_issued = (root in issued) if local else source.is_issued(root)  # type: ignore[operator,arg-type]
        if not is_issued:
            return Fragment(
                "status",
                Verdict.INVALID,
                f"merkle root {root} was never issued in store {address}",
                {"address": address},
            )
        for h in hashes:
            if local:
                hit = revoked.get(h)  # type: ignore[union-attr]
            elif source is self.registry:
                hit = self.registry.revocation(h)
            else:
                hit = Revocation(h, None, "", "") if source.is_revoked(h) else None
            if hit is not None:
                what = (
                    "the document"
                    if h == integrity.target_hash
                    else ("its whole batch" if h == root else "part of its batch")
                )
                detail = {"address": address, "revoked_hash": h}
                when = ""
                if hit.revoked_at is not None:
                    when = f" on {hit.revoked_at:%Y-%m-%d}: {hit.reason}"
                    detail["reason"] = hit.reason
                return Fragment("status", Verdict.INVALID, f"revoked: {what} ({h}) was revoked{when}", detail)
        return None

    def _identity(self, issuers: list[_Issuer]) -> Fragment:
        if not issuers:
            return Fragment("identity", Verdict.ERROR, "the document names no issuer")
        names = []
        for issuer in issuers:
            if issuer.identity_type != "DNS-TXT":
                return Fragment(
                    "identity",
                    Verdict.ERROR,
                    f"identity proof {issuer.identity_type!r} ({issuer.identity_field}.type) is not supported "
                    "(only DNS-TXT)",
                )
            if not issuer.identity_location or not issuer.address:
                return Fragment(
                    "identity",
                    Verdict.INVALID,
                    f"the DNS-TXT identity proof names no location ({issuer.identity_field}) or the issuer no store "
                    f"({issuer.store_field})",
                )
            if is_placeholder(issuer.identity_location):
                return Fragment(
                    "identity",
                    Verdict.INVALID,
                    f"the document names the placeholder identity {PLACEHOLDER_DOMAIN} of an installation whose "
                    "issuer identity was never set; no administration publishes it, so its issuer is unknown",
                    {"location": issuer.identity_location},
                )
            if not self.resolver.knows(issuer.identity_location):
                return Fragment(
                    "identity",
                    Verdict.INVALID,
                    f"unknown issuer: no DNS-TXT records are configured for "
                    f"{issuer.identity_location}; once checked, add the issuer's published records to "
                    "OPENCUSTOMS_DOCUMENTS_DNS_TXT_FILE",
                    {"location": issuer.identity_location},
                )
            if not self.resolver.binds(issuer.identity_location, issuer.address):
                return Fragment(
                    "identity",
                    Verdict.INVALID,
                    f"{issuer.identity_location} publishes no openatts record for store {issuer.address}",
                    {"location": issuer.identity_location},
                )
            own = issuer.identity_location.lower().rstrip(".") == self.own_domain
            names.append(
                f"{issuer.name or 'issuer'} ({issuer.identity_location}"
                + (", this installation's own identity)" if own else ")")
            )
        return Fragment("identity", Verdict.VALID, "store bound by DNS-TXT to " + ", ".join(names))

    # --- documents -------------------------------------------------------------------------------------------------

    def _report(
        self,
        document: Any,
        issued: set[str] | None,
        revoked: dict[str, Revocation] | None,
        with_data: bool,
        integrity: oa.IntegrityResult | DocumentFormatError | None = None,
    ) -> VerificationReport:
        try:
            if isinstance(integrity, DocumentFormatError):
                raise integrity
            version = oa.detect_version(document)
        except DocumentFormatError as exc:
            reason = exc.message
            return VerificationReport(
                False,
                None,
                [
                    Fragment("integrity", Verdict.ERROR, reason),
                    Fragment("status", Verdict.SKIPPED, "unsupported document"),
                    Fragment("identity", Verdict.SKIPPED, "unsupported document"),
                ],
            )
        integrity = integrity or oa.verify_integrity(document)
        try:
            issuers = _issuers(document, version)
        except DocumentFormatError:
            issuers = []
        hashes = list(integrity.nodes) or ([integrity.target_hash] if integrity.target_hash else [])
        if integrity.merkle_root and integrity.merkle_root not in hashes:
            hashes.append(integrity.merkle_root)
        fragments = [
            Fragment("integrity", Verdict.VALID if integrity.valid else Verdict.INVALID, integrity.reason),
            self._status(issuers, integrity, hashes, issued, revoked),
            self._identity(issuers),
        ]
        report = VerificationReport(
            all(f.verdict is Verdict.VALID for f in fragments),
            version,
            fragments,
            integrity.target_hash,
            integrity.merkle_root,
            issuers[0].address if issuers else None,
            issuers[0].name if issuers else None,
            issuers[0].identity_location if issuers else None,
            hidden_field_count=integrity.obfuscated_fields,
        )
        if with_data:
            try:
                data = oa.document_data(document)
                report.data = data
                report.visible_fields = oa.visible_paths(document)
                template = (
                    data.get("$template")
                    if version == "2.0"
                    else _object(data.get("openAttestationMetadata")).get("template")
                )
                report.template = _text(_object(template).get("name"))
                number = data.get("id") if data.get("id") is not None else data.get("reference")
                report.document_id = str(number)[:200] if isinstance(number, str | int | float) else None
            except DocumentFormatError:
                pass
            if integrity.obfuscated_fields and integrity.target_hash:
                report.hidden_fields = self.hidden_fields(integrity.target_hash, report.visible_fields)
        return report

    def hidden_fields(self, target_hash: str, visible: list[str]) -> list[str] | None:
        """Which fields were hidden, when the original was issued here (OpenAttestation keeps only hashes)."""
        with self.engine.connect() as conn:
            wrapped = conn.execute(
                select(issued_documents.c.wrapped).where(issued_documents.c.target_hash == target_hash)
            ).scalar()
        if wrapped is None:
            return None
        return sorted(set(oa.visible_paths(wrapped)) - set(visible))

    def verify(self, document: Any) -> VerificationReport:
        """One document, with its data; its root and every node of its proof are looked up in one query."""
        return self.verify_many([document], with_data=True)[0]

    def verify_many(self, documents: Sequence[Any], with_data: bool = False) -> list[VerificationReport]:
        """Verify a batch: integrity first (fields hashed in one pass, shared proof nodes computed once), then one
        registry query for every root, target and proof node."""
        with oa.gc_paused():
            return self._verify_many(documents, with_data)

    def _verify_many(self, documents: Sequence[Any], with_data: bool) -> list[VerificationReport]:
        # a document deeper than the limit is not walked (the walks below recurse once per level)
        too_deep: dict[int, DocumentFormatError] = {}
        for index, document in enumerate(documents):
            try:
                jsoninput.check_value_depth(document, self.settings.max_depth)
            except DocumentFormatError as exc:
                too_deep[index] = exc
        results = oa.verify_integrity_many(
            [None if i in too_deep else d for i, d in enumerate(documents)] if too_deep else documents
        )
        for index, refusal in too_deep.items():
            results[index] = refusal
        roots: set[str] = set()
        hashes: set[str] = set()
        for integrity in results:
            if isinstance(integrity, DocumentFormatError):
                continue
            hashes.update(integrity.nodes)
            if integrity.merkle_root:
                roots.add(integrity.merkle_root)
                hashes.add(integrity.merkle_root)
            if integrity.target_hash:
                hashes.add(integrity.target_hash)
        issued, revoked = self.registry.statuses(roots, hashes) if roots or hashes else (set(), {})
        return [
            self._report(document, issued, revoked, with_data, r)
            for document, r in zip(documents, results, strict=True)
        ]
