"""The stateless half of accepting an entry: signature, commitment, body — and a process pool for big batches.

An entry is checked in two halves. This module is the half that needs nothing but the entry and its signer's
public key (a key id is the SHA-256 prefix of its public key, so the bytes behind an id never change): the Ed25519
signature, that body and salt open the commitment, that the body is a well-formed, canonical ``EntryBody``. It is
pure CPU and independent per entry, so a big batch is split over a pool of worker processes (``check_batch``). The
other half — is the key in force, does the status change follow the rules, is the entry new — needs the log's
state and runs in the writer (``service``), in order.

Signatures are verified with libsodium (PyNaCl), which measured twice as fast as ``cryptography``'s OpenSSL
Ed25519 on the reference machine (docs/ledger.md) and releases the interpreter lock while it works: a big batch is
therefore split over a pool of threads, whose verifications run on every core while the body checks, which hold the
lock, go on. libsodium is also the stricter verifier (it refuses non-canonical signatures and small-order keys),
so nothing it accepts would be refused by another RFC 8032 verifier.

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
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, NamedTuple

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from pydantic import ValidationError

from opencustoms.errors import OpenCustomsError
from opencustoms.ledger import errors
from opencustoms.ledger.entries import AEO_KINDS, EntryBody, EntryKind, SignedEntry, signing_message
from opencustoms.ledger.errors import EntryError, SignatureError

POOL_THRESHOLD = 1000  # entries; below this the process pool's round trip costs more than it saves
CHUNK = 500
THREAD_THRESHOLD = 64  # entries; a smaller batch is checked in the caller's thread
KEY_CERTIFIED = EntryKind.KEY_CERTIFIED.value


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


def verify_signature(entry: SignedEntry, public: bytes) -> None:
    """Check the officer's Ed25519 signature over the entry's commitment (libsodium: the lock is released)."""
    message = signing_message(bytes.fromhex(entry.commitment))
    try:
        crypto_sign_open(entry.signature_bytes() + message, public)
    except (BadSignatureError, ValueError) as exc:
        raise SignatureError(
            f"the signature of key {entry.key_id} over commitment {entry.commitment[:16]}... "
            "does not verify: the entry was forged or altered",
            field="signature",
        ) from exc


def check(entry: SignedEntry, public: bytes | None) -> Opened:
    """Verify the signature (when the signer's key is given) and open the body; raise an OpenCustomsError."""
    if public is not None:
        verify_signature(entry, public)
    if entry.body is None and entry.salt is None:
        return Opened(verified=public is not None)
    try:
        body = entry.open()
    except ValidationError as exc:
        raise validation_error(exc) from exc
    if body.kind in AEO_KINDS and body.certificate_number is None:  # the model guarantees it; keep mypy honest
        raise EntryError("the entry names no certificate", field="body.certificate_number")
    return _opened(body, base64.b64decode(entry.salt or ""), public is not None)


def _check_entries(keys: dict[str, bytes], entries: Sequence[SignedEntry]) -> list[Opened | Failure]:
    """Check entries in this process; a Failure where an entry is bad."""
    out: list[Opened | Failure] = []
    for entry in entries:
        try:
            out.append(check(entry, keys.get(entry.key_id)))
        except OpenCustomsError as exc:
            out.append(Failure(type(exc).__name__, exc.message, exc.field))
    return out


def _check_chunk(keys: dict[str, bytes], items: Sequence[tuple[str, str, bool, str, str | None, str | None]]) -> list:  # type: ignore[type-arg]
    """Worker side: check a chunk of entries given as plain tuples; a Failure where an entry is bad."""
    return _check_entries(
        keys,
        [
            SignedEntry.model_construct(
                commitment=commitment, key_id=kid, restricted=restricted, signature=signature, body=body, salt=salt
            )
            for commitment, kid, restricted, signature, body, salt in items
        ],
    )


def _warm() -> int:
    return os.getpid()


_pool: ProcessPoolExecutor | None = None
_disabled = False  # set when the pool broke: verify in this process from then on
_pool_lock = threading.Lock()


def workers() -> int:
    """Worker processes for big batches (appends and the pages of a pull): OPENCUSTOMS_LEDGER_VERIFY_WORKERS (0 or
    1: none, the verification threads), else one per CPU from two CPUs. The stateless checks then run off the
    interpreter lock that the writer needs. CPUs are those this process may run on (its affinity). Measured on two
    quiet CPUs, alternating (docs/ledger.md): batches of 2,000 10,735-10,821/s with two workers against
    7,766-7,919/s on the threads; a 100,000-entry catch-up 8.4 s against 13.1-13.8 s (11.7 s with workers in a run
    with another benchmark beside it). Session 2 had measured no gain for appends on a machine kept busy by other
    work. Each server process has its own pool: with ``serve --workers N`` set this to CPUs / N."""
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
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cpus if cpus >= 2 else 0


def pool() -> ProcessPoolExecutor | None:
    """The shared pool (started on first use, with the forkserver method so it is safe in a threaded server)."""
    global _pool
    count = workers()
    if count < 2:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("forkserver"))
            try:
                for f in [_pool.submit(_warm) for _ in range(count)]:
                    f.result()
            except (BrokenProcessPool, OSError, RuntimeError):
                _pool.shutdown(cancel_futures=True)
                _pool = None
                raise
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(cancel_futures=True)
            _pool = None


def _verify_chunk(items: Sequence[tuple[str, str, str, bytes]]) -> list[Failure | None]:
    """Worker side: verify signatures only (entries whose key was certified earlier in their batch)."""
    out: list[Failure | None] = []
    for commitment, kid, signature, public in items:
        entry = SignedEntry.model_construct(commitment=commitment, key_id=kid, signature=signature)
        try:
            verify_signature(entry, public)
            out.append(None)
        except OpenCustomsError as exc:
            out.append(Failure(type(exc).__name__, exc.message, exc.field))
    return out


_threads: ThreadPoolExecutor | None = None


def verify_signatures(items: list[tuple[str, str, str, bytes]]) -> list[Failure | None]:
    """(commitment, key id, signature, public key) per entry, checked over one thread per CPU: None when it
    verifies, else the failure (ledger verify's pass over a whole log)."""
    return _thread_map(_verify_chunk, items)


def _thread_map(fn: Callable[[Any], list[Any]], items: list[Any]) -> list[Any]:
    """``fn`` over ``items`` split over one thread per CPU (the signature checks release the lock)."""
    global _threads
    cpus = os.cpu_count() or 1
    if cpus < 2 or len(items) < THREAD_THRESHOLD:
        return fn(items)
    with _pool_lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(cpus, thread_name_prefix="ledger-verify")
        executor = _threads
    size = -(-len(items) // cpus)
    futures = [executor.submit(fn, items[i : i + size]) for i in range(0, len(items), size)]
    return [r for f in futures for r in f.result()]


def _map(
    count: int,
    fn: Callable[[Any], list[Any]],
    items: Callable[[], list[Any]],
    local: Callable[[], list[Any]],
) -> list[Any]:
    """``fn`` over ``items()`` (plain tuples, cheap to send) in chunks on the process pool when one is configured
    and there are enough of them; else ``local()``, on the verification threads. A pool that breaks (a worker
    killed, or a program that cannot start workers) is shut down and the work done in this process instead."""
    global _disabled
    if count < POOL_THRESHOLD or _disabled:
        return local()
    futures = []
    try:
        executor = pool()
        if executor is None:
            return local()
        work = items()
        futures = [executor.submit(fn, work[i : i + CHUNK]) for i in range(0, len(work), CHUNK)]
        return [r for f in futures for r in f.result()]
    except (BrokenProcessPool, OSError, RuntimeError) as exc:
        _disabled = True
        shutdown_pool()
        warnings.warn(f"ledger verification pool failed ({exc!r}); verifying in this process", stacklevel=2)
        return local()
    finally:
        for f in futures:
            f.cancel()


def check_batch(entries: Sequence[SignedEntry], keys: dict[str, bytes]) -> list[Opened | Failure]:
    """The stateless checks of every entry, in order; a Failure in place of a bad entry. ``keys`` maps key ids to
    raw public keys. An entry signed by a key that a ``key.certified`` entry of the same batch introduces is
    verified with that key in a second pass (whether the key was in force at the entry's index is the writer's
    check); one signed by a key known nowhere comes back unverified and the writer refuses it. Batches of
    ``POOL_THRESHOLD`` entries or more are checked in the worker pool, ``CHUNK`` entries per task."""
    results: list[Opened | Failure] = _map(
        len(entries),
        partial(_check_chunk, keys),
        lambda: [(e.commitment, e.key_id, e.restricted, e.signature, e.body, e.salt) for e in entries],
        lambda: _thread_map(partial(_check_entries, keys), list(entries)),
    )
    introduced = {
        o.key_id: base64.b64decode(o.key_public)
        for o in results
        if isinstance(o, Opened) and o.kind == KEY_CERTIFIED and o.key_id and o.key_public and o.key_id not in keys
    }
    late = [
        i for i, o in enumerate(results) if isinstance(o, Opened) and not o.verified and entries[i].key_id in introduced
    ]
    if late:
        pending = [
            (entries[i].commitment, entries[i].key_id, entries[i].signature, introduced[entries[i].key_id])
            for i in late
        ]
        verified = _map(len(late), _verify_chunk, lambda: pending, lambda: _thread_map(_verify_chunk, pending))
        for i, failure in zip(late, verified, strict=True):
            opened = results[i]
            assert isinstance(opened, Opened)
            results[i] = failure if failure is not None else opened._replace(verified=True)
    return results
