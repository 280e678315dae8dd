"""risk: model reports (evaluation curves, feature importance, reference scores) and running score counts

Revision ID: risk_0002
Revises: risk_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "risk_0002"
down_revision = "risk_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("risk_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report", sa.JSON(), nullable=True))
    op.create_table(
        "risk_score_counts",
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("scored", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_version", "scale", "bin", name=op.f("pk_risk_score_counts")),
    )


def downgrade() -> None:
    op.drop_table("risk_score_counts")
    with op.batch_alter_table("risk_models", schema=None) as batch_op:
        batch_op.drop_column("report")
