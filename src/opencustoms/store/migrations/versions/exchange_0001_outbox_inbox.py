"""exchange: agreements per partner, the outbox, the inbox and the matches of received export records

Revision ID: exchange_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exchange_0001"
down_revision = "0001"
branch_labels = ("exchange",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_agreements",
        sa.Column("partner_code", sa.String(length=8), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("partner_code", name=op.f("pk_exchange_agreements")),
    )
    op.create_table(
        "exchange_outbox",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("partner_code", sa.String(length=8), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_exchange_outbox")),
    )
    op.create_index("ix_exchange_outbox_due", "exchange_outbox", ["status", "next_attempt_at"], unique=False)
    op.create_index(
        "ix_exchange_outbox_partner_reference", "exchange_outbox", ["partner_code", "reference"], unique=True
    )
    op.create_table(
        "exchange_inbox",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("sender_code", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("ucr", sa.String(length=35), nullable=True),
        sa.Column("acceptance_date", sa.Date(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("match_status", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_exchange_inbox")),
    )
    op.create_index("ix_exchange_inbox_ucr", "exchange_inbox", ["ucr"], unique=False)
    op.create_index("ix_exchange_inbox_match", "exchange_inbox", ["match_status", "acceptance_date"], unique=False)
    op.create_table(
        "exchange_matches",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("declaration_reference", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("discrepancies", sa.JSON(), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_exchange_matches")),
    )
    op.create_index("ix_exchange_matches_declaration", "exchange_matches", ["declaration_reference"], unique=False)


def downgrade() -> None:
    op.drop_table("exchange_matches")
    op.drop_table("exchange_inbox")
    op.drop_table("exchange_outbox")
    op.drop_table("exchange_agreements")
