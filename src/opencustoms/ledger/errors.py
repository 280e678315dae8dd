"""Errors of the ledger. Each says what was wrong and what to do; ``field`` names the offending input."""

from __future__ import annotations

from opencustoms.errors import ConflictError, NotFoundError, OpenCustomsError


class LedgerError(OpenCustomsError):
    title = "Ledger error"


class ProofError(LedgerError):
    """A Merkle proof, a root or a size that does not verify."""

    status = 422
    title = "Proof does not verify"


class SignatureError(LedgerError):
    """A missing, forged or unknown signature, or a key that is not (or no longer) certified."""

    status = 422
    title = "Signature rejected"


class CheckpointError(LedgerError):
    """A checkpoint (signed note) that is malformed or whose signature does not verify."""

    status = 422
    title = "Checkpoint rejected"


class EntryError(LedgerError):
    """An entry that is malformed or breaks the certificate's status rules."""

    status = 422
    title = "Entry rejected"


class DuplicateEntryError(ConflictError):
    title = "Duplicate entry"


class ConcurrentPullError(ConflictError):
    """Two pulls of the same partner log raced; the later one wrote nothing."""

    title = "Pull already in progress"


class LedgerNotFoundError(NotFoundError):
    title = "Not found in the ledger"


class ForkError(LedgerError):
    """A partner showed a history that does not extend the one it showed before (a fork or a split view)."""

    status = 409
    title = "Partner log forked"


class PartnerError(LedgerError):
    """A partner could not be reached or answered something unusable. ``answered`` is the HTTP status it answered
    with (None when it could not be reached at all)."""

    status = 502
    title = "Partner unavailable"

    def __init__(self, message: str, *, field: str | None = None, answered: int | None = None) -> None:
        super().__init__(message, field=field)
        self.answered = answered


class StoreFailedError(LedgerError):
    """The database failed during an append or a pull (nothing of it was written)."""

    status = 503
    title = "Ledger store unavailable"


class KeyStoreError(LedgerError):
    status = 500
    title = "Key store error"


class AdministrationKeyMissingError(KeyStoreError):
    """The key store holds no administration key: this node's log was never created here (`ledger init`), or the
    key store was lost and not put back."""

    status = 409
    title = "Ledger not initialised"


class KeyStoreNameError(KeyStoreError):
    """A key name (an officer's username) that cannot be a file name in the key store."""

    status = 422
    title = "Invalid key name"


class OfficerKeyMissingError(LedgerError):
    """The acting officer has no signing key on this node."""

    status = 409
    title = "No ledger key for this officer"


class AnchorError(LedgerError):
    """EVM anchoring refused: a setting missing, the contract refusing, or an anchor that contradicts the log."""

    status = 422
    title = "Anchoring refused"


class AnchorUnavailableError(LedgerError):
    """The EVM node does not answer, web3.py is missing, or no CheckpointAnchor contract is at the address."""

    status = 503
    title = "EVM network unavailable"


class RestoreError(LedgerError):
    """Rebuilding this node's log from a partner's copy was refused (nothing was written)."""

    status = 409
    title = "Restore refused"


class StoredLogError(LedgerError):
    """A stored entry that does not match what the log signed (a body edited in the database, a leaf altered, an
    entry missing): found by `opencustoms ledger verify`, or when serving the entry. ``index`` names the entry."""

    status = 409
    title = "Stored log damaged"

    def __init__(self, index: int | None, reason: str, *, field: str | None = None) -> None:
        message = f"entry {index}: {reason}" if index is not None else reason
        super().__init__(message, field=field or ("index" if index is not None else None))
        self.index = index


class AdministrationChoiceError(LedgerError):
    """Which administration this node acts for is not settled: none registered, several and none chosen, or the
    one chosen is not registered. The CLI exits 2."""

    status = 422
    title = "Administration not chosen"
