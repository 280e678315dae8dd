"""Public face of the documents pillar: issue, revoke, verify, obfuscate, show, print, and check the certificates of
origin that declarations claim preference with.

Issuing and revoking need ``documents:issue`` and are audited in the same transaction; reading stored documents
needs ``documents:read``; verification is public (anyone holding a document may check it), as is obfuscation (a
pure function on the holder's own copy).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from opencustoms import signals
from opencustoms.documents import jsoninput, render, templates
from opencustoms.documents import openattestation as oa
from opencustoms.documents.config import PLACEHOLDER_DOMAIN, DocumentSettings, check_domain, get_document_settings
from opencustoms.documents.errors import (
    AlreadyIssuedError,
    AlreadyRevokedError,
    DocumentError,
    DocumentFormatError,
    DocumentNotFoundError,
    EvmPublishError,
    IssuerNotConfiguredError,
    UploadTooLargeError,
)
from opencustoms.documents.identity import IssuerIdentity
from opencustoms.documents.registry import LocalRegistry, Revocation, StatusSource, normalise_hash
from opencustoms.documents.tables import document_issuer, document_revocations, issued_documents
from opencustoms.documents.verify import Verdict, VerificationReport, Verifier
from opencustoms.model import Declaration, GoodsItem, Party
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record, utcnow
from opencustoms.store.bulk import insert_tuples, sqlite_timestamp
from opencustoms.store.database import as_utc

if TYPE_CHECKING:  # web3 is imported only when an EVM store is configured
    from opencustoms.config import Settings
    from opencustoms.documents.evm import EvmDocumentStore

__all__ = [
    "IssueResult",
    "OriginCheck",
    "Verdict",
    "VerificationReport",
    "check_declaration_origin",
    "deploy_evm_store",
    "own_evm_store",
    "sync_evm",
    "issue",
    "issuer_identity",
    "obfuscate",
    "public_base_url",
    "record_issuer",
    "parse_document",
    "parse_json",
    "render_html",
    "render_pdf",
    "revoke",
    "show",
    "verifier",
    "verify",
    "verify_many",
    "verify_qr",
    "verify_text",
]

_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def _settings(settings: DocumentSettings | None) -> DocumentSettings:
    return settings or get_document_settings()


# --- input --------------------------------------------------------------------------------------------------------


def parse_document(
    raw: bytes | str | dict[str, Any], max_bytes: int | None = None, max_depth: int | None = None
) -> dict[str, Any]:
    """A wrapped document from JSON text; a clear refusal for too large, too deeply nested (measured before
    parsing), non-UTF-8 or malformed input. An object already parsed is measured for depth too."""
    limit = max_depth or get_document_settings().max_depth
    if isinstance(raw, dict):
        jsoninput.check_value_depth(raw, limit)
        return raw
    if max_bytes is not None and len(raw) > max_bytes:
        raise UploadTooLargeError(
            f"the document is {len(raw)} bytes; the limit is {max_bytes} "
            "(OPENCUSTOMS_DOCUMENTS_MAX_UPLOAD_BYTES). A wrapped document is a few kilobytes: "
            "check that you sent the right file"
        )
    if not isinstance(raw, bytes | str):
        raise DocumentFormatError("a wrapped document is a JSON object ({...})", field="document")
    document = jsoninput.loads(raw, limit, "the document")
    if not isinstance(document, dict):
        raise DocumentFormatError("a wrapped document is a JSON object ({...})", field="document")
    return document


def parse_json(
    raw: bytes | str,
    settings: DocumentSettings | None = None,
    what: str = "the request",
    max_bytes: int | None = None,
) -> Any:
    """Untrusted JSON (an API body, a file of records): size (``max_bytes``, by default
    OPENCUSTOMS_DOCUMENTS_MAX_UPLOAD_BYTES) and depth refused before parsing, then parsed with the refusals of
    :func:`opencustoms.documents.jsoninput.loads`."""
    settings = _settings(settings)
    limit = max_bytes if max_bytes is not None else settings.max_upload_bytes
    if len(raw) > limit:
        raise UploadTooLargeError(f"{what} is {len(raw)} bytes; the limit is {limit}")
    return jsoninput.loads(raw, settings.max_depth, what)


# --- the issuer identity ------------------------------------------------------------------------------------------

DEFAULT_ISSUER_NAME = "Customs administration"


def issuer_identity(engine: Engine, settings: DocumentSettings | None = None) -> IssuerIdentity:
    """Who this installation issues as. The name: OPENCUSTOMS_DOCUMENTS_ISSUER_NAME, else the one recorded by
    `opencustoms init`, else the name of the administration it registered. The domain:
    OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN, else the one recorded by `opencustoms init --identity-domain`, else
    none (issuing is then refused)."""
    from opencustoms.store.tables import administrations

    settings = _settings(settings)
    with engine.connect() as conn:
        row = conn.execute(select(document_issuer).where(document_issuer.c.id == 1)).first()
        names = [] if row is not None else list(conn.execute(select(administrations.c.name).limit(2)).scalars())
    recorded_name = row.issuer_name if row is not None else (names[0] if len(names) == 1 else None)
    name = settings.issuer_name or recorded_name or DEFAULT_ISSUER_NAME
    if settings.identity_domain:
        domain, source = settings.identity_domain, "settings"
    elif row is not None:
        domain, source = row.identity_domain, "init"
    else:
        domain, source = None, "none"
    return IssuerIdentity(name, domain, settings.store_address, source)


def record_issuer(engine: Engine, actor: Identity, issuer_name: str, identity_domain: str) -> IssuerIdentity:
    """Record this installation's issuer identity (what `opencustoms init --issuer-name --identity-domain` does);
    audited. The placeholder domain is refused."""
    actor.require(Permission.USERS_MANAGE)
    name = issuer_name.strip()
    if not name or len(name) > 200:
        raise DocumentFormatError("the issuer name is 1 to 200 characters", field="issuer_name")
    try:
        domain = check_domain(identity_domain, "--identity-domain")
    except ValueError as exc:
        raise DocumentFormatError(str(exc), field="identity_domain") from exc
    if domain == PLACEHOLDER_DOMAIN:
        raise DocumentFormatError(
            f"{PLACEHOLDER_DOMAIN} is the placeholder no administration publishes; give your own domain",
            field="identity_domain",
        )
    values = {"issuer_name": name, "identity_domain": domain, "recorded_at": utcnow(), "recorded_by": actor.username}
    with engine.begin() as conn:
        exists = conn.execute(select(document_issuer.c.id).where(document_issuer.c.id == 1)).first()
        if exists:
            conn.execute(document_issuer.update().where(document_issuer.c.id == 1).values(**values))
        else:
            conn.execute(document_issuer.insert().values(id=1, **values))
        record(conn, actor, "set", "document_issuer", domain, detail={"issuer_name": name})
    return IssuerIdentity(name, domain, _settings(None).store_address, "init")


def _issuing_identity(engine: Engine, settings: DocumentSettings) -> IssuerIdentity:
    identity = issuer_identity(engine, settings)
    if identity.placeholder:
        raise IssuerNotConfiguredError(
            "this installation has no issuer identity: its documents would name "
            f"{identity.domain or 'no domain'}, which no verifier can trust. Set the domain whose DNS-TXT record "
            "publishes this administration's document store: `opencustoms init --identity-domain DOMAIN "
            '--issuer-name "NAME"`, or OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN',
            field="identity_domain",
        )
    return identity


def public_base_url(settings: Settings | None = None, request_base: str | None = None) -> str:
    """The public address of this installation's pages, which the QR codes of its documents open (its /verify page):
    OPENCUSTOMS_PUBLIC_URL, else the address the request came to, else the address `opencustoms serve` listens on."""
    from opencustoms.config import get_settings

    settings = settings or get_settings()
    base = settings.public_url or request_base or f"http://{settings.host}:{settings.port}"
    return base.rstrip("/")


# --- issuing ------------------------------------------------------------------------------------------------------


@dataclass
class IssueResult:
    merkle_root: str
    template: str
    documents: list[dict[str, Any]]
    evm_transaction: str | None = None  # when this administration's store is an EVM contract

    @property
    def target_hashes(self) -> list[str]:
        return [d["signature"]["targetHash"] for d in self.documents]


def issue(
    engine: Engine,
    actor: Identity,
    template: str,
    records: Sequence[dict[str, Any]],
    settings: DocumentSettings | None = None,
    evm_store: EvmDocumentStore | None = None,
) -> IssueResult:
    """Validate the records against the template, wrap them as one batch, store the documents and issue the root,
    all in one transaction with its audit entry.

    When this administration's store is a DocumentStore contract (``store_address`` among the configured EVM
    stores, or ``evm_store`` given), the root is then issued on the chain too; if that fails, the documents stay
    issued here and :class:`EvmPublishError` says how to finish (``sync_evm``)."""
    actor.require(Permission.DOCUMENTS_ISSUE)
    settings = _settings(settings)
    chosen = templates.get_template(template)
    identity = _issuing_identity(engine, settings)
    if not records:
        raise DocumentFormatError("nothing to issue: give at least one document's data", field="records")
    jsoninput.check_value_depth(list(records), settings.max_depth + 1)  # the list itself is one level
    with oa.gc_paused():  # tens of thousands of fresh, acyclic dicts: the cyclic GC would rescan them again and again
        ids = []
        raws = []
        for index, data in enumerate(records):
            if not isinstance(data, dict):
                raise DocumentFormatError(f"record {index + 1} is not a JSON object", field=f"records.{index}")
            try:
                model = templates.validate(chosen, data)
            except DocumentFormatError as exc:
                exc.message = f"record {index + 1}: {exc.message}" if len(records) > 1 else exc.message
                raise
            ids.append(model.id)  # type: ignore[attr-defined]
            raws.append(templates.to_openattestation(chosen, model, settings, identity))
        wrapped = oa.wrap_documents(raws)
        root = wrapped[0]["signature"]["merkleRoot"]
        now = utcnow()
        with engine.begin() as conn:
            LocalRegistry(engine).issue(actor, root, len(wrapped), conn=conn)
            issued_at: Any = sqlite_timestamp(now) if conn.dialect.name == "sqlite" else now
            dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
            insert_tuples(
                conn,
                issued_documents.name,
                ("target_hash", "merkle_root", "document_id", "template", "wrapped", "issued_at"),
                [
                    (w["signature"]["targetHash"], root, document_id, chosen.name, dumps(w), issued_at)
                    for document_id, w in zip(ids, wrapped, strict=True)
                ],
            )
            record(
                conn,
                actor,
                "issue",
                "document_batch",
                root,
                detail={"template": chosen.name, "documents": len(wrapped), "ids": ids[:20]},
            )
    result = IssueResult(root, chosen.name, wrapped)
    store = evm_store if evm_store is not None else own_evm_store(settings)
    if store is not None:
        result.evm_transaction = _publish(engine, actor, store, root, "issue")
    return result


def revoke(
    engine: Engine,
    actor: Identity,
    target: str,
    reason: str,
    settings: DocumentSettings | None = None,
    evm_store: EvmDocumentStore | None = None,
) -> list[Revocation]:
    """Revoke a document by its targetHash, a whole batch by its merkle root, or the documents issued here under a
    document number (e.g. a certificate number); on the EVM store too when this administration's store is one."""
    revocations = _revoke_locally(engine, actor, target, reason)
    store = evm_store if evm_store is not None else own_evm_store(_settings(settings))
    if store is not None:
        for revocation in revocations:
            _publish(engine, actor, store, revocation.hash, "revoke")
    return revocations


def _revoke_locally(engine: Engine, actor: Identity, target: str, reason: str) -> list[Revocation]:
    actor.require(Permission.DOCUMENTS_ISSUE)
    registry = LocalRegistry(engine)
    if _HEX64.match(target.strip()):
        return [registry.revoke(actor, target, reason)]
    with engine.begin() as conn:
        hashes = list(
            conn.execute(
                select(issued_documents.c.target_hash).where(issued_documents.c.document_id == target.strip())
            ).scalars()
        )
        if not hashes:
            raise DocumentNotFoundError(
                f"no document numbered {target!r} was issued here; give its targetHash "
                "(64 hex digits) to revoke a document issued elsewhere in this store",
                field="target",
            )
        return [registry.revoke(actor, h, reason, conn=conn) for h in hashes]


# --- the EVM DocumentStore ------------------------------------------------------------------------------------------


def own_evm_store(settings: DocumentSettings) -> EvmDocumentStore | None:
    """This administration's DocumentStore contract, when its ``store_address`` is one of the configured EVM
    stores; None when its status lives in the local registry only."""
    if not settings.evm_rpc_url or settings.store_address.lower() not in {a.lower() for a in settings.evm_stores}:
        return None
    from opencustoms.documents.evm import EvmDocumentStore, connect

    w3 = connect(settings.evm_rpc_url, settings.evm_timeout_s, settings.evm_private_key_file)
    return EvmDocumentStore(w3, settings.store_address)


def _publish(engine: Engine, actor: Identity, store: EvmDocumentStore, hash_: str, action: str) -> str:
    """Issue (a root) or revoke (a hash) on the chain, after the local registry did; audited. A failure leaves the
    local record in place and says how to finish."""
    try:
        transaction = store.issue(hash_) if action == "issue" else store.revoke(hash_)
    except (AlreadyIssuedError, AlreadyRevokedError):
        transaction = ""  # already there (a retried sync): nothing to do
    except DocumentError as exc:
        raise EvmPublishError(
            f"{'issued' if action == 'issue' else 'revoked'} {hash_} in this installation's registry, but not on "
            f"the EVM store {store.address}: {exc.message}. Once the cause is fixed, run 'opencustoms documents "
            f"evm-sync {hash_}' (API POST /documents/evm-sync)"
        ) from exc
    if transaction:
        with engine.begin() as conn:
            record(
                conn,
                actor,
                "evm_" + action,
                "document_root" if action == "issue" else "document",
                hash_,
                detail={"store": store.address, "transaction": transaction},
            )
    return transaction


def sync_evm(
    engine: Engine, actor: Identity, hash_: str, settings: DocumentSettings | None = None, evm_store: Any = None
) -> dict[str, Any]:
    """Bring the EVM store in line with the local registry for one hash: issue it there if it is a root issued
    here, revoke it there if it is revoked here (e.g. after the node was unreachable during issue or revoke)."""
    actor.require(Permission.DOCUMENTS_ISSUE)
    value = normalise_hash(hash_)
    store = evm_store if evm_store is not None else own_evm_store(_settings(settings))
    if store is None:
        raise DocumentError(
            "this installation's store is not an EVM contract: set OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL and list "
            "OPENCUSTOMS_DOCUMENTS_STORE_ADDRESS in OPENCUSTOMS_DOCUMENTS_EVM_STORES",
            field="evm_rpc_url",
        )
    registry = LocalRegistry(engine)
    issued_here, revoked_here = registry.is_issued(value), registry.revocation(value) is not None
    if not issued_here and not revoked_here:
        raise DocumentNotFoundError(f"{value} is neither issued nor revoked in this installation's registry")
    done: dict[str, Any] = {"hash": value, "store": store.address}
    if issued_here:
        done["issued"] = _publish(engine, actor, store, value, "issue") or "already"
    if revoked_here:
        done["revoked"] = _publish(engine, actor, store, value, "revoke") or "already"
    return done


def deploy_evm_store(engine: Engine, actor: Identity, name: str, settings: DocumentSettings | None = None) -> str:
    """Deploy this administration's DocumentStore contract on the configured network, owned by the account of
    ``OPENCUSTOMS_DOCUMENTS_EVM_PRIVATE_KEY_FILE``; returns its address (then publish it in DNS-TXT and set
    OPENCUSTOMS_DOCUMENTS_STORE_ADDRESS and _EVM_STORES to it)."""
    actor.require(Permission.DOCUMENTS_ISSUE)
    settings = _settings(settings)
    if not settings.evm_rpc_url:
        raise DocumentError("set OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL to the network's JSON-RPC URL", field="evm_rpc_url")
    from opencustoms.documents.evm import EvmDocumentStore, connect

    w3 = connect(settings.evm_rpc_url, settings.evm_timeout_s, settings.evm_private_key_file)
    store = EvmDocumentStore.deploy(w3, name)
    with engine.begin() as conn:
        record(conn, actor, "deploy", "document_store", store.address, detail={"name": name})
    return store.address


# --- verifying ----------------------------------------------------------------------------------------------------


def verifier(
    engine: Engine, settings: DocumentSettings | None = None, stores: Mapping[str, StatusSource] | None = None
) -> Verifier:
    """A verifier over the local registry, the configured EVM DocumentStore contracts (connected on first use) and
    any further ``stores`` given."""
    settings = _settings(settings)
    sources: dict[str, StatusSource] = {}
    if settings.evm_rpc_url:
        from opencustoms.documents.evm import LazyEvmStore

        for address in settings.evm_stores:
            sources[address.lower()] = LazyEvmStore(settings.evm_rpc_url, address, settings.evm_timeout_s)
    sources.update({k.lower(): v for k, v in (stores or {}).items()})
    return Verifier(engine, settings, sources, own=issuer_identity(engine, settings))


def verify(
    engine: Engine,
    document: bytes | str | dict[str, Any],
    settings: DocumentSettings | None = None,
    stores: Mapping[str, StatusSource] | None = None,
) -> VerificationReport:
    """Integrity, status and identity of one wrapped document (public: no identity needed)."""
    settings = _settings(settings)
    parsed = parse_document(document, settings.max_upload_bytes, settings.max_depth)
    return verifier(engine, settings, stores).verify(parsed)


def verify_many(
    engine: Engine,
    documents: Sequence[dict[str, Any]],
    settings: DocumentSettings | None = None,
    stores: Mapping[str, StatusSource] | None = None,
) -> list[VerificationReport]:
    return verifier(engine, settings, stores).verify_many(documents)


def verify_text(
    engine: Engine,
    text: str,
    settings: DocumentSettings | None = None,
    stores: Mapping[str, StatusSource] | None = None,
) -> VerificationReport:
    """Pasted text: a wrapped document's JSON, or a QR code's content (its link, or its ``{"type": "DOCUMENT",
    "payload": ...}`` JSON). Read with the document limits (size, depth before parsing) either way."""
    settings = _settings(settings)
    stripped = text.strip()
    if not stripped.startswith("{"):
        return verify_qr(engine, stripped, settings, stores)
    parsed = parse_document(stripped, settings.max_upload_bytes, settings.max_depth)
    if parsed.get("type") == render.QR_TYPE and "payload" in parsed:
        return verify_qr(engine, stripped, settings, stores)
    return verifier(engine, settings, stores).verify(parsed)


def verify_qr(
    engine: Engine,
    content: str | bytes,
    settings: DocumentSettings | None = None,
    stores: Mapping[str, StatusSource] | None = None,
) -> VerificationReport:
    """Verify what a printed QR code points to: the document issued here under that targetHash."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentFormatError(
                "the QR content is not UTF-8 text; give the link the QR code holds", field="q"
            ) from exc
    payload = render.parse_qr(content)
    target = normalise_hash(payload["targetHash"], "targetHash")
    with engine.connect() as conn:
        wrapped = conn.execute(
            select(issued_documents.c.wrapped).where(issued_documents.c.target_hash == target)
        ).scalar()
    if wrapped is None:
        raise DocumentNotFoundError(
            f"no document with targetHash {target} was issued here; the QR code may be "
            "forged or come from another administration: upload the document's .json file "
            "to verify it",
            field="q",
        )
    report = verifier(engine, settings, stores).verify(wrapped)
    root = payload.get("merkleRoot")
    if not isinstance(root, str) or report.merkle_root != root.lower():
        report.valid = False
        report.fragments[0] = report.fragments[0].__class__(
            "integrity", Verdict.INVALID, f"the QR code names merkle root {root}, the document {report.merkle_root}"
        )
    return report


# --- holder's functions -------------------------------------------------------------------------------------------


def obfuscate(document: bytes | str | dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Hide fields (selective disclosure): the result still verifies and lists how many fields are hidden."""
    return oa.obfuscate_v2(parse_document(document), fields)


def show(engine: Engine, actor: Identity, key: str) -> dict[str, Any]:
    """A document issued here, by targetHash or document number (the newest when a number was reused)."""
    actor.require(Permission.DOCUMENTS_READ)
    query = select(issued_documents.c.wrapped, issued_documents.c.target_hash)
    if _HEX64.match(key.strip()):
        query = query.where(issued_documents.c.target_hash == normalise_hash(key))
    else:
        query = query.where(issued_documents.c.document_id == key.strip())
    with engine.begin() as conn:
        row = conn.execute(query.order_by(issued_documents.c.issued_at.desc()).limit(1)).first()
        if row is None:
            raise DocumentNotFoundError(
                f"no document {key!r} was issued here (give a document number or a targetHash)", field="key"
            )
        record(conn, actor, "read", "document", row.target_hash)
    return dict(row.wrapped)


def issued_numbers(engine: Engine, actor: Identity, numbers: Sequence[str]) -> set[str]:
    """Which of ``numbers`` are documents issued here (each has a page); the others are only references."""
    actor.require(Permission.DOCUMENTS_READ)
    wanted = {n.strip() for n in numbers if n and n.strip()}
    if not wanted:
        return set()
    query = select(issued_documents.c.document_id).where(issued_documents.c.document_id.in_(wanted)).distinct()
    with engine.connect() as conn:
        return {str(n) for n in conn.execute(query).scalars()}


def render_html(
    document: dict[str, Any], public_url: str | None = None, lang: str = "en", downloads: dict[str, str] | None = None
) -> str:
    """The certificate page (HTML with print CSS, labels in ``lang``: en or fr) whose QR code opens
    ``<public_url>/verify`` (default: :func:`public_base_url`); ``downloads`` links "pdf" and "json" on screen."""
    return render.render_html(document, public_url or public_base_url(), lang, downloads)


def render_pdf(document: dict[str, Any], public_url: str | None = None, lang: str = "en") -> bytes:
    """The same certificate as an A4 PDF."""
    return render.render_pdf(document, public_url or public_base_url(), lang)


def export_json(document: dict[str, Any]) -> bytes:
    """The wrapped OpenAttestation document as the .json file a holder keeps and verifiers upload."""
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def download_name(document: dict[str, Any], suffix: str) -> str:
    """A file name for a document: its number (characters other than letters, digits, '.', '_', '-' replaced)."""
    number = str(oa.unsalt(_object_get(document.get("data"), "id")) or "") or document["signature"]["targetHash"]
    return re.sub(r"[^A-Za-z0-9._-]", "_", number)[:70] + suffix


def _object_get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


# --- declarations -------------------------------------------------------------------------------------------------

_SEVERITY = {
    "valid": signals.Severity.INFO,
    "not_found": signals.Severity.MEDIUM,
    "unverifiable": signals.Severity.MEDIUM,
    "mismatch": signals.Severity.HIGH,
    "not_issued": signals.Severity.CRITICAL,
    "unknown_issuer": signals.Severity.HIGH,
    "revoked": signals.Severity.CRITICAL,
    "tampered": signals.Severity.CRITICAL,
}


@dataclass
class OriginCheck:
    goods_item: int
    document_id: str
    verdict: str  # valid, mismatch, revoked, tampered, not_issued, unknown_issuer, unverifiable, not_found
    reasons: list[str]
    fragments: dict[str, str] = field(default_factory=dict)
    target_hash: str | None = None
    signal_reasons: list[str] | None = None  # the reasons as the signal words them (no names); None: as ``reasons``
    findings: list[dict[str, Any]] | None = None  # a mismatch's differences as codes and values (the signal's)

    def as_answer(self) -> dict[str, Any]:
        """The check as the API answers it (to officers holding both documents)."""
        return {k: v for k, v in asdict(self).items() if k not in ("signal_reasons", "findings")}


def _norm(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").casefold()).strip()


def _same_party(declared: Party | None, certified: templates.TraderParty | None) -> bool | None:
    if declared is None or certified is None:
        return None
    if certified.id and declared.id and certified.id.upper() == declared.id.upper():
        return True
    if declared.name and certified.name:
        return _norm(declared.name) == _norm(certified.name)
    return None if not certified.id else certified.id.upper() == declared.id.upper()


def _party_mismatch(role: str, declared: Party, certified_name: str | None, for_signal: bool) -> str:
    """A party that differs from the certificate's. For the answer (officers reading both documents) by name; for
    the signal, which readers without the personal-data permission see too, by the declared party's token (masked
    per reader) and without the certificate's party, which no reader's view could mask."""
    if for_signal:
        named = signals.party_token(declared.id) if declared.id else "(no trader id)"
        return f"{role} {named} is not the certificate's {role}"
    return f"{role} {declared.name or declared.id!r} is not the certificate's {role} {certified_name!r}"


def _content_findings(
    declaration: Declaration, item: GoodsItem, certificate: templates.CertificateOfOrigin
) -> list[dict[str, Any]]:
    """What :func:`_content_reasons` finds, as codes and values (a party by its token, never by name): the
    signal's evidence, from which each reader's language writes the differences (``wording/signals.toml``)."""
    found: list[dict[str, Any]] = []
    hs = item.hs_code[:6]
    matches = [g for g in certificate.goods_items if g.hs_code[:6] == hs]
    if not matches:
        listed = ", ".join(sorted({g.hs_code[:6] for g in certificate.goods_items}))
        found.append({"code": "hs_not_listed", "hs": hs, "goods_item": item.sequence_number, "listed": listed})
    elif not any(g.origin_country_code == item.origin_country_code for g in matches):
        certified = ", ".join(sorted({g.origin_country_code for g in matches}))
        found.append({"code": "origin", "declared": item.origin_country_code, "certified": certified, "hs": hs})
    exporter = declaration.exporter or declaration.seller
    pairs: list[tuple[str, Party | None, templates.TraderParty | None]] = [
        ("importer", declaration.importer, certificate.importer),
        ("exporter", exporter, certificate.exporter),
    ]
    for role, declared, on_certificate in pairs:
        if _same_party(declared, on_certificate) is False:
            named = signals.party_token(declared.id) if declared is not None and declared.id else "–"
            found.append({"code": "party", "role": role, "party": named})
    agreement = item.preference.agreement if item.preference else None
    if agreement and _norm(agreement) != _norm(certificate.fta):
        found.append({"code": "agreement", "claimed": agreement, "certified": certificate.fta})
    if certificate.issue_date > declaration.acceptance_date:
        found.append(
            {
                "code": "issued_after_acceptance",
                "issued": certificate.issue_date.isoformat(),
                "accepted": declaration.acceptance_date.isoformat(),
            }
        )
    return found


def _content_reasons(
    declaration: Declaration, item: GoodsItem, certificate: templates.CertificateOfOrigin, for_signal: bool = False
) -> list[str]:
    reasons = []
    matches = [g for g in certificate.goods_items if g.hs_code[:6] == item.hs_code[:6]]
    if not matches:
        listed = ", ".join(sorted({g.hs_code[:6] for g in certificate.goods_items}))
        reasons.append(
            f"HS {item.hs_code[:6]} of goods item {item.sequence_number} is not on the certificate (it lists {listed})"
        )
    elif not any(g.origin_country_code == item.origin_country_code for g in matches):
        reasons.append(
            f"origin {item.origin_country_code} declared, the certificate certifies "
            f"{', '.join(sorted({g.origin_country_code for g in matches}))} for HS {item.hs_code[:6]}"
        )
    if _same_party(declaration.importer, certificate.importer) is False:
        reasons.append(_party_mismatch("importer", declaration.importer, certificate.importer.name, for_signal))  # type: ignore[arg-type]
    exporter = declaration.exporter or declaration.seller
    if _same_party(exporter, certificate.exporter) is False:
        reasons.append(_party_mismatch("exporter", exporter, certificate.exporter.name, for_signal))  # type: ignore[arg-type]
    agreement = item.preference.agreement if item.preference else None
    if agreement and _norm(agreement) != _norm(certificate.fta):
        reasons.append(f"preference claimed under {agreement!r}, the certificate is issued under {certificate.fta!r}")
    if certificate.issue_date > declaration.acceptance_date:
        reasons.append(
            f"the certificate was issued on {certificate.issue_date}, after the declaration was accepted "
            f"on {declaration.acceptance_date}"
        )
    return reasons


def _verdict(report: VerificationReport) -> tuple[str, list[str]]:
    integrity, status, identity = (report.fragment(n) for n in ("integrity", "status", "identity"))
    if integrity.verdict is Verdict.INVALID:
        return "tampered", [integrity.reason]
    if status.verdict is Verdict.INVALID:
        return ("revoked" if status.reason.startswith("revoked") else "not_issued"), [status.reason]
    if identity.verdict is Verdict.INVALID:
        return "unknown_issuer", [identity.reason]
    errors = [f.reason for f in report.fragments if f.verdict is not Verdict.VALID]
    return ("unverifiable", errors) if errors else ("valid", [])


def check_declaration_origin(
    engine: Engine,
    actor: Identity,
    declaration: Declaration,
    presented: Mapping[str, dict[str, Any]] | None = None,
    settings: DocumentSettings | None = None,
    emit: bool = True,
) -> list[OriginCheck]:
    """Verify the certificate of origin behind every preference claim of a declaration and turn each outcome into
    a signal ``documents.origin_certificate_<verdict>`` about the document and about the declaration.

    ``presented`` maps document ids to wrapped documents the trader supplied; otherwise the document issued here
    under that number is used."""
    actor.require(Permission.DOCUMENTS_READ)
    checker = verifier(engine, settings)
    checks: list[OriginCheck] = []
    for item in declaration.goods_items:
        document_id = item.preference.proving_document_id if item.preference else None
        if not document_id:
            continue
        wrapped = (presented or {}).get(document_id)
        if wrapped is None:
            with engine.connect() as conn:
                wrapped = conn.execute(
                    select(issued_documents.c.wrapped)
                    .where(
                        issued_documents.c.document_id == document_id,
                        issued_documents.c.template == "CERTIFICATE_OF_ORIGIN",
                    )
                    .order_by(issued_documents.c.issued_at.desc())
                    .limit(1)
                ).scalar()
        if wrapped is None:
            checks.append(
                OriginCheck(
                    item.sequence_number,
                    document_id,
                    "not_found",
                    [f"no certificate of origin {document_id!r} was issued here or presented"],
                )
            )
            continue
        report = checker.verify(wrapped)
        verdict, reasons = _verdict(report)
        worded: list[str] | None = None
        findings: list[dict[str, Any]] | None = None
        if verdict == "valid":
            parsed = templates.from_openattestation(report.data or {})
            if parsed is None or not isinstance(parsed[1], templates.CertificateOfOrigin):
                verdict, reasons = (
                    "unverifiable",
                    [
                        "the document is not a complete certificate of origin (fields "
                        "hidden or another template), so goods, origin and parties "
                        "cannot be compared"
                    ],
                )
            else:
                findings = []
                if parsed[1].id != document_id:
                    reasons = [f"the document presented is numbered {parsed[1].id!r}, not {document_id!r}"]
                    findings = [{"code": "number", "presented": parsed[1].id, "expected": document_id}]
                findings += _content_findings(declaration, item, parsed[1])
                numbered = list(reasons)
                reasons = numbered + _content_reasons(declaration, item, parsed[1])
                worded = numbered + _content_reasons(declaration, item, parsed[1], for_signal=True)
                verdict = "mismatch" if reasons else "valid"
        checks.append(
            OriginCheck(
                item.sequence_number,
                document_id,
                verdict,
                reasons or ["integrity, status and issuer verified; goods, origin and parties match"],
                {f.name: f.verdict.value for f in report.fragments},
                report.target_hash,
                worded if worded is not None and worded != reasons else None,
                findings if verdict == "mismatch" else None,
            )
        )
    if emit and checks:
        now = dt.datetime.now(dt.UTC)
        out = []
        for check in checks:
            kind = f"documents.origin_certificate_{check.verdict}"
            reason = (
                f"certificate of origin {check.document_id} (goods item {check.goods_item} of "
                f"{declaration.functional_reference_id}): {check.verdict.replace('_', ' ')} — "
                + "; ".join(check.signal_reasons or check.reasons)
            )[:2000]
            evidence = {
                "declaration": declaration.functional_reference_id,
                "goods_item": check.goods_item,
                "document_id": check.document_id,
                "target_hash": check.target_hash,
                "fragments": check.fragments,
                "reasons": check.signal_reasons or check.reasons,
                "verdict": check.verdict,
                "findings": check.findings,
            }
            key = (
                f"{declaration.functional_reference_id}|{check.goods_item}|{check.document_id}|{check.verdict}|"
                f"{check.target_hash}"
            )
            for subject_type, subject_id in (
                (signals.SubjectType.DOCUMENT, check.document_id),
                (signals.SubjectType.DECLARATION, declaration.functional_reference_id),
            ):
                out.append(
                    signals.Signal(
                        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"opencustoms:documents:{subject_type.value}:{key}")),
                        kind=kind,
                        subject_type=subject_type,
                        subject_id=subject_id,
                        severity=_SEVERITY[check.verdict],
                        source="documents",
                        reason=reason,
                        evidence=evidence,
                        observed_at=now,
                    )
                )
        signals.emit(engine, out)
    return checks


def recent_documents(engine: Engine, actor: Identity, limit: int = 100) -> list[dict[str, Any]]:
    """Documents issued here, newest first, with whether each was revoked."""

    actor.require(Permission.DOCUMENTS_READ)
    d = issued_documents.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.document_id, d.template, d.issued_at, d.target_hash, d.merkle_root)
            .order_by(d.issued_at.desc())
            .limit(max(1, min(limit, 1000)))
        ).all()
        hashes = {h for r in rows for h in (r.target_hash, r.merkle_root)}
        revoked = set(
            conn.execute(
                select(document_revocations.c.hash).where(document_revocations.c.hash.in_(hashes or {""}))
            ).scalars()
        )
    return [
        {
            "document_id": r.document_id,
            "template": r.template,
            "issued_at": as_utc(r.issued_at),
            "target_hash": r.target_hash,
            "revoked": r.target_hash in revoked or r.merkle_root in revoked,
        }
        for r in rows
    ]
