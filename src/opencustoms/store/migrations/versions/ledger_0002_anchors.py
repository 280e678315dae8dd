"""ledger: checkpoints anchored on an EVM network (CheckpointAnchor contract)

Revision ID: ledger_0002
Revises: ledger_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_0002"
down_revision = "ledger_0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ledger_anchors",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("checkpoint_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("submitter", sa.String(length=42), nullable=False),
        sa.Column("anchored_at", When, nullable=False),
        sa.ForeignKeyConstraint(["log_id"], ["ledger_logs.id"], name=op.f("fk_ledger_anchors_log_id_ledger_logs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_anchors")),
    )
    op.create_index(
        "ix_ledger_anchors_log_contract_size", "ledger_anchors", ["log_id", "contract", "size"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_anchors_log_contract_size", table_name="ledger_anchors")
    op.drop_table("ledger_anchors")
