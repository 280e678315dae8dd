"""iot: scan records (X-ray / CT images with their metadata) and the review queue

Revision ID: iot_0002
Revises: iot_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "iot_0002"
down_revision = "iot_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iot_scans",
        sa.Column("scan_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("scan_type", sa.String(length=24), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("functional_reference_ids", sa.JSON(), nullable=False),
        sa.Column("container_ids", sa.JSON(), nullable=False),
        sa.Column("vehicle_plate", sa.String(length=35), nullable=True),
        sa.Column("energy_kev", sa.Float(), nullable=True),
        sa.Column("dose_ugy", sa.Float(), nullable=True),
        sa.Column("operator", sa.String(length=64), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assigned_to", sa.String(length=64), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finding", sa.String(length=16), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("regions", sa.JSON(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("scan_id", name=op.f("pk_iot_scans")),
    )
    with op.batch_alter_table("iot_scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iot_scans_site"), ["site"], unique=False)
        batch_op.create_index("ix_iot_scans_queue", ["status", "scanned_at"], unique=False)

    op.create_table(
        "iot_scan_images",
        sa.Column("scan_id", sa.String(length=64), nullable=False),
        sa.Column("view", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bit_depth", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("source_format", sa.String(length=8), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("scan_id", "view", name=op.f("pk_iot_scan_images")),
    )
    with op.batch_alter_table("iot_scan_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iot_scan_images_sha256"), ["sha256"], unique=False)

    op.create_table(
        "iot_scan_links",
        sa.Column("scan_id", sa.String(length=64), nullable=False),
        sa.Column("link_type", sa.String(length=16), nullable=False),
        sa.Column("link_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("scan_id", "link_type", "link_id", name=op.f("pk_iot_scan_links")),
    )
    with op.batch_alter_table("iot_scan_links", schema=None) as batch_op:
        batch_op.create_index("ix_iot_scan_links_target", ["link_type", "link_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("iot_scan_links", schema=None) as batch_op:
        batch_op.drop_index("ix_iot_scan_links_target")
    op.drop_table("iot_scan_links")
    with op.batch_alter_table("iot_scan_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iot_scan_images_sha256"))
    op.drop_table("iot_scan_images")
    with op.batch_alter_table("iot_scans", schema=None) as batch_op:
        batch_op.drop_index("ix_iot_scans_queue")
        batch_op.drop_index(batch_op.f("ix_iot_scans_site"))
    op.drop_table("iot_scans")
