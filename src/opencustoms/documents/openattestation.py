"""The OpenAttestation format, v2 (wrap, obfuscate, verify) and v3 (verify), as the reference implementation does it.

v2 (github.com/Open-Attestation/open-attestation, ``src/2.0``):
- every leaf value of ``data`` becomes ``"<uuid4>:<type>:<value>"`` (``salt.ts``), type one of string, number,
  boolean, null, the value written as JavaScript's ``String(value)`` would;
- ``data`` is flattened with ``.`` between keys and array indices (the ``flatley`` library; an empty object or
  array is itself a leaf, a key holding ``.`` is refused);
- each leaf hashes to keccak-256 of the JSON text ``{"<path>":<value>}`` (``JSON.stringify``: no spaces, no ASCII
  escaping); the document's ``targetHash`` is keccak-256 of the JSON list of those hashes plus
  ``privacy.obfuscatedData``, sorted (``digest.ts``);
- a batch's Merkle tree has the sorted target hashes as leaves and hashes each pair's sorted concatenation; an odd
  node is promoted unchanged (``shared/merkle``); a document's ``proof`` lists the sibling hashes up to the root.

v3 (``src/3.0``): fields stay in clear; ``proof.salts`` is base64 of a JSON list of ``{value, path}``; a field's
hash is keccak-256 of ``{"<path>":"<salt>:<String(value)>"}`` for the fields whose value is truthy; a verifier
also checks that the number of visible leaf fields equals the number of salts.

Nothing here touches the database: :mod:`opencustoms.documents.verify` adds status and identity.
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from json.encoder import encode_basestring
from operator import methodcaller
from typing import Any, TypeGuard

import numpy as np

from opencustoms.documents import jsoninput
from opencustoms.documents.errors import DocumentFormatError, ObfuscationError

try:  # eth-hash's pysha3 backend (safe-pysha3) is several times faster than pycryptodome's for short inputs;
    # its hash object is used directly, as the backend does, to save a call per field
    from eth_hash.backends.pysha3 import _keccak_256  # type: ignore[attr-defined]

    _hexdigest = methodcaller("hexdigest")

    def _keccak(data: bytes) -> bytes:
        return _keccak_256(data).digest()  # type: ignore[no-any-return]

    def keccak_hex(data: bytes) -> str:
        return _keccak_256(data).hexdigest()  # type: ignore[no-any-return]

    def keccak_hex_many(items: Iterable[bytes]) -> list[str]:
        """keccak-256 hex digests of many inputs, without a Python call per input."""
        return list(map(_hexdigest, map(_keccak_256, items)))

except ImportError:  # pragma: no cover - depends on the environment
    from eth_hash.backends.pycryptodome import keccak256 as _keccak  # type: ignore[assignment]

    def keccak_hex(data: bytes) -> str:
        return bytes(_keccak(data)).hex()

    def keccak_hex_many(items: Iterable[bytes]) -> list[str]:
        return [bytes(_keccak(item)).hex() for item in items]


V2_SCHEMA = "https://schema.openattestation.com/2.0/schema.json"
V3_SCHEMA = "https://schema.openattestation.com/3.0/schema.json"
V2_SIGNATURE_TYPE = "SHA3MerkleProof"
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE)
_HASH = re.compile(r"[0-9a-f]{64}")  # OpenAttestation writes hashes as lower-case hex without 0x
_MAX_SAFE_INTEGER = 2**53 - 1
_MISSING = object()


# --- JavaScript semantics --------------------------------------------------------------------------------------


def js_number(value: int | float) -> str:
    """``String(value)`` of a JavaScript number (ECMAScript Number::toString)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise DocumentFormatError(
                f"the integer {value} is larger than JavaScript can hold exactly (2^53 - 1), so other "
                "OpenAttestation implementations would hash it differently; write it as a string"
            )
        return str(value)
    if value == 0:
        return "0"  # String(-0) is "0" too
    text = repr(value)
    if "e" not in text and "n" not in text:
        # Python's repr is the shortest round-trip form, as JavaScript's is; in fixed notation (1e-4 <= |x| < 1e16,
        # inside JavaScript's 1e-6 <= |x| < 1e21) the two differ only by Python's trailing ".0"
        return text[:-2] if text.endswith(".0") else text
    if value != value or value in (float("inf"), float("-inf")):
        raise DocumentFormatError("NaN and infinite numbers cannot be written in JSON; remove them")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    decimal = Decimal(repr(abs(value))).normalize()
    _, digit_tuple, exponent = decimal.as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = int(exponent) + k
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def js_string(value: Any) -> str:
    """``String(value)`` / template-literal conversion in JavaScript."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return js_number(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    return "[object Object]"


def js_json(value: Any) -> str:
    """``JSON.stringify(value)`` for JSON-shaped values."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, list):
        return "[" + ",".join(js_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(encode_basestring(str(k)) + ":" + js_json(v) for k, v in value.items()) + "}"
    raise DocumentFormatError(f"{type(value).__name__} values cannot appear in a JSON document")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: JSON.stringify escapes them as \\uXXXX
        return re.sub(r"[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def _field_hash(path: str, value: Any) -> str:
    if isinstance(value, str):
        text = "{" + encode_basestring(path) + ":" + encode_basestring(value) + "}"
    else:
        text = "{" + encode_basestring(path) + ":" + js_json(value) + "}"
    return keccak_hex(_utf8(text))


def hash_texts(texts: Sequence[str]) -> list[str]:
    """keccak-256 of each JSON text. The texts are encoded in one go: JSON text never holds a raw line feed (it is
    escaped inside strings), so joining on "\\n" and splitting the bytes gives each text's UTF-8 back."""
    if not texts:
        return []
    try:
        parts = "\n".join(texts).encode("utf-8").split(b"\n")
    except UnicodeEncodeError:
        parts = [_utf8(t) for t in texts]
    return keccak_hex_many(parts)


def _check_key(key: str, prefix: str) -> None:
    if "." in key:
        raise DocumentFormatError(
            f"key {key!r} contains '.', which OpenAttestation forbids in key names", field=prefix.rstrip(".") or key
        )


def _leaf_texts(data: Any, prefix: str, out: list[str]) -> None:
    """Append ``{"<path>":<value>}`` for every flattened leaf under ``data`` (``prefix`` ends with '.' or is empty);
    :func:`hash_texts` turns them into the field hashes."""
    enc = encode_basestring
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        if type(key) is not str:
            key = str(key)
        elif "." in key:
            _check_key(key, prefix)
        path = prefix + key
        if type(value) is str:
            out.append(f"{{{enc(path)}:{enc(value)}}}")
        elif isinstance(value, dict | list) and value:
            _leaf_texts(value, path + ".", out)
        else:
            out.append("{" + enc(path) + ":" + js_json(value) + "}")


def _salt_leaves(data: Any, prefix: str, out: list[str], salt: Any) -> Any:
    """Salt a non-empty object or array (``saltData``) and append each leaf's ``{"<path>":<salted>}`` text."""
    enc = encode_basestring
    is_object = isinstance(data, dict)
    salted_items: list[tuple[str, Any]] = []
    for key, value in data.items() if is_object else enumerate(data):
        if type(key) is not str:
            key = str(key)
        elif "." in key:
            _check_key(key, prefix)
        path = prefix + key
        salted: Any
        if type(value) is str:
            salted = f"{salt()}:string:{value}"
            out.append(f"{{{enc(path)}:{enc(salted)}}}")
        elif isinstance(value, dict | list):
            if value:
                salted = _salt_leaves(value, path + ".", out, salt)
            else:
                salted = {} if isinstance(value, dict) else []
                out.append("{" + enc(path) + ":" + js_json(salted) + "}")
        else:
            salted = f"{salt()}:{typed_string(value)}"
            out.append(f"{{{enc(path)}:{enc(salted)}}}")
        salted_items.append((key, salted))
    return dict(salted_items) if is_object else [value for _, value in salted_items]


# --- v2: salting and flattening --------------------------------------------------------------------------------

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# where each of the 32 hex digits of a uuid4 goes in its 36-character text (dashes after 8, 12, 16 and 20 digits)
_UUID_COLUMNS = np.array([i + (i >= 8) + (i >= 12) + (i >= 16) + (i >= 20) for i in range(32)])


def uuid4_strings(count: int) -> list[str]:
    """``count`` random uuid4 strings (as ``uuid.uuid4()`` makes them: os.urandom, version 4, RFC 4122 variant)
    formatted in one vectorised pass; ``uuid.uuid4()`` per field was the bottleneck of wrapping."""
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = np.full((count, 37), ord("-"), dtype=np.uint8)
    text[:, 36] = ord(" ")
    text[:, _UUID_COLUMNS[0::2]] = _HEX_DIGITS[raw >> 4]
    text[:, _UUID_COLUMNS[1::2]] = _HEX_DIGITS[raw & 0x0F]
    return text.tobytes().decode("ascii").split()


def _salt_source(expected: int) -> Any:
    """A ``next()`` that yields fresh uuid4 strings without end, drawn in chunks sized for the expected count."""
    size = min(1 << 16, max(64, expected))
    return chain.from_iterable(iter(lambda: uuid4_strings(size), None)).__next__


def typed_string(value: Any) -> str:
    """``primitiveToTypedString``: ``string:…``, ``number:…``, ``boolean:…``, ``null:null``."""
    if isinstance(value, str):
        return "string:" + value
    if value is None:
        return "null:null"
    if isinstance(value, bool):
        return "boolean:" + ("true" if value else "false")
    if isinstance(value, int | float):
        return "number:" + js_number(value)
    raise DocumentFormatError(f"{type(value).__name__} is not a JSON primitive")


def salt_data(data: Any, salt: Any = None) -> Any:
    """Salt every primitive value (``saltData``); objects and arrays keep their shape, empty ones stay empty."""
    salt = salt or _salt_source(64)
    if isinstance(data, dict):
        return {k: salt_data(v, salt) for k, v in data.items()}
    if isinstance(data, list):
        return [salt_data(v, salt) for v in data]
    return f"{salt()}:{typed_string(data)}"


def unsalt(value: Any) -> Any:
    """The typed value behind ``"<uuid4>:<type>:<value>"``; anything else is returned as it is."""
    if type(value) is not str or len(value) < 37 or value[36] != ":" or not _UUID4.match(value, 0, 36):
        return value
    kind, _, text = value[37:].strip().partition(":")  # trimmed, as the reference's unsalt does
    if kind == "string":
        return text
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None  # JavaScript's Number() gives NaN, which JSON writes as null
        if number != number or number in (float("inf"), float("-inf")):
            return None
        return int(number) if number.is_integer() and abs(number) <= _MAX_SAFE_INTEGER else number
    if kind == "boolean":
        return text == "true"
    if kind in ("null", "undefined"):
        return None
    raise DocumentFormatError(
        f"salted value {value[:60]!r} has no known type annotation (string, number, boolean, null)"
    )


def unsalt_data(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: unsalt_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [unsalt_data(v) for v in data]
    return unsalt(data)


def flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``flatley.flatten``: (path, leaf) pairs; an empty object or array is a leaf."""
    if isinstance(data, dict):
        for key, value in data.items():
            key = str(key)
            if "." in key:
                raise DocumentFormatError(
                    f"key {key!r} contains '.', which OpenAttestation forbids in key names", field=prefix or key
                )
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict | list) and value:
                yield from flatten(value, path)
            else:
                yield path, value
    elif isinstance(data, list):
        for index, value in enumerate(data):
            path = f"{prefix}.{index}" if prefix else str(index)
            if isinstance(value, dict | list) and value:
                yield from flatten(value, path)
            else:
                yield path, value


def field_hashes(data: Any) -> list[str]:
    """keccak-256 of ``{"<path>":<value>}`` for every flattened field (``flattenHashArray``)."""
    texts: list[str] = []
    if isinstance(data, dict | list):
        _leaf_texts(data, "", texts)
    return hash_texts(texts)


def target_hash(hashes: list[str]) -> str:
    """keccak-256 of the JSON list of the sorted field hashes (sorts ``hashes`` in place). The hashes are hex, so
    the list's JSON text needs no escaping."""
    hashes.sort()
    return keccak_hex(('["' + '","'.join(hashes) + '"]').encode() if hashes else b"[]")


def digest_v2(document: dict[str, Any]) -> str:
    """The targetHash of a v2 wrapped document (``digestDocument``)."""
    obfuscated = _obfuscated_v2(document)
    if isinstance(obfuscated, str):
        raise DocumentFormatError(obfuscated, field="privacy.obfuscatedData")
    return target_hash([*obfuscated, *field_hashes(document.get("data"))])


# --- Merkle tree ---------------------------------------------------------------------------------------------------


def combine(first: bytes | None, second: bytes | None) -> bytes:
    """``combineHashBuffers``: keccak-256 of the two hashes sorted and concatenated; a lone hash passes through."""
    if not second:
        assert first is not None
        return first
    if not first:
        return second
    return bytes(_keccak(first + second if first <= second else second + first))


class MerkleTree:
    """The batch tree of ``shared/merkle``: sorted leaves, pairwise sorted hashing, odd node promoted."""

    def __init__(self, hashes: Sequence[str]) -> None:
        if not hashes:
            raise DocumentFormatError("a batch needs at least one document")
        self.elements = sorted(bytes.fromhex(h) for h in hashes)
        self._index = {e: i for i, e in enumerate(self.elements)}
        self.layers = [self.elements]
        while len(self.layers[-1]) > 1:
            layer = self.layers[-1]
            self.layers.append(
                [combine(layer[i], layer[i + 1] if i + 1 < len(layer) else None) for i in range(0, len(layer), 2)]
            )

        self._hex: list[list[str]] | None = None

    @property
    def root(self) -> str:
        return self.layers[-1][0].hex()

    def proof(self, target_hash: str) -> list[str]:
        if self._hex is None:  # every node's hex once, rather than once per proof it appears in
            self._hex = [[node.hex() for node in layer] for layer in self.layers[:-1]]
        index = self._index[bytes.fromhex(target_hash)]
        out = []
        for layer in self._hex:
            pair = index ^ 1
            if pair < len(layer):
                out.append(layer[pair])
            index >>= 1
        return out


def proof_nodes(
    proof: Sequence[str], target_hash: str, memo: dict[bytes, tuple[bytes, str]] | None = None
) -> list[str]:
    """targetHash and every node the proof leads through, ending with the root it computes.

    ``memo`` (a dict shared over a batch) remembers each pair's parent: documents of one batch share the upper
    part of their proofs, so a batch computes each node once."""
    node = bytes.fromhex(target_hash)
    out = [target_hash.lower()]
    if memo is None:
        memo = {}
    for step in proof:
        sibling = bytes.fromhex(step)
        pair = node + sibling if node <= sibling else sibling + node
        known = memo.get(pair)
        if known is None:
            digest = bytes(_keccak(pair))
            known = memo[pair] = (digest, digest.hex())
        node = known[0]
        out.append(known[1])
    return out


def check_proof(proof: Sequence[str], root: str, target_hash: str) -> bool:
    """``checkProof``: fold the proof over the target hash and compare with the root."""
    return proof_nodes(proof, target_hash)[-1] == root.lower()


# --- v2: wrapping and obfuscation --------------------------------------------------------------------------------


def check_raw_v2(data: Any, walk: bool = True) -> None:
    """The parts of the OpenAttestation v2 schema a wrapped document needs to verify anywhere."""
    if not isinstance(data, dict):
        raise DocumentFormatError("a document is a JSON object", field="data")
    issuers = data.get("issuers")
    if not isinstance(issuers, list) or not issuers:
        raise DocumentFormatError("an OpenAttestation v2 document needs a non-empty 'issuers' list", field="issuers")
    for i, issuer in enumerate(issuers):
        if not isinstance(issuer, dict) or not isinstance(issuer.get("name"), str):
            raise DocumentFormatError("every issuer needs a 'name'", field=f"issuers.{i}.name")
    if walk:
        for _ in flatten(data):  # refuses keys with '.'
            pass


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch allocates tens of thousands of acyclic dicts and strings
    (otherwise it rescans them again and again: a third of the time of a large batch); restores its state."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def wrap_documents(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``wrapDocuments``: salt and digest each document, then put them all under one Merkle root.

    Every field's JSON text of the whole batch is collected first and hashed in one pass (:func:`hash_texts`)."""
    with gc_paused():
        return _wrap_documents(documents)


def _wrap_documents(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    salted: list[dict[str, Any]] = []
    texts: list[str] = []
    ends: list[int] = []
    salt = _salt_source(48 * len(documents))
    for data in documents:
        check_raw_v2(data, walk=False)
        salted.append(_salt_leaves(data, "", texts, salt))
        ends.append(len(texts))
    hashes = hash_texts(texts)
    targets = []
    start = 0
    for end in ends:
        targets.append(target_hash(hashes[start:end]))
        start = end
    tree = MerkleTree(targets)
    root = tree.root
    return [
        {
            "version": V2_SCHEMA,
            "data": data,
            "signature": {
                "type": V2_SIGNATURE_TYPE,
                "targetHash": target,
                "proof": tree.proof(target),
                "merkleRoot": root,
            },
        }
        for data, target in zip(salted, targets, strict=True)
    ]


def wrap_document(data: dict[str, Any]) -> dict[str, Any]:
    return wrap_documents([data])[0]


_PATH_PART = re.compile(r"[^.[\]]+|\[(\d+)\]")


def parse_path(path: str) -> list[str]:
    """lodash-style path ('a.b[0].c' or 'a.b.0.c') as keys."""
    parts = [m.group(1) if m.group(1) is not None else m.group(0) for m in _PATH_PART.finditer(path)]
    if not parts:
        raise ObfuscationError(f"empty field path {path!r}", field="fields")
    return parts


def lodash_get(data: Any, parts: Sequence[str]) -> Any:
    node = data
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def obfuscate_v2(document: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``obfuscateDocument``: hash the named fields into ``privacy.obfuscatedData`` and remove them.

    Refuses (rather than producing a document that no longer verifies) to empty an object inside a list; an object
    emptied elsewhere is removed with its last field, which hashes to the same values (see FIELD-NOTES)."""
    if detect_version(document) != "2.0":
        raise ObfuscationError("only OpenAttestation v2 documents can be obfuscated here", field="document")
    if not fields:
        raise ObfuscationError("name at least one field to hide, e.g. 'recipient.name'", field="fields")
    if not isinstance(document.get("data"), dict):
        raise ObfuscationError("the document has no 'data' object to hide fields of", field="document.data")
    already = _obfuscated_v2(document)
    if isinstance(already, str):
        raise ObfuscationError(already, field="document.privacy")
    data = json.loads(json.dumps(document["data"]))
    hashes: list[str] = []
    visible = sorted(path for path, _ in flatten(data))
    for field in fields:
        parts = parse_path(field)
        value = lodash_get(data, parts)
        if value is _MISSING:
            raise ObfuscationError(
                f"no field {field!r} in the document (visible fields: "
                f"{', '.join(visible[:20])}{' …' if len(visible) > 20 else ''})",
                field="fields",
            )
        dotted = ".".join(parts)
        if isinstance(value, dict | list) and value:
            hashes += [_field_hash(path, leaf) for path, leaf in flatten(value, dotted)]
        else:
            hashes.append(_field_hash(dotted, value))
        parent = lodash_get(data, parts[:-1]) if len(parts) > 1 else data
        if isinstance(parent, list):
            raise ObfuscationError(
                f"{field!r} is an item of a list; hiding it would shift the other items. Hide "
                "fields inside the item, or the whole list",
                field="fields",
            )
        del parent[parts[-1]]
        # drop objects left empty, up to the first non-empty one (an empty object would itself be hashed)
        for depth in range(len(parts) - 1, 0, -1):
            container = lodash_get(data, parts[:depth])
            if isinstance(container, dict) and not container:
                holder = lodash_get(data, parts[: depth - 1]) if depth > 1 else data
                if isinstance(holder, list):
                    raise ObfuscationError(
                        f"hiding {field!r} empties an item of the list {'.'.join(parts[: depth - 1])!r}; hide the "
                        "whole list or keep one field of the item",
                        field="fields",
                    )
                del holder[parts[depth - 1]]
            else:
                break
    out = {k: v for k, v in document.items() if k not in ("data", "privacy")}
    privacy = dict(document.get("privacy", {}))
    privacy["obfuscatedData"] = [*already, *hashes]
    return {**out, "data": data, "privacy": privacy}


# --- verification ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntegrityResult:
    version: str
    valid: bool
    reason: str
    target_hash: str | None
    merkle_root: str | None
    visible_fields: int
    obfuscated_fields: int
    nodes: tuple[str, ...] = ()  # targetHash, each node up the proof, the root it leads to


def detect_version(document: Any) -> str:
    if not isinstance(document, dict):
        raise DocumentFormatError("a wrapped document is a JSON object", field="document")
    version = document.get("version", _MISSING)
    if version == V2_SCHEMA or (version is _MISSING and "signature" in document and "data" in document):
        return "2.0"
    if version == V3_SCHEMA or (
        isinstance(version, str) and version.startswith("https://schema.openattestation.com/3.0")
    ):
        return "3.0"
    if version is _MISSING and isinstance(document.get("proof"), dict) and "salts" in document["proof"]:
        return "3.0"
    shown = "missing" if version is _MISSING else repr(str(version)[:100]) if isinstance(version, str) else "not text"
    raise DocumentFormatError(
        f"unsupported document version ({shown}); OpenCustoms verifies "
        f"OpenAttestation v2 ({V2_SCHEMA}) and v3 ({V3_SCHEMA}) documents",
        field="version",
    )


_HASH_LIST = re.compile(r"(?:[0-9a-f]{64}\n)*")
LOWER_HEX = "64 lower-case hex digits without 0x, as OpenAttestation writes hashes"


def _all_hashes(values: Any) -> TypeGuard[list[str]]:
    """A list whose every item is a 64-lower-case-hex-digit string (one regex over the joined list rather than one
    per item)."""
    if not isinstance(values, list) or not all(type(v) is str and len(v) == 64 for v in values):
        return False
    return _HASH_LIST.fullmatch("".join(v + "\n" for v in values)) is not None


def _hash_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and _HASH.fullmatch(value) else None


def _obfuscated_v2(document: dict[str, Any]) -> list[str] | str:
    """``privacy.obfuscatedData`` of a v2 document ([] when absent), or the reason it is unusable."""
    privacy = document.get("privacy", {})
    if not isinstance(privacy, dict):
        return "privacy must be an object holding obfuscatedData"
    obfuscated = privacy.get("obfuscatedData", [])
    if not _all_hashes(obfuscated):
        return f"privacy.obfuscatedData must be a list of hashes ({LOWER_HEX})"
    return obfuscated


def verify_v2(
    document: dict[str, Any],
    hashes: list[str] | DocumentFormatError | None = None,
    memo: dict[bytes, tuple[bytes, str]] | None = None,
) -> IntegrityResult:
    """Integrity of a v2 document. ``hashes``: its field hashes (or the error computing them) when the caller
    hashed a whole batch at once (:func:`verify_integrity_many`); ``memo``: see :func:`proof_nodes`."""
    signature = document.get("signature")
    data = document.get("data")
    if not isinstance(signature, dict) or not isinstance(data, dict):
        return IntegrityResult(
            "2.0",
            False,
            "the document has no 'signature' or no 'data' object; it is not a wrapped OpenAttestation v2 document",
            None,
            None,
            0,
            0,
        )
    target = _hash_or_none(signature.get("targetHash"))
    root_text = signature.get("merkleRoot")
    root = _hash_or_none(root_text)
    proof = signature.get("proof")
    if signature.get("type") != V2_SIGNATURE_TYPE:
        return IntegrityResult(
            "2.0",
            False,
            f"signature.type {str(signature.get('type'))[:80]!r} is not {V2_SIGNATURE_TYPE!r}",
            target,
            root,
            0,
            0,
        )
    obfuscated = _obfuscated_v2(document)
    if isinstance(obfuscated, str):
        return IntegrityResult("2.0", False, obfuscated, target, root, 0, 0)
    try:
        if isinstance(hashes, DocumentFormatError):
            raise hashes
        if hashes is None:
            hashes = field_hashes(data)
        visible = len(hashes)
        digest = target_hash([*obfuscated, *hashes])
    except DocumentFormatError as exc:
        return IntegrityResult("2.0", False, exc.message, target, root, 0, len(obfuscated))
    if target is None:
        return IntegrityResult(
            "2.0", False, f"signature.targetHash is not a hash ({LOWER_HEX})", None, root, visible, len(obfuscated)
        )
    if digest != target:
        return IntegrityResult(
            "2.0",
            False,
            f"document has been tampered with: the fields do not hash to targetHash (computed {digest})",
            target,
            root,
            visible,
            len(obfuscated),
        )
    if root is None:
        return IntegrityResult(
            "2.0",
            False,
            f"merkle root {str(root_text)[:80]!r} (signature.merkleRoot) is not a hash ({LOWER_HEX})",
            target,
            None,
            visible,
            len(obfuscated),
        )
    if not _all_hashes(proof):
        return IntegrityResult(
            "2.0",
            False,
            f"signature.proof must be a list of hashes ({LOWER_HEX}); a single-document batch has []",
            target,
            root,
            visible,
            len(obfuscated),
        )
    nodes = proof_nodes(proof, target, memo)
    if nodes[-1] != root:
        return IntegrityResult(
            "2.0",
            False,
            "the proof does not lead from targetHash to merkleRoot",
            target,
            root,
            visible,
            len(obfuscated),
            tuple(nodes[:-1]),
        )
    return IntegrityResult(
        "2.0",
        True,
        "fields hash to targetHash and the proof leads to the merkle root",
        target,
        root,
        visible,
        len(obfuscated),
        tuple(nodes),
    )


def _leaf_paths_v3(data: Any, path: str = "") -> Iterator[str]:
    """``traverseAndFlatten`` paths: ``a.b[0].c``; empty objects and arrays have no leaves."""
    if isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaf_paths_v3(value, f"{path}[{index}]")
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _leaf_paths_v3(value, f"{path}.{key}" if path else str(key))
    else:
        yield path


def _truthy(value: Any) -> bool:
    if value is _MISSING or value is None or value is False:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, int | float):
        return value != 0 and value == value
    return True


def decode_salts(text: Any) -> list[dict[str, Any]]:
    if not isinstance(text, str):
        raise DocumentFormatError("proof.salts must be a base64 string", field="proof.salts")
    try:
        salts = jsoninput.loads(base64.b64decode(text, validate=True), what="proof.salts")
    except (binascii.Error, DocumentFormatError) as exc:
        reason = exc.message if isinstance(exc, DocumentFormatError) else str(exc)
        raise DocumentFormatError(f"proof.salts is not base64-encoded JSON: {reason}", field="proof.salts") from exc
    if not isinstance(salts, list) or not all(
        isinstance(s, dict) and isinstance(s.get("path"), str) and isinstance(s.get("value"), str) for s in salts
    ):
        raise DocumentFormatError("proof.salts must decode to a list of {value, path} strings", field="proof.salts")
    return salts


def verify_v3(document: dict[str, Any]) -> IntegrityResult:
    proof = document.get("proof")
    if not isinstance(proof, dict):
        return IntegrityResult("3.0", False, "the document has no 'proof' object", None, None, 0, 0)
    target = _hash_or_none(proof.get("targetHash"))
    root = _hash_or_none(proof.get("merkleRoot"))
    privacy = proof.get("privacy", {})
    obfuscated = privacy.get("obfuscated", []) if isinstance(privacy, dict) else None
    if not _all_hashes(obfuscated):
        return IntegrityResult(
            "3.0", False, f"proof.privacy.obfuscated must be a list of hashes ({LOWER_HEX})", target, root, 0, 0
        )
    body = {k: v for k, v in document.items() if k != "proof"}
    try:
        salts = decode_salts(proof.get("salts"))
    except DocumentFormatError as exc:
        return IntegrityResult("3.0", False, exc.message, target, root, 0, len(obfuscated))
    visible = sum(1 for _ in _leaf_paths_v3(body))
    if visible != len(salts):
        return IntegrityResult(
            "3.0",
            False,
            f"document has been tampered with: {visible} visible fields but "
            f"{len(salts)} salts (fields were added or removed)",
            target,
            root,
            visible,
            len(obfuscated),
        )
    hashes = list(obfuscated)
    try:
        for salt in salts:
            value = lodash_get(body, parse_path(salt["path"])) if salt["path"] else _MISSING
            if _truthy(value):
                hashes.append(_field_hash(salt["path"], f"{salt['value']}:{js_string(value)}"))
    except DocumentFormatError as exc:
        return IntegrityResult("3.0", False, exc.message, target, root, visible, len(obfuscated))
    digest = keccak_hex(("[" + ",".join(encode_basestring(h) for h in sorted(hashes)) + "]").encode())
    if target is None:
        return IntegrityResult(
            "3.0", False, f"proof.targetHash is not a hash ({LOWER_HEX})", None, root, visible, len(obfuscated)
        )
    if digest != target:
        return IntegrityResult(
            "3.0",
            False,
            "document has been tampered with: the fields do not hash to targetHash",
            target,
            root,
            visible,
            len(obfuscated),
        )
    proofs = proof.get("proofs")
    if root is None or not _all_hashes(proofs):
        return IntegrityResult(
            "3.0",
            False,
            f"proof.merkleRoot must be a hash and proof.proofs a list of hashes ({LOWER_HEX})",
            target,
            root,
            visible,
            len(obfuscated),
        )
    nodes = proof_nodes(proofs, target)
    if nodes[-1] != root:
        return IntegrityResult(
            "3.0",
            False,
            "the proofs do not lead from targetHash to merkleRoot",
            target,
            root,
            visible,
            len(obfuscated),
            tuple(nodes[:-1]),
        )
    return IntegrityResult(
        "3.0",
        True,
        "fields hash to targetHash and the proofs lead to the merkle root",
        target,
        root,
        visible,
        len(obfuscated),
        tuple(nodes),
    )


def verify_integrity(document: Any) -> IntegrityResult:
    """Integrity of a wrapped v2 or v3 document; an unsupported version raises DocumentFormatError."""
    version = detect_version(document)
    return verify_v2(document) if version == "2.0" else verify_v3(document)


def verify_integrity_many(documents: Sequence[Any]) -> list[IntegrityResult | DocumentFormatError]:
    """:func:`verify_integrity` of a batch: the v2 documents' fields are hashed in one pass and the Merkle nodes
    their proofs share are computed once. An unsupported document gets its DocumentFormatError in its place."""
    texts: list[str] = []
    spans: list[tuple[int, int] | DocumentFormatError | None] = []
    versions: list[str | DocumentFormatError] = []
    for document in documents:
        try:
            version = detect_version(document)
        except DocumentFormatError as exc:
            versions.append(exc)
            spans.append(None)
            continue
        versions.append(version)
        data = document.get("data") if version == "2.0" else None
        if not isinstance(data, dict):
            spans.append(None)
            continue
        start = len(texts)
        try:
            _leaf_texts(data, "", texts)
            spans.append((start, len(texts)))
        except DocumentFormatError as exc:
            del texts[start:]
            spans.append(exc)
    hashes = hash_texts(texts)
    memo: dict[bytes, tuple[bytes, str]] = {}
    out: list[IntegrityResult | DocumentFormatError] = []
    for document, kind, span in zip(documents, versions, spans, strict=True):
        if isinstance(kind, DocumentFormatError):
            out.append(kind)
        elif kind == "2.0":
            given = hashes[span[0] : span[1]] if isinstance(span, tuple) else span
            out.append(verify_v2(document, given, memo))
        else:
            out.append(verify_v3(document))
    return out


def document_data(document: dict[str, Any]) -> dict[str, Any]:
    """The readable data: unsalted v2 ``data``, or the v3 document without its proof."""
    if detect_version(document) == "2.0":
        data = unsalt_data(document.get("data") or {})
        return data if isinstance(data, dict) else {}
    return {k: v for k, v in document.items() if k != "proof"}


def visible_paths(document: dict[str, Any]) -> list[str]:
    if detect_version(document) == "2.0":
        return [path for path, _ in flatten(document.get("data") or {})]
    return list(_leaf_paths_v3({k: v for k, v in document.items() if k != "proof"}))
