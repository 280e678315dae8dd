"""Public face of the exchange between administrations (docs/exchange.md): agreements, the outbox (queue, sign,
send with retries, acknowledgement), the inbox (verify, refuse, store once), matching received export records to
our import declarations, and the mirror discrepancies as signals.

Partners are the ledger's registered partner administrations: the adapters pass them in as a :class:`Partner`
directory (``ledger.service.partner_directory``) with this administration's Ed25519 key
(``ledger.service.signing_key``), so one key and one partner registry serve both pillars, and this pillar never
imports the ledger.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, and_, func, insert, or_, select, update

from opencustoms import signals
from opencustoms.declarations import repository
from opencustoms.errors import OpenCustomsError
from opencustoms.exchange import matching, mirror, signing
from opencustoms.exchange.errors import (
    AgreementError,
    ExchangeNotFoundError,
    MessageRejectedError,
    ReplayedMessageError,
    UnknownPartnerError,
)
from opencustoms.exchange.schema import (
    DEFAULT_FIELDS,
    FIELD_GROUPS,
    ExchangedGoodsItem,
    ExchangedParty,
    ExchangedTransport,
    ExchangeMessage,
    ExportRecord,
    check_fields,
    minimise,
)
from opencustoms.exchange.tables import exchange_agreements, exchange_inbox, exchange_matches, exchange_outbox
from opencustoms.jsondepth import too_deep
from opencustoms.model import Declaration, Party
from opencustoms.reference import codes
from opencustoms.security.pseudonyms import Pseudonymiser
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, audit_row, record, record_many, record_rows, utcnow
from opencustoms.store.database import as_utc
from opencustoms.store.tables import (
    additional_documents,
    administrations,
    declaration_containers,
    declaration_parties,
    declarations,
    goods_items,
)

SOURCE = "exchange"
WITHHELD = "[withheld]"


@dataclass(frozen=True)
class Partner:
    """A partner administration as the ledger registered it."""

    code: str
    public_key: bytes
    url: str | None = None
    token: str | None = None


def directory(rows: Iterable[Mapping[str, Any]]) -> dict[str, Partner]:
    """The partner directory from ``ledger.service.partner_directory``'s rows, by administration code."""
    return {
        str(r["code"]).upper(): Partner(str(r["code"]).upper(), bytes(r["public_key"]), r.get("url"), r.get("token"))
        for r in rows
    }


def _partner(partners: Mapping[str, Partner], code: str, field: str = "partner", *, caller: bool = False) -> Partner:
    """The registered partner ``code``: 404 when an officer names an unknown one, 403 (UnknownPartnerError) when
    the caller delivering a message is no registered partner (``caller``)."""
    partner = partners.get(code.upper())
    if partner is None:
        error = UnknownPartnerError if caller else ExchangeNotFoundError
        raise error(
            f"{code!r} is no registered partner administration (registered: {', '.join(sorted(partners)) or 'none'});"
            " register it first with `opencustoms ledger partner-add`",
            field=field,
        )
    return partner


# --- agreements -----------------------------------------------------------------------------------------------


def set_agreement(
    engine: Engine,
    actor: Identity,
    partners: Mapping[str, Partner],
    partner_code: str,
    country_code: str,
    fields: list[str] | None = None,
    active: bool = True,
) -> dict[str, Any]:
    """Create or replace the agreement with a partner: the destination country whose exports it receives and the
    field groups it may receive (default: all but the parties' names)."""
    actor.require(Permission.USERS_MANAGE)
    partner = _partner(partners, partner_code, "partner_code")
    try:
        country = codes.check_country(country_code, "country_code")
        chosen = check_fields(list(DEFAULT_FIELDS) if fields is None else fields)
    except ValueError as exc:
        raise AgreementError(str(exc), field="country_code" if "country" in str(exc) else "fields") from exc
    now = utcnow()
    values = {"country_code": country, "fields": list(chosen), "active": active, "updated_at": now}
    with engine.begin() as conn:
        known = conn.execute(
            select(exchange_agreements.c.partner_code).where(exchange_agreements.c.partner_code == partner.code)
        ).first()
        if known:
            conn.execute(
                update(exchange_agreements)
                .where(exchange_agreements.c.partner_code == partner.code)
                .values(**values, updated_by=actor.username)
            )
        else:
            conn.execute(
                insert(exchange_agreements).values(partner_code=partner.code, updated_by=actor.username, **values)
            )
        record(
            conn,
            actor,
            "update" if known else "create",
            "exchange_agreement",
            partner.code,
            detail=values | {"updated_at": now.isoformat()},
        )
    return {"partner_code": partner.code, "country_code": country, "fields": list(chosen), "active": active}


def agreements(engine: Engine, actor: Identity) -> list[dict[str, Any]]:
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        rows = conn.execute(select(exchange_agreements).order_by(exchange_agreements.c.partner_code)).mappings()
        return [
            {
                "partner_code": r["partner_code"],
                "country_code": r["country_code"],
                "fields": list(r["fields"]),
                "active": bool(r["active"]),
                "updated_at": as_utc(r["updated_at"]),
            }
            for r in rows
        ]


def partner_list(engine: Engine, actor: Identity, partners: Mapping[str, Partner]) -> list[dict[str, Any]]:
    """The registered partners with their key id, URL and agreement (None: nothing is sent to them)."""
    actor.require(Permission.DECLARATIONS_READ)
    agreed = {a["partner_code"]: a for a in agreements(engine, actor)}
    return [
        {
            "code": p.code,
            "key_id": signing.key_id(p.public_key),
            "url": p.url,
            "token_held": p.token is not None,
            "agreement": agreed.get(p.code),
        }
        for p in sorted(partners.values(), key=lambda p: p.code)
    ]


def field_groups() -> dict[str, str]:
    return dict(FIELD_GROUPS)


# --- the outbox -------------------------------------------------------------------------------------------------


def _party(party: Party | None) -> ExchangedParty | None:
    if party is None:
        return None
    return ExchangedParty(id=party.id, name=party.name, country_code=party.country_code)


def export_record(declaration: Declaration, export_country: str) -> ExportRecord:
    """Our export declaration as the message's record (before the agreement's minimisation)."""
    transport = declaration.transport
    destination = None
    if declaration.importer is not None and declaration.importer.country_code:
        destination = declaration.importer.country_code
    elif transport is not None and transport.unloading_location:
        destination = transport.unloading_location[:2]
    return ExportRecord(
        functional_reference_id=declaration.functional_reference_id,
        acceptance_date=declaration.acceptance_date,
        ucr=matching.ucr_of(declaration),
        export_country_code=export_country,
        destination_country_code=destination,
        exporter=_party(declaration.exporter),
        consignee=_party(declaration.importer),
        transport=None
        if transport is None
        else ExchangedTransport(
            mode_code=transport.mode_code,
            id=transport.id,
            vessel_imo=transport.vessel_imo,
            loading_location=transport.loading_location,
            unloading_location=transport.unloading_location,
        ),
        container_ids=list(transport.container_ids) if transport else None,
        goods_items=[
            ExchangedGoodsItem(
                sequence_number=g.sequence_number,
                hs6=g.hs_code[:6],
                description=g.description,
                quantity=g.quantity,
                quantity_unit=g.quantity_unit,
                net_mass_kg=g.net_mass_kg,
                value_amount=g.customs_value_amount,
                value_currency=g.customs_value_currency,
                origin_country_code=g.origin_country_code,
            )
            for g in declaration.goods_items
        ],
    )


def _agreement(engine: Engine, code: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(exchange_agreements).where(exchange_agreements.c.partner_code == code)).first()
    if row is None or not row.active:
        raise AgreementError(
            f"there is no active agreement with {code}: nothing may be sent to it; set one with "
            "`opencustoms exchange agreements set`",
            field="partner_code",
        )
    return {"country_code": row.country_code, "fields": list(row.fields)}


def queue(
    engine: Engine,
    actor: Identity,
    key: Ed25519PrivateKey,
    partners: Mapping[str, Partner],
    partner_code: str,
    *,
    references: list[str] | None = None,
    since: dt.date | None = None,
    export_country: str | None = None,
) -> dict[str, Any]:
    """Sign and store in the outbox a message for each of our export declarations destined to the partner's country
    (``references``: those, whatever their destination; else every export accepted since ``since``) that is not
    queued for that partner yet. Nothing is sent here: :func:`deliver` sends."""
    actor.require(Permission.EXCHANGE_SEND)
    partner = _partner(partners, partner_code, "partner_code")
    agreement = _agreement(engine, partner.code)
    sender = actor.administration_code.upper()
    with engine.connect() as conn:
        registered = conn.execute(
            select(administrations.c.country_code).where(administrations.c.code == actor.administration_code)
        ).scalar()
        own_country = export_country or registered or sender[:2]
        query = select(declarations.c.id, declarations.c.functional_reference_id).where(
            declarations.c.type_code == "export"
        )
        if references:
            query = query.where(declarations.c.functional_reference_id.in_(references))
        elif since is not None:
            query = query.where(declarations.c.acceptance_date >= since)
        found = conn.execute(query).all()
        if references:
            missing = sorted(set(references) - {r.functional_reference_id for r in found})
            if missing:
                raise ExchangeNotFoundError(
                    f"no stored export declaration {', '.join(missing[:5])}", field="references"
                )
        done = set(
            conn.execute(
                select(exchange_outbox.c.reference).where(exchange_outbox.c.partner_code == partner.code)
            ).scalars()
        )
        ids = [r.id for r in found if r.functional_reference_id not in done]
        loaded = repository.load(conn, ids) if ids else []
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for declaration in loaded:
        full = export_record(declaration, own_country)
        if not references and full.destination_country_code != agreement["country_code"]:
            continue
        message = ExchangeMessage(
            message_id=str(uuid.uuid4()),
            sender=sender,
            receiver=partner.code,
            issued_at=now,
            record=minimise(full, agreement["fields"]),
        )
        token, digest = signing.sign_with_digest(message, key)
        rows.append(
            {
                "message_id": message.message_id,
                "partner_code": partner.code,
                "reference": declaration.functional_reference_id,
                "jws": token,
                "digest": digest,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": None,
                "created_at": now,
                "acknowledged_at": None,
            }
        )
    with engine.begin() as conn:
        if rows:
            conn.execute(insert(exchange_outbox), rows)
            record_many(conn, actor, "queue", "exchange_message", [r["message_id"] for r in rows])
    return {"partner_code": partner.code, "queued": len(rows), "already_queued": len(found) - len(ids)}


def _backoff(attempts: int, rng: random.Random) -> dt.timedelta:
    conf = matching.settings()["delivery"]
    seconds = min(float(conf["backoff_max_seconds"]), float(conf["backoff_base_seconds"]) * 2 ** (attempts - 1))
    return dt.timedelta(seconds=seconds * (1 + 0.2 * rng.random()))


def deliver(
    engine: Engine,
    actor: Identity,
    partners: Mapping[str, Partner],
    *,
    clients: Mapping[str, httpx.Client] | None = None,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """One round of the outbox: POST the due messages to each partner's ``/exchange/inbox/batch``,
    ``delivery.per_request`` at a time (one message at a time to ``/exchange/inbox`` for a partner whose API has no
    batch route: 404 or 405). An acknowledgement (whose message id and digest are the message's) marks it
    acknowledged; a refusal (4xx other than 408/429) marks it refused with the partner's reason; anything else
    (network error, 5xx) leaves it pending for a later attempt, after an exponential backoff. Each request's
    outcome is stored in one transaction. Messages are at-least-once: the receiver is idempotent on the id."""
    actor.require(Permission.EXCHANGE_SEND)
    now = now or utcnow()
    rng = rng or random.Random()
    conf = matching.settings()["delivery"]
    with engine.connect() as conn:
        due = conn.execute(
            select(exchange_outbox)
            .where(exchange_outbox.c.status == "pending", exchange_outbox.c.next_attempt_at <= now)
            .order_by(exchange_outbox.c.next_attempt_at, exchange_outbox.c.created_at)
            .limit(int(conf["batch"]))
        ).all()
    counts = {"acknowledged": 0, "refused": 0, "retry": 0}
    by_partner: dict[str, list[Any]] = {}
    for row in due:
        by_partner.setdefault(row.partner_code, []).append(row)
    per_request = max(1, int(conf["per_request"]))
    made: dict[str, httpx.Client] = {}
    try:
        for code, rows in by_partner.items():
            for start in range(0, len(rows), per_request):
                chunk = rows[start : start + per_request]
                outcomes = _post_batch(code, chunk, partners, clients, made)
                _settle(engine, actor, chunk, outcomes, now, rng)
                for outcome, _ in outcomes:
                    counts[outcome] += 1
    finally:
        for client in made.values():
            client.close()
    with engine.connect() as conn:
        pending, soonest = conn.execute(
            select(func.count(), func.min(exchange_outbox.c.next_attempt_at)).where(
                exchange_outbox.c.status == "pending"
            )
        ).one()
    return counts | {"pending": int(pending), "next_attempt_at": as_utc(soonest)}


Outcome = tuple[str, str | None]  # acknowledged | refused | retry, and the error


def _settle(
    engine: Engine, actor: Identity, rows: list[Any], outcomes: list[Outcome], now: dt.datetime, rng: random.Random
) -> None:
    """Store one request's outcomes: acknowledged in one statement, the others row by row; audited."""
    acknowledged = [
        row.message_id for row, (outcome, _) in zip(rows, outcomes, strict=True) if outcome == "acknowledged"
    ]
    audit = []
    with engine.begin() as conn:
        if acknowledged:
            conn.execute(
                update(exchange_outbox)
                .where(exchange_outbox.c.message_id.in_(acknowledged))
                .values(
                    status="acknowledged",
                    acknowledged_at=utcnow(),
                    attempts=exchange_outbox.c.attempts + 1,
                    last_error=None,
                )
            )
        for row, (outcome, error) in zip(rows, outcomes, strict=True):
            detail = {"partner": row.partner_code, "reference": row.reference}
            if outcome == "acknowledged":
                audit.append(audit_row(actor, "send", "exchange_message", row.message_id, detail=detail, at=now))
                continue
            attempts = int(row.attempts) + 1
            values: dict[str, Any] = {"attempts": attempts, "last_error": error}
            if outcome == "refused":
                values["status"] = "refused"
                audit.append(
                    audit_row(
                        actor,
                        "send_refused",
                        "exchange_message",
                        row.message_id,
                        detail=detail | {"error": error},
                        at=now,
                    )
                )
            else:
                values["next_attempt_at"] = now + _backoff(attempts, rng)
            conn.execute(update(exchange_outbox).where(exchange_outbox.c.message_id == row.message_id).values(**values))
        record_rows(conn, audit)


def _client(
    code: str,
    partners: Mapping[str, Partner],
    clients: Mapping[str, httpx.Client] | None,
    made: dict[str, httpx.Client],
) -> httpx.Client | None:
    client = (clients or {}).get(code) or made.get(code)
    if client is None:
        partner = partners.get(code)
        if partner is None or not partner.url:
            return None
        headers = {"Authorization": f"Bearer {partner.token}"} if partner.token else {}
        client = made[code] = httpx.Client(base_url=partner.url, headers=headers, timeout=30.0)
    return client


def _refusal(status: int, text: str) -> Outcome:
    if 400 <= status < 500 and status not in (408, 429):
        return "refused", f"{status}: {text[:500]}"
    return "retry", f"{status}: {text[:500]}"


def _acknowledges(answer: Any, row: Any) -> bool:
    return (
        isinstance(answer, dict) and answer.get("digest") == row.digest and answer.get("message_id") == row.message_id
    )


def _post_batch(
    code: str,
    rows: list[Any],
    partners: Mapping[str, Partner],
    clients: Mapping[str, httpx.Client] | None,
    made: dict[str, httpx.Client],
) -> list[Outcome]:
    client = _client(code, partners, clients, made)
    if client is None:
        return [("retry", f"partner {code} has no URL registered (`opencustoms ledger partner-add --url`)")] * len(rows)
    try:
        response = client.post("/exchange/inbox/batch", json={"messages": [row.jws for row in rows]})
    except httpx.HTTPError as exc:
        return [("retry", f"{exc.__class__.__name__}: {exc}"[:500])] * len(rows)
    if response.status_code in (404, 405):  # a partner whose API predates the batch route
        return [_post(row, client) for row in rows]
    if not 200 <= response.status_code < 300:
        return [_refusal(response.status_code, response.text)] * len(rows)
    try:
        results = response.json()["results"]
    except (ValueError, KeyError, TypeError):
        return [("retry", f"the partner answered {response.status_code} without its acknowledgements")] * len(rows)
    if not isinstance(results, list) or len(results) != len(rows):
        return [("retry", "the partner's acknowledgements do not answer each message")] * len(rows)
    outcomes: list[Outcome] = []
    for row, answer in zip(rows, results, strict=True):
        if _acknowledges(answer, row):
            outcomes.append(("acknowledged", None))
        elif isinstance(answer, dict) and answer.get("status") == "refused":
            status = answer.get("http_status")
            detail = f"{answer.get('field')}: {answer.get('detail')}"
            outcomes.append(_refusal(status if isinstance(status, int) else 500, detail))
        else:
            outcomes.append(("retry", "the partner's acknowledgement does not name this message and its digest"))
    return outcomes


def _post(row: Any, client: httpx.Client) -> Outcome:
    """One message to ``/exchange/inbox``."""
    try:
        response = client.post(
            "/exchange/inbox", content=row.jws.encode(), headers={"Content-Type": "application/jose"}
        )
    except httpx.HTTPError as exc:
        return "retry", f"{exc.__class__.__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        try:
            answer = response.json()
        except ValueError:
            return "retry", f"the partner answered {response.status_code} without a JSON acknowledgement"
        if _acknowledges(answer, row):
            return "acknowledged", None
        return "retry", "the partner's acknowledgement does not name this message and its digest"
    return _refusal(response.status_code, response.text)


def outbox(engine: Engine, actor: Identity, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    actor.require(Permission.EXCHANGE_SEND)
    query = select(exchange_outbox).order_by(exchange_outbox.c.created_at.desc()).limit(max(1, min(limit, 1000)))
    if status:
        query = query.where(exchange_outbox.c.status == status)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [{k: (as_utc(v) if isinstance(v, dt.datetime) else v) for k, v in r.items() if k != "jws"} for r in rows]


# --- the inbox --------------------------------------------------------------------------------------------------


def receive(
    engine: Engine,
    actor: Identity,
    partners: Mapping[str, Partner],
    own_code: str,
    token: str,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Verify and store one message a partner delivered; the acknowledgement to answer with. Refused (nothing
    stored but an audit entry): a caller that is not the administration the message claims, a sender that is no
    registered partner, a signature that does not verify with its registered key (forged or altered), a message
    to another administration, one issued outside the replay window, a message id already received with other
    content. The same message again is acknowledged again and not processed twice (``duplicate``)."""
    actor.require(Permission.EXCHANGE_DELIVER)
    now = now or utcnow()
    try:
        return _receive(engine, actor, partners, own_code.upper(), token, now)
    except OpenCustomsError as exc:
        with engine.begin() as conn:
            record(
                conn,
                actor,
                "refuse",
                "exchange_message",
                None,
                detail={"reason": exc.message[:300], "field": exc.field, "status": exc.status},
            )
        raise


def _check(
    actor: Identity, partners: Mapping[str, Partner], own: str, token: str, now: dt.datetime
) -> tuple[ExchangeMessage, str, dt.datetime]:
    """Everything about a delivered message that needs no database: the caller is its sender, a registered partner,
    whose key signed it; its shape; its receiver; its time of issue. The message, its digest and its time."""
    claimed = signing.peek(token)
    caller = actor.administration_code.upper()
    if claimed.sender is None or claimed.sender.upper() != caller:
        raise UnknownPartnerError(
            f"the message says it is from {claimed.sender!r} but the caller's token is {caller}'s: an "
            "administration delivers only its own messages",
            field="sender",
        )
    partner = _partner(partners, caller, "sender", caller=True)
    if claimed.kid is not None and claimed.kid != signing.key_id(partner.public_key):
        raise MessageRejectedError(
            f"the message is signed with key {claimed.kid}, not {caller}'s registered key "
            f"{signing.key_id(partner.public_key)}: ask the partner whether it rotated its key",
            field="kid",
        )
    message, digest = signing.verify(token, partner.public_key, peeked=True)
    if message.receiver != own:
        raise MessageRejectedError(
            f"the message is addressed to {message.receiver}, not to this administration ({own})", field="receiver"
        )
    replay = matching.settings()["replay"]
    issued = as_utc(message.issued_at) or message.issued_at
    if issued.tzinfo is None:
        raise MessageRejectedError("issued_at must carry a time zone", field="issued_at")
    if issued < now - dt.timedelta(days=int(replay["window_days"])) or issued > now + dt.timedelta(
        minutes=int(replay["clock_skew_minutes"])
    ):
        raise ReplayedMessageError(
            f"the message was issued at {issued.isoformat()}, outside the replay window ({replay['window_days']} "
            "days back, a few minutes ahead): refused as a replay",
            field="issued_at",
        )
    return message, digest, issued


Checked = tuple[ExchangeMessage, str, dt.datetime, str]  # message, digest, time of issue, the JWS as received


def _store(
    conn: Any, actor: Identity, checked: list[Checked], now: dt.datetime
) -> list[dict[str, Any] | OpenCustomsError]:
    """Store the verified messages not yet held (one statement), in the caller's transaction, with their audit
    entries; for each, its acknowledgement, or the refusal of an id already held with other content (which the
    caller audits)."""
    ids = [m.message_id for m, _, _, _ in checked]
    held: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), 1000):
        rows = conn.execute(
            select(exchange_inbox.c.message_id, exchange_inbox.c.digest, exchange_inbox.c.sender_code).where(
                exchange_inbox.c.message_id.in_(ids[start : start + 1000])
            )
        )
        held.update({r.message_id: (r.digest, r.sender_code) for r in rows})
    out: list[dict[str, Any] | OpenCustomsError] = []
    fresh: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    for message, digest, issued, token in checked:
        known = held.get(message.message_id)
        if known is not None:
            if known != (digest, message.sender):
                out.append(
                    ReplayedMessageError(
                        f"message {message.message_id} was already received with other content: refused",
                        field="message_id",
                    )
                )
                continue
            audit.append(audit_row(actor, "receive_again", "exchange_message", message.message_id, at=now))
            out.append({"message_id": message.message_id, "digest": digest, "status": "duplicate"})
            continue
        held[message.message_id] = (digest, message.sender)
        fresh.append(
            {
                "message_id": message.message_id,
                "sender_code": message.sender,
                "digest": digest,
                "jws": token.strip(),
                "issued_at": issued,
                "received_at": now,
                "reference": message.record.functional_reference_id,
                "ucr": message.record.ucr,
                "acceptance_date": message.record.acceptance_date,
                "record": message.record.model_dump(mode="json"),
                "match_status": "unmatched",
            }
        )
        audit.append(
            audit_row(
                actor,
                "receive",
                "exchange_message",
                message.message_id,
                detail={
                    "sender": message.sender,
                    "reference": message.record.functional_reference_id,
                    "digest": digest,
                },
                at=now,
            )
        )
        out.append({"message_id": message.message_id, "digest": digest, "status": "accepted"})
    if fresh:
        conn.execute(insert(exchange_inbox), fresh)
    record_rows(conn, audit)
    return out


def _receive(
    engine: Engine, actor: Identity, partners: Mapping[str, Partner], own: str, token: str, now: dt.datetime
) -> dict[str, Any]:
    message, digest, issued = _check(actor, partners, own, token, now)
    with engine.begin() as conn:
        [answer] = _store(conn, actor, [(message, digest, issued, token)], now)
    if isinstance(answer, OpenCustomsError):
        raise answer
    return answer


MAX_BATCH = 1000


def parse_batch(body: bytes) -> list[str]:
    """The messages of a batch delivery, ``{"messages": ["<compact JWS>", ...]}``: its nesting measured before any
    parser sees it, its shape checked; MessageRejectedError naming the field otherwise."""
    import json

    if too_deep(body, 3):
        raise MessageRejectedError(
            'a batch is {"messages": [<compact JWS>, ...]}: this body nests deeper', field="messages"
        )
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MessageRejectedError(f"the body is not JSON ({exc})", field="messages") from exc
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
        raise MessageRejectedError('a batch is {"messages": [<compact JWS>, ...]}', field="messages")
    return messages


def receive_batch(
    engine: Engine,
    actor: Identity,
    partners: Mapping[str, Partner],
    own_code: str,
    tokens: list[str],
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Several messages in one delivery (``POST /exchange/inbox/batch``), checked as :func:`receive` checks one and
    stored in one transaction. Each gets its own answer, in order: the acknowledgement, or ``refused`` with the
    HTTP status, field and reason that :func:`receive` would have answered; every refusal is audited."""
    actor.require(Permission.EXCHANGE_DELIVER)
    if len(tokens) > MAX_BATCH:
        raise MessageRejectedError(f"at most {MAX_BATCH} messages per batch", field="messages")
    now = now or utcnow()
    own = own_code.upper()
    answers: list[dict[str, Any] | OpenCustomsError | None] = []
    checked: list[Checked] = []
    refusals: list[dict[str, Any]] = []
    for token in tokens:
        try:
            message, digest, issued = _check(actor, partners, own, token, now)
        except OpenCustomsError as exc:
            answers.append(exc)
            refusals.append(
                audit_row(
                    actor,
                    "refuse",
                    "exchange_message",
                    None,
                    detail={"reason": exc.message[:300], "field": exc.field, "status": exc.status},
                    at=now,
                )
            )
            continue
        checked.append((message, digest, issued, token))
        answers.append(None)
    with engine.begin() as conn:
        done = _store(conn, actor, checked, now)
        for (message, _, _, _), answer in zip(checked, done, strict=True):
            if isinstance(answer, OpenCustomsError):
                refusals.append(
                    audit_row(
                        actor,
                        "refuse",
                        "exchange_message",
                        message.message_id,
                        detail={"reason": answer.message[:300], "field": answer.field, "status": answer.status},
                        at=now,
                    )
                )
        record_rows(conn, refusals)
    stored = iter(done)
    results: list[dict[str, Any]] = []
    for early in answers:
        answer = next(stored) if early is None else early
        if isinstance(answer, OpenCustomsError):
            results.append(
                {"status": "refused", "http_status": answer.status, "field": answer.field, "detail": answer.message}
            )
        else:
            results.append(answer)
    return {"results": results}


def inbox_counts(engine: Engine, actor: Identity) -> dict[str, int]:
    """How many received export records are matched, unmatched, and never declared here (no party is named)."""
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        rows = conn.execute(
            select(exchange_inbox.c.match_status, func.count()).group_by(exchange_inbox.c.match_status)
        ).all()
    counts = {"matched": 0, "unmatched": 0, "not_declared": 0}
    counts.update({str(status): int(n) for status, n in rows})
    return counts


def _mask_party(party: dict[str, Any] | None, pseudonymiser: Pseudonymiser) -> dict[str, Any] | None:
    if not party:
        return party
    masked = dict(party)
    if masked.get("id"):
        masked["id"] = pseudonymiser(str(masked["id"]))
    if masked.get("name"):
        masked["name"] = WITHHELD
    return masked


def inbox(
    engine: Engine,
    actor: Identity,
    pseudonymiser: Pseudonymiser,
    *,
    sender: str | None = None,
    match_status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Received export records, newest first. Exporters and consignees by name and identifier, and the UCR (which
    embeds the exporter's identifier in the WCO format), only for readers with personal_data:read (and that read is
    audited); others see keyed pseudonyms and ``[withheld]``."""
    actor.require(Permission.DECLARATIONS_READ)
    query = select(exchange_inbox).order_by(exchange_inbox.c.received_at.desc(), exchange_inbox.c.message_id)
    if sender:
        query = query.where(exchange_inbox.c.sender_code == sender.upper())
    if match_status:
        query = query.where(exchange_inbox.c.match_status == match_status)
    query = query.limit(max(1, min(limit, 1000))).offset(max(0, offset))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        matched = {
            r.message_id: r
            for r in conn.execute(
                select(exchange_matches).where(exchange_matches.c.message_id.in_([r["message_id"] for r in rows]))
            )
        }
    personal = actor.can(Permission.PERSONAL_DATA_READ)
    items = []
    for r in rows:
        rec = dict(r["record"])
        m = matched.get(r["message_id"])
        evidence = dict(m.evidence) if m is not None else {}
        if not personal:
            rec["exporter"] = _mask_party(rec.get("exporter"), pseudonymiser)
            rec["consignee"] = _mask_party(rec.get("consignee"), pseudonymiser)
            # a UCR (WCO format: year, country, exporter's id, reference) carries a trader's identifier
            if rec.get("ucr"):
                rec["ucr"] = pseudonymiser(str(rec["ucr"]))
            if evidence.get("ucr"):
                evidence["ucr"] = pseudonymiser(str(evidence["ucr"]))
        items.append(
            {
                "message_id": r["message_id"],
                "sender": r["sender_code"],
                "received_at": as_utc(r["received_at"]),
                "issued_at": as_utc(r["issued_at"]),
                "reference": r["reference"],
                "match_status": r["match_status"],
                "match": None
                if m is None
                else {
                    "declaration_reference": m.declaration_reference,
                    "method": m.method,
                    "confidence": m.confidence,
                    "evidence": evidence,
                    "discrepancies": m.discrepancies,
                },
                "record": rec,
            }
        )
    if personal and items:
        with engine.begin() as conn:
            record_many(conn, actor, "read", "exchange_message", [i["message_id"] for i in items])
    return {"items": items, "pseudonymised": not personal}


# --- matching and mirror discrepancies --------------------------------------------------------------------------


def _candidates(engine: Engine, records: list[ExportRecord]) -> list[Declaration]:
    ucrs = sorted({r.ucr for r in records if r.ucr})
    containers = sorted({c for r in records for c in (r.container_ids or ())})
    ids: set[int] = set()
    with engine.connect() as conn:
        imports = declarations.c.type_code == "import"
        for start in range(0, len(ucrs), 1000):
            ids.update(
                conn.execute(
                    select(additional_documents.c.declaration_id)
                    .join(declarations, declarations.c.id == additional_documents.c.declaration_id)
                    .where(
                        imports,
                        additional_documents.c.type_code == matching.UCR_DOCUMENT,
                        additional_documents.c.document_id.in_(ucrs[start : start + 1000]),
                    )
                ).scalars()
            )
        for start in range(0, len(containers), 1000):
            ids.update(
                conn.execute(
                    select(declaration_containers.c.declaration_id)
                    .join(declarations, declarations.c.id == declaration_containers.c.declaration_id)
                    .where(imports, declaration_containers.c.container_id.in_(containers[start : start + 1000]))
                ).scalars()
            )
        return repository.load(conn, sorted(ids)) if ids else []


def _not_declared(row: Any, rec: ExportRecord, now: dt.datetime, severity: Mapping[str, str]) -> list[signals.Signal]:
    """The finding "exported to us and never declared", on each container of the export (on the partner
    administration when the record names none)."""
    kind = matching.NOT_DECLARED
    evidence = {
        "partner": row["sender_code"],
        "export_reference": rec.functional_reference_id,
        "export_date": rec.acceptance_date.isoformat(),
        "window_days": int(matching.settings()["match"]["window_days"]),
        "hs6": ", ".join(sorted({g.hs6 for g in rec.goods_items})),
    }
    subjects = [(signals.SubjectType.CONTAINER, c) for c in rec.container_ids or ()] or [
        (signals.SubjectType.ADMINISTRATION, str(row["sender_code"]))
    ]
    return [
        signals.Signal(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"opencustoms-exchange:{row['message_id']}:{kind}:{subject}")),
            kind=kind,
            subject_type=subject_type,
            subject_id=subject,
            severity=signals.Severity(severity[kind]),
            source=SOURCE,
            reason=signals.describe(kind, evidence, "en", kind),
            evidence=evidence,
            observed_at=now,
        )
        for subject_type, subject in subjects
    ]


def run_matching(
    engine: Engine,
    actor: Identity,
    *,
    sender: str | None = None,
    limit: int = 10_000,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Match the unmatched received export records to our import declarations; store each match with its
    confidence and evidence, and emit each mirror discrepancy as an ``exchange.<kind>`` signal on the import
    declaration (read by the risk engine as a reason). A record still unmatched once the dates window after its
    export has passed is goods exported to us and never declared: it is marked ``not_declared`` and signalled on
    each of its containers (``exchange.export_not_declared``: a later declaration or scan of that container reads
    it). Signal ids derive from the message and the kind (and container): running it again emits nothing twice."""
    actor.require(Permission.RISK_MANAGE)
    query = select(exchange_inbox).where(exchange_inbox.c.match_status == "unmatched")
    if sender:
        query = query.where(exchange_inbox.c.sender_code == sender.upper())
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(exchange_inbox.c.received_at).limit(limit)).mappings().all()
    records = [(r, ExportRecord.model_validate(r["record"])) for r in rows]
    candidates = _candidates(engine, [rec for _, rec in records])
    by_ucr: dict[str, list[Declaration]] = {}
    by_container: dict[str, list[Declaration]] = {}
    for d in candidates:
        if (u := matching.ucr_of(d)) is not None:
            by_ucr.setdefault(u, []).append(d)
        for c in matching.containers_of(d):
            by_container.setdefault(c, []).append(d)
    severity = matching.settings()["severity"]
    now = utcnow()
    overdue_before = matching.window_start(today or now.date())
    not_declared: list[str] = []
    matched = 0
    emitted: list[signals.Signal] = []
    match_rows = []
    for row, rec in records:
        pool = {d.functional_reference_id: d for d in by_ucr.get(rec.ucr or "", [])}
        for c in rec.container_ids or ():
            pool.update({d.functional_reference_id: d for d in by_container.get(c, [])})
        found = matching.match(rec, list(pool.values()))
        if found is None:
            if rec.acceptance_date < overdue_before:
                not_declared.append(row["message_id"])
                emitted.extend(_not_declared(row, rec, now, severity))
            continue
        declaration = pool[found.reference]
        found_discrepancies = matching.discrepancies(rec, declaration, row["sender_code"])
        matched += 1
        match_rows.append(
            {
                "message_id": row["message_id"],
                "declaration_reference": found.reference,
                "method": found.method,
                "confidence": found.confidence,
                "evidence": found.evidence,
                "discrepancies": [{"kind": d.kind, "evidence": d.evidence} for d in found_discrepancies],
                "matched_at": now,
            }
        )
        for found_one in found_discrepancies:
            emitted.append(
                signals.Signal(
                    id=str(
                        uuid.uuid5(uuid.NAMESPACE_URL, f"opencustoms-exchange:{row['message_id']}:{found_one.kind}")
                    ),
                    kind=found_one.kind,
                    subject_type=signals.SubjectType.DECLARATION,
                    subject_id=found.reference,
                    severity=signals.Severity(severity[found_one.kind]),
                    source=SOURCE,
                    reason=signals.describe(found_one.kind, found_one.evidence, "en", found_one.kind),
                    evidence=found_one.evidence | {"method": found.method, "confidence": found.confidence},
                    observed_at=now,
                )
            )
    with engine.begin() as conn:
        if match_rows:
            conn.execute(insert(exchange_matches), match_rows)
            conn.execute(
                update(exchange_inbox)
                .where(exchange_inbox.c.message_id.in_([m["message_id"] for m in match_rows]))
                .values(match_status="matched")
            )
        if not_declared:
            conn.execute(
                update(exchange_inbox)
                .where(exchange_inbox.c.message_id.in_(not_declared))
                .values(match_status="not_declared")
            )
        new_signals = signals.emit(conn, emitted)
        record(
            conn,
            actor,
            "match",
            "exchange_inbox",
            sender,
            detail={
                "examined": len(records),
                "matched": matched,
                "not_declared": len(not_declared),
                "signals": new_signals,
            },
        )
    by_kind: dict[str, int] = {}
    for s in emitted:
        if s.kind != matching.NOT_DECLARED:
            by_kind[s.kind] = by_kind.get(s.kind, 0) + 1
    return {
        "examined": len(records),
        "matched": matched,
        "by_method": {m: sum(1 for r in match_rows if r["method"] == m) for m in ("ucr", "container")},
        "unmatched": len(records) - matched,
        "not_declared": len(not_declared),
        "signals": new_signals,
        "discrepancies": by_kind,
        "names_compared": False,  # no fuzzy name matcher (rapidfuzz) in the project's dependencies yet
    }


# --- aggregate mirror statistics -------------------------------------------------------------------------------


def _country_of(conn: Any, code: str) -> str:
    found = conn.execute(select(administrations.c.country_code).where(administrations.c.code == code.upper())).scalar()
    return str(found or code[:2]).upper()


def mirror_statistics(
    engine: Engine,
    actor: Identity,
    partner_code: str,
    *,
    comtrade: Path | IO[str] | None = None,
    annual: bool = False,
    top: int = 50,
) -> dict[str, Any]:
    """Our imports from the partner's country against the partner's exports to us, by HS6 and month (``annual``:
    year), ranked by the value at stake. The partner's side: the export records it sent us, or ``comtrade``, a
    UN Comtrade CSV (its exports to our country) for a partner that does not exchange declarations. Our imports
    from the partner's country: the declarations whose exporter is in that country, or whose goods left from it.
    Aggregates only: no party is named."""
    actor.require(Permission.RISK_MANAGE)
    code = partner_code.upper()
    exporters = declaration_parties.alias("exporters")
    with engine.connect() as conn:
        partner_country = _country_of(conn, code)
        own_country = _country_of(conn, actor.administration_code)
        imported = conn.execute(
            select(
                goods_items.c.hs_code,
                declarations.c.acceptance_date,
                goods_items.c.customs_value_currency,
                goods_items.c.customs_value_amount,
                goods_items.c.net_mass_kg,
            )
            .select_from(
                goods_items.join(declarations, declarations.c.id == goods_items.c.declaration_id).outerjoin(
                    exporters,
                    and_(exporters.c.declaration_id == declarations.c.id, exporters.c.role == "exporter"),
                )
            )
            .where(
                declarations.c.type_code == "import",
                or_(
                    declarations.c.departure_country_code == partner_country,
                    exporters.c.country_code == partner_country,
                ),
            )
        )
        imports = mirror.add_rows(
            mirror.Side(),
            ((h[:6], d.strftime("%Y-%m"), c, float(v), m) for h, d, c, v, m in imported),
        )
        if comtrade is None:
            exports = mirror.Side()
            for (raw,) in conn.execute(select(exchange_inbox.c.record).where(exchange_inbox.c.sender_code == code)):
                rec = ExportRecord.model_validate(raw)
                for g in rec.goods_items:
                    if g.value_amount is not None and g.value_currency:
                        exports.add(
                            g.hs6,
                            rec.acceptance_date.strftime("%Y-%m"),
                            g.value_currency,
                            float(g.value_amount),
                            g.net_mass_kg,
                        )
    if comtrade is not None:
        exports = mirror.read_comtrade(comtrade, partner_country, own_country)
    return {
        "partner": code,
        "partner_country": partner_country,
        "source": "comtrade" if comtrade is not None else "inbox",
        "period": "year" if annual else "month",
        "band": [
            float(matching.settings()["value"]["cif_fob_low"]),
            float(matching.settings()["value"]["cif_fob_high"]),
        ],
        "rows": mirror.compare(exports, imports, annual=annual, top=max(1, min(top, 1000))),
    }
