"""staff passwords: user_passwords holds each staff member's argon2id hash and sign-in failure counters

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Users who sign in to the dashboard with a password get a row (``opencustoms users password NAME``); the failures
within the lockout window and the end of a lockout live next to the hash (docs/security.md, "Password sign-in").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_passwords",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_passwords_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_passwords")),
    )


def downgrade() -> None:
    op.drop_table("user_passwords")
