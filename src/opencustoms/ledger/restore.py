"""Rebuilding this node's own log from a partner's copy, after the database was lost but the key store was kept.

Every partner that replicates our log holds all its leaves (and the content of every entry it was allowed to
see) and the latest checkpoint of it that it verified. ``restore_from_partner``:

1. asks the named partner for the latest checkpoint of our log it holds, and every registered partner (their
   witness endpoint) for theirs; each must carry a valid signature of our administration key (from the key
   store) — anything else is refused;
2. takes the largest of these checkpoints as the target: if another partner holds a newer one than the named
   partner, the restore stops and names it (restoring less would make our next append a fork);
3. fetches the entries ``[0, target)`` from the named partner, and the content of the restricted entries it was not
   allowed to see from the other partners (each body checked against the leaf's commitment);
4. checks them as a partner's pull does — every signature, every key certified and not revoked at its index, the
   status rules — and that they rebuild exactly the target checkpoint's root, and that every checkpoint the
   partners offered lies on that history; then writes the log, its tree, certificates, the checkpoint and the AEO
   signals in one transaction, audited. Anything that does not verify: nothing written, an alarm about the partner
   that served it.

Restricted entries whose content no partner had are restored as their leaves only (commitment, signer, signature:
they still verify and still count in the tree), "content unavailable": their certificates are absent from status
queries and cannot be changed here until the content is recovered. Appending then resumes at the right index, and
partners accept the continued log (it extends the checkpoint they hold).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import Engine, select

from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import checkpoint as notes
from opencustoms.ledger import ingest, logstore
from opencustoms.ledger.anchor import log_signed_note
from opencustoms.ledger.entries import EntryKind, SignedEntry
from opencustoms.ledger.errors import AdministrationKeyMissingError, CheckpointError, PartnerError, RestoreError
from opencustoms.ledger.ingest import OWN, PARTNER
from opencustoms.ledger.keys import KeyStore
from opencustoms.ledger.logs import Log, check_entries, create_log, default_origin, get_log, raise_alarm
from opencustoms.ledger.partners import CheckpointReply, _client, _fetch, _fetch_page, _get, _pages
from opencustoms.ledger.tables import ledger_checkpoints, ledger_logs
from opencustoms.progress import Progress, or_none
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record, utcnow


class _BadCopy(RestoreError):
    """The partner's copy does not rebuild our signed checkpoint (raised inside the transaction, alarmed after)."""


def _partners(engine: Engine) -> list[Log]:
    with engine.connect() as conn:
        origins = conn.execute(
            select(ledger_logs.c.origin).where(ledger_logs.c.role == PARTNER).order_by(ledger_logs.c.id)
        ).scalars()
        return [get_log(conn, o) for o in origins]


def _source(partners: list[Log], partner: str) -> Log:
    for log in partners:
        if partner.upper() == log.administration_code or partner == log.origin:
            return log
    raise RestoreError(
        f"partner {partner!r} is not registered on this node; register it first with `opencustoms ledger "
        "partner-add '<its verifier key>' --administration CODE --url ... --token ...` (the token it gave this node "
        "is still in the key store if the key store was kept)",
        field="partner",
    )


def _ranges(indices: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in indices:
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _same_leaf(a: SignedEntry, b: SignedEntry) -> bool:
    return (a.commitment, a.key_id, a.restricted, a.signature) == (b.commitment, b.key_id, b.restricted, b.signature)


def _opens(entry: SignedEntry) -> bool:
    try:
        entry.open()
    except (OpenCustomsError, ValueError):
        return False
    return True


def _without_orphans(entries: list[SignedEntry]) -> int:
    """Withhold the content of status changes and amendments whose certificate's issue has no content here (the
    content came from a partner in a later audience): the status rules cannot be checked on them, so they are
    restored as leaves only, like the entries before them. Returns how many."""
    issued: set[str] = set()
    dropped = 0
    for i, entry in enumerate(entries):
        if entry.body is None:
            continue
        body = json.loads(entry.body)
        kind = body.get("kind")
        number = body.get("certificate_number") or (body.get("certificate") or {}).get("certificate_number")
        if kind == EntryKind.ISSUED.value:
            issued.add(str(number))
        elif kind not in (EntryKind.KEY_CERTIFIED.value, EntryKind.KEY_REVOKED.value) and number not in issued:
            entries[i] = entry.redacted()
            dropped += 1
    return dropped


def restore_from_partner(
    engine: Engine,
    actor: Identity,
    keystore: KeyStore,
    partner: str,
    *,
    origin: str | None = None,
    clients: dict[str, httpx.Client] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Rebuild this node's own log from ``partner``'s copy (its administration code or log origin), checked against
    the administration key in ``keystore``. The node's own log must be absent or empty. See the module's doc.
    ``progress`` hears the phases: checkpoints (partners asked), fetching, restricted content, checking, writing
    (entries)."""
    actor.require(Permission.USERS_MANAGE)
    progress = or_none(progress)
    try:
        admin = keystore.administration_key()
    except AdministrationKeyMissingError as exc:
        raise RestoreError(
            f"this node has no administration key ({keystore.root / 'administration' / 'log.key'}): a restore "
            "rebuilds the log that key signed, so put the key store back from its backup first and run the restore "
            "again; if this node never had a log there is nothing to restore: create it with `opencustoms ledger "
            "init` first"
        ) from exc
    public = notes.public_bytes(admin)
    with engine.connect() as conn:
        existing = conn.execute(select(ledger_logs.c.origin).where(ledger_logs.c.role == OWN)).scalar()
        own = get_log(conn, existing) if existing else None
    if own is not None:
        if own.size:
            raise RestoreError(
                f"this node's log {own.origin} already holds {own.size} entries; a restore only fills an empty log "
                "(after losing the database). Check it with `opencustoms ledger verify` instead",
                field="origin",
            )
        if own.public_key != public:
            raise RestoreError(
                f"this node's log {own.origin} was created with another administration key than the one in the key "
                "store; restore the key store from its backup",
                field="origin",
            )
        if origin and origin != own.origin:
            raise RestoreError(f"this node's log is {own.origin}, not {origin}", field="origin")
        origin = own.origin
    origin = origin or default_origin(actor.administration_code)
    notes.verifier_key(origin, public)  # validates the name
    partners = _partners(engine)
    source = _source(partners, partner)
    client = _client(source, keystore, clients)

    # 1-2. the checkpoints of our log that partners hold, each signed by our key; the largest is the target
    progress.phase("asking partners for their checkpoints", 1 + len(partners))
    note = _get(client, source.origin, "/ledger/checkpoint", CheckpointReply, origin=origin).checkpoint
    try:
        offered = notes.open_checkpoint(note, origin, public)
    except CheckpointError as exc:
        raise_alarm(engine, actor, source.origin, "bad_copy", f"served a checkpoint of {origin}: {exc.message}")
        raise RestoreError(
            f"partner {source.origin} served a checkpoint of {origin} that our administration key did not sign "
            f"({exc.message}); nothing was restored",
            field="partner",
        ) from exc
    if offered.size == 0:
        raise RestoreError(f"partner {source.origin} holds no entry of {origin}; nothing to restore", field="partner")
    seen: dict[str, notes.Checkpoint] = {source.origin: offered}
    witnesses: dict[str, Any] = {}
    progress.advance(1)
    for other in partners:
        progress.advance(1)
        try:
            reply = _get(
                _client(other, keystore, clients), other.origin, "/ledger/witness", CheckpointReply, origin=origin
            )
            cp = notes.open_checkpoint(reply.checkpoint, origin, public, {other.origin: other.public_key})
        except (PartnerError, CheckpointError) as exc:
            witnesses[other.origin] = f"no usable checkpoint ({exc.message[:200]})"
            continue
        witnesses[other.origin] = cp.size
        if other.origin != source.origin or cp.size > offered.size:
            seen[other.origin] = cp
    newest_origin, target = max(seen.items(), key=lambda kv: kv[1].size)
    if target.size > offered.size:
        raise RestoreError(
            f"partner {newest_origin} holds checkpoint {target.size} of {origin}, newer than the {offered.size} "
            f"that {source.origin} served: restore from {newest_origin} (appending after {offered.size} would fork "
            "the log)",
            field="partner",
        )

    # 3. the entries, and the content of restricted ones from the other partners
    progress.phase(f"fetching entries from {source.origin}", target.size)
    fetched: list[SignedEntry] = []
    for at, stop in _pages(0, target.size):
        fetched.extend(_fetch_page(client, source.origin, at, stop, origin))
        progress.advance(stop - at)
    missing = [i for i, e in enumerate(fetched) if e.body is None]
    if missing:
        progress.phase("content of restricted entries from the other partners", len(missing))
    content_from: dict[str, int] = {}
    for other in partners:
        if not missing or other.origin == source.origin or not isinstance(witnesses.get(other.origin), int):
            continue
        try:
            other_client = _client(other, keystore, clients)
            for start, end in _ranges(missing):
                if end > witnesses[other.origin]:
                    break
                for i, item in enumerate(_fetch(other_client, other.origin, start, end, origin)):
                    if item.body is not None and _same_leaf(item, fetched[start + i]) and _opens(item):
                        fetched[start + i] = item
                        content_from[other.origin] = content_from.get(other.origin, 0) + 1
        except PartnerError:
            continue
        still = [i for i in missing if fetched[i].body is None]
        progress.advance(len(missing) - len(still))
        missing = still
    orphans = _without_orphans(fetched)

    # 4. check everything as a pull does, rebuild the target root, write in one transaction
    now = utcnow()
    progress.phase("checking signatures", len(fetched))
    opened = check_entries(engine, fetched)
    progress.advance(len(fetched))
    progress.phase("writing the log", len(fetched))
    try:
        with engine.begin() as conn:
            if own is None:
                log_id = create_log(conn, origin, actor.administration_code, OWN, public, None, now)
            else:
                log_id = own.id
            if logstore.lock(conn, log_id) != 0:
                raise RestoreError(f"entries were appended to {origin} during the restore; nothing was restored")
            state = ingest.LogState(conn, ingest.LogRef(log_id, origin, PARTNER), 0)  # content may be withheld
            state.preload(conn, [opened])
            plan = state.plan(fetched, opened)
            state.accept(plan)
            tree = ingest.write(conn, state, [plan], now)
            if tree.size != target.size or tree.root() != target.root:
                raise _BadCopy(
                    f"the entries served by {source.origin} do not rebuild the root of checkpoint {target.size} "
                    f"signed by our key: they were altered; nothing was restored",
                    field="partner",
                )
            for holder, cp in seen.items():
                if logstore.root_at(conn, log_id, cp.size) != cp.root:
                    raise RestoreError(
                        f"{holder} holds checkpoint {cp.size} of {origin}, signed by our key but not on the history "
                        "being restored: our key signed two histories (was it stolen?); nothing was restored",
                        field="partner",
                    )
            conn.execute(
                ledger_checkpoints.insert().values(
                    log_id=log_id,
                    size=target.size,
                    root=target.root,
                    note=log_signed_note(target.note, origin),
                    source=f"restored:{source.origin}"[:140],
                    observed_at=now,
                )
            )
            ingest.emit_signals(conn, origin, plan.infos, now)
            unavailable = sum(1 for e in fetched if e.body is None)
            record(
                conn,
                actor,
                "restore",
                "ledger_log",
                origin,
                detail={
                    "partner": source.origin,
                    "size": target.size,
                    "content_unavailable": unavailable,
                    "content_from": content_from,
                },
            )
    except _BadCopy as exc:
        raise_alarm(engine, actor, source.origin, "bad_copy", exc.message)
        raise RestoreError(exc.message, field="partner") from exc
    except RestoreError:
        raise
    except OpenCustomsError as exc:
        reason = f"served a copy of {origin} that does not verify: {exc.message}"
        raise_alarm(engine, actor, source.origin, "bad_copy", reason)
        raise RestoreError(
            f"the copy of {origin} served by {source.origin} does not verify ({exc.message}); nothing was restored",
            field="partner",
        ) from exc
    progress.advance(len(fetched))
    return {
        "origin": origin,
        "partner": source.origin,
        "size": target.size,
        "root": target.root.hex(),
        "content_unavailable": unavailable,
        "content_from": content_from,
        "status_changes_without_issue": orphans,
        "witnesses": witnesses,
    }
