"""Conformance of the OpenAttestation format with the reference implementation.

Real documents (../shared/data/oa and fixtures/oa, from OpenAttestation's repositories) must verify exactly as
OpenAttestation says; documents wrapped here are checked by an independent re-implementation written below with a
different keccak library (pycryptodome directly) and json.dumps instead of this package's serialiser.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from documents_helpers import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_data
from opencustoms.documents import openattestation as oa
from opencustoms.documents.errors import DocumentFormatError, ObfuscationError

# --- an independent re-implementation (reference semantics, written from the TypeScript sources) --------------


def _k(data: bytes) -> bytes:
    return pycryptodome_keccak.new(digest_bits=256, data=data).digest()


def _flatley(obj, prefix=""):
    out = {}
    items = obj.items() if isinstance(obj, dict) else ((str(i), v) for i, v in enumerate(obj))
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict | list) and len(value) > 0:
            out.update(_flatley(value, path))
        else:
            out[path] = value
    return out


def _independent_target_hash(document) -> str:
    leaves = _flatley(document["data"])
    hashes = [
        _k(json.dumps({p: v}, separators=(",", ":"), ensure_ascii=False).encode()).hex() for p, v in leaves.items()
    ]
    hashes += document.get("privacy", {}).get("obfuscatedData", [])
    return _k(json.dumps(sorted(hashes), separators=(",", ":")).encode()).hex()


def _independent_root(target: str, proof: list[str]) -> str:
    node = bytes.fromhex(target)
    for step in proof:
        pair = sorted([node, bytes.fromhex(step)])
        node = _k(pair[0] + pair[1])
    return node.hex()


def _independent_batch_root(targets: list[str]) -> str:
    layer = sorted(bytes.fromhex(t) for t in targets)
    while len(layer) > 1:
        nxt = []
        for i in range(0, len(layer), 2):
            if i + 1 == len(layer):
                nxt.append(layer[i])
            else:
                a, b = sorted(layer[i : i + 2])
                nxt.append(_k(a + b))
        layer = nxt
    return layer[0].hex()


SALTED = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}:(string|number|boolean|null):"
)


# --- real documents -------------------------------------------------------------------------------------------


def test_real_valid_document_verifies() -> None:
    document = json.loads(shared_data("oa", "v2_valid_not-obfuscated-wrapped.json").read_text())
    result = oa.verify_integrity(document)
    assert result.valid and result.target_hash == document["signature"]["targetHash"]


def test_real_tampered_document_fails_integrity() -> None:
    document = json.loads(shared_data("oa", "v2_tampered_oa-verify.json").read_text())
    result = oa.verify_integrity(document)
    assert not result.valid and "tampered" in result.reason


@pytest.mark.parametrize(
    ("name", "valid", "reason"),
    [
        ("v2_did-wrapped.json", True, ""),
        ("v2_wrapped-transferable-document.json", True, ""),
        ("v2_sepolia-valid-document-store.json", True, ""),
        ("v2_obfuscated-wrapped.json", False, "tampered"),  # the emptied recipient {} is hashed (FIELD-NOTES)
        ("v2_mainnet-incorrect-merkle-root.json", False, "merkle root"),
        ("v3_not-obfuscated-wrapped.json", True, ""),
        ("v3_obfuscated-wrapped.json", True, ""),
        ("v3_batched-verifiable-credential-1.json", True, ""),
    ],
)
def test_openattestation_fixtures(name: str, valid: bool, reason: str) -> None:
    result = oa.verify_integrity(json.loads((FIXTURES / name).read_text()))
    assert result.valid is valid, result.reason
    assert reason in result.reason


def test_incorrect_root_fixture_has_a_correct_target_hash_with_obfuscated_fields() -> None:
    document = json.loads((FIXTURES / "v2_mainnet-incorrect-merkle-root.json").read_text())
    assert oa.digest_v2(document) == document["signature"]["targetHash"]
    assert _independent_target_hash(document) == document["signature"]["targetHash"]


def test_v3_added_field_and_changed_value_fail() -> None:
    document = json.loads((FIXTURES / "v3_not-obfuscated-wrapped.json").read_text())
    added = copy.deepcopy(document)
    added["recipient"]["surname"] = "Watson"
    assert not oa.verify_integrity(added).valid and "salts" in oa.verify_integrity(added).reason
    changed = copy.deepcopy(document)
    changed["recipient"]["name"] = "Mary Jones"
    assert not oa.verify_integrity(changed).valid
    batched = json.loads((FIXTURES / "v3_batched-verifiable-credential-1.json").read_text())
    batched["proof"]["proofs"] = ["00" * 32]
    assert "proofs do not lead" in oa.verify_integrity(batched).reason


# --- documents wrapped here, checked independently -------------------------------------------------------------

RAW = [
    {
        "issuers": [{"name": "Dutch Customs", "documentStore": "0x" + "ab" * 20}],
        "id": "A-1",
        "count": 5000,
        "ratio": 0.1,
        "tiny": 1.5e-7,
        "big": 1e21,
        "flag": False,
        "none": None,
        "empty": {},
        "list": [],
        "unicode": 'Zürich – 東京 "quoted" \\ back\nslash',
        "nested": {"items": [{"hs": "620342"}, {"hs": "847130"}]},
    },
    *({"issuers": [{"name": "Dutch Customs"}], "id": f"B-{i}", "n": i} for i in range(6)),
]


def test_wrapped_here_checked_by_independent_implementation() -> None:
    wrapped = oa.wrap_documents(RAW)
    targets = [w["signature"]["targetHash"] for w in wrapped]
    root = _independent_batch_root(targets)
    for w, raw in zip(wrapped, RAW, strict=True):
        assert _independent_target_hash(w) == w["signature"]["targetHash"]
        assert _independent_root(w["signature"]["targetHash"], w["signature"]["proof"]) == root
        assert w["signature"]["merkleRoot"] == root and w["signature"]["type"] == "SHA3MerkleProof"
        assert all(SALTED.match(v) for v in _flatley(w["data"]).values() if isinstance(v, str))
        assert oa.unsalt_data(w["data"]) == raw
    first = _flatley(wrapped[0]["data"])
    assert first["count"].endswith(":number:5000") and first["tiny"].endswith(":number:1.5e-7")
    assert first["big"].endswith(":number:1e+21") and first["flag"].endswith(":boolean:false")
    assert first["none"].endswith(":null:null") and first["empty"] == {} and first["list"] == []


@settings(max_examples=40)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(alphabet="abcXYZ_$@ 0", min_size=1, max_size=5), children, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_any_json_wraps_and_verifies_independently(extra) -> None:
    [wrapped] = oa.wrap_documents([{"issuers": [{"name": "x"}], "extra": extra}])
    assert oa.verify_integrity(wrapped).valid
    assert _independent_target_hash(wrapped) == wrapped["signature"]["targetHash"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5000, "5000"),
        (5000.0, "5000"),
        (0.1, "0.1"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (123e-20, "1.23e-18"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (-2.5, "-2.5"),
        (0.0, "0"),
        (True, "true"),
    ],
)
def test_js_number(value, text) -> None:
    assert oa.js_number(value) == text


def test_bad_input_is_refused() -> None:
    with pytest.raises(DocumentFormatError, match="'.'"):
        oa.wrap_documents([{"issuers": [{"name": "x"}], "a.b": 1}])
    with pytest.raises(DocumentFormatError, match="issuers"):
        oa.wrap_documents([{"name": "no issuers"}])
    with pytest.raises(DocumentFormatError, match="2\\^53"):
        oa.wrap_documents([{"issuers": [{"name": "x"}], "n": 2**60}])
    with pytest.raises(DocumentFormatError, match="unsupported document version"):
        oa.verify_integrity({"version": "https://schema.openattestation.com/4.0/schema.json"})


def test_tampering_variants_fail() -> None:
    [good] = oa.wrap_documents([RAW[0]])
    assert oa.verify_integrity(good).valid
    changed = copy.deepcopy(good)
    changed["data"]["id"] = changed["data"]["id"].replace("A-1", "A-2")
    assert "tampered" in oa.verify_integrity(changed).reason
    wrong_root = copy.deepcopy(good)
    wrong_root["signature"]["merkleRoot"] = "11" * 32
    assert "proof does not lead" in oa.verify_integrity(wrong_root).reason
    wrong_proof = copy.deepcopy(good)
    wrong_proof["signature"]["proof"] = ["22" * 32]
    assert not oa.verify_integrity(wrong_proof).valid
    resalted = copy.deepcopy(good)
    resalted["data"]["id"] = "00000000-0000-4000-8000-000000000000:string:A-1"
    assert not oa.verify_integrity(resalted).valid
    no_signature = {k: v for k, v in good.items() if k != "signature"}
    assert not oa.verify_integrity({**no_signature, "version": oa.V2_SCHEMA}).valid


# --- selective disclosure ----------------------------------------------------------------------------------------


def test_obfuscation_matches_openattestation_and_still_verifies() -> None:
    document = json.loads(shared_data("oa", "v2_valid_not-obfuscated-wrapped.json").read_text())
    hidden = oa.obfuscate_v2(document, ["recipient.name"])
    reference = json.loads((FIXTURES / "v2_obfuscated-wrapped.json").read_text())
    assert hidden["privacy"]["obfuscatedData"] == reference["privacy"]["obfuscatedData"]
    assert "recipient" not in hidden["data"]  # the emptied object is removed, so the document still verifies
    result = oa.verify_integrity(hidden)
    assert result.valid and result.obfuscated_fields == 1
    assert _independent_target_hash(hidden) == document["signature"]["targetHash"]


def test_obfuscation_of_subtrees_and_refusals() -> None:
    [good] = oa.wrap_documents([RAW[0]])
    hidden = oa.obfuscate_v2(good, ["nested", "unicode"])
    assert oa.verify_integrity(hidden).valid and len(hidden["privacy"]["obfuscatedData"]) == 3
    again = oa.obfuscate_v2(hidden, ["count"])
    assert oa.verify_integrity(again).valid and len(again["privacy"]["obfuscatedData"]) == 4
    with pytest.raises(ObfuscationError, match="no field"):
        oa.obfuscate_v2(good, ["nope"])
    with pytest.raises(ObfuscationError, match="item of a list"):
        oa.obfuscate_v2(good, ["nested.items[0]"])
    with pytest.raises(ObfuscationError, match="empties an item"):
        oa.obfuscate_v2(good, ["nested.items.0.hs"])
