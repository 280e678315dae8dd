"""Two installations, Argentina (AR, exporting) and Brazil (BR, importing), each with its own database and key
store, registered as each other's partners through the ledger (`partner-add`, partner users and tokens), exchange
export-declaration messages over BR's real API (in-process HTTP): agreements, the outbox with retries and
acknowledgements, the inbox refusing forged, altered, replayed and unknown-partner messages and taking each message
once, matching to BR's imports, and the mirror discrepancies as signals the risk engine reads."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_testnodes import Node, client_for, connect, make_node
from sqlalchemy import func, select

from conftest import sample_declaration
from opencustoms import signals
from opencustoms.declarations import service as declarations
from opencustoms.exchange import service, signing
from opencustoms.exchange.errors import (
    AgreementError,
    MessageRejectedError,
    ReplayedMessageError,
    UnknownPartnerError,
)
from opencustoms.exchange.schema import ExchangeMessage
from opencustoms.exchange.tables import exchange_inbox, exchange_outbox
from opencustoms.ledger import service as ledger
from opencustoms.security.pseudonyms import Pseudonymiser
from opencustoms.security.roles import Role
from opencustoms.security.service import Identity, read_audit
from opencustoms.store.tables import audit_log

TODAY = dt.date(2025, 3, 1)


def export(
    reference: str, *, ucr: str | None, container: str, hs: str, value: str, origin: str = "AR", mass: float = 1000.0
) -> dict[str, Any]:
    data = sample_declaration(reference)
    data |= {
        "type_code": "export",
        "acceptance_date": TODAY.isoformat(),
        "declaration_office_id": "AR001",
        "procedure_code": "1000",
        "declarant": {"id": "AR30700000001", "name": "Despachante SA", "country_code": "AR"},
        "exporter": {"id": "AR30712345678", "name": "Pampa Exports SA", "country_code": "AR"},
        "importer": {"id": "BR11222333000181", "name": "Rio Imports Ltda", "country_code": "BR"},
        "seller": None,
        "transport": {
            "mode_code": "1",
            "id": "MAERSK ESSEN",
            "container_ids": [container],
            "loading_location": "ARBUE",
            "unloading_location": "BRSSZ",
        },
        "additional_documents": [{"type_code": "UCR", "id": ucr}] if ucr else [],
        "goods_items": [
            {
                "sequence_number": 1,
                "hs_code": hs,
                "description": "boneless beef",
                "quantity": mass,
                "quantity_unit": "KGM",
                "net_mass_kg": mass,
                "customs_value_amount": value,
                "customs_value_currency": "USD",
                "origin_country_code": origin,
            }
        ],
    }
    return data


def import_(
    reference: str,
    *,
    ucr: str | None,
    container: str,
    hs: str,
    value: str,
    origin: str = "AR",
    days: int = 20,
    mass: float = 1000.0,
) -> dict[str, Any]:
    data = export(reference, ucr=ucr, container=container, hs=hs, value=value, origin=origin, mass=mass)
    data |= {
        "type_code": "import",
        "acceptance_date": (TODAY + dt.timedelta(days=days)).isoformat(),
        "declaration_office_id": "BR0817800",
        "procedure_code": "4000",
        "declarant": {"id": "BR00000000000191", "name": "Comissária Ltda", "country_code": "BR"},
    }
    return data


# AR's exports and BR's imports of the same consignments, with what the mirror should find
CONTAINERS = ["CSQU3054383", "MSCU1234566", "TGHU1234567", "MAEU1234567"]


@pytest.fixture
def pair(tmp_path) -> Iterator[tuple[Node, Node]]:  # type: ignore[no-untyped-def]
    ar, br = make_node(tmp_path, "AR"), make_node(tmp_path, "BR")
    connect(br, ar, "http://br.test")  # AR registers BR (key, URL, BR's token for AR) and is BR's partner user
    connect(ar, br, "http://ar.test")  # and the other way round: BR knows AR's key
    exports = [
        # same UCR both sides, value lowered at import (CIF 4,000 against FOB 9,000)
        export("AR-EX-1", ucr="5AR30712345678-0001", container=CONTAINERS[0], hs="020130", value="9000.00"),
        # no UCR at import: matched by container; origin declared as UY at import, HS 020130 vs 020230
        export("AR-EX-2", ucr=None, container=CONTAINERS[1], hs="020130", value="5000.00"),
        # a clean consignment: matched by UCR, nothing to say
        export("AR-EX-3", ucr="5AR30712345678-0003", container=CONTAINERS[2], hs="020130", value="7000.00"),
        # exported to BR, never declared there
        export("AR-EX-4", ucr="5AR30712345678-0004", container=CONTAINERS[3], hs="020130", value="7000.00"),
    ]
    imports = [
        import_("BR-IM-1", ucr="5AR30712345678-0001", container=CONTAINERS[0], hs="020130", value="4000.00"),
        import_("BR-IM-2", ucr=None, container=CONTAINERS[1], hs="020230", value="5500.00", origin="UY"),
        import_("BR-IM-3", ucr="5AR30712345678-0003", container=CONTAINERS[2], hs="020130", value="7700.00"),
        # same container, long after the window: not a candidate
        import_("BR-IM-9", ucr=None, container=CONTAINERS[1], hs="020130", value="5500.00", days=200),
    ]
    for data in exports:
        declarations.create(ar.engine, ar.operator, data)
    for data in imports:
        declarations.create(br.engine, br.operator, data)
    yield ar, br
    ar.engine.dispose()
    br.engine.dispose()


def partners(node: Node) -> dict[str, service.Partner]:
    return service.directory(ledger.partner_directory(node.engine, node.keys))


def send_all(ar: Node, br: Node, fields: list[str] | None = None) -> dict[str, Any]:
    service.set_agreement(ar.engine, ar.operator, partners(ar), "BR", "BR", fields)
    queued = service.queue(ar.engine, ar.operator, ledger.signing_key(ar.keys), partners(ar), "BR")
    with client_for(br, ar.tokens["BR"]) as http:
        delivered = service.deliver(ar.engine, ar.operator, partners(ar), clients={"BR": http})
    return {"queued": queued, "delivered": delivered}


def test_two_installations_exchange_match_and_raise_discrepancies(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    done = send_all(ar, br)
    assert done["queued"]["queued"] == 4
    assert done["delivered"] | {"next_attempt_at": None} == {
        "acknowledged": 4,
        "refused": 0,
        "retry": 0,
        "pending": 0,
        "next_attempt_at": None,
    }
    with br.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_inbox)).scalar() == 4
    # queuing again sends nothing twice
    assert service.queue(ar.engine, ar.operator, ledger.signing_key(ar.keys), partners(ar), "BR")["queued"] == 0

    within = TODAY + dt.timedelta(days=30)  # AR-EX-4 may still be declared
    result = service.run_matching(br.engine, br.operator, today=within)
    assert result["matched"] == 3 and result["unmatched"] == 1 and result["not_declared"] == 0
    assert result["by_method"] == {"ucr": 2, "container": 1}
    assert result["discrepancies"] == {"exchange.value_below_export": 1, "exchange.hs6_mismatch": 1}
    assert result["names_compared"] is False

    found = signals.for_stored(br.engine, ["BR-IM-1", "BR-IM-2", "BR-IM-3"])
    kinds = {ref: sorted(s.kind for s in found.get(ref, [])) for ref in ("BR-IM-1", "BR-IM-2", "BR-IM-3")}
    assert kinds["BR-IM-1"] == ["exchange.value_below_export"]
    assert kinds["BR-IM-2"] == ["exchange.hs6_mismatch"]  # HS differs: value and origin are compared per HS6
    assert kinds["BR-IM-3"] == []  # CIF 7,700 on FOB 7,000 is inside the band
    [below] = found["BR-IM-1"]
    assert below.severity is signals.Severity.HIGH
    assert below.evidence["export_value"] == 9000.0 and below.evidence["import_value"] == 4000.0
    assert "4,000" in below.reason and "AR-EX-1" in below.reason
    assert signals.describe(below.kind, below.evidence, "fr", "").startswith("La valeur déclarée du SH 020130")

    # matching again: nothing new
    again = service.run_matching(br.engine, br.operator, today=within)
    assert again["examined"] == 1 and again["matched"] == 0 and again["signals"] == 0

    seen = service.inbox(br.engine, br.operator, Pseudonymiser(b"k" * 32))
    by_ref = {i["reference"]: i for i in seen["items"]}
    assert by_ref["AR-EX-2"]["match"]["method"] == "container"
    assert by_ref["AR-EX-2"]["match"]["declaration_reference"] == "BR-IM-2"  # not BR-IM-9, out of the window
    assert by_ref["AR-EX-4"]["match_status"] == "unmatched"

    # the window has passed: goods exported to us and never declared, signalled on their container
    late = service.run_matching(br.engine, br.operator, today=TODAY + dt.timedelta(days=61))
    assert late["not_declared"] == 1 and late["signals"] == 1
    [never] = signals.for_subjects(br.engine, [(signals.SubjectType.CONTAINER, CONTAINERS[3])])
    assert never.kind == "exchange.export_not_declared" and never.evidence["export_reference"] == "AR-EX-4"
    assert "were not declared here within 60 days" in never.reason
    assert service.run_matching(br.engine, br.operator, today=TODAY + dt.timedelta(days=90))["examined"] == 0
    listed = service.inbox(br.engine, br.operator, Pseudonymiser(b"k" * 32), match_status="not_declared")
    assert [i["reference"] for i in listed["items"]] == ["AR-EX-4"]

    with ar.engine.connect() as conn:
        sent = conn.execute(select(audit_log.c.action).where(audit_log.c.object_type == "exchange_message")).scalars()
        assert sorted(set(sent)) == ["queue", "send"]
    with br.engine.connect() as conn:
        got = list(conn.execute(select(audit_log.c.action).where(audit_log.c.object_type == "exchange_message")))
        assert len([a for (a,) in got if a == "receive"]) == 4


def test_origin_mismatch_and_mass_and_quantity(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    declarations.create(
        ar.engine,
        ar.operator,
        export("AR-EX-5", ucr="U-5", container="CSQU3054383", hs="020130", value="1000.00", mass=1000.0),
    )
    declarations.create(
        br.engine,
        br.operator,
        import_("BR-IM-5", ucr="U-5", container="CSQU3054383", hs="020130", value="1100.00", origin="PY", mass=600.0),
    )
    send_all(ar, br)
    service.run_matching(br.engine, br.operator)
    kinds = sorted(s.kind for s in signals.for_stored(br.engine, ["BR-IM-5"]).get("BR-IM-5", []))
    assert kinds == ["exchange.mass_mismatch", "exchange.origin_mismatch", "exchange.quantity_mismatch"]


def test_what_a_partner_receives_is_what_the_agreement_names(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    send_all(ar, br, ["ucr", "goods.value"])
    seen = service.inbox(br.engine, br.operator, Pseudonymiser(b"k" * 32))
    rec = seen["items"][0]["record"]
    assert rec["exporter"] is None and rec["consignee"] is None and rec["container_ids"] is None
    assert rec["goods_items"][0]["value_amount"] is not None and rec["goods_items"][0]["net_mass_kg"] is None
    with pytest.raises(AgreementError) as caught:
        service.set_agreement(ar.engine, ar.operator, partners(ar), "BR", "BR", ["everything"])
    assert caught.value.field == "fields"


def test_names_reach_only_readers_with_personal_data(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    send_all(ar, br, ["exporter", "exporter.name", "consignee", "consignee.name"])
    pseudonymiser = Pseudonymiser(b"k" * 32)
    analyst = Identity.of("rita", "BR", [Role.RISK_ANALYST])
    masked = service.inbox(br.engine, analyst, pseudonymiser)
    assert masked["pseudonymised"] is True
    exporter = masked["items"][0]["record"]["exporter"]
    assert exporter["name"] == "[withheld]" and exporter["id"] == pseudonymiser("AR30712345678")
    assert "Pampa" not in str(masked) and "AR30712345678" not in str(masked)  # the UCR embeds the exporter's id
    officer = Identity.of("otto", "BR", [Role.OFFICER])
    clear = service.inbox(br.engine, officer, pseudonymiser)
    assert clear["items"][0]["record"]["exporter"]["name"] == "Pampa Exports SA"
    assert read_audit(
        br.engine, br.operator, object_type="exchange_message", who="otto"
    )  # the read that showed names is audited


# --- the inbox's refusals, and exactly-once -------------------------------------------------------------------


def _message(sender: str = "AR", receiver: str = "BR", **changes: Any) -> ExchangeMessage:
    from test_signing import record

    data: dict[str, Any] = {
        "message_id": str(uuid.uuid4()),
        "sender": sender,
        "receiver": receiver,
        "issued_at": dt.datetime.now(dt.UTC),
        "record": record(),
    }
    return ExchangeMessage.model_validate(data | changes)


def _as(code: str) -> Identity:
    return Identity.of(f"partner-{code.lower()}", code, [Role.PARTNER])


def test_the_same_message_twice_is_processed_once(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    token = signing.sign(_message(), ledger.signing_key(ar.keys))
    first = service.receive(br.engine, _as("AR"), partners(br), "BR", token)
    second = service.receive(br.engine, _as("AR"), partners(br), "BR", token)
    assert first["status"] == "accepted" and second["status"] == "duplicate"
    assert first["digest"] == second["digest"]
    with br.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_inbox)).scalar() == 1


def test_forged_altered_replayed_and_unknown_partner_messages_are_refused(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    key = ledger.signing_key(ar.keys)
    known = partners(br)
    # forged: another key, naming AR's key id or its own
    impostor = Ed25519PrivateKey.generate()
    forged = signing.sign(_message(), impostor)
    with pytest.raises(MessageRejectedError) as caught:
        service.receive(br.engine, _as("AR"), known, "BR", forged)
    assert caught.value.field == "kid"
    header = signing.sign(_message(), key).split(".")[0]
    _, payload, signature = forged.split(".")
    with pytest.raises(MessageRejectedError) as caught:
        service.receive(br.engine, _as("AR"), known, "BR", ".".join([header, payload, signature]))
    assert caught.value.field == "signature"
    # replayed: the same id with other content, an old message, a message to someone else
    original = _message()
    service.receive(br.engine, _as("AR"), known, "BR", signing.sign(original, key))
    changed = original.model_copy(update={"record": original.record.model_copy(update={"ucr": "OTHER"})})
    with pytest.raises(ReplayedMessageError) as caught:
        service.receive(br.engine, _as("AR"), known, "BR", signing.sign(changed, key))
    assert caught.value.status == 409 and caught.value.field == "message_id"
    old = _message(issued_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=90))
    with pytest.raises(ReplayedMessageError) as caught:
        service.receive(br.engine, _as("AR"), known, "BR", signing.sign(old, key))
    assert caught.value.field == "issued_at"
    with pytest.raises(MessageRejectedError) as caught:
        service.receive(br.engine, _as("AR"), known, "BR", signing.sign(_message(receiver="UY"), key))
    assert caught.value.field == "receiver"
    # unknown partner, and a partner delivering another administration's message
    with pytest.raises(UnknownPartnerError):
        service.receive(br.engine, _as("UY"), known, "BR", signing.sign(_message(sender="UY"), impostor))
    with pytest.raises(UnknownPartnerError) as caught:
        service.receive(br.engine, _as("AR"), known, "BR", signing.sign(_message(sender="UY"), key))
    assert caught.value.field == "sender"
    with br.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_inbox)).scalar() == 1
        refusals = conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.action == "refuse"))
        assert refusals.scalar() == 7


def test_the_api_answers_refusals_with_a_problem_naming_the_field(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    with client_for(br, ar.tokens["BR"]) as http:
        r = http.post("/exchange/inbox", content=b"garbage", headers={"Content-Type": "application/jose"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert "jws" in r.text
        forged = signing.sign(_message(), Ed25519PrivateKey.generate())
        r = http.post("/exchange/inbox", content=forged.encode(), headers={"Content-Type": "application/jose"})
        assert r.status_code == 422 and "kid" in r.text
        token = signing.sign(_message(), ledger.signing_key(ar.keys))
        ok = http.post("/exchange/inbox", content=token.encode(), headers={"Content-Type": "application/jose"})
        assert ok.status_code == 200 and ok.json()["status"] == "accepted"
        again = http.post("/exchange/inbox", content=token.encode(), headers={"Content-Type": "application/jose"})
        assert again.json()["status"] == "duplicate"


# --- the outbox: retries with backoff, refusals -----------------------------------------------------------------


def test_a_partner_down_is_retried_with_backoff_until_it_acknowledges(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    service.set_agreement(ar.engine, ar.operator, partners(ar), "BR", "BR")
    service.queue(ar.engine, ar.operator, ledger.signing_key(ar.keys), partners(ar), "BR")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = httpx.Client(base_url="http://br.test", transport=httpx.MockTransport(refuse))
    now = dt.datetime.now(dt.UTC)
    first = service.deliver(ar.engine, ar.operator, partners(ar), clients={"BR": down}, now=now, rng=random.Random(1))
    assert first["retry"] == 4 and first["pending"] == 4
    assert first["next_attempt_at"] > now
    # nothing is due before the backoff
    early = service.deliver(ar.engine, ar.operator, partners(ar), clients={"BR": down}, now=now)
    assert early["retry"] == 0 and early["pending"] == 4
    second = service.deliver(
        ar.engine,
        ar.operator,
        partners(ar),
        clients={"BR": down},
        now=now + dt.timedelta(seconds=3),
        rng=random.Random(1),
    )
    assert second["retry"] == 4
    with ar.engine.connect() as conn:
        waits = [as_seconds(r.next_attempt_at, now) for r in conn.execute(select(exchange_outbox))]
        assert all(w > 3 + 3.9 for w in waits)  # the second wait is twice the first (2 s, then 4 s, + jitter)
    with client_for(br, ar.tokens["BR"]) as http:
        up = service.deliver(
            ar.engine, ar.operator, partners(ar), clients={"BR": http}, now=now + dt.timedelta(minutes=5)
        )
    assert up["acknowledged"] == 4 and up["pending"] == 0


def as_seconds(at: dt.datetime, since: dt.datetime) -> float:
    from opencustoms.store.database import as_utc

    moment = as_utc(at)
    assert moment is not None
    return (moment - since).total_seconds()


def test_a_refusal_by_the_partner_is_kept_with_its_reason(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    service.set_agreement(ar.engine, ar.operator, partners(ar), "BR", "BR")
    service.queue(ar.engine, ar.operator, ledger.signing_key(ar.keys), partners(ar), "BR", references=["AR-EX-1"])
    with client_for(br, "oc_not-a-token") as http:
        done = service.deliver(ar.engine, ar.operator, partners(ar), clients={"BR": http})
    assert done["refused"] == 1
    [row] = service.outbox(ar.engine, ar.operator, status="refused")
    assert row["last_error"].startswith("401")


def test_nothing_is_queued_without_an_agreement(pair) -> None:  # type: ignore[no-untyped-def]
    ar, _ = pair
    with pytest.raises(AgreementError):
        service.queue(ar.engine, ar.operator, ledger.signing_key(ar.keys), partners(ar), "BR")


def test_the_risk_engine_reads_a_discrepancy_as_a_reason_of_the_lane(pair) -> None:  # type: ignore[no-untyped-def]
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.risk import service as risk

    ar, br = pair
    send_all(ar, br)
    service.run_matching(br.engine, br.operator)
    platform = Platform(Settings(database_url=br.url, data_dir=br.data_dir, administration="BR"))
    decided = risk.decide(platform, Identity.of("sam", "BR", [Role.SUPERVISOR]), "BR-IM-1", seed=1, lang="fr")
    said = str(decided)
    assert decided["lane"] in ("red", "yellow"), decided
    assert "exchange.value_below_export" in said and "La valeur déclarée du SH 020130" in said, said
    clean = risk.decide(platform, Identity.of("sam", "BR", [Role.SUPERVISOR]), "BR-IM-3", seed=1)
    assert "exchange." not in str(clean)


def test_the_dashboard_page_shows_matches_and_discrepancies_masked_per_reader(pair) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient
    from web_helpers import csrf_of

    from opencustoms.api import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.security.service import create_user, issue_token

    ar, br = pair
    send_all(ar, br, ["ucr", "exporter", "exporter.name", "containers", "goods.value"])
    service.run_matching(br.engine, br.operator)
    app = create_app(Platform(Settings(database_url=br.url, data_dir=br.data_dir, administration="BR")))

    def signed_in(username: str, role: Role) -> TestClient:
        create_user(br.engine, br.operator, username, "BR", [role.value])
        client = TestClient(app, follow_redirects=False)
        form = client.get("/ui/login")
        token = issue_token(br.engine, br.operator, username)
        data = {"username": username, "token": token, "csrf_token": csrf_of(form.text), "next": "/ui/"}
        assert client.post("/ui/login", data=data).status_code == 303
        return client

    with signed_in("rita", Role.RISK_ANALYST) as analyst:
        page = analyst.get("/ui/exchange", headers={"Accept-Language": "fr"})
        assert page.status_code == 200, page.text
        assert "Échanges avec les partenaires" in page.text and "Valeur inférieure" in page.text
        assert "BR-IM-1" in page.text and "Pampa" not in page.text
        assert "AR30712345678" not in page.text  # in the exporter's id and inside the UCR: both pseudonymised
        only = analyst.get("/ui/exchange?status=not_declared")
        assert "AR-EX-4" in only.text and "AR-EX-1" not in only.text
    with signed_in("otto", Role.OFFICER) as officer:
        assert "Pampa Exports SA" in officer.get("/ui/exchange").text
        home = officer.get("/ui/")
        assert 'href="/ui/exchange?status=not_declared"><strong>1</strong>' in home.text  # AR-EX-4


def test_a_batch_answers_each_message_and_stores_the_good_ones_once(pair) -> None:  # type: ignore[no-untyped-def]
    ar, br = pair
    key = ledger.signing_key(ar.keys)
    good, held = _message(), _message()
    service.receive(br.engine, _as("AR"), partners(br), "BR", signing.sign(held, key))
    twin = good.model_copy(update={"record": good.record.model_copy(update={"ucr": "OTHER"})})
    tokens = [
        signing.sign(good, key),
        signing.sign(_message(), Ed25519PrivateKey.generate()),  # forged
        signing.sign(held, key),  # already held: a duplicate
        signing.sign(twin, key),  # the same id as the first, other content, in the same batch
        "garbage",
    ]
    results = service.receive_batch(br.engine, _as("AR"), partners(br), "BR", tokens)["results"]
    assert [r["status"] for r in results] == ["accepted", "refused", "duplicate", "refused", "refused"]
    assert [(r.get("http_status"), r.get("field")) for r in results if r["status"] == "refused"] == [
        (422, "kid"),
        (409, "message_id"),
        (422, "jws"),
    ]
    with br.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_inbox)).scalar() == 2
        refusals = conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.action == "refuse"))
        assert refusals.scalar() == 3
    with pytest.raises(MessageRejectedError) as caught:
        service.parse_batch(b'{"messages": [' + b"[" * 50 + b"]" * 50 + b"]}")
    assert caught.value.field == "messages"
    with client_for(br, ar.tokens["BR"]) as http:
        r = http.post("/exchange/inbox/batch", content=b'{"messages": 3}', headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and "messages" in r.text
        ok = http.post("/exchange/inbox/batch", json={"messages": [signing.sign(_message(), key)]})
        assert ok.status_code == 200 and ok.json()["results"][0]["status"] == "accepted"


def test_a_partner_without_the_batch_route_gets_one_message_at_a_time(pair) -> None:  # type: ignore[no-untyped-def]
    ar, _ = pair
    public = signing.public_bytes(ledger.signing_key(ar.keys))
    singles: list[str] = []

    def older_partner(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch"):
            return httpx.Response(404, json={"detail": "Not Found"})
        message, digest = signing.verify(request.content.decode(), public)
        singles.append(message.message_id)
        return httpx.Response(200, json={"message_id": message.message_id, "digest": digest, "status": "accepted"})

    service.set_agreement(ar.engine, ar.operator, partners(ar), "BR", "BR")
    service.queue(ar.engine, ar.operator, ledger.signing_key(ar.keys), partners(ar), "BR")
    older = httpx.Client(base_url="http://br.test", transport=httpx.MockTransport(older_partner))
    done = service.deliver(ar.engine, ar.operator, partners(ar), clients={"BR": older})
    assert done["acknowledged"] == 4 and len(singles) == 4
