"""documents: issuance registry (roots, revocations) and issued documents

Revision ID: documents_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "documents_0001"
down_revision = "0001"
branch_labels = ("documents",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_roots",
        sa.Column("merkle_root", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("document_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("merkle_root", name=op.f("pk_document_roots")),
    )
    op.create_table(
        "document_revocations",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_document_revocations")),
    )
    op.create_table(
        "issued_documents",
        sa.Column("target_hash", sa.String(length=64), nullable=False),
        sa.Column("merkle_root", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=70), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target_hash", name=op.f("pk_issued_documents")),
    )
    op.create_index("ix_issued_documents_document_id", "issued_documents", ["document_id"], unique=False)
    op.create_index(op.f("ix_issued_documents_merkle_root"), "issued_documents", ["merkle_root"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_issued_documents_merkle_root"), table_name="issued_documents")
    op.drop_index("ix_issued_documents_document_id", table_name="issued_documents")
    op.drop_table("issued_documents")
    op.drop_table("document_revocations")
    op.drop_table("document_roots")
