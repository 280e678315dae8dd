"""Group commit and the verification pool: concurrent appenders, a bad batch in a group, a failed commit."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from pathlib import Path

import httpx
import pytest
from ledger_testnodes import LEDGER_OFFICER
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import ingest, merkle, service, verify, writer
from opencustoms.ledger.entries import AEOCertificate, EntryBody, EntryKind, SignedEntry, sign_entry
from opencustoms.ledger.errors import EntryError, PartnerError, SignatureError, StoreFailedError
from opencustoms.ledger.keys import KeyStore, key_id
from opencustoms.ledger.tables import ledger_entries
from opencustoms.ledger.verify import Failure, Opened
from opencustoms.security.roles import Role
from opencustoms.security.service import Identity, read_audit

OFFICER = LEDGER_OFFICER


def certificate(number: str) -> AEOCertificate:
    return AEOCertificate.model_validate(
        {
            "certificate_number": number,
            "holder": {
                "name": f"Holder {number}",
                "id": f"NL{number[-6:]}",
                "address": {"line": "Kade 1", "city_name": "Rotterdam", "country_code": "NL"},
                "country_code": "NL",
            },
            "type": "security",
            "issue_date": "2024-01-10",
        }
    )


def issued(engine, keystore: KeyStore, numbers: list[str]) -> list[SignedEntry]:  # type: ignore[no-untyped-def]
    key = keystore.officer_key(OFFICER.username)
    origin = service.own_log(engine).origin
    now = dt.datetime.now(dt.UTC)
    return [
        sign_entry(
            EntryBody(
                origin=origin,
                kind=EntryKind.ISSUED,
                officer=OFFICER.username,
                recorded_at=now,
                effective_date=now.date(),
                certificate=certificate(n),
            ),
            key,
            key_id(notes.public_bytes(key)),
        )
        for n in numbers
    ]


def queued_group(engine, keystore: KeyStore, batches: list[list[SignedEntry]]) -> list[writer.Request]:  # type: ignore[no-untyped-def]
    """Queue the batches on a writer that has not started, then run it: they are committed as one group."""
    w = writer.Writer(engine, keystore)
    requests = [writer.Request(OFFICER, b, service.check_entries(engine, b)) for b in batches]
    group = []
    for r in requests:
        w.queue.put(r)
    while not w.queue.empty():
        group.append(w.queue.get())
    w.run_group(group)
    assert all(r.done.is_set() for r in requests)
    assert w.groups == (1 if any(r.receipts for r in requests) else 0)
    return requests


def test_concurrent_appenders_all_get_their_durable_entries(ledger) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    threads, each = 8, 6
    entries = issued(engine, keystore, [f"NLAEOC{t:02d}{i:04d}" for t in range(threads) for i in range(each)])
    receipts: list[dict] = []  # type: ignore[type-arg]
    failures: list[BaseException] = []

    def appender(mine: list[SignedEntry]) -> None:
        for entry in mine:
            try:
                receipts.extend(service.append_signed(engine, OFFICER, keystore, [entry]))
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)

    workers = [threading.Thread(target=appender, args=(entries[t::threads],)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not failures
    assert sorted(r["index"] for r in receipts) == list(range(1, threads * each + 1))
    # every receipt's checkpoint covers its entry, and the inclusion proof verifies against it
    log = service.own_log(engine)
    for r in receipts[:: max(1, len(receipts) // 8)]:
        cp = notes.open_checkpoint(r["checkpoint"], log.origin, log.public_key)
        assert cp.size > r["index"]
        proof = service.inclusion(engine, OFFICER, r["index"], cp.size)["proof"]
        merkle.verify_inclusion(
            r["index"], cp.size, bytes.fromhex(r["leaf_hash"]), [bytes.fromhex(p) for p in proof], cp.root
        )
    assert service.verify_log(engine, OFFICER)["size"] == threads * each + 1


def test_appends_queued_together_are_committed_together(ledger) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    batches = [issued(engine, keystore, [f"NLAEOG{i:04d}"]) for i in range(5)]
    requests = queued_group(engine, keystore, batches)
    assert [r.receipts[0]["index"] for r in requests] == [1, 2, 3, 4, 5]  # type: ignore[index]
    assert len({r.receipts[0]["checkpoint"] for r in requests}) == 1  # type: ignore[index]  # one commit, one head
    assert service.latest_checkpoint(engine).size == 6


def test_a_bad_batch_in_a_group_is_refused_alone(ledger) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    good1, bad, good2 = (issued(engine, keystore, [n]) for n in ("NLAEOB0001", "NLAEOB0002", "NLAEOB0003"))
    bad = [bad[0].model_copy(update={"signature": good1[0].signature})]  # a signature over another entry
    dup = issued(engine, keystore, ["NLAEOB0001"])  # a second issue of a number issued earlier in the group
    requests = queued_group(engine, keystore, [good1, bad, dup, good2])
    assert isinstance(requests[1].error, SignatureError) and requests[1].receipts is None
    assert isinstance(requests[2].error, EntryError) and "already issued" in requests[2].error.message
    assert [r.receipts[0]["index"] for r in (requests[0], requests[3])] == [1, 2]  # type: ignore[index]
    assert service.status(engine, OFFICER, "NLAEOB0003")["status"] == "certified"
    with pytest.raises(service.LedgerNotFoundError):
        service.status(engine, OFFICER, "NLAEOB0002")
    audit = read_audit(engine, Identity.of("a", "NL", [Role.SUPERVISOR]), object_type="ledger_log")
    assert sum(a["action"] == "reject" for a in audit) == 2


def test_a_failed_commit_fails_the_whole_group_and_writes_nothing(ledger, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(ingest, "write", broken)
    batches = [issued(engine, keystore, [f"NLAEOF{i:04d}"]) for i in range(3)]
    requests = queued_group(engine, keystore, batches)
    for r in requests:
        assert isinstance(r.error, StoreFailedError) and r.error.status == 503 and "nothing was written" in str(r.error)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_entries)).scalar() == 1  # the key entry only


def test_big_batches_are_checked_in_the_worker_pool(ledger, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The pool path: a key certified in the batch signs later entries of the batch; a forged entry is caught."""
    engine, keystore = ledger
    monkeypatch.setenv("OPENCUSTOMS_LEDGER_VERIFY_WORKERS", "2")
    monkeypatch.setattr(verify, "POOL_THRESHOLD", 2)
    monkeypatch.setattr(verify, "CHUNK", 2)
    log = service.own_log(engine)
    admin = keystore.administration_key()
    newcomer = KeyStore.generate()
    public = notes.public_bytes(newcomer)
    now = dt.datetime.now(dt.UTC)
    certify = sign_entry(
        EntryBody(
            origin=log.origin,
            kind=EntryKind.KEY_CERTIFIED,
            officer="admin",
            recorded_at=now,
            effective_date=now.date(),
            key={"key_id": key_id(public), "officer": "bo.officer", "public_key": base64.b64encode(public).decode()},
        ),
        admin,
        key_id(notes.public_bytes(admin)),
    )
    by_newcomer = [
        sign_entry(
            EntryBody(
                origin=log.origin,
                kind=EntryKind.ISSUED,
                officer="bo.officer",
                recorded_at=now,
                effective_date=now.date(),
                certificate=certificate(f"NLAEOP{i:04d}"),
            ),
            newcomer,
            key_id(public),
        )
        for i in range(3)
    ]
    forged = by_newcomer[2].model_copy(update={"signature": by_newcomer[0].signature})
    try:
        results = service.check_entries(
            engine, [certify, *by_newcomer[:2], forged, *issued(engine, keystore, ["NLAEOP0009"])]
        )
        assert verify._pool is not None  # the pool did the work
        assert [type(r) for r in results] == [Opened, Opened, Opened, Failure, Opened]
        assert all(r.verified for r in results if isinstance(r, Opened))
        assert results[3].error == "SignatureError"  # type: ignore[union-attr]
        receipts = service.append_signed(engine, OFFICER, keystore, [certify, *by_newcomer[:2]])
        assert [r["index"] for r in receipts] == [1, 2, 3]
    finally:
        verify.shutdown_pool()


def test_unusable_partner_replies_are_refused_without_a_crash(tmp_path: Path) -> None:
    from ledger_testnodes import make_node

    node = make_node(tmp_path, "BR")
    other = KeyStore.generate()
    service.add_partner(
        node.engine,
        node.operator,
        node.keys,
        notes.verifier_key("opencustoms/AR/aeo", notes.public_bytes(other)),
        None,
        "AR",
    )

    def partner(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>not json</html>")

    clients = {"opencustoms/AR/aeo": httpx.Client(base_url="http://ar.test", transport=httpx.MockTransport(partner))}
    with pytest.raises(PartnerError, match="unusable"):
        service.pull(node.engine, node.operator, node.keys, "opencustoms/AR/aeo", clients=clients)
    with pytest.raises(service.LedgerError, match="2 to 8 letters"):
        service.add_partner(
            node.engine, node.operator, node.keys, service.own_log(node.engine).verifier_key, None, "A1"
        )


def test_fast_paths_agree_with_the_models(ledger) -> None:  # type: ignore[no-untyped-def]
    """The append path's shortcuts produce exactly what the models would: leaf bytes, signal ids, signal rows."""
    import uuid

    from opencustoms import signals as core_signals

    engine, keystore = ledger
    entries = issued(engine, keystore, ["NLAEO00801", "NLAEO00802"])
    entries.append(entries[0].model_copy(update={"restricted": True}))
    for entry in entries:
        assert ingest.leaf_bytes(entry) == entry.leaf()
    for name in ("", "x", "opencustoms/NL/aeo#12#party", "é#1"):
        assert ingest.signal_id(name) == str(uuid.uuid5(ingest.SIGNAL_NAMESPACE, name))
    receipts = service.append_signed(engine, OFFICER, keystore, entries[:2])
    origin = service.own_log(engine).origin
    expected = ingest.aeo_signals(origin, receipts, dt.datetime.now(dt.UTC))  # validated Signal models
    stored = core_signals.for_subjects(
        engine,
        [
            (core_signals.SubjectType.CERTIFICATE, "NLAEO00801"),
            (core_signals.SubjectType.PARTY, receipts[0]["holder_id"]),
        ],
    )
    by_id = {s.id: s for s in stored}
    for signal in expected[:2]:
        got = by_id[signal.id]
        assert got.model_dump(exclude={"observed_at"}) == signal.model_dump(exclude={"observed_at"})
    # emitting again stores nothing new (idempotent by id, as signals.emit)
    with engine.begin() as conn:
        assert ingest.emit_signals(conn, origin, receipts, dt.datetime.now(dt.UTC)) == 0


def test_big_batches_are_verified_on_threads_and_a_forgery_among_them_is_named(ledger) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    entries = issued(engine, keystore, [f"NLAEO{n:05d}" for n in range(900, 900 + 3 * verify.THREAD_THRESHOLD)])
    forged = entries[100].model_copy(update={"signature": entries[101].signature})
    with pytest.raises(SignatureError, match="entry 100: the signature .* does not verify"):
        service.append_signed(engine, OFFICER, keystore, [*entries[:100], forged, *entries[101:]])
    receipts = service.append_signed(engine, OFFICER, keystore, entries)
    assert [r["index"] for r in receipts] == list(range(receipts[0]["index"], receipts[0]["index"] + len(entries)))


def test_body_and_leaf_fast_paths_give_the_former_results(ledger) -> None:  # type: ignore[no-untyped-def]
    """The body check parses with pydantic's JSON parser and compares orjson's canonical bytes; the entries served
    to partners are read with orjson: each gives what the former code gave, refusals and their messages included."""
    import json

    from pydantic import ValidationError

    from opencustoms.ledger import entries as entries_module
    from opencustoms.ledger.service import _served_leaf

    engine, keystore = ledger
    # canonical bytes: orjson and json.dumps(sort_keys, ensure_ascii=False) agree, escapes and non-ASCII included
    odd = "".join(chr(c) for c in (*range(0, 0x80), 0xA0, 0xE9, 0x2028, 0x2029, 0xFEFF, 0x1F600))
    value = {"b": [odd, 1, True, False], "a": {"é": odd, "z": "x"}, "\u00e9\u0131": 3}
    assert entries_module.canonical_model_json(value) == entries_module.canonical_json(value)
    with pytest.raises(ValueError):
        entries_module.canonical_model_json({"a": "\ud800"})  # a lone surrogate is no UTF-8
    (entry,) = issued(engine, keystore, ["NLAEOF0001"])
    body = EntryBody.model_validate(json.loads(entry.body or ""))
    assert body.canonical() == entries_module.canonical_json(body.model_dump(mode="json", exclude_none=True))

    def former(text: str) -> str:  # the check as it was: json.loads, then model_validate
        try:
            EntryBody.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            return f"the body is not JSON: {exc.msg}"
        except ValidationError as exc:
            return verify.validation_error(exc).message
        return "valid"

    def now(text: str) -> str:
        try:
            entries_module._parse_body(text)
        except EntryError as exc:
            return exc.message
        except ValidationError as exc:
            return verify.validation_error(exc).message
        return "valid"

    raw = json.loads(entry.body or "")
    bad = [
        "{",
        "[1]",
        "null",
        '{"v": 1',
        json.dumps({**raw, "kind": "aeo.lost"}),
        json.dumps({**raw, "v": 2}),
        json.dumps({**raw, "extra": 1}),
        json.dumps({k: v for k, v in raw.items() if k != "origin"}),
        json.dumps({**raw, "recorded_at": "2024-01-10T10:00:00"}),
        json.dumps(
            {
                **raw,
                "certificate": {**raw["certificate"], "holder": {**raw["certificate"]["holder"], "country_code": "QQ"}},
            }
        ),
        json.dumps({**raw, "effective_date": "NaN"}),
        '{"v": NaN}',
    ]
    for text in bad:
        assert now(text) == former(text), text
    for text in (entry.body or "", json.dumps(raw), json.dumps(raw, sort_keys=True)):
        assert now(text) == former(text) == "valid"
    # a body that parses but is not canonical is refused as before
    spaced = json.dumps(raw, sort_keys=True)
    salt = base64.b64decode(entry.salt or "")
    altered = entry.model_copy(
        update={"body": spaced, "commitment": entries_module.commitment_of(salt, spaced.encode()).hex()}
    )
    with pytest.raises(EntryError, match="canonical form"):
        altered.open()
    # entries served to partners: the leaf read with orjson is the model's dump; anything else goes the old way
    for e in (entry, entry.model_copy(update={"restricted": True})):
        assert _served_leaf(e.leaf()) == SignedEntry.from_leaf(e.leaf()).model_dump()

    def outcome(read, leaf: bytes):  # type: ignore[no-untyped-def]
        try:
            return read(leaf)
        except EntryError as exc:
            return exc.message

    odd = (
        b'{"v":2}',
        b"[]",
        b"nonsense",
        entry.leaf().replace(b'"v":1', b'"v":1.0'),
        entry.leaf().replace(b'"v":1', b'"v":true'),
        entry.leaf().replace(b'"key_id":"', b'"key_id":"X'),  # not the id pattern: the model refuses it
        entry.leaf().replace(b'"restricted":false', b'"restricted":0'),
    )
    for leaf in odd:
        assert outcome(_served_leaf, leaf) == outcome(lambda b: SignedEntry.from_leaf(b).model_dump(), leaf), leaf


def test_a_group_writes_one_audit_entry_per_accepted_batch(ledger) -> None:  # type: ignore[no-untyped-def]
    engine, keystore = ledger
    batches = [issued(engine, keystore, [f"NLAEOA{i:04d}", f"NLAEOA{i + 50:04d}"]) for i in range(3)]
    queued_group(engine, keystore, batches)
    audit = read_audit(engine, Identity.of("a", "NL", [Role.SUPERVISOR]), object_type="ledger_log")
    appends = sorted((a for a in audit if a["action"] == "append"), key=lambda a: a["detail"]["first"])[-3:]
    assert [(a["actor"], a["object_id"], a["detail"]["first"], a["detail"]["count"]) for a in appends] == [
        (OFFICER.username, service.own_log(engine).origin, 1 + 2 * i, 2) for i in range(3)
    ]
    assert appends[0]["detail"]["certificates"] == ["NLAEOA0000", "NLAEOA0050"]


def test_keys_are_read_again_when_their_file_changes(tmp_path: Path) -> None:
    """The key store reuses a parsed key only while its file is unchanged: a replaced key is read again, a missing
    or over-readable file is refused as before."""
    from opencustoms.ledger.errors import KeyStoreError, OfficerKeyMissingError

    store = KeyStore(tmp_path / "keys")
    first = store.create("officers", "ana")
    assert notes.public_bytes(store.officer_key("ana")) == notes.public_bytes(first)
    assert store.officer_key("ana") is store.officer_key("ana")  # parsed once
    second = store.create("officers", "ana", replace=True)
    assert notes.public_bytes(store.officer_key("ana")) == notes.public_bytes(second)
    path = tmp_path / "keys" / "officers" / "ana.key"
    path.chmod(0o644)
    with pytest.raises(KeyStoreError, match="readable by others"):
        store.officer_key("ana")
    path.unlink()
    with pytest.raises(OfficerKeyMissingError):
        store.officer_key("ana")
    with pytest.raises(KeyStoreError, match="administration key is missing"):
        store.administration_key()


def test_big_batches_use_worker_processes_from_two_cpus_unless_configured(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OPENCUSTOMS_LEDGER_VERIFY_WORKERS", raising=False)
    for cpus, expected in ((1, 0), (2, 2), (4, 4)):
        monkeypatch.setattr(verify.os, "sched_getaffinity", lambda _pid, cpus=cpus: set(range(cpus)))
        assert verify.workers() == expected
    monkeypatch.setenv("OPENCUSTOMS_LEDGER_VERIFY_WORKERS", "0")  # set: it decides
    assert verify.workers() == 0
