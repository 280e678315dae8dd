"""Signing and verifying exchange messages (JWS, Ed25519): what verifies, and every way a message is refused
before anything is stored — forged, altered, not a JWS, nested too deep — and data minimisation."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from opencustoms.exchange import signing
from opencustoms.exchange.errors import MessageRejectedError
from opencustoms.exchange.schema import DEFAULT_FIELDS, ExchangeMessage, ExportRecord, minimise


def record(**changes: object) -> ExportRecord:
    data: dict[str, object] = {
        "functional_reference_id": "AR-EX-1",
        "acceptance_date": "2025-03-01",
        "ucr": "5AR30712345678-0001",
        "export_country_code": "AR",
        "destination_country_code": "BR",
        "exporter": {"id": "AR30712345678", "name": "Pampa Exports SA", "country_code": "AR"},
        "consignee": {"id": "BR11222333000181", "name": "Rio Imports Ltda", "country_code": "BR"},
        "transport": {"mode_code": "1", "id": "MAERSK ESSEN", "loading_location": "ARBUE"},
        "container_ids": ["CSQU3054383"],
        "goods_items": [
            {
                "sequence_number": 1,
                "hs6": "020130",
                "description": "boneless beef",
                "quantity": 1000,
                "quantity_unit": "KGM",
                "net_mass_kg": 1000.0,
                "value_amount": "9000.00",
                "value_currency": "USD",
                "origin_country_code": "AR",
            }
        ],
    }
    data.update(changes)
    return ExportRecord.model_validate(data)


def message(**changes: object) -> ExchangeMessage:
    data: dict[str, object] = {
        "message_id": str(uuid.uuid4()),
        "sender": "AR",
        "receiver": "BR",
        "issued_at": dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC),
        "record": record(),
    }
    data.update(changes)
    return ExchangeMessage.model_validate(data)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


KEY = Ed25519PrivateKey.generate()
PUBLIC = signing.public_bytes(KEY)


def test_a_signed_message_verifies_and_says_what_was_signed() -> None:
    sent = message()
    token = signing.sign(sent, KEY)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "Ed25519", "kid": signing.key_id(PUBLIC), "typ": signing.TYP}
    received, digest = signing.verify(token, PUBLIC)
    assert received == sent
    assert digest == signing.digest(signing.canonical(sent))
    assert signing.peek(token).sender == "AR"


def test_the_rfc_8037_name_eddsa_is_accepted_on_receipt() -> None:
    from joserfc import jws
    from joserfc.jwk import OKPKey

    sent = message()
    with pytest.warns(Warning):  # joserfc says EdDSA is deprecated by RFC 9864; the signature is the same
        token = jws.serialize_compact(
            {"alg": "EdDSA", "kid": signing.key_id(PUBLIC)},
            signing.canonical(sent),
            OKPKey.import_key(KEY),
            registry=signing._registry(),
        )
    assert signing.verify(token, PUBLIC)[0] == sent


def test_a_forged_message_is_refused() -> None:
    token = signing.sign(message(), Ed25519PrivateKey.generate())
    with pytest.raises(MessageRejectedError) as caught:
        signing.verify(token, PUBLIC)
    assert caught.value.field == "signature"


def test_an_altered_message_is_refused() -> None:
    token = signing.sign(message(), KEY)
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["record"]["goods_items"][0]["value_amount"] = "900.00"  # the exporter's value lowered on the way
    altered = ".".join([header, _b64(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()), signature])
    with pytest.raises(MessageRejectedError) as caught:
        signing.verify(altered, PUBLIC)
    assert caught.value.field == "signature"


@pytest.mark.parametrize("body", ["", "{}", "a.b", "not a jws at all", "a..c"])
def test_what_is_not_a_compact_jws_is_refused_by_name(body: str) -> None:
    with pytest.raises(MessageRejectedError) as caught:
        signing.verify(body, PUBLIC)
    assert caught.value.field == "jws"


def test_a_deeply_nested_payload_is_refused_before_parsing() -> None:
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    token = ".".join([_b64(b'{"alg":"Ed25519"}'), _b64(deep), _b64(b"x" * 64)])
    with pytest.raises(MessageRejectedError, match="deeper"):
        signing.verify(token, PUBLIC)


def test_a_payload_of_another_shape_is_refused_naming_the_field() -> None:
    from joserfc import jws
    from joserfc.jwk import OKPKey

    bad = json.dumps({"schema": "opencustoms.exchange.export/1", "message_id": "x"}).encode()
    token = jws.serialize_compact({"alg": "Ed25519"}, bad, OKPKey.import_key(KEY), registry=signing._registry())
    with pytest.raises(MessageRejectedError) as caught:
        signing.verify(token, PUBLIC)
    assert caught.value.field == "message_id"


def test_minimisation_keeps_the_core_and_only_the_agreed_groups() -> None:
    full = record()
    default = minimise(full, DEFAULT_FIELDS)
    assert default.exporter is not None and default.exporter.name is None and default.exporter.id == "AR30712345678"
    assert default.goods_items[0].value_amount is not None
    bare = minimise(full, [])
    assert bare.ucr is None and bare.exporter is None and bare.consignee is None and bare.container_ids is None
    item = bare.goods_items[0]
    assert (item.hs6, item.sequence_number) == ("020130", 1)
    assert (item.value_amount, item.net_mass_kg, item.origin_country_code, item.description) == (None,) * 4
    named = minimise(full, [*DEFAULT_FIELDS, "exporter.name"])
    assert named.exporter is not None and named.exporter.name == "Pampa Exports SA"
    assert named.consignee is not None and named.consignee.name is None
