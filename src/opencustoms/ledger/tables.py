"""The ledger's tables, on the shared metadata; migration ``ledger_0001`` creates exactly these.

One installation holds its own log and replicas of its partners' logs, each a row of ``ledger_logs``. A log's
entries are its leaves in order; ``ledger_tiles`` keeps the hash of every complete perfect subtree, in tiles of
four levels under one integer key (``logstore.tile_key``), so a proof is one indexed look-up of a few rows. Private
keys are never stored here: they live in files under the installation's data directory (see ``ledger/keys.py``).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from opencustoms.store.tables import BigId, UtcDateTime, metadata

ledger_logs = Table(
    "ledger_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(128), nullable=False, unique=True),
    Column("administration_code", String(8), nullable=False),
    Column("role", String(8), nullable=False),  # own | partner
    Column("public_key", LargeBinary(32), nullable=False),  # the log's (administration's) Ed25519 key
    Column("url", String(300)),
    Column("size", BigInteger, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("log_id", Integer, ForeignKey("ledger_logs.id"), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("commitment", String(64), nullable=False),
    Column("entry_id", String(36)),
    Column("body", Text),  # canonical JSON; NULL when the content was withheld from this node
    Column("salt", LargeBinary(16)),
    Column("kind", String(32)),
    Column("certificate_number", String(64)),
    Column("holder_id", String(64)),
    Column("effective_date", Date),
    Column("audience", JSON),  # administration codes allowed to see the content; NULL = every partner
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_ledger_entries_certificate", "certificate_number"),
    Index("ix_ledger_entries_holder", "holder_id"),
    Index("ix_ledger_entries_entry_id", "log_id", "entry_id", unique=True),
)

ledger_tiles = Table(
    "ledger_tiles",
    metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=False),  # logstore.tile_key(log_id, level, index)
    Column("hashes", LargeBinary, nullable=False),  # the tile's complete nodes, bottom row first (ledger_0003)
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("log_id", Integer, ForeignKey("ledger_logs.id"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("source", String(140), nullable=False),  # self | pulled | witness:<origin>
    Column("observed_at", UtcDateTime, nullable=False),
    Index("ix_ledger_checkpoints_log_size", "log_id", "size"),
)

ledger_keys = Table(
    "ledger_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("log_id", Integer, ForeignKey("ledger_logs.id"), nullable=False),
    Column("holder", String(64), nullable=False),  # officer username, or the log's origin for its own key
    Column("role", String(16), nullable=False),  # administration | officer
    Column("public_key", LargeBinary(32), nullable=False),
    Column("certified_idx", BigInteger),
    Column("certified_at", UtcDateTime, nullable=False),
    Column("revoked_idx", BigInteger),
    Column("revoked_at", UtcDateTime),
    Index("ix_ledger_keys_holder", "log_id", "holder"),
)

ledger_alarms = Table(
    "ledger_alarms",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("origin", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # fork | split_view | bad_signature | bad_entry | unreachable
    Column("reason", Text, nullable=False),
    Column("reported_by", String(128)),
    Column("held_checkpoint", Text),
    Column("offered_checkpoint", Text),
    Column("detail", JSON),
)

ledger_certificates = Table(
    "ledger_certificates",
    metadata,
    Column("log_id", Integer, ForeignKey("ledger_logs.id"), primary_key=True),
    Column("certificate_number", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("holder_id", String(64), nullable=False),
    Column("holder_name", String(256), nullable=False),
    Column("type", String(16), nullable=False),
    Column("audience", JSON),
    Column("last_idx", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_ledger_certificates_holder", "holder_id"),
)

ledger_anchors = Table(
    "ledger_anchors",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("log_id", Integer, ForeignKey("ledger_logs.id"), nullable=False),
    Column("size", BigInteger, nullable=False),  # the tree size anchored
    Column("root", LargeBinary(32), nullable=False),
    Column("checkpoint_hash", LargeBinary(32), nullable=False),  # SHA-256 of the note as the log signed it
    Column("chain_id", BigInteger, nullable=False),
    Column("contract", String(42), nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("submitter", String(42), nullable=False),
    Column("anchored_at", UtcDateTime, nullable=False),
    Index("ix_ledger_anchors_log_contract_size", "log_id", "contract", "size", unique=True),
)
