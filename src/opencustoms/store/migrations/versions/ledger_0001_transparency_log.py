"""ledger: transparency logs, tree nodes, checkpoints, keys, certificates, alarms

Revision ID: ledger_0001
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_0001"
down_revision = "0001"
branch_labels = ("ledger",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ledger_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=128), nullable=False),
        sa.Column("administration_code", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_logs")),
        sa.UniqueConstraint("origin", name=op.f("uq_ledger_logs_origin")),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ledger_nodes")),
    )
    op.create_table(
        "ledger_alarms",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("origin", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(length=128), nullable=True),
        sa.Column("held_checkpoint", sa.Text(), nullable=True),
        sa.Column("offered_checkpoint", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_alarms")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("salt", sa.LargeBinary(length=16), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("certificate_number", sa.String(length=64), nullable=True),
        sa.Column("holder_id", sa.String(length=64), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=True),
        sa.Column("recorded_at", When, nullable=False),
        sa.ForeignKeyConstraint(["log_id"], ["ledger_logs.id"], name=op.f("fk_ledger_entries_log_id_ledger_logs")),
        sa.PrimaryKeyConstraint("log_id", "idx", name=op.f("pk_ledger_entries")),
    )
    op.create_index("ix_ledger_entries_certificate", "ledger_entries", ["certificate_number"])
    op.create_index("ix_ledger_entries_holder", "ledger_entries", ["holder_id"])
    op.create_index("ix_ledger_entries_entry_id", "ledger_entries", ["log_id", "entry_id"], unique=True)
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=140), nullable=False),
        sa.Column("observed_at", When, nullable=False),
        sa.ForeignKeyConstraint(["log_id"], ["ledger_logs.id"], name=op.f("fk_ledger_checkpoints_log_id_ledger_logs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
    )
    op.create_index("ix_ledger_checkpoints_log_size", "ledger_checkpoints", ["log_id", "size"])
    op.create_table(
        "ledger_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("certified_idx", sa.BigInteger(), nullable=True),
        sa.Column("certified_at", When, nullable=False),
        sa.Column("revoked_idx", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", When, nullable=True),
        sa.ForeignKeyConstraint(["log_id"], ["ledger_logs.id"], name=op.f("fk_ledger_keys_log_id_ledger_logs")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_ledger_keys")),
    )
    op.create_index("ix_ledger_keys_holder", "ledger_keys", ["log_id", "holder"])
    op.create_table(
        "ledger_certificates",
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("certificate_number", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.String(length=64), nullable=False),
        sa.Column("holder_name", sa.String(length=256), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=True),
        sa.Column("last_idx", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["log_id"], ["ledger_logs.id"], name=op.f("fk_ledger_certificates_log_id_ledger_logs")),
        sa.PrimaryKeyConstraint("log_id", "certificate_number", name=op.f("pk_ledger_certificates")),
    )
    op.create_index("ix_ledger_certificates_holder", "ledger_certificates", ["holder_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_ledger_certificates_holder", "ledger_certificates"),
        ("ix_ledger_keys_holder", "ledger_keys"),
        ("ix_ledger_checkpoints_log_size", "ledger_checkpoints"),
        ("ix_ledger_entries_entry_id", "ledger_entries"),
        ("ix_ledger_entries_holder", "ledger_entries"),
        ("ix_ledger_entries_certificate", "ledger_entries"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "ledger_certificates",
        "ledger_keys",
        "ledger_checkpoints",
        "ledger_entries",
        "ledger_alarms",
        "ledger_nodes",
        "ledger_logs",
    ):
        op.drop_table(table)
