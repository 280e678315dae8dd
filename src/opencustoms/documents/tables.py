"""Tables of the documents pillar: the issuance registry (DocumentStore semantics) and the documents issued here.

Created by migrations ``documents_0001`` and ``documents_0002`` (the issuer identity) on the pillar's own Alembic
branch.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from opencustoms.store.tables import UtcDateTime, metadata

document_roots = Table(
    "document_roots",
    metadata,
    Column("merkle_root", String(64), primary_key=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("issued_by", String(64), nullable=False),
    Column("document_count", Integer, nullable=False),
)

document_revocations = Table(
    "document_revocations",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("revoked_at", UtcDateTime, nullable=False),
    Column("revoked_by", String(64), nullable=False),
    Column("reason", Text, nullable=False),
)

issued_documents = Table(
    "issued_documents",
    metadata,
    Column("target_hash", String(64), primary_key=True),
    Column("merkle_root", String(64), nullable=False, index=True),
    Column("document_id", String(70), nullable=False),
    Column("template", String(64), nullable=False),
    Column("wrapped", JSON, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Index("ix_issued_documents_document_id", "document_id"),
)

document_issuer = Table(
    "document_issuer",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one issuer identity per installation
    Column("issuer_name", String(200), nullable=False),
    Column("identity_domain", String(253), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(64), nullable=False),
)
