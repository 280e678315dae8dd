"""The batch paths behind the speed of wrapping and verifying give exactly what the one-at-a-time paths give.

Wrapping hashes every field of a batch in one pass and draws salts in vectorised chunks; verification hashes a
batch at once and shares proof nodes. These tests compare them with per-field hashing, per-document verification
and an independent re-implementation (pycryptodome's keccak, json.dumps), on awkward text and numbers.
"""

from __future__ import annotations

import copy
import json
import uuid
from decimal import Decimal

from Crypto.Hash import keccak as pycryptodome_keccak
from documents_helpers import FIXTURES, SETTINGS, coo_record
from hypothesis import given, settings
from hypothesis import strategies as st

from opencustoms.documents import openattestation as oa
from opencustoms.documents import service
from opencustoms.documents.errors import DocumentFormatError


def _independent_field_hash(path: str, value: object) -> str:
    text = json.dumps({path: value}, separators=(",", ":"), ensure_ascii=False)
    return pycryptodome_keccak.new(digest_bits=256, data=text.encode()).hexdigest()


def test_salts_are_random_uuid4_strings() -> None:
    salts = oa.uuid4_strings(5000)
    assert len(salts) == len(set(salts)) == 5000
    for text in salts[:500]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every hex digit position varies (no column stuck by the vectorised formatting)
    columns = {i: {s[i] for s in salts} for i in range(36) if i not in (8, 13, 14, 18, 19, 23)}
    assert all(len(v) == 16 for v in columns.values())
    assert {s[14] for s in salts} == {"4"} and {s[19] for s in salts} == set("89ab")


def test_awkward_text_hashes_as_json_stringify_would() -> None:
    values = ["line\nbreak", 'tab\tand "quote" \\ back', "\u2028\u2029", "日本語 ✓ 𝄞", "\x00\x1f\x7f", ""]
    data = {"issuers": [{"name": "x"}], **{f"v{i}": v for i, v in enumerate(values)}}
    [wrapped] = oa.wrap_documents([data])
    paths = dict(oa.flatten(wrapped["data"]))
    batch = oa.field_hashes(wrapped["data"])
    assert batch == [oa._field_hash(p, v) for p, v in paths.items()]
    assert batch == [_independent_field_hash(p, v) for p, v in paths.items()]
    assert oa.verify_integrity(wrapped).valid
    # the readable data is trimmed, as OpenAttestation's unsalt does (value.substring(37).trim()); hashes are not
    assert oa.unsalt_data(wrapped["data"]) == {**data, "v2": ""}


def test_lone_surrogates_are_escaped_in_the_batch_path_too() -> None:
    data = {"issuers": [{"name": "x"}], "odd": "a\ud800b", "fine": "ok"}
    [wrapped] = oa.wrap_documents([data])
    paths = dict(oa.flatten(wrapped["data"]))
    assert oa.field_hashes(wrapped["data"]) == [oa._field_hash(p, v) for p, v in paths.items()]
    salted = paths["odd"]
    expected = '{"odd":"' + salted.replace("\ud800", "\\ud800") + '"}'  # JSON.stringify escapes lone surrogates
    assert oa._field_hash("odd", salted) == pycryptodome_keccak.new(digest_bits=256, data=expected.encode()).hexdigest()
    assert oa.verify_integrity(wrapped).valid


def _js_number_reference(value: float) -> str:
    """ECMAScript Number::toString from the shortest round-trip digits (the previous, Decimal-based code)."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), int(exponent) + len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


@settings(max_examples=400)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.floats(min_value=-1e22, max_value=1e22))
def test_js_number_fast_path_agrees_with_the_reference(value: float) -> None:
    assert oa.js_number(value) == _js_number_reference(value)


def _mixed_batch(engine, operator) -> list:  # type: ignore[no-untyped-def]
    issued = service.issue(engine, operator, "coo", [coo_record(f"COO-{i}") for i in range(5)], SETTINGS).documents
    tampered = copy.deepcopy(issued[1])
    tampered["data"]["fta"] = oa.salt_data("other FTA")
    wrong_proof = copy.deepcopy(issued[2])
    wrong_proof["signature"]["proof"] = ["22" * 32]
    bad_proof_text = copy.deepcopy(issued[3])
    bad_proof_text["signature"]["proof"] = ["zz" * 32]
    dotted = copy.deepcopy(issued[4])
    dotted["data"]["a.b"] = oa.salt_data("x")
    hidden = service.obfuscate(issued[0], ["importer", "consignment.transport_means"])
    v3 = json.loads((FIXTURES / "v3_not-obfuscated-wrapped.json").read_text())
    foreign = json.loads((FIXTURES / "v2_did-wrapped.json").read_text())
    return [
        *issued,
        tampered,
        wrong_proof,
        bad_proof_text,
        dotted,
        hidden,
        v3,
        foreign,
        {"version": "https://schema.openattestation.com/4.0/schema.json"},
        {"version": oa.V2_SCHEMA, "data": [], "signature": {}},
        issued[0],  # the same document twice in one batch
    ]


def test_verify_many_equals_verifying_one_at_a_time(engine, operator) -> None:  # type: ignore[no-untyped-def]
    documents = _mixed_batch(engine, operator)
    checker = service.verifier(engine, SETTINGS)
    together = checker.verify_many(documents, with_data=True)
    alone = [checker.verify(d) for d in documents]
    assert [r.to_dict() for r in together] == [r.to_dict() for r in alone]
    assert [r.valid for r in together[:5]] == [True] * 5
    assert not any(r.valid for r in together[5:9])
    assert together[9].valid and together[9].hidden_field_count == 4  # importer (3 fields) + transport means
    assert together[-1].valid


def test_integrity_batch_equals_single(engine, operator) -> None:  # type: ignore[no-untyped-def]
    documents = _mixed_batch(engine, operator)
    batch = oa.verify_integrity_many(documents)
    for document, result in zip(documents, batch, strict=True):
        try:
            single: object = oa.verify_integrity(document)
        except DocumentFormatError as exc:
            single = exc
        if isinstance(single, DocumentFormatError):
            assert isinstance(result, DocumentFormatError) and result.message == single.message
        else:
            assert result == single
