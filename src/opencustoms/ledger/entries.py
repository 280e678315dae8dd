"""Ledger entries: what an officer signs and what the tree commits to.

An entry's *body* is a pydantic model serialised as canonical JSON (sorted keys, no spaces, UTF-8). The log
commits to the body through a salted hash, ``commitment = SHA-256(salt || body)``, and the officer signs the
commitment. The *leaf* (the bytes hashed into the Merkle tree) is canonical JSON of
``{"commitment", "key_id", "restricted", "signature", "v"}``; so a partner that is not allowed to see a restricted
entry still gets its leaf, checks the officer's signature and every proof, and learns only that an entry exists.
A partner that gets the body and the salt checks that they open the commitment.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import secrets
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opencustoms.errors import OpenCustomsError
from opencustoms.ledger.errors import EntryError, SignatureError
from opencustoms.ledger.keys import key_id
from opencustoms.reference.codes import check_country

SIGNING_CONTEXT = b"opencustoms/ledger/entry/v1\n"

Code = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code of an administration.")]


def _country(value: str) -> str:
    try:
        return check_country(value, "country_code")
    except OpenCustomsError as exc:
        raise ValueError(exc.message) from exc


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_model_json(value: dict[str, Any]) -> bytes:
    """``canonical_json`` of a model dumped in JSON mode (strings, integers, booleans, lists, dicts with string keys,
    no floats), written by orjson: the same bytes (its escapes match ``json.dumps(ensure_ascii=False)`` for every
    code point, and sorting str keys by code point is sorting them by UTF-8 bytes; a test compares the two) at a
    third of the cost. A string that UTF-8 cannot encode (a lone surrogate) raises ``ValueError``."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"not encodable as canonical JSON: {exc}") from exc


class EntryKind(StrEnum):
    ISSUED = "aeo.issued"
    AMENDED = "aeo.amended"
    SUSPENDED = "aeo.suspended"
    REVOKED = "aeo.revoked"
    REINSTATED = "aeo.reinstated"
    KEY_CERTIFIED = "key.certified"
    KEY_REVOKED = "key.revoked"


class AEOStatus(StrEnum):
    CERTIFIED = "certified"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


AEO_KINDS = frozenset(
    {EntryKind.ISSUED, EntryKind.AMENDED, EntryKind.SUSPENDED, EntryKind.REVOKED, EntryKind.REINSTATED}
)


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: Annotated[str, Field(min_length=1, max_length=256)]
    city_name: Annotated[str, Field(min_length=1, max_length=128)]
    postcode_id: Annotated[str | None, Field(max_length=17)] = None
    country_code: Code

    @field_validator("country_code")
    @classmethod
    def _check_country(cls, v: str) -> str:
        return _country(v)


class Holder(BaseModel):
    """The AEO: WCO DM Party (name, identification = trader id, tax id, address)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=256)]
    id: Annotated[
        str,
        Field(
            min_length=2,
            max_length=64,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
            description="Trader identification number (EORI, RUC, CNPJ...).",
        ),
    ]
    tax_id: Annotated[str | None, Field(max_length=64)] = None
    address: Address
    country_code: Code

    @field_validator("country_code")
    @classmethod
    def _check_country(cls, v: str) -> str:
        return _country(v)


class AEOCertificate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate_number: Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9/-]*$")]
    holder: Holder
    type: Literal["security", "simplification", "both"]
    issue_date: dt.date
    valid_until: dt.date | None = None
    shared_with: list[Code] = Field(
        default_factory=list,
        description="Partner administrations allowed to see this certificate; empty = every partner.",
    )

    @model_validator(mode="after")
    def _dates(self) -> AEOCertificate:
        if self.valid_until is not None and self.valid_until < self.issue_date:
            raise ValueError("valid_until is before issue_date; give a validity end on or after the issue date")
        self.shared_with = sorted(set(self.shared_with))
        return self


class OfficerKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    officer: Annotated[str, Field(min_length=2, max_length=64)]
    public_key: Annotated[str, Field(description="base64 of the raw 32-byte Ed25519 public key")]

    @model_validator(mode="after")
    def _matches(self) -> OfficerKey:
        if len(self.raw()) != 32:
            raise ValueError("public_key is not the base64 of a 32-byte Ed25519 public key")
        if key_id(self.raw()) != self.key_id:
            raise ValueError("key_id is not the SHA-256 prefix of public_key; give the id of this key")
        return self

    def raw(self) -> bytes:
        try:
            return base64.b64decode(self.public_key, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: a text with non-ASCII characters
            raise ValueError("public_key is not base64; give the base64 of the raw 32-byte key") from exc


class EntryBody(BaseModel):
    """What an officer (or, for key entries, the administration) signs."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    entry_id: Annotated[str, Field(pattern=r"^[0-9a-f-]{36}$")] = Field(default_factory=lambda: str(uuid.uuid4()))
    origin: Annotated[str, Field(min_length=1, max_length=128)]
    kind: EntryKind
    officer: Annotated[str, Field(min_length=2, max_length=64)]
    recorded_at: dt.datetime
    effective_date: dt.date
    certificate_number: Annotated[str | None, Field(max_length=64)] = None
    certificate: AEOCertificate | None = None
    reason: Annotated[str | None, Field(max_length=2000)] = None
    key: OfficerKey | None = None

    @model_validator(mode="after")
    def _shape(self) -> EntryBody:
        kind = self.kind
        if kind in (EntryKind.ISSUED, EntryKind.AMENDED):
            if self.certificate is None:
                raise ValueError(f"a {kind.value} entry carries the full certificate in 'certificate'")
            if self.certificate_number not in (None, self.certificate.certificate_number):
                raise ValueError("certificate_number differs from certificate.certificate_number")
            self.certificate_number = self.certificate.certificate_number
        elif kind in AEO_KINDS:
            if not self.certificate_number:
                raise ValueError(f"a {kind.value} entry names the certificate in 'certificate_number'")
            if not self.reason:
                raise ValueError(f"a {kind.value} entry needs a reason (why the status changes)")
            if self.certificate is not None:
                raise ValueError(f"a {kind.value} entry changes the status only; use aeo.amended to change data")
        else:
            if self.key is None:
                raise ValueError(f"a {kind.value} entry carries the officer key in 'key'")
        if self.recorded_at.tzinfo is None:
            raise ValueError("recorded_at needs a time zone (UTC)")
        return self

    def canonical(self) -> bytes:
        return canonical_model_json(self.model_dump(mode="json", exclude_none=True))


def commitment_of(salt: bytes, body: bytes) -> bytes:
    return hashlib.sha256(salt + body).digest()


def signing_message(commitment: bytes) -> bytes:
    return SIGNING_CONTEXT + commitment


class SignedEntry(BaseModel):
    """An entry as submitted for appending or served to partners: the leaf's fields plus (when visible) the body
    and the salt that open the commitment."""

    model_config = ConfigDict(extra="forbid")

    commitment: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    restricted: bool = False
    signature: str
    body: str | None = Field(default=None, description="Canonical JSON of the entry body; absent when withheld.")
    salt: str | None = Field(default=None, description="base64 of the 16-byte salt; absent when withheld.")

    def leaf(self) -> bytes:
        return canonical_json(
            {
                "commitment": self.commitment,
                "key_id": self.key_id,
                "restricted": self.restricted,
                "signature": self.signature,
                "v": 1,
            }
        )

    def signature_bytes(self) -> bytes:
        try:
            raw = base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: a text with non-ASCII characters
            raise SignatureError("the entry's signature is not base64", field="signature") from exc
        if len(raw) != 64:
            raise SignatureError("the entry's signature is not a 64-byte Ed25519 signature", field="signature")
        return raw

    def verify_signature(self, public: Ed25519PublicKey) -> None:
        try:
            public.verify(self.signature_bytes(), signing_message(bytes.fromhex(self.commitment)))
        except InvalidSignature as exc:
            raise SignatureError(
                f"the signature of key {self.key_id} over commitment {self.commitment[:16]}... "
                "does not verify: the entry was forged or altered",
                field="signature",
            ) from exc

    def open(self) -> EntryBody:
        """The body, after checking that body and salt open the commitment."""
        if self.body is None or self.salt is None:
            raise EntryError("the entry's content was withheld (restricted); it cannot be opened", field="body")
        try:
            salt = base64.b64decode(self.salt, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: a text with non-ASCII characters
            raise EntryError("the salt is not base64", field="salt") from exc
        if len(salt) != 16:
            raise EntryError("the salt must be 16 bytes", field="salt")
        if commitment_of(salt, self.body.encode()).hex() != self.commitment:
            raise EntryError("body and salt do not open the commitment: the content was altered", field="body")
        body = _parse_body(self.body)
        try:
            canonical = body.canonical() == self.body.encode()
        except ValueError:
            canonical = False
        if not canonical:
            raise EntryError("the body is not in canonical form (sorted keys, no spaces, no nulls)", field="body")
        if self.restricted != bool(body.certificate is not None and body.certificate.shared_with) and body.kind in (
            EntryKind.ISSUED,
            EntryKind.AMENDED,
        ):
            raise EntryError(
                "'restricted' must be true exactly when the certificate is shared with named partners",
                field="restricted",
            )
        return body

    def redacted(self) -> SignedEntry:
        return self.model_copy(update={"body": None, "salt": None})

    @classmethod
    def from_leaf(cls, leaf: bytes) -> SignedEntry:
        try:
            raw = json.loads(leaf)
            if not isinstance(raw, dict) or raw.pop("v", None) != 1:
                raise EntryError("unknown leaf version", field="leaf")
            return cls.model_validate(raw)
        except (json.JSONDecodeError, ValueError) as exc:
            raise EntryError(f"malformed leaf: {exc}", field="leaf") from exc


def _parse_body(text: str) -> EntryBody:
    """The body's model, parsed and validated in one pass (pydantic's JSON parser: no intermediate dicts). Input
    it refuses is parsed again the former way (``json.loads`` then ``model_validate``), so a refused body gets the
    same error as before: a ``json.JSONDecodeError`` message or the first validation error. An accepted body must
    then dump to exactly its own bytes (the canonical check), which the two ways of parsing agree on."""
    try:
        return EntryBody.model_validate_json(text)
    except ValidationError:
        pass
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EntryError(f"the body is not JSON: {exc.msg}", field="body") from exc
    return EntryBody.model_validate(raw)


def sign_entry(body: EntryBody, key: Ed25519PrivateKey, key_id: str, *, restricted: bool = False) -> SignedEntry:
    salt = secrets.token_bytes(16)
    data = body.canonical()
    commitment = commitment_of(salt, data)
    signature = key.sign(signing_message(commitment))
    return SignedEntry(
        commitment=commitment.hex(),
        key_id=key_id,
        restricted=restricted,
        signature=base64.b64encode(signature).decode(),
        body=data.decode(),
        salt=base64.b64encode(salt).decode(),
    )


# --- the status rules ------------------------------------------------------------------------------------------------

TRANSITIONS: dict[EntryKind, tuple[frozenset[AEOStatus | None], AEOStatus | None]] = {
    # kind: (allowed current statuses, resulting status; None = unchanged)
    EntryKind.ISSUED: (frozenset({None}), AEOStatus.CERTIFIED),
    EntryKind.AMENDED: (frozenset({AEOStatus.CERTIFIED, AEOStatus.SUSPENDED}), None),
    EntryKind.SUSPENDED: (frozenset({AEOStatus.CERTIFIED}), AEOStatus.SUSPENDED),
    EntryKind.REVOKED: (frozenset({AEOStatus.CERTIFIED, AEOStatus.SUSPENDED}), AEOStatus.REVOKED),
    EntryKind.REINSTATED: (frozenset({AEOStatus.SUSPENDED}), AEOStatus.CERTIFIED),
}


def next_status(kind: EntryKind, current: AEOStatus | None, certificate_number: str) -> AEOStatus:
    allowed, result = TRANSITIONS[kind]
    if current not in allowed:
        verb = kind.value.removeprefix("aeo.")
        if current is None:
            raise EntryError(
                f"certificate {certificate_number} does not exist in this log; issue it first",
                field="certificate_number",
            )
        if kind is EntryKind.ISSUED:
            raise EntryError(
                f"certificate {certificate_number} was already issued (status {current.value}); use amend to change it",
                field="certificate_number",
            )
        hint = {
            AEOStatus.REVOKED: "a revoked certificate is final; issue a new certificate number",
            AEOStatus.SUSPENDED: "reinstate or revoke it",
            AEOStatus.CERTIFIED: "it is in force",
        }[current]
        raise EntryError(
            f"cannot mark certificate {certificate_number} {verb}: it is {current.value} ({hint})", field="kind"
        )
    return result if result is not None else current  # type: ignore[return-value]


def resulting_status(kind: EntryKind, current: AEOStatus | None) -> AEOStatus | None:
    """The status after an entry of ``kind``, without checking the rule (to replay history by effective date, where
    a backdated change can come before one recorded earlier)."""
    result = TRANSITIONS[kind][1]
    return result if result is not None else current
