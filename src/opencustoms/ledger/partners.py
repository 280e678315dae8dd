"""Replicating partners' logs over HTTP, and catching a partner that rewrites or splits its history.

``pull`` asks a partner for its latest checkpoint, verifies the signature with the partner's key, asks for a
consistency proof from the last checkpoint this node holds, verifies it, fetches the new entries, checks every
officer signature and key certificate and that the entries rebuild exactly the checkpoint's root, then stores them
in one transaction with the checkpoint — cosigned by this node (witnessing). Anything that does not verify is
refused: nothing is written, an alarm is stored, audited and emitted as a critical signal.

Witnessing: every node serves the checkpoints it verified (``GET /ledger/witness``). After a pull, this node asks
its other partners which checkpoint of the same log they hold; a checkpoint that the log signed but that does not
lie on the history this node verified is a split view, and raises an alarm.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, Any, TypeVar

import httpx
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine, select

from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import ingest, logstore, merkle
from opencustoms.ledger.entries import EntryKind, SignedEntry
from opencustoms.ledger.errors import (
    CheckpointError,
    ConcurrentPullError,
    ForkError,
    LedgerError,
    PartnerError,
    ProofError,
)
from opencustoms.ledger.ingest import PARTNER
from opencustoms.ledger.keys import KeyStore, key_id
from opencustoms.ledger.logs import Log, check_entries, create_log, latest_note, own_log, raise_alarm
from opencustoms.ledger.logs import get_log as _log
from opencustoms.ledger.tables import ledger_checkpoints, ledger_logs
from opencustoms.ledger.verify import Failure, Opened
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record, utcnow

PAGE = 5000
KEY_CERTIFIED = EntryKind.KEY_CERTIFIED.value


def _secret_name(code: str) -> str:
    return f"partner-{code.upper()}"


def add_partner(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    verifier_key: str,
    url: str | None,
    administration_code: str,
    token: str | None = None,
) -> dict[str, Any]:
    """Register a partner's log by its verifier key (from `opencustoms ledger key` on the partner's node), the URL
    of its API and the token it issued to us (kept in the key store, never in the database)."""
    actor.require(Permission.USERS_MANAGE)
    origin, public = notes.parse_verifier_key(verifier_key)
    if not re.fullmatch(r"[A-Za-z]{2,8}", administration_code):
        raise LedgerError(
            f"administration code {administration_code!r} must be 2 to 8 letters (an ISO country code such as AR)",
            field="administration_code",
        )
    if len(origin) > 128:
        raise LedgerError("the log name in the verifier key is longer than 128 characters", field="verifier_key")
    if url is not None and not url.startswith(("http://", "https://")):
        raise LedgerError(f"partner URL {url!r} must start with http:// or https://", field="url")
    now = utcnow()
    with engine.begin() as conn:
        if conn.execute(select(ledger_logs.c.id).where(ledger_logs.c.origin == origin)).first():
            raise LedgerError(f"log {origin} is already known on this node", field="verifier_key")
        create_log(conn, origin, administration_code, PARTNER, public, url.rstrip("/") if url else None, now)
        record(conn, actor, "create", "ledger_partner", origin, detail={"url": url, "key_id": key_id(public)})
    if token:
        keystore.save_secret(_secret_name(administration_code), token)
    return {"origin": origin, "url": url, "administration_code": administration_code.upper()}


def _client(log: Log, keystore: KeyStore, clients: dict[str, httpx.Client] | None) -> httpx.Client:
    if clients and log.origin in clients:
        return clients[log.origin]
    if not log.url:
        raise PartnerError(
            f"partner {log.origin} has no URL; set it with `opencustoms ledger partner-add`", field="url"
        )
    token = keystore.secret(_secret_name(log.administration_code))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=log.url, headers=headers, timeout=30.0)


Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class CheckpointReply(BaseModel):
    checkpoint: Annotated[str, Field(max_length=20_000)]


class ProofReply(BaseModel):
    proof: Annotated[list[Hash], Field(max_length=128)]


class ServedEntry(SignedEntry):
    index: int


class EntriesReply(BaseModel):
    entries: list[ServedEntry]


Reply = TypeVar("Reply", bound=BaseModel)


def _get(client: httpx.Client, partner: str, path: str, shape: type[Reply], **params: Any) -> Reply:
    """GET a partner's endpoint and check the reply's shape: nothing a partner sends is used unchecked."""
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise PartnerError(
            f"partner {partner} is unreachable ({exc.__class__.__name__}: {exc}); try again later"
        ) from exc
    if response.status_code != 200:
        detail = response.text[:300]
        raise PartnerError(
            f"partner {partner} answered {response.status_code} to {path}: {detail}; check its URL and the token it "
            "issued to this node (`opencustoms ledger partner-add`)",
            answered=response.status_code,
        )
    try:
        return shape.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PartnerError(
            f"partner {partner} answered {path} with something unusable ({where}: {first['msg']}); nothing was "
            "stored: ask its operator to check its version of OpenCustoms",
            answered=response.status_code,
        ) from exc


def _proof(client: httpx.Client, partner: str, first: int, second: int) -> list[bytes]:
    reply = _get(client, partner, "/ledger/consistency", ProofReply, first=first, second=second)
    return [bytes.fromhex(p) for p in reply.proof]


def _held(engine: Engine, log: Log) -> notes.Checkpoint | None:
    with engine.connect() as conn:
        note = latest_note(conn, log.id)
    return notes.open_checkpoint(note, log.origin, log.public_key) if note else None


def pull(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    origin: str,
    *,
    clients: dict[str, httpx.Client] | None = None,
    witness: bool = True,
) -> dict[str, Any]:
    """Bring this node's replica of ``origin`` up to the partner's latest checkpoint, verifying everything."""
    actor.require(Permission.LEDGER_WRITE)
    with engine.connect() as conn:
        log = _log(conn, origin)
    if log.role != PARTNER:
        raise LedgerError(f"{origin} is this node's own log; pull a partner's log", field="origin")
    client = _client(log, keystore, clients)
    try:
        return _pull(engine, actor, keystore, log, client, clients, witness)
    finally:
        if not (clients and origin in clients):
            client.close()  # one made for this pull (the periodic poller makes one per partner per round)


def _pull(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    log: Log,
    client: httpx.Client,
    clients: dict[str, httpx.Client] | None,
    witness: bool,
) -> dict[str, Any]:
    origin = log.origin
    offered_note = _get(client, origin, "/ledger/checkpoint", CheckpointReply).checkpoint
    try:
        offered = notes.open_checkpoint(offered_note, log.origin, log.public_key)
    except CheckpointError as exc:
        raise_alarm(engine, actor, origin, "bad_signature", exc.message, offered=offered_note)
        raise
    held = _held(engine, log)
    report: dict[str, Any] = {"origin": origin, "from": log.size, "to": log.size, "new_entries": 0, "alarms": []}
    if held is not None and offered.size <= held.size:
        with engine.connect() as conn:
            ours = logstore.root_at(conn, log.id, offered.size)
        if ours != offered.root:
            reason = (
                f"checkpoint of size {offered.size} has root {offered.root.hex()[:16]}..., but the history "
                f"this node verified has {ours.hex()[:16]}... at that size: the partner rewrote its log"
            )
            raise_alarm(engine, actor, origin, "fork", reason, held=held.note, offered=offered.note)
            raise ForkError(reason + "; the update was refused")
        if offered.size < held.size:
            reason = (
                f"the partner offered checkpoint {offered.size}, older than the {held.size} this node holds: a "
                "replayed checkpoint (a partner hiding its newer entries, or a stale mirror)"
            )
            raise_alarm(engine, actor, origin, "replay", reason, held=held.note, offered=offered.note)
            raise CheckpointError(
                f"the partner offered checkpoint {offered.size}, older than the {held.size} this "
                "node holds (a replayed checkpoint); it was ignored",
                field="checkpoint",
            )
    else:
        first = held.size if held else 0
        if held is not None and held.size > 0:  # from the empty tree there is nothing to prove (RFC 9162 2.1.4):
            proof = _proof(client, origin, first, offered.size)  # the entries below must rebuild the root
            try:
                merkle.verify_consistency(first, offered.size, proof, held.root, offered.root)
            except ProofError as exc:
                reason = (
                    f"checkpoint {offered.size} does not extend the checkpoint {first} this node holds "
                    f"({exc.message}): a fork or a rewritten history"
                )
                raise_alarm(engine, actor, origin, "fork", reason, held=held.note, offered=offered.note)
                raise ForkError(reason + "; the update was refused") from exc
        pages = _checked_pages(engine, client, origin, first, offered.size)
        try:
            _store(engine, actor, keystore, log, first, pages, offered)
        except (ConcurrentPullError, PartnerError):
            raise  # not the partner's fault: no alarm
        except OpenCustomsError as exc:
            raise_alarm(
                engine, actor, origin, "bad_entry", exc.message, held=held.note if held else None, offered=offered.note
            )
            raise
        finally:
            pages.close()  # stops the fetching and checking threads of a pull that failed
        report.update(to=offered.size, new_entries=offered.size - first)
    if witness:
        report["alarms"] = _compare_witnesses(engine, actor, keystore, log, clients)
    return report


FOLLOW_WAIT_S = 20.0  # how long one long poll of a partner's checkpoint stays open


def follow(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    origin: str,
    stop: threading.Event,
    *,
    wait: float = FOLLOW_WAIT_S,
    on_error: Callable[[str, OpenCustomsError], None] | None = None,
    clients: dict[str, httpx.Client] | None = None,
) -> None:
    """Keep this node's replica of ``origin`` current until ``stop`` is set: long-poll the partner's checkpoint
    (``GET /ledger/checkpoint?after=<size held>&wait=``) and pull as soon as its log grows, so a change is seen
    within one pull of its commit rather than at the next poll. Each pull checks everything :func:`pull` checks
    (alarms included); witnessing stays with the periodic :func:`pull_all`. A failure (partner down, an update
    refused, no URL yet) goes to ``on_error`` and is retried after a pause. The partner's URL and token are read
    again each round, and a new connection made when either changed."""
    actor.require(Permission.LEDGER_WRITE)
    client: httpx.Client | None = None
    using: tuple[str | None, str | None] | None = None  # the (URL, token) ``client`` was made with
    told = False
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                # the partner's URL and the token it gave us are read again every round: an operator who replaces
                # either (`partner-add`, the secret file, the restore runbook) is followed without a restart
                with engine.connect() as conn:
                    log = _log(conn, origin)
                settings = (log.url, keystore.secret(_secret_name(log.administration_code)))
                if client is None or settings != using:
                    if client is not None and not clients:
                        client.close()
                    client, using = None, settings
                    client = _client(log, keystore, clients)
                held = _held(engine, log)
                offered = _get(
                    client, origin, "/ledger/checkpoint", CheckpointReply, after=held.size if held else 0, wait=wait
                )
                if held is None or offered.checkpoint != held.note:
                    pull(engine, actor, keystore, origin, clients={origin: client}, witness=False)
                elif time.monotonic() - started < wait / 2:
                    stop.wait(1.0)  # a partner that does not hold long polls: do not spin
                told = False
            except OpenCustomsError as exc:
                # a partner without a URL is told once (it may be given one later); every other failure each time
                if on_error is not None and not (client is None and told):
                    on_error(origin, exc)
                told = client is None
                stop.wait(1.0)
    finally:
        if client is not None and not clients:
            client.close()


def pull_all(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    origins: list[str] | None = None,
    *,
    clients: dict[str, httpx.Client] | None = None,
) -> list[dict[str, Any]]:
    """Pull every partner log (or those named). A partner that fails is reported with its error and the others
    are still pulled."""
    actor.require(Permission.LEDGER_WRITE)
    if origins is None:
        with engine.connect() as conn:
            origins = list(
                conn.execute(
                    select(ledger_logs.c.origin).where(ledger_logs.c.role == PARTNER).order_by(ledger_logs.c.id)
                ).scalars()
            )
    out: list[dict[str, Any]] = []
    for origin in origins:
        try:
            out.append(pull(engine, actor, keystore, origin, clients=clients))
        except OpenCustomsError as exc:
            out.append({"origin": origin, "error": exc.message})
    return out


def _fetch_page(client: httpx.Client, partner: str, at: int, end: int, origin: str | None = None) -> list[SignedEntry]:
    """Entries [at, end) of a log as ``partner`` serves it — its own log, or its copy of ``origin``'s (a restore asks
    a partner for our own log) — in as many requests as the partner's page size needs, each checked to continue
    exactly where the previous one ended."""
    out: list[SignedEntry] = []
    which = {"origin": origin} if origin is not None else {}
    while at + len(out) < end:
        first = at + len(out)
        page = _get(client, partner, "/ledger/entries", EntriesReply, start=first, end=end, **which).entries
        if not page:
            of = f" of {origin}" if origin is not None else ""
            raise PartnerError(f"partner {partner} served no entries{of} from {first} although it holds {end}")
        for i, item in enumerate(page):
            if item.index != first + i:
                raise PartnerError(
                    f"partner {partner} served entry {item.index} where entry {first + i} was expected; nothing was "
                    "stored"
                )
        out.extend(page)  # a ServedEntry is a SignedEntry (plus its index), checked as one
    return out[: end - at]


def _pages(start: int, end: int) -> list[tuple[int, int]]:
    return [(at, min(end, at + PAGE)) for at in range(start, end, PAGE)]


def _fetch(client: httpx.Client, partner: str, start: int, end: int, origin: str | None = None) -> list[SignedEntry]:
    """Every entry of [start, end), page after page (what a pull fetches, without checking or storing it); ``origin``
    as in :func:`_fetch_page`."""
    return [e for at, stop in _pages(start, end) for e in _fetch_page(client, partner, at, stop, origin)]


def _checked_pages(
    engine: Engine, client: httpx.Client, origin: str, start: int, end: int
) -> Generator[tuple[int, list[SignedEntry], list[Opened | Failure]], None, None]:
    """Pages of [start, end), each with its stateless checks, in a pipeline: while the caller stores page n, page
    n+1 is checked (signatures on the verification threads) and page n+2 is fetched, each on a thread of its own
    (the network, libsodium and SQLite release the interpreter lock)."""
    bounds = _pages(start, end)
    if not bounds:
        return
    introduced: dict[str, bytes] = {}  # officer keys certified by the pages checked so far

    def done(n: int) -> list[Opened | Failure]:
        opened = checks[n].result()
        introduced.update(
            (o.key_id, base64.b64decode(o.key_public))
            for o in opened
            if isinstance(o, Opened) and o.kind == KEY_CERTIFIED and o.key_id and o.key_public
        )
        return opened

    with ThreadPoolExecutor(2, thread_name_prefix="ledger-pull") as pool:
        fetches = [pool.submit(_fetch_page, client, origin, *bounds[0])]
        checks: list[Future[list[Opened | Failure]]] = []
        pages: list[list[SignedEntry]] = []
        try:
            for n in range(len(bounds)):
                page = fetches[n].result()
                if n + 1 < len(bounds):
                    fetches.append(pool.submit(_fetch_page, client, origin, *bounds[n + 1]))
                pages.append(page)
                previous = done(n - 1) if n >= 1 else None  # its keys serve the next page's signatures
                checks.append(pool.submit(check_entries, engine, page, dict(introduced)))
                if previous is not None:
                    yield bounds[n - 1][0], pages[n - 1], previous
                    pages[n - 1] = []
            yield bounds[-1][0], pages[-1], done(len(bounds) - 1)
        finally:
            for fetch in fetches:
                fetch.cancel()
            for check in checks:
                check.cancel()


def _store(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    log: Log,
    first: int,
    pages: Iterable[tuple[int, list[SignedEntry], list[Opened | Failure]]],
    offered: notes.Checkpoint,
) -> None:
    """Check the fetched pages like appends (signatures on the verification threads, then keys and status rules
    in order), write each page as it comes, check that the entries rebuild the offered checkpoint, and commit
    entries and checkpoint, cosigned, in one transaction: a pull that fails anywhere leaves nothing behind."""
    now = utcnow()
    me = own_log(engine)
    cosigned = notes.cosign(offered.note, me.origin, keystore.administration_key())
    root_hex = offered.root.hex()
    with engine.begin() as conn:
        size = logstore.lock(conn, log.id)
        if size != first:
            raise ConcurrentPullError(
                f"another pull of {log.origin} stored entries meanwhile (the replica has {size}, this pull started "
                f"at {first}); nothing was written by this one: pull again"
            )
        state = ingest.LogState(conn, ingest.LogRef(log.id, log.origin, PARTNER), size)
        tree = None
        count = 0
        for at, page, opened in pages:
            state.preload(conn, [opened])
            try:
                plan = state.plan(page, opened)
            except OpenCustomsError as exc:
                exc.message = f"in the page from index {at}, {exc.message}"
                exc.args = (exc.message,)
                raise
            state.accept(plan)
            tree = ingest.write(conn, state, [plan], now)
            for info in plan.infos:  # the signals cite the checkpoint being verified (all is undone if it fails)
                info["tree_size"], info["root"] = offered.size, root_hex
            ingest.emit_signals(conn, log.origin, plan.infos, now)
            count += len(page)
        if tree is None:  # no entries fetched: the partner's log is empty (its checkpoint of size 0)
            tree = logstore.frontier(conn, log.id, first)
        if tree.root() != offered.root or tree.size != offered.size:
            raise ProofError(
                f"the entries served by {log.origin} do not rebuild the root of its checkpoint "
                f"{offered.size}: they were altered",
                field="entries",
            )
        conn.execute(
            ledger_checkpoints.insert().values(
                log_id=log.id, size=offered.size, root=offered.root, note=cosigned, source="pulled", observed_at=now
            )
        )
        record(
            conn,
            actor,
            "pull",
            "ledger_log",
            log.origin,
            detail={"first": first, "count": count, "size": offered.size},
        )


def _compare_witnesses(
    engine: Engine, actor: Identity, keystore: KeyStore, log: Log, clients: dict[str, httpx.Client] | None
) -> list[str]:
    """Ask every other partner which checkpoint of ``log`` it verified; alarm on one off our history."""
    with engine.connect() as conn:
        others = [
            _log(conn, o)
            for o in conn.execute(
                select(ledger_logs.c.origin).where(ledger_logs.c.role == PARTNER, ledger_logs.c.origin != log.origin)
            ).scalars()
        ]
        log = _log(conn, log.origin)
    held = _held(engine, log)
    found = []
    for other in others:
        try:
            client = _client(other, keystore, clients)
            note = _get(client, other.origin, "/ledger/witness", CheckpointReply, origin=log.origin).checkpoint
            seen = notes.open_checkpoint(note, log.origin, log.public_key, {other.origin: other.public_key})
        except (PartnerError, CheckpointError):
            continue  # a witness that is down or does not know the log proves nothing either way
        if other.origin not in seen.cosigners or held is None:
            continue
        if held.size == 0 and seen.size > 0:
            continue  # every history extends the empty tree: nothing to compare until this node holds entries
        consistent = True
        if seen.size <= held.size:
            with engine.connect() as conn:
                consistent = logstore.root_at(conn, log.id, seen.size) == seen.root
        else:
            try:
                proof = _proof(_client(log, keystore, clients), log.origin, held.size, seen.size)
                merkle.verify_consistency(held.size, seen.size, proof, held.root, seen.root)
            except ProofError:
                consistent = False  # the log's own proof does not join the two checkpoints
            except PartnerError as exc:
                if exc.answered != ProofError.status:
                    # the log could not be asked (down, restarting, overloaded, our token refused): no evidence
                    # either way, and the next round asks again
                    continue
                consistent = False  # the log refuses a proof up to a size it signed: it shows us a shorter history
        if not consistent:
            reason = (
                f"{other.origin} holds checkpoint {seen.size} of {log.origin} "
                f"(root {base64.b64encode(seen.root).decode()[:12]}...), which is not on the history this "
                "node verified: the log shows different histories to different partners (split view)"
            )
            raise_alarm(
                engine,
                actor,
                log.origin,
                "split_view",
                reason,
                reported_by=other.origin,
                held=held.note,
                offered=seen.note,
            )
            found.append(reason)
    return found
