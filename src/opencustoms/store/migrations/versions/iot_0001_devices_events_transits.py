"""iot: devices, events, quarantine, zones, transit movements, alerts, gate decisions

Revision ID: iot_0001
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "iot_0001"
down_revision = "0001"
branch_labels = ("iot",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iot_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("context_type", sa.String(length=16), nullable=False),
        sa.Column("context_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iot_alerts")),
    )
    with op.batch_alter_table("iot_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_iot_alerts_context", ["context_type", "context_id"], unique=False)

    op.create_table(
        "iot_devices",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("device_type", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_iot_devices")),
    )
    with op.batch_alter_table("iot_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iot_devices_device_type"), ["device_type"], unique=False)

    op.create_table(
        "iot_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("speed_kmh", sa.Float(), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iot_events")),
        sa.UniqueConstraint("device_id", "event_key", name="uq_iot_events_device_key"),
    )
    with op.batch_alter_table("iot_events", schema=None) as batch_op:
        batch_op.create_index("ix_iot_events_device_time", ["device_id", "device_time"], unique=False)
        batch_op.create_index("ix_iot_events_subject", ["subject_id"], unique=False)

    op.create_table(
        "iot_gate_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("passage_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("reads", sa.JSON(), nullable=False),
        sa.Column("expected", sa.JSON(), nullable=False),
        sa.Column("functional_reference_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iot_gate_decisions")),
        sa.UniqueConstraint("gate_id", "passage_id", name="uq_iot_gate_decisions_passage"),
    )
    with op.batch_alter_table("iot_gate_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iot_gate_decisions_status"), ["status"], unique=False)

    op.create_table(
        "iot_quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iot_quarantine")),
    )
    with op.batch_alter_table("iot_quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iot_quarantine_reason_code"), ["reason_code"], unique=False)

    op.create_table(
        "iot_transits",
        sa.Column("movement_id", sa.String(length=64), nullable=False),
        sa.Column("functional_reference_id", sa.String(length=64), nullable=False),
        sa.Column("vehicle_id", sa.String(length=35), nullable=False),
        sa.Column("container_ids", sa.JSON(), nullable=False),
        sa.Column("seal_device_ids", sa.JSON(), nullable=False),
        sa.Column("tracker_device_ids", sa.JSON(), nullable=False),
        sa.Column("corridor", sa.JSON(), nullable=False),
        sa.Column("tolerance_m", sa.Float(), nullable=False),
        sa.Column("departure_zone_id", sa.String(length=64), nullable=False),
        sa.Column("destination_zone_id", sa.String(length=64), nullable=False),
        sa.Column("authorised_zone_ids", sa.JSON(), nullable=False),
        sa.Column("departure_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_limit", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("movement_id", name=op.f("pk_iot_transits")),
    )
    with op.batch_alter_table("iot_transits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_iot_transits_functional_reference_id"), ["functional_reference_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_iot_transits_status"), ["status"], unique=False)

    op.create_table(
        "iot_zones",
        sa.Column("zone_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("zone_type", sa.String(length=16), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("zone_id", name=op.f("pk_iot_zones")),
    )


def downgrade() -> None:
    op.drop_table("iot_zones")
    with op.batch_alter_table("iot_transits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iot_transits_status"))
        batch_op.drop_index(batch_op.f("ix_iot_transits_functional_reference_id"))

    op.drop_table("iot_transits")
    with op.batch_alter_table("iot_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iot_quarantine_reason_code"))

    op.drop_table("iot_quarantine")
    with op.batch_alter_table("iot_gate_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iot_gate_decisions_status"))

    op.drop_table("iot_gate_decisions")
    with op.batch_alter_table("iot_events", schema=None) as batch_op:
        batch_op.drop_index("ix_iot_events_subject")
        batch_op.drop_index("ix_iot_events_device_time")

    op.drop_table("iot_events")
    with op.batch_alter_table("iot_devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iot_devices_device_type"))

    op.drop_table("iot_devices")
    with op.batch_alter_table("iot_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_iot_alerts_context")

    op.drop_table("iot_alerts")
