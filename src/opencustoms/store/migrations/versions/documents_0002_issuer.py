"""documents: the issuer identity recorded by `opencustoms init` (name, DNS-TXT domain)

Revision ID: documents_0002
Revises: documents_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "documents_0002"
down_revision = "documents_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_issuer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("identity_domain", sa.String(length=253), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_issuer")),
    )


def downgrade() -> None:
    op.drop_table("document_issuer")
