"""A pull fetched, checked and written page by page (a pipeline): the same result as one big page, keys certified
by an earlier page serve the later ones, and a bad entry in a later page leaves nothing behind."""

from __future__ import annotations

import pytest
from ledger_testnodes import Node, certificate, client_for, connect, make_node
from sqlalchemy import func, select

from opencustoms import signals
from opencustoms.ledger import partners, service
from opencustoms.ledger.errors import EntryError
from opencustoms.ledger.logs import get_log
from opencustoms.ledger.tables import ledger_checkpoints, ledger_entries
from opencustoms.store.database import open_database


@pytest.fixture
def pair(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(partners, "PAGE", 3)  # many pages from a few entries
    ar, br = make_node(tmp_path, "AR"), make_node(tmp_path, "BR")
    connect(ar, br, None)
    yield ar, br, {ar.origin: client_for(ar, br.tokens["AR"])}
    open_database.cache_clear()


def _fill(ar: Node) -> None:
    for n in range(1, 6):
        service.issue(ar.engine, ar.officer, ar.keys, certificate(f"ARAEO0000{n}"))
    service.certify_officer(ar.engine, ar.operator, ar.keys, "maria", rotate=False)
    service.certify_officer(ar.engine, ar.operator, ar.keys, ar.officer.username, rotate=True)
    service.change_status(ar.engine, ar.officer, ar.keys, "aeo.suspended", "ARAEO00002", "audit")  # new key
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00009", holder="AR9", shared_with=["UY"]))
    service.change_status(ar.engine, ar.officer, ar.keys, "aeo.revoked", "ARAEO00003", "fraud")


def test_a_pull_in_pages_stores_the_whole_log(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br, clients = pair
    _fill(ar)
    size = service.own_log(ar.engine).size
    assert size >= 4 * partners.PAGE
    report = service.pull(br.engine, br.operator, br.keys, ar.origin, clients=clients)
    assert report["new_entries"] == size and report["alarms"] == []
    assert service.verify_log(br.engine, br.operator, ar.origin)["size"] == size
    assert service.status(br.engine, br.operator, "ARAEO00002")["status"] == "suspended"
    assert service.status(br.engine, br.operator, "ARAEO00003")["status"] == "revoked"
    found = signals.for_subjects(br.engine, [(signals.SubjectType.CERTIFICATE, "ARAEO00003")])
    assert sorted(s.kind for s in found) == ["ledger.aeo_certified", "ledger.aeo_revoked"]
    checkpoint = service.latest_checkpoint(br.engine, ar.origin)
    assert all(s.evidence["tree_size"] == checkpoint.size for s in found)  # they cite the verified checkpoint
    # a second pull after more appends continues from the checkpoint held
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00010"))
    assert service.pull(br.engine, br.operator, br.keys, ar.origin, clients=clients)["new_entries"] == 1


def test_a_bad_entry_in_a_later_page_leaves_nothing(pair, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ar, br, clients = pair
    # a partner serving what it stores unchecked (an older version, or a dishonest one; ours refuses: test_integrity)
    monkeypatch.setattr(service.integrity, "body_opens", lambda *_: True)
    _fill(ar)
    log = service.own_log(ar.engine)
    bad = log.size - 1  # the revocation "fraud", in the last page
    with ar.engine.begin() as conn:  # the partner serves a body that does not open the entry's commitment
        body = conn.execute(
            select(ledger_entries.c.body).where(ledger_entries.c.log_id == log.id, ledger_entries.c.idx == bad)
        ).scalar_one()
        conn.execute(
            ledger_entries.update()
            .where(ledger_entries.c.log_id == log.id, ledger_entries.c.idx == bad)
            .values(body=body.replace("fraud", "fra0d"))
        )
    with pytest.raises(EntryError, match=f"in the page from index {bad - bad % 3}, entry {bad % 3}: body and salt"):
        service.pull(br.engine, br.operator, br.keys, ar.origin, clients=clients)
    with br.engine.connect() as conn:  # nothing of the replica was written: no entry, no checkpoint
        replica = get_log(conn, ar.origin)
        assert replica.size == 0
        for table in (ledger_entries, ledger_checkpoints):
            count = conn.execute(select(func.count()).select_from(table).where(table.c.log_id == replica.id))
            assert count.scalar_one() == 0
    alarms = service.alarms(br.engine, br.operator, ar.origin)
    assert [a["kind"] for a in alarms] == ["bad_entry"]
