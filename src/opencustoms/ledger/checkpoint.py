"""Signed checkpoints in the signed-note format of modern transparency logs (C2SP signed-note / tlog-checkpoint).

A checkpoint is a note whose text is three lines: the log's origin, the tree size in decimal, the root hash in
base64. After a blank line come signature lines ``— <name> <base64(key hash (4 bytes) || Ed25519 signature)>``,
where the key hash is the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key) and the signature covers
the note text (every line up to and including the root's newline). A witness that checked the checkpoint adds its
own signature line (a cosignature), so a checkpoint can carry the log's signature and its witnesses'.

Verifier keys are written ``<name>+<hex key hash>+<base64(0x01 || public key)>`` as in Go's sumdb/note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from opencustoms.ledger.errors import CheckpointError

ED25519 = b"\x01"
DASH = "\u2014"


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise CheckpointError(f"signer name {name!r} must be non-empty, without spaces or '+'", field="name")


def verifier_key(name: str, public: bytes) -> str:
    _check_name(name)
    return f"{name}+{key_hash(name, public).hex()}+{base64.b64encode(ED25519 + public).decode()}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    """(name, raw Ed25519 public key) of a verifier key string; CheckpointError when it is malformed."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise CheckpointError(
            "a verifier key reads <name>+<8 hex digits>+<base64 key>; ask the partner for the "
            "output of `opencustoms ledger key`",
            field="verifier_key",
        )
    name, hash_hex, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
        expected = bytes.fromhex(hash_hex)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError("the verifier key's hash or key is not valid hex / base64", field="verifier_key") from exc
    if len(raw) != 33 or raw[:1] != ED25519:
        raise CheckpointError(
            "the verifier key is not an Ed25519 key (0x01 followed by 32 bytes)", field="verifier_key"
        )
    if key_hash(name, raw[1:]) != expected:
        raise CheckpointError(
            "the verifier key's hash does not match its name and key: it was altered", field="verifier_key"
        )
    return name, raw[1:]


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """A note of ``text`` (ending in a newline) signed by ``name``."""
    if not text.endswith("\n"):
        raise CheckpointError("a note's text must end with a newline", field="text")
    return text + "\n" + signature_line(text, name, key)


def signature_line(text: str, name: str, key: Ed25519PrivateKey) -> str:
    _check_name(name)
    signature = key_hash(name, public_bytes(key)) + key.sign(text.encode())
    return f"{DASH} {name} {base64.b64encode(signature).decode()}\n"


def cosign(note: str, name: str, key: Ed25519PrivateKey) -> str:
    """Add ``name``'s signature to a signed note (a witness's cosignature). Signing twice is a no-op."""
    text, signatures = split_note(note)
    if any(n == name for n, _ in signatures):
        return note
    return note + signature_line(text, name, key)


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text, [(signer name, key hash || signature)]) of a note, without checking any signature."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise CheckpointError(
            "a signed note is its text, a blank line, then signature lines each ending in a newline", field="checkpoint"
        )
    out = []
    for line in sigs[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise CheckpointError(
                f"malformed signature line {line[:60]!r}: expected '{DASH} <name> <base64>'", field="checkpoint"
            )
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except binascii.Error as exc:
            raise CheckpointError(f"signature of {parts[1]} is not base64", field="checkpoint") from exc
        if len(raw) != 4 + 64:
            raise CheckpointError(f"signature of {parts[1]} is not an Ed25519 signature", field="checkpoint")
        out.append((parts[1], raw))
    return text + "\n", out


def verify_note(note: str, signers: dict[str, bytes], required: str | None = None) -> tuple[str, list[str]]:
    """Check every signature of a known signer; return (text, names whose signatures verified).

    A signature by a known name that does not verify is an error (a forgery), not something to skip. ``required``
    names a signer whose valid signature must be present."""
    text, signatures = split_note(note)
    verified = []
    for name, raw in signatures:
        public = signers.get(name)
        if public is None:
            continue
        if raw[:4] != key_hash(name, public):
            raise CheckpointError(
                f"the signature of {name} is by a different key than the one held for {name}", field="checkpoint"
            )
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())
        except InvalidSignature as exc:
            raise CheckpointError(
                f"the signature of {name} does not verify: the checkpoint was forged or altered", field="checkpoint"
            ) from exc
        verified.append(name)
    if required is not None and required not in verified:
        raise CheckpointError(f"the checkpoint carries no signature of {required}", field="checkpoint")
    return text, verified


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str
    cosigners: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoint": self.note,
            "cosigners": list(self.cosigners),
        }


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    if "\n" in origin or not origin:
        raise CheckpointError("the origin must be one non-empty line", field="origin")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_checkpoint(origin: str, size: int, root: bytes, key: Ed25519PrivateKey) -> Checkpoint:
    note = sign_note(checkpoint_text(origin, size, root), origin, key)
    return Checkpoint(origin, size, root, note)


def open_checkpoint(note: str, origin: str, log_key: bytes, witnesses: dict[str, bytes] | None = None) -> Checkpoint:
    """Parse a checkpoint of the log ``origin`` and verify its signature with the log's public key (and any known
    witness's cosignature). Raises CheckpointError saying what is wrong."""
    signers = dict(witnesses or {})
    signers[origin] = log_key
    text, verified = verify_note(note, signers, required=origin)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint's text has at least three lines: origin, size, root", field="checkpoint")
    if lines[0] != origin:
        raise CheckpointError(f"the checkpoint is for log {lines[0]!r}, not {origin!r}", field="checkpoint")
    if not lines[1].isdigit() or (len(lines[1]) > 1 and lines[1].startswith("0")):
        raise CheckpointError(f"tree size {lines[1]!r} is not a decimal number", field="checkpoint")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error as exc:
        raise CheckpointError("the root hash is not base64", field="checkpoint") from exc
    if len(root) != 32:
        raise CheckpointError("the root hash is not 32 bytes", field="checkpoint")
    return Checkpoint(origin, int(lines[1]), root, note, tuple(n for n in verified if n != origin))
