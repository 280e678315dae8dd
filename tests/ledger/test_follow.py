"""Following a partner over real HTTP (its API served by uvicorn on a loopback port): the follower picks up a
partner URL or token that was replaced while it runs, as after the restore runbook's token change, without a
restart."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from ledger_testnodes import Node, certificate, connect, make_node
from sqlalchemy import update

from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import service
from opencustoms.ledger.errors import LedgerNotFoundError
from opencustoms.ledger.tables import ledger_logs
from opencustoms.security.service import issue_token, revoke_tokens
from opencustoms.store.database import open_database


def _poll(check: Callable[[], bool], what: str, errors: list[OpenCustomsError], stop: threading.Event) -> None:
    for _ in range(600):  # a fail-safe bound (60 s), not a timing assertion
        if check():
            return
        stop.wait(0.1)
    raise AssertionError(f"timed out waiting for {what}; the follower reported: {[e.message for e in errors][-3:]}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Node, Node, str]]:
    """Argentina's API on a loopback port; Brazil registered as its partner (with a URL that is still wrong)."""
    ar, br = make_node(tmp_path, "AR"), make_node(tmp_path, "BR")
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listening.getsockname()[1]}"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
    connect(ar, br, f"http://127.0.0.1:{closed.getsockname()[1]}")
    settings = Settings(database_url=ar.url, data_dir=ar.data_dir, administration="AR")
    from opencustoms.api import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(Platform(settings)), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        yield ar, br, url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()
        closed.close()
        for node in (ar, br):
            node.engine.dispose()
        open_database.cache_clear()


def _has(node: Node, number: str) -> bool:
    try:
        return bool(service.status(node.engine, node.operator, number))
    except LedgerNotFoundError:
        return False


@contextmanager
def following(br: Node, origin: str) -> Iterator[tuple[list[OpenCustomsError], threading.Event]]:
    """Brazil's follower of ``origin`` in a thread (as `ledger serve` runs it), always stopped."""
    stop, errors = threading.Event(), []
    follower = threading.Thread(
        target=service.follow,
        args=(br.engine, br.operator, br.keys, origin, stop),
        kwargs={"wait": 1.0, "on_error": lambda origin, exc: errors.append(exc)},
    )
    follower.start()
    try:
        yield errors, stop
    finally:
        stop.set()
        follower.join(timeout=30)
    assert not follower.is_alive()


def _set_url(br: Node, origin: str, url: str) -> None:
    with br.engine.begin() as conn:  # what the operator corrects
        conn.execute(update(ledger_logs).where(ledger_logs.c.origin == origin).values(url=url))


def test_the_follower_picks_up_a_corrected_url_without_a_restart(served) -> None:  # type: ignore[no-untyped-def]
    ar, br, url = served
    with following(br, ar.origin) as (errors, stop):
        service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
        _poll(lambda: any("unreachable" in e.message for e in errors), "the wrong URL to fail", errors, stop)
        _set_url(br, ar.origin, url)
        _poll(lambda: _has(br, "ARAEO00001"), "Brazil to follow the corrected URL", errors, stop)
    assert service.alarms(br.engine, br.operator) == []


def test_the_follower_picks_up_a_replaced_token_without_a_restart(served) -> None:  # type: ignore[no-untyped-def]
    ar, br, url = served
    _set_url(br, ar.origin, url)
    with following(br, ar.origin) as (errors, stop):
        service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00001"))
        _poll(lambda: _has(br, "ARAEO00001"), "Brazil to follow", errors, stop)
        # Argentina replaces the token it gave Brazil (the restore runbook); Brazil's operator writes the new one
        revoke_tokens(ar.engine, ar.operator, "partner-br")
        service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00002"))
        _poll(lambda: any("answered 401" in e.message for e in errors), "the old token to be refused", errors, stop)
        br.keys.save_secret("partner-AR", issue_token(ar.engine, ar.operator, "partner-br"))
        _poll(lambda: _has(br, "ARAEO00002"), "Brazil to follow with the new token", errors, stop)
        refused = sum("answered 401" in e.message for e in errors)
        service.issue(ar.engine, ar.officer, ar.keys, certificate("ARAEO00003"))
        _poll(lambda: _has(br, "ARAEO00003"), "Brazil to keep following", errors, stop)
        assert sum("answered 401" in e.message for e in errors) == refused  # no refusal since the new token
    assert service.alarms(br.engine, br.operator) == []
