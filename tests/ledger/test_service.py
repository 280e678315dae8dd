from __future__ import annotations

import base64
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from ledger_testnodes import LEDGER_OFFICER
from sqlalchemy import func, select

from opencustoms import signals
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import merkle, service
from opencustoms.ledger.entries import AEOCertificate, EntryBody, EntryKind, SignedEntry, sign_entry
from opencustoms.ledger.errors import DuplicateEntryError, EntryError, SignatureError
from opencustoms.ledger.keys import key_id
from opencustoms.ledger.tables import ledger_entries
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.roles import Role
from opencustoms.security.service import Identity, read_audit

OFFICER = LEDGER_OFFICER


def certificate(number: str = "NLAEOF0001", **changes: object) -> AEOCertificate:
    data: dict[str, object] = {
        "certificate_number": number,
        "holder": {
            "name": "Tulip Trading BV",
            "id": "NL200000002",
            "tax_id": "NL8123",
            "address": {
                "line": "Maasboulevard 1",
                "city_name": "Rotterdam",
                "postcode_id": "3011",
                "country_code": "NL",
            },
            "country_code": "NL",
        },
        "type": "both",
        "issue_date": "2024-01-10",
        "valid_until": "2029-01-09",
    }
    data.update(changes)
    return AEOCertificate.model_validate(data)


def test_keys_live_in_0600_files_and_never_in_the_database(ledger, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    files = [p for p in (tmp_path / "keys").rglob("*.key")]
    assert {p.parent.name for p in files} == {"administration", "officers"}
    for path in files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        seed = base64.b64decode(path.read_bytes().strip())
        if engine.url.get_backend_name() == "sqlite":
            assert seed not in Path(str(engine.url.database)).read_bytes()
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700


def test_issue_suspend_revoke_with_proofs_and_signals(ledger, operator) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    receipt = service.issue(engine, OFFICER, keystore, certificate())
    assert receipt["status"] == "certified" and receipt["index"] == 1  # entry 0 certified the officer's key
    service.change_status(
        engine, OFFICER, keystore, "aeo.suspended", "NLAEOF0001", "audit findings", effective_date=dt.date(2025, 3, 1)
    )
    service.change_status(
        engine, OFFICER, keystore, "aeo.revoked", "nlaeof0001", "fraud confirmed", effective_date=dt.date(2025, 6, 1)
    )
    assert service.status(engine, OFFICER, "NLAEOF0001")["status"] == "revoked"
    assert service.status(engine, OFFICER, "NLAEOF0001", as_of=dt.date(2025, 4, 1))["status"] == "suspended"
    assert service.status(engine, OFFICER, "NLAEOF0001", as_of=dt.date(2024, 5, 1))["status"] == "certified"

    history = service.history(engine, OFFICER, "NLAEOF0001")
    assert [e["kind"] for e in history["entries"]] == ["aeo.issued", "aeo.suspended", "aeo.revoked"]
    origin, public = notes.parse_verifier_key(history["verifier_key"])
    cp = notes.open_checkpoint(history["checkpoint"], origin, public)
    for item in history["entries"]:
        entry = SignedEntry.model_validate(item["entry"])
        body = entry.open()
        assert body.officer == OFFICER.username
        merkle.verify_inclusion(
            item["index"],
            cp.size,
            merkle.leaf_hash(entry.leaf()),
            [bytes.fromhex(p) for p in item["inclusion_proof"]],
            cp.root,
        )

    found = signals.for_subjects(engine, [(signals.SubjectType.PARTY, "NL200000002")])
    assert [s.kind for s in found] == ["ledger.aeo_certified", "ledger.aeo_suspended", "ledger.aeo_revoked"]
    assert found[-1].severity == signals.Severity.HIGH
    assert signals.for_subjects(engine, [(signals.SubjectType.CERTIFICATE, "NLAEOF0001")])
    assert [c["status"] for c in service.certificates_of(engine, OFFICER, "NL200000002")] == ["revoked"]


def test_status_rules_are_enforced_with_clear_errors(ledger) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    with pytest.raises(EntryError, match="does not exist"):
        service.change_status(engine, OFFICER, keystore, "aeo.suspended", "NLAEOF0404", "x")
    service.issue(engine, OFFICER, keystore, certificate())
    with pytest.raises(EntryError, match="already issued"):
        service.issue(engine, OFFICER, keystore, certificate())
    with pytest.raises(EntryError, match="it is certified"):
        service.change_status(engine, OFFICER, keystore, "aeo.reinstated", "NLAEOF0001", "x")
    service.change_status(engine, OFFICER, keystore, "aeo.revoked", "NLAEOF0001", "fraud")
    with pytest.raises(EntryError, match="revoked certificate is final"):
        service.change_status(engine, OFFICER, keystore, "aeo.suspended", "NLAEOF0001", "again")
    with pytest.raises(EntryError, match="reason"):
        service.change_status(engine, OFFICER, keystore, "aeo.suspended", "NLAEOF0001", "")
    audit = read_audit(engine, Identity.of("a", "NL", [Role.SUPERVISOR]), object_type="ledger_log")
    assert sum(1 for a in audit if a["action"] == "reject") >= 3


def test_bad_input_is_rejected_and_nothing_written(ledger, operator) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    log = service.own_log(engine)
    officer_key = keystore.officer_key(OFFICER.username)
    kid = key_id(notes.public_bytes(officer_key))
    now = dt.datetime.now(dt.UTC)

    def body(number: str) -> EntryBody:
        return EntryBody(
            origin=log.origin,
            kind=EntryKind.ISSUED,
            officer=OFFICER.username,
            recorded_at=now,
            effective_date=now.date(),
            certificate=certificate(number),
        )

    good = sign_entry(body("NLAEOF0100"), officer_key, kid)
    forged = good.model_copy(update={"signature": base64.b64encode(bytes(64)).decode()})
    altered = good.model_copy(update={"body": good.body.replace("Tulip", "Tulpe")})  # type: ignore[union-attr]
    stranger = sign_entry(body("NLAEOF0101"), notes.Ed25519PrivateKey.generate(), "0" * 32)
    cases = [
        (forged, SignatureError, "does not verify"),
        # non-ASCII text where base64 is expected raised a bare ValueError (a 500 from the API; issue #12 fuzzing)
        (good.model_copy(update={"signature": "é" * 88}), SignatureError, "not base64"),
        (good.model_copy(update={"salt": "ü" * 24}), EntryError, "not base64"),
        (altered, EntryError, "open the commitment"),
        (stranger, SignatureError, "not certified"),
    ]
    for bad, error, message in cases:
        with pytest.raises(error, match=message):
            service.append_signed(engine, OFFICER, keystore, [sign_entry(body("NLAEOF0102"), officer_key, kid), bad])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_entries)).scalar() == 1  # the key entry only
    service.append_signed(engine, OFFICER, keystore, [good])
    with pytest.raises(DuplicateEntryError):
        service.append_signed(engine, OFFICER, keystore, [good])
    with pytest.raises(PermissionDeniedError):
        service.issue(engine, Identity.of("p", "BR", [Role.PARTNER]), keystore, certificate("NLAEOF0103"))


def test_key_rotation_and_revocation(ledger, operator) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    old = keystore.officer_key(OFFICER.username)
    old_id = key_id(notes.public_bytes(old))
    rotated = service.certify_officer(engine, operator, keystore, OFFICER.username, rotate=True)
    assert rotated["revoked"] == [old_id]
    log = service.own_log(engine)
    now = dt.datetime.now(dt.UTC)
    late = sign_entry(
        EntryBody(
            origin=log.origin,
            kind=EntryKind.ISSUED,
            officer=OFFICER.username,
            recorded_at=now,
            effective_date=now.date(),
            certificate=certificate("NLAEOF0200"),
        ),
        old,
        old_id,
    )
    with pytest.raises(SignatureError, match="revoked"):
        service.append_signed(engine, OFFICER, keystore, [late])
    service.issue(engine, OFFICER, keystore, certificate("NLAEOF0200"))  # the new key works
    service.revoke_officer(engine, operator, keystore, OFFICER.username, "left the service")
    with pytest.raises(SignatureError, match="revoked"):
        service.issue(engine, OFFICER, keystore, certificate("NLAEOF0201"))


def test_restricted_entries_are_redacted_for_other_partners(ledger) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    service.issue(engine, OFFICER, keystore, certificate("NLAEOF0300", shared_with=["BR"]))
    service.change_status(engine, OFFICER, keystore, "aeo.suspended", "NLAEOF0300", "audit")
    brazil = Identity.of("partner-br", "BR", [Role.PARTNER])
    chile = Identity.of("partner-cl", "CL", [Role.PARTNER])
    size = service.own_log(engine).size
    seen_br = service.entries(engine, brazil, 0, size)
    seen_cl = service.entries(engine, chile, 0, size)
    assert all(e["body"] for e in seen_br)
    assert seen_cl[1]["body"] is None and seen_cl[2]["body"] is None and seen_cl[1]["restricted"]
    cp = service.latest_checkpoint(engine)
    leaves = [
        merkle.leaf_hash(SignedEntry.model_validate({k: v for k, v in e.items() if k != "index"}).leaf())
        for e in seen_cl
    ]
    assert merkle.root_of(leaves) == cp.root  # the redacted leaves still verify
    assert service.status(engine, brazil, "NLAEOF0300")["status"] == "suspended"
    with pytest.raises(service.LedgerNotFoundError):
        service.status(engine, chile, "NLAEOF0300")
