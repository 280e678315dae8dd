"""risk: the rank score beside each decision's probability, and queue assignments

Revision ID: risk_0003
Revises: risk_0002

- ``risk_decisions.rank_score``: the raw model score before calibration; the queue is ordered by probability, then
  by it (calibration puts many declarations on the same step). Decisions stored before have none (ordered after).
- ``risk_assignments``: the officer a queued declaration is assigned to (one row per declaration).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "risk_0003"
down_revision = "risk_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rank_score", sa.Float(), nullable=True))
    op.create_table(
        "risk_assignments",
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("officer", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_risk_assignments")),
    )
    with op.batch_alter_table("risk_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_assignments_officer"), ["officer"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("risk_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_assignments_officer"))
    op.drop_table("risk_assignments")
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_column("rank_score")
