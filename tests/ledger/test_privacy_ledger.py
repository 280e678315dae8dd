"""The AEO registry and the signed log as each reader may see them (issue #12: readers without the personal-data
permission never receive a holder's name, address or real identifier).

Readers without ``personal_data:read`` (the risk analyst) see a certificate's holder as its pseudonym, look holders
up only by pseudonym, search the registry by certificate number or pseudonym only, and get the log's entries and a
certificate's history as signed leaves without content. Partner administrations and officers (``ledger:replicate``)
receive the content: replication depends on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ledger_testnodes import LEDGER_OFFICER, client_for, connect, make_node

from opencustoms import signals
from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.ledger import merkle, service
from opencustoms.ledger.entries import AEOCertificate, SignedEntry
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.pseudonyms import Pseudonymiser
from opencustoms.security.roles import Permission, Role
from opencustoms.security.service import Identity, create_user, issue_token, read_audit
from opencustoms.store.database import open_database

ANALYST = Identity.of("rita.analyst", "NL", [Role.RISK_ANALYST])
PARTNER = Identity.of("partner-br", "BR", [Role.PARTNER])
AUDITOR = Identity.of("dpo", "NL", [Role.DATA_PROTECTION_OFFICER])
HOLDER_ID, HOLDER_NAME, STREET = "NL200000002", "Tulip Trading BV", "Maasboulevard 1"
PERSONAL = (HOLDER_ID, HOLDER_NAME, STREET, "audit findings at Tulip")


def certificate(number: str = "NLAEOF0001") -> AEOCertificate:
    return AEOCertificate.model_validate(
        {
            "certificate_number": number,
            "holder": {
                "name": HOLDER_NAME,
                "id": HOLDER_ID,
                "address": {"line": STREET, "city_name": "Rotterdam", "postcode_id": "3011", "country_code": "NL"},
                "country_code": "NL",
            },
            "type": "both",
            "issue_date": "2024-01-10",
        }
    )


@pytest.fixture
def registry(ledger, pseudonymiser):  # type: ignore[no-untyped-def]
    """A log with one certificate, issued then suspended for a reason that names the holder."""
    engine, keystore = ledger
    service.issue(engine, LEDGER_OFFICER, keystore, certificate())
    service.change_status(engine, LEDGER_OFFICER, keystore, "suspend", "NLAEOF0001", "audit findings at Tulip")
    return engine, pseudonymiser


def shown(value: object) -> str:
    return json.dumps(value, default=str)


def reads_audited(engine, who: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        e["object_id"]
        for e in read_audit(engine, AUDITOR, object_type="ledger_certificate", who=who)
        if e["action"] == "read"
    ]


def test_only_partners_officers_and_supervisors_receive_the_logs_content() -> None:
    from opencustoms.security.roles import ROLE_PERMISSIONS

    holders = {role for role, held in ROLE_PERMISSIONS.items() if Permission.LEDGER_REPLICATE in held}
    assert holders == {Role.PARTNER, Role.OFFICER, Role.SUPERVISOR}
    assert not ANALYST.can(Permission.LEDGER_REPLICATE) and not service.sees_holders(ANALYST)


def test_the_analyst_sees_the_holder_as_its_pseudonym_and_is_not_audited(registry) -> None:  # type: ignore[no-untyped-def]
    engine, pseudonymiser = registry
    current = service.status(engine, ANALYST, "NLAEOF0001", pseudonymiser=pseudonymiser)
    pseudonym = pseudonymiser(HOLDER_ID)  # the same p_... as on the declarations the analyst reads
    assert current["holder_id"] == current["holder_name"] == pseudonym and current["pseudonymised"] is True
    assert current["status"] == "suspended"
    assert not [s for s in PERSONAL if s in shown(current)]
    # without a pseudonymiser the holder is withheld, never shown
    assert service.status(engine, ANALYST, "NLAEOF0001")["holder_id"] == signals.WITHHELD
    assert reads_audited(engine, ANALYST.username) == []

    officer = service.status(engine, LEDGER_OFFICER, "NLAEOF0001", pseudonymiser=pseudonymiser, purpose="check")
    assert (officer["holder_id"], officer["holder_name"], officer["pseudonymised"]) == (HOLDER_ID, HOLDER_NAME, False)
    assert reads_audited(engine, LEDGER_OFFICER.username) == ["NLAEOF0001"]


def test_the_analyst_gets_the_history_as_leaves_that_still_prove_inclusion(registry) -> None:  # type: ignore[no-untyped-def]
    engine, _ = registry
    history = service.history(engine, ANALYST, "NLAEOF0001")
    assert history["contents"] is False
    assert [e["kind"] for e in history["entries"]] == ["aeo.issued", "aeo.suspended"]
    assert not [s for s in PERSONAL if s in shown(history)]
    for item in history["entries"]:
        assert item["entry"]["body"] is None and item["entry"]["salt"] is None
        leaf = SignedEntry.model_validate(item["entry"]).leaf()
        proof = [bytes.fromhex(p) for p in item["inclusion_proof"]]
        root = bytes.fromhex(history["root"])
        merkle.verify_inclusion(item["index"], history["tree_size"], merkle.leaf_hash(leaf), proof, root)
    assert reads_audited(engine, ANALYST.username) == []

    for reader in (LEDGER_OFFICER, PARTNER):
        full = service.history(engine, reader, "NLAEOF0001")
        assert full["contents"] is True
        bodies = [SignedEntry.model_validate(item["entry"]).open() for item in full["entries"]]
        assert bodies[0].certificate is not None and bodies[0].certificate.holder.name == HOLDER_NAME
        assert bodies[1].reason == "audit findings at Tulip"
        assert reads_audited(engine, reader.username) == ["NLAEOF0001"]


def test_entries_serve_content_only_with_ledger_replicate(registry) -> None:  # type: ignore[no-untyped-def]
    engine, _ = registry
    size = service.own_log(engine).size
    leaves = service.entries(engine, ANALYST, 0, size)
    assert len(leaves) == size and all(e["body"] is None and e["salt"] is None for e in leaves)
    assert all(e["commitment"] and e["signature"] and e["key_id"] for e in leaves)
    assert not [s for s in PERSONAL if s in shown(leaves)]
    for reader in (PARTNER, LEDGER_OFFICER):
        served = service.entries(engine, reader, 0, size)
        assert all(e["body"] is not None for e in served)
        assert HOLDER_NAME in shown(served) and STREET in shown(served)


def test_holders_are_looked_up_by_pseudonym_unless_the_reader_sees_personal_data(registry) -> None:  # type: ignore[no-untyped-def]
    engine, pseudonymiser = registry
    pseudonym = pseudonymiser(HOLDER_ID)
    with pytest.raises(PermissionDeniedError) as refused:
        service.certificates_of(engine, ANALYST, HOLDER_ID, pseudonymiser)
    assert refused.value.field == "holder_id" and "pseudonym" in refused.value.message
    found = service.certificates_of(engine, ANALYST, pseudonym, pseudonymiser)
    assert [(c["certificate_number"], c["holder_id"], c["holder_name"]) for c in found] == [
        ("NLAEOF0001", pseudonym, pseudonym)
    ]
    elsewhere = Pseudonymiser(b"another installation key")(HOLDER_ID)  # a pseudonym of another installation
    assert service.certificates_of(engine, ANALYST, elsewhere, pseudonymiser) == []
    assert reads_audited(engine, ANALYST.username) == []

    for holder in (HOLDER_ID, pseudonym):  # the officer may give either
        [row] = service.certificates_of(engine, LEDGER_OFFICER, holder, pseudonymiser)
        assert (row["holder_id"], row["holder_name"]) == (HOLDER_ID, HOLDER_NAME)
    assert reads_audited(engine, LEDGER_OFFICER.username) == ["NLAEOF0001", "NLAEOF0001"]


def test_the_registry_search_finds_no_name_for_the_analyst(registry) -> None:  # type: ignore[no-untyped-def]
    engine, pseudonymiser = registry
    pseudonym = pseudonymiser(HOLDER_ID)
    assert service.search_certificates(engine, ANALYST, "tulip", pseudonymiser) == []
    assert service.search_certificates(engine, ANALYST, HOLDER_ID, pseudonymiser) == []
    for text in ("nlaeof", pseudonym, ""):
        [row] = service.search_certificates(engine, ANALYST, text, pseudonymiser)
        assert (row["certificate_number"], row["holder_id"], row["pseudonymised"]) == ("NLAEOF0001", pseudonym, True)
    assert reads_audited(engine, ANALYST.username) == []
    for text in ("tulip", HOLDER_ID, pseudonym):
        [row] = service.search_certificates(engine, LEDGER_OFFICER, text, pseudonymiser, purpose="dashboard")
        assert row["holder_name"] == HOLDER_NAME
    assert len(reads_audited(engine, LEDGER_OFFICER.username)) == 3


# --- over HTTP ----------------------------------------------------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A node NL with one certificate; tokens of an analyst, an officer and partner BR's user; its pseudonymiser."""
    nl, br = make_node(tmp_path, "NL"), make_node(tmp_path, "BR")
    tokens = {"partner": connect(nl, br, None)}
    for username, role in (("rita", Role.RISK_ANALYST), ("olaf", Role.OFFICER)):
        create_user(nl.engine, nl.operator, username, "NL", [role.value])
        tokens[username] = issue_token(nl.engine, nl.operator, username)
    service.issue(nl.engine, nl.officer, nl.keys, certificate())
    service.change_status(nl.engine, nl.officer, nl.keys, "suspend", "NLAEOF0001", "audit findings at Tulip")
    pseudonymiser = Platform(Settings(database_url=nl.url, data_dir=nl.data_dir, administration="NL")).pseudonymiser
    clients = {name: client_for(nl, token) for name, token in tokens.items()}
    yield nl, clients, pseudonymiser
    for client in clients.values():
        client.close()
    nl.engine.dispose()
    br.engine.dispose()
    open_database.cache_clear()


def test_the_api_serves_the_analyst_pseudonyms_and_leaves(node) -> None:  # type: ignore[no-untyped-def]
    nl, clients, pseudonymiser = node
    analyst, pseudonym = clients["rita"], pseudonymiser(HOLDER_ID)
    size = service.own_log(nl.engine).size
    responses = {
        "status": analyst.get("/ledger/certificates/NLAEOF0001"),
        "history": analyst.get("/ledger/certificates/NLAEOF0001/history"),
        "entries": analyst.get("/ledger/entries", params={"start": 0, "end": size}),
        "holder": analyst.get(f"/ledger/holders/{pseudonym}/certificates"),
    }
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.text)
        assert not [s for s in PERSONAL if s in response.text], name
    assert responses["status"].json()["holder_id"] == pseudonym
    assert [c["certificate_number"] for c in responses["holder"].json()] == ["NLAEOF0001"]
    assert all(e["body"] is None for e in responses["entries"].json()["entries"])
    assert all(e["entry"]["body"] is None for e in responses["history"].json()["entries"])

    refused = analyst.get(f"/ledger/holders/{HOLDER_ID}/certificates")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"][0]["field"] == "holder_id"


@pytest.mark.parametrize("reader", ["partner", "olaf"])
def test_the_api_serves_partners_and_officers_the_content(node, reader: str) -> None:  # type: ignore[no-untyped-def]
    nl, clients, _ = node
    client = clients[reader]
    size = service.own_log(nl.engine).size
    served = client.get("/ledger/entries", params={"start": 0, "end": size})
    assert served.status_code == 200 and HOLDER_NAME in served.text and STREET in served.text
    history = client.get("/ledger/certificates/NLAEOF0001/history")
    assert history.status_code == 200 and history.json()["contents"] is True and HOLDER_NAME in history.text
    holder = client.get(f"/ledger/holders/{HOLDER_ID}/certificates")
    assert holder.status_code == 200 and [c["holder_name"] for c in holder.json()] == [HOLDER_NAME]
