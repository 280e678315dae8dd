"""Three administrations replicate each other's logs in-process (FastAPI TestClient over the real routes)."""

from __future__ import annotations

import sqlite3

import pytest
from ledger_testnodes import Node, certificate, client_for, connect, connected_nodes, rewrite_history

from opencustoms import signals
from opencustoms.ledger import service
from opencustoms.ledger.errors import ForkError, LedgerError, LedgerNotFoundError
from opencustoms.ledger.keys import KeyStore
from opencustoms.ledger.logs import get_log
from opencustoms.security.roles import Role
from opencustoms.security.service import Identity, ensure_administration
from opencustoms.store.database import init_database, open_database


@pytest.fixture
def three(tmp_path):  # type: ignore[no-untyped-def]
    nodes = connected_nodes(tmp_path)
    clients = {c: {nodes[s].origin: client_for(nodes[s], nodes[c].tokens[s]) for s in nodes if s != c} for c in nodes}
    yield nodes, clients
    open_database.cache_clear()


def test_partners_see_issue_suspend_revoke_and_restricted_content(three) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    ar, br, uy = nodes["AR"], nodes["BR"], nodes["UY"]
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
    service.change_status(ar.engine, ar.officer, ar.keys, "aeo.suspended", "ARAEO00001", "audit findings")
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00002", holder="AR2", shared_with=["BR"]))
    for node in (br, uy):
        report = service.pull(node.engine, node.operator, node.keys, ar.origin, clients=clients[node.code])
        assert report["new_entries"] == 4 and report["alarms"] == []
        assert service.status(node.engine, node.operator, "ARAEO00001")["status"] == "suspended"
    service.change_status(ar.engine, ar.officer, ar.keys, "aeo.revoked", "ARAEO00001", "fraud")
    for node in (br, uy):
        service.pull(node.engine, node.operator, node.keys, ar.origin, clients=clients[node.code])
        assert service.status(node.engine, node.operator, "ARAEO00001")["status"] == "revoked"
        assert service.verify_log(node.engine, node.operator, ar.origin)["size"] == 5
        found = signals.for_subjects(node.engine, [(signals.SubjectType.CERTIFICATE, "ARAEO00001")])
        assert [s.kind for s in found][-1] == "ledger.aeo_revoked"
    # only Brazil, named in shared_with, sees the restricted certificate; Uruguay holds its leaf only
    assert service.status(br.engine, br.operator, "ARAEO00002")["status"] == "certified"
    with pytest.raises(service.LedgerNotFoundError):
        service.status(uy.engine, uy.operator, "ARAEO00002")
    # witnessing: the cosigned checkpoint Brazil serves carries Argentina's and Brazil's signatures
    note = service.witnessed(br.engine, br.operator, ar.origin)
    assert f"\u2014 {ar.origin} " in note and f"\u2014 {br.origin} " in note


def test_a_rewritten_history_is_caught_by_both_partners(three) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    ar, br, uy = nodes["AR"], nodes["BR"], nodes["UY"]
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00003"))
    for node in (br, uy):
        service.pull(node.engine, node.operator, node.keys, ar.origin, clients=clients[node.code])
    rewrite_history(ar, 1)
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00004"))
    for node in (br, uy):
        for _ in range(2):  # the next round (follow, poll) is refused again, and is the same alarm, not a new one
            with pytest.raises(ForkError, match="does not extend"):
                service.pull(node.engine, node.operator, node.keys, ar.origin, clients=clients[node.code])
        assert [a["kind"] for a in service.alarms(node.engine, node.operator, ar.origin)] == ["fork"]
        assert service.status(node.engine, node.operator, "ARAEO00001")["status"] == "certified"  # kept
        with pytest.raises(service.LedgerNotFoundError):
            service.status(node.engine, node.operator, "ARAEO00004")  # refused
        critical = signals.for_subjects(node.engine, [(signals.SubjectType.ADMINISTRATION, ar.origin)])
        assert critical and critical[0].kind == "ledger.partner_fork"


def test_a_split_view_is_caught_through_witnesses(three, tmp_path) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    ar, br, uy = nodes["AR"], nodes["BR"], nodes["UY"]
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
    # Argentina's operator clones the node and shows Uruguay a different history from Brazil's.
    twin_dir = tmp_path / "AR-twin"
    twin_dir.mkdir()
    src = sqlite3.connect(ar.url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(twin_dir / "node.db")
    src.backup(dst)
    src.close()
    dst.close()
    import shutil

    shutil.copytree(ar.data_dir / "ledger", twin_dir / "ledger")
    twin = Node(
        "AR",
        twin_dir,
        f"sqlite:///{twin_dir / 'node.db'}",
        open_database(f"sqlite:///{twin_dir / 'node.db'}"),
        KeyStore.for_data_dir(twin_dir),
    )
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00005"))
    service.issue(twin.engine, twin.officer, twin.keys, certificate("ARAEO00006"))
    uy_clients = dict(clients["UY"])
    uy_clients[ar.origin] = client_for(twin, uy.tokens["AR"])
    service.pull(uy.engine, uy.operator, uy.keys, ar.origin, clients=uy_clients, witness=False)
    report = service.pull(br.engine, br.operator, br.keys, ar.origin, clients=clients["BR"])
    service.pull(br.engine, br.operator, br.keys, uy.origin, clients=clients["BR"], witness=False)
    assert any("split view" in a for a in report["alarms"])
    assert [a["kind"] for a in service.alarms(br.engine, br.operator, ar.origin)] == ["split_view"]


def test_a_log_that_cannot_be_asked_is_no_evidence_of_a_split_view(three) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from opencustoms.ledger import partners

    nodes, clients = three
    ar, br, uy = nodes["AR"], nodes["BR"], nodes["UY"]
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
    service.pull(uy.engine, uy.operator, uy.keys, ar.origin, clients=clients["UY"], witness=False)
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00002"))
    service.pull(br.engine, br.operator, br.keys, ar.origin, clients=clients["BR"], witness=False)
    # Uruguay holds checkpoint 1, Brazil witnessed 2: Uruguay asks Argentina for the proof joining them, just as
    # Argentina goes down (the race of a node killed between Uruguay's pull and its witness round)
    with uy.engine.connect() as conn:
        log = get_log(conn, ar.origin)

    def answering(reply: httpx.Response | None):  # type: ignore[no-untyped-def]
        def handle(request: httpx.Request) -> httpx.Response:
            if reply is None:
                raise httpx.ConnectError("connection refused", request=request)
            return reply

        return httpx.Client(transport=httpx.MockTransport(handle), base_url="http://ar.test")

    for down in (None, httpx.Response(503, text="restarting"), httpx.Response(401, text="token expired")):
        asked = dict(clients["UY"], **{ar.origin: answering(down)})
        assert partners._compare_witnesses(uy.engine, uy.operator, uy.keys, log, asked) == []
    assert service.alarms(uy.engine, uy.operator) == []
    # up again, it proves that 2 extends 1: still no alarm
    assert partners._compare_witnesses(uy.engine, uy.operator, uy.keys, log, clients["UY"]) == []
    # but a log that refuses a proof up to a size it signed shows Uruguay a shorter history than Brazil's
    refused = httpx.Response(422, json={"detail": "the log has 1 entries; no proof up to size 2"})
    asked = dict(clients["UY"], **{ar.origin: answering(refused)})
    assert any("split view" in a for a in partners._compare_witnesses(uy.engine, uy.operator, uy.keys, log, asked))
    assert [a["kind"] for a in service.alarms(uy.engine, uy.operator, ar.origin)] == ["split_view"]


def test_a_forged_checkpoint_is_refused(three) -> None:  # type: ignore[no-untyped-def]
    nodes, clients = three
    ar, br = nodes["AR"], nodes["BR"]
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
    # Brazil is told a wrong key for Argentina: every checkpoint fails to verify and raises an alarm.
    from opencustoms.ledger import checkpoint as notes
    from opencustoms.ledger.tables import ledger_logs

    with br.engine.begin() as conn:
        conn.execute(
            ledger_logs.update()
            .where(ledger_logs.c.origin == ar.origin)
            .values(public_key=notes.public_bytes(notes.Ed25519PrivateKey.generate()))
        )
    with pytest.raises(service.CheckpointError, match="different key"):
        service.pull(br.engine, br.operator, br.keys, ar.origin, clients=clients["BR"])
    assert [a["kind"] for a in service.alarms(br.engine, br.operator)] == ["bad_signature"]


def test_a_long_poll_answers_when_the_log_grows_and_a_follower_pulls_at_once(three) -> None:  # type: ignore[no-untyped-def]
    import threading

    nodes, clients = three
    ar, br = nodes["AR"], nodes["BR"]
    service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
    size = service.checkpoint(ar.engine, ar.operator)["size"]
    # nothing new: the long poll waits its time and answers with the same checkpoint
    assert service.checkpoint(ar.engine, ar.operator, after=size, wait=0.2)["size"] == size
    # an append while the poll waits: it answers with the new checkpoint, long before its wait is over
    later = threading.Timer(0.3, service.issue, (ar.engine, ar.officer, ar.keys, certificate("ARAEO00002")))
    later.start()
    assert service.checkpoint(ar.engine, ar.operator, after=size, wait=25)["size"] == size + 1
    later.join()
    with pytest.raises(LedgerError) as bad:
        service.checkpoint(ar.engine, ar.operator, after=-1, wait=1)
    assert bad.value.field == "after"
    http = clients["BR"][ar.origin]
    assert http.get("/ledger/checkpoint", params={"after": 0, "wait": 31}).status_code == 422

    # Brazil follows Argentina's log: each change is pulled as soon as it is committed, no poll needed
    stop, errors = threading.Event(), []
    follower = threading.Thread(
        target=service.follow,
        args=(br.engine, br.operator, br.keys, ar.origin, stop),
        kwargs={"wait": 2.0, "clients": clients["BR"], "on_error": lambda origin, exc: errors.append(exc)},
    )
    follower.start()
    try:
        for status in ("aeo.suspended", "aeo.reinstated", "aeo.revoked"):
            service.change_status(ar.engine, ar.officer, ar.keys, status, "ARAEO00001", "follow test")
            expected = status.removeprefix("aeo.").replace("reinstated", "certified")
            for _ in range(200):  # a fail-safe bound, not a timing assertion
                if _status(br, "ARAEO00001") == expected:
                    break
                stop.wait(0.05)
            else:
                raise AssertionError(f"Brazil never saw {status}: {errors}")
    finally:
        stop.set()
        follower.join(timeout=10)
    assert not follower.is_alive() and errors == []
    assert (
        service.verify_log(br.engine, br.operator, ar.origin)["size"]
        == service.checkpoint(ar.engine, ar.operator)["size"]
    )


def _status(node: Node, number: str) -> str | None:
    try:
        return str(service.status(node.engine, node.operator, number)["status"])
    except LedgerNotFoundError:
        return None


def test_a_partner_pulls_an_empty_log_then_its_first_entries_without_alarm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A log just created (`ledger init`, no entry yet) is replicated as the empty tree: no consistency proof from
    size 0 is asked for or accepted (RFC 9162 has none), the first entries are checked against the root alone."""
    nodes = {}
    for code in ("AR", "BR", "UY"):  # logs without the officer key make_node certifies
        data_dir = tmp_path / code
        url = f"sqlite:///{data_dir / 'node.db'}"
        engine = init_database(url)
        ensure_administration(engine, code, f"Customs {code}", code)
        nodes[code] = Node(code, data_dir, url, engine, KeyStore.for_data_dir(data_dir))
        service.init_log(engine, nodes[code].operator, nodes[code].keys, code)
    ar = nodes["AR"]
    for code in ("BR", "UY"):
        connect(ar, nodes[code], None)
        connect(nodes[code], nodes["BR" if code == "UY" else "UY"], None)  # witnesses of each other
    try:
        clients = {c: {nodes[s].origin: client_for(nodes[s], t) for s, t in nodes[c].tokens.items()} for c in nodes}
        for code in ("BR", "UY"):
            node = nodes[code]
            report = service.pull(node.engine, node.operator, node.keys, ar.origin, clients=clients[code])
            assert report["new_entries"] == 0 and report["alarms"] == []
            assert service.latest_checkpoint(node.engine, ar.origin).size == 0
            # a second round at size 0 is the same checkpoint: nothing to do
            assert service.pull(node.engine, node.operator, node.keys, ar.origin, clients=clients[code])["to"] == 0
        service.certify_officer(ar.engine, ar.operator, ar.keys, "maria")
        service.issue(ar.engine, Identity.of("maria", "AR", [Role.SUPERVISOR]), ar.keys, certificate("ARAEO00001"))
        br = nodes["BR"]  # Brazil pulls first; Uruguay, which it asks as a witness, still holds size 0
        report = service.pull(br.engine, br.operator, br.keys, ar.origin, clients=clients["BR"])
        assert report["new_entries"] == 2 and report["alarms"] == []
        uy = nodes["UY"]
        assert service.pull(uy.engine, uy.operator, uy.keys, ar.origin, clients=clients["UY"])["new_entries"] == 2
        for node in (br, uy):
            assert service.alarms(node.engine, node.operator) == []
            assert service.verify_log(node.engine, node.operator, ar.origin)["size"] == 2
    finally:
        for node in nodes.values():
            node.engine.dispose()
        open_database.cache_clear()
