"""The stateless half of accepting an entry: signature, commitment, body — and a process pool for big batches.

An entry is checked in two halves. This module is the half that needs nothing but the entry and its signer's
public key (a key id is the SHA-256 prefix of its public key, so the bytes behind an id never change): the Ed25519
signature, that body and salt open the commitment, that the body is a well-formed, canonical ``EntryBody``. It is
pure CPU and independent per entry, so a big batch is split over a pool of worker processes (``checked``). The
other half — is the key in force, does the status change follow the rules, is the entry new — needs the log's
state and runs in the writer (``service``), in order.

A result is an ``Opened``: the few fields of the body the stateful half needs, as a plain tuple that crosses a
process boundary cheaply. A failure travels as ``Failure`` (the error's class, message and field) and is raised
again on the caller's side with the entry's position.
"""

from __future__ import annotations

import base64
import datetime as dt
import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import errors
from opencustoms.ledger.entries import AEO_KINDS, EntryBody, EntryError, SignedEntry

POOL_THRESHOLD = 1000  # entries; below this the pool's round trip costs more than it saves
CHUNK = 500


class Opened(NamedTuple):
    """What the stateful checks and the tables need from an entry (``body`` None: content withheld)."""

    entry_id: str | None = None
    kind: str | None = None
    officer: str | None = None
    origin: str | None = None
    certificate_number: str | None = None
    effective_date: dt.date | None = None
    reason: str | None = None
    holder_id: str | None = None  # from an issued / amended certificate
    holder_name: str | None = None
    type: str | None = None
    audience: tuple[str, ...] = ()
    key_id: str | None = None  # from a key entry
    key_officer: str | None = None
    key_public: str | None = None
    salt: bytes | None = None
    verified: bool = False  # False: the signer's key was not known yet (certified earlier in the same batch)

    @property
    def has_body(self) -> bool:
        return self.kind is not None


class Failure(NamedTuple):
    error: str  # class name in opencustoms.ledger.errors
    message: str
    field: str | None

    def exception(self) -> OpenCustomsError:
        cls = getattr(errors, self.error, None)
        if not (isinstance(cls, type) and issubclass(cls, OpenCustomsError)):
            cls = errors.EntryError
        return cls(self.message, field=self.field)


def validation_error(exc: ValidationError, prefix: str = "body") -> EntryError:
    """The first problem of a pydantic error as an EntryError naming the field."""
    first = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first["loc"])
    where = f"{prefix}.{loc}" if prefix and loc else prefix or loc
    return EntryError(f"{where}: {str(first['msg']).removeprefix('Value error, ')}", field=where or None)


def _opened(body: EntryBody, salt: bytes, verified: bool) -> Opened:
    cert = body.certificate
    key = body.key
    return Opened(
        entry_id=body.entry_id,
        kind=body.kind.value,
        officer=body.officer,
        origin=body.origin,
        certificate_number=body.certificate_number,
        effective_date=body.effective_date,
        reason=body.reason,
        holder_id=cert.holder.id if cert else None,
        holder_name=cert.holder.name if cert else None,
        type=cert.type if cert else None,
        audience=tuple(cert.shared_with) if cert else (),
        key_id=key.key_id if key else None,
        key_officer=key.officer if key else None,
        key_public=key.public_key if key else None,
        salt=salt,
        verified=verified,
    )


def check(entry: SignedEntry, public: bytes | None) -> Opened:
    """Verify the signature (when the signer's key is given) and open the body; raise an OpenCustomsError."""
    if public is not None:
        entry.verify_signature(Ed25519PublicKey.from_public_bytes(public))
    if entry.body is None and entry.salt is None:
        return Opened(verified=public is not None)
    try:
        body = entry.open()
    except ValidationError as exc:
        raise validation_error(exc) from exc
    if body.kind in AEO_KINDS and body.certificate_number is None:  # the model guarantees it; keep mypy honest
        raise EntryError("the entry names no certificate", field="body.certificate_number")
    return _opened(body, base64.b64decode(entry.salt or ""), public is not None)


def _check_chunk(keys: dict[str, bytes], items: Sequence[tuple[str, str, bool, str, str | None, str | None]]) -> list:  # type: ignore[type-arg]
    """Worker side: check a chunk of entries given as plain tuples; a Failure where an entry is bad."""
    out: list[Opened | Failure] = []
    for commitment, kid, restricted, signature, body, salt in items:
        entry = SignedEntry.model_construct(
            commitment=commitment, key_id=kid, restricted=restricted, signature=signature, body=body, salt=salt
        )
        try:
            out.append(check(entry, keys.get(kid)))
        except OpenCustomsError as exc:
            out.append(Failure(type(exc).__name__, exc.message, exc.field))
    return out


def _warm() -> int:
    return os.getpid()


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    """Worker processes for big batches: OPENCUSTOMS_LEDGER_VERIFY_WORKERS, else one per CPU (0 or 1: none)."""
    configured = os.environ.get("OPENCUSTOMS_LEDGER_VERIFY_WORKERS")
    if configured is not None:
        try:
            return max(0, int(configured))
        except ValueError as exc:
            raise errors.LedgerError(
                f"OPENCUSTOMS_LEDGER_VERIFY_WORKERS={configured!r} is not a whole number; set it to 0 to verify in "
                "the server's process or to the number of CPUs to use",
                field="OPENCUSTOMS_LEDGER_VERIFY_WORKERS",
            ) from exc
    return os.cpu_count() or 1


def pool() -> ProcessPoolExecutor | None:
    """The shared pool (started on first use, with the forkserver method so it is safe in a threaded server)."""
    global _pool
    count = workers()
    if count < 2:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("forkserver"))
            for f in [_pool.submit(_warm) for _ in range(count)]:
                f.result()
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(cancel_futures=True)
            _pool = None


def checked(entries: Sequence[SignedEntry], keys: dict[str, bytes]) -> Iterator[Opened | Failure]:
    """The stateless checks of every entry, in order; a Failure in place of a bad entry. ``keys`` maps key ids to
    raw public keys; an entry whose key is not there comes back unverified (the writer verifies it once the key is
    certified earlier in the batch, or refuses it). Big batches are checked in the worker pool, chunk by chunk,
    so the caller can work on the first results while the rest are checked."""
    executor = pool() if len(entries) >= POOL_THRESHOLD else None
    if executor is None:
        for entry in entries:
            try:
                yield check(entry, keys.get(entry.key_id))
            except OpenCustomsError as exc:
                yield Failure(type(exc).__name__, exc.message, exc.field)
        return
    futures: list[Future[list[Opened | Failure]]] = []
    for start in range(0, len(entries), CHUNK):
        chunk = [
            (e.commitment, e.key_id, e.restricted, e.signature, e.body, e.salt) for e in entries[start : start + CHUNK]
        ]
        futures.append(executor.submit(_check_chunk, keys, chunk))
    try:
        for future in futures:
            yield from future.result()
    finally:
        for future in futures:
            future.cancel()
