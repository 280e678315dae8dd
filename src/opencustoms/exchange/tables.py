"""The exchange's tables, on the shared metadata; migration ``exchange_0001`` creates exactly these.

Partners themselves are not here: they are the ledger's registered partner administrations (their Ed25519 key and
URL, ``opencustoms ledger partner-add``). This pillar keeps what it adds: the agreement per partner (which field
groups it may receive), the outbox (every message stored, signed, before it is sent), the inbox (every message
received and verified, once per message id) and the matches of received export records to our imports.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, Float, Index, Integer, String, Table, Text

from opencustoms.store.tables import UtcDateTime, metadata

exchange_agreements = Table(
    "exchange_agreements",
    metadata,
    Column("partner_code", String(8), primary_key=True),
    Column("country_code", String(2), nullable=False),  # exports destined to this country go to this partner
    Column("fields", JSON, nullable=False),  # the field groups of schema.FIELD_GROUPS it may receive
    Column("active", Boolean, nullable=False, default=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

exchange_outbox = Table(
    "exchange_outbox",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("partner_code", String(8), nullable=False),
    Column("reference", String(64), nullable=False),  # our export declaration
    Column("jws", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # pending | acknowledged | refused
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("acknowledged_at", UtcDateTime),
    Index("ix_exchange_outbox_due", "status", "next_attempt_at"),
    Index("ix_exchange_outbox_partner_reference", "partner_code", "reference", unique=True),
)

exchange_inbox = Table(
    "exchange_inbox",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("sender_code", String(8), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("jws", Text, nullable=False),  # kept as received: anyone can verify it again with the sender's key
    Column("issued_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("reference", String(64), nullable=False),  # the partner's export declaration
    Column("ucr", String(35)),
    Column("acceptance_date", Date, nullable=False),
    Column("record", JSON, nullable=False),
    Column("match_status", String(12), nullable=False),  # unmatched | matched
    Index("ix_exchange_inbox_ucr", "ucr"),
    Index("ix_exchange_inbox_match", "match_status", "acceptance_date"),
)

exchange_matches = Table(
    "exchange_matches",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("declaration_reference", String(64), nullable=False),
    Column("method", String(16), nullable=False),  # ucr | container
    Column("confidence", Float, nullable=False),  # 0..1
    Column("evidence", JSON, nullable=False),
    Column("discrepancies", JSON, nullable=False),
    Column("matched_at", UtcDateTime, nullable=False),
    Index("ix_exchange_matches_declaration", "declaration_reference"),
)
