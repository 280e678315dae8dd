"""Signing and verifying exchange messages: JWS compact serialisation (RFC 7515) with Ed25519 (RFC 8037's EdDSA),
through joserfc.

The key is the administration's Ed25519 key, the one the ledger keeps (``<data_dir>/ledger/keys/administration/
log.key``) and whose public half partners already registered with ``opencustoms ledger partner-add``: one key, one
root of trust per administration (docs/exchange.md). Messages are signed with the fully specified algorithm name
``Ed25519`` (RFC 9864, which deprecates the polymorphic ``EdDSA`` name of RFC 8037 for the same signature);
``EdDSA`` with an Ed25519 key is accepted on receipt, for partners whose JOSE library predates RFC 9864.

The protected header carries ``kid`` (the key id the ledger uses: the first 16 bytes of SHA-256 of the raw public
key, in hex) and ``typ``. The payload is the message as canonical JSON (sorted keys, no spaces), so the same
message signs to the same bytes; its SHA-256 (the message digest) tells a resent message from an altered one.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from opencustoms.exchange.errors import MessageRejectedError
from opencustoms.exchange.schema import ExchangeMessage
from opencustoms.jsondepth import too_deep

TYP = "opencustoms-exchange+jws"
SIGN_ALG = "Ed25519"
ACCEPTED_ALGS = ("Ed25519", "EdDSA")
MAX_DEPTH = 8  # the schema nests 4 levels (message > record > goods_items > item); anything deeper is refused
MAX_JWS_CHARS = 1_500_000


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> str:
    """The ledger's key id of a raw public key (same value as ``opencustoms.ledger.keys.key_id``)."""
    return hashlib.sha256(public).hexdigest()[:32]


def canonical(message: ExchangeMessage) -> bytes:
    data = message.model_dump(mode="json", by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _registry() -> Any:
    from joserfc.jws import JWSRegistry

    return JWSRegistry(algorithms=list(ACCEPTED_ALGS))


def sign(message: ExchangeMessage, key: Ed25519PrivateKey) -> str:
    """The message as a compact JWS signed with ``key``."""
    return sign_with_digest(message, key)[0]


def sign_with_digest(message: ExchangeMessage, key: Ed25519PrivateKey) -> tuple[str, str]:
    """The compact JWS and the digest of its payload (the canonical JSON written once for both)."""
    from joserfc import jws
    from joserfc.jwk import OKPKey

    header = {"alg": SIGN_ALG, "kid": key_id(public_bytes(key)), "typ": TYP}
    payload = canonical(message)
    return jws.serialize_compact(header, payload, OKPKey.import_key(key), registry=_registry()), digest(payload)


@dataclass(frozen=True)
class Unverified:
    """What a JWS claims before its signature is checked: the header's key id and the payload's sender."""

    kid: str | None
    sender: str | None


def peek(token: str) -> Unverified:
    """The key id and claimed sender of a compact JWS, read without trusting them (to find the key to verify with).
    MessageRejectedError when it is not a compact JWS at all."""
    import base64

    token = token.strip()
    if len(token) > MAX_JWS_CHARS:
        raise MessageRejectedError(f"the message is longer than {MAX_JWS_CHARS} characters", field="jws")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise MessageRejectedError("the body is not a compact JWS (three base64url parts joined by '.')", field="jws")
    try:
        raw_header = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
        raw_payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        if too_deep(raw_header, 2) or too_deep(raw_payload, MAX_DEPTH):
            raise MessageRejectedError(f"the message nests deeper than {MAX_DEPTH} levels", field="jws")
        header = json.loads(raw_header)
        payload = json.loads(raw_payload)
    except MessageRejectedError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageRejectedError(f"the JWS header or payload is not base64url JSON ({exc})", field="jws") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise MessageRejectedError("the JWS header and payload must be JSON objects", field="jws")
    kid = header.get("kid")
    sender = payload.get("sender")
    return Unverified(kid if isinstance(kid, str) else None, sender if isinstance(sender, str) else None)


def verify(token: str, public: bytes, *, peeked: bool = False) -> tuple[ExchangeMessage, str]:
    """The message a JWS carries and its digest, once its signature verifies with ``public`` (a raw Ed25519
    key) and its payload has the schema's shape. MessageRejectedError naming what failed otherwise. ``peeked``:
    the caller already passed the token through :func:`peek` (size, shape, depth)."""
    from joserfc import jws
    from joserfc.errors import BadSignatureError, JoseError
    from joserfc.jwk import OKPKey

    if not peeked:
        peek(token)  # size, shape and depth before any parser recurses
    key = OKPKey.import_key(Ed25519PublicKey.from_public_bytes(public))
    try:
        with warnings.catch_warnings():  # joserfc warns about the RFC 8037 name "EdDSA", which we still accept
            warnings.simplefilter("ignore")
            opened = jws.deserialize_compact(token.strip(), key, registry=_registry())
    except BadSignatureError as exc:
        raise MessageRejectedError(
            "the signature does not verify with the partner's registered key: the message was altered or forged",
            field="signature",
        ) from exc
    except JoseError as exc:
        raise MessageRejectedError(f"the JWS is unusable ({exc.error}: {exc.description})", field="jws") from exc
    if opened.protected.get("typ") not in (None, TYP):
        raise MessageRejectedError(f"the JWS type must be {TYP!r}", field="typ")
    payload = opened.payload
    try:
        message = ExchangeMessage.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MessageRejectedError(f"{where}: {first['msg']}", field=where) from exc
    return message, digest(payload)
