"""`opencustoms exchange ...` on both installations: the exporter sets the agreement and sends (queued, then
delivered to the partner's real API in-process, or left pending with a retry when the partner is unreachable); the
importer lists its inbox and matches, the discrepancies becoming signals."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from ledger_testnodes import Node, client_for, connect, make_node
from test_exchange import export, import_, partners
from typer.testing import CliRunner

from opencustoms import signals
from opencustoms.config import get_settings
from opencustoms.declarations import service as declarations
from opencustoms.exchange import service
from opencustoms.store.database import open_database


def _use(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in node.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    open_database.cache_clear()


@pytest.fixture
def pair(tmp_path, monkeypatch) -> Iterator[tuple[Node, Node]]:  # type: ignore[no-untyped-def]
    ar, br = make_node(tmp_path, "AR"), make_node(tmp_path, "BR")
    connect(br, ar, "http://127.0.0.1:9")  # discard port: nothing listens, connections are refused
    connect(ar, br, None)
    declarations.create(
        ar.engine, ar.operator, export("AR-EX-1", ucr="U-1", container="CSQU3054383", hs="020130", value="9000.00")
    )
    declarations.create(
        br.engine, br.operator, import_("BR-IM-1", ucr="U-1", container="CSQU3054383", hs="020130", value="4000.00")
    )
    try:
        yield ar, br
    finally:
        get_settings.cache_clear()
        open_database.cache_clear()


def run(*args: str) -> Any:
    from opencustoms.cli import app

    result = CliRunner().invoke(app, ["exchange", *args])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return json.loads(result.output)


def test_send_inbox_and_match_from_the_command_line(pair, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from opencustoms.cli import app

    ar, br = pair
    _use(ar, monkeypatch)
    refused = CliRunner().invoke(app, ["exchange", "send", "BR"])
    assert refused.exit_code == 1 and "no active agreement with BR" in refused.output
    agreed = run(
        "agreements",
        "set",
        "BR",
        "--country",
        "BR",
        "--field",
        "ucr",
        "--field",
        "goods.value",
        "--field",
        "containers",
    )
    assert agreed["fields"] == ["ucr", "containers", "goods.value"]
    assert run("partners")[0]["agreement"]["country_code"] == "BR"
    sent = run("send", "BR")
    assert sent["queued"]["queued"] == 1
    assert sent["delivery"]["retry"] == 1 and sent["delivery"]["pending"] == 1  # refused connection: retried later
    # Brazil comes up (its real API, in-process) and the outbox is delivered when the retry is due
    due = dt.datetime.fromisoformat(sent["delivery"]["next_attempt_at"])
    with client_for(br, ar.tokens["BR"]) as http:
        early = service.deliver(
            ar.engine, ar.operator, partners(ar), clients={"BR": http}, now=due - dt.timedelta(seconds=1)
        )
        assert early["acknowledged"] == 0  # not before its backoff
        done = service.deliver(ar.engine, ar.operator, partners(ar), clients={"BR": http}, now=due)
    assert done["acknowledged"] == 1
    assert done["pending"] == 0

    _use(br, monkeypatch)
    inbox = run("inbox")
    assert [i["reference"] for i in inbox["items"]] == ["AR-EX-1"]
    assert inbox["items"][0]["record"]["exporter"] is None  # not in the agreement: never sent
    matched = run("match")
    assert matched["matched"] == 1 and matched["discrepancies"] == {"exchange.value_below_export": 1}
    assert [s.kind for s in signals.for_stored(br.engine, ["BR-IM-1"])["BR-IM-1"]] == ["exchange.value_below_export"]
    assert run("inbox", "--unmatched")["items"] == []
